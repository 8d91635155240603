// A Curator contender for zk-nemesis: takes an InterProcessMutex or a
// LeaderLatch on the same path as the zk tools, again and again, until
// STOP exists. While it owns, it appends "<System.nanoTime()> <czxid>" to
// DIR/NAME-<n>.hb every 20 ms (System.nanoTime() is CLOCK_MONOTONIC on
// Linux, the clock the tools' heartbeats use). As Curator's docs tell a
// careful user, it stops acting as owner the moment the connection is
// SUSPENDED or LOST.
//
//   java NemesisWorker CONNECT PATH mutex|latch NAME DIR STOP
import java.nio.file.*;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class NemesisWorker {
    static volatile boolean connected = true;

    // getLockPath() is protected: the node we hold, for its czxid.
    static class Mutex extends InterProcessMutex {
        Mutex(CuratorFramework client, String path) {
            super(client, path);
        }

        String node() {
            return getLockPath();
        }
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1], mode = args[2], name = args[3];
        Path dir = Paths.get(args[4]), stop = Paths.get(args[5]);
        Random random = new Random(name.hashCode());
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(4000)
                .connectionTimeoutMs(4000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                .build();
        client.getConnectionStateListenable().addListener((c, state) -> connected = state.isConnected());
        client.start();
        Mutex mutex = new Mutex(client, path);
        int n = 0;
        while (!Files.exists(stop)) {
            try {
                if (mode.equals("mutex")) {
                    if (!mutex.acquire(1, TimeUnit.SECONDS)) {
                        continue;
                    }
                    try {
                        hold(client, mutex.node(), dir.resolve(name + "-" + (n++) + ".hb"),
                                100 + random.nextInt(400), () -> true);
                    } finally {
                        mutex.release();
                    }
                } else {
                    LeaderLatch latch = new LeaderLatch(client, path, name);
                    latch.start();
                    try {
                        boolean leads = false;
                        while (!leads && !Files.exists(stop)) {
                            leads = latch.await(1, TimeUnit.SECONDS);
                        }
                        if (leads) {
                            hold(client, latch.getOurPath(), dir.resolve(name + "-" + (n++) + ".hb"),
                                    100 + random.nextInt(400), latch::hasLeadership);
                        }
                    } finally {
                        latch.close();
                    }
                }
                Thread.sleep(50 + random.nextInt(150));
            } catch (Exception e) {
                // Connection loss and friends: the nemesis causes them on purpose.
                System.err.println(name + ": " + e);
                Thread.sleep(200);
            }
        }
        client.close();
        // Curator's threads must not keep a stopped worker alive.
        System.exit(0);
    }

    interface Still {
        boolean owns();
    }

    static void hold(CuratorFramework client, String node, Path file, long holdMs, Still still)
            throws Exception {
        long czxid = client.checkExists().forPath(node).getCzxid();
        // In the worker's log, to explain a finding: which node, which session.
        System.out.println("owns " + node + " czxid " + czxid + " session 0x"
                + Long.toHexString(client.getZookeeperClient().getZooKeeper().getSessionId())
                + " at " + System.nanoTime());
        System.out.flush();
        long end = System.nanoTime() + holdMs * 1_000_000L;
        while (System.nanoTime() < end && connected && still.owns()) {
            String line = System.nanoTime() + " " + czxid + "\n";
            Files.write(file, line.getBytes(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            Thread.sleep(20);
        }
    }
}

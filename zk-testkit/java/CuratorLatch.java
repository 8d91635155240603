// A Curator LeaderLatch participant that shares an election with zk-elect.
// While waiting it prints "SEES <id>" whenever another participant leads
// (as Curator reads it); once leader it appends "enter <id> <nanos>" to LOG, holds for
// HOLD_MS, appends "exit <id> <nanos>", resigns (closes the latch) and exits.
// With MARK, it also creates the directory MARK while it leads (and removes
// it before resigning); finding MARK already there, it appends "OVERLAP <id>".
//
//   java CuratorLatch CONNECT PATH ID HOLD_MS LOG [MARK]
import java.nio.file.*;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLatch {
    static void log(Path file, String line) throws Exception {
        Files.write(file, (line + "\n").getBytes(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    static long nanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1], id = args[2];
        long holdMs = Long.parseLong(args[3]);
        Path logFile = Paths.get(args[4]);
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 10000, 10000,
                new ExponentialBackoffRetry(100, 5))) {
            client.start();
            client.blockUntilConnected(20, TimeUnit.SECONDS);
            LeaderLatch latch = new LeaderLatch(client, path, id);
            latch.start();
            String seen = null;
            while (!latch.await(20, TimeUnit.MILLISECONDS)) {
                try {
                    String leader = latch.getLeader().getId();
                    // Itself as leader is reported by LEADER below, once await() returns.
                    if (!leader.isEmpty() && !leader.equals(seen) && !leader.equals(id)) {
                        System.out.println("SEES " + leader);
                        System.out.flush();
                        seen = leader;
                    }
                } catch (Exception e) {
                    // No participants yet.
                }
            }
            System.out.println("LEADER " + id);
            System.out.flush();
            Path mark = args.length > 5 ? Paths.get(args[5]) : null;
            if (mark != null) {
                try {
                    Files.createDirectory(mark);
                } catch (FileAlreadyExistsException e) {
                    log(logFile, "OVERLAP " + id);
                }
            }
            log(logFile, "enter " + id + " " + nanos());
            Thread.sleep(holdMs);
            log(logFile, "exit " + id + " " + nanos());
            if (mark != null) {
                Files.deleteIfExists(mark);
            }
            latch.close();
        }
    }
}

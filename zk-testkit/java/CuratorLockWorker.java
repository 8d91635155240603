// A Curator InterProcessMutex client that contends with zk-lock on one path.
// Each iteration: acquire, mkdir MARK (an existing MARK means two holders at
// once: OVERLAP into LOG), append "curator" to LOG, hold a moment, rmdir, release.
// Prints READY once connected and starts only when a line arrives on stdin,
// so a test can start its other contenders at the same moment.
//
//   java CuratorLockWorker CONNECT PATH ITERATIONS MARK LOG [rw]
import java.nio.file.*;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLockWorker {
    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1];
        int iterations = Integer.parseInt(args[2]);
        Path mark = Paths.get(args[3]), log = Paths.get(args[4]);
        boolean rw = args.length > 5 && args[5].equals("rw");
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 10000, 10000,
                new ExponentialBackoffRetry(100, 5))) {
            client.start();
            client.blockUntilConnected(20, TimeUnit.SECONDS);
            System.out.println("READY");
            System.out.flush();
            new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
            InterProcessLock lock = rw ? new InterProcessReadWriteLock(client, path).writeLock()
                                       : new InterProcessMutex(client, path);
            for (int i = 0; i < iterations; i++) {
                lock.acquire();
                try {
                    try {
                        Files.createDirectory(mark);
                    } catch (FileAlreadyExistsException e) {
                        // Into LOG, which the tests read: stdout goes nowhere.
                        Files.write(log, "OVERLAP curator\n".getBytes(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    }
                    Files.write(log, "curator\n".getBytes(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    Thread.sleep(10);
                    Files.deleteIfExists(mark);
                } finally {
                    lock.release();
                }
            }
        }
        System.out.println("DONE");
    }
}

// A Curator InterProcessMutex made revocable: it holds the lock until its
// revocation listener is called (zk-lock break writes Curator's __REVOKE__
// to its node), then releases it from the thread that acquired it, as
// Curator requires. Prints HOLDING once it holds, RELEASED after, and
// NOT-REVOKED if nobody asked within 60 s.
//
//   java CuratorRevocable CONNECT PATH
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorRevocable {
    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1];
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 10000, 10000,
                new ExponentialBackoffRetry(100, 5))) {
            client.start();
            client.blockUntilConnected(20, TimeUnit.SECONDS);
            InterProcessMutex lock = new InterProcessMutex(client, path);
            CountDownLatch revoked = new CountDownLatch(1);
            lock.makeRevocable(l -> revoked.countDown());
            lock.acquire();
            System.out.println("HOLDING");
            System.out.flush();
            boolean asked = revoked.await(60, TimeUnit.SECONDS);
            lock.release();
            System.out.println(asked ? "RELEASED" : "NOT-REVOKED");
            System.out.flush();
        }
    }
}

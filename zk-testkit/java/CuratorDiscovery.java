// Curator x-discovery against the same registry as zk-health.
//
//   java CuratorDiscovery CONNECT BASE query SERVICE
//       prints one line per instance: "ID ADDRESS PORT SSLPORT PAYLOAD-JSON"
//   java CuratorDiscovery CONNECT BASE register SERVICE ID ADDRESS PORT
//       registers an instance, prints "REGISTERED", holds until stdin closes
import java.util.Map;
import java.util.concurrent.TimeUnit;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

public class CuratorDiscovery {
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static void main(String[] args) throws Exception {
        String connect = args[0], base = args[1], mode = args[2], service = args[3];
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 10000, 10000,
                new ExponentialBackoffRetry(100, 5))) {
            client.start();
            client.blockUntilConnected(20, TimeUnit.SECONDS);
            ServiceDiscovery<Map> discovery = ServiceDiscoveryBuilder.builder(Map.class)
                .client(client).basePath(base).serializer(new JsonInstanceSerializer<>(Map.class)).build();
            discovery.start();
            if (mode.equals("query")) {
                ObjectMapper mapper = new ObjectMapper();
                for (ServiceInstance<Map> instance : discovery.queryForInstances(service)) {
                    System.out.println(instance.getId() + " " + instance.getAddress() + " " + instance.getPort()
                        + " " + instance.getSslPort() + " " + mapper.writeValueAsString(instance.getPayload()));
                }
            } else {
                ServiceInstance<Map> instance = ServiceInstance.<Map>builder().name(service).id(args[4])
                    .address(args[5]).port(Integer.parseInt(args[6])).payload(Map.of("zone", "a")).build();
                discovery.registerService(instance);
                System.out.println("REGISTERED");
                System.out.flush();
                while (System.in.read() != -1) { }
            }
            discovery.close();
        }
    }
}

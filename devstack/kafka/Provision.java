// Creates SCRAM principals and sets the ACLs of the dev stack's secure broker, as its super user.
//
// aiokafka's admin client has neither AlterUserScramCredentials nor CreateAcls, so this runs on
// the broker's own jars with Java's source launcher (no build step):
//   java -cp 'libs/*' devstack/kafka/Provision.java < plan.json
// The plan (a secret: it holds passwords) comes on stdin, never in argv:
//   {"bootstrap": "host:port", "admin": {"name": ..., "password": ...},
//    "users": [{"name": ..., "password": ...}],
//    "acls": [{"principal": "User:x", "resource_type": "TOPIC", "name": "p.auth.attempts",
//              "pattern_type": "PREFIXED", "operation": "WRITE"}]}
// The ACLs of every principal the plan names become exactly the plan's: extra ones are deleted.
// Prints one JSON line: what was created and deleted.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Provision {
    private static final int ITERATIONS = 8192;

    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode plan = json.readTree(System.in);
        JsonNode admin = plan.get("admin");
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, plan.get("bootstrap").asText());
        props.put(AdminClientConfig.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        props.put("sasl.mechanism", "SCRAM-SHA-512");
        props.put(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                        + admin.get("name").asText()
                        + "\" password=\""
                        + admin.get("password").asText()
                        + "\";");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");

        List<UserScramCredentialAlteration> users = new ArrayList<>();
        for (JsonNode user : plan.get("users")) {
            users.add(
                    new UserScramCredentialUpsertion(
                            user.get("name").asText(),
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS),
                            user.get("password").asText()));
        }
        Set<AclBinding> wanted = new HashSet<>();
        Set<String> principals = new HashSet<>();
        for (JsonNode acl : plan.get("acls")) {
            String principal = acl.get("principal").asText();
            principals.add(principal);
            wanted.add(
                    new AclBinding(
                            new ResourcePattern(
                                    ResourceType.valueOf(acl.get("resource_type").asText()),
                                    acl.get("name").asText(),
                                    PatternType.valueOf(acl.get("pattern_type").asText())),
                            new AccessControlEntry(
                                    principal,
                                    "*",
                                    AclOperation.valueOf(acl.get("operation").asText()),
                                    AclPermissionType.ALLOW)));
        }
        for (JsonNode user : plan.get("users")) {
            principals.add("User:" + user.get("name").asText());
        }

        try (Admin client = Admin.create(props)) {
            if (!users.isEmpty()) {
                client.alterUserScramCredentials(users).all().get(60, TimeUnit.SECONDS);
            }
            List<AclBinding> stale = new ArrayList<>();
            Set<AclBinding> present = new HashSet<>();
            for (AclBinding binding :
                    client.describeAcls(AclBindingFilter.ANY).values().get(60, TimeUnit.SECONDS)) {
                if (!principals.contains(binding.entry().principal())) {
                    continue;
                }
                if (wanted.contains(binding)) {
                    present.add(binding);
                } else {
                    stale.add(binding);
                }
            }
            List<AclBinding> missing = new ArrayList<>();
            for (AclBinding binding : wanted) {
                if (!present.contains(binding)) {
                    missing.add(binding);
                }
            }
            if (!missing.isEmpty()) {
                client.createAcls(missing).all().get(60, TimeUnit.SECONDS);
            }
            if (!stale.isEmpty()) {
                List<AclBindingFilter> filters = new ArrayList<>();
                for (AclBinding binding : stale) {
                    filters.add(binding.toFilter());
                }
                client.deleteAcls(filters).all().get(60, TimeUnit.SECONDS);
            }
            System.out.println(
                    json.writeValueAsString(
                            Map.of(
                                    "users", users.size(),
                                    "acls_created", missing.size(),
                                    "acls_deleted", stale.size(),
                                    "acls_total", wanted.size())));
        }
    }
}

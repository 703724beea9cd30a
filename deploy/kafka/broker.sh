#!/bin/bash
# The compose broker, as `kibalock stack up --secure` runs it natively (devstack/kafka_secure.py):
# SASL/SCRAM-SHA-512 on the client listener, PLAIN for the super user alone on the controller's,
# and the broker's authorizer. Its settings are the container's KAFKA_* variables, named as the
# image names them (`.` is `_`, `_` is `__`, `-` is `___`); the super user's logins are added
# here from its secret, so no password sits in docker-compose.yml. On the first start the
# storage is formatted with the super user's SCRAM credential: the broker accepts it before any
# other principal exists (kafka-init then creates them, deploy/kafka/roles.sh).
set -euo pipefail

admin="$(sed -n 's/^super //p' /deploy/kafka/roles.txt)"
password="$(cat "/run/secrets/kafka_$admin")"
scram=org.apache.kafka.common.security.scram.ScramLoginModule
plain=org.apache.kafka.common.security.plain.PlainLoginModule
umask 077
mkdir -p /tmp/kafka
config=/tmp/kafka/server.properties

{
  for name in $(compgen -e | grep '^KAFKA_'); do
    case "$name" in
      # the JVM's and the scripts' own variables, not broker settings
      KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | \
        KAFKA_GC_LOG_OPTS | KAFKA_JMX_OPTS | KAFKA_VERSION) continue ;;
    esac
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//_/.}"
    key="${key//.../-}"
    key="${key//../_}"
    echo "$key=${!name}"
  done
  echo "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram required" \
    "username=\"$admin\" password=\"$password\";"
  echo "listener.name.controller.plain.sasl.jaas.config=$plain required" \
    "username=\"$admin\" password=\"$password\" user_$admin=\"$password\";"
} >"$config"

# The healthcheck's login, in this container only.
cat >/tmp/kafka/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$scram required username="$admin" password="$password";
PROPERTIES

if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$config" \
    --add-scram "SCRAM-SHA-512=[name=$admin,password=$password]"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$config"

#!/bin/bash
# kafka-init: every role's SCRAM-SHA-512 credential (from its secret, /run/secrets/kafka_ROLE)
# and ACLs, as listed in roles.txt (generated from devstack/kafka_roles.py), set with the
# broker's own tools as the super user. Idempotent: a credential is upserted (a new password in
# secrets/kafka/ applies at the next `docker compose up`), an ACL that exists is left as it is.
# An ACL dropped from kafka_roles.py stays on a running deployment until removed with
# `kafka-acls.sh --remove`; the native stack's provisioner removes it itself.
set -euo pipefail

roles=/deploy/kafka/roles.txt
admin="$(sed -n 's/^super //p' "$roles")"
umask 077
mkdir -p /tmp/kafka-init
login=/tmp/kafka-init/admin.properties
cat >"$login" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$admin" password="$(cat "/run/secrets/kafka_$admin")";
PROPERTIES
broker=(--bootstrap-server kafka:9092 --command-config "$login")

grep -v '^#' "$roles" | while read -r kind rest; do
  case "$kind" in
    user)
      echo "principal $rest"
      /opt/kafka/bin/kafka-configs.sh "${broker[@]}" --alter --entity-type users \
        --entity-name "$rest" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$(cat "/run/secrets/kafka_$rest")]" \
        </dev/null
      ;;
    acl)
      # Words without spaces (principals, operations, topic and group names): split on purpose.
      # shellcheck disable=SC2086
      /opt/kafka/bin/kafka-acls.sh "${broker[@]}" --add $rest </dev/null
      ;;
  esac
done

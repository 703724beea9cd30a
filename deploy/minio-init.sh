#!/bin/sh
# Per-service MinIO users, each with only its own policy (minio-policies/NAME.json), and those
# of the clients that run elsewhere: the terminals' (put-only on samples/: a terminal on the
# Kafka path uploads its captures there and may read nothing) and a trainer's. Runs as the
# minio-init container, the only place besides minio that sees the root credentials.
# Idempotent: a user's secret is reset to the one in .env and its policy attached again.
set -eu

mc alias set root http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null

add_user() { # name secret
    mc admin policy create root "kibalock-$1" "/deploy/minio-policies/$1.json"
    mc admin user add root "$1" "$2"
    # attach fails when the policy is attached already: detach first, and let attach fail loudly.
    mc admin policy detach root "kibalock-$1" --user "$1" >/dev/null 2>&1 || true
    mc admin policy attach root "kibalock-$1" --user "$1"
}

add_user gateway "$GATEWAY_S3_SECRET"
add_user provision "$PROVISION_S3_SECRET"
add_user publisher "$PUBLISHER_S3_SECRET"
add_user terminal "$TERMINAL_S3_SECRET"
add_user trainer "$TRAINER_S3_SECRET"

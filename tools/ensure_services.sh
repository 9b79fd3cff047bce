#!/usr/bin/env bash
# Start the local servers the test suite talks to, if they are not running already.
set -euo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.2; done; echo "service on port $1 did not start" >&2; return 1; }
if ! up 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_up 5432
fi
if ! up 1883; then
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_up 1883
fi

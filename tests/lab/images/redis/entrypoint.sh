#!/bin/sh
# lab/redis:7 entrypoint: redis-server as user redis with its data in /data, reachable from other
# containers (protected mode off; REDIS_PASSWORD sets requirepass). `-flags` are passed to
# redis-server; any other command runs as given (e.g. redis-cli).
set -eu
case "${1:-redis-server}" in
  -*) set -- redis-server "$@" ;;
  redis-server) ;;
  *) exec "$@" ;;
esac
if [ "$(id -u)" = 0 ]; then
  mkdir -p /data; chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
shift
if [ -n "${REDIS_PASSWORD:-}" ]; then set -- --requirepass "$REDIS_PASSWORD" "$@"; fi
exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data --daemonize no "$@"

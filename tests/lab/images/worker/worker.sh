#!/bin/sh
# heartbeat loop of lab/worker:1; exits cleanly on SIGTERM
trap 'echo "worker ${WORKER_NAME:-worker} stopping"; exit 0' TERM INT
n=$(cat /data/beats 2>/dev/null || echo 0)
while :; do
  n=$((n+1))
  echo "$n" > /data/beats
  date +%s > /data/heartbeat
  echo "heartbeat $n ${WORKER_NAME:-worker}"
  sleep "${INTERVAL:-2}" &
  wait $!
done

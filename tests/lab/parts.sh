# shellcheck shell=bash
# Lab parts sourced by tests/lab/lab: the `postgres` component (a private PostgreSQL 15 cluster
# on 127.0.0.1, for team state), `dns` (PowerDNS) and the others below. Uses lab's helpers (log, die, apt_install, set_env, ...).
# See tests/lab/README.md, "PostgreSQL (postgres)".

PG_BIN=/usr/lib/postgresql/15/bin
PG_DIR=$LAB_RUN/postgres                 # data/, sock/, port, password files
PG_USER=portable PG_DB=portable

pg_env_port() { cat "$PG_DIR/port" 2>/dev/null || true; }
# postgres_ok: the lab cluster accepts the portable user's password over TCP
postgres_ok() {
  local port pw; port=$(pg_env_port); pw=$(cat "$PG_DIR/password" 2>/dev/null) || return 1
  [[ -n $port && -n $pw ]] || return 1
  PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -X -q -t -A -h 127.0.0.1 -p "$port" -U "$PG_USER" -d "$PG_DB" \
    -c 'select 1' 2>/dev/null | grep -qx 1
}
pg_as() { runuser -u postgres -- "$@"; }   # initdb and postgres refuse to run as root
pg_record_pid() {  # the postmaster's pid (first line of postmaster.pid) in lab's pid file
  local p; p=$(head -n1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
  mkdir -p "$LAB_RUN/pids"; echo "$p $(pstart "$p")" >"$LAB_RUN/pids/postgres.pid"
}

up_postgres() {
  if [[ ! -x $PG_BIN/initdb ]] || ! have psql; then
    # Debian's postinst would create and start a "main" cluster on 5432: the lab wants only its own
    if [[ ! -d /etc/postgresql/15/main ]]; then
      mkdir -p /etc/postgresql-common/createcluster.d
      echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/portable-lab.conf
    fi
    apt_install postgresql-15 postgresql-client-15
  fi
  if postgres_ok && running postgres; then
    log "postgres: already up on 127.0.0.1:$(pg_env_port)"
  else
    local t port pw su_pw
    id postgres >/dev/null 2>&1 || die "postgres: the postgres user is missing (Debian's postgresql-15 creates it)"
    mkdir -p "$PG_DIR" "$LAB_RUN/logs"; chmod 755 "$LAB_RUN" "$PG_DIR"
    if [[ -f $PG_DIR/data/postmaster.pid ]]; then   # a cluster left running (or crashed) by an earlier LAB_RUN
      pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [[ ! -s $PG_DIR/data/PG_VERSION || ! -s $PG_DIR/password || ! -s $PG_DIR/superuser-password ]]; then
      t=$(ms)
      rm -rf "$PG_DIR/data"
      umask 077
      openssl rand -hex 16 >"$PG_DIR/superuser-password"
      openssl rand -hex 16 >"$PG_DIR/password"
      umask 022
      install -d -o postgres -g postgres -m 700 "$PG_DIR/data" "$PG_DIR/sock"
      install -o postgres -g postgres -m 600 "$PG_DIR/superuser-password" "$PG_DIR/data.pwfile"
      pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A scram-sha-256 --pwfile="$PG_DIR/data.pwfile" \
        -E UTF8 --locale=C.UTF-8 >"$LAB_RUN/logs/postgres-initdb.log" 2>&1 \
        || { cat "$LAB_RUN/logs/postgres-initdb.log" >&2; rm -f "$PG_DIR/data.pwfile"; die "postgres: initdb failed"; }
      rm -f "$PG_DIR/data.pwfile"
      log "postgres: initdb in $(took "$t")"
    fi
    port=$(pg_env_port)
    if [[ -z $port ]] || port_busy "$port"; then port=$(freeport); echo "$port" >"$PG_DIR/port"; fi
    install -d -o postgres -g postgres -m 700 "$PG_DIR/sock"
    mkdir -p "$LAB_RUN/logs"; touch "$LAB_RUN/logs/postgres.log"; chown postgres "$LAB_RUN/logs/postgres.log"
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$LAB_RUN/logs/postgres.log" -w -t 60 \
      -o "-p $port -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { show_log postgres; die "postgres: pg_ctl start failed"; }
    pg_record_pid
    pw=$(cat "$PG_DIR/password"); su_pw=$(cat "$PG_DIR/superuser-password")
    # the portable user owns its database (so it may create schemas: the state store uses ?schema=)
    PGPASSWORD=$su_pw psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR/sock" -p "$port" -U postgres -d postgres \
      -v user="$PG_USER" -v pw="$pw" -v db="$PG_DB" >/dev/null <<'SQL' || die "postgres: creating the portable user/database failed"
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user')
\gexec
ALTER ROLE :"user" WITH LOGIN CREATEDB PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SQL
    wait_for 30 "postgres accepting the portable user" postgres_ok || { show_log postgres; die "postgres: the portable user cannot connect"; }
  fi
  local port pw; port=$(pg_env_port); pw=$(cat "$PG_DIR/password")
  set_env postgres LAB_POSTGRES_URL="postgresql://$PG_USER:$pw@127.0.0.1:$port/$PG_DB" \
    LAB_POSTGRES_HOST=127.0.0.1 LAB_POSTGRES_PORT="$port" LAB_POSTGRES_USER="$PG_USER" \
    LAB_POSTGRES_PASSWORD="$pw" LAB_POSTGRES_DB="$PG_DB"
}
down_postgres() {
  if [[ -f $PG_DIR/data/postmaster.pid ]] && running postgres; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || stop_bg postgres
  fi
  rm -f "$LAB_RUN/pids/postgres.pid"
  clear_env postgres
}

# ================================================================== build (lab build)
# Go tools of these parts (compose, toxiproxy: tests/lab/build-parts.sh) compile on both cores after
# the other Go components. What is bound by the network and the disk runs meanwhile in the
# background: their Go module downloads (build-parts.sh fetch) and the database images' root
# filesystems (debootstrap + apt, tests/lab/build-rootfs.sh).
ROOTFS_NAMES="postgres redis sshd"
PARTS_BG_PID= PARTS_FETCH_PID=
build_parts_start() {
  mkdir -p "$LAB_CACHE"
  apt_install debootstrap
  log "build: in the background: database image root filesystems (log $LAB_CACHE/build-rootfs.log), compose/toxiproxy module downloads (log $LAB_CACHE/build-fetch.log)"
  # shellcheck disable=SC2086
  bash "$LAB_DIR/build-rootfs.sh" $ROOTFS_NAMES >>"$LAB_CACHE/build-rootfs.log" 2>&1 &
  PARTS_BG_PID=$!
  bash "$LAB_DIR/build-parts.sh" fetch >>"$LAB_CACHE/build-fetch.log" 2>&1 &
  PARTS_FETCH_PID=$!
}
build_parts_finish() {
  local t0; t0=$(ms)
  # a failed download is retried by the build itself
  [[ -z $PARTS_FETCH_PID ]] || wait "$PARTS_FETCH_PID" || log "build: module downloads failed (retrying in the build; log $LAB_CACHE/build-fetch.log)"
  if ! bash "$LAB_DIR/build-parts.sh" compose toxiproxy >>"$LAB_CACHE/build.log" 2>&1; then
    tail -n 40 "$LAB_CACHE/build.log" >&2; die "build-parts.sh failed (full log: $LAB_CACHE/build.log)"
  fi
  log "build: docker compose $COMPOSE_VERSION and toxiproxy $TOXIPROXY_VERSION ready in $(took "$t0")"
  install_compose_plugin
  if [[ -n $PARTS_BG_PID ]]; then
    t0=$(ms)
    wait "$PARTS_BG_PID" || { tail -n 40 "$LAB_CACHE/build-rootfs.log" >&2; die "build-rootfs.sh failed (log: $LAB_CACHE/build-rootfs.log)"; }
    log "build: root filesystems ready (waited $(took "$t0") for them)"
  fi
}

# ================================================================== compose (docker compose v2)
COMPOSE_BIN=$LAB_CACHE/bin/compose-$COMPOSE_VERSION/docker-compose
COMPOSE_PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose   # root's docker CLI looks there
install_compose_plugin() {
  [[ -x $COMPOSE_BIN ]] || return 0
  if ! cmp -s "$COMPOSE_BIN" "$COMPOSE_PLUGIN"; then
    mkdir -p "${COMPOSE_PLUGIN%/*}"
    install -m 755 "$COMPOSE_BIN" "$COMPOSE_PLUGIN.tmp" && mv "$COMPOSE_PLUGIN.tmp" "$COMPOSE_PLUGIN"
  fi
}
compose_ok() { [[ $(docker compose version --short 2>/dev/null) == "${COMPOSE_VERSION#v}" ]]; }
up_compose() {
  [[ -x $COMPOSE_BIN ]] || die "compose: $COMPOSE_BIN is missing: run 'lab build' first"
  have docker || apt_install docker.io
  install_compose_plugin
  compose_ok || die "compose: 'docker compose version' does not answer ${COMPOSE_VERSION#v} ($(docker compose version 2>&1 | head -n1))"
  set_env compose LAB_COMPOSE_VERSION="${COMPOSE_VERSION#v}" LAB_COMPOSE_BIN="$COMPOSE_PLUGIN"
}
down_compose() { clear_env compose; }   # the plugin stays installed (a tool, not a process)

# ================================================================== dbimages
# lab/postgres:15, lab/redis:7, lab/sshd:1: a trimmed Debian rootfs (build-rootfs.sh) imported, then
# tests/lab/images/<name>/ (entrypoint, healthcheck) built on it; rebuilt only when the rootfs
# recipe, the Dockerfile or the entrypoint changes (label lab.recipe)
DB_IMAGES="lab/postgres:15 lab/redis:7 lab/sshd:1"
db_image_of() { case $1 in postgres) echo lab/postgres:15 ;; redis) echo lab/redis:7 ;; sshd) echo lab/sshd:1 ;; esac; }
dbimages_ok() { local i; for i in $DB_IMAGES; do docker -H "$DOCKER_A" image inspect "$i" >/dev/null 2>&1 || return 1; done; }
registry_has() {  # registry_has IMAGE: the registry's tag points at the manifest engine A pushed for this very image
  local repo=${1%:*} tag=${1##*:} remote local_digests
  remote=$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$repo/manifests/$tag" 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
  [[ -n $remote ]] || return 1
  local_digests=$(docker -H "$DOCKER_A" image inspect -f '{{join .RepoDigests " "}}' "$1" 2>/dev/null) || return 1
  [[ " $local_digests " == *" $REGISTRY/$repo@$remote "* ]]
}
up_dbimages() {
  docker_ok "$DOCKER_A" || die "dbimages: docker engine A is not up (lab up docker)"
  local n img tar key t
  for n in $ROOTFS_NAMES; do
    img=$(db_image_of "$n")
    if [[ ! -s $(ls "$LAB_CACHE"/rootfs/"$n"-*.tar 2>/dev/null | head -n1) ]]; then apt_install debootstrap; fi
    t=$(ms)
    tar=$(bash "$LAB_DIR/build-rootfs.sh" "$n" 2>>"$LAB_CACHE/build-rootfs.log") || { tail -n 30 "$LAB_CACHE/build-rootfs.log" >&2; die "dbimages: rootfs of $n failed"; }
    key=$( { basename "$tar"; cat "$LAB_DIR/images/$n/Dockerfile" "$LAB_DIR/images/$n/entrypoint.sh"; } | sha256sum | cut -c1-16)
    if [[ $(docker -H "$DOCKER_A" image inspect -f '{{index .Config.Labels "lab.recipe"}}' "$img" 2>/dev/null) != "$key" ]]; then
      local base=lab/rootfs-$n:${key}
      docker -H "$DOCKER_A" image inspect "$base" >/dev/null 2>&1 ||
        docker -H "$DOCKER_A" import "$tar" "$base" >/dev/null || die "dbimages: docker import of $tar failed"
      local out
      out=$(docker -H "$DOCKER_A" build -q --build-arg "BASE=$base" --label "lab.recipe=$key" -t "$img" "$LAB_DIR/images/$n" 2>&1) ||
        { echo "$out" >&2; die "docker build of $img failed"; }
      docker -H "$DOCKER_A" rmi "$base" >/dev/null 2>&1 || true     # its layer stays, under $img
      log "dbimages: $img built in $(took "$t") ($(docker -H "$DOCKER_A" image inspect -f '{{.Size}}' "$img" | awk '{printf "%d MB", $1/1e6}'))"
    fi
  done
  if docker_ok "$B_HOST"; then
    local want=() a
    for img in $DB_IMAGES; do
      a=$(docker -H "$DOCKER_A" image inspect -f '{{.Id}}' "$img")
      [[ $(docker -H "$B_HOST" image inspect -f '{{.Id}}' "$img" 2>/dev/null) == "$a" ]] || want+=("$img")
    done
    (( ${#want[@]} )) && { docker -H "$DOCKER_A" save "${want[@]}" | docker -H "$B_HOST" load -q >/dev/null; }
  fi
  if registry_ok; then
    for img in $DB_IMAGES; do
      registry_has "$img" && continue
      docker -H "$DOCKER_A" tag "$img" "$REGISTRY/$img"
      docker -H "$DOCKER_A" push -q "$REGISTRY/$img" >/dev/null || die "dbimages: push of $REGISTRY/$img failed"
    done
  fi
  set_env dbimages LAB_POSTGRES_IMAGE=lab/postgres:15 LAB_REDIS_IMAGE=lab/redis:7 LAB_SSHD_IMAGE=lab/sshd:1
}
down_dbimages() { clear_env dbimages; }

# ================================================================== faults (toxiproxy)
# toxiproxy-server on 127.0.0.1 with one TCP proxy in front of each API the providers call: the
# kube-apiserver (TLS passes through: its certificate names 127.0.0.1), moto, vcsim and engine B.
# Engine B listens on a unix socket only (no TCP endpoint) and toxiproxy speaks TCP, so a socat
# bridge (127.0.0.1:port -> B's socket) sits between the proxy and B. Only components that are up get
# a proxy (run `lab up faults` after them; `lab up` orders it last). tests/lab/faults.py drives it.
TOXI=$LAB_CACHE/bin/toxiproxy-$TOXIPROXY_VERSION
FAULTS_DIR=$LAB_RUN/faults
faults_api() { echo "http://127.0.0.1:$(cat "$FAULTS_DIR/api.port" 2>/dev/null)"; }
faults_ok() { [[ -s $FAULTS_DIR/api.port ]] && curl -fsS "$(faults_api)/version" >/dev/null 2>&1; }
toxi() {  # toxi METHOD PATH [JSON]
  curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$(faults_api)$2"
}
up_faults() {
  [[ -x $TOXI/toxiproxy-server ]] || die "faults: $TOXI/toxiproxy-server is missing: run 'lab build' first"
  mkdir -p "$FAULTS_DIR"
  if ! faults_ok || ! running toxiproxy; then
    stop_bg toxiproxy
    local port; port=$(freeport); echo "$port" >"$FAULTS_DIR/api.port"
    start_bg toxiproxy "$TOXI/toxiproxy-server" -host 127.0.0.1 -port "$port"
    wait_for 30 "toxiproxy API" faults_ok || { show_log toxiproxy; die "faults: toxiproxy did not start"; }
  fi
  # upstreams of what is up now (NAME=host:port); proxies listen on a port toxiproxy picks
  local ups=() u env_pairs=() names=()
  u=$(env_get LAB_K8S_API); [[ -n $u ]] && k8s_ok && ups+=("k8s_api=${u#https://}")
  u=$(env_get LAB_MOTO_URL); [[ -n $u ]] && moto_ok && ups+=("moto=${u#http://}")
  u=$(env_get LAB_VC_PORT); [[ -n $u ]] && vcsim_ok && ups+=("vcsim=127.0.0.1:$u")
  if docker_ok "$B_HOST"; then
    local bport; bport=$(cat "$FAULTS_DIR/bridge.port" 2>/dev/null || true)
    if ! running faults-docker-b-bridge || [[ -z $bport ]] || ! port_busy "$bport"; then
      stop_bg faults-docker-b-bridge
      have socat || apt_install socat
      bport=$(freeport); echo "$bport" >"$FAULTS_DIR/bridge.port"
      start_bg faults-docker-b-bridge socat "TCP-LISTEN:$bport,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$B_SOCK"
      wait_for 10 "engine B bridge" port_busy "$bport" || { show_log faults-docker-b-bridge; die "faults: socat bridge to engine B did not start"; }
    fi
    ups+=("docker_b=127.0.0.1:$bport")
  else
    stop_bg faults-docker-b-bridge
  fi
  # proxies whose upstream is unchanged keep their port (a warm lab up changes no address);
  # others are (re)created on a port toxiproxy picks, and those of components now down removed
  python3 - "$(faults_api)" "$FAULTS_DIR/proxies.json" "${ups[@]}" <<'PY' || die "faults: toxiproxy refused the proxies ${ups[*]}"
import json, sys, urllib.request
api, out, wanted = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    return json.loads(text) if text.strip() else None
have = call("GET", "/proxies")
for name, p in have.items():
    if wanted.get(name) != p["upstream"]:
        call("DELETE", f"/proxies/{name}")
for name, upstream in wanted.items():
    if name not in have or have[name]["upstream"] != upstream:
        call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": True})
json.dump(list(call("GET", "/proxies").values()), open(out, "w"))
PY
  # shellcheck disable=SC2207
  env_pairs=($(python3 - "$FAULTS_DIR/proxies.json" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
proxies = got.get("proxies", got) if isinstance(got, dict) else got
out, names = [], []
for p in proxies:
    name, listen = p["name"], p["listen"]
    names.append(name)
    port = listen.rsplit(":", 1)[1]
    if name == "k8s_api": out.append(f"LAB_FAULTS_K8S_API=https://{listen}")
    elif name == "moto": out.append(f"LAB_FAULTS_MOTO_URL=http://{listen}")
    elif name == "vcsim": out += [f"LAB_FAULTS_VC_URL=https://{listen}/sdk", f"LAB_FAULTS_VC_PORT={port}"]
    elif name == "docker_b": out.append(f"LAB_FAULTS_DOCKER_B_HOST=tcp://{listen}")
out.append("LAB_FAULTS_PROXIES=" + ",".join(sorted(names)))
print("\n".join(out))
PY
))
  set_env faults LAB_FAULTS_API="$(faults_api)" "${env_pairs[@]}"
  log "faults: toxiproxy at $(faults_api) with proxies: $(env_get LAB_FAULTS_PROXIES)"
}
down_faults() { stop_many faults-docker-b-bridge toxiproxy; clear_env faults; }

# ================================================================== dns (PowerDNS authoritative)
# Debian's pdns-server with the sqlite3 backend, on 127.0.0.1 only (a free UDP/TCP port for DNS,
# another for its HTTP API), from a private config dir in $LAB_RUN/dns: Debian's own
# /etc/powerdns config (bind backend, port 53) is never read. The API key is made per lab run,
# kept in $LAB_RUN/dns/api-key and env.json, never printed. The libcloud DNS tests drive it
# through libcloud's PowerDNS driver and read the answers with dig (bind9-dnsutils).
DNS_DIR=$LAB_RUN/dns
DNS_PACKAGES="pdns-server pdns-backend-sqlite3 bind9-dnsutils"
DNS_SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
install_dns() {  # lab setup and lab up dns: the packages, without the service Debian's postinst would start
  local p missing=0 had_policy=1
  for p in $DNS_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing=1; done
  (( missing )) || return 0
  # where an init system runs, Debian would start pdns on port 53 with its bind backend: not wanted
  [[ -e /usr/sbin/policy-rc.d ]] || { had_policy=0; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
  # shellcheck disable=SC2086
  apt_install $DNS_PACKAGES || { (( had_policy )) || rm -f /usr/sbin/policy-rc.d; die "dns: apt-get install $DNS_PACKAGES failed"; }
  (( had_policy )) || rm -f /usr/sbin/policy-rc.d
  if have systemctl; then systemctl disable --now pdns.service >/dev/null 2>&1 || true; fi
}
dns_api() { echo "http://127.0.0.1:$(cat "$DNS_DIR/api.port" 2>/dev/null)"; }
dns_ok() {  # the API answers with the run's key and the DNS port answers a query
  [[ -s $DNS_DIR/api-key && -s $DNS_DIR/dns.port ]] || return 1
  curl -fsS -H "X-API-Key: $(cat "$DNS_DIR/api-key")" "$(dns_api)/api/v1/servers/localhost" >/dev/null 2>&1 || return 1
  have dig && dig +short +time=2 +tries=1 -p "$(cat "$DNS_DIR/dns.port")" @127.0.0.1 version.bind CH TXT >/dev/null 2>&1
}
up_dns() {
  install_dns
  [[ -x /usr/sbin/pdns_server ]] || die "dns: /usr/sbin/pdns_server is missing after installing $DNS_PACKAGES"
  if dns_ok && running pdns; then
    log "dns: PowerDNS already up on 127.0.0.1:$(cat "$DNS_DIR/dns.port")"
  else
    stop_bg pdns
    mkdir -p "$DNS_DIR" "$LAB_RUN/logs"; chmod 700 "$DNS_DIR"
    [[ -s $DNS_DIR/api-key ]] || (umask 077; openssl rand -hex 24 >"$DNS_DIR/api-key")
    if [[ ! -s $DNS_DIR/pdns.sqlite3 ]]; then
      [[ -f $DNS_SCHEMA ]] || die "dns: $DNS_SCHEMA is missing (pdns-backend-sqlite3)"
      python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read()); c.commit()' \
        "$DNS_DIR/pdns.sqlite3" "$DNS_SCHEMA" || die "dns: creating the sqlite3 database failed"
    fi
    local ports; read -r -a ports <<<"$(freeports 2)"
    echo "${ports[0]}" >"$DNS_DIR/dns.port"; echo "${ports[1]}" >"$DNS_DIR/api.port"
    (umask 077; cat >"$DNS_DIR/pdns.conf" <<EOF
launch=gsqlite3
gsqlite3-database=$DNS_DIR/pdns.sqlite3
local-address=127.0.0.1
local-port=${ports[0]}
api=yes
api-key=$(cat "$DNS_DIR/api-key")
webserver=yes
webserver-address=127.0.0.1
webserver-port=${ports[1]}
webserver-allow-from=127.0.0.0/8
socket-dir=$DNS_DIR
daemon=no
guardian=no
disable-syslog=yes
write-pid=no
version-string=powerdns
security-poll-suffix=
loglevel=4
EOF
)
    start_bg pdns /usr/sbin/pdns_server --config-dir="$DNS_DIR"
    wait_for 30 "PowerDNS" dns_ok || { show_log pdns; die "dns: pdns_server did not answer"; }
  fi
  set_env dns LAB_DNS_HOST=127.0.0.1 LAB_DNS_PORT="$(cat "$DNS_DIR/dns.port")" \
    LAB_DNS_API_URL="$(dns_api)" LAB_DNS_API_PORT="$(cat "$DNS_DIR/api.port")" LAB_DNS_API_KEY="$(cat "$DNS_DIR/api-key")"
}
down_dns() { stop_bg pdns; clear_env dns; }

# ================================================================== status
# one line per component of this file (lab status; `line` is cmd_status's printer)
status_parts() {
  local st
  postgres_ok && st=up || st=down
  line postgres "$st" "postgresql://$PG_USER@127.0.0.1:$(pg_env_port)/$PG_DB"
  compose_ok && st=up || st=down
  line compose "$st" "docker compose $(docker compose version --short 2>/dev/null || echo "(not installed: lab build)") ($COMPOSE_PLUGIN)"
  docker_ok "$DOCKER_A" && dbimages_ok && st=up || st=down
  line dbimages "$st" "$DB_IMAGES"
  if dns_ok; then line dns up "127.0.0.1:$(cat "$DNS_DIR/dns.port") (PowerDNS $(dpkg-query -W -f='${Version}' pdns-server 2>/dev/null), API $(dns_api))"
  else line dns down "PowerDNS (bash tests/lab/lab up dns)"; fi
  faults_ok && st=up || st=down
  line faults "$st" "$(faults_ok && faults_api) proxies: $(env_get LAB_FAULTS_PROXIES)"
}

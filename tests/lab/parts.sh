# shellcheck shell=bash
# Lab parts sourced by tests/lab/lab: the `postgres` component (a private PostgreSQL 15 cluster
# on 127.0.0.1, for team state). Uses lab's helpers (log, die, apt_install, set_env, ...).
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
    mkdir -p "$PG_DIR"; chmod 755 "$LAB_RUN" "$PG_DIR"
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

# one status line per component of this file (lab status; `line` is cmd_status's printer)
status_parts() {
  local st
  postgres_ok && st=up || st=down
  line postgres "$st" "postgresql://$PG_USER@127.0.0.1:$(pg_env_port)/$PG_DB"
}

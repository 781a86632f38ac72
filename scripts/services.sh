#!/usr/bin/env bash
# Makes sure everything the test suite talks to is there, on loopback only:
# PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306 (each with a
# database `test`), Redis on 127.0.0.1:6379, redis-server and redis-cli for
# the cluster and failure tests (they start their own servers), and Debian's
# Chromium and chromedriver for the demo's browser test.
#
# A server that does not answer is started. On Debian or Ubuntu a missing one
# is installed from the distribution's packages and set up for the tests:
# PostgreSQL trusts loopback TCP connections (roles `postgres` and `root`),
# MariaDB's `root` has an empty password over TCP from 127.0.0.1, and both
# get a database `test`. Elsewhere the script stops and says what to install.
# A server pointed elsewhere with NARVIK_TEST_POSTGRES_URL,
# NARVIK_TEST_MYSQL_URL or NARVIK_TEST_REDIS_URL is left alone (the tests
# report if it is down). Run as root (it installs packages and starts
# servers); a machine where everything already answers needs nothing more.
set -euo pipefail

log() { echo "services: $*"; }
fail() {
    echo "services: $*" >&2
    exit 1
}

is_debian() { [[ -r /etc/debian_version ]] && command -v apt-get >/dev/null; }

# Installs Debian packages, or stops with what to install on other systems.
need() { # what (for the message), packages...
    local what=$1
    shift
    if ! is_debian; then
        fail "$what is missing and this is not a Debian or Ubuntu machine:" \
            "install it (Debian's packages: $*) and run this script again"
    fi
    if [[ $EUID -ne 0 ]]; then
        fail "$what is missing: run this script as root to install $*, or install them yourself"
    fi
    log "installing $*"
    if [[ -z "${NARVIK_APT_UPDATED:-}" ]]; then
        apt-get update -qq
        export NARVIK_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # name, command...
    local name=$1
    shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    log "$name did not answer within 60 s" >&2
    return 1
}

# --- PostgreSQL

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_sql() { psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -Atc "$1"; }
# The newest installed Debian cluster version (/etc/postgresql/<version>/).
pg_version() { find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1; }
pg_server_installed() { command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

# A new Debian cluster lets in local sockets by peer and asks a password over
# TCP; the tests connect over 127.0.0.1 as `postgres` without one. The first
# matching pg_hba.conf line wins, so loopback trust goes on top. Loopback only.
pg_trust_loopback() { # version
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "PostgreSQL: trusting loopback TCP connections in $hba"
        { printf '%s\n' '# narvik tests (scripts/services.sh): loopback only' \
            'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust'; cat "$hba"; } >"$hba.new"
        chown --reference="$hba" "$hba.new"
        chmod --reference="$hba" "$hba.new"
        mv "$hba.new" "$hba"
    fi
}

if [[ -z "${NARVIK_TEST_POSTGRES_URL:-}" ]]; then
    if ! pg_up >/dev/null 2>&1; then
        if ! pg_server_installed; then
            need "PostgreSQL (server and psql; the tests want 127.0.0.1:5432, user postgres without a password, a database test)" \
                postgresql postgresql-client
        fi
        version=$(pg_version)
        [[ -n "$version" ]] || fail "PostgreSQL is installed but /etc/postgresql has no cluster version"
        if [[ ! -d "/etc/postgresql/$version/main" ]]; then
            log "creating PostgreSQL cluster $version/main"
            pg_createcluster "$version" main >/dev/null
        fi
        pg_trust_loopback "$version"
        # Debian's packages start the cluster where an init system runs; a
        # container or CI machine often has none.
        if ! pg_up >/dev/null 2>&1; then
            log "starting PostgreSQL $version/main"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start
        else
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        fi
        wait_for PostgreSQL pg_up
    fi
    command -v psql >/dev/null || need "the PostgreSQL client (psql)" postgresql-client
    pg_sql 'SELECT 1' >/dev/null ||
        fail "PostgreSQL answers on 127.0.0.1:5432 but not to user postgres without a password;" \
            "trust loopback in its pg_hba.conf or set NARVIK_TEST_POSTGRES_URL"
    # `root` lets a root shell (this script's, CI's) run psql without -U.
    if [[ -z "$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" ]]; then
        pg_sql 'CREATE ROLE root SUPERUSER LOGIN' >/dev/null
    fi
    if [[ -z "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]]; then
        pg_sql 'CREATE DATABASE test' >/dev/null
    fi
    log "PostgreSQL answers on 127.0.0.1:5432"
fi

# --- MariaDB

maria_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping; }
# Up, over TCP or (before root may log in over TCP) over the local socket.
maria_running() { maria_up || mysqladmin ping; }
maria_tcp() { mysql --protocol=tcp -h 127.0.0.1 -P 3306 -u root "$@"; }

if [[ -z "${NARVIK_TEST_MYSQL_URL:-}" ]]; then
    if ! maria_up >/dev/null 2>&1; then
        if [[ ! -x /usr/sbin/mariadbd ]]; then
            if is_debian && [[ $EUID -eq 0 ]]; then
                # Written before the install so that the server's first start
                # has it. With names resolved, 127.0.0.1 is "localhost", whose
                # root Debian lets in by unix socket only; the tests log in
                # over TCP. Loopback only.
                install -d /etc/mysql/mariadb.conf.d
                printf '%s\n' '# narvik tests (scripts/services.sh)' '[mysqld]' \
                    'bind-address = 127.0.0.1' 'port = 3306' 'skip-name-resolve' \
                    >/etc/mysql/mariadb.conf.d/90-narvik-tests.cnf
            fi
            need "MariaDB (server and client; the tests want 127.0.0.1:3306, root without a password, a database test)" \
                mariadb-server mariadb-client
        fi
        if ! maria_running >/dev/null 2>&1; then
            log "starting MariaDB"
            # The server's socket directory lives in /run, which a reboot empties.
            install -d -o mysql -g mysql /run/mysqld
            start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
            wait_for MariaDB maria_running
        fi
    fi
    command -v mysql >/dev/null || need "the MariaDB client (mysql)" mariadb-client
    if ! maria_tcp -e 'SELECT 1' >/dev/null 2>&1; then
        # A fresh Debian install: root logs in over the socket as the OS
        # root; give it an empty password over TCP from 127.0.0.1 as well.
        log "MariaDB: root over TCP from 127.0.0.1, empty password"
        mysql -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
            fail "MariaDB answers but root cannot log in over TCP from 127.0.0.1 without a password;" \
                "create that user or set NARVIK_TEST_MYSQL_URL"
    fi
    maria_tcp -e 'CREATE DATABASE IF NOT EXISTS test'
    log "MariaDB answers on 127.0.0.1:3306"
fi

# --- Redis

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    need "Redis (redis-server, redis-cli)" redis-server redis-tools
fi
if [[ -z "${NARVIK_TEST_REDIS_URL:-}" ]]; then
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        log "starting Redis"
        install -d /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
        wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
    fi
    log "Redis answers on 127.0.0.1:6379"
fi

# --- Chromium, for the demo's browser test

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    need "Chromium and chromedriver" chromium chromium-driver
fi
log "Chromium: $(/usr/bin/chromedriver --version | head -n 1)"

#!/usr/bin/env bash
# Makes sure everything the test suite talks to is there, on loopback only:
# PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306 (each with a
# database `test`), Redis on 127.0.0.1:6379, redis-server and redis-cli for
# the cluster and failure tests (they start their own servers), and Debian's
# Chromium and chromedriver for the demo's browser test. Starts a server
# that does not answer and installs a missing package. A server pointed
# elsewhere with NARVIK_TEST_POSTGRES_URL, NARVIK_TEST_MYSQL_URL or
# NARVIK_TEST_REDIS_URL is left alone (the tests report if it is down).
set -euo pipefail

log() { echo "services: $*"; }

apt_install() { # packages...
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

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
maria_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping; }

if [[ -z "${NARVIK_TEST_POSTGRES_URL:-}" ]]; then
    if ! pg_up; then
        log "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
        wait_for PostgreSQL pg_up
    fi
    if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'SELECT 1' >/dev/null 2>&1; then
        psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test'
    fi
    log "PostgreSQL answers on 127.0.0.1:5432"
fi

if [[ -z "${NARVIK_TEST_MYSQL_URL:-}" ]]; then
    if ! maria_up >/dev/null 2>&1; then
        log "starting MariaDB"
        # The server's socket directory lives in /run, which a reboot empties.
        install -d -o mysql -g mysql /run/mysqld
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_for MariaDB maria_up
    fi
    mysql --protocol=tcp -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test'
    log "MariaDB answers on 127.0.0.1:3306"
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
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

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    apt_install chromium chromium-driver
fi
log "Chromium: $(/usr/bin/chromedriver --version | head -n 1)"

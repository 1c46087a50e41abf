#!/usr/bin/env bash
# Make sure the database servers the tests use are running on loopback:
#   PostgreSQL on 127.0.0.1:5432 (trust for local TCP connections),
#   MariaDB on 127.0.0.1:3306 (root without a password).
# Starts them when installed but stopped; installs them from Debian's packages when missing
# (needs apt and root, as on CI). Without root or apt it only reports what is missing: the
# tests that need a server then skip, or fail when PINNACE_TEST_SERVICES=required.
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
can_install() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; }
say() { echo "services: $*" >&2; }
wait_for() {  # port, name
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done
  say "$2 did not start listening on 127.0.0.1:$1"
  return 1
}

APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres() {
  listening 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    can_install || { say "PostgreSQL is not installed (apt-get install postgresql)"; return 1; }
    say "installing Debian's postgresql"
    apt_install postgresql || return 1
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    # Loopback only, as on the development machines: the tests connect without a password.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  # The package's own start may have come first: make it read the loopback trust line.
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1 || true
  wait_for 5432 PostgreSQL
}

mariadb_server() {
  listening 3306 && return 0
  if [ ! -x /usr/sbin/mariadbd ]; then
    can_install || { say "MariaDB is not installed (apt-get install mariadb-server)"; return 1; }
    say "installing Debian's mariadb-server"
    apt_install mariadb-server || return 1
  fi
  [ "$(id -u)" = "0" ] || { say "MariaDB is stopped and starting it needs root"; return 1; }
  install -d -o mysql -g mysql /run/mysqld
  say "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for 3306 MariaDB || return 1
  # Debian's root logs in through the unix socket only; the tests use TCP without a password.
  mariadb -uroot -e "
    ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password
      USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" 2>/dev/null || true
}

status=0
postgres || status=1
mariadb_server || status=1
exit $status

#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback, for the fault suite and for
# trying the service by hand. Each node has its own data directory, socket
# and ports under $DIR; nothing touches a MariaDB already running on 3306.
#
#   scripts/cluster/galera.sh start [DIR]   # bootstrap node 1, join 2 and 3 (rsync SST)
#   scripts/cluster/galera.sh stop  [DIR]
#   scripts/cluster/galera.sh single [DIR]  # one plain (non-Galera) mariadbd on 3321
#   scripts/cluster/galera.sh status [DIR]
#
# Node i: SQL 127.0.0.1:331i (socket DIR/nodei/mysqld.sock), Galera group
# communication 457i, IST 458i, rsync SST 459i. root has an empty password
# on 127.0.0.1. DIR defaults to /tmp/twinning-galera.
set -euo pipefail
cmd="${1:-start}"
DIR="${2:-${TWINNING_GALERA_DIR:-/tmp/twinning-galera}}"
MARIADBD="${MARIADBD:-/usr/sbin/mariadbd}"
PROVIDER="${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}"
# As root the nodes run as mysql: the rsync daemon of an SST, started by
# the server, would otherwise switch to nobody and fail to write the
# joiner's data directory.
USER_OPT=()
RUN_AS=""
if [ "$(id -u)" = 0 ]; then
  RUN_AS="${GALERA_USER:-mysql}"
  USER_OPT=(--user="$RUN_AS")
fi

cnf() { # node, galera(0/1)
  local i=$1 g=$2 d="$DIR/node$1"
  cat <<CNF
[mysqld]
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=331$i
bind-address=127.0.0.1
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_log_file_size=32M
innodb_flush_log_at_trx_commit=2
innodb_lock_wait_timeout=10
max_connections=300
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
CNF
  if [ "$g" = 1 ]; then cat <<CNF
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=twinning_test
wsrep_cluster_address=gcomm://127.0.0.1:4571,127.0.0.1:4572,127.0.0.1:4573
wsrep_node_name=node$i
wsrep_node_address=127.0.0.1
wsrep_node_incoming_address=127.0.0.1:331$i
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:459$i
wsrep_slave_threads=2
wsrep_provider_options="base_host=127.0.0.1;base_port=457$i;gmcast.listen_addr=tcp://127.0.0.1:457$i;ist.recv_addr=127.0.0.1:458$i;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT4S;gcache.size=64M;pc.wait_prim_timeout=PT10S"
CNF
  fi
}

sql() { mariadb --protocol=tcp -h127.0.0.1 -P"331$1" -uroot --connect-timeout=2 -N -e "$2" 2>/dev/null; }

wait_synced() { # node, seconds
  for _ in $(seq 1 "$2"); do
    [ "$(sql "$1" "SHOW STATUS LIKE 'wsrep_local_state'" | awk '{print $2}')" = 4 ] && return 0
    sleep 1
  done
  echo "node $1 did not sync; see $DIR/node$1/error.log" >&2
  tail -20 "$DIR/node$1/error.log" >&2 || true
  return 1
}

start_node() { # node, extra args...
  local i=$1; shift
  # joiner: datadir filled by SST; node 1: initialised below
  setsid "$MARIADBD" --defaults-file="$DIR/node$i/my.cnf" "${USER_OPT[@]}" "$@" >>"$DIR/node$i/stdout.log" 2>&1 < /dev/null &
}

init_datadir() {
  mariadb-install-db --defaults-file="$DIR/node$1/my.cnf" "${USER_OPT[@]}" --auth-root-authentication-method=normal \
    --skip-test-db >"$DIR/node$1/install.log" 2>&1
}

case "$cmd" in
start)
  mkdir -p "$DIR"
  for i in 1 2 3; do
    mkdir -p "$DIR/node$i/data"
    cnf "$i" 1 >"$DIR/node$i/my.cnf"
  done
  [ -n "$RUN_AS" ] && chown -R "$RUN_AS" "$DIR"
  if [ ! -d "$DIR/node1/data/mysql" ]; then init_datadir 1; fi
  # restarting a stopped cluster in the same DIR: node 1 bootstraps again
  [ -f "$DIR/node1/data/grastate.dat" ] && sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$DIR/node1/data/grastate.dat"
  start_node 1 --wsrep-new-cluster
  wait_synced 1 60
  for i in 2 3; do
    start_node "$i"
    wait_synced "$i" 120
  done
  echo "galera cluster up: $(sql 1 "SHOW STATUS LIKE 'wsrep_cluster_size'" | awk '{print $2}') nodes on 127.0.0.1:3311-3313 (dir $DIR)"
  ;;
rejoin) # restart one node that was killed: it rejoins with IST (or SST)
  i="${3:?node}"
  start_node "$i"
  wait_synced "$i" 120
  ;;
single)
  mkdir -p "$DIR/node1/data"
  cnf 1 0 | sed 's/^port=3311/port=3321/' >"$DIR/node1/my.cnf"
  [ -n "$RUN_AS" ] && chown -R "$RUN_AS" "$DIR"
  if [ ! -d "$DIR/node1/data/mysql" ]; then init_datadir 1; fi
  start_node 1
  for _ in $(seq 1 60); do
    mariadb --protocol=tcp -h127.0.0.1 -P3321 -uroot --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
  done
  echo "single mariadbd up on 127.0.0.1:3321 (dir $DIR)"
  ;;
stop)
  for i in 3 2 1; do
    f="$DIR/node$i/mysqld.pid"
    if [ -f "$f" ]; then
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  ;;
status)
  for i in 1 2 3; do
    echo "node $i: $(sql "$i" "SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size','wsrep_ready')" | tr '\n\t' ' =' || echo down)"
  done
  ;;
*) echo "usage: $0 start|stop|rejoin DIR N|single|status [DIR]" >&2; exit 2 ;;
esac

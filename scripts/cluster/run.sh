#!/usr/bin/env bash
# Runs the cluster fault suite (scripts/cluster/faultsuite) from the repo
# root: against a 3-node Galera cluster and against a single MariaDB, both
# started privately on loopback (ports 3311-3313 and 3321; never 3306).
#
#   scripts/cluster/run.sh            # galera, then single (clean throughput figures)
#   scripts/cluster/run.sh galera     # one mode
#   scripts/cluster/run.sh single
#   scripts/cluster/run.sh parallel   # both at once (CI: half the wall time)
#
# Extra flags go to the suite, e.g. --load 60s --smtp-down 30s --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
mode="${1:-both}"
[ $# -gt 0 ] && shift
work="${TWINNING_SUITE_DIR:-$(mktemp -d /tmp/twinning-faultsuite.XXXXXX)}"
mkdir -p "$work"
# mariadbd runs as the mysql user: it must be able to reach its data dirs
chmod 0755 "$work"
go build -o "$work/faultsuite" ./scripts/cluster/faultsuite
suite() { "$work/faultsuite" --mode "$1" --dir "$work/$1" "${@:2}"; }
case "$mode" in
galera|single) suite "$mode" "$@" ;;
both) suite galera "$@"; suite single "$@" ;;
parallel)
  suite galera "$@" > "$work/galera.out" 2>&1 & g=$!
  suite single "$@" > "$work/single.out" 2>&1 & s=$!
  rc=0
  wait "$g" || rc=1
  wait "$s" || rc=1
  sed 's/^/[galera] /' "$work/galera.out"
  sed 's/^/[single] /' "$work/single.out"
  exit $rc
  ;;
*) echo "usage: $0 [galera|single|both|parallel] [suite flags]" >&2; exit 2 ;;
esac

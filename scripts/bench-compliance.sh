#!/usr/bin/env bash
# Benchmark GET /api/v1/compliance for county bureaus on MariaDB/MySQL.
#
# Creates the databases twinning_bench (10,000 pairs, 500,000 activities)
# and twinning_bench_1k (1,000 pairs, 50,000 activities) on
# root@127.0.0.1:3306 (empty password), migrates and fills them with
# scripts/gendata, then runs scripts/benchcompliance on both and prints the
# latency percentiles and SQL statements per request side by side: the
# statements must not grow with the number of pairs.
#
#   scripts/bench-compliance.sh                       # everything, from scratch
#   REUSE=1 scripts/bench-compliance.sh               # keep databases already generated
#   REQUESTS=50 scripts/bench-compliance.sh --explain # extra flags go to benchcompliance
#
# Environment: MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306), PAIRS (10000),
# ACTIVITIES (500000), SMALL_PAIRS (1000), SMALL_ACTIVITIES (50000),
# REQUESTS (200), SEED (1), REUSE (0), TARGET_P95_MS (100).
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=${MYSQL_HOST:-127.0.0.1}
PORT=${MYSQL_PORT:-3306}
PAIRS=${PAIRS:-10000}
ACTIVITIES=${ACTIVITIES:-500000}
SMALL_PAIRS=${SMALL_PAIRS:-1000}
SMALL_ACTIVITIES=${SMALL_ACTIVITIES:-50000}
REQUESTS=${REQUESTS:-200}
SEED=${SEED:-1}
REUSE=${REUSE:-0}
TARGET_P95_MS=${TARGET_P95_MS:-100}

sql() { mysql -h"$HOST" -P"$PORT" -uroot --connect-timeout=5 "$@"; }
dsn() { echo "root:@tcp($HOST:$PORT)/$1"; }

if ! mysqladmin -h"$HOST" -P"$PORT" -uroot --connect-timeout=3 ping >/dev/null 2>&1; then
  echo "MariaDB does not answer on $HOST:$PORT as root with an empty password (start it, e.g. as .ci/run does)" >&2
  exit 1
fi
sql -N -e "SELECT CONCAT('server: ', VERSION(), ', innodb_buffer_pool_size ', @@innodb_buffer_pool_size DIV 1048576, ' MiB')"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
echo "building scripts/gendata and scripts/benchcompliance"
go build -o "$bin/gendata" ./scripts/gendata
go build -o "$bin/benchcompliance" ./scripts/benchcompliance

# prepare DB PAIRS ACTIVITIES: a fresh database, migrated and generated.
prepare() {
  local db=$1 pairs=$2 acts=$3 have
  if [ "$REUSE" = 1 ]; then
    have=$(sql -N -e "SELECT (SELECT COUNT(*) FROM $db.pairs) = $pairs AND (SELECT COUNT(*) FROM $db.activities) = $acts" 2>/dev/null || echo 0)
    if [ "$have" = 1 ]; then
      echo "== reusing $db ($pairs pairs, $acts activities)"
      return
    fi
  fi
  echo "== creating $db"
  sql -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  "$bin/gendata" --driver mysql --dsn "$(dsn "$db")" --migrate --pairs "$pairs" --activities "$acts" --seed "$SEED"
}

prepare twinning_bench "$PAIRS" "$ACTIVITIES"
prepare twinning_bench_1k "$SMALL_PAIRS" "$SMALL_ACTIVITIES"

results=$(mktemp)
trap 'rm -rf "$bin" "$results"' EXIT
for db in twinning_bench twinning_bench_1k; do
  echo
  "$bin/benchcompliance" --driver mysql --dsn "$(dsn "$db")" --requests "$REQUESTS" --region-level county --label "$db" "$@" | tee -a "$results"
done

echo
echo "== summary: GET /api/v1/compliance?at=2027-03-15 as county bureaus (target p95 < ${TARGET_P95_MS} ms)"
grep '^result' "$results" | awk -F'\t' -v target="$TARGET_P95_MS" '
  { for (i = 2; i <= NF; i++) { eq = index($i, "="); v[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    gsub(/"/, "", v["label"]); gsub(/"/, "", v["variant"])
    verdict = (v["p95_ms"] + 0 < target + 0) ? "met" : "MISSED"
    printf "%-18s %6s pairs  %-24s p50 %7s ms  p95 %7s ms  p99 %7s ms  queries/req %s  p95 target %s\n",
      v["label"], v["pairs_total"], v["variant"], v["p50_ms"], v["p95_ms"], v["p99_ms"], v["queries_per_req"], verdict }'
q=$(grep '^result' "$results" | sed -n 's/.*queries_per_req=\([0-9.]*\).*/\1/p' | sort -u)
if [ "$(printf '%s\n' "$q" | wc -l)" = 1 ]; then
  echo "statements per request: $q at every size"
else
  echo "statements per request differ between sizes: $(echo $q)" >&2
  exit 1
fi

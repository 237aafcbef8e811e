#!/usr/bin/env bash
# Every figure of issue 12 at 5,000, 10,000 and 50,000 pairs, side by side
# with its target and the floor, and the 10×-pairs ratio (50k / 5k).
#
# Creates (or, with REUSE=1, keeps) the databases twinning_bench_5k, _10k and
# _50k on root@127.0.0.1:3306 (empty password), filled by scripts/gendata
# with 50 activities per pair, then per size runs:
#   scripts/benchcompliance  the province /dashboard, its trend fragment, a
#                            county's /dashboard, a 50-pair page of GET
#                            /api/v1/compliance for the province;
#   scripts/benchsweep       the full recompute against the floor (one
#                            stream of the counted rows), alternating in one
#                            run; `twinning rebuild`; the daily sweep on a
#                            reminder day and on an ordinary day;
#   scripts/benchrss         RSS of `twinning serve` after RSS_REQUESTS mixed
#                            province requests (dashboard, trend, API pages,
#                            CSV and XLSX exports), default GOGC.
# It ends with a markdown table (the README's "Province scale" table is this
# output, pasted).
#
#   scripts/bench-scale.sh                 # 5k, 10k and 50k from scratch
#   REUSE=1 SIZES="5k 10k" scripts/bench-scale.sh
#
# Environment: MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306), SIZES ("5k 10k 50k"),
# REUSE (0), SEED (1), REQUESTS (30 timed page/API requests per figure),
# RUNS (5 sweeps, recompute/floor pairs), RSS_REQUESTS (1000), RSS_CONCURRENCY (2),
# POOL_MIB (2048: InnoDB buffer pool set at run time when smaller),
# SQLITE_CITY (1: also the embedded default, a 3,000-pair city on SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=${MYSQL_HOST:-127.0.0.1}
PORT=${MYSQL_PORT:-3306}
SIZES=${SIZES:-5k 10k 50k}
REUSE=${REUSE:-0}
SEED=${SEED:-1}
REQUESTS=${REQUESTS:-30}
RUNS=${RUNS:-5}
RSS_REQUESTS=${RSS_REQUESTS:-1000}
RSS_CONCURRENCY=${RSS_CONCURRENCY:-2}

sql() { mysql -h"$HOST" -P"$PORT" -uroot --connect-timeout=5 "$@"; }
dsn() { echo "root:@tcp($HOST:$PORT)/$1"; }
pairs_of() { case $1 in *k) echo $((${1%k} * 1000)) ;; *) echo "$1" ;; esac; }

if ! mysqladmin -h"$HOST" -P"$PORT" -uroot --connect-timeout=3 ping >/dev/null 2>&1; then
  echo "MariaDB does not answer on $HOST:$PORT as root with an empty password" >&2
  exit 1
fi
# A province's database server holds its working set in memory: the 50k
# set is ~1.5 GiB, and the default 128 MiB pool would measure the disk.
# POOL_MIB (2048) is set at run time when the server has less (not saved
# across a restart of the server).
POOL_MIB=${POOL_MIB:-2048}
if [ "$(sql -N -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')" -lt "$POOL_MIB" ]; then
  sql -e "SET GLOBAL innodb_buffer_pool_size = $((POOL_MIB * 1048576))" || echo "could not resize the buffer pool" >&2
  sleep 3
fi
sql -N -e "SELECT CONCAT('server: ', VERSION(), ', innodb_buffer_pool_size ', @@innodb_buffer_pool_size DIV 1048576, ' MiB')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

bin=$(mktemp -d)
results=$(mktemp)
trap 'rm -rf "$bin" "$results"' EXIT
echo "building"
go build -o "$bin/gendata" ./scripts/gendata
go build -o "$bin/benchcompliance" ./scripts/benchcompliance
go build -o "$bin/benchsweep" ./scripts/benchsweep
go build -o "$bin/benchrss" ./scripts/benchrss
go build -o "$bin/twinning" ./cmd/twinning

# prepare SIZE: twinning_bench_SIZE with PAIRS pairs and 50 activities each.
prepare() {
  local size=$1 db=twinning_bench_$1 pairs acts have start
  pairs=$(pairs_of "$size")
  acts=$((pairs * 50))
  if [ "$REUSE" = 1 ]; then
    have=$(sql -N -e "SELECT (SELECT COUNT(*) FROM $db.pairs) = $pairs AND (SELECT COUNT(*) FROM $db.activities) = $acts" 2>/dev/null || echo 0)
    if [ "$have" = 1 ]; then
      echo "== reusing $db ($pairs pairs, $acts activities)"
      return
    fi
  fi
  echo "== creating $db ($pairs pairs, $acts activities)"
  sql -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  start=$(date +%s)
  "$bin/gendata" --driver mysql --dsn "$(dsn "$db")" --migrate --pairs "$pairs" --activities "$acts" --seed "$SEED" 2>/dev/null | grep -v '^\[' || true
  printf '%s\tresult\tkind=generate\tseconds=%s\n' "$size" $(($(date +%s) - start)) >>"$results"
}

# record SIZE: prefix every result line of stdin with the size.
record() { grep '^result' | sed "s/^/$1\t/" | tee -a "$results" >/dev/null; }

for size in $SIZES; do
  prepare "$size"
  db=twinning_bench_$size
  echo "== $db: pages and API"
  for spec in "dashboard province dashboard" "dashboard/trend province trend" "dashboard county county-dashboard" "dashboard/trend county county-trend" " province api-page"; do
    set -- $spec
    if [ $# = 2 ]; then page="" level=$1 label=$2; else page=$1 level=$2 label=$3; fi
    args=(--driver mysql --dsn "$(dsn "$db")" --requests "$REQUESTS" --region-level "$level" --term "" --scale-levels "" --label "$label")
    [ -n "$page" ] && args+=(--page "$page")
    "$bin/benchcompliance" "${args[@]}" 2>/dev/null | tee -a /dev/stderr | record "$size"
  done
  echo "== $db: recompute, rebuild, sweeps"
  "$bin/benchsweep" --driver mysql --dsn "$(dsn "$db")" --runs "$RUNS" 2>/dev/null | grep -v '^\[' | tee -a /dev/stderr | record "$size"
  echo "== $db: RSS of twinning serve"
  "$bin/benchrss" --bin "$bin/twinning" --dsn "$(dsn "$db")" --requests "$RSS_REQUESTS" --concurrency "$RSS_CONCURRENCY" --label "$size" 2>&1 | tee -a /dev/stderr | record "$size" || true
done

# The embedded default: one city of 3,000 pairs (10 counties) on SQLite.
if [ "${SQLITE_CITY:-1}" = 1 ]; then
  city=$bin/city.db
  echo "== SQLite: a city of 3,000 pairs ($city)"
  "$bin/gendata" --driver sqlite --dsn "$city" --migrate --pairs 3000 --activities 150000 --cities 1 --counties 10 --seed "$SEED" 2>/dev/null | grep -v '^\[' | tail -1 || true
  for spec in "dashboard city sqlite-city-dashboard" "dashboard/trend city sqlite-city-trend" "dashboard county sqlite-county-dashboard"; do
    set -- $spec
    "$bin/benchcompliance" --driver sqlite --dsn "$city" --requests "$REQUESTS" --region-level "$2" --term "" --scale-levels "" --label "$3" --page "$1" 2>/dev/null |
      tee -a /dev/stderr | record sqlite
  done
fi

echo
echo "== issue 12 figures (MariaDB, $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
awk -F'\t' -v sizes="$SIZES" '
  function val(s, key) { return (s SUBSEP key) in v ? v[s, key] : "–" }
  function ratio(key) {
    if (!((first SUBSEP key) in v) || !((last SUBSEP key) in v) || v[first, key] + 0 <= 0) return "–"
    return sprintf("%.1f×", v[last, key] / v[first, key]) }
  {
    size = $1; delete f
    for (i = 3; i <= NF; i++) { eq = index($i, "="); k = substr($i, 1, eq - 1); x = substr($i, eq + 1); gsub(/"/, "", x); f[k] = x }
    if (f["kind"] == "generate") v[size, "gen"] = f["seconds"] " s"
    else if (f["kind"] == "sweep" && f["at"] == "2026-11-16") { v[size, "remind"] = f["median_ms"]; v[size, "remind_q"] = f["statements"]; v[size, "remind_n"] = f["notices"] "/" f["messages"] }
    else if (f["kind"] == "sweep") { v[size, "normal"] = f["median_ms"]; v[size, "normal_q"] = f["statements"] }
    else if (f["kind"] == "recompute") { v[size, "floor"] = f["floor_ms"]; v[size, "recompute"] = f["recompute_ms"]; v[size, "ratio"] = f["ratio"] }
    else if (f["kind"] == "rebuild") v[size, "rebuild"] = f["median_ms"]
    else if (f["kind"] == "rebuild-tx") v[size, "rebuild_tx"] = f["median_ms"]
    else if (f["kind"] == "rss") { v[size, "rss"] = f["rss_mib"]; v[size, "peak"] = f["peak_mib"] }
    else if ("label" in f) { v[size, f["label"]] = f["p95_ms"]; v[size, f["label"] "_q"] = f["queries_per_req"] }
  }
  END {
    n = split(sizes, S, " "); first = S[1]; last = S[n]
    printf "| figure |"; for (i = 1; i <= n; i++) printf " %s pairs |", S[i]; printf " target | %s → %s |\n", first, last
    printf "|---|"; for (i = 1; i <= n; i++) printf "---|"; printf "---|---|\n"
    row("province `/dashboard` p95, ms", "dashboard", "< 150 (50k: < 300)")
    row("trend fragment p95, ms", "trend", "< 150 (50k: < 300)")
    row("county `/dashboard` p95, ms", "county-dashboard", "< 50")
    row("county trend fragment p95, ms", "county-trend", "")
    per("province ÷ county, `/dashboard` p95", "dashboard", "county-dashboard", "≤ 3×")
    per("province ÷ county, trend p95", "trend", "county-trend", "≤ 3×")
    row("`GET /api/v1/compliance` province page p95, ms", "api-page", "< 100")
    row("daily sweep, reminder day, ms (median)", "remind", "< 1,000 (50k: < 3,000)")
    row("… its statements", "remind_q", "bounded")
    row("… new notices / messages", "remind_n", "")
    row("daily sweep, ordinary day, ms (median)", "normal", "< 1,000")
    row("… its statements", "normal_q", "bounded")
    row("floor: stream the counted rows once, ms", "floor", "")
    row("full recompute, ms", "recompute", "")
    row("recompute / floor (median of alternating pairs)", "ratio", "≤ 1.3")
    row("`twinning rebuild` (shadow tables, swap), ms", "rebuild", "linear")
    row("… the same in one transaction (DELETE, INSERT), ms", "rebuild_tx", "")
    row("RSS of `twinning serve` after the mixed requests, MiB", "rss", "≤ 150")
    row("… its peak (VmHWM), MiB", "peak", "")
    row("generating the data set", "gen", "")
  }
  function per(name, a, b, target,   i, x) {
    printf "| %s |", name
    for (i = 1; i <= n; i++) {
      x = ((S[i] SUBSEP a) in v && (S[i] SUBSEP b) in v && v[S[i], b] + 0 > 0) ? sprintf("%.1f×", v[S[i], a] / v[S[i], b]) : "–"
      printf " %s |", x
    }
    printf " %s | |\n", target
  }
  function row(name, key, target,   i) {
    printf "| %s |", name; for (i = 1; i <= n; i++) printf " %s |", val(S[i], key)
    printf " %s | %s |\n", target, (key ~ /_n$|gen|ratio|_q$|peak/) ? "" : ratio(key)
  }' "$results"
if grep -q '^sqlite' "$results"; then
  echo
  echo "| SQLite, a city of 3,000 pairs | p50, ms | p95, ms | target |"
  echo "|---|---|---|---|"
  awk -F'\t' '$1 == "sqlite" {
    delete f
    for (i = 3; i <= NF; i++) { eq = index($i, "="); k = substr($i, 1, eq - 1); x = substr($i, eq + 1); gsub(/"/, "", x); f[k] = x }
    t = f["label"] == "sqlite-city-dashboard" ? "p95 < 200" : ""
    printf "| %s |  %s | %s | %s |\n", f["label"], f["p50_ms"], f["p95_ms"], t
  }' "$results"
fi

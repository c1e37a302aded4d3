#!/usr/bin/env bash
# Every command's output, as a user sees it, saved so that a refactoring can
# be checked to change nothing: stdout in table, JSON and CSV form, and the
# files that --export writes, over three data sets:
#   demo    the demo shop, seed 42, default size (10,000 customers);
#   cdnow   the CDNOW sample (tests/data), imported from its raw file;
#   nethept NetHEPT seeds and simulation, when ../shared/data/nethept exists
#           or NETHEPT=PATH/hep.txt is set (skipped otherwise).
#
#   scripts/snapshots.sh BINARY OUTDIR          # write the outputs
#   scripts/snapshots.sh BINARY OUTDIR --check  # compare with OUTDIR instead
#
# Outputs do not depend on the number of partitions or threads (a test
# checks it), so the machine's own count is used. Timings, import times and
# ids are replaced by placeholders.
set -euo pipefail

bin=$(realpath "$1")
dest=$2
check=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
export KOUBEI_WORKSPACE=ws

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/out
mkdir -p "$out"

filter() {
  sed -E \
    -e "s|$work|WORK|g" \
    -e "s|$root|ROOT|g" \
    -e 's/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/IMPORT_ID/g' \
    -e 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/UUID/g' \
    -e 's/"seconds": [0-9.e+-]+/"seconds": 0/' \
    -e 's/, [0-9]+\.[0-9]+ s$/, 0 s/' \
    -e 's/20[0-9]{2}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9:]+| UTC)?/TIME/g'
}

# snap GROUP NAME ARGS...: the command in each format, chosen by
# $FORMAT_FLAG (--format by default; import's is --output).
snap() {
  local group=$1 name=$2
  shift 2
  mkdir -p "$out/$group"
  local flag=${FORMAT_FLAG:---format}
  for fmt in table json csv; do
    local ext=$fmt
    [ "$fmt" = table ] && ext=txt
    (cd "$work/$group" && "$bin" "$@" "$flag" "$fmt" 2>/dev/null) | filter >"$out/$group/$name.$ext" ||
      echo "exit $?" >>"$out/$group/$name.$ext"
  done
}

# once GROUP NAME ARGS...: one run, stdout as it is (for commands that write files).
once() {
  local group=$1 name=$2
  shift 2
  mkdir -p "$out/$group"
  (cd "$work/$group" && "$bin" "$@" 2>/dev/null) | filter >"$out/$group/$name.txt" ||
    echo "exit $?" >>"$out/$group/$name.txt"
}

copy() { filter <"$work/$1/$2" >"$out/$1/$2"; }

# --- the demo shop
mkdir -p "$work/demo"
snap demo demo demo
snap demo tables tables
snap demo sql-countries sql "SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC, country LIMIT 10"
snap demo overview overview
snap demo overview-quarter overview --since 2025-10-01 --until 2025-12-31 --by month
snap demo sales-month sales --by month
snap demo sales-week-range sales --by week --since 2025-10-01 --until 2025-12-31
snap demo sales-quarter-country sales --by quarter --breakdown country --top 5
snap demo funnel funnel --steps view,add_to_cart,checkout,purchase --window 7d
snap demo funnel-strict funnel --steps view,purchase --order strict --since 2025-06-01
snap demo funnel-filter-breakdown funnel --steps "view,add_to_cart,purchase[channel=app]" --breakdown channel
snap demo funnel-exclude-trend funnel --steps view,add_to_cart,purchase --exclude support_call:1-2 --trend week
snap demo retention-week retention --period week --periods 8
snap demo retention-month-cumulative retention --period month --periods 6 --cumulative --since 2025-01-01
snap demo retention-events retention --start-event view --return-event purchase
snap demo retention-recurring-channel retention --period month --recurring --breakdown channel
snap demo rfm rfm
snap demo rfm-migration rfm --as-of 2025-12-31 --from 2025-06-30
once demo rfm-export rfm --export rfm.csv --segment "At Risk" --segment "Can't Lose Them"
copy demo rfm.csv
snap demo clv clv
snap demo clv-pareto-compare clv --model pareto --compare
snap demo clv-holdout clv --calibration-end 2025-06-30 --holdout-end 2025-12-31
once demo clv-export clv --horizon 6m --discount-rate 0.08 --export clv.csv
copy demo clv.csv
snap demo clv-bgbb clv --model bgbb --unit month
snap demo clv-gamma-gamma clv --model gamma-gamma
snap demo wom-metrics wom metrics
snap demo wom-cascades wom cascades --top 10
snap demo wom-reach wom reach --home CN
snap demo wom-seeds wom seeds -k 20
snap demo wom-seeds-regions wom seeds -k 10 --objective regions
(cd "$work/demo" && "$bin" wom seeds -k 20 --format json 2>/dev/null >seeds.json)
snap demo wom-simulate wom simulate --seeds seeds.json --runs 2000
# The demo's first reviews as a file, scored without importing it.
(cd "$work/demo" && "$bin" sql "SELECT review_id AS id, rating, text FROM reviews ORDER BY review_id LIMIT 60" \
  --format csv 2>/dev/null >reviews.csv)
snap demo reviews-score reviews score reviews.csv
snap demo reviews-quarter reviews --by quarter
snap demo reviews-category reviews --by category --since 2025-10-01 --until 2025-12-31
snap demo recommend-together recommend together --top 10
snap demo recommend-similar recommend similar --product p0001 --top 5
snap demo recommend-for recommend for --customer c0000001 -n 5
snap demo recommend-export-at-risk recommend export --segment "At Risk" -n 2 --model itemknn
# Last: training stores the shop's model in the workspace.
snap demo reviews-train reviews train

# --- CDNOW, from its raw file
mkdir -p "$work/cdnow"
FORMAT_FLAG=--output snap cdnow import import orders "$root/crates/koubei-cli/tests/data/CDNOW_sample.txt" \
  --delimiter whitespace --columns master_id,customer_id,ts,quantity,amount
snap cdnow clv clv
snap cdnow clv-holdout clv --calibration-end 1997-09-30 --holdout-end 1998-06-30 --compare
snap cdnow clv-pareto clv --model pareto --calibration-end 1997-09-30
snap cdnow rfm rfm --as-of 1998-06-30 --from 1997-12-31
snap cdnow sales sales --by quarter
snap cdnow retention retention --period month --periods 6

# --- NetHEPT
hep=${NETHEPT:-$root/../shared/data/nethept/hep.txt}
skip=()
if [ -f "$hep" ]; then
  mkdir -p "$work/nethept"
  snap nethept seeds wom seeds --graph "$hep" --undirected -k 50
  snap nethept seeds-const wom seeds --graph "$hep" --undirected -k 10 --model const:0.01
  (cd "$work/nethept" && "$bin" wom seeds --graph "$hep" --undirected -k 50 --format json 2>/dev/null >seeds.json)
  snap nethept simulate wom simulate --graph "$hep" --undirected --seeds seeds.json --runs 2000
else
  echo "NetHEPT not found (set NETHEPT=PATH/hep.txt): skipped" >&2
  skip=(-x nethept)
fi

if [ "$check" = --check ]; then
  if diff -r "${skip[@]}" "$dest" "$out"; then
    echo "same output: $(find "$out" -type f | wc -l) files" >&2
  else
    echo "outputs differ" >&2
    exit 1
  fi
else
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -r "$out"/. "$dest"/
  echo "wrote $(find "$dest" -type f | wc -l) files to $dest" >&2
fi

#!/usr/bin/env bash
# Runs `make image-test` several times in a row and prints, for each check,
# how many runs passed it: the way to show that the image checks hold on a
# slow machine (issue 26). Not part of `make test`.
#
#   scripts/image-test-series.sh [RUNS] [--busy]
#
# RUNS defaults to 3. --busy keeps one host core spinning through every run
# (a shell loop), which makes a 2-core machine behave like one half as fast.
# DAIS_BIN and the other image-test settings pass through the environment.
# Each run's output is kept in var/image/series/run-N.log; a run's guest
# console and diagnostics are in that log (image-test prints them on FAIL).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runs=3
busy=0
for a in "$@"; do
  case $a in
    --busy) busy=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [RUNS] [--busy]" >&2; exit 2 ;;
    *) runs=$a ;;
  esac
done

out="$here/var/image/series"
rm -rf "$out"
mkdir -p "$out"
spinner=""
stop_spinner() { [ -n "$spinner" ] && kill "$spinner" 2>/dev/null; wait 2>/dev/null; spinner=""; }
trap stop_spinner EXIT
if [ $busy = 1 ]; then
  ( while :; do :; done ) &
  spinner=$!
  echo "image-test-series: one core kept busy by pid $spinner"
fi

declare -A passed=()
declare -A seen=()
order=()
exits=()
for i in $(seq 1 "$runs"); do
  log="$out/run-$i.log"
  start=$(date +%s)
  make -C "$here" --no-print-directory image-test >"$log" 2>&1
  rc=$?
  exits+=("$rc")
  summary=$(grep -E '^image-test: [0-9]+ passed' "$log" | tail -n1)
  ready=$(sed -n 's/^image-test: boot to READY (host wall clock): //p' "$log" | tail -n1)
  echo "run $i: exit $rc after $(( $(date +%s) - start )) s; ${summary:-no summary}; READY ${ready:-?} ($log)"
  while read -r where verdict name; do
    # guest and host both have a readyz check: count them apart.
    name="$where ${name%:}"
    if [ -z "${seen[$name]:-}" ]; then seen[$name]=1; order+=("$name"); passed[$name]=0; fi
    [ "$verdict" = PASS ] && passed[$name]=$(( passed[$name] + 1 ))
  done < <(grep -E '^(guest|host) +(PASS|FAIL) [a-z0-9-]+:' "$log" | awk '{print $1, $2, $3}')
  grep -E '^(guest|host) +FAIL |^TIMEOUT' "$log" | cut -c1-400 | sed 's/^/    /'
done

echo
echo "image-test-series: $runs runs$([ $busy = 1 ] && echo ' with one core busy'); exits: ${exits[*]}"
for name in "${order[@]}"; do
  printf '  %-30s %d/%d\n' "$name" "${passed[$name]}" "$runs"
done
for rc in "${exits[@]}"; do [ "$rc" = 0 ] || exit 1; done
exit 0

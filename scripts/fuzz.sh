#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each in turn for the given number of
# seconds PER TARGET (default 60), one in-process fuzzer at a time.
#
#   npm run fuzz -- [seconds-per-target] [target...]     targets: frame cbor car websocket
#
# The seed corpus is written from the real fixtures to fuzz-out/seeds/ on
# every run (native/fuzz/seeds.mjs; test/fixtures/ first, then the
# directories in $FUZZ_FIXTURES, colon separated). New inputs accumulate in
# fuzz-out/corpus/<target>/ across runs; crash, leak, timeout and OOM inputs
# go to fuzz-out/crashes/. Nothing in the repository is written. A finding
# belongs in native/test/regressions/<target>-<name>, which `make test`
# replays. Exits non-zero if any target failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame cbor car websocket)
out=$root/fuzz-out

make -s -C "$root/native" fuzz
node "$root/native/fuzz/seeds.mjs" "$out/seeds" \
  "$root/test/fixtures:${FUZZ_FIXTURES:-/work/shared/fixtures}"
mkdir -p "$out/crashes" "$out/logs"

# The value of one of libFuzzer's -print_final_stats lines in $log.
stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }

failed=0
summary=()
for t in "${targets[@]}"; do
  bin=$root/native/out/fuzz_$t
  [ -x "$bin" ] || { echo "no fuzz target '$t' (frame, cbor, car, websocket)" >&2; exit 2; }
  mkdir -p "$out/corpus/$t"
  dict=frame.dict
  [ "$t" = websocket ] && dict=websocket.dict
  flags=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -dict="$root/native/fuzz/$dict" -artifact_prefix="$out/crashes/$t-")
  # Frames reach 5 MiB (MAX_MESSAGE_BYTES); WebSocket streams need room for
  # a 64-bit length (65536 bytes and more); the others keep libFuzzer's
  # default, the size of their largest seed.
  [ "$t" = frame ] && flags+=(-max_len=6000000)
  [ "$t" = websocket ] && flags+=(-max_len=140000)
  log=$out/logs/$t.log
  echo "fuzz_$t: ${secs}s, log $log"
  status=ok
  "$bin" "${flags[@]}" "$out/corpus/$t" "$out/seeds/$t" >"$log" 2>&1 || { status=FAILED; failed=1; }

  last=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)
  summary+=("$(printf '%-9s %-7s %5ss  execs %-10s exec/s %-7s %s' "$t" "$status" "$secs" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "$last")")
  if [ $status != ok ]; then
    grep -E 'ERROR|SUMMARY|check_|artifact|Test unit written' "$log" | head -20 >&2 || true
  fi
done

echo
printf '%s\n' "${summary[@]}"
exit $failed

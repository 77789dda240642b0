#!/usr/bin/env bash
# Runs the tests under AddressSanitizer and UndefinedBehaviorSanitizer:
#   1. the C++ unit tests, built by clang++ (make -C native sanitize);
#   2. the JS suite against an ASan+UBSan build of the addon.
#
# The addon is built by node-gyp (g++) from a copy of the sources in
# native/out/addon-asan/ and loaded through FIREHOSE_REDIS_ADDON, so the
# normal build/Release addon is never rebuilt or replaced: nothing needs
# restoring afterwards, whether the run passes or fails, and a concurrent
# `npm run build` is not disturbed. Node itself is not instrumented, so gcc's
# sanitizer runtimes are preloaded; V8 leaks by design, hence detect_leaks=0.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== C++ unit tests (clang++, ASan+UBSan)"
make -s -C native sanitize

echo "== addon (g++, ASan+UBSan) in native/out/addon-asan"
scratch=native/out/addon-asan
rm -rf "$scratch"
mkdir -p "$scratch/native"
mkdir -p "$scratch/scripts"
cp binding.gyp "$scratch/"
cp native/*.cc native/*.h "$scratch/native/"
cp -r native/core "$scratch/native/core"
# The same static hiredis (built once, in deps/) as the normal build.
cp scripts/hiredis.mjs "$scratch/scripts/"
node scripts/hiredis.mjs >/dev/null
ln -s "$root/deps" "$scratch/deps"
FH_SANITIZE=1 npm run -s build:native -- --directory="$scratch" >"$scratch/build.log" 2>&1 ||
  { tail -30 "$scratch/build.log" >&2; exit 1; }
addon=$root/$scratch/build/Release/firehose_redis.node
# A build that silently lost its sanitizer flags would pass everything.
[[ $(ldd "$addon") == *libasan* ]] || { echo "$addon is not linked with ASan" >&2; exit 1; }

echo "== JS suite (npm run test:js) against the sanitized addon"
npm run -s build:ts
FIREHOSE_REDIS_ADDON=$addon \
LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  npm run -s test:js

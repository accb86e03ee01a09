#!/usr/bin/env bash
# Runs the cargo-fuzz targets for a bounded time each (FUZZ_SECONDS, default
# 60). Installs cargo-fuzz from crates.io when missing. libFuzzer needs
# nightly-only compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain
# accept them, and --sanitizer none avoids needing a sanitizer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
# The corpus starts from every link in the seeds.
mkdir -p fuzz/corpus/trueconf_uri
i=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  i=$((i + 1))
  printf '%s' "$line" > "fuzz/corpus/trueconf_uri/seed-$(printf %02d "$i")"
done < tests/data/trueconf_links.txt
cd fuzz
for target in trueconf_uri; do
  echo "fuzz: $target for ${seconds}s"
  # New inputs go to an ignored working corpus; the committed seeds are read.
  mkdir -p "target/corpus/$target"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384
done

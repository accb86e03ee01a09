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
# RTP: a few real packet shapes (VP8 keyframe with extensions, Opus with
# an audio level, padding).
mkdir -p corpus/rtp_packet
printf '\x90\x60\x00\x01\x00\x00\x0b\xb8\x00\x00\x00\x2a\xbe\xde\x00\x01\x10\x85\x00\x00\x90\x80\x81\x23\x00\x9d\x01\x2a' > corpus/rtp_packet/vp8-key
printf '\x90\x6f\x12\x34\x00\x00\x03\xc0\x00\x00\x00\x07\xbe\xde\x00\x01\x10\x9e\x00\x00\xfc\xff\xfe' > corpus/rtp_packet/opus-level
printf '\xa0\x60\x00\x02\x00\x00\x0b\xb8\x00\x00\x00\x2a\x10\x00\x00\x02' > corpus/rtp_packet/padded
for target in trueconf_uri rtp_packet; do
  echo "fuzz: $target for ${seconds}s"
  # New inputs go to an ignored working corpus; the committed seeds are read.
  mkdir -p "target/corpus/$target"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384
done

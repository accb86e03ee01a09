#!/usr/bin/env bash
# Installs every Debian package that building, running and testing dais needs.
# Idempotent: when everything is present it prints one line and does nothing.
# Usage: scripts/install-deps.sh [--check]   (--check only reports what is missing)
set -euo pipefail

PACKAGES=(
  # toolchain glue for -sys crates
  build-essential pkg-config clang libclang-dev
  # GStreamer: headers for gstreamer-rs, plugins the pipelines use, tools for debugging
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice gstreamer1.0-alsa
  gstreamer1.0-x gstreamer1.0-tools
  # ALSA, udev and evdev
  libasound2-dev alsa-utils libudev-dev udev
  # Slint: fonts, keyboard maps, KMS backend (libinput, gbm, drm)
  fontconfig libfontconfig-dev fonts-dejavu-core libxkbcommon-dev libinput-dev libgbm-dev libdrm-dev
  # the store
  libsqlite3-dev sqlite3
  # headless display and the browser for web-client tests
  xvfb xauth chromium chromium-driver
  # the browser's trust of a room's device CA (certutil), and a second host
  # on a LAN for it (ip netns, veth)
  libnss3-tools iproute2
  # systemd-analyze for unit verification, curl for scripts
  systemd curl ca-certificates
  # desktop-file-validate checks the x-scheme-handler .desktop file
  desktop-file-utils
  # a venv for schemathesis, the OpenAPI fuzzer (scripts/install-schemathesis.sh)
  python3 python3-venv
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "${1:-}" = "--check" ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"

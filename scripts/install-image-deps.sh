#!/usr/bin/env bash
# Installs the Debian packages that building the appliance image (`make
# image`) and booting it under qemu (`make image-test`) need.
# Idempotent: when everything is present it prints one line and does nothing.
# Usage: scripts/install-image-deps.sh [--check]   (--check only reports what is missing)
#
# qemu comes from bookworm-backports: installing bookworm's qemu-system-x86
# 7.2 alone would replace a newer qemu-utils (qemu-img) that may already be
# installed from backports, so both are taken from backports together.
set -euo pipefail

PACKAGES=(
  # the root filesystem: debootstrap and the keyring it checks against
  debootstrap debian-archive-keyring
  # the disk: mkfs.ext4 -d fills it from a directory without loop mounts
  e2fsprogs
  # unpacking and packing the cached layers
  tar zstd coreutils
  # the host side of image-test: JSON over QMP and HTTP, the PPM check
  python3 curl
)
# Taken from bookworm-backports (see above).
BACKPORTS=(qemu-system-x86 qemu-utils)
BACKPORTS_SUITE=bookworm-backports
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.sources

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

from_backports() {
  dpkg-query -W -f='${Version}' "$1" 2>/dev/null | grep -q 'bpo12'
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_bpo=()
for p in "${BACKPORTS[@]}"; do
  { installed "$p" && from_backports "$p"; } || missing_bpo+=("$p")
done

total=$(( ${#PACKAGES[@]} + ${#BACKPORTS[@]} ))
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_bpo[@]} -eq 0 ]; then
  echo "install-image-deps: all $total packages present"
  exit 0
fi

if [ "${1:-}" = "--check" ]; then
  echo "install-image-deps: missing: ${missing[*]} ${missing_bpo[*]/%/ (backports)}"
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

if [ ${#missing_bpo[@]} -ne 0 ] && ! grep -rqs "$BACKPORTS_SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install-image-deps: adding $BACKPORTS_SUITE as $BACKPORTS_LIST"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$BACKPORTS_SUITE" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
fi

echo "install-image-deps: installing ${missing[*]} ${missing_bpo[*]}"
$SUDO apt-get update -qq || { echo "install-image-deps: apt-get update failed" >&2; exit 1; }
if [ ${#missing[@]} -ne 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { echo "install-image-deps: installing ${missing[*]} failed" >&2; exit 1; }
fi
if [ ${#missing_bpo[@]} -ne 0 ]; then
  # Both together, so apt never pairs a 7.2 qemu-system with a newer qemu-utils.
  $SUDO apt-get install -y -qq --no-install-recommends -t "$BACKPORTS_SUITE" "${BACKPORTS[@]}" \
    || { echo "install-image-deps: installing ${BACKPORTS[*]} from $BACKPORTS_SUITE failed" >&2; exit 1; }
fi
echo "install-image-deps: done"

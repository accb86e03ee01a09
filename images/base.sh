#!/usr/bin/env bash
# The base layer of the appliance image: a Debian 12 root filesystem from
# debootstrap with the packages in images/packages.txt, the kernel and its
# initramfs, packed as one tarball.
#
# Usage (root): images/base.sh OUT.tar.zst CACHE_DIR
# Called by images/build.sh when the tarball for the current hash of this
# file and packages.txt is missing. Downloaded .debs are kept in CACHE_DIR
# so a changed package list fetches only what is new.
set -euo pipefail

out=${1:?usage: base.sh OUT.tar.zst CACHE_DIR}
cache=${2:?usage: base.sh OUT.tar.zst CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

die() { echo "images/base.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap creates device nodes and chroots)"
command -v debootstrap >/dev/null || die "debootstrap missing; run scripts/install-image-deps.sh"

packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt" | tr -s '[:space:]' ' ')
[ -n "${packages// /}" ] || die "no packages in $here/packages.txt"

mkdir -p "$cache/partial" "$(dirname "$out")"
cache=$(cd "$cache" && pwd)
root=$(mktemp -d "$(dirname "$out")/base-root.XXXXXX")
log="$root.log"
mounted=()
cleanup() {
  local i
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  # debootstrap mounts proc and sys itself and may leave them when it fails.
  for m in proc sys; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
  done
  if mountpoint -q "$root/var/cache/apt/archives" 2>/dev/null; then
    echo "images/base.sh: $root/var/cache/apt/archives still mounted; leaving $root" >&2
    return
  fi
  rm -rf "$root"
}
trap cleanup EXIT
failed() {
  tail -n 40 "$log" >&2
  [ -f "$root/debootstrap/debootstrap.log" ] && cp "$root/debootstrap/debootstrap.log" "$log.debootstrap"
  die "$1 (log: $log)"
}

# Stage 1: the minimal Debian system. Packages go in with apt in stage 2:
# debootstrap's own resolver does not follow alternatives (dbus for dconf,
# which gstreamer1.0-plugins-good's gtk dependency pulls in).
echo "images/base.sh: debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase --arch=amd64 --cache-dir="$cache" \
  "$SUITE" "$root" "$MIRROR" >"$log" 2>&1 || failed "debootstrap failed"

# Stage 2: the image's packages with apt inside the root, the .debs cached.
for m in proc sys; do
  mountpoint -q "$root/$m" || { mount -t "${m/sys/sysfs}" "$m" "$root/$m"; mounted+=("$root/$m"); }
done
mount --bind "$cache" "$root/var/cache/apt/archives"; mounted+=("$root/var/cache/apt/archives")
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$root/etc/apt/sources.list"
if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # With the default mirror, the point release's updates and security
  # fixes; a DEBIAN_MIRROR (e.g. a snapshot.debian.org date) is used alone.
  printf 'deb %s %s-updates main\n' "$MIRROR" "$SUITE" >> "$root/etc/apt/sources.list"
  printf 'deb http://deb.debian.org/debian-security %s-security main\n' "$SUITE" >> "$root/etc/apt/sources.list"
fi
echo "images/base.sh: apt-get install $(echo $packages | wc -w) packages"
# shellcheck disable=SC2086
{ chroot "$root" apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends \
       -o APT::Keep-Downloaded-Packages=true $packages; } >>"$log" 2>&1 \
  || failed "apt-get install in the root failed"
rm -f "$root/usr/sbin/policy-rc.d"
: > "$root/etc/resolv.conf"
for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount "${mounted[$i]}" || die "cannot unmount ${mounted[$i]}"; done
mounted=()
rm -f "$log"

# Settings the image never changes at the disk stage.
echo dais > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdais\n' > "$root/etc/hosts"
ln -sf /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
# A machine id is made on first boot (systemd-firstboot semantics).
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# The disk is the whole root filesystem.
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# apt's caches are not part of the image.
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

ls "$root"/boot/vmlinuz-* >/dev/null 2>&1 || die "no kernel in the root filesystem"
ls "$root"/boot/initrd.img-* >/dev/null 2>&1 || die "no initramfs in the root filesystem"

echo "images/base.sh: packing $out"
tar -C "$root" --numeric-owner --xattrs --sort=name -cf - . | zstd -q -T0 -3 -o "$out.tmp" \
  || die "packing the root filesystem failed"
mv "$out.tmp" "$out"

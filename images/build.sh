#!/usr/bin/env bash
# Builds the dais appliance image under var/image/, in two cached layers:
#
#   base  var/image/base-<hash>.tar.zst: Debian 12 from debootstrap with the
#         packages of images/packages.txt (images/base.sh). <hash> covers
#         base.sh and packages.txt; the .debs stay in var/image/debs.
#   disk  var/image/dais.img (raw ext4, made with mkfs.ext4 -d: no loop
#         mounts), with vmlinuz and initrd.img beside it for qemu -kernel.
#         Rebuilt when the base, the dais binary, systemd/, hardware/,
#         images/guest/, this script or README.md change (var/image/disk.key).
#
# Usage (root): images/build.sh            DAIS_BIN=path overrides the binary
# (default: target/release/dais if present, else target/debug/dais).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out="$top/var/image"
die() { echo "images/build.sh: $*" >&2; exit 1; }
step() { echo "images/build.sh: $*"; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, and files owned by other users in the image)"
for t in debootstrap mkfs.ext4 zstd systemd-sysusers; do
  command -v "$t" >/dev/null || die "$t missing; run scripts/install-image-deps.sh"
done

if [ -z "${DAIS_BIN:-}" ]; then
  if [ -x "$top/target/release/dais" ]; then DAIS_BIN="$top/target/release/dais"
  else DAIS_BIN="$top/target/debug/dais"; fi
fi
[ -x "$DAIS_BIN" ] || die "no dais binary at $DAIS_BIN (build it with cargo build, or set DAIS_BIN)"

mkdir -p "$out"

# --- base layer -------------------------------------------------------------
base_key=$(cat "$here/base.sh" "$here/packages.txt" | sha256sum | cut -c1-16)
base="$out/base-$base_key.tar.zst"
if [ -f "$base" ]; then
  step "base $base_key up to date"
else
  step "base $base_key: building (debootstrap and apt; minutes)"
  t0=$(date +%s)
  "$here/base.sh" "$base" "$out/debs"
  step "base $base_key built in $(( $(date +%s) - t0 )) s"
  find "$out" -maxdepth 1 -name 'base-*.tar.zst' ! -name "base-$base_key.tar.zst" -delete
fi

# --- disk layer -------------------------------------------------------------
# Everything the disk is made from, hashed in a stable order.
disk_inputs() {
  echo "base $base_key"
  echo "bin $(sha256sum < "$DAIS_BIN")"
  (cd "$top" && find systemd hardware images/guest -type f -print0 | sort -z | xargs -0 sha256sum)
  sha256sum < "$here/build.sh"
  sha256sum < "$top/README.md"
}
disk_key=$(disk_inputs | sha256sum | cut -c1-16)
if [ -f "$out/dais.img" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] \
   && [ "$(cat "$out/disk.key" 2>/dev/null)" = "$disk_key" ]; then
  step "disk $disk_key up to date ($out/dais.img)"
  exit 0
fi

step "disk $disk_key: assembling from base $base_key and $DAIS_BIN"
t0=$(date +%s)
root="$out/disk-root"
rm -rf "$root" "$out/dais.img.tmp"
mkdir -p "$root"
trap 'rm -rf "$root" "$out/dais.img.tmp"' EXIT
zstd -q -d -c "$base" | tar -C "$root" --numeric-owner --xattrs -xf - \
  || die "unpacking $base failed"

# The binary, and a check that the image has every library it links.
install -D -m 0755 "$DAIS_BIN" "$root/usr/bin/dais"
missing=$(chroot "$root" /usr/bin/ldd /usr/bin/dais 2>&1 | awk '/not found/ {print $1}' | sort -u)
if [ -n "$missing" ]; then
  hints=""
  for lib in $missing; do
    hints="$hints $lib($(dpkg -S "*/$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true))"
  done
  die "the image lacks libraries dais links:$hints; add their packages (without -dev) to images/packages.txt"
fi

# The service, its user and sysctl, exactly as systemd/ has them.
install -D -m 0644 "$top/systemd/dais.service" "$root/usr/lib/systemd/system/dais.service"
install -D -m 0644 "$top/systemd/dais.sysusers.conf" "$root/usr/lib/sysusers.d/dais.conf"
install -D -m 0644 "$top/systemd/dais.sysctl.conf" "$root/usr/lib/sysctl.d/60-dais.conf"
install -D -m 0644 "$top/README.md" "$root/usr/share/doc/dais/README.md"
systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/dais.conf" >/dev/null \
  || die "systemd-sysusers could not create the dais user in the image"
for g in video audio input render; do
  id_groups=$(awk -F: -v g="$g" '$1 == g {print $4}' "$root/etc/group")
  echo ",$id_groups," | grep -q ",dais," || die "dais is not in group $g in the image"
done

# Hardware profiles, keymaps and udev rules.
mkdir -p "$root/usr/share/dais/hardware"
cp -r "$top/hardware/"*.toml "$top/hardware/keymaps" "$root/usr/share/dais/hardware/"
install -D -m 0644 "$top/hardware/udev/70-dais.rules" "$root/etc/udev/rules.d/70-dais.rules"
mkdir -p "$root/etc/dais"
ln -sf /usr/share/dais/hardware/qemu-virtual-devices.toml "$root/etc/dais/hardware.toml"
install -m 0640 -g "$(awk -F: '$1 == "dais" {print $3}' "$root/etc/group")" \
  "$here/guest/dais.toml" "$root/etc/dais/dais.toml"

# The qemu machine: virtual devices before dais, networking, the test.
install -D -m 0644 "$here/guest/modprobe-dais-vm.conf" "$root/etc/modprobe.d/dais-vm.conf"
install -D -m 0644 "$here/guest/asound.conf" "$root/etc/asound.conf"
install -D -m 0755 "$here/guest/dais-vm-devices.sh" "$root/usr/lib/dais/image/dais-vm-devices.sh"
install -D -m 0755 "$here/guest/checks.sh" "$root/usr/lib/dais/image/checks.sh"
install -D -m 0644 "$here/guest/dais-vm-devices.service" "$root/usr/lib/systemd/system/dais-vm-devices.service"
install -D -m 0644 "$here/guest/dais-image-test.service" "$root/usr/lib/systemd/system/dais-image-test.service"
install -D -m 0644 "$here/guest/dais.service.d/vm-devices.conf" "$root/etc/systemd/system/dais.service.d/vm-devices.conf"
install -D -m 0644 "$here/guest/10-vm.network" "$root/etc/systemd/network/10-vm.network"
systemctl --root="$root" --quiet enable dais.service dais-vm-devices.service dais-image-test.service \
  systemd-networkd.service 2>&1 | grep -v 'Created symlink' >&2 || true
for u in dais dais-vm-devices dais-image-test systemd-networkd; do
  [ -L "$root/etc/systemd/system/multi-user.target.wants/$u.service" ] || die "enabling $u.service in the image failed"
done
# No login prompt is needed on the serial console, nor the wait for a
# network that is not there.
systemctl --root="$root" --quiet mask systemd-networkd-wait-online.service 2>/dev/null || true
# The image is an appliance: root has no password (locked), as debootstrap
# leaves it.

# The disk: ext4 filled from the directory. Size: content plus room for
# state, recordings and logs. Fixed UUID and hash seed from the key, so the
# same inputs give the same file system metadata.
used_mb=$(du -sm "$root" | cut -f1)
size_mb=$(( used_mb + used_mb / 4 + 512 ))
uuid=$(echo "$disk_key" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
export E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)}
mkfs.ext4 -q -F -L dais-root -U "$uuid" -E "hash_seed=$uuid,root_owner=0:0" \
  -d "$root" "$out/dais.img.tmp" "${size_mb}M" || die "mkfs.ext4 -d failed"
cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)" "$out/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)" "$out/initrd.img"
mv "$out/dais.img.tmp" "$out/dais.img"
echo "$disk_key" > "$out/disk.key"
step "disk $disk_key built in $(( $(date +%s) - t0 )) s: $out/dais.img (${size_mb} MB, $used_mb MB used)"

#!/bin/bash
# Loads the kernel's virtual devices the qemu image's hardware profile names
# (vivid camera, snd-aloop, snd-dummy and HDA sound cards, uinput) and waits until
# udev has made their device nodes and stable links, so dais finds them when
# it starts. Run by dais-vm-devices.service before dais.service.
set -euo pipefail

for m in vivid snd-aloop snd-dummy snd-hda-intel uinput; do
  modprobe "$m" || { echo "dais-vm-devices: modprobe $m failed" >&2; exit 1; }
done
udevadm settle --timeout=30 || echo "dais-vm-devices: udevadm settle timed out" >&2

missing=""
i=0
while [ $i -lt 100 ]; do
  missing=""
  ls /dev/v4l/by-path/*-video-index0 >/dev/null 2>&1 || missing="$missing v4l-by-path"
  [ -e /proc/asound/Loopback ] || missing="$missing Loopback"
  [ -e /proc/asound/Dummy ] || missing="$missing Dummy"
  [ -e /proc/asound/HDA ] || missing="$missing HDA"
  ls /dev/dri/card* >/dev/null 2>&1 || missing="$missing dri"
  [ -z "$missing" ] && break
  sleep 0.1
  i=$((i + 1))
done
if [ -n "$missing" ]; then
  echo "dais-vm-devices: still missing after 10 s:$missing" >&2
  exit 1
fi
echo "dais-vm-devices: vivid, Loopback, Dummy, HDA, DRM and uinput ready"

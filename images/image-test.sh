#!/usr/bin/env bash
# `make image-test`: boots var/image/dais.img under qemu (TCG, no KVM) with
# virtual devices and checks dais on them, from inside the guest
# (images/guest/checks.sh, results on the second serial port) and from the
# host (images/host_checks.py: HTTP through loopback forwards, QMP
# screendump and send-key, a call between the guest's dais and one on the
# host). Prints one PASS/FAIL line per check; exits 1 on any FAIL, 2 on a
# timeout or when the machine could not be run.
#
# The guest's network is qemu's user networking: 127.0.0.1:$HTTP_PORT ->
# guest 8080, 127.0.0.1:$HTTPS_PORT -> guest 8443 (dais's HTTPS, where the
# host checks talk to it), 127.0.0.1:$CONTROL_PORT -> guest 4710, guest 10.0.2.100:8080
# -> the host's dais for the call, and (NET_RESTRICT=off, the default)
# qemu's NAT to the host, which the call's WebRTC media (UDP) needs.
#
# Settings (environment): TIMEOUT (whole run, s, default 600), HTTP_PORT
# (18080), HTTPS_PORT (18443), CONTROL_PORT (14710), HOST_DAIS_PORT (18090), SMP (2), MEM (1536),
# NET_RESTRICT (off; on leaves only the TCP forwards, and the call's
# WebRTC media cannot flow: see images/README.md),
# DAIS_BIN (the host dais for the call; as images/build.sh), KEEP=1 keeps
# var/image/test/ (console log, screendumps, overlay), EXTRA_APPEND (more
# kernel command line, e.g. systemd.journald.forward_to_console=1),
# DEBUG_COMMANDS=FILE (after the checks, run each line of FILE as root in
# the guest and print its output: for finding out why a check fails).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
img="$top/var/image"
run="$img/test"
TIMEOUT=${TIMEOUT:-600}
HTTP_PORT=${HTTP_PORT:-18080}
HTTPS_PORT=${HTTPS_PORT:-18443}
CONTROL_PORT=${CONTROL_PORT:-14710}
HOST_DAIS_PORT=${HOST_DAIS_PORT:-18090}
SMP=${SMP:-2}
NET_RESTRICT=${NET_RESTRICT:-off}
MEM=${MEM:-1536}

die() { echo "images/image-test.sh: $*" >&2; exit 2; }

for f in dais.img vmlinuz initrd.img; do
  [ -f "$img/$f" ] || die "$img/$f missing; run make image first"
done
for t in qemu-system-x86_64 qemu-img python3; do
  command -v "$t" >/dev/null || die "$t missing; run scripts/install-image-deps.sh"
done
if [ -z "${DAIS_BIN:-}" ]; then
  if [ -x "$top/target/release/dais" ]; then DAIS_BIN="$top/target/release/dais"
  else DAIS_BIN="$top/target/debug/dais"; fi
fi
for p in "$HTTP_PORT" "$HTTPS_PORT" "$CONTROL_PORT" "$HOST_DAIS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "127.0.0.1:$p is in use; set HTTP_PORT, HTTPS_PORT, CONTROL_PORT or HOST_DAIS_PORT"
  fi
done

rm -rf "$run"
mkdir -p "$run"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -f "$run/overlay.qcow2"; fi
}
trap cleanup EXIT

# The far end of the call: a dais on the host, virtual profile.
if [ -x "$DAIS_BIN" ]; then
  mkdir -p "$run/host-dais"
  nice -n 5 "$DAIS_BIN" run --profile "$top/hardware/virtual.toml" --config "$here/host-dais.toml" --data-dir "$run/host-dais" \
    --http-listen "127.0.0.1:$HOST_DAIS_PORT" --https-listen off --control-listen 127.0.0.1:0 \
    --control-pin 2468 --api-client imagetest:image-test-secret-0123456789 \
    >"$run/host-dais.log" 2>&1 &
  pids+=($!)
else
  echo "images/image-test.sh: no host dais at $DAIS_BIN; the call check will fail" >&2
fi

# The machine. -nodefaults: only the devices listed, at fixed PCI addresses
# (the profile's by-path names depend on them).
boot() {
  # The built image stays pristine: the guest writes to a throw-away overlay.
  rm -f "$run/overlay.qcow2" "$run/results.sock" "$run/qmp.sock" "$run/speaker.wav"
  qemu-img create -q -f qcow2 -F raw -b "$img/dais.img" "$run/overlay.qcow2" \
    || die "qemu-img could not create the overlay"
  local qemu=(
    qemu-system-x86_64 -nodefaults -machine pc -accel tcg,thread=multi
    -smp "$SMP" -m "$MEM" -display none -no-reboot
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img"
    -append "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 dais.test=1 dais.test.hold=$TIMEOUT systemd.show_status=auto${DEBUG_COMMANDS:+ dais.test.debug=1} ${EXTRA_APPEND:-}"
    -drive "file=$run/overlay.qcow2,if=none,id=disk,format=qcow2,cache=unsafe"
    -device virtio-blk-pci,drive=disk,addr=03.0
    -device VGA,addr=02.0 -device secondary-vga,id=panelvga,addr=06.0
    -device qemu-xhci,id=xhci,addr=04.0 -device usb-kbd,bus=xhci.0
    -audiodev "wav,id=speaker,path=$run/speaker.wav,out.frequency=48000,out.channels=2,out.format=s16"
    -device intel-hda,addr=07.0 -device hda-output,audiodev=speaker
    -netdev "user,id=net,restrict=$NET_RESTRICT,hostfwd=tcp:127.0.0.1:$HTTP_PORT-:8080,hostfwd=tcp:127.0.0.1:$HTTPS_PORT-:8443,hostfwd=tcp:127.0.0.1:$CONTROL_PORT-:4710,guestfwd=tcp:10.0.2.100:8080-cmd:python3 $here/tcp_relay.py 127.0.0.1 $HOST_DAIS_PORT"
    -device virtio-net-pci,netdev=net,addr=05.0
    -chardev "file,id=console,path=$run/console.log" -serial chardev:console
    -chardev "socket,id=results,path=$run/results.sock,server=on,wait=off" -serial chardev:results
    -qmp "unix:$run/qmp.sock,server=on,wait=off"
  )
  echo "images/image-test.sh: booting var/image/dais.img under qemu (TCG, $SMP CPU, ${MEM} MB); console: var/image/test/console.log"
  start=$(date +%s.%N)
  timeout --kill-after=10 "$TIMEOUT" "${qemu[@]}" >"$run/qemu.log" 2>&1 &
  qpid=$!
  pids+=($qpid)

  rc=0
  python3 "$here/host_checks.py" --run "$run" --start "$start" --timeout "$TIMEOUT" \
    --http "127.0.0.1:$HTTP_PORT" --https "127.0.0.1:$HTTPS_PORT" --host-dais "127.0.0.1:$HOST_DAIS_PORT" --qemu-pid "$qpid" --net-restrict "$NET_RESTRICT" ${DEBUG_COMMANDS:+--debug-commands "$DEBUG_COMMANDS"} || rc=$?

  if kill -0 "$qpid" 2>/dev/null; then
    echo "images/image-test.sh: qemu still running; stopping it" >&2
    kill "$qpid" 2>/dev/null || true
    rc=$(( rc == 0 || rc == 3 ? 2 : rc ))
  fi
  wait "$qpid" 2>/dev/null || true
  echo "images/image-test.sh: wall time $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.0f", e-s}') s"
}

# qemu's multi-threaded TCG can abort on an internal assertion while the
# guest boots (seen once in qemu 7.2: iotlb_to_section, during PCI set-up),
# or lose a vCPU's timer so that the guest's kernel hangs booting (seen
# once with a host core busy: RCU stalls at 22 s, then silence). That says
# nothing about dais and no check has run yet, so the machine is booted
# once more; what went wrong is printed. A failure after the guest reported
# anything is not retried (host_checks.py exits 3 only before that).
boot
if [ "$rc" = 3 ]; then
  echo "images/image-test.sh: the emulated machine failed while the guest was booting, before any check; booting once more. qemu and the console said:"
  grep -E "Assertion|QEMU internal|Abort" "$run/qemu.log" | head -n 3 | sed 's/^/  /'
  grep -E "rcu: INFO|kthread starved|timer wakeup" "$run/console.log" | head -n 3 | sed 's/^/  /'
  mv "$run/qemu.log" "$run/qemu-aborted.log"
  mv "$run/console.log" "$run/console-aborted.log" 2>/dev/null || true
  boot
  [ "$rc" = 3 ] && rc=2
fi
exit "$rc"

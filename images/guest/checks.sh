#!/bin/bash
# The guest side of `make image-test`: checks dais on the virtual devices
# from inside the appliance, once dais.service is READY, and reports each
# check as "PASS name: detail" or "FAIL name: reason" on the results serial
# port (/dev/ttyS1, a socket on the host). Then "GUEST-DONE", and it waits
# for the host's "POWEROFF" (the host runs its own checks meanwhile) before
# powering the machine off. Started by dais-image-test.service only when the
# kernel command line has dais.test=1.
#
# No `set -e`: a failing check is reported and the next one runs; every
# command whose status matters is tested where it runs.
set -uo pipefail

PORT=/dev/ttyS1
# HTTPS, dais's default, trusting the device CA dais made on first start
# (the state directory is root's); the plain port only redirects.
API=https://127.0.0.1:8443
PLAIN=http://127.0.0.1:8080
CA=/var/lib/dais/tls/ca.pem
PROFILE=/etc/dais/hardware.toml
CONFIG=/etc/dais/dais.toml
READY_TIMEOUT=240
# How long to wait for the host's POWEROFF before powering off anyway.
HOLD=$(sed -n 's/.*dais\.test\.hold=\([0-9]*\).*/\1/p' /proc/cmdline)
HOLD=${HOLD:-600}

stty -F "$PORT" raw -echo 115200 2>/dev/null || true
exec 3<>"$PORT"

say() { printf '%s\n' "$*" >&3; echo "image-test: $*" >&2; }
pass() { say "PASS $1: $2"; }
fail() { say "FAIL $1: $2"; }
info() { say "INFO $*"; }

# The control PIN from the local settings.
PIN=$(sed -n 's/^pin *= *"\([0-9]*\)".*/\1/p' "$CONFIG" | head -n1)
TOKEN=""

# POST /control with the token; prints the reply's JSON.
control() {
  curl -s --cacert "$CA" -m 20 -X POST "$API/control" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$1"
}
# A control token from the PIN (also what /status needs).
auth_token() {
  curl -s --cacert "$CA" -m 10 -X POST "$API/control" -H 'Content-Type: application/json' \
    -d "{\"method\":\"auth\",\"credentials\":\"$PIN\"}" | jq -r '.result.token // empty'
}
status_json() {
  local t=$TOKEN
  [ -n "$t" ] || t=$(auth_token)
  curl -s --cacert "$CA" -m 10 -H "Authorization: Bearer $t" "$API/status"
}
dais_pid() { systemctl show -p MainPID --value dais.service; }
# "yes" when the process holds a file descriptor on a path matching $2.
holds() {
  local pid=$1 pattern=$2 fds
  fds=$(ls -l "/proc/$pid/fd" 2>/dev/null || true)
  case $fds in *"$pattern"*) echo yes ;; *) echo no ;; esac
}

diagnostics() {
  echo "== journalctl -u dais.service (last 150 lines, monotonic time)"
  # Each entry with its fields (dais logs them as journal fields).
  journalctl -u dais.service -n 150 --no-pager -o json \
    | jq -r '"\((.__MONOTONIC_TIMESTAMP // "0") | tonumber / 1e6 | . * 10 | floor / 10) <\(.PRIORITY // "?")> \(.MESSAGE) \([to_entries[] | select(.key | startswith("F_")) | "\(.key[2:] | ascii_downcase)=\(.value)"] | join(" "))"' 2>/dev/null \
    | cut -c1-400
  local f
  for f in /proc/asound/*/pcm*/sub0/status /proc/asound/*/pcm*/sub0/hw_params /proc/asound/*/pcm*/sub0/sw_params; do
    [ -r "$f" ] || continue
    echo "== $f"
    cat "$f"
  done
  echo "== amixer -c HDA contents"
  amixer -c HDA contents 2>&1 | head -n 60
  echo "== GET /status"
  status_json | jq -c . 2>&1 | cut -c1-6000
  echo "== top (one pass)"
  top -b -n 1 2>/dev/null | head -n 15
}

finish() {
  say "GUEST-DONE"
  local line="" end=$(( $(date +%s) + HOLD ))
  while [ "$(date +%s)" -lt "$end" ] && read -r -t "$HOLD" line <&3; do
    line=${line%$'\r'}
    case $line in
      POWEROFF)
        echo "image-test: the host asked for power-off" >&2
        systemctl --no-block poweroff
        exit 0 ;;
      DIAG)
        # What someone needs to find the cause of a failed check without
        # running it again: the dais journal, the sound cards' PCM and mixer
        # state, and dais's /status (always answered, not only in debug).
        diagnostics 2>&1 | sed 's/^/OUT /' >&3
        say "END 0" ;;
      "SH "*)
        # Debugging (kernel command line dais.test.debug=1 only): run a
        # command from the host and send its output back.
        if grep -qw 'dais.test.debug=1' /proc/cmdline; then
          timeout 120 bash -c "${line#SH }" 2>&1 | sed 's/^/OUT /' >&3
          say "END $?"
        fi ;;
    esac
  done
  echo "image-test: no POWEROFF from the host within ${HOLD}s; powering off" >&2
  systemctl --no-block poweroff
  exit 0
}

info "guest checks start, kernel $(uname -r), $(nproc) CPU"

# --- dais reached READY under systemd (Type=notify) -------------------------
state=""
restarts=0
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  state=$(systemctl is-active dais.service)
  restarts=$(systemctl show -p NRestarts --value dais.service)
  case $state in active|failed) break ;; esac
  [ "${restarts:-0}" -gt 0 ] && break
  sleep 1
done
if [ "$state" = active ]; then
  ready_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value dais.service)
  start_us=$(systemctl show -p ExecMainStartTimestampMonotonic --value dais.service)
  wd=$(systemctl show -p WatchdogUSec --value dais.service)
  type=$(systemctl show -p Type --value dais.service)
  pass ready "dais.service $type active (READY=1) $(awk -v u="$ready_us" 'BEGIN{printf "%.1f", u/1e6}') s after the kernel started, $(awk -v a="$ready_us" -v b="$start_us" 'BEGIN{printf "%.1f", (a-b)/1e6}') s after exec; watchdog $wd"
else
  fail ready "dais.service is $state (restarts ${restarts:-?}) within ${READY_TIMEOUT}s: $(journalctl -u dais.service -n 12 --no-pager -o cat | cut -c1-300 | tr '\n' '|')"
  finish
fi

code=$(curl -s --cacert "$CA" -m 10 -o /dev/null -w '%{http_code}' "$API/readyz")
[ "$code" = 200 ] && pass readyz "GET /readyz 200 inside the guest" || fail readyz "GET /readyz answered $code"

# --- HTTPS by default: a device certificate from the device CA -------------
# curl checks the chain against the CA and the name (127.0.0.1 must be in
# the certificate); the plain port refuses the control API (credentials in
# the clear) and sends pages to HTTPS.
ca_fp=$(openssl x509 -in "$CA" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)
leaf_fp=$(echo | openssl s_client -connect 127.0.0.1:8443 -servername localhost 2>/dev/null \
  | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)
# In the journal as a field of the start-up events (-o verbose shows them).
logged=$(journalctl -u dais.service --no-pager -o verbose 2>/dev/null | grep -c "${ca_fp:-none}")
redirect=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -X POST "$PLAIN/control" \
  -H 'Content-Type: application/json' -d '{}')
page=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' "$PLAIN/webrtc/123")
if [ -n "$ca_fp" ] && [ -n "$leaf_fp" ] && [ "$code" = 200 ] && [ "${logged:-0}" -gt 0 ] \
   && [ "${redirect%% *}" = 403 ] && [ "${page%% *}" = 308 ] \
   && [ "${page#* }" = "https://127.0.0.1:8443/webrtc/123" ]; then
  pass https "HTTPS on 8443 with a device certificate (SHA-256 $leaf_fp) from the device CA $CA (SHA-256 $ca_fp, in the journal); on 8080 POST /control answers ${redirect%% *} (credentials in the clear refused) and a page $page"
else
  fail https "device CA ${ca_fp:-missing}, certificate ${leaf_fp:-none}, readyz $code, CA in the journal ${logged:-0} times, plain POST /control answered ${redirect:-nothing}, a page ${page:-nothing}"
fi

TOKEN=$(auth_token)
if [ -z "$TOKEN" ]; then
  fail control-auth "POST /control auth with the PIN from $CONFIG gave no token"
  finish
fi

PID=$(dais_pid)

# --- logs reach journald with their fields -----------------------------------
# tracing-journald: each event's fields are journal fields (F_<NAME>),
# beside TARGET and PRIORITY, under SYSLOG_IDENTIFIER=dais.
jl=$(journalctl -u dais.service -o json --no-pager -n 400 2>/dev/null)
fielded='[.[] | select((.TARGET // "") | startswith("dais")) | select(to_entries | any(.key | startswith("F_")))]'
structured=$(echo "$jl" | jq -s "$fielded | length" 2>/dev/null)
if [ "${structured:-0}" -gt 0 ]; then
  sample=$(echo "$jl" | jq -rs "$fielded | .[0] | \"\(.MESSAGE) [\([to_entries[] | select(.key | startswith(\"F_\")) | \"\(.key)=\(.value)\"] | join(\" \"))] TARGET=\(.TARGET) PRIORITY=\(.PRIORITY) SYSLOG_IDENTIFIER=\(.SYSLOG_IDENTIFIER)\"" 2>/dev/null | cut -c1-300)
  pass journald "$structured of dais's journal entries carry their fields, e.g. $sample"
else
  fail journald "no journal entry of dais.service has a TARGET and F_ fields: $(echo "$jl" | tail -n 2 | cut -c1-300)"
fi

# --- dais devices lists the virtual hardware --------------------------------
devices=$(runuser -u dais -- dais devices --profile "$PROFILE" --config "$CONFIG" 2>&1)
echo "$devices" >&2
want_ok=1
why=""
for pair in "camera:vivid" "microphone:Loopback" "speaker:HDA" "display:Virtual-1"; do
  role=${pair%%:*} word=${pair#*:}
  line=$(echo "$devices" | grep -E "^  $role " | head -n1)
  if [ -z "$line" ] || echo "$line" | grep -q MISSING || ! echo "$line" | grep -qi -- "$word"; then
    want_ok=0
    why="$why $role: ${line:-absent};"
  fi
done
if [ $want_ok = 1 ]; then
  pass devices "dais devices (as user dais) selects $(echo "$devices" | grep -E '^  (camera|microphone|speaker|display) ' | sed 's/^ *//; s/  */ /g' | tr '\n' ';')"
else
  fail devices "dais devices:$why"
fi

# --- camera path -------------------------------------------------------------
hw=$(control '{"method":"getHardware"}')
cam_kind=$(echo "$hw" | jq -r '.result.camera.kind // empty')
cam_dev=$(echo "$hw" | jq -r '.result.camera.device // empty')
f1=$(status_json | jq -r '.preview.framesDisplayed // 0')
sleep 4
f2=$(status_json | jq -r '.preview.framesDisplayed // 0')
if [ "$cam_kind" = v4l2 ] && [ "$(holds "$PID" "$cam_dev")" = yes ] && [ "$f2" -gt "$f1" ]; then
  fmt=$(v4l2-ctl -d "$cam_dev" --get-fmt-video 2>/dev/null | sed -n 's/.*Width\/Height *: *//p' | head -n1)
  pass camera-stream "v4l2src streams from vivid ($cam_dev, $fmt): $((f2 - f1)) frames displayed in 4 s"
else
  fail camera-stream "camera kind=${cam_kind:-?} device=${cam_dev:-?} held=$(holds "$PID" "${cam_dev:-none}") frames ${f1}->${f2} in 4 s"
fi

ctl=$(control '{"method":"getCameraControls"}')
n=$(echo "$ctl" | jq -r '.result.controls | length' 2>/dev/null)
names=$(echo "$ctl" | jq -r '[.result.controls[].name] | join(", ")' 2>/dev/null)
if [ "${n:-0}" -gt 0 ]; then
  pass camera-controls "getCameraControls lists $n vivid controls ($names)"
else
  fail camera-controls "getCameraControls: $ctl"
fi

# Pan, tilt and zoom through cameraMove, when the camera has them (vivid
# has not), read back with v4l2-ctl.
ptz=$(echo "$ctl" | jq -r '[.result.controls[] | select(.id == 10094856 or .id == 10094857 or .id == 10094861)] | length' 2>/dev/null)
if [ "${ptz:-0}" -gt 0 ]; then
  before=$(v4l2-ctl -d "$cam_dev" -C pan_absolute,tilt_absolute,zoom_absolute 2>&1 | tr '\n' ' ')
  r=$(control '{"method":"cameraMove","pan":0.25,"tilt":0.25,"zoom":0.25}')
  after=$(v4l2-ctl -d "$cam_dev" -C pan_absolute,tilt_absolute,zoom_absolute 2>&1 | tr '\n' ' ')
  if [ "$(echo "$r" | jq -r .ok)" = true ] && [ "$before" != "$after" ]; then
    pass camera-control-set "cameraMove changed the camera: $before -> $after (v4l2-ctl)"
  else
    fail camera-control-set "cameraMove replied $r; v4l2-ctl $before -> $after"
  fi
fi
# Any control by name: vivid's brightness set through dais, read back by
# dais and by v4l2-ctl from the device.
bbefore=$(v4l2-ctl -d "$cam_dev" -C brightness 2>&1 | awk '{print $2}')
bwant=$(( ${bbefore:-128} == 200 ? 60 : 200 ))
r=$(control "{\"method\":\"setCameraControl\",\"control\":\"Brightness\",\"value\":$bwant}")
bafter=$(v4l2-ctl -d "$cam_dev" -C brightness 2>&1 | awk '{print $2}')
rbad=$(control '{"method":"setCameraControl","control":"brightness","value":9999}')
if [ "$(echo "$r" | jq -r .result.value)" = "$bwant" ] && [ "$bafter" = "$bwant" ] \
   && [ "$(echo "$rbad" | jq -r .error.code)" = badRequest ]; then
  pass camera-control-by-name "setCameraControl Brightness $bbefore -> $bwant, read back by dais and by v4l2-ctl ($bafter); 9999 refused: $(echo "$rbad" | jq -r .error.message)"
else
  fail camera-control-by-name "setCameraControl replied $r (want value $bwant); v4l2-ctl brightness $bbefore -> $bafter; out of range replied $rbad"
fi

# --- sound path ----------------------------------------------------------------
# The microphone: a tone played into Loopback device 1 is what dais captures
# on device 0; /status reports the microphone's level.
lvl0=$(status_json | jq -r '.preview.micLevelDb // "null"')
# (speaker-test, not gst-launch: root's first gst-launch spends longer than
# the check scanning the plugin registry under TCG.)
# The tone plays for as long as the check waits: on a starved guest
# speaker-test has been seen to take 7.5 s over its first period, and a
# tone cut at 10 s never reached dais.
timeout 45 speaker-test -D plughw:CARD=Loopback,DEV=1 -c 1 -r 48000 -F S16_LE -t sine -f 1000 \
  >/tmp/tone.log 2>&1 &
tone=$!
lvl1=null
for _ in $(seq 40); do
  sleep 1
  lvl1=$(status_json | jq -r '.preview.micLevelDb // "null"')
  if [ "$lvl1" != null ] && awk -v l="$lvl1" 'BEGIN{exit !(l > -30)}'; then break; fi
done
loop_state="capture 0: $(grep -h '^state' /proc/asound/Loopback/pcm0c/sub0/status 2>/dev/null) $(tr '\n' ' ' < /proc/asound/Loopback/pcm0c/sub0/hw_params 2>/dev/null); playback 1: $(grep -h '^state' /proc/asound/Loopback/pcm1p/sub0/status 2>/dev/null) $(tr '\n' ' ' < /proc/asound/Loopback/pcm1p/sub0/hw_params 2>/dev/null)"
kill $tone 2>/dev/null
wait $tone 2>/dev/null
if [ "$lvl1" != null ] && awk -v l="$lvl1" 'BEGIN{exit !(l > -30)}'; then
  pass mic-tone "1 kHz tone (speaker-test) into Loopback device 1 reached dais's microphone (Loopback device 0): ${lvl0} dB before, ${lvl1} dB during"
else
  fail mic-tone "microphone level ${lvl0} dB before, ${lvl1} dB during the tone (want > -30 dB); $(echo "$loop_state" | sed 's/  */ /g'); speaker-test: $(tail -n 3 /tmp/tone.log | tr '\n' ' ')"
fi

# The speaker: dais's alsasink keeps the HDA card's playback running (the
# host measures what it played in qemu's speaker.wav).
st=$(cat /proc/asound/HDA/pcm0p/sub0/status 2>/dev/null)
owner=$(echo "$st" | sed -n 's/^owner_pid *: *//p')
# The owner is the thread that opened the PCM; its process is what counts.
owner_tgid=$(awk '/^Tgid:/ {print $2}' "/proc/${owner:-0}/status" 2>/dev/null)
if echo "$st" | grep -q 'state: RUNNING' && [ "$owner_tgid" = "$PID" ]; then
  hwp=$(tr '\n' ' ' < /proc/asound/HDA/pcm0p/sub0/hw_params | sed 's/  */ /g')
  pass speaker-plays "dais plays on the HDA card (pcm0p RUNNING, opened by dais thread $owner; $hwp)"
else
  fail speaker-plays "HDA pcm0p: $(echo "$st" | head -n3 | tr '\n' ' ') owner thread ${owner:-none} of process ${owner_tgid:-none}, dais is $PID"
fi

# The speaker's mixer: setVolume through dais, read back with amixer.
mix_ok=1
mix_detail=""
for v in 30 75; do
  r=$(control "{\"method\":\"setVolume\",\"volume\":$v}")
  # Whichever playback control dais chose, one of the card's now reads v%
  # (within a percent).
  got=$(amixer -c HDA scontents 2>&1 | grep -o '\[[0-9]*%\]' | tr -d '[]%' | sort -u | tr '\n' ' ')
  state_v=$(control '{"method":"getAppState"}' | jq -r '.result.audio.volume')
  mix_detail="$mix_detail setVolume $v -> HDA mixer at ${got:-?}% (appState $state_v);"
  # Within a percent: the codec has fewer steps than percentages.
  near=$(for g in $got; do [ $(( g > v ? g - v : v - g )) -le 1 ] && echo y; done | head -n1)
  if [ "$(echo "$r" | jq -r .ok)" != true ] || [ "$near" != y ] || [ "$state_v" != "$v" ]; then
    mix_ok=0
    mix_detail="$mix_detail reply $r;"
  fi
done
if [ $mix_ok = 1 ]; then
  pass mixer-volume "ALSA mixer on the HDA card follows dais ($(amixer -c HDA scontrols | tr '\n' ' ')):$mix_detail"
else
  fail mixer-volume "$mix_detail"
fi
control '{"method":"setVolume","volume":50}' >/dev/null

# --- display path --------------------------------------------------------------
conn=/sys/class/drm/card0-Virtual-1
dri_state=/sys/kernel/debug/dri/0/state
mode=""
if [ -r "$dri_state" ]; then
  mode=$(grep -A3 '^crtc\[' "$dri_state" | sed -n 's/.*mode: "\([^"]*\)".*/\1/p' | head -n1)
fi
if [ "$(cat $conn/status 2>/dev/null)" = connected ] && [ "$(cat $conn/enabled 2>/dev/null)" = enabled ] \
   && [ "$(holds "$PID" /dev/dri/card)" = yes ]; then
  pass display-kms "kmssink holds /dev/dri/card0; Virtual-1 connected and enabled${mode:+, CRTC mode $mode}"
else
  fail display-kms "Virtual-1 status=$(cat $conn/status 2>/dev/null) enabled=$(cat $conn/enabled 2>/dev/null); dais holds DRM: $(holds "$PID" /dev/dri/card)"
fi

# The profile names the connector; kmssink gets its KMS id only when dais
# finds one (sysfs connector_id, which Linux 6.1 does not have).
disp_line=$(echo "$devices" | grep -E '^  display ' | head -n1 | sed 's/^ *//; s/  */ /g')
if echo "$disp_line" | grep -q '(connector [0-9]'; then
  pass display-connector "dais pins kmssink to the profile's connector: $disp_line"
else
  fail display-connector "dais found no KMS id for connector Virtual-1 ($disp_line): $conn/connector_id $( [ -e $conn/connector_id ] && echo exists || echo "does not exist on Linux $(uname -r)"), so kmssink gets no connector-id and drives whichever connector it finds first"
fi

# --- input path: dais reads the USB keyboard QMP send-key types on ------------
kbd=$(sed -n 's/^devices *= *\["\([^"]*\)".*/\1/p' "$PROFILE" | head -n1)
node=$(readlink -f "$kbd" 2>/dev/null)
if [ -n "$node" ] && [ -e "$node" ] && [ "$(holds "$PID" "$node")" = yes ]; then
  pass input-device "dais reads $kbd ($node)"
else
  fail input-device "profile keyboard ${kbd:-none} -> ${node:-missing}; dais holds it: $(holds "$PID" "${node:-none}"); present: $(ls /dev/input/by-id/ 2>/dev/null | tr '\n' ' ')"
fi

# --- the watchdog: dais kept pinging it --------------------------------------
ready_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value dais.service)
now_us=$(awk '{printf "%d", $1 * 1e6}' /proc/uptime)
wait_s=$(( (ready_us + 35000000 - now_us) / 1000000 ))
[ "$wait_s" -gt 0 ] && sleep "$wait_s"
restarts=$(systemctl show -p NRestarts --value dais.service)
if [ "$(systemctl is-active dais.service)" = active ] && [ "$restarts" = 0 ] && [ "$(dais_pid)" = "$PID" ]; then
  pass watchdog "dais still active, same pid, 0 restarts, more than 35 s after READY (WatchdogSec=30s)"
else
  fail watchdog "dais is $(systemctl is-active dais.service), restarts $restarts, pid $PID -> $(dais_pid)"
fi

finish

#!/usr/bin/env python3
"""The host side of `make image-test` (started by images/image-test.sh).

Reads the guest's PASS/FAIL lines from the results serial port (a unix
socket), then checks dais from outside the machine: HTTP through the
loopback forwards, the display through QMP screendump, the input path
through QMP send-key, and a call between the guest's dais and the host's.
Finally asks the guest to power off and waits for qemu to exit.

Prints one line per check ("guest PASS name: ..." / "host  FAIL name: ...").
Exit status: 0 all passed, 1 some check failed, 2 a timeout.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection

PIN = "2468"  # images/guest/dais.toml and the host dais's --control-pin


class Timeout(Exception):
    pass


class Run:
    def __init__(self, args):
        self.args = args
        self.deadline = args.start + args.timeout - 15
        self.results = []  # (where, ok, name, text)
        self.figures = {}
        self.tap_ok = False

    def left(self):
        return self.deadline - time.time()

    def report(self, where, ok, name, text):
        self.results.append((where, ok, name, text))
        print(f"{where:<5} {'PASS' if ok else 'FAIL'} {name}: {text}", flush=True)

    def qemu_alive(self):
        try:
            os.kill(self.args.qemu_pid, 0)
            return True
        except OSError:
            return False


# --- the results serial port ---------------------------------------------------

class Serial:
    def __init__(self, path, run):
        self.run = run
        self.buf = b""
        # Whether the guest has said anything on this port yet.
        self.heard = False
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                return
            except OSError:
                self.sock.close()
                if run.left() <= 0 or not run.qemu_alive():
                    raise Timeout(f"no results port at {path}")
                time.sleep(0.2)

    def lines(self):
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                yield line.decode("utf-8", "replace").strip("\r")
            left = self.run.left()
            if left <= 0:
                raise Timeout("the guest did not finish its checks in time")
            if not self.run.qemu_alive():
                raise Timeout("qemu exited before the guest finished its checks")
            self.sock.settimeout(min(left, 2.0))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                if not self.heard and boot_hung(self.run.args.run):
                    raise BootHung("the guest's kernel stalled while booting (an RCU stall, then "
                                   f"no console output for {BOOT_SILENCE} s), before any check")
                continue
            self.heard = True
            if not data:
                raise Timeout("the results port closed")
            self.buf += data

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")


# --- HTTP and the control API ---------------------------------------------------

# TLS contexts by host:port: the guest's HTTPS trusted through its device
# CA (fetched from its plain port), as an organisation would trust it.
_tls = {}


def trust(authority, ca_pem):
    _tls[authority] = ssl.create_default_context(cadata=ca_pem)


def http(url, body=None, token=None, timeout=15):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    ctx = _tls.get(url.split("/")[2]) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


class Control:
    def __init__(self, base):
        self.base = base
        code, body = http(f"{base}/control", {"method": "auth", "credentials": PIN})
        if code != 200:
            raise RuntimeError(f"auth at {base}: HTTP {code} {body[:200]!r}")
        self.token = json.loads(body)["result"]["token"]

    def __call__(self, method, **params):
        code, body = http(f"{self.base}/control", {"method": method, **params}, self.token, timeout=60)
        try:
            return json.loads(body)
        except ValueError:
            return {"ok": False, "error": f"HTTP {code}: {body[:200]!r}"}


def app_state(ctl):
    return ctl("getAppState").get("result", {})


_viewer_tokens = {}


def viewer_token(base):
    """A control token for /status (which answers nobody without one)."""
    if base not in _viewer_tokens:
        code, body = http(f"{base}/control", {"method": "auth", "credentials": PIN}, timeout=10)
        try:
            _viewer_tokens[base] = json.loads(body)["result"]["token"] if code == 200 else None
        except (ValueError, KeyError, TypeError):
            _viewer_tokens[base] = None
    return _viewer_tokens[base]


def status(base):
    code, body = http(f"{base}/status", token=viewer_token(base))
    if code == 401:
        # The token lapsed (or the first try failed): get a new one.
        _viewer_tokens.pop(base, None)
        code, body = http(f"{base}/status", token=viewer_token(base))
    return json.loads(body) if code == 200 else {}


def wait_for(pred, seconds, step=0.5):
    end = time.time() + seconds
    while True:
        v = pred()
        if v or time.time() >= end:
            return v
        time.sleep(step)


# --- QMP -----------------------------------------------------------------------

class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            raise RuntimeError(f"QMP {name}: {msg['error'].get('desc')}")
        return msg.get("return")

    def key(self, qcode, hold_ms=100):
        self.cmd("send-key", keys=[{"type": "qcode", "data": qcode}], **{"hold-time": hold_ms})


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # P6\n<w> <h>\n<max>\n<bytes>
    parts = []
    i = 0
    while len(parts) < 4:
        while data[i:i + 1].isspace():
            i += 1
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        parts.append(data[i:j])
        i = j
    i += 1
    if parts[0] != b"P6":
        raise ValueError(f"{path}: not a binary PPM")
    w, h = int(parts[1]), int(parts[2])
    return w, h, data[i:i + w * h * 3]


HUES = {  # the 75% colour bars vivid draws, by which channels are high
    "yellow": (1, 1, 0), "cyan": (0, 1, 1), "green": (0, 1, 0),
    "magenta": (1, 0, 1), "red": (1, 0, 0), "blue": (0, 0, 1),
}


def colour_census(w, h, px):
    counts = {k: 0 for k in HUES}
    counts["black"] = 0
    counts["grey"] = 0
    step = 3 * 2  # every second pixel is plenty
    for i in range(0, len(px) - 2, step):
        r, g, b = px[i], px[i + 1], px[i + 2]
        hi = max(r, g, b)
        if hi < 40:
            counts["black"] += 1
            continue
        pattern = tuple(int(c > hi * 0.6) for c in (r, g, b))
        if min(r, g, b) > hi * 0.6:
            counts["grey"] += 1
            continue
        for name, p in HUES.items():
            if p == pattern:
                counts[name] += 1
    total = max(1, len(px) // step)
    return {k: v / total for k, v in counts.items()}


# --- the checks ------------------------------------------------------------------

def guest_phase(run, serial):
    for line in serial.lines():
        if line == "GUEST-DONE":
            return
        if line.startswith("PASS ") or line.startswith("FAIL "):
            verdict, rest = line.split(" ", 1)
            name, _, text = rest.partition(": ")
            if name == "ready" and verdict == "PASS":
                run.figures["boot to READY (host wall clock)"] = f"{time.time() - run.args.start:.1f} s"
            run.report("guest", verdict == "PASS", name, text)
        elif line.startswith("INFO "):
            print(f"guest INFO {line[5:]}", flush=True)


def https_check(run):
    """The guest serves HTTPS by default: its plain port gives the device CA
    and redirects the API; HTTPS checked against that CA (chain and name)
    answers. Returns the HTTPS base, or the plain one if it does not."""
    plain = f"http://{run.args.http}"
    code, pem = http(f"{plain}/device-ca.pem")
    host, port = run.args.http.rsplit(":", 1)
    try:
        conn = HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/api/v3.11/conferences")
        r = conn.getresponse()
        redirect = (r.status, r.getheader("Location"))
        conn.close()
    except OSError as e:
        redirect = (0, str(e))
    if code != 200 or b"BEGIN CERTIFICATE" not in pem:
        run.report("host", False, "https", f"GET /device-ca.pem on the plain port: {code} {pem[:80]!r}")
        return plain
    trust(run.args.https, pem.decode())
    base = f"https://{run.args.https}"
    code, body = http(f"{base}/readyz")
    ok = code == 200 and redirect[0] == 308 and (redirect[1] or "").startswith("https://")
    run.report("host", ok, "https",
               f"GET /readyz over HTTPS through the forward, trusting only the device CA from /device-ca.pem: {code} "
               f"{body[:60].decode(errors='replace').strip()}; the plain port answers GET /api/v3.11/conferences "
               f"with {redirect[0]} to {redirect[1]}")
    return base


def host_checks(run, qmp):
    plain = f"http://{run.args.http}"
    # readyz / status through the loopback forward.
    code, body = http(f"{plain}/readyz")
    run.report("host", code == 200, "readyz", f"GET /readyz through the forward: {code} {body[:80].decode(errors='replace').strip()}")
    base = https_check(run)
    st = status(base)
    pv = st.get("preview") or {}
    ok = bool(st) and st.get("state", {}).get("activity") == "idle" and (pv.get("framesDisplayed") or 0) > 0
    run.report("host", ok, "status",
               f"activity={st.get('state', {}).get('activity')} framesDisplayed={pv.get('framesDisplayed')} "
               f"micLevelDb={pv.get('micLevelDb')} panel={st.get('panel')} uptime={st.get('uptimeSeconds')} s")

    ctl = Control(base)

    # The display: what the VGA shows is what kmssink draws.
    dump = os.path.join(run.args.run, "screendump.ppm")
    try:
        qmp.cmd("screendump", filename=dump, format="ppm")
        w, h, px = read_ppm(dump)
        census = colour_census(w, h, px)
        bars = [k for k in HUES if census[k] > 0.002]
        want_w, want_h = 640, 480
        ok = (w, h) == (want_w, want_h) and len(bars) >= 5
        run.report("host", ok, "display-screendump",
                   f"QMP screendump {w}x{h} (kmssink mode {want_w}x{want_h} expected); vivid colour bars seen: "
                   f"{', '.join(bars) or 'none'} (" + ", ".join(f"{k} {v:.1%}" for k, v in census.items()) + ")")
    except Exception as e:  # noqa: BLE001 - reported as the check's failure
        run.report("host", False, "display-screendump", str(e))

    # The panel: Slint's LinuxKMS backend on the second display shows Home
    # (the theme's dark background, its blue Join button, white text).
    dump = os.path.join(run.args.run, "panel.ppm")
    try:
        backend = (status(base).get("panel") or {}).get("backend")
        qmp.cmd("screendump", filename=dump, device="panelvga", format="ppm")
        w, h, px = read_ppm(dump)
        n = max(1, len(px) // 3)
        def share(pred):
            return sum(1 for i in range(0, len(px) - 2, 3) if pred(px[i], px[i + 1], px[i + 2])) / n
        near = lambda c, r, g, b: abs(r - c[0]) <= 12 and abs(g - c[1]) <= 12 and abs(b - c[2]) <= 12
        dark = share(lambda r, g, b: near((0x10, 0x14, 0x18), r, g, b) or near((0x1b, 0x22, 0x29), r, g, b)
                     or near((0x26, 0x30, 0x3a), r, g, b))
        accent = share(lambda r, g, b: near((0x3f, 0xa7, 0xff), r, g, b))
        white = share(lambda r, g, b: min(r, g, b) > 200)
        ok = backend == "kms" and dark > 0.6 and accent > 0.002 and white > 0.001
        run.report("host", ok, "panel-kms",
                   f"panel backend {backend}; QMP screendump of the second display {w}x{h}: theme background "
                   f"{dark:.1%}, accent blue {accent:.1%}, white text {white:.1%}")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "panel-kms", str(e))

    # Input: a key pressed on the USB keyboard reaches dais through evdev.
    try:
        v0 = app_state(ctl).get("audio", {}).get("volume")
        qmp.key("volumeup")
        v1 = wait_for(lambda: (lambda v: v if v != v0 else None)(app_state(ctl).get("audio", {}).get("volume")), 10)
        qmp.key("volumedown")
        v2 = wait_for(lambda: (lambda v: v if v != v1 else None)(app_state(ctl).get("audio", {}).get("volume")), 10)
        ok = v0 is not None and v1 == min(100, v0 + 5) and v2 == v0
        run.report("host", ok, "input-volume-keys",
                   f"QMP send-key volumeup, volumedown on the USB keyboard: appState audio.volume {v0} -> {v1} -> {v2}")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "input-volume-keys", str(e))

    # The remote's arrows move the panel's focus: /status names the control
    # it is on after each key.
    try:
        def focus():
            return ((status(base).get("panel") or {}).get("focus")) or ""
        def moved_from(f):
            return lambda: (lambda now: now if now != f else None)(focus())
        f0 = focus()
        qmp.key("down")
        f1 = wait_for(moved_from(f0), 10)
        qmp.key("down")
        f2 = wait_for(moved_from(f1), 10)
        qmp.key("up")
        f3 = wait_for(moved_from(f2), 10)
        ok = bool(f1) and bool(f2) and f1 != f2 and f3 == f1
        run.report("host", ok, "input-focus",
                   f"QMP send-key down, down, up: the panel's focus {f0!r} -> {f1!r} -> {f2!r} -> {f3!r}")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "input-focus", str(e))

    call_check(run, ctl, base)
    return st


def call_check(run, guest_ctl, guest_base):
    host_base = f"http://{run.args.host_dais}"
    try:
        ready = wait_for(lambda: http(f"{host_base}/readyz")[0] == 200, 30)
        if not ready:
            run.report("host", False, "call", f"the host's dais at {host_base} is not ready (var/image/test/host-dais.log)")
            return
        host = Control(host_base)
        meet = host("meetNow", mode="allOnScreen", topic="image-test")
        if not meet.get("ok"):
            run.report("host", False, "call", f"meetNow on the host's dais: {meet}")
            return
        cid = meet["result"]["cid"]
        join = guest_ctl("joinConference", cid=cid, server="10.0.2.100:8080")
        if not join.get("ok"):
            run.report("host", False, "call", f"guest joinConference {cid} on the host's dais (10.0.2.100:8080 -> "
                       f"{host_base}): {join.get('error')}")
            return
        def both_decode():
            g = (status(guest_base).get("preview") or {}).get("remoteFramesDecoded") or 0
            h = (status(host_base).get("preview") or {}).get("remoteFramesDecoded") or 0
            return g > 0 and h > 0
        wait_for(both_decode, 60 if run.args.net_restrict == "on" else 120, 2)
        first = [(status(b).get("preview") or {}).get("remoteFramesDecoded") or 0 for b in (guest_base, host_base)]
        # How the guest's speaker and its far-end audio stand, second by
        # second: whether the catch-up settles or keeps raising the delay.
        timeline = []
        threads = {}
        # Core-milliseconds each of the guest's threads (name and nice) took
        # over the sampled seconds: where the emulated CPU went in the call.
        spent = {}
        def sample(t0):
            st = status(guest_base)
            pv = st.get("preview") or {}
            proc = st.get("process") or {}
            threads["last"] = proc
            over = proc.get("overMs") or 0
            threads["overMs"] = threads.get("overMs", 0) + over
            for t in proc.get("threads") or []:
                key = f"{t.get('name')} {t.get('nice')}"
                spent[key] = spent.get(key, 0.0) + (t.get("cores") or 0) * over
            lvl = pv.get("speakerLevelDb")
            lead = pv.get("remoteLeadMs") or {}
            delay = pv.get("remoteDelayMs") or {}
            timeline.append(f"{time.time() - t0:.0f}s cpu {proc.get('cores', 0):.2f} spk {lvl if lvl is None else round(lvl)} lead "
                            f"{','.join(f'{k.rsplit(chr(47), 1)[-1]}={v}' for k, v in lead.items())} delay "
                            f"{','.join(f'{k.rsplit(chr(47), 1)[-1]}={v}' for k, v in delay.items())}")
        t0 = time.time()
        if all(first):
            # Media keeps flowing, not just one frame.
            while time.time() - t0 < 10:
                sample(t0)
                time.sleep(1)
        # The guest's speaker mix plays the host's tone (its own meter, after
        # the room's volume): far-end audio that came too late for the mix
        # would be decoded and still never played.
        def guest_speaker():
            lvl = (status(guest_base).get("preview") or {}).get("speakerLevelDb")
            return lvl is not None and lvl > -60
        speaker_ok = wait_for(guest_speaker, 30, 1)
        sample(t0)
        hstat = status(host_base)
        gstat = status(guest_base)
        g_pv = gstat.get("preview") or {}
        h_pv = hstat.get("preview") or {}
        g_n = g_pv.get("remoteFramesDecoded") or 0
        h_n = h_pv.get("remoteFramesDecoded") or 0
        # The host decodes the guest's vivid camera continuously; the guest
        # (an emulated CPU, under 1 decoded frame/s) has decoded the host's
        # video and hears its test tone.
        g_levels = (g_pv.get("remoteLevelsDb") or {}).values()
        ok = all(first) and h_n > first[1] and any(l > -60 for l in g_levels) and speaker_ok
        why = ""
        if not ok and run.args.net_restrict == "on":
            why = ("no media within 60 s: the guest's network is qemu user networking with restrict=on, which "
                   "carries only the TCP forwards, and WebRTC media needs UDP between the peers (dais has no "
                   "setting for a fixed ICE port and announced address that a hostfwd could carry); "
                   "NET_RESTRICT=off gives the guest NAT to the host. ")
        run.report("host", ok, "call",
                   f"{why}guest joined {cid} on the host's dais ({join['result'].get('state')}); remote frames decoded "
                   f"(first, then 10 s later): guest {first[0]} -> {g_n}, host {first[1]} -> {h_n}; remote audio levels dB "
                   f"guest {g_pv.get('remoteLevelsDb')}, host {h_pv.get('remoteLevelsDb')}; guest speaker "
                   f"{g_pv.get('speakerLevelDb')} dB, far-end delays for lateness guest {g_pv.get('remoteDelayMs')} "
                   f"({g_pv.get('lateTracks')} times), host {h_pv.get('remoteDelayMs')}; far-end leads over the mix ms "
                   f"guest {g_pv.get('remoteLeadMs')}, host {h_pv.get('remoteLeadMs')}; far-end video losses and "
                   f"repairs guest {g_pv.get('remoteRepair')}, host {h_pv.get('remoteRepair')}; sent pictures guest "
                   f"{g_pv.get('sendVideo')}, host {h_pv.get('sendVideo')}; guest speaker, leads and "
                   f"delays each second: {'; '.join(timeline)}; {busiest(threads.get('last'))}; "
                   f"{spent_over(spent, threads.get('overMs', 0))}; "
                   f"conference media host {json.dumps(hstat.get('conferenceMedia'))[:300]}")
        guest_ctl("hangUp")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "call", f"{type(e).__name__}: {e}")


def spent_over(spent, over_ms):
    """The guest's threads by the cores they took over the sampled call."""
    if not over_ms:
        return "guest's threads over the call: not sampled"
    rows = sorted(spent.items(), key=lambda kv: -kv[1])[:16]
    return (f"guest's threads over {over_ms / 1000:.1f} s of the call (name nice cores): "
            + ", ".join(f"{k} {v / over_ms:.2f}" for k, v in rows))


def busiest(proc):
    """The guest's busiest threads in its last /status: name, nice, cores."""
    proc = proc or {}
    rows = ", ".join(f"{t.get('name')} {t.get('nice')} {t.get('cores', 0):.2f}" for t in proc.get("threads") or [])
    return f"guest's busiest threads over the last {proc.get('overMs')} ms (name nice cores): {rows}"


def tone_in(pcm, rate, channels):
    """The 440 Hz tone in 16-bit PCM: 100 ms windows every 250 ms (first
    channel), Goertzel at 440 Hz. Returns (ok, summary)."""
    import math
    import struct
    n = len(pcm) // (2 * channels)
    win = rate // 10
    best = (-200.0, 0.0, 0.0)  # loudest window: level, tone share, time
    tone = []  # windows loud enough, with their tone share
    w = 2 * math.pi * 440 / rate
    coeff = 2 * math.cos(w)
    for start in range(0, n - win, rate // 4):
        first = struct.unpack_from(f"<{win * channels}h", pcm, start * 2 * channels)[0::channels]
        energy = sum(x * x for x in first)
        if energy == 0:
            continue
        rms_db = 10 * math.log10(energy / win / 32768.0 ** 2)
        s1 = s2 = 0.0
        for x in first:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        share = 2 * power / (win * energy)  # the tone's part of the energy
        if rms_db > best[0]:
            best = (rms_db, share, start / rate)
        if rms_db > -45:
            tone.append((share, rms_db, start / rate))
    level, share, at = best
    # The tone is there when some loud 100 ms is mostly 440 Hz; a busy
    # emulated machine adds clicks to some windows.
    clean = [t for t in tone if t[0] > 0.5]
    top = max(tone, default=(0.0, -200.0, 0.0))
    return bool(clean), (f"{n / rate:.0f} s: loudest 100 ms at {at:.1f} s, {level:.1f} dBFS, {share:.0%} of it at "
                         f"440 Hz; {len(clean)} of {len(tone)} loud windows mostly 440 Hz, best {top[0]:.0%} at "
                         f"{top[2]:.1f} s ({top[1]:.1f} dBFS)")


def wav_pcm(data):
    """(rate, channels, bits, pcm) of a RIFF/WAVE file; the data chunk runs
    to the end of the file when its size was never filled in."""
    import struct
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, pos + 8)
            fmt = (rate, channels, bits)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            body = data[pos + 8:]
            if 0 < size <= len(body):
                body = body[:size]
            return fmt + (body,)
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def speaker_check(run):
    """What the guest's dais played on its speaker (the HDA codec), as qemu
    wrote it to speaker.wav: the host's 440 Hz test tone, heard in the call."""
    path = os.path.join(run.args.run, "speaker.wav")
    try:
        with open(path, "rb") as f:
            data = f.read()
        ok, summary = tone_in(data[44:], 48000, 2)
        why = ""
        if not ok and run.tap_ok:
            why = ("; dais handed the tone to ALSA (speaker-tap passed), so it was lost after the guest's ALSA "
                   "driver, in qemu's emulated HDA or its wav output")
        run.report("host", ok, "speaker-tone",
                   f"qemu's HDA output ({summary}) (the host's test tone, played by the guest's dais){why}")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "speaker-tone", f"{path}: {type(e).__name__}: {e}")


TAP = "/var/lib/dais/speaker-tap.wav"


def speaker_tap_check(run):
    """What the guest's dais handed to ALSA for its speaker during the call,
    as the guest's ALSA file plugin recorded it (images/guest/asound.conf),
    read from the guest's disk after power-off: the host's 440 Hz tone. This
    does not depend on qemu's HDA emulation keeping real time."""
    import subprocess
    import tempfile
    run.tap_ok = False
    overlay = os.path.join(run.args.run, "overlay.qcow2")
    try:
        with tempfile.TemporaryDirectory(dir=run.args.run) as tmp:
            raw = os.path.join(tmp, "disk.raw")
            out = os.path.join(tmp, "tap.wav")
            subprocess.run(["qemu-img", "convert", "-O", "raw", overlay, raw], check=True,
                           capture_output=True, timeout=300)
            r = subprocess.run(["debugfs", "-R", f"dump {TAP} {out}", raw], capture_output=True,
                               text=True, timeout=120)
            if not os.path.exists(out):
                raise RuntimeError(f"debugfs could not read {TAP}: {r.stderr.strip()[-300:]}")
            with open(out, "rb") as f:
                data = f.read()
        rate, channels, bits, pcm = wav_pcm(data)
        if bits != 16:
            raise ValueError(f"{bits}-bit samples (dais plays 16-bit)")
        ok, summary = tone_in(pcm, rate, channels)
        run.tap_ok = ok
        run.report("host", ok, "speaker-tap",
                   f"what the guest's dais handed to ALSA ({TAP}, {rate} Hz, {channels} ch, {summary}) (the host's "
                   f"test tone, in the guest's speaker mix)")
    except Exception as e:  # noqa: BLE001
        run.report("host", False, "speaker-tap", f"{TAP} on the guest's disk: {type(e).__name__}: {e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--https", required=True)
    p.add_argument("--host-dais", required=True)
    p.add_argument("--qemu-pid", type=int, required=True)
    p.add_argument("--net-restrict", default="off")
    p.add_argument("--debug-commands", help="a file of shell commands to run in the guest after the checks")
    args = p.parse_args()
    run = Run(args)
    timed_out = None
    hung = False
    serial = None
    try:
        serial = Serial(os.path.join(args.run, "results.sock"), run)
        guest_phase(run, serial)
        qmp = wait_for(lambda: _try_qmp(os.path.join(args.run, "qmp.sock")), 10)
        if not qmp:
            raise Timeout("no QMP socket")
        host_checks(run, qmp)
        if args.debug_commands:
            debug_commands(run, serial, args.debug_commands)
    except Timeout as e:
        timed_out = str(e)
        print(f"TIMEOUT: {e}", flush=True)
    except BootHung as e:
        timed_out = str(e)
        hung = True
        print(f"TIMEOUT: {e}", flush=True)
    # Collected before power-off (speaker-tone is judged after it), printed
    # only when something failed.
    diag = collect_diagnostics(run, serial)

    # Power off: the guest's check script powers the machine off on our word.
    t0 = time.time()
    if serial is not None and run.qemu_alive():
        try:
            serial.send("POWEROFF")
        except OSError:
            pass
    end = time.time() + max(5, min(90, run.deadline + 10 - time.time()))
    while run.qemu_alive() and time.time() < end:
        time.sleep(0.5)
    if timed_out is None:
        if run.qemu_alive():
            run.report("host", False, "poweroff", "the guest did not power off within 90 s")
        else:
            run.report("host", True, "poweroff", f"the guest powered off {time.time() - t0:.1f} s after POWEROFF")

    if timed_out is None and not run.qemu_alive():
        speaker_tap_check(run)
        speaker_check(run)

    console = os.path.join(args.run, "console.log")
    if os.path.exists(console):
        with open(console, errors="replace") as f:
            text = f.read()
        for needle in ("Stopped dais.service", "Stopped dais meeting room appliance"):
            if needle in text:
                run.figures["dais stop on power-off"] = "clean (systemd: Stopped dais meeting room appliance)"

    fails = [r for r in run.results if not r[1]]
    if fails or timed_out:
        print("\n--- diagnostics (a check failed) ---", flush=True)
        print("\n".join(diag), flush=True)
        host_log = os.path.join(args.run, "host-dais.log")
        if os.path.exists(host_log):
            with open(host_log, errors="replace") as f:
                tail = f.read().splitlines()[-80:]
            print("== the host's dais log (last 80 lines)")
            print("\n".join(l[:400] for l in tail), flush=True)
        print("--- end of diagnostics ---", flush=True)
    print(f"\nimage-test: {len(run.results) - len(fails)} passed, {len(fails)} failed"
          + (f", TIMEOUT ({timed_out})" if timed_out else ""))
    for k, v in run.figures.items():
        print(f"image-test: {k}: {v}")
    if timed_out and not run.results and (hung or qemu_crashed(args.run)):
        # The emulated machine failed before the guest reported anything:
        # qemu aborted (an assertion in its multi-threaded TCG) or the
        # guest's kernel hung booting. A fault of the emulator, not of dais
        # or of any check: image-test.sh boots once more on this code.
        sys.exit(3)
    if timed_out:
        sys.exit(2)
    sys.exit(1 if fails else 0)


# How long a guest's console stays silent after a kernel RCU stall report
# before the boot counts as hung.
BOOT_SILENCE = 60


class BootHung(Exception):
    pass


def boot_hung(run_dir):
    """The guest kernel reported an RCU stall on its console and has
    printed nothing since for BOOT_SILENCE s: under multi-threaded TCG a
    vCPU's timer interrupt can be lost while the machine boots (seen once
    with a host core busy: CPU 0 halted in idle, never woken, and the
    emulator at 5% of a core for the next 8 minutes). Nothing of dais has
    run then."""
    path = os.path.join(run_dir, "console.log")
    try:
        if time.time() - os.path.getmtime(path) < BOOT_SILENCE:
            return False
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return "detected stalls on CPUs" in text or "kthread starved" in text


def qemu_crashed(run_dir):
    """qemu's own log says it aborted (an assertion or an internal error)."""
    try:
        with open(os.path.join(run_dir, "qemu.log"), errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return "Assertion" in text or "QEMU internal" in text


def collect_diagnostics(run, serial):
    """The guest's dais journal, its ALSA PCM and mixer state and /status
    (the guest's DIAG command), and the host's dais /status: what a failed
    check needs for its cause to be found from CI's log alone."""
    out = []
    host_base = f"http://{run.args.host_dais}"
    guest_base = f"https://{run.args.https}"
    for name, base in (("guest", guest_base), ("host", host_base)):
        code, body = http(f"{base}/status", token=viewer_token(base), timeout=10)
        out.append(f"== {name} dais GET /status: HTTP {code}")
        out.append(body.decode(errors="replace")[:8000])
    if serial is None or not run.qemu_alive():
        out.append("== the guest's diagnostics: the guest is not running")
        return out
    try:
        # Its own short deadline: diagnostics must not turn a FAIL into a
        # TIMEOUT.
        run.deadline = max(run.deadline, time.time() + 60)
        serial.send("DIAG")
        for line in serial.lines():
            if line.startswith("END "):
                break
            out.append(line[4:] if line.startswith("OUT ") else line)
    except (Timeout, OSError) as e:
        out.append(f"== the guest's diagnostics ended early: {e}")
    return out


def debug_commands(run, serial, path):
    with open(path) as f:
        commands = [c.strip() for c in f if c.strip() and not c.startswith("#")]
    lines = serial.lines()
    for c in commands:
        print(f"debug $ {c}", flush=True)
        serial.send("SH " + c)
        for line in lines:
            if line.startswith("END "):
                print(f"debug (exit {line[4:]})", flush=True)
                break
            print(f"debug   {line[4:] if line.startswith('OUT ') else line}", flush=True)


def _try_qmp(path):
    try:
        return Qmp(path)
    except OSError:
        return None


if __name__ == "__main__":
    main()

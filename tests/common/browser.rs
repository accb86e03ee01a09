//! A real browser for web-client tests: Debian's Chromium, headless, with a
//! fake camera and microphone fed from files this helper writes (dais's
//! test card or a solid colour, and a sine tone, so a test can tell whose
//! picture and sound arrived and whether the picture is whole), driven
//! over the DevTools protocol on a WebSocket.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Where Debian installs Chromium (`/usr/bin/chromium` is a shell wrapper).
const CHROMIUM: &[&str] = &["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

/// The size of a browser's fake camera picture.
pub const CAMERA: (u32, u32) = (320, 240);
/// Frames in a browser's test card file (four seconds at 15 a second;
/// Chromium plays it in a loop).
pub const CARD_FRAMES: u16 = 60;

/// What a browser's fake devices capture.
#[derive(Debug, Clone, Copy)]
pub struct Fake {
    /// The camera's picture, one solid colour (RGB), unless `card`.
    pub colour: (u8, u8, u8),
    /// The camera shows dais's test card, frames `card` to
    /// `card + CARD_FRAMES - 1` over and over: the range tells whose
    /// picture it is, the card whether it arrived whole.
    pub card: Option<u16>,
    /// The microphone's sine tone (Hz) and amplitude (0 to 1; 0 is silence).
    pub tone_hz: f64,
    pub amplitude: f64,
}

impl Fake {
    pub fn new(colour: (u8, u8, u8)) -> Self {
        Fake {
            colour,
            card: None,
            tone_hz: 660.0,
            amplitude: 0.3,
        }
    }

    /// A camera showing the test card from frame `first` on.
    pub fn card(first: u16) -> Self {
        Fake {
            card: Some(first),
            ..Fake::new((0, 0, 0))
        }
    }

    pub fn silent(mut self) -> Self {
        self.amplitude = 0.0;
        self
    }
}

/// How many tests of a file drive browsers at once. Each brings its own
/// dais and one to three Chromiums; all seven of a file at once on a
/// 2-core machine froze pictures for seconds and let a roster update
/// trail its media, failing checks that hold with fewer. Two at once
/// (load average 8 on 2 cores) still starved a room's encoder: in two
/// CI runs a lecture's students got no picture of the room for 40 s (the
/// server received no video from it at all) and the room showed 2 frames
/// of a guest in 4 s. A meeting room runs one meeting.
const AT_ONCE: usize = 1;

static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static FREED: std::sync::Condvar = std::sync::Condvar::new();

/// A test's turn to drive browsers: taken at its start, given back when
/// it ends (also when it fails).
pub struct Turn(());

/// Waits until fewer than [`AT_ONCE`] tests drive browsers, then takes a
/// turn.
pub fn turn() -> Turn {
    let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    while *n >= AT_ONCE {
        n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
    }
    *n += 1;
    Turn(())
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        FREED.notify_one();
    }
}

pub struct Browser {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    /// The network namespace it runs in, when it plays another host.
    ns: Option<String>,
}

impl Browser {
    pub fn launch(fake: Fake) -> Browser {
        Browser::start(fake, None, None)
    }

    /// A browser on another host of `lan` that trusts the CA in `ca_pem`
    /// the way an organisation's machines do: in its user's NSS database
    /// (`certutil`), not by ignoring certificate errors.
    pub fn launch_on(lan: &super::common::lan::Lan, ca_pem: &[u8], fake: Fake) -> Browser {
        Browser::start(fake, Some(lan.ns.as_str()), Some(ca_pem))
    }

    /// A browser on this host that trusts the CA in `ca_pem` (as
    /// [`Browser::launch_on`]), for dais over HTTPS.
    pub fn launch_trusting(ca_pem: &[u8], fake: Fake) -> Browser {
        Browser::start(fake, None, Some(ca_pem))
    }

    fn start(fake: Fake, ns: Option<&str>, ca: Option<&[u8]>) -> Browser {
        let dir = tempfile::tempdir().expect("browser dir");
        let video = dir.path().join("camera.y4m");
        let audio = dir.path().join("mic.wav");
        match fake.card {
            Some(first) => write_card_y4m(&video, first),
            None => write_y4m(&video, fake.colour),
        }
        write_wav(&audio, fake.tone_hz, fake.amplitude);
        let profile = dir.path().join("profile");
        let exe = CHROMIUM
            .iter()
            .find(|p| Path::new(p).exists())
            .expect("chromium is installed (scripts/install-deps.sh)");
        let log = std::fs::File::create(dir.path().join("chromium.log")).unwrap();
        // Chromium reads the user's NSS database under $HOME.
        let home = dir.path().join("home");
        if let Some(ca_pem) = ca {
            let db = home.join(".pki/nssdb");
            std::fs::create_dir_all(&db).unwrap();
            let ca = dir.path().join("room-ca.pem");
            std::fs::write(&ca, ca_pem).unwrap();
            let db_arg = format!("sql:{}", db.display());
            certutil(&["-d", &db_arg, "-N", "--empty-password"]);
            certutil(&[
                "-d",
                &db_arg,
                "-A",
                "-t",
                "C,,",
                "-n",
                "dais device CA",
                "-i",
                ca.to_str().unwrap(),
            ]);
        }
        let mut cmd = match ns {
            None => Command::new(exe),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
        };
        let child = cmd
            .env("HOME", &home)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--remote-debugging-port=0",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--allow-loopback-in-peer-connection",
                "--disable-gpu",
                "--mute-audio",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!(
                "--use-file-for-fake-video-capture={}",
                video.display()
            ))
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                audio.display()
            ))
            .arg("about:blank")
            // Its own process group, so that the renderer and GPU helper
            // processes go with it (see Drop).
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort"))
                && let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser {
            child,
            dir,
            port,
            ns: ns.map(str::to_string),
        }
    }

    /// A TCP connection to the browser's DevTools port: from inside its
    /// namespace when it plays another host.
    fn devtools(&self) -> std::io::Result<TcpStream> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        match &self.ns {
            None => TcpStream::connect(addr),
            Some(ns) => super::common::lan::in_namespace(ns, || TcpStream::connect(addr)),
        }
    }

    /// The DevTools target list.
    fn targets(&self) -> Value {
        use std::io::Read;
        let Ok(mut s) = self.devtools() else {
            return Value::Null;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!(
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return Value::Null;
        }
        // DevTools keeps the connection open: read the head, then as many
        // bytes as it says.
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&out).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                });
                if length.is_some_and(|n| body.len() >= n) {
                    return serde_json::from_str(body).unwrap_or(Value::Null);
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let text = String::from_utf8_lossy(&out).to_string();
                    return text
                        .split_once("\r\n\r\n")
                        .and_then(|(_, body)| serde_json::from_str(body).ok())
                        .unwrap_or(Value::Null);
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The first page (tab), ready to drive.
    pub fn page(&self) -> Page {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = self.targets();
            if let Some(url) = list.as_array().and_then(|a| {
                a.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            }) {
                let stream = self.devtools().expect("devtools connection");
                let (ws, _) = tungstenite::client(url, MaybeTlsStream::Plain(stream))
                    .expect("devtools websocket");
                if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                }
                return Page { ws, next: 1 };
            }
            assert!(Instant::now() < deadline, "chromium has no page");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created for Chromium.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Page {
    fn command(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("devtools send");
        loop {
            let m = self.ws.read().expect("devtools read");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).expect("devtools json");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    pub fn goto(&mut self, url: &str) {
        self.command("Page.navigate", json!({"url": url}));
        // Wait until the page's script has set window.dais up.
        self.wait(Duration::from_secs(20), "the web client loads", |p| {
            (p.eval("typeof window.dais") == "object").then_some(())
        });
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.command(
            "Runtime.evaluate",
            json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// The web client's state (`window.dais.state`).
    pub fn state(&mut self) -> Value {
        self.eval("JSON.parse(JSON.stringify(window.dais.state))")
    }

    /// Frames decoded per received video mid.
    pub fn frames(&mut self) -> Value {
        self.eval("window.dais.stats().then(s => s.video)")
    }

    /// The picture a received video track shows now, at the size it
    /// arrives: (width, height, RGBA).
    pub fn picture(&mut self, mid: &str) -> Option<(u32, u32, Vec<u8>)> {
        use base64::Engine as _;
        let v = self.eval(&format!("window.dais.picture({mid:?})"));
        let (w, h) = (v["width"].as_u64()? as u32, v["height"].as_u64()? as u32);
        let rgba = base64::engine::general_purpose::STANDARD
            .decode(v["rgba"].as_str()?)
            .ok()?;
        (rgba.len() == w as usize * h as usize * 4).then_some((w, h, rgba))
    }

    /// Polls `f` until it gives a value; panics with the client's state if
    /// it never does.
    pub fn wait<T>(
        &mut self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&mut Page) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if Instant::now() > deadline {
                let st = self
                    .eval("JSON.stringify(window.dais && window.dais.state)")
                    .to_string();
                let stats = self.eval("window.dais.stats()").to_string();
                panic!("timed out waiting for {what}; client state: {st}; received: {stats}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One second of a solid colour at 320×240, 15 frames/s, as I420 YUV4MPEG2
/// (Chromium loops the file).
fn certutil(args: &[&str]) {
    let out = Command::new("certutil")
        .args(args)
        .output()
        .expect("certutil is installed (libnss3-tools, scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "certutil {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_y4m(path: &PathBuf, (r, g, b): (u8, u8, u8)) {
    let (w, h) = (320usize, 240usize);
    let (r, g, b) = (r as f64, g as f64, b as f64);
    // BT.601 limited range, what decoders assume for untagged video.
    let y = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8;
    let u = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8;
    let v = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg").unwrap();
    for _ in 0..15 {
        f.write_all(b"FRAME\n").unwrap();
        f.write_all(&vec![y; w * h]).unwrap();
        f.write_all(&vec![u; w * h / 4]).unwrap();
        f.write_all(&vec![v; w * h / 4]).unwrap();
    }
}

/// Frames `first` to `first + CARD_FRAMES - 1` of dais's test card at
/// [`CAMERA`] size, 15 a second, as I420 YUV4MPEG2 (BT.601, limited range,
/// as for [`write_y4m`]).
fn write_card_y4m(path: &PathBuf, first: u16) {
    let (w, h) = (CAMERA.0 as usize, CAMERA.1 as usize);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg").unwrap();
    for i in 0..CARD_FRAMES {
        let rgba =
            dais::media::testcard::draw(u32::from(first.wrapping_add(i)), w as u32, h as u32);
        let px = |x: usize, y: usize| {
            let p = (y * w + x) * 4;
            (
                f64::from(rgba[p]),
                f64::from(rgba[p + 1]),
                f64::from(rgba[p + 2]),
            )
        };
        let mut y_plane = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let (r, g, b) = px(x, y);
                y_plane.push((16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8);
            }
        }
        let (mut u_plane, mut v_plane) = (vec![], vec![]);
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (pr, pg, pb) = px(x + dx, y + dy);
                    r += pr / 4.0;
                    g += pg / 4.0;
                    b += pb / 4.0;
                }
                u_plane.push((128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8);
                v_plane.push((128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8);
            }
        }
        f.write_all(b"FRAME\n").unwrap();
        f.write_all(&y_plane).unwrap();
        f.write_all(&u_plane).unwrap();
        f.write_all(&v_plane).unwrap();
    }
}

/// Two seconds of a sine (or silence), 48 kHz mono 16-bit PCM.
fn write_wav(path: &PathBuf, hz: f64, amplitude: f64) {
    let rate = 48_000u32;
    let n = rate as usize * 2;
    let mut data = Vec::with_capacity(n * 2);
    for i in 0..n {
        let s = (amplitude
            * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin()
            * 32767.0) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.write_all(&h).unwrap();
    f.write_all(&data).unwrap();
}

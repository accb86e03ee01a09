//! Shared helpers for integration tests: start the real `dais` binary on a
//! temporary data directory with free ports, talk to it over real HTTP and
//! TCP, stop it with a real signal.
#![allow(dead_code)]

pub mod lan;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dais");
/// The control PIN every test instance runs with.
pub const PIN: &str = "2468";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn virtual_profile() -> PathBuf {
    repo().join("hardware/virtual.toml")
}

/// A running dais.
pub struct Dais {
    pub child: Child,
    pub data_dir: PathBuf,
    pub http: String,
    /// The HTTPS listener's address, when dais runs with one.
    pub https: Option<std::net::SocketAddr>,
    pub control: Option<String>,
    /// A control token for the routes that show the room (`/status`,
    /// `/metrics`, the pictures), fetched with the PIN when first needed.
    pub viewer: std::sync::OnceLock<String>,
    log: PathBuf,
}

/// Options for [`Dais::start`].
pub struct Start<'a> {
    pub data_dir: &'a Path,
    pub profile: PathBuf,
    pub config: Option<PathBuf>,
    pub extra: Vec<String>,
    /// More environment for the process (systemd's, for one).
    pub env: Vec<(String, String)>,
}

impl<'a> Start<'a> {
    pub fn new(data_dir: &'a Path) -> Self {
        Self {
            data_dir,
            profile: virtual_profile(),
            config: None,
            extra: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// Builds the `dais run` command line for `s`, on free ports.
pub fn run_command(s: &Start<'_>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--profile")
        .arg(&s.profile)
        .arg("--data-dir")
        .arg(s.data_dir)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
            "--control-pin",
            PIN,
        ]);
    // HTTPS is on by default (0.0.0.0:8443): off unless the test asks for
    // it, on a port of its own.
    if !s.extra.iter().any(|a| a == "--https-listen") {
        cmd.args(["--https-listen", "off"]);
    }
    if let Some(c) = &s.config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(&s.extra);
    cmd.envs(s.env.iter().map(|(k, v)| (k, v)));
    // Headless panel whatever the developer's desktop is.
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    cmd.env(
        "RUST_LOG",
        std::env::var("DAIS_TEST_LOG").unwrap_or_else(|_| "info".into()),
    );
    cmd
}

impl Dais {
    /// Starts dais and waits until its endpoints file appears.
    pub fn start(s: Start<'_>) -> Self {
        let _ = std::fs::remove_file(s.data_dir.join("endpoints.json"));
        let log = s.data_dir.with_extension("log");
        let logf = std::fs::File::create(&log).expect("create log file");
        let child = run_command(&s)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn dais");
        let mut d = Dais {
            child,
            data_dir: s.data_dir.to_path_buf(),
            http: String::new(),
            https: None,
            control: None,
            viewer: std::sync::OnceLock::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(d.data_dir.join("endpoints.json"))
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                d.http = format!("http://{}", v["http"].as_str().expect("http addr"));
                d.https = v["https"]
                    .as_str()
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                    .map(|a| {
                        if a.ip().is_unspecified() {
                            std::net::SocketAddr::from(([127, 0, 0, 1], a.port()))
                        } else {
                            a
                        }
                    });
                if d.https.is_some()
                    && let Ok(pem) = std::fs::read(d.data_dir.join("tls/ca.pem"))
                {
                    trust(&pem);
                }
                d.control = v["control"].as_str().map(str::to_string);
                return d;
            }
            if let Some(status) = d.child.try_wait().expect("poll dais") {
                panic!("dais exited early with {status}:\n{}", d.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "dais did not start:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// Where dais serves its API and pages: `https://ADDR:PORT` with the
    /// HTTPS listener, else the plain one.
    pub fn base(&self) -> String {
        match self.https {
            Some(a) => format!("https://{a}"),
            None => self.http.clone(),
        }
    }

    /// Waits for `/readyz` to answer 200.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = get(&self.url("/readyz")) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("poll dais") {
                panic!(
                    "dais exited with {status} before ready:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "dais never became ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status").expect("GET /status");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// A control token got with the PIN over `POST /control`: what a room
    /// controller or a support tool shows itself with.
    pub fn viewer_token(&self) -> &str {
        self.viewer.get_or_init(|| {
            let mut r = agent()
                .post(self.url("/control"))
                .header("Content-Type", "application/json")
                .send(serde_json::json!({"method": "auth", "credentials": PIN}).to_string())
                .expect("POST /control auth");
            let text = r.body_mut().read_to_string().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            v["result"]["token"]
                .as_str()
                .unwrap_or_else(|| panic!("no control token in {text}"))
                .to_string()
        })
    }

    /// GET one of the routes that show the room, with [`Self::viewer_token`]:
    /// the status and JSON body (`null` when not JSON).
    pub fn get(&self, path: &str) -> Result<(u16, serde_json::Value), ureq::Error> {
        let mut r = agent()
            .get(self.url(path))
            .header("Authorization", format!("Bearer {}", self.viewer_token()))
            .call()?;
        let code = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        Ok((
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// `get`, for the raw body (the pictures, `/metrics`).
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let mut r = agent()
            .get(self.url(path))
            .header("Authorization", format!("Bearer {}", self.viewer_token()))
            .call()
            .expect("GET");
        let code = r.status().as_u16();
        (code, r.body_mut().read_to_vec().unwrap_or_default())
    }

    /// Sends SIGTERM and waits up to `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        // SAFETY: kill(2) with a pid we spawned and own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("poll dais") {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Opens a TCP control connection and authenticates with the PIN.
    pub fn control(&self) -> Control {
        let mut c = self.control_raw();
        let r = c.call(serde_json::json!({"method": "auth", "credentials": PIN}));
        assert_eq!(r["ok"], true, "auth: {r}");
        c
    }

    /// Opens a TCP control connection without authenticating.
    pub fn control_raw(&self) -> Control {
        let addr = self.control.clone().expect("control listener enabled");
        let stream = TcpStream::connect(addr).expect("connect control");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Control {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            events: Vec::new(),
        }
    }
}

impl Drop for Dais {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TCP control connection speaking the line protocol.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Events read while waiting for replies.
    pub events: Vec<serde_json::Value>,
}

impl Control {
    /// Sends `line` without waiting for its reply ([`Control::read_reply`]).
    pub fn send_only(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("write control line");
    }

    pub fn send_line(&mut self, line: &str) -> serde_json::Value {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("write control line");
        self.read_reply()
    }

    /// The next reply, skipping (and keeping) feedback events.
    pub fn read_reply(&mut self) -> serde_json::Value {
        loop {
            let v = self.read_line();
            if v.get("event").is_some() {
                self.events.push(v);
                continue;
            }
            return v;
        }
    }

    /// The next line, whatever it is.
    pub fn read_line(&mut self) -> serde_json::Value {
        let mut s = String::new();
        self.reader.read_line(&mut s).expect("read control line");
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("line {s:?} is not JSON: {e}"))
    }

    /// Waits for an event matching `pred` (already received ones first).
    pub fn wait_event(&mut self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i);
        }
        loop {
            let v = self.read_line();
            if v.get("event").is_some() && pred(&v) {
                return v;
            }
            if v.get("event").is_some() {
                self.events.push(v);
            }
        }
    }

    pub fn call(&mut self, v: serde_json::Value) -> serde_json::Value {
        self.send_line(&v.to_string())
    }
}

/// The device CAs (DER) of the daises this test process started with
/// HTTPS: every helper's client trusts them, as an organisation that added
/// them to its machines would.
static TRUSTED: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Trusts the device CA in `ca_pem` from now on.
pub fn trust(ca_pem: &[u8]) {
    use rustls::pki_types::pem::PemObject;
    let mut trusted = TRUSTED.lock().unwrap_or_else(|e| e.into_inner());
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem).flatten() {
        if !trusted.iter().any(|t| t[..] == c[..]) {
            trusted.push(c.to_vec());
        }
    }
}

fn agent() -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let certs: Vec<Certificate<'static>> = TRUSTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|d| Certificate::from_der(d).to_owned())
        .collect();
    #[allow(deprecated)] // ring, as dais uses
    let ring = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .unversioned_rustls_crypto_provider(ring)
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        )
        .build()
        .into()
}

/// GET returning the status and JSON body (`null` when the body is not JSON).
pub fn get(url: &str) -> Result<(u16, serde_json::Value), ureq::Error> {
    let mut r = agent().get(url).call()?;
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    Ok((
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    ))
}

/// GET with `Authorization: Bearer token`: the status and body.
pub fn get_with_token(url: &str, token: &str) -> (u16, Vec<u8>) {
    let mut r = agent()
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("GET");
    let code = r.status().as_u16();
    (code, r.body_mut().read_to_vec().unwrap_or_default())
}

pub fn get_bytes(url: &str) -> (u16, Vec<u8>) {
    let mut r = agent().get(url).call().expect("GET");
    let code = r.status().as_u16();
    (code, r.body_mut().read_to_vec().unwrap_or_default())
}

/// Polls `f` until it returns `Some`, or panics with `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs the dais binary to completion with `args`.
pub fn dais(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DISPLAY")
        .output()
        .expect("run dais")
}

/// A REST API client: real HTTP with an optional bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            base: self.base.clone(),
            token: Some(token.to_string()),
        }
    }

    /// Gets a client_credentials token and returns an authorised client.
    pub fn login_client(&self, id: &str, secret: &str) -> Self {
        let (code, body) = self.form(
            "/oauth2/v1/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        );
        assert_eq!(code, 200, "token: {body}");
        self.with_token(body["access_token"].as_str().expect("access_token"))
    }

    pub fn form(&self, path: &str, pairs: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut r = agent()
            .post(format!("{}{}", self.base, path))
            .send_form(pairs.iter().copied())
            .expect("POST form");
        let code = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    fn finish(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, serde_json::Value) {
        let mut r = r.expect("HTTP request");
        let code = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        Self::finish(
            self.auth(agent().get(format!("{}{}", self.base, path)))
                .call(),
        )
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let mut r = self
            .auth(agent().get(format!("{}{}", self.base, path)))
            .call()
            .expect("GET");
        let code = r.status().as_u16();
        (code, r.body_mut().read_to_string().unwrap_or_default())
    }

    pub fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        Self::finish(
            self.auth(agent().delete(format!("{}{}", self.base, path)))
                .call(),
        )
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        Self::finish(
            self.auth(agent().post(format!("{}{}", self.base, path)))
                .header("Content-Type", "application/json")
                .send(body.to_string()),
        )
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
        Self::finish(
            self.auth(agent().post(format!("{}{}", self.base, path)))
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    pub fn put(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        Self::finish(
            self.auth(agent().put(format!("{}{}", self.base, path)))
                .header("Content-Type", "application/json")
                .send(body.to_string()),
        )
    }
}

pub fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("tests/data").join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The error fields a 400 names, sorted.
pub fn bad_fields(body: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = body["error"]["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The display snapshot's pixels: (width, height, RGB bytes).
pub fn display_rgb(d: &Dais) -> (usize, usize, Vec<u8>) {
    try_display_rgb(d).expect("GET /display/snapshot.png: 200 with a picture")
}

/// The display snapshot's pixels, or `None` while the display has shown
/// nothing yet (404): a test waiting for a picture keeps waiting.
pub fn try_display_rgb(d: &Dais) -> Option<(usize, usize, Vec<u8>)> {
    let (code, png) = d.get_bytes("/display/snapshot.png");
    if code == 404 {
        return None;
    }
    assert_eq!(code, 200);
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    Some((info.width as usize, info.height as usize, buf))
}

/// The colour at (fx, fy), fractions of the room display's width and height.
pub fn display_at(d: &Dais, fx: f64, fy: f64) -> (u8, u8, u8) {
    let (w, h, buf) = display_rgb(d);
    let (x, y) = ((w as f64 * fx) as usize, (h as f64 * fy) as usize);
    let o = (y.min(h - 1) * w + x.min(w - 1)) * 3;
    (buf[o], buf[o + 1], buf[o + 2])
}

/// The colour in the middle of the room display, from its PNG snapshot.
pub fn display_center(d: &Dais) -> (u8, u8, u8) {
    display_at(d, 0.5, 0.5)
}

/// Whether some tile of the room display shows `colour` (sampled on a
/// 6×6 grid of points, whatever the layout).
pub fn display_shows(d: &Dais, colour: (u8, u8, u8)) -> bool {
    let Some((w, h, buf)) = try_display_rgb(d) else {
        return false;
    };
    (0..36).any(|i| {
        let (x, y) = ((i % 6) * w / 6 + w / 12, (i / 6) * h / 6 + h / 12);
        let o = (y * w + x) * 3;
        near((buf[o], buf[o + 1], buf[o + 2]), colour, 50)
    })
}

/// What each far end's tile on the room display shows of a test card
/// sent at `sent` (width, height): the tile's id, and what its picture
/// reads back as (`None` when its counter does not read).
/// The picture is read where `/status` says the display draws it, and
/// brought back to the size it arrived at. Tiles whose picture has not
/// arrived yet are left out.
pub fn display_cards(
    d: &Dais,
    sent: (u32, u32),
) -> Vec<(String, Option<dais::media::testcard::ReadBack>)> {
    let tiles = d.status()["preview"]["displayTiles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some((w, h, rgb)) = try_display_rgb(d) else {
        return vec![];
    };
    let mut out = vec![];
    for t in tiles.iter().filter(|t| t["id"] != "self") {
        let n = |k: &str| t[k].as_i64().and_then(|v| u32::try_from(v).ok());
        let (Some(x), Some(y), Some(tw), Some(th), Some(pw), Some(ph)) = (
            n("x"),
            n("y"),
            n("width"),
            n("height"),
            n("pictureWidth"),
            n("pictureHeight"),
        ) else {
            continue;
        };
        assert_eq!(
            t["crop"],
            serde_json::json!([0, 0, 0, 0]),
            "letterboxed: {t}"
        );
        let (x, y) = (x as usize, y as usize);
        let (tw, th) = (tw as usize, th as usize);
        if tw == 0 || th == 0 || x + tw > w || y + th > h {
            continue;
        }
        let mut region = Vec::with_capacity(tw * th * 4);
        for row in y..y + th {
            for p in rgb[(row * w + x) * 3..(row * w + x + tw) * 3].chunks_exact(3) {
                region.extend_from_slice(&[p[0], p[1], p[2], 255]);
            }
        }
        let pic =
            dais::media::testcard::resample(&region, tw as u32, th as u32, tw as u32 * 4, pw, ph);
        let read = dais::media::testcard::read_back(&pic, pw, ph, pw * 4, sent);
        out.push((t["id"].as_str().unwrap_or_default().to_string(), read));
    }
    out
}

/// Whether two colours are within `tol` on every channel.
pub fn near(a: (u8, u8, u8), b: (u8, u8, u8), tol: i32) -> bool {
    (a.0 as i32 - b.0 as i32).abs() <= tol
        && (a.1 as i32 - b.1 as i32).abs() <= tol
        && (a.2 as i32 - b.2 as i32).abs() <= tol
}

/// Decodes %XX escapes (URL query values).
pub fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts dais on the virtual profile with the API client `crm` and
/// returns it signed in.
pub fn start_with_api(data: &Path) -> (Dais, Api) {
    let mut s = Start::new(data);
    s.extra = vec!["--api-client".into(), "crm:correct-horse-battery".into()];
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    (d, api)
}

impl Api {
    /// Creates a conference from `body` and starts it; returns its CID.
    pub fn running_conference(&self, body: &serde_json::Value) -> String {
        let (code, r) = self.post("/api/v3.11/conferences", body);
        assert_eq!(code, 200, "{r}");
        let cid = r["conference"]["id"].as_str().unwrap().to_string();
        let (code, r) = self.post(
            &format!("/api/v3.11/conferences/{cid}/run"),
            &serde_json::json!({}),
        );
        assert_eq!(code, 200, "{r}");
        cid
    }
}

/// The guest-link token inside a `web_url` (`...#...&token=T&...`), as it
/// appears there (still percent-encoded).
pub fn link_token(web_url: &str) -> String {
    web_url
        .split("token=")
        .nth(1)
        .and_then(|t| t.split('&').next())
        .unwrap_or_else(|| panic!("no token in {web_url}"))
        .to_string()
}

/// A room whose camera shows `pattern` at 640×360, 15 fps, with more
/// settings and command-line arguments; ready when this returns.
pub fn start_room(data: &Path, pattern: &str, extra_config: &str, extra: &[&str]) -> Dais {
    let mut d = Dais::start(room_start(data, pattern, extra_config, extra));
    d.wait_ready();
    d
}

/// What [`start_room`] starts, for a test that adds to it (environment).
pub fn room_start<'a>(
    data: &'a Path,
    pattern: &str,
    extra_config: &str,
    extra: &[&str],
) -> Start<'a> {
    let cfg = data.with_extension("toml");
    std::fs::write(
        &cfg,
        format!(
            "[camera]\npattern = \"{pattern}\"\nwidth = 640\nheight = 360\nframerate = 15\n{extra_config}"
        ),
    )
    .unwrap();
    let mut s = Start::new(data);
    s.config = Some(cfg);
    s.extra = extra.iter().map(|s| s.to_string()).collect();
    s
}

/// A request written out by hand, for what a client library decides by
/// itself: the address it comes from (any 127.0.0.0/8 address plays
/// another host on loopback), the `Host` it names, its header lines.
pub struct Raw<'a> {
    source: &'a str,
    method: &'a str,
    path: &'a str,
    host: Option<&'a str>,
    headers: String,
    body: &'a str,
}

impl<'a> Raw<'a> {
    pub fn get(path: &'a str) -> Self {
        Raw {
            source: "127.0.0.1",
            method: "GET",
            path,
            host: None,
            headers: String::new(),
            body: "",
        }
    }

    /// A POST of `body` as `content_type`.
    pub fn post(path: &'a str, content_type: &str, body: &'a str) -> Self {
        Raw {
            method: "POST",
            body,
            ..Raw::get(path)
        }
        .header("Content-Type", content_type)
    }

    /// A POST of `body` as `application/json`.
    pub fn post_json(path: &'a str, body: &'a str) -> Self {
        Raw {
            method: "POST",
            body,
            ..Raw::get(path)
        }
        .header("Content-Type", "application/json")
    }

    pub fn source(self, source: &'a str) -> Self {
        Raw { source, ..self }
    }

    /// The `Host` to name instead of dais's address.
    pub fn host(self, host: &'a str) -> Self {
        Raw {
            host: Some(host),
            ..self
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push_str(&format!("{name}: {value}\r\n"));
        self
    }
}

/// What dais answered a [`Raw`] request.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    /// The status line and headers, lowercased.
    pub head: String,
    pub body: String,
}

impl RawReply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// A header's value (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::trim)
        })
    }
}

impl Raw<'_> {
    /// The request as sent, naming `addr` as its Host unless told another.
    fn text(&self, addr: std::net::SocketAddr) -> String {
        let host = self.host.map_or_else(|| addr.to_string(), str::to_string);
        format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.method,
            self.path,
            self.headers,
            self.body.len(),
            self.body
        )
    }
}

impl RawReply {
    /// Parses a whole HTTP/1.1 answer.
    pub fn parse(out: &str) -> Self {
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {out:?}"));
        RawReply {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }
}

impl Dais {
    /// Sends `r` on a connection of its own and reads the whole answer.
    pub fn raw(&self, r: Raw<'_>) -> RawReply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr: std::net::SocketAddr = self.http.trim_start_matches("http://").parse().unwrap();
        let source: std::net::SocketAddr = format!("{}:0", r.source).parse().unwrap();
        let req = r.text(addr);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(source).unwrap();
            let mut s = sock.connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
                .await
                .expect("dais answers within 20 s")
                .unwrap();
            String::from_utf8_lossy(&out).to_string()
        });
        RawReply::parse(&out)
    }

    /// Sends `r` over TLS to the HTTPS listener as `server_name`, trusting
    /// what `tls` trusts; the answer and the certificates dais presented.
    pub fn https(
        &self,
        r: Raw<'_>,
        server_name: &str,
        tls: &std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<(RawReply, Vec<rustls::pki_types::CertificateDer<'static>>), String> {
        use std::io::{Read, Write};
        let addr = self.https.expect("dais runs with --https-listen");
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
        let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(r.text(addr).as_bytes())
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        match s.read_to_end(&mut out) {
            Ok(_) => {}
            // dais closes without close_notify after `Connection: close`
            // at times; what arrived is the whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
            Err(e) => return Err(e.to_string()),
        }
        let certs = s
            .conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Ok((RawReply::parse(&String::from_utf8_lossy(&out)), certs))
    }
}

/// TLS trusting only the CA in `ca_pem`, as an organisation that added a
/// room's device CA would.
pub fn trusting(ca_pem: &[u8]) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.expect("a PEM certificate"))
            .expect("a CA certificate");
    }
    #[allow(deprecated)] // ring, as dais uses
    let provider = rustls::crypto::ring::default_provider();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every connection a full handshake: a resumed session presents no
    // certificate, and tests look at the one served now.
    config.resumption = rustls::client::Resumption::disabled();
    std::sync::Arc::new(config)
}

/// A certificate's SHA-256 fingerprint as dais shows it (`AB:CD:...`).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An Argon2 hash of `secret` for settings (`dais config hash-secret`).
pub fn hash_secret(secret: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["config", "hash-secret"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dais config hash-secret");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `dais config check` on settings `text`: whether it passed, and what it
/// printed (the file's path shown as `local.toml`).
pub fn config_check(text: &str) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("local.toml");
    std::fs::write(&f, text).unwrap();
    let out = dais(&["config", "check", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).replace(f.to_str().unwrap(), "local.toml");
    (out.status.success(), err)
}

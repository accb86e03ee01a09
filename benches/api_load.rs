//! REST API load from a second process: many concurrent keep-alive
//! connections against the release `dais` on the virtual profile. Prints
//! requests per second and p50/p99 latency for GET conference and for
//! create conference.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const GET_CONNECTIONS: usize = 64;
const CREATE_CONNECTIONS: usize = 16;
const RUN_FOR: Duration = Duration::from_secs(5);

type Reader = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type Writer = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

struct Conn {
    r: BufReader<Reader>,
    w: Writer,
}

/// Where the load goes: plain HTTP, or HTTPS trusting the device CA.
#[derive(Clone)]
struct Target {
    addr: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Conn {
    async fn open(t: &Target) -> Self {
        let s = TcpStream::connect(&t.addr).await.expect("connect");
        s.set_nodelay(true).unwrap();
        match &t.tls {
            None => {
                let (r, w) = s.into_split();
                Self {
                    r: BufReader::new(Box::new(r)),
                    w: Box::new(w),
                }
            }
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let s = tls.connect(name, s).await.expect("TLS handshake");
                let (r, w) = tokio::io::split(s);
                Self {
                    r: BufReader::new(Box::new(r)),
                    w: Box::new(w),
                }
            }
        }
    }

    /// One request on the kept-alive connection; returns the status.
    async fn request(&mut self, method: &str, path: &str, token: &str, body: &str) -> u16 {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.w.write_all(req.as_bytes()).await.expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).await.expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).await.expect("body");
        status
    }
}

/// The plain and HTTPS addresses dais wrote, once it has.
fn endpoints(dir: &Path) -> Option<(String, Option<String>)> {
    let text = std::fs::read_to_string(dir.join("endpoints.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        v["http"].as_str()?.to_string(),
        v["https"].as_str().map(str::to_string),
    ))
}

/// TLS trusting only the device CA in `dir` (no session resumption: every
/// connection a full handshake, as a new browser's would be).
fn trusting(dir: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(dir.join("tls/ca.pem")).expect("the device CA");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)] // ring, as dais uses
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn drive(
    addr: Target,
    token: String,
    conns: usize,
    make: fn(usize, usize) -> (String, String, String),
) -> (usize, Vec<Duration>, usize) {
    let deadline = Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let addr = addr.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < deadline {
                let (m, p, b) = make(c, i);
                let t = Instant::now();
                let status = conn.request(&m, &p, &token, &b).await;
                lat.push(t.elapsed());
                if status != 200 {
                    errors += 1;
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort();
    (all.len(), all, errors)
}

/// A release dais on the virtual profile with the bench's API client,
/// HTTPS on or off; where to load it.
fn start(https: bool) -> (std::process::Child, tempfile::TempDir, Target) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/virtual.toml");
    let child = Command::new(env!("CARGO_BIN_EXE_dais"))
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            if https { "127.0.0.1:0" } else { "off" },
            "--control-listen",
            "127.0.0.1:0",
        ])
        .args(["--api-client", "bench:bench-secret-1"])
        .env_remove("DISPLAY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dais");
    let (plain, secure) = loop {
        if let Some(a) = endpoints(&data) {
            break a;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let target = match secure {
        Some(addr) if https => Target {
            addr,
            tls: Some(trusting(&data)),
        },
        _ => Target {
            addr: plain,
            tls: None,
        },
    };
    (child, tmp, target)
}

/// The bench client's access token, and its conference "bench".
async fn prepare(t: &Target) -> String {
    let body = "grant_type=client_credentials&client_id=bench&client_secret=bench-secret-1";
    let mut c = Conn::open(t).await;
    let req = format!(
        "POST /oauth2/v1/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.w.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = c.r.read_to_string(&mut out).await;
    let json = out.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let token = v["access_token"].as_str().unwrap().to_string();
    let mut c = Conn::open(t).await;
    let s = c
        .request(
            "POST",
            "/api/v3.11/conferences",
            &token,
            r#"{"id":"bench","topic":"Bench","owner":"bench","state":"running"}"#,
        )
        .await;
    assert_eq!(s, 200);
    token
}

fn get_conference(_: usize, _: usize) -> (String, String, String) {
    (
        "GET".into(),
        "/api/v3.11/conferences/bench".into(),
        String::new(),
    )
}

/// Full TLS handshakes per second from `conns` clients at once (each
/// connects, completes the handshake and closes).
async fn handshakes(t: &Target, conns: usize) -> (usize, Vec<Duration>) {
    let deadline = Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let c = Conn::open(&t).await;
                lat.push(start.elapsed());
                drop(c);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    (all.len(), all)
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"api".contains(&a))
    {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut child, _tmp, addr) = start(false);
    let token = rt.block_on(prepare(&addr));

    println!(
        "REST API under load (release dais, loopback, {}s per case, 2-core machine shared with the load generator)",
        RUN_FOR.as_secs()
    );
    let (n, lat, errors) = rt.block_on(drive(
        addr.clone(),
        token.clone(),
        GET_CONNECTIONS,
        get_conference,
    ));
    println!(
        "  GET conference     {GET_CONNECTIONS:>3} connections  {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {errors}  (HTTP)",
        n as f64 / RUN_FOR.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    // Creates are serialised (one write lock, one SQLite writer), so
    // latency grows with the queue: measure it alone and under contention.
    for conns in [1, 4, CREATE_CONNECTIONS] {
        let (n, lat, errors) = rt.block_on(drive(addr.clone(), token.clone(), conns, |c, i| {
            (
                "POST".into(),
                "/api/v3.11/conferences".into(),
                format!(r#"{{"topic":"Load {c}-{i}","owner":"bench","max_participants":10}}"#),
            )
        }));
        println!(
            "  create conference  {conns:>3} connections  {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {errors}",
            n as f64 / RUN_FOR.as_secs_f64(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();

    // The same GETs over HTTPS (kept-alive connections: the handshake once
    // per connection), then what handshakes themselves cost.
    let (mut child, _tmp, secure) = start(true);
    let token = rt.block_on(prepare(&secure));
    let (n, lat, errors) = rt.block_on(drive(
        secure.clone(),
        token.clone(),
        GET_CONNECTIONS,
        get_conference,
    ));
    println!(
        "  GET conference     {GET_CONNECTIONS:>3} connections  {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {errors}  (HTTPS, TLS 1.3, ECDSA P-256 device certificate)",
        n as f64 / RUN_FOR.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    for conns in [1, 8] {
        let (n, lat) = rt.block_on(handshakes(&secure, conns));
        println!(
            "  TLS handshake      {conns:>3} clients      {:>8.0} /s      p50 {:>6.2} ms   p99 {:>6.2} ms   (connect, full handshake, close)",
            n as f64 / RUN_FOR.as_secs_f64(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

//! Control network load: 100 concurrent controller connections on the TCP
//! line protocol and on the WebSocket API against the release `dais`.
//! Each connection authenticates, then sends commands back to back
//! (alternating `setVolume` and `getAppState`); prints commands per second
//! and p50/p99 latency per transport.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 100;
const RUN_FOR: Duration = Duration::from_secs(5);
const PIN: &str = "2468";

fn endpoints(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join("endpoints.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        v["http"].as_str()?.to_string(),
        v["control"].as_str()?.to_string(),
    ))
}

fn request(i: usize) -> String {
    if i.is_multiple_of(2) {
        format!(
            r#"{{"method":"setVolume","volume":{},"requestId":{i}}}"#,
            i % 100
        )
    } else {
        format!(r#"{{"method":"getAppState","requestId":{i}}}"#)
    }
}

fn tcp_worker(addr: String, deadline: Instant) -> (Vec<Duration>, usize) {
    let s = TcpStream::connect(&addr).expect("connect");
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = String::new();
    writeln!(w, r#"{{"method":"auth","credentials":"{PIN}"}}"#).unwrap();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":true"), "auth: {line}");
    let (mut lat, mut errors, mut i) = (Vec::new(), 0, 0);
    while Instant::now() < deadline {
        let t = Instant::now();
        writeln!(w, "{}", request(i)).unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if !line.contains("\"event\"") {
                break;
            }
        }
        lat.push(t.elapsed());
        if !line.contains("\"ok\":true") {
            errors += 1;
        }
        i += 1;
    }
    (lat, errors)
}

fn ws_worker(http: String, deadline: Instant) -> (Vec<Duration>, usize) {
    let addr = http.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/control/ws"), stream).unwrap();
    let recv = |ws: &mut tungstenite::WebSocket<TcpStream>| loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            let s = t.as_str().to_string();
            if !s.contains("\"event\"") {
                return s;
            }
        }
    };
    ws.send(tungstenite::Message::Text(
        format!(r#"{{"method":"auth","credentials":"{PIN}"}}"#).into(),
    ))
    .unwrap();
    assert!(recv(&mut ws).contains("\"ok\":true"));
    let (mut lat, mut errors, mut i) = (Vec::new(), 0, 0);
    while Instant::now() < deadline {
        let t = Instant::now();
        ws.send(tungstenite::Message::Text(request(i).into()))
            .unwrap();
        let reply = recv(&mut ws);
        lat.push(t.elapsed());
        if !reply.contains("\"ok\":true") {
            errors += 1;
        }
        i += 1;
    }
    (lat, errors)
}

fn report(name: &str, results: Vec<(Vec<Duration>, usize)>) {
    let errors: usize = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    let p = |q: f64| all[((all.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "  {name:<10} {CONNECTIONS} connections  {:>8.0} commands/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {errors}",
        all.len() as f64 / RUN_FOR.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"control".contains(&a))
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("bench.toml");
    // The per-connection rate limit and the per-address cap protect rooms;
    // the bench measures dais, all its connections from one address.
    std::fs::write(
        &cfg,
        "[control]\nrate_limit = 10000\nmax_connections = 500\nmax_connections_per_address = 500\n",
    )
    .unwrap();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/virtual.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dais"))
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            "off",
            "--control-listen",
            "127.0.0.1:0",
            "--control-pin",
            PIN,
        ])
        .env_remove("DISPLAY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dais");
    let (http, control) = loop {
        if let Some(e) = endpoints(&data) {
            break e;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "Control network under load (release dais, loopback, {}s per transport)",
        RUN_FOR.as_secs()
    );
    let deadline = Instant::now() + RUN_FOR;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let a = control.clone();
            std::thread::spawn(move || tcp_worker(a, deadline))
        })
        .collect();
    report(
        "TCP",
        workers.into_iter().map(|w| w.join().unwrap()).collect(),
    );
    let deadline = Instant::now() + RUN_FOR;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let h = http.clone();
            std::thread::spawn(move || ws_worker(h, deadline))
        })
        .collect();
    report(
        "WebSocket",
        workers.into_iter().map(|w| w.join().unwrap()).collect(),
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

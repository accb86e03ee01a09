//! Time from process start to `/readyz` answering 200, and from SIGTERM to
//! exit, on the virtual profile. Prints median, min and max of several runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn readyz(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn endpoints(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("endpoints.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["http"].as_str().map(str::to_string)
}

fn one_run(profile: &Path) -> (Duration, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dais"))
        .arg("run")
        .arg("--profile")
        .arg(profile)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .env_remove("DISPLAY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dais");
    let addr = loop {
        if let Some(a) = endpoints(&data) {
            break a;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "dais exited during start"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    while !readyz(&addr) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let ready = t0.elapsed();
    let t1 = Instant::now();
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success());
    (ready, t1.elapsed())
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[0].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    )
}

fn main() {
    // `cargo bench` passes --bench; a filter argument that is not ours
    // means another bench was asked for.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"startup".contains(&a))
    {
        return;
    }
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/virtual.toml");
    let _warm = one_run(&profile);
    let mut ready = Vec::new();
    let mut stop = Vec::new();
    for _ in 0..RUNS {
        let (r, s) = one_run(&profile);
        ready.push(r);
        stop.push(s);
    }
    println!("startup (virtual profile, {RUNS} runs after one warm-up)");
    println!("  process start -> /readyz 200   {}", stats(ready));
    println!("  SIGTERM -> exit 0               {}", stats(stop));
}

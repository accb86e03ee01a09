//! Time from process start to `/readyz` answering 200, and from SIGTERM to
//! exit, on the virtual profile (median, min and max of several runs), and
//! the CPU an idle dais uses there: no conference and no call, its room
//! pipeline, panel and display running.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
/// How long an idle dais runs past /readyz before its CPU is measured, and
/// for how long it is measured (under `cargo bench`; `cargo test` runs the
/// bench once as a smoke test, with 1 s and 2 s).
const IDLE_SETTLE: Duration = Duration::from_secs(5);
const IDLE_SECS: Duration = Duration::from_secs(20);

fn readyz(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
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

/// Starts dais with its data in `data` and returns it once /readyz answers
/// 200.
fn start(profile: &Path, data: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dais"))
        .arg("run")
        .arg("--profile")
        .arg(profile)
        .arg("--data-dir")
        .arg(data)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            "off",
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
        if let Some(a) = endpoints(data) {
            break a;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "dais exited during start"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    while !readyz(&addr) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "dais exited before /readyz"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

fn one_run(profile: &Path) -> (Duration, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = Instant::now();
    let mut child = start(profile, &data);
    let ready = t0.elapsed();
    let t1 = Instant::now();
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success());
    (ready, t1.elapsed())
}

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
/// Panics, naming the file and field, when it cannot be read: a figure of
/// zero would pass for an idle process.
fn cpu_seconds(pid: u32) -> f64 {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let ticks = dais::process::parse_stat(&path, &stat)
        .unwrap_or_else(|e| panic!("{e}"))
        .ticks;
    ticks as f64 / dais::process::ticks_per_second() as f64
}

/// An idle dais on the virtual profile (no conference, no call, its room
/// pipeline, panel and display running): cores used over `secs`, after
/// `settle` of warm-up past /readyz.
fn idle_cpu(profile: &Path, settle: Duration, secs: Duration) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = start(profile, &data);
    std::thread::sleep(settle);
    let (c0, t0) = (cpu_seconds(child.id()), Instant::now());
    std::thread::sleep(secs);
    let (c1, wall) = (cpu_seconds(child.id()), t0.elapsed());
    assert!(
        child.try_wait().unwrap().is_none(),
        "dais exited while idle"
    );
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    (c1 - c0) / wall.as_secs_f64()
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
    let (settle, secs) = if std::env::args().any(|a| a == "--bench") {
        (IDLE_SETTLE, IDLE_SECS)
    } else {
        (Duration::from_secs(1), Duration::from_secs(2))
    };
    let idle = idle_cpu(&profile, settle, secs);
    println!(
        "  idle CPU over {} s, {} s after /readyz   {:.3} cores ({:.1}% of one core)",
        secs.as_secs(),
        settle.as_secs(),
        idle,
        idle * 100.0
    );
}

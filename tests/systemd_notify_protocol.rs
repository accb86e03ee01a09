//! Under systemd (`Type=notify`, `WatchdogSec`), dais reports READY=1 once
//! ready, pings the watchdog, and says STOPPING=1 on SIGTERM. The test plays
//! systemd's part with a real notify socket.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{Dais, Start};

fn next_message(sock: &UnixDatagram, want: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let hit = msg.lines().any(|l| l == want);
            seen.push(msg);
            if hit {
                return seen;
            }
        }
    }
    panic!("no {want} within {limit:?}; got {seen:?}");
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    // SAFETY: set before the child is spawned; this test binary's other
    // tests do not read these variables.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &sock_path);
        std::env::set_var("WATCHDOG_USEC", "1000000");
    }
    let data = tmp.path().join("data");
    let mut d = Dais::start(Start::new(&data));
    unsafe {
        std::env::remove_var("NOTIFY_SOCKET");
        std::env::remove_var("WATCHDOG_USEC");
    }

    let msgs = next_message(&sock, "READY=1", Duration::from_secs(60));
    let ready = msgs.last().unwrap();
    assert!(
        ready.contains("STATUS=ready: API http://127.0.0.1:"),
        "{ready}"
    );
    // READY=1 comes only once /readyz agrees.
    assert_eq!(common::get(&d.url("/readyz")).unwrap().0, 200);

    // Half of WatchdogSec: a ping at least every 0.5 s.
    next_message(&sock, "WATCHDOG=1", Duration::from_secs(3));
    next_message(&sock, "WATCHDOG=1", Duration::from_secs(3));

    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    next_message(&sock, "STOPPING=1", Duration::from_secs(5));
    let status = d.child.wait().unwrap();
    assert!(status.success());
}

//! Join time in a conference on the room's own dais (release build): from
//! the start of signalling to the first remote video frame decoded, for the
//! room (a `trueconf:\c\CID` line on the control port; a browser guest is
//! already in and sending) and for a browser guest (headless Chromium
//! pressing Join; the room is in and sending). Prints median, min and max
//! over several joins.

#[path = "../tests/common/browser.rs"]
mod browser;
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use browser::{Browser, Fake};
use common::{Api, Dais, Start};
use serde_json::json;

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms (min {:.0}, max {:.0}, {} joins)",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        v.len()
    )
}

fn remote_frames(d: &Dais) -> u64 {
    d.status()["preview"]["remoteFramesDecoded"]
        .as_u64()
        .unwrap_or(0)
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"conference_join".contains(&a))
    {
        return;
    }
    // `cargo bench` measures; `cargo test --all-targets` only checks that
    // the bench still runs (two joins each).
    let joins = if std::env::args().any(|a| a == "--bench") {
        7
    } else {
        2
    };
    // SAFETY: set before any thread of ours reads the environment.
    unsafe { std::env::set_var("DAIS_TEST_LOG", "warn") };
    let (room, guest) = joins_on(false, joins);
    let (room_tls, guest_tls) = joins_on(true, joins);
    println!(
        "conference join (signalling start → first remote frame decoded), room on its own dais:"
    );
    println!(
        "  room (trueconf:\\c\\CID on the control port), ws:   {}",
        stats(room)
    );
    println!(
        "  room, wss (its own certificate pinned):          {}",
        stats(room_tls)
    );
    println!(
        "  browser guest (Chromium, Join pressed), http/ws: {}",
        stats(guest)
    );
    println!(
        "  browser guest, https/wss (device CA trusted):    {}",
        stats(guest_tls)
    );
}

/// The room's and a browser guest's join times on a dais serving HTTP or
/// HTTPS.
fn joins_on(https: bool, joins: usize) -> (Vec<f64>, Vec<f64>) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Start::new(&data);
    s.extra = vec!["--api-client".into(), "bench:bench-secret-1".into()];
    if https {
        s.extra
            .extend(["--https-listen".into(), "127.0.0.1:0".into()]);
    }
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = Api::new(&d.base()).login_client("bench", "bench-secret-1");
    let (_, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Bench", "owner": "room", "type": 0, "max_participants": 10, "allow_guests": true}),
    );
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    api.post(&format!("/api/v3.11/conferences/{cid}/run"), &json!({}));
    let mut control = d.control();

    // A browser guest in the conference, sending.
    let b = if https {
        let ca = std::fs::read(data.join("tls/ca.pem")).expect("the device CA");
        Browser::launch_trusting(&ca, Fake::new((0, 200, 0)))
    } else {
        Browser::launch(Fake::new((0, 200, 0)))
    };
    let mut page = b.page();
    let url = d.url(&format!("/webrtc/{cid}?name=Guest&autojoin=1"));
    page.goto(&url);
    page.wait(Duration::from_secs(30), "the guest in", |p| {
        (p.eval("window.dais.state.phase") == "admitted").then_some(())
    });

    // The room joins, again and again.
    let mut room = Vec::new();
    for _ in 0..joins {
        let before = remote_frames(&d);
        let t0 = Instant::now();
        let r = control.send_line(&format!("trueconf:\\c\\{cid}"));
        assert_eq!(r["ok"], true, "{r}");
        loop {
            if remote_frames(&d) > before {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "no frame");
            std::thread::sleep(Duration::from_millis(5));
        }
        room.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(control.call(json!({"method": "hangUp"}))["ok"], true);
        std::thread::sleep(Duration::from_millis(500));
    }

    // The room stays in; the browser joins, again and again.
    let r = control.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");
    let lobby = d.url(&format!("/webrtc/{cid}?name=Guest"));
    let mut guest = Vec::new();
    for _ in 0..joins {
        page.goto(&lobby);
        page.wait(Duration::from_secs(20), "the lobby's devices", |p| {
            (p.eval("!!document.getElementById('preview').srcObject") == true).then_some(())
        });
        let ms = page.eval(
            "(async () => {
               const t0 = performance.now();
               window.dais.join();
               for (;;) {
                 const s = await window.dais.stats();
                 if (Object.values(s.video).some(v => v.framesDecoded > 0)) return performance.now() - t0;
                 await new Promise(r => setTimeout(r, 5));
               }
             })()",
        );
        guest.push(ms.as_f64().unwrap());
    }

    drop(b);
    d.terminate(Duration::from_secs(5));
    (room, guest)
}

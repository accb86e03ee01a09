//! The foundation's promise: dais starts on the virtual profile, becomes
//! ready, shows live frames, stops on SIGTERM in time, and starts again on
//! the same store without re-applying migrations.

mod common;

use std::time::Duration;

use common::{Dais, Start, eventually, get, get_bytes};

fn frames(d: &Dais) -> u64 {
    d.status()["preview"]["framesDisplayed"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn boots_shows_frames_stops_and_restarts_on_the_same_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let mut d = Dais::start(Start::new(&data));
    d.wait_ready();

    let (code, body) = get(&d.url("/healthz")).unwrap();
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));

    let st = d.status();
    assert_eq!(st["state"]["activity"], "idle", "{st}");
    assert_eq!(st["state"]["preview"]["state"], "playing", "{st}");
    assert_eq!(st["state"]["profile"], "virtual");
    // A new store gets every migration, in order.
    let latest = st["store"]["schemaVersion"].as_u64().unwrap();
    let all: Vec<u64> = (1..=latest).collect();
    assert_eq!(
        st["store"]["migrationsAppliedThisStart"],
        serde_json::json!(all)
    );
    assert_eq!(st["store"]["boot"]["count"], 1);
    assert!(st["store"]["boot"]["previousClean"].is_null());

    // The preview is live: frames keep arriving at the display sink and
    // the panel shows them.
    let first = frames(&d);
    eventually(
        Duration::from_secs(20),
        "display frames to keep coming",
        || (frames(&d) > first + 15).then_some(()),
    );
    eventually(
        Duration::from_secs(20),
        "the panel to show preview frames",
        || {
            let p = &d.status()["panel"];
            (p["previewFramesShown"].as_u64().unwrap_or(0) > 3
                && p["framesRendered"].as_u64().unwrap_or(0) > 0)
                .then_some(())
        },
    );

    // What shows the room answers only a token: without one, or with a
    // wrong one, 401 naming where to get one; the health probes answer
    // anyone.
    for path in [
        "/status",
        "/metrics",
        "/panel/screenshot.png",
        "/display/snapshot.png",
    ] {
        let (code, body) = get_bytes(&d.url(path));
        assert_eq!(code, 401, "{path} without a token");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("Bearer"), "{path}: {body}");
        let (code, _) = common::get_with_token(&d.url(path), "0123456789abcdef");
        assert_eq!(code, 401, "{path} with a made-up token");
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get_bytes(&d.url(path)).0, 200, "{path}");
    }

    // The metrics endpoint reports the same counter.
    let (code, body) = d.get_bytes("/metrics");
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("dais_up 1"), "{text}");
    assert!(
        text.contains("dais_preview_frames_displayed_total "),
        "{text}"
    );

    // The panel draws a real picture (headless renderer).
    let (code, png) = d.get_bytes("/panel/screenshot.png");
    assert_eq!(code, 200);
    assert_eq!(&png[1..4], b"PNG");

    let status = d.terminate(Duration::from_secs(5));
    let status =
        status.unwrap_or_else(|| panic!("no exit within 5 s of SIGTERM:\n{}", d.log_text()));
    assert!(status.success(), "exit {status}:\n{}", d.log_text());
    assert!(
        !data.join("endpoints.json").exists(),
        "a clean stop removes the endpoints file"
    );
    drop(d);

    // Second start: same database, nothing re-applied, the clean stop seen.
    let mut d = Dais::start(Start::new(&data));
    d.wait_ready();
    let st = d.status();
    assert_eq!(
        st["store"]["migrationsAppliedThisStart"],
        serde_json::json!([])
    );
    assert_eq!(st["store"]["created"], false);
    assert_eq!(st["store"]["boot"]["count"], 2);
    assert_eq!(st["store"]["boot"]["previousClean"], true);
    let status = d
        .terminate(Duration::from_secs(5))
        .expect("exit within 5 s");
    assert!(status.success());
}

#[test]
fn a_killed_run_is_reported_as_unclean_on_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut d = Dais::start(Start::new(&data));
    d.wait_ready();
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    drop(d);

    let mut d = Dais::start(Start::new(&data));
    d.wait_ready();
    assert_eq!(d.status()["store"]["boot"]["previousClean"], false);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn a_second_dais_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut d = Dais::start(Start::new(&data));
    d.wait_ready();
    let out = common::run_command(&Start::new(&data)).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another dais is already running"), "{err}");
    // The first one is unaffected.
    assert_eq!(get(&d.url("/readyz")).unwrap().0, 200);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn a_scraper_reads_metrics_with_its_token_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let scrape = "prometheus-scrape-token-7f3a";
    let config = tmp.path().join("dais.toml");
    std::fs::write(&config, format!("[http]\nmetrics_token = \"{scrape}\"\n")).unwrap();
    let mut s = Start::new(&data);
    s.config = Some(config);
    let mut d = Dais::start(s);
    d.wait_ready();
    let (code, body) = common::get_with_token(&d.url("/metrics"), scrape);
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("dais_up 1"));
    // The scrape token shows the counters only, not the room.
    for path in ["/status", "/display/snapshot.png", "/panel/screenshot.png"] {
        assert_eq!(
            common::get_with_token(&d.url(path), scrape).0,
            401,
            "{path}"
        );
    }
    assert_eq!(
        common::get_with_token(&d.url("/metrics"), &scrape[..scrape.len() - 1]).0,
        401
    );
    // A short one is refused at start-up, with its key.
    let (ok, err) = common::config_check("[http]\nmetrics_token = \"short\"\n");
    assert!(!ok, "{err}");
    assert!(err.contains("local.toml:2: http.metrics_token"), "{err}");
}

//! A room controller puts the room in standby and wakes it over the TCP
//! line protocol; the camera pipeline really stops and restarts.

mod common;

use std::time::Duration;

use common::{Dais, Start, display_center, eventually};
use serde_json::json;

#[test]
fn standby_stops_frames_and_wake_brings_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Dais::start(Start::new(&tmp.path().join("data")));
    d.wait_ready();
    let mut c = d.control();

    let r = c.call(json!({"method": "getAppState", "requestId": "a1"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["requestId"], "a1");
    assert_eq!(r["result"]["activity"], "idle");

    let r = c.call(json!({"method": "standby", "requestId": 2}));
    assert_eq!(r, json!({"ok": true, "requestId": 2}));
    eventually(Duration::from_secs(10), "preview to reach standby", || {
        (d.status()["state"]["preview"]["state"] == "standby").then_some(())
    });
    // In standby the camera is released and the display goes dark.
    eventually(Duration::from_secs(10), "a dark display", || {
        let (r, g, b) = display_center(&d);
        (r < 16 && g < 16 && b < 16).then_some(())
    });
    let frames = || d.status()["preview"]["framesDisplayed"].as_u64().unwrap();
    let before = frames();
    // Standby still counts as ready: the room is healthy, just asleep.
    assert_eq!(common::get(&d.url("/readyz")).unwrap().0, 200);

    let r = c.call(json!({"method": "getAppState"}));
    assert_eq!(r["result"]["activity"], "standby");

    let r = c.call(json!({"method": "wake"}));
    assert_eq!(r["ok"], true);
    eventually(Duration::from_secs(10), "frames after wake", || {
        (frames() > before + 5).then_some(())
    });
    eventually(Duration::from_secs(10), "the camera's picture back", || {
        let (r, g, b) = display_center(&d);
        (r > 40 || g > 40 || b > 40).then_some(())
    });
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn bad_requests_get_errors_and_the_connection_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Dais::start(Start::new(&tmp.path().join("data")));
    d.wait_ready();
    let mut c = d.control();
    let mut other = d.control();

    let r = c.send_line("{this is not json");
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "badRequest");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("column"),
        "{r}"
    );

    let r = c.call(json!({"method": "launchMissiles", "requestId": 9}));
    assert_eq!(r["ok"], false);
    assert_eq!(r["requestId"], 9);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("launchMissiles")
    );

    let long = "x".repeat(70_000);
    let r = c.send_line(&long);
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than")
    );

    // Both connections still work.
    assert_eq!(c.call(json!({"method": "getAppState"}))["ok"], true);
    assert_eq!(
        other.call(json!({"method": "getHardware"}))["result"]["camera"]["kind"],
        "test"
    );
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

//! Pages from other sites cannot use dais through a browser on the room's
//! network: the control WebSocket, `POST /control` and the participants'
//! signalling refuse an `Origin` that is neither dais's own nor listed in
//! `http.allowed_origins`, and `POST /control` takes JSON only. Room
//! controllers, which send no `Origin`, and dais's own pages go on working.
//! A request for a name dais does not answer to (DNS rebinding) is refused
//! outright, unless the name is in `http.allowed_hosts`.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{Dais, PIN, Raw, Start};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;

/// Upgrades `path` with `origin` (if any): `Ok(())` on 101, else the
/// status and body of the refusal.
fn upgrade(d: &Dais, path: &str, origin: Option<&str>) -> Result<(), (u16, String)> {
    upgrade_as(d, path, None, origin)
}

/// `upgrade`, with the request naming `host` instead of dais's address.
fn upgrade_as(
    d: &Dais,
    path: &str,
    host: Option<&str>,
    origin: Option<&str>,
) -> Result<(), (u16, String)> {
    let addr = d.http.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    if let Some(h) = host {
        req.headers_mut().insert("Host", h.parse().unwrap());
    }
    match tungstenite::client(req, stream) {
        Ok(_) => Ok(()),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            let body = r
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            Err((r.status().as_u16(), body))
        }
        Err(e) => panic!("upgrade {path}: {e}"),
    }
}

/// `POST /control` with `content_type` and `origin` (if any).
fn post_control(d: &Dais, content_type: &str, origin: Option<&str>, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = agent
        .post(format!("{}/control", d.http))
        .header("Content-Type", content_type);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let mut r = req.send(body.to_string()).unwrap();
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn start(data: &std::path::Path, config: Option<&str>) -> Dais {
    let mut s = Start::new(data);
    if let Some(c) = config {
        let f = data.with_extension("toml");
        std::fs::write(&f, c).unwrap();
        s.config = Some(f);
    }
    let mut d = Dais::start(s);
    d.wait_ready();
    d
}

#[test]
fn another_sites_page_is_refused_and_controllers_and_own_pages_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), None);
    let own = d.http.clone();
    let attacker = "http://attacker.invalid";
    for path in ["/control/ws", "/webrtc/signalling/ws"] {
        // Another site's page: refused before any WebSocket exists, with
        // the way to allow it named.
        let (code, body) = upgrade(&d, path, Some(attacker)).unwrap_err();
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body.contains("http.allowed_origins"), "{path}: {body}");
        // A rebinding-style mismatch (same host, other port) too.
        let other_port = format!("{own}1");
        assert_eq!(upgrade(&d, path, Some(&other_port)).unwrap_err().0, 403);
        // A controller (no Origin) and dais's own page connect.
        upgrade(&d, path, None).unwrap_or_else(|e| panic!("{path} without Origin: {e:?}"));
        upgrade(&d, path, Some(&own)).unwrap_or_else(|e| panic!("{path} from {own}: {e:?}"));
    }

    let auth = json!({"method": "auth", "credentials": PIN});
    // POST /control: JSON only, so a page elsewhere cannot send it as a
    // simple form post; each refusal says why and spends no PIN attempt.
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let (code, body) = post_control(&d, ct, None, &auth);
        assert_eq!(code, 415, "{ct}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("application/json"),
            "{body}"
        );
    }
    let (code, body) = post_control(&d, "application/json", Some(attacker), &auth);
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    // The controller and dais's own page are served.
    let (code, body) = post_control(&d, "application/json; charset=utf-8", None, &auth);
    assert_eq!((code, body["ok"].as_bool()), (200, Some(true)), "{body}");
    let (code, body) = post_control(&d, "application/json", Some(&own), &auth);
    assert_eq!((code, body["ok"].as_bool()), (200, Some(true)), "{body}");
}

#[test]
fn a_listed_origin_may_use_dais_and_a_bad_one_stops_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let panel = "https://panel.corp.example:8443";
    let d = start(
        &tmp.path().join("data"),
        Some(&format!("[http]\nallowed_origins = [\"{panel}\"]\n")),
    );
    for path in ["/control/ws", "/webrtc/signalling/ws"] {
        upgrade(&d, path, Some(panel)).unwrap_or_else(|e| panic!("{path} from {panel}: {e:?}"));
        assert_eq!(
            upgrade(&d, path, Some("https://panel.corp.example"))
                .unwrap_err()
                .0,
            403,
            "{path}: another port is another origin"
        );
    }
    let (code, body) = post_control(
        &d,
        "application/json",
        Some(panel),
        &json!({"method": "auth", "credentials": PIN}),
    );
    assert_eq!((code, body["ok"].as_bool()), (200, Some(true)), "{body}");

    let (ok, err) = common::config_check("[http]\nallowed_origins = [\"panel.corp.example\"]\n");
    assert!(!ok, "{err}");
    assert!(err.contains("http.allowed_origins[0]"), "{err}");
    assert!(err.contains("panel.corp.example"), "{err}");
}

#[test]
fn a_page_reached_through_dns_rebinding_gets_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), None);
    let port = d.http.rsplit(':').next().unwrap().to_string();
    // attacker.example made to resolve to the room: to the browser the
    // page is same-origin with dais, so Origin and Host agree.
    let rebound = format!("rebound.attacker.example:{port}");
    let page = format!("http://{rebound}");
    for path in ["/control/ws", "/webrtc/signalling/ws"] {
        let (code, body) = upgrade_as(&d, path, Some(&rebound), Some(&page)).unwrap_err();
        assert_eq!(code, 421, "{path}: {body}");
        assert!(body.contains("http.allowed_hosts"), "{path}: {body}");
    }
    for path in [
        "/status",
        "/metrics",
        "/webrtc/5001",
        "/api/v3.11/conferences",
        "/display/snapshot.png",
    ] {
        let r = d.raw(Raw::get(path).host(&rebound));
        let (code, body) = (r.status, r.body);
        assert_eq!(code, 421, "{path}: {body}");
        assert!(body.contains("rebound.attacker.example"), "{path}: {body}");
    }
    let post = Raw::post_json("/control", "{}")
        .host(&rebound)
        .header("Origin", &page);
    assert_eq!(d.raw(post).status, 421);
    // Health probes answer any name; dais's addresses and localhost are
    // its own names.
    assert_eq!(d.raw(Raw::get("/healthz").host(&rebound)).status, 200);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = d.raw(Raw::get("/webrtc/5001").host(&host));
        let (code, body) = (r.status, r.body);
        assert_eq!(code, 200, "{host}: {body}");
    }
    let host = format!("localhost:{port}");
    upgrade_as(
        &d,
        "/control/ws",
        Some(&host),
        Some(&format!("http://{host}")),
    )
    .unwrap_or_else(|e| panic!("own page at {host}: {e:?}"));
}

#[test]
fn a_listed_name_reaches_dais_and_a_bad_one_stops_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(
        &tmp.path().join("data"),
        Some("[http]\nallowed_hosts = [\"*.rooms.corp.example\"]\n"),
    );
    let port = d.http.rsplit(':').next().unwrap().to_string();
    let named = format!("room-12.rooms.corp.example:{port}");
    let r = d.raw(Raw::get("/webrtc/5001").host(&named));
    let (code, body) = (r.status, r.body);
    assert_eq!(code, 200, "{body}");
    for path in ["/control/ws", "/webrtc/signalling/ws"] {
        upgrade_as(&d, path, Some(&named), Some(&format!("http://{named}")))
            .unwrap_or_else(|e| panic!("{path} as {named}: {e:?}"));
    }
    let other = format!("rooms.corp.example:{port}");
    let code = d.raw(Raw::get("/status").host(&other)).status;
    assert_eq!(code, 421, "the domain itself is not under it");

    let (ok, err) = common::config_check("[http]\nallowed_hosts = [\"https://room-12:8080\"]\n");
    assert!(!ok, "{err}");
    assert!(err.contains("http.allowed_hosts[0]"), "{err}");
    assert!(err.contains("https://room-12:8080"), "{err}");
}

#[test]
fn pages_served_through_a_tls_proxy_at_the_public_url_are_dais_own() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(
        &tmp.path().join("data"),
        Some("[server]\npublic_url = \"https://rooms.corp.example\"\n"),
    );
    // The proxy passes the browser's Host on; the page's origin is https.
    let host = "rooms.corp.example";
    for path in ["/control/ws", "/webrtc/signalling/ws"] {
        upgrade_as(&d, path, Some(host), Some("https://rooms.corp.example"))
            .unwrap_or_else(|e| panic!("{path} through the proxy: {e:?}"));
        // The same name on another port is another site's page.
        let (code, body) = upgrade_as(
            &d,
            path,
            Some(host),
            Some("https://rooms.corp.example:8443"),
        )
        .unwrap_err();
        assert_eq!(code, 403, "{path}: {body}");
    }
    assert_eq!(d.raw(Raw::get("/webrtc/5001").host(host)).status, 200);
    assert_eq!(d.raw(Raw::get("/status").host("corp.example")).status, 421);
}

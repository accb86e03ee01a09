//! Two dais appliances on loopback: the room on one joins a conference
//! hosted on the other with `trueconf:\c\CID@host%23vcs` sent on its control
//! port, signing in with the other dais's API-client credentials; each
//! room's display then shows the other's camera.

mod common;

use std::time::Duration;

use common::{Api, Dais, display_shows, eventually, start_room};
use serde_json::json;

const RED: (u8, u8, u8) = (255, 0, 0);
const BLUE: (u8, u8, u8) = (0, 0, 255);

#[test]
fn a_room_joins_a_conference_on_another_dais_by_cid_and_host() {
    let tmp = tempfile::tempdir().unwrap();
    // The host: a blue room with an API client for its neighbours.
    let host = start_room(
        &tmp.path().join("host"),
        "blue",
        "",
        &[
            "--api-client",
            "boardroom:s3cret-s3cret",
            "--api-client",
            "crm:correct-horse-battery",
        ],
    );
    let api = Api::new(&host.http).login_client("crm", "correct-horse-battery");
    let (code, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Two sites", "owner": "room", "type": 0, "max_participants": 5}),
    );
    assert_eq!(code, 200, "{r}");
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    let (code, r) = api.post(&format!("/api/v3.11/conferences/{cid}/run"), &json!({}));
    assert_eq!(code, 200, "{r}");
    let mut hc = host.control();
    let r = hc.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");

    // The visitor: a red room that knows the host's credentials. It has no
    // CA certificates (an image without a trust store): plain http works.
    let host_addr = host.http.trim_start_matches("http://").to_string();
    let empty = tmp.path().join("no-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let visitor_dir = tmp.path().join("visitor");
    let mut start = common::room_start(
        &visitor_dir,
        "red",
        &format!(
            "[[conference.servers]]\nhost = \"{host_addr}\"\nscheme = \"http\"\nclient_id = \"boardroom\"\nclient_secret = \"s3cret-s3cret\"\n"
        ),
        &[],
    );
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        start
            .env
            .push((var.into(), empty.join("none").display().to_string()));
    }
    let mut visitor = Dais::start(start);
    visitor.wait_ready();
    let mut vc = visitor.control();

    // A conference that does not exist there is a clear "not found".
    let r = vc.send_line(&format!("trueconf:\\c\\0000000000@{host_addr}%23vcs"));
    assert_eq!(r["error"]["code"], "notFound", "{r}");

    let r = vc.send_line(&format!("trueconf:\\c\\{cid}@{host_addr}%23vcs"));
    assert_eq!(r["ok"], true, "{r}");
    let st = vc.call(json!({"method": "getAppState"}));
    assert_eq!(st["result"]["activity"], "conference", "{st}");
    assert_eq!(st["result"]["conference"]["server"], host_addr.as_str());
    // It did go without a trust store.
    assert!(
        visitor.log_text().contains("no trusted CA certificates"),
        "{}",
        visitor.log_text()
    );

    // Both rooms see each other.
    eventually(
        Duration::from_secs(40),
        "the host's blue camera on the visitor's display",
        || display_shows(&visitor, BLUE).then_some(()),
    );
    eventually(
        Duration::from_secs(40),
        "the visitor's red camera on the host's display",
        || display_shows(&host, RED).then_some(()),
    );
    // The host's roster lists the visitor under its API client's name.
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
    let ids: Vec<&str> = body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.contains(&"boardroom"), "{body}");
    assert!(ids.contains(&"room"), "{body}");

    // Hanging up on the visitor takes it off the host's roster.
    assert_eq!(vc.call(json!({"method": "hangUp"}))["ok"], true);
    eventually(
        Duration::from_secs(10),
        "the visitor gone from the roster",
        || {
            let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
            (body["participants"].as_array().map(Vec::len) == Some(1)).then_some(())
        },
    );
}

#[test]
fn wrong_federation_credentials_are_a_clear_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let host = start_room(
        &tmp.path().join("host"),
        "blue",
        "",
        &["--api-client", "boardroom:s3cret-s3cret"],
    );
    let host_addr = host.http.trim_start_matches("http://").to_string();
    let visitor = start_room(
        &tmp.path().join("visitor"),
        "red",
        &format!(
            "[[conference.servers]]\nhost = \"{host_addr}\"\nscheme = \"http\"\nclient_id = \"boardroom\"\nclient_secret = \"not-the-secret\"\n"
        ),
        &[],
    );
    let mut vc = visitor.control();
    let r = vc.send_line(&format!("trueconf:\\c\\1234567890@{host_addr}%23vcs"));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&host_addr), "{msg}");
    assert_eq!(
        vc.call(json!({"method": "getAppState"}))["result"]["activity"],
        "idle"
    );
}

/// The `WATCHDOG=1` pings that reach `sock` within `within`.
fn watchdog_pings(sock: &std::os::unix::net::UnixDatagram, within: Duration) -> usize {
    let end = std::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    let mut pings = 0;
    while std::time::Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            pings += String::from_utf8_lossy(&buf[..n])
                .lines()
                .filter(|l| *l == "WATCHDOG=1")
                .count();
        }
    }
    pings
}

#[test]
fn a_far_end_that_never_answers_holds_up_nothing_and_hanging_up_gives_the_join_up() {
    let tmp = tempfile::tempdir().unwrap();
    // A far end that takes connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let far = silent.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut kept = vec![];
        for s in silent.incoming() {
            kept.push(s);
        }
    });
    // The room runs under a systemd watchdog (a ping every half second).
    let sock_path = tmp.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let data = tmp.path().join("room");
    let mut start = common::room_start(
        &data,
        "red",
        &format!(
            "[[conference.servers]]\nhost = \"{far}\"\nscheme = \"http\"\nclient_id = \"boardroom\"\nclient_secret = \"s3cret-s3cret\"\n"
        ),
        &[],
    );
    start.env = vec![
        ("NOTIFY_SOCKET".into(), sock_path.display().to_string()),
        ("WATCHDOG_USEC".into(), "1000000".into()),
    ];
    let mut room = common::Dais::start(start);
    room.wait_ready();
    let join = format!("trueconf:\\c\\0123456789@{far}%23vcs");

    // One controller asks the room to join there, and waits.
    let mut a = room.control();
    a.send_only(&join);

    // Everything else is served meanwhile (each answer within the control
    // connection's 10 s read timeout; the join's sign-in alone may take
    // 15 s): the state says what the room is joining, the volume changes,
    // /status answers, and systemd's watchdog is fed.
    let mut b = room.control();
    eventually(Duration::from_secs(10), "the room connecting", || {
        let st = b.call(json!({"method": "getAppState"}));
        (st["result"]["activity"] == "connecting").then_some(st)
    });
    let st = b.call(json!({"method": "getAppState"}));
    assert_eq!(
        st["result"]["connecting"],
        format!("0123456789@{far}"),
        "{st}"
    );
    let r = b.call(json!({"method": "setVolume", "volume": 35}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        b.call(json!({"method": "getAppState"}))["result"]["audio"]["volume"],
        35
    );
    let (code, _) = room.get("/status").unwrap();
    assert_eq!(code, 200);
    let pings = watchdog_pings(&sock, Duration::from_secs(3));
    assert!(pings >= 3, "{pings} watchdog pings in 3 s while joining");

    // Hanging up gives the join up: the room is idle again at once, and
    // the controller that asked hears that its join was given up.
    let r = b.call(json!({"method": "hangUp"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = b.call(json!({"method": "getAppState"}));
    assert_eq!(st["result"]["activity"], "idle", "{st}");
    assert_eq!(st["result"]["connecting"], json!(null), "{st}");
    let r = a.read_reply();
    assert_eq!(r["error"]["code"], "conflict", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("hung up"),
        "{r}"
    );

    // Left alone, a join there ends by itself: the controller that asked
    // hears it timed out, and the room is idle.
    a.send_only(&join);
    eventually(Duration::from_secs(10), "the room connecting again", || {
        let st = b.call(json!({"method": "getAppState"}));
        (st["result"]["activity"] == "connecting").then_some(())
    });
    eventually(Duration::from_secs(40), "the join to time out", || {
        let st = b.call(json!({"method": "getAppState"}));
        (st["result"]["activity"] == "idle").then_some(())
    });
    let r = a.read_reply();
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{r}"
    );
}

/// Another dais over HTTPS: its device CA pinned by fingerprint (as the
/// panel shows it) or given as a PEM file, never the system's store for a
/// certificate it cannot know; a wrong pin is refused naming the server
/// and both fingerprints.
#[test]
fn rooms_join_each_other_over_https_trusting_only_what_they_were_told() {
    use rustls::pki_types::pem::PemObject;
    let tmp = tempfile::tempdir().unwrap();
    let host = start_room(
        &tmp.path().join("host"),
        "blue",
        "",
        &[
            "--https-listen",
            "127.0.0.1:0",
            "--api-client",
            "boardroom:s3cret-s3cret",
            "--api-client",
            "crm:correct-horse-battery",
        ],
    );
    let api = Api::new(&host.base()).login_client("crm", "correct-horse-battery");
    let cid = api.running_conference(
        &json!({"topic": "Two sites, TLS", "owner": "room", "type": 0, "max_participants": 5}),
    );
    let mut hc = host.control();
    assert_eq!(hc.send_line(&format!("trueconf:\\c\\{cid}"))["ok"], true);

    let port = host.https.unwrap().port();
    let ca_file = tmp.path().join("host/tls/ca.pem");
    let ca_pem = std::fs::read(&ca_file).unwrap();
    let ca =
        common::fingerprint(&rustls::pki_types::CertificateDer::from_pem_slice(&ca_pem).unwrap());
    let wrong = common::fingerprint(b"another room");
    // Two names for the host, each trusted another way: its device CA
    // pinned (lower case, no colons: as an operator may paste it), and a
    // wrong pin.
    let entry = |host: &str, trust: &str| {
        format!(
            "[[conference.servers]]\nhost = \"{host}\"\nscheme = \"https\"\nclient_id = \"boardroom\"\nclient_secret = \"s3cret-s3cret\"\n{trust}\n"
        )
    };
    let config = [
        entry(
            &format!("localhost:{port}"),
            &format!("fingerprint = \"{}\"", ca.replace(':', "").to_lowercase()),
        ),
        entry(
            &format!("127.0.0.1:{port}"),
            &format!("fingerprint = \"{wrong}\""),
        ),
    ]
    .concat();
    let visitor = start_room(&tmp.path().join("visitor"), "red", &config, &[]);
    let mut vc = visitor.control();

    let r = vc.send_line(&format!("trueconf:\\c\\{cid}@127.0.0.1:{port}%23vcs"));
    assert_eq!(r["ok"], false, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains(&wrong) && msg.contains(&ca),
        "names the server, the pin and what it presented: {msg}"
    );

    let r = vc.send_line(&format!("trueconf:\\c\\{cid}@localhost:{port}%23vcs"));
    assert_eq!(r["ok"], true, "{r}");
    eventually(
        Duration::from_secs(40),
        "the visitor's red camera on the host's display",
        || display_shows(&host, RED).then_some(()),
    );
    assert_eq!(vc.call(json!({"method": "hangUp"}))["ok"], true);
    drop(visitor);

    // The CA as a file, trusted for that server alone; without either,
    // the system's store, which cannot know a device CA.
    let visitor = start_room(
        &tmp.path().join("visitor2"),
        "red",
        &[
            entry(
                &format!("127.0.0.1:{port}"),
                &format!("ca = \"{}\"", ca_file.display()),
            ),
            entry(&format!("localhost:{port}"), ""),
        ]
        .concat(),
        &[],
    );
    let mut vc = visitor.control();
    let r = vc.send_line(&format!("trueconf:\\c\\{cid}@localhost:{port}%23vcs"));
    assert_eq!(r["ok"], false, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.to_lowercase().contains("issuer"), "{msg}");
    let r = vc.send_line(&format!("trueconf:\\c\\{cid}@127.0.0.1:{port}%23vcs"));
    assert_eq!(r["ok"], true, "{r}");
    eventually(
        Duration::from_secs(40),
        "the host's blue camera on the visitor's display",
        || display_shows(&visitor, BLUE).then_some(()),
    );
}

#[test]
fn a_pin_or_ca_needs_https_and_a_pin_is_a_fingerprint() {
    let (ok, err) = common::config_check(
        "[[conference.servers]]\nhost = \"room-7:8443\"\nscheme = \"http\"\nclient_id = \"a\"\nclient_secret = \"b\"\nca = \"/etc/ca.pem\"\n",
    );
    assert!(!ok);
    assert!(
        err.contains("conference.servers[0].ca") && err.contains("https"),
        "{err}"
    );
    let (ok, err) = common::config_check(
        "[[conference.servers]]\nhost = \"room-7:8443\"\nscheme = \"https\"\nclient_id = \"a\"\nclient_secret = \"b\"\nfingerprint = \"7B:B1\"\n",
    );
    assert!(!ok);
    assert!(err.contains("conference.servers[0].fingerprint"), "{err}");
    let (ok, err) = common::config_check(&format!(
        "[[conference.servers]]\nhost = \"room-7:8443\"\nscheme = \"https\"\nclient_id = \"a\"\nclient_secret = \"b\"\nfingerprint = \"{}\"\nca = \"/etc/ca.pem\"\n",
        common::fingerprint(b"x")
    ));
    assert!(!ok);
    assert!(err.contains("not both"), "{err}");
}

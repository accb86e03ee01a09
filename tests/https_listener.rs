//! HTTPS: with `--https-listen`, dais serves everything over TLS with a
//! device certificate from a CA of its own (kept across restarts, its
//! fingerprint in `/status` and the log), or the operator's PEM files,
//! reloaded when they change without a restart. The plain listener then
//! answers the health probes and the device CA, and sends everything else
//! to the same path on HTTPS. A client that opens a connection and sends
//! nothing, or trickles a request's head, is closed.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Dais, PIN, Raw, Start, fingerprint, trusting};

fn start_https(data: &Path, config: Option<&Path>) -> Dais {
    let mut s = Start::new(data);
    s.extra = vec!["--https-listen".into(), "127.0.0.1:0".into()];
    s.config = config.map(Path::to_path_buf);
    Dais::start(s)
}

/// A control token, asked for over HTTPS.
fn token(d: &Dais, tls: &std::sync::Arc<rustls::ClientConfig>) -> String {
    let body = serde_json::json!({"method": "auth", "credentials": PIN}).to_string();
    let (r, _) = d
        .https(Raw::post_json("/control", &body), "localhost", tls)
        .expect("POST /control over HTTPS");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["result"]["token"].as_str().unwrap().to_string()
}

fn status(d: &Dais, tls: &std::sync::Arc<rustls::ClientConfig>, token: &str) -> serde_json::Value {
    let bearer = format!("Bearer {token}");
    let (r, _) = d
        .https(
            Raw::get("/status").header("Authorization", &bearer),
            "localhost",
            tls,
        )
        .expect("GET /status over HTTPS");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn a_device_certificate_is_made_once_and_serves_everything_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = start_https(&data, None);

    let ca_pem = std::fs::read(data.join("tls/ca.pem")).expect("the device CA is in the data dir");
    let ca_der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(&ca_pem).unwrap()
    };
    let key_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(data.join("tls/ca.key"))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(
        key_mode & 0o077,
        0,
        "the CA key is readable by its owner only"
    );
    let tls = trusting(&ca_pem);

    // A client trusting the device CA reaches dais by name and by address;
    // the chain checks out (rustls verifies it, names included).
    let (r, certs) = d
        .https(Raw::get("/healthz"), "localhost", &tls)
        .expect("the device certificate is trusted for localhost");
    assert_eq!(r.status, 200, "{}", r.body);
    let leaf = fingerprint(&certs[0]);
    let (r, _) = d
        .https(Raw::get("/healthz"), "127.0.0.1", &tls)
        .expect("the device certificate is trusted for 127.0.0.1");
    assert_eq!(r.status, 200);

    // A client that does not trust the CA is refused by its own TLS.
    let stranger = trusting(&rcgen_ca_pem());
    let err = d
        .https(Raw::get("/healthz"), "localhost", &stranger)
        .expect_err("a client without the device CA does not trust dais");
    assert!(
        err.contains("UnknownIssuer") || err.contains("issuer"),
        "{err}"
    );

    // /status (with a token) names the certificate served.
    let t = token(&d, &tls);
    let st = status(&d, &tls, &t);
    let cert = &st["state"]["endpoints"]["certificate"];
    assert_eq!(cert["source"], "device", "{st}");
    assert_eq!(cert["fingerprint"], leaf.as_str(), "{cert}");
    assert_eq!(cert["issuerFingerprint"], fingerprint(&ca_der).as_str());
    let names: Vec<&str> = cert["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        names.contains(&"localhost") && names.contains(&"127.0.0.1"),
        "{names:?}"
    );
    let http = st["state"]["endpoints"]["http"].as_str().unwrap();
    assert!(http.starts_with("https://127.0.0.1:"), "{http}");
    // And the log says it at start.
    assert!(
        d.log_text().contains(&fingerprint(&ca_der)),
        "the start-up log names the CA's fingerprint"
    );

    // The plain listener: probes and the CA answer, the rest moves to HTTPS.
    let https_port = d.https.unwrap().port();
    let r = d.raw(Raw::get("/healthz"));
    assert_eq!(r.status, 200);
    let r = d.raw(Raw::get("/device-ca.pem"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_bytes(), &ca_pem[..]);
    let r = d.raw(Raw::get("/api/v3.11/conferences?page=2").host("localhost:8080"));
    assert_eq!(r.status, 308, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("https://localhost:{https_port}/api/v3.11/conferences?page=2").as_str())
    );
    // Credentials sent in the clear are refused, not redirected: the
    // client that sent them must be fixed.
    let r = d.raw(Raw::post_json("/control", "{}"));
    assert_eq!(r.status, 403, "POST /control is not answered in the clear");
    assert!(r.body.contains("https://"), "{}", r.body);
    let r = d.raw(Raw::get("/api/v3.11/conferences").header("Authorization", "Bearer x"));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = d.raw(Raw::post(
        "/oauth2/v1/token",
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials",
    ));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = d.raw(Raw::get("/status").host("[::1]:80"));
    assert_eq!(
        r.header("location"),
        Some(format!("https://[::1]:{https_port}/status").as_str())
    );
    // A name dais does not answer to is not redirected anywhere.
    let r = d.raw(Raw::get("/").host("attacker.invalid"));
    assert_eq!(r.status, 421);

    // Restarted, dais keeps its CA (trusted once) and issues a new leaf.
    drop(d);
    let d = start_https(&data, None);
    let (r, certs) = d
        .https(Raw::get("/healthz"), "localhost", &tls)
        .expect("still trusted after a restart");
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(data.join("tls/ca.pem")).unwrap(), ca_pem);
    assert_eq!(fingerprint(&certs[1]), fingerprint(&ca_der), "the same CA");
}

/// A CA the room never saw.
fn rcgen_ca_pem() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.self_signed(&key).unwrap().pem().into_bytes()
}

/// An operator's certificate for `localhost`, from a CA of theirs: the
/// chain PEM, the key PEM, and the CA PEM.
fn operator_certificate(ca: &rcgen::Issuer<'_, rcgen::KeyPair>, name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits up to a minute for the HTTPS listener to present a leaf whose
/// fingerprint is `want`.
fn wait_for_leaf(d: &Dais, tls: &std::sync::Arc<rustls::ClientConfig>, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = d
            .https(Raw::get("/healthz"), "localhost", tls)
            .map(|(_, certs)| fingerprint(&certs[0]));
        if got.as_deref() == Ok(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dais still serves {got:?}, not {want}:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_operators_certificate_is_served_and_reloaded_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Example Corp rooms CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let tls = trusting(ca_cert.pem().as_bytes());

    let (cert_path, key_path) = (tmp.path().join("room.pem"), tmp.path().join("room.key"));
    let (c1, k1) = operator_certificate(&ca, "room 12 (first)");
    write_atomically(&cert_path, &c1);
    write_atomically(&key_path, &k1);
    let config = tmp.path().join("local.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\ntls_certificate = {:?}\ntls_key = {:?}\n",
            cert_path.to_str().unwrap(),
            key_path.to_str().unwrap()
        ),
    )
    .unwrap();
    let d = start_https(&tmp.path().join("data"), Some(&config));
    let (r, certs) = d
        .https(Raw::get("/healthz"), "localhost", &tls)
        .expect("the operator's chain is trusted");
    assert_eq!(r.status, 200);
    let first = fingerprint(&certs[0]);
    assert!(
        !tmp.path().join("data/tls/ca.key").exists(),
        "no device CA is made when the operator's certificate is set"
    );
    let r = d.raw(Raw::get("/device-ca.pem"));
    assert_eq!(r.status, 404, "{}", r.body);
    let t = token(&d, &tls);
    let st = status(&d, &tls, &t);
    assert_eq!(
        st["state"]["endpoints"]["certificate"]["source"],
        "operator"
    );
    assert_eq!(
        st["state"]["endpoints"]["certificate"]["fingerprint"],
        first.as_str()
    );

    // Renewed: the new pair is served, no restart.
    let (c2, k2) = operator_certificate(&ca, "room 12 (renewed)");
    let second = {
        use rustls::pki_types::pem::PemObject;
        fingerprint(&rustls::pki_types::CertificateDer::from_pem_slice(c2.as_bytes()).unwrap())
    };
    write_atomically(&key_path, &k2);
    write_atomically(&cert_path, &c2);
    wait_for_leaf(&d, &tls, &second);
    let st = status(&d, &tls, &t);
    assert_eq!(
        st["state"]["endpoints"]["certificate"]["fingerprint"],
        second.as_str(),
        "/status follows the reload"
    );

    // A broken file is not served: the renewed certificate stays, and the
    // log says why, naming the setting and the file.
    write_atomically(&cert_path, "not a certificate\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.log_text().contains("cannot reload") {
        assert!(
            Instant::now() < deadline,
            "no reload error logged:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = d.log_text();
    assert!(log.contains("http.tls_certificate"), "{log}");
    let (_, certs) = d
        .https(Raw::get("/healthz"), "localhost", &tls)
        .expect("still served");
    assert_eq!(fingerprint(&certs[0]), second);

    // SIGHUP reloads at once and does not stop dais.
    write_atomically(&cert_path, &c1);
    write_atomically(&key_path, &k1);
    unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) };
    wait_for_leaf(&d, &tls, &first);
}

#[test]
fn a_bad_certificate_setting_is_refused_naming_it() {
    let (ok, err) = common::config_check("[http]\ntls_certificate = \"/etc/room.pem\"\n");
    assert!(!ok);
    assert!(err.contains("http.tls_key"), "{err}");
    let (ok, err) = common::config_check("[http]\nhttps_listen = \"everywhere\"\n");
    assert!(!ok);
    assert!(err.contains("http.https_listen"), "{err}");
    let (ok, err) = common::config_check("[http]\nhttps_listen = \"0.0.0.0:8080\"\n");
    assert!(!ok);
    assert!(
        err.contains("http.https_listen") && err.contains("http.listen"),
        "{err}"
    );

    // A missing file, and a key of another certificate: dais does not
    // start, and says which setting and file.
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let other_key = tmp.path().join("other.key");
    let cert = tmp.path().join("room.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&cert, p.self_signed(&key).unwrap().pem()).unwrap();
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    for (c, k, want) in [
        (&missing, &other_key, "http.tls_certificate"),
        (&cert, &other_key, "does not belong to"),
    ] {
        let config = tmp.path().join("local.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\ntls_certificate = {:?}\ntls_key = {:?}\n",
                c.to_str().unwrap(),
                k.to_str().unwrap()
            ),
        )
        .unwrap();
        let data = tmp.path().join("data");
        let mut s = Start::new(&data);
        s.extra = vec!["--https-listen".into(), "127.0.0.1:0".into()];
        s.config = Some(config);
        let out = common::run_command(&s)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(want), "wanted {want:?} in:\n{err}");
        assert!(err.contains(c.to_str().unwrap()), "names the file:\n{err}");
    }
}

#[test]
fn a_client_that_sends_nothing_or_trickles_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start_https(&tmp.path().join("data"), None);
    let plain: std::net::SocketAddr = d.http.trim_start_matches("http://").parse().unwrap();
    let secure = d.https.unwrap();

    // Three clients at once: one opens TLS and never says hello, one sends
    // half a request head in the clear, one trickles a byte a second.
    let silent = std::thread::spawn(move || closed_within(secure, |_| {}, false));
    let half = std::thread::spawn(move || {
        closed_within(
            plain,
            |s| s.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap(),
            false,
        )
    });
    let trickle = std::thread::spawn(move || {
        closed_within(
            plain,
            |s| s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap(),
            true,
        )
    });
    for (what, t) in [
        ("silent TLS", silent),
        ("half a head", half),
        ("trickle", trickle),
    ] {
        // dais's own deadlines (10 s for the handshake, 15 s for a
        // request's head), not hyper's 30 s default, close them.
        let after = t.join().unwrap();
        assert!(
            after.is_some_and(|d| d < Duration::from_secs(27)),
            "{what}: dais kept the connection open for {after:?}"
        );
    }
    // dais itself is fine.
    assert_eq!(d.raw(Raw::get("/healthz")).status, 200);
}

/// Connects, does `first`, then waits (sending a header byte a second when
/// `trickle`) for dais to close: how long that took, `None` after 60 s.
fn closed_within(
    addr: std::net::SocketAddr,
    first: impl FnOnce(&mut std::net::TcpStream),
    trickle: bool,
) -> Option<Duration> {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    first(&mut s);
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 512];
    while started.elapsed() < Duration::from_secs(60) {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            // A 408 or an alert before closing is fine too.
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if trickle && s.write_all(b"X").is_err() {
                    return Some(started.elapsed());
                }
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn the_room_joins_its_own_conference_over_wss() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Start::new(&data);
    s.extra = vec![
        "--https-listen".into(),
        "127.0.0.1:0".into(),
        "--api-client".into(),
        "crm:correct-horse-battery".into(),
    ];
    let mut d = Dais::start(s);
    d.wait_ready();
    let tls = trusting(&std::fs::read(data.join("tls/ca.pem")).unwrap());
    let (r, _) = d
        .https(
            Raw::post(
                "/oauth2/v1/token",
                "application/x-www-form-urlencoded",
                "grant_type=client_credentials&client_id=crm&client_secret=correct-horse-battery",
            ),
            "localhost",
            &tls,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let bearer = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let body = serde_json::json!({"topic": "Over TLS", "owner": "room", "type": 0,
        "max_participants": 4, "allow_guests": true})
    .to_string();
    let (r, _) = d
        .https(
            Raw::post_json("/api/v3.11/conferences", &body).header("Authorization", &bearer),
            "localhost",
            &tls,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let cid = r.json()["conference"]["id"].as_str().unwrap().to_string();
    let run = format!("/api/v3.11/conferences/{cid}/run");
    let (r, _) = d
        .https(
            Raw::post_json(&run, "{}").header("Authorization", &bearer),
            "localhost",
            &tls,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // The links dais hands out are https://.
    let clients = format!(
        "/api/v3.11/software/clients?call_id={cid}&case=join_conference_button&user=%24Ann"
    );
    let (r, _) = d
        .https(
            Raw::get(&clients).header("Authorization", &bearer),
            "localhost",
            &tls,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let web_url = r.json()["clients"][0]["web_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let base = format!(
        "https://127.0.0.1:{}/webrtc/{cid}#",
        d.https.unwrap().port()
    );
    assert!(web_url.starts_with(&base), "{}", r.body);

    // The room joins over its own HTTPS listener (wss, its certificate
    // pinned) and is in the conference's roster.
    let mut c = d.control();
    let reply = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(reply["ok"], true, "{reply}");
    let t = token(&d, &tls);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = status(&d, &tls, &t);
        let peers = st["conferencePeers"].to_string();
        if st["state"]["activity"] == "conference" && peers.contains("room") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the room did not join over wss: {}\n{}",
            st["state"],
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn one_address_cannot_hold_every_http_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("limits.toml");
    std::fs::write(&cfg, "[http]\nmax_connections_per_address = 3\n").unwrap();
    let data = tmp.path().join("data");
    let mut s = Start::new(&data);
    s.config = Some(cfg);
    let d = Dais::start(s);
    let plain: std::net::SocketAddr = d.http.trim_start_matches("http://").parse().unwrap();
    // Three idle connections from 127.0.0.1 hold its share.
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(plain).unwrap())
        .collect();
    // The next from there is closed at once, without an answer (dais
    // accepts in order, so the three above hold their slots by then).
    let mut fourth = std::net::TcpStream::connect(plain).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = [0u8; 64];
    match fourth.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a fourth connection from 127.0.0.1 was kept or served: {other:?}"),
    }
    // ...while another address is served, and so is this one once its
    // connections close.
    assert_eq!(d.raw(Raw::get("/healthz").source("127.0.0.4")).status, 200);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = std::panic::catch_unwind(|| d.raw(Raw::get("/healthz")).status);
        if got.ok() == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.0.1 was not served again");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A WebSocket keeps its slot after the upgrade: three open signalling
    // sockets are all 127.0.0.1 may hold.
    let sockets: Vec<_> = (0..3)
        .map(|_| {
            let stream = std::net::TcpStream::connect(plain).unwrap();
            tungstenite::client(format!("ws://{plain}/webrtc/signalling/ws"), stream)
                .expect("upgrade")
                .0
        })
        .collect();
    let mut fifth = std::net::TcpStream::connect(plain).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = [0u8; 64];
    match fifth.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a connection beside three WebSockets was served: {other:?}"),
    }
    drop(sockets);
}

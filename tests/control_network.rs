//! The control network over real TCP, WebSocket and HTTP against a running
//! dais: authentication and lockout, joining by CID with feedback,
//! subscriptions seeing changes made elsewhere, errors that hurt nobody.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{Api, Dais, PIN};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

struct Ws {
    ws: WebSocket<TcpStream>,
    events: Vec<Value>,
}

impl Ws {
    fn connect(d: &Dais) -> Self {
        let addr = d.http.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/control/ws"), stream).unwrap();
        Ws {
            ws,
            events: Vec::new(),
        }
    }

    fn next(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read a WebSocket message") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn call(&mut self, v: Value) -> Value {
        self.ws.send(Message::Text(v.to_string().into())).unwrap();
        loop {
            let m = self.next();
            if m.get("event").is_some() {
                self.events.push(m);
            } else {
                return m;
            }
        }
    }

    fn wait_event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i);
        }
        loop {
            let m = self.next();
            if pred(&m) {
                return m;
            }
            self.events.push(m);
        }
    }
}

#[test]
fn authentication_is_required_and_five_wrong_pins_lock_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, _) = common::start_with_api(&tmp.path().join("data"));
    let mut c = d.control_raw();
    let r = c.call(json!({"method": "getAppState", "requestId": 1}));
    assert_eq!(
        (r["ok"].as_bool(), r["error"]["code"].as_str()),
        (Some(false), Some("unauthorized"))
    );
    assert_eq!(r["requestId"], 1);
    // Links need authentication too.
    let r = c.send_line("trueconf:\\c\\1234");
    assert_eq!(r["error"]["code"], "unauthorized");

    for left in (1..5).rev() {
        let r = c.call(json!({"method": "auth", "credentials": "0000"}));
        assert_eq!(r["error"]["code"], "unauthorized");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempts left")),
            "{r}"
        );
    }
    let r = c.call(json!({"method": "auth", "credentials": "0000"}));
    assert_eq!(r["error"]["code"], "lockedOut", "{r}");
    // Locked out: the right PIN is refused too, on a new connection as well.
    let r = c.call(json!({"method": "auth", "credentials": PIN}));
    assert_eq!(r["error"]["code"], "lockedOut");
    let mut other = d.control_raw();
    let r = other.call(json!({"method": "auth", "credentials": PIN}));
    assert_eq!(r["error"]["code"], "lockedOut");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again in")
    );
    // HTTP says so with 429.
    let (code, _) =
        Api::new(&d.http).post("/control", &json!({"method": "auth", "credentials": PIN}));
    assert_eq!(code, 429);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn a_controller_joins_by_cid_and_gets_the_state_change_as_feedback() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, api) = common::start_with_api(&tmp.path().join("data"));
    api.post(
        "/api/v3.11/conferences",
        &json!({"id": "4154248070", "topic": "Board", "owner": "ceo", "state": "running", "waiting_room_enabled": true}),
    );
    let mut c = d.control();
    let r = c.call(json!({"method": "subscribe", "path": "conference", "requestId": "s"}));
    assert_eq!(
        r["result"],
        json!({"path": "conference", "value": null}),
        "current value first"
    );

    let r = c.send_line("trueconf:\\c\\4154248070");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        r["result"]["steps"][0]["result"]["state"], "waiting",
        "the room waits like everyone else"
    );
    let ev = c.wait_event(|e| e["event"] == "appStateChanged");
    assert_eq!(ev["activity"], "waiting");
    let fb = c.wait_event(|e| e["event"] == "feedback" && e["path"] == "conference");
    assert_eq!(fb["value"]["cid"], "4154248070");
    assert_eq!(fb["value"]["reason"], "waiting_room");

    // The owner admits the room from the REST API: the controller sees it.
    let (code, _) = api.post(
        "/api/v3.11/conferences/4154248070/participants/room/admit",
        &json!({}),
    );
    assert_eq!(code, 200);
    let ev = c.wait_event(|e| e["event"] == "appStateChanged");
    assert_eq!(ev["activity"], "conference");
    // Roster updates may come first (the room sees who else is there);
    // the admission arrives as feedback on the conference path.
    let fb = c.wait_event(|e| {
        e["event"] == "feedback" && e["path"] == "conference" && e["value"]["state"] == "admitted"
    });
    assert_eq!(fb["value"]["cid"], "4154248070");

    // Stopping the conference ends the room's part in it.
    api.post("/api/v3.11/conferences/4154248070/stop", &json!({}));
    let ev = c.wait_event(|e| e["event"] == "appStateChanged");
    assert_eq!(ev["activity"], "idle");
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn a_subscriber_sees_volume_and_mute_changes_made_on_another_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, _) = common::start_with_api(&tmp.path().join("data"));
    let mut ws = Ws::connect(&d);
    let r = ws.call(json!({"method": "auth", "credentials": PIN, "requestId": 1}));
    assert_eq!(r["ok"], true, "{r}");
    let token = r["result"]["token"].as_str().unwrap().to_string();
    let r = ws.call(json!({"method": "subscribe", "path": "audio.volume"}));
    assert_eq!(r["result"]["value"], 50);
    ws.call(json!({"method": "subscribe", "path": "audio.micMuted"}));
    ws.call(json!({"method": "subscribe", "path": "camera.muted"}));

    let mut tcp = d.control();
    assert_eq!(
        tcp.call(json!({"method": "setVolume", "volume": 35}))["ok"],
        true
    );
    assert_eq!(tcp.call(json!({"method": "muteMicrophone"}))["ok"], true);
    let fb = ws.wait_event(|e| e["path"] == "audio.volume");
    assert_eq!(fb["value"], 35);
    let fb = ws.wait_event(|e| e["path"] == "audio.micMuted");
    assert_eq!(fb["value"], true);

    // POST /control with the WebSocket's token, then camera privacy.
    let http = Api::new(&d.http).with_token(&token);
    let (code, body) = http.post(
        "/control",
        &json!({"method": "muteCamera", "requestId": "p"}),
    );
    assert_eq!((code, body["ok"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(body["requestId"], "p");
    let fb = ws.wait_event(|e| e["path"] == "camera.muted");
    assert_eq!(fb["value"], true);
    // Privacy really stops the camera.
    common::eventually(Duration::from_secs(30), "the camera to stop", || {
        (d.status()["state"]["preview"]["state"] == "standby").then_some(())
    });
    // Bad requests on HTTP: 400 or 401, with the reason.
    let (code, body) = http.post("/control", &json!({"method": "setVolume", "volume": 300}));
    assert_eq!(code, 400, "{body}");
    let (code, _) = Api::new(&d.http)
        .with_token("nope")
        .post("/control", &json!({"method": "getAppState"}));
    assert_eq!(code, 401);
    let (code, _) = Api::new(&d.http).post("/control", &json!({"method": "getAppState"}));
    assert_eq!(code, 401);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn bad_links_and_bad_json_get_errors_while_others_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, _) = common::start_with_api(&tmp.path().join("data"));
    let mut bad = d.control();
    let mut good = Ws::connect(&d);
    good.call(json!({"method": "auth", "credentials": PIN}));

    let r = bad.send_line("trueconf:smith&volume=3");
    assert_eq!(r["error"]["code"], "badRequest");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at byte 15"),
        "{r}"
    );
    let r = bad.send_line("{\"method\": ");
    assert_eq!(r["error"]["code"], "badRequest");
    let r = bad.call(json!({"method": "joinConference", "cid": "nope"}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    let r = bad.call(json!({"method": "setVolume", "volume": "loud"}));
    assert_eq!(r["error"]["code"], "badRequest");
    let r = bad.send_line("trueconf:\\c\\4154248070@video.example.com%vcs");
    assert_eq!(r["error"]["code"], "unavailable");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[conference.servers]"),
        "{r}"
    );
    // Calling someone who is not a user here is named, never a silent
    // success; so is calling a server the room has no credentials for.
    let r = bad.send_line("trueconf:smith");
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("smith"),
        "{r}"
    );
    let r = bad.send_line("trueconf:smith@video.example.com");
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[conference.servers]"),
        "{r}"
    );
    let r = bad.call(json!({"method": "cameraPreset", "action": "recall", "preset": 3}));
    assert_eq!(r["error"]["code"], "unavailable");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a V4L2 device"),
        "{r}"
    );
    let r = bad.call(json!({"method": "setCameraControl", "control": "brightness", "value": 128}));
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    let r = bad.call(json!({"method": "setCameraControl", "control": "brightness"}));
    assert_eq!(r["error"]["code"], "badRequest", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("value"),
        "{r}"
    );
    let r = bad.call(json!({"method": "subscribe", "path": "nothing.here"}));
    assert_eq!(r["error"]["code"], "badRequest");

    // The other connection and the room are unaffected.
    let r = good.call(json!({"method": "getAppState"}));
    assert_eq!(r["result"]["activity"], "idle");
    assert_eq!(bad.call(json!({"method": "getAppState"}))["ok"], true);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn meet_now_hang_up_and_auto_close() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, api) = common::start_with_api(&tmp.path().join("data"));
    let mut c = d.control();
    let r = c.call(json!({"method": "meetNow", "mode": "smart", "maxParticipants": 6, "maxPodiums": 2, "topic": "Stand-up"}));
    assert_eq!(r["ok"], true, "{r}");
    let cid = r["result"]["cid"].as_str().unwrap().to_string();
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(body["conference"]["mode"], "S|L Auto");
    assert_eq!(body["conference"]["owner"], "room");
    let st = c.call(json!({"method": "getAppState"}));
    assert_eq!(st["result"]["activity"], "conference");
    assert_eq!(st["result"]["conference"]["role"], "owner");
    // Smart meetings mute on entry, but not the host.
    assert_eq!(st["result"]["audio"]["micMuted"], false);

    assert_eq!(c.call(json!({"method": "autoClose"}))["ok"], true);
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);
    let st = c.call(json!({"method": "getAppState"}));
    assert_eq!(
        st["result"]["activity"], "standby",
        "autoclose puts the room to sleep after the call"
    );
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
    assert_eq!(body["participants"], json!([]));
    let r = c.call(json!({"method": "hangUp"}));
    assert_eq!(r["error"]["code"], "conflict");
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn media_controls_from_the_control_network() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut d, _) = common::start_with_api(&tmp.path().join("data"));
    let mut c = d.control();
    assert_eq!(
        c.call(json!({"method": "setLayout", "layout": "pip"}))["ok"],
        true
    );
    let r = c.call(json!({"method": "setLayout", "layout": "diagonal"}));
    assert_eq!(r["error"]["code"], "badRequest");
    assert!(r["error"]["message"].as_str().unwrap().contains("layout"));

    // Content: on the display, in the state.
    assert_eq!(
        c.call(json!({"method": "shareContent", "on": true}))["ok"],
        true
    );
    assert_eq!(
        c.call(json!({"method": "getAppState"}))["result"]["sharing"],
        true
    );
    assert_eq!(
        c.call(json!({"method": "shareContent", "on": false}))["ok"],
        true
    );

    // The second camera.
    let r = c.call(json!({"method": "switchCamera", "camera": "second"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        c.call(json!({"method": "getAppState"}))["result"]["activeCamera"],
        "second"
    );
    assert_eq!(
        c.call(json!({"method": "switchCamera", "camera": "third"}))["error"]["code"],
        "badRequest"
    );
    assert_eq!(
        c.call(json!({"method": "switchCamera", "camera": "main"}))["ok"],
        true
    );

    // Recording: files that exist.
    assert_eq!(c.call(json!({"method": "startRecording"}))["ok"], true);
    assert_eq!(
        c.call(json!({"method": "startRecording"}))["error"]["code"],
        "conflict"
    );
    std::thread::sleep(Duration::from_secs(2));
    let r = c.call(json!({"method": "stopRecording"}));
    assert_eq!(r["ok"], true, "{r}");
    let files = r["result"]["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for f in files {
        let len = std::fs::metadata(f.as_str().unwrap()).unwrap().len();
        assert!(len > 1000, "{f} is {len} bytes");
    }
    assert_eq!(
        c.call(json!({"method": "stopRecording"}))["error"]["code"],
        "conflict"
    );

    // An RTSP stream that is not there: accepted, then reported, and the
    // room keeps running.
    let r = c.call(json!({"method": "openRtsp", "url": "rtsp://127.0.0.1:9/nothing"}));
    assert_eq!(r["ok"], true, "{r}");
    common::eventually(
        Duration::from_secs(20),
        "the failed stream to be reported",
        || {
            let st = c.call(json!({"method": "getAppState"}));
            (st["result"]["rtsp"].is_null()
                && st["result"]["lastError"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("rtsp")))
            .then_some(())
        },
    );
    assert_eq!(d.status()["state"]["preview"]["state"], "playing");
    let r = c.call(json!({"method": "openRtsp", "url": "http://not-rtsp"}));
    assert_eq!(r["ok"], false);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn templates_saved_started_and_deleted_from_the_control_network_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut d, _api) = common::start_with_api(&data);
    let mut c = d.control();
    // Bad settings are refused and named; nothing is stored.
    let r = c.call(json!({"method": "saveTemplate", "name": "Board", "settings": {"mode": "moderated", "maxParticipants": 1}}));
    assert_eq!(r["error"]["code"], "badRequest", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("settings.maxParticipants"),
        "{r}"
    );
    let r = c.call(json!({"method": "saveTemplate", "name": "  ", "settings": {"mode": "smart"}}));
    assert_eq!(r["error"]["code"], "badRequest", "{r}");
    assert_eq!(
        c.call(json!({"method": "getTemplates"}))["result"]["templates"],
        json!([])
    );

    let r = c.call(json!({"method": "saveTemplate", "name": "Board", "settings": {"mode": "moderated", "maxParticipants": 12, "maxPodiums": 3, "pin": "2468"}}));
    assert_eq!(r["ok"], true, "{r}");
    let id = r["result"]["id"].as_i64().unwrap();
    // Rename it; a template that does not exist is not found.
    let r = c.call(json!({"method": "saveTemplate", "id": id, "name": "Board review", "settings": {"mode": "moderated", "maxParticipants": 12, "maxPodiums": 3, "pin": "2468"}}));
    assert_eq!(r["ok"], true, "{r}");
    let r = c.call(json!({"method": "saveTemplate", "id": id + 100, "name": "x", "settings": {"mode": "smart"}}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());

    // After a restart the template is still there, and starts a conference
    // the room joins, in its mode.
    let (mut d, api) = common::start_with_api(&data);
    let mut c = d.control();
    let list = c.call(json!({"method": "getTemplates"}));
    let t = &list["result"]["templates"][0];
    assert_eq!(t["name"], "Board review", "{list}");
    assert_eq!(t["settings"]["maxPodiums"], 3, "{list}");
    let r = c.call(json!({"method": "startTemplate", "id": id}));
    assert_eq!(r["ok"], true, "{r}");
    let cid = r["result"]["cid"].as_str().unwrap().to_string();
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(body["conference"]["type"], 3, "{body}");
    let st = c.call(json!({"method": "getAppState"}));
    assert_eq!(st["result"]["activity"], "conference");
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);

    assert_eq!(
        c.call(json!({"method": "deleteTemplate", "id": id}))["ok"],
        true
    );
    let r = c.call(json!({"method": "deleteTemplate", "id": id}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    let r = c.call(json!({"method": "startTemplate", "id": id}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    assert_eq!(
        c.call(json!({"method": "getTemplates"}))["result"]["templates"],
        json!([])
    );
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn no_secret_leaves_dais_through_settings_status_or_the_log() {
    // The hash's value and the other secrets, each recognisable.
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGFpcy10ZXN0LXNhbHQ$0E3VrMUq2H1ZbJUiEB7Cu6c2fOCTz1bVb8UVZPpF8xk";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = data.with_extension("toml");
    std::fs::write(
        &cfg,
        format!(
            "[control]\npin = \"97531\"\n[panel]\nadmin_pin = \"86420\"\n\
             [[server.users]]\nlogin = \"ann\"\ndisplay_name = \"Ann\"\npassword_hash = \"{HASH}\"\n\
             [[server.api_clients]]\nid = \"crm\"\nsecret_hash = \"{HASH}\"\n\
             [[conference.servers]]\nhost = \"10.0.0.9:8080\"\nscheme = \"http\"\nclient_id = \"boardroom\"\nclient_secret = \"far-side-s3cret\"\n"
        ),
    )
    .unwrap();
    let mut s = common::Start::new(&data);
    s.config = Some(cfg);
    let mut d = Dais::start(s);
    d.wait_ready();
    let secrets = ["97531", "86420", "0E3VrMUq2H1Z", "far-side-s3cret"];

    let mut c = d.control();
    let r = c.call(json!({"method": "getSettings"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = &r["result"];
    // Each secret is there as set, never as itself.
    assert_eq!(st["control"]["pin"], "(set)", "{st}");
    assert_eq!(st["panel"]["admin_pin"], "(set)", "{st}");
    assert_eq!(st["server"]["users"][0]["password_hash"], "(set)", "{st}");
    assert_eq!(
        st["server"]["api_clients"][0]["secret_hash"], "(set)",
        "{st}"
    );
    assert_eq!(
        st["conference"]["servers"][0]["client_secret"], "(set)",
        "{st}"
    );
    assert_eq!(st["conference"]["servers"][0]["client_id"], "boardroom");
    // Status and metrics as a controller reads them, and the log.
    let text = |path: &str| {
        let (code, body) = d.get_bytes(path);
        assert_eq!(code, 200, "{path}");
        String::from_utf8_lossy(&body).to_string()
    };
    let status = text("/status");
    let metrics = text("/metrics");
    let log = d.log_text();
    for secret in secrets {
        for (what, text) in [
            ("getSettings", r.to_string()),
            ("/status", status.clone()),
            ("/metrics", metrics.clone()),
            ("the log", log.clone()),
        ] {
            assert!(!text.contains(secret), "{secret} in {what}");
        }
    }
}

/// A TCP connection to `addr` from `source` (any 127.0.0.0/8 address plays
/// another host on loopback), with reads that give up after `read`.
fn connect_from(source: &str, addr: &str, read: Duration) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        sock.connect(addr.parse().unwrap()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(read)).unwrap();
    stream
}

/// The next line dais writes, or what stopped it.
fn line(s: &TcpStream) -> String {
    use std::io::BufRead;
    let mut out = String::new();
    match std::io::BufReader::new(s).read_line(&mut out) {
        Ok(0) => "(closed)".into(),
        Ok(_) => out,
        Err(e) => format!("(no line: {e})"),
    }
}

/// One address cannot hold every controller connection, nobody can keep
/// the local socket `dais open` uses from answering, and a connection that
/// never authenticates is closed after 10 s, giving its place back.
#[test]
fn idle_and_greedy_connections_cannot_lock_controllers_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("limits.toml");
    std::fs::write(
        &cfg,
        "[control]\nmax_connections = 4\nmax_connections_per_address = 2\n",
    )
    .unwrap();
    let mut s = common::Start::new(&data);
    s.config = Some(cfg);
    let d = Dais::start(s);
    let addr = d.control.clone().unwrap();
    let long = Duration::from_secs(30);
    let opened = std::time::Instant::now();
    let held: Vec<TcpStream> = ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"]
        .iter()
        .map(|src| connect_from(src, &addr, long))
        .collect();
    // A third from one address, and a fifth in all, are refused saying why.
    let third = line(&connect_from("127.0.0.1", &addr, long));
    assert!(
        third.contains("too many control connections") && third.contains("from this address"),
        "{third}"
    );
    let fifth = line(&connect_from("127.0.0.3", &addr, long));
    assert!(fifth.contains("4 connections are open"), "{fifth}");
    // The local socket has its own pool.
    let out = common::dais(&[
        "open",
        "trueconf:\\c\\bad cid",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        reply["error"]["code"], "badRequest",
        "dais open answered: {reply}"
    );
    // None of the held four authenticated: each is told so and closed
    // within a few seconds of its 10.
    for s in &held {
        let said = line(s);
        assert!(said.contains("authenticate within 10 s"), "{said}");
        assert_eq!(line(s), "(closed)");
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "closed before the deadline: {waited:?}"
    );
    // Their places are free again, and an authenticated controller stays.
    let mut c = d.control();
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(c.call(json!({"method": "getAppState"}))["ok"], true);
}

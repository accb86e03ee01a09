//! The participants' signalling WebSocket without a browser: bad messages
//! get errors that name the field, join refusals carry reasons, guest-link
//! tokens are single use, and the web client's pages are served.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::Dais;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

struct Ws(WebSocket<TcpStream>);

impl Ws {
    fn open(d: &Dais) -> Ws {
        let addr = d.http.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (ws, _) =
            tungstenite::client(format!("ws://{addr}/webrtc/signalling/ws"), stream).unwrap();
        Ws(ws)
    }

    fn send_text(&mut self, text: &str) {
        self.0.send(Message::text(text.to_string())).unwrap();
    }

    fn next(&mut self) -> Value {
        loop {
            match self.0.read().unwrap() {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(_) => return Value::Null,
                _ => {}
            }
        }
    }

    /// Reads until a message of `kind` arrives.
    fn until(&mut self, kind: &str) -> Value {
        for _ in 0..50 {
            let v = self.next();
            if v["type"] == kind || v.is_null() {
                return v;
            }
        }
        panic!("no {kind} message");
    }
}

#[test]
fn bad_messages_get_errors_that_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    // Before joining, a bad first message is refused as a bad request.
    let cases = [
        ("{\"type\": \"join\", \"cid\": ", "line 1 column 24"),
        ("[1, 2]", "object"),
        ("{\"cid\": \"1\"}", "type"),
        ("{\"type\": \"dance\"}", "type"),
        ("{\"type\": \"join\"}", "cid"),
        ("{\"type\": \"join\", \"cid\": \"\"}", "cid"),
        (
            "{\"type\": \"join\", \"cid\": \"1\", \"pin\": \"12ab\"}",
            "pin",
        ),
        (
            "{\"type\": \"join\", \"cid\": \"1\", \"displayName\": \"   \"}",
            "displayName",
        ),
        (
            "{\"type\": \"join\", \"cid\": \"1\", \"colour\": \"red\"}",
            "colour",
        ),
        ("{\"type\": \"chat\", \"text\": \"before joining\"}", "join"),
    ];
    for (text, names) in cases {
        let mut ws = Ws::open(&d);
        ws.send_text(text);
        let r = ws.next();
        assert_eq!(r["type"], "refused", "{text} → {r}");
        assert_eq!(r["reason"], "bad_request", "{text} → {r}");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(names), "{text} → {msg} (should name {names})");
    }

    // Once in, a bad message is an error and the connection goes on.
    let cid = api.running_conference(
        &json!({"topic": "Open", "owner": "chair", "type": 0, "allow_guests": true}),
    );
    let mut ws = Ws::open(&d);
    ws.send_text(&json!({"type": "join", "cid": cid, "displayName": "Ann"}).to_string());
    let r = ws.until("joined");
    assert_eq!(r["state"], "admitted", "{r}");
    for (text, names) in [
        ("{\"type\": \"chat\"}", "text"),
        ("{\"type\": \"chat\", \"text\": \"\"}", "text"),
        (
            "{\"type\": \"podium\", \"id\": \"x\", \"on\": \"yes\"}",
            "on",
        ),
        ("{\"type\": \"admit\", \"id\": \"nobody\"}", "may not"),
        ("not json", "JSON"),
    ] {
        ws.send_text(text);
        let r = ws.until("error");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(names), "{text} → {r} (should name {names})");
    }
    ws.send_text("{\"type\": \"ping\"}");
    assert_eq!(ws.until("pong")["type"], "pong");
}

#[test]
fn refusals_carry_reasons_and_link_tokens_are_single_use() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    let mut ws = Ws::open(&d);
    ws.send_text(&json!({"type": "join", "cid": "nope", "displayName": "Ann"}).to_string());
    let r = ws.until("refused");
    assert_eq!(r["reason"], "not_found", "{r}");

    let cid = api.running_conference(
        &json!({"topic": "Private", "owner": "chair", "type": 0, "allow_guests": false}),
    );
    let mut ws = Ws::open(&d);
    ws.send_text(&json!({"type": "join", "cid": cid, "displayName": "Ann"}).to_string());
    let r = ws.until("refused");
    assert_eq!(r["reason"], "guests_not_allowed", "{r}");
    assert!(!r["message"].as_str().unwrap().is_empty());

    // A guest link: works once.
    let cid = api.running_conference(
        &json!({"topic": "Open", "owner": "chair", "type": 0, "allow_guests": true,
               "wait_for_host": true}),
    );
    let (code, body) = api.get(&format!(
        "/api/v3.11/software/clients?call_id={cid}&case=join_conference_button&user=%24Ann"
    ));
    assert_eq!(code, 200, "{body}");
    let web = body["clients"][0]["web_url"].as_str().unwrap().to_string();
    assert!(web.contains(&format!("/webrtc/{cid}")), "{web}");
    let token = common::urldecode(&common::link_token(&web));
    let mut ann = Ws::open(&d);
    ann.send_text(&json!({"type": "join", "cid": cid, "linkToken": token}).to_string());
    let r = ann.until("joined");
    assert_eq!(r["state"], "waiting", "{r}");
    assert_eq!(r["reason"], "waiting_for_host", "{r}");
    assert_eq!(r["conference"]["topic"], "Open");
    let mut again = Ws::open(&d);
    again.send_text(&json!({"type": "join", "cid": cid, "linkToken": token}).to_string());
    let r = again.until("refused");
    assert!(
        r["message"].as_str().unwrap().contains("link"),
        "a used link token is refused: {r}"
    );

    // The web client's page and its assets are served, with no CDN.
    let (code, page) = common::get_bytes(&d.url(&format!("/webrtc/{cid}")));
    assert_eq!(code, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("dais.js"), "{page}");
    assert!(!page.contains("https://"), "no outside resources: {page}");
    let (code, js) = common::get_bytes(&d.url("/webrtc/assets/dais.js"));
    assert_eq!(code, 200);
    assert!(String::from_utf8(js).unwrap().contains("RTCPeerConnection"));
    let (code, _) = common::get_bytes(&d.url("/webrtc/assets/../../etc/passwd"));
    assert_eq!(code, 404);
}

#[test]
fn the_room_answers_an_invitation_from_the_rest_api() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    let mut c = d.control();
    // Asleep behind the TV: the invitation wakes it.
    assert_eq!(c.call(json!({"method": "standby"}))["ok"], true);
    let cid =
        api.running_conference(&json!({"topic": "Call the room", "owner": "chair", "type": 0}));
    let (code, r) = api.post(
        &format!("/api/v3.11/conferences/{cid}/invite"),
        &json!({"participants": ["room"]}),
    );
    assert_eq!(code, 200, "{r}");
    common::eventually(
        Duration::from_secs(15),
        "the room in the conference",
        || {
            let st = c.call(json!({"method": "getAppState"}));
            (st["result"]["activity"] == "conference"
                && st["result"]["conference"]["cid"] == cid.as_str())
            .then_some(())
        },
    );
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
    assert_eq!(body["participants"][0]["id"], "room", "{body}");

    // A conference that invites the room when it starts (auto_invite).
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);
    let (code, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Daily", "owner": "chair", "type": 0, "auto_invite": true,
                "invitations": ["room"]}),
    );
    assert_eq!(code, 200, "{r}");
    let daily = r["conference"]["id"].as_str().unwrap().to_string();
    let (code, r) = api.post(&format!("/api/v3.11/conferences/{daily}/run"), &json!({}));
    assert_eq!(code, 200, "{r}");
    common::eventually(Duration::from_secs(15), "the room in the daily", || {
        let st = c.call(json!({"method": "getAppState"}));
        (st["result"]["conference"]["cid"] == daily.as_str()).then_some(())
    });
}

#[test]
fn rights_hold_on_the_chat_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    let cid = api.running_conference(
        &json!({"topic": "Quiet guests", "owner": "chair", "type": 0, "allow_guests": true,
               "host_pin": "8642", "rights": {"guest": {"chat_send": false}}}),
    );
    // A user-side participant (an API client bringing its own participant).
    let mut host = Ws::open(&d);
    host.send_text(
        &json!({"type": "join", "cid": cid, "accessToken": api.token.clone().unwrap(),
                "participantId": "crm:desk", "displayName": "Front desk"})
        .to_string(),
    );
    assert_eq!(host.until("joined")["state"], "admitted");
    let mut guest = Ws::open(&d);
    guest.send_text(&json!({"type": "join", "cid": cid, "displayName": "Gus"}).to_string());
    assert_eq!(guest.until("joined")["state"], "admitted");

    guest.send_text(&json!({"type": "chat", "text": "psst"}).to_string());
    let r = guest.until("error");
    assert_eq!(r["code"], "forbidden", "{r}");
    assert!(r["message"].as_str().unwrap().contains("chat_send"), "{r}");
    host.send_text(&json!({"type": "chat", "text": "Agenda: one item"}).to_string());
    let r = guest.until("chat");
    assert_eq!(r["message"]["text"], "Agenda: one item", "{r}");
    // The refused message was never stored: a late joiner sees only the host's.
    let mut late = Ws::open(&d);
    late.send_text(&json!({"type": "join", "cid": cid, "displayName": "Lea"}).to_string());
    let h = late.until("chatHistory");
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["Agenda: one item"], "{h}");
}

#[test]
fn the_room_admits_from_the_waiting_room_over_the_control_network() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    let cid = api.running_conference(
        &json!({"topic": "Interviews", "owner": "room", "type": 3, "allow_guests": true,
               "waiting_room_enabled": true}),
    );
    let mut c = d.control();
    // Not in the conference yet: nothing to moderate.
    let r = c.call(json!({"method": "admitAll"}));
    assert_eq!(r["error"]["code"], "conflict", "{r}");
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");

    let mut gus = Ws::open(&d);
    gus.send_text(&json!({"type": "join", "cid": cid, "displayName": "Gus"}).to_string());
    let j = gus.until("joined");
    assert_eq!(j["state"], "waiting", "{j}");
    let id = j["participantId"].as_str().unwrap().to_string();

    let r = c.call(json!({"method": "admit", "participantId": "nobody"}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    common::eventually(Duration::from_secs(10), "Gus in the room's roster", || {
        let r = c.call(json!({"method": "admit", "participantId": id}));
        (r["ok"] == true).then_some(())
    });
    let s = gus.until("state");
    assert_eq!(s["state"], "admitted", "{s}");
    // A second guest asks; the room declines.
    let mut rita = Ws::open(&d);
    rita.send_text(&json!({"type": "join", "cid": cid, "displayName": "Rita"}).to_string());
    let rid = rita.until("joined")["participantId"]
        .as_str()
        .unwrap()
        .to_string();
    common::eventually(Duration::from_secs(10), "the room declines Rita", || {
        let r = c.call(json!({"method": "rejectJoinRequest", "participantId": rid}));
        (r["ok"] == true).then_some(())
    });
    let r = rita.until("ended");
    assert_eq!(r["reason"], "rejected", "{r}");

    let r = c.call(json!({"method": "podium", "participantId": id, "on": true}));
    assert_eq!(r["ok"], true, "{r}");
    common::eventually(Duration::from_secs(10), "Gus on the podium", || {
        let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
        body["participants"]
            .as_array()?
            .iter()
            .any(|p| p["id"] == id.as_str() && p["podium"] == true)
            .then_some(())
    });
}

#[test]
fn the_room_ends_its_conference_for_everyone() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = common::start_with_api(&tmp.path().join("data"));
    let mut c = d.control();
    let r = c.call(json!({"method": "endConference"}));
    assert_eq!(r["error"]["code"], "conflict", "{r}");
    let r = c.call(json!({"method": "meetNow", "mode": "allOnScreen", "topic": "Short one"}));
    assert_eq!(r["ok"], true, "{r}");
    let cid = r["result"]["cid"].as_str().unwrap().to_string();
    let mut guest = Ws::open(&d);
    guest.send_text(&json!({"type": "join", "cid": cid, "displayName": "Gus"}).to_string());
    assert_eq!(guest.until("joined")["state"], "admitted");

    let r = c.call(json!({"method": "endConference"}));
    assert_eq!(r["ok"], true, "{r}");
    let ended = guest.until("ended");
    assert_eq!(ended["reason"], "conference_ended", "{ended}");
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(body["conference"]["state"], "stopped", "{body}");
    common::eventually(Duration::from_secs(10), "the room idle", || {
        (c.call(json!({"method": "getAppState"}))["result"]["activity"] == "idle").then_some(())
    });
}

#[test]
fn an_api_client_brings_participants_under_its_own_id_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("users.toml");
    let hash = common::hash_secret("alice-password");
    std::fs::write(
        &cfg,
        format!("[[server.users]]\nlogin = \"alice\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let mut s = common::Start::new(&data);
    s.config = Some(cfg);
    s.extra = vec![
        "--api-client".into(),
        "crm:correct-horse-battery".into(),
        "--api-client".into(),
        "other:another-long-secret".into(),
    ];
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = common::Api::new(&d.base()).login_client("crm", "correct-horse-battery");
    let cid = api.running_conference(
        &json!({"topic": "Owned", "owner": "alice", "type": 0, "allow_guests": true}),
    );
    // The room and alice are in it; a guest too.
    let mut c = d.control();
    assert_eq!(c.send_line(&format!("trueconf:\\c\\{cid}"))["ok"], true);
    let mut guest = Ws::open(&d);
    guest.send_text(&json!({"type": "join", "cid": cid, "displayName": "Gus"}).to_string());
    let guest_id = guest.until("joined")["participantId"]
        .as_str()
        .unwrap()
        .to_string();
    let token = api.token.clone().unwrap();
    let join_as = |pid: &str| {
        let mut ws = Ws::open(&d);
        ws.send_text(
            &json!({"type": "join", "cid": cid, "accessToken": token, "participantId": pid})
                .to_string(),
        );
        let first = loop {
            let v = ws.next();
            if v["type"] == "joined" || v["type"] == "refused" || v.is_null() {
                break v;
            }
        };
        (first, ws)
    };
    for someone_else in [
        "alice",
        "ALICE",
        "room",
        "other",
        "other:desk",
        guest_id.as_str(),
    ] {
        let (r, _) = join_as(someone_else);
        assert_eq!(r["type"], "refused", "{someone_else}: {r}");
        assert_eq!(r["reason"], "forbidden", "{someone_else}: {r}");
        assert!(
            r["message"].as_str().unwrap().contains("crm:<name>"),
            "{someone_else}: {r}"
        );
    }
    // Nobody was evicted: the room is still in, and so is the guest.
    let st = c.call(json!({"method": "getAppState"}));
    assert_eq!(st["result"]["activity"], "conference", "{st}");
    guest
        .0
        .send(Message::text(
            json!({"type": "chat", "text": "still here"}).to_string(),
        ))
        .unwrap();
    assert_eq!(guest.until("chat")["message"]["text"], "still here");
    // Its own id and ids under it are its to bring.
    for own in ["crm", "crm:desk-2"] {
        let (r, _ws) = join_as(own);
        assert_eq!(r["type"], "joined", "{own}: {r}");
        assert_eq!(r["participantId"], own);
    }
}

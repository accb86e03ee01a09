//! Time-bound behaviour under an injected clock, over real HTTP on
//! loopback: guest links valid once and for one minute; scheduled
//! conferences starting and stopping on time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Api, eventually};
use dais::clock::ManualClock;
use dais::server::auth::{ApiClient, Auth, Secret};
use dais::server::{Server, ServerConfig, ServerEvent, Trigger};
use serde_json::json;

/// The conferencing server in this process, on a real socket, with a clock
/// the test moves.
struct InProcess {
    api: Api,
    clock: Arc<ManualClock>,
    server: Server,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start(now: i64) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let store = dais::store::Store::open(dir.path()).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let auth = Auth::new(
        vec![ApiClient {
            id: "crm".into(),
            secret: Secret::Plain("sekrit-sekrit".into()),
        }],
        vec![],
        // Longer than the week the schedule test moves through.
        30 * 86_400,
    );
    let server = Server::open(store, clock.clone(), ServerConfig::default(), auth).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let router = dais::server::api::router(server.clone());
    rt.spawn(async move { axum::serve(listener, router).await.unwrap() });
    rt.spawn(
        server
            .clone()
            .scheduler(tokio_util::sync::CancellationToken::new()),
    );
    let api = Api::new(&format!("http://{addr}")).login_client("crm", "sekrit-sekrit");
    InProcess {
        api,
        clock,
        server,
        _rt: rt,
        _dir: dir,
    }
}

fn link(api: &Api, cid: &str, user: &str) -> (String, serde_json::Value) {
    let (code, body) = api.get(&format!(
        "/api/v3.11/software/clients?call_id={cid}&case=join_conference_button&user={}",
        urlencode(user)
    ));
    assert_eq!(code, 200, "{body}");
    let web = body["clients"][0]["web_url"].as_str().unwrap().to_string();
    (common::link_token(&web), body)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn guest_link_flow_token_create_run_clients_once_and_for_a_minute() {
    let p = start(1_798_790_000);
    let a = &p.api;
    // Create (stopped), then run: the seed's order.
    let mut body = common::fixture("seed002_create_conference.json");
    body["state"] = json!("stopped");
    let (code, created) = a.post("/api/v3.11/conferences", &body);
    assert_eq!(code, 200, "{created}");
    let (token, clients) = link(a, "Conference_ID", "2$Ian Taylor*Ian Taylor");
    let c = &clients["clients"][0];
    assert_eq!(c["name"], "TrueConf Web");
    assert_eq!(c["type"], "web");
    assert!(
        c["web_url"]
            .as_str()
            .unwrap()
            .contains("/webrtc/Conference_ID#login=*guest*Ian%20Taylor&token=$2")
    );
    assert!(c["iframe"].as_str().unwrap().starts_with("<iframe src=\""));
    assert!(
        c["deeplinks"]["default"]
            .as_str()
            .unwrap()
            .starts_with("trueconf:\\c\\Conference_ID@")
    );
    assert!(
        c["deeplinks"]["android"]
            .as_str()
            .unwrap()
            .starts_with("intent:\\c\\Conference_ID%40")
    );

    let anon = Api::new(&a.base);
    // Too early: the conference is not running; the link is not burnt.
    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        a.post("/api/v3.11/conferences/Conference_ID/run", &json!({}))
            .0,
        200
    );

    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["decision"], "admitted");
    assert_eq!(body["participant"]["id"], "guest:Ian Taylor");
    assert_eq!(body["participant"]["display_name"], "Ian Taylor");

    // Once only.
    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(code, 401);
    assert_eq!(body["error"]["message"], "the guest link was already used");

    // $Name: the server makes the id. Valid for 59 s, dead at 60 s.
    let (token, clients) = link(a, "Conference_ID", "$Иван Иванов");
    assert!(
        clients["clients"][0]["guest_id"]
            .as_str()
            .unwrap()
            .starts_with("guest_")
    );
    p.clock.advance(Duration::from_secs(60));
    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let (token, _) = link(a, "Conference_ID", "$Late Guest");
    p.clock.advance(Duration::from_secs(59));
    // A link works only for its own conference.
    a.post("/api/v3.11/conferences", &json!({"id": "other", "topic": "o", "owner": "o", "state": "running", "allow_guests": true}));
    let (code, _) = anon.post(
        "/api/v3.11/conferences/other/participants",
        &json!({"token": token}),
    );
    assert_eq!(code, 401);
    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(
        code, 200,
        "59 s after it was made, the link still works: {body}"
    );
    // The conference holds two: a third guest with a good link is refused as full.
    let (token, _) = link(a, "Conference_ID", "$Third");
    let (code, body) = anon.post(
        "/api/v3.11/conferences/Conference_ID/participants",
        &json!({"token": token}),
    );
    assert_eq!(
        (code, body["reason"].as_str()),
        (403, Some("full")),
        "{body}"
    );

    // Bad user parameters are named.
    let (code, body) = a.get("/api/v3.11/software/clients?call_id=Conference_ID&user=Ian");
    assert_eq!(code, 400);
    assert_eq!(body["error"]["errors"][0]["field"], "user");
    let (code, _) = a.get("/api/v3.11/software/clients?call_id=nope&user=%24Ann");
    assert_eq!(code, 404);
    let (code, body) = a.get("/api/v3.11/software/clients");
    assert_eq!(code, 400);
    assert_eq!(common::bad_fields(&body), ["call_id", "user"]);
}

#[test]
fn one_time_and_weekly_schedules_start_and_stop_on_time() {
    // 2027-01-01 11:50 MSK: ten minutes before the seed's consultation.
    let p = start(1_798_793_400);
    let a = &p.api;
    let mut events = p.server.subscribe();
    let state = |cid: &str| {
        let (code, body) = a.get(&format!("/api/v3.11/conferences/{cid}"));
        assert_eq!(code, 200, "{body}");
        body["conference"]["state"].as_str().unwrap().to_string()
    };

    let mut req = common::fixture("api_notes_nested_rights.json");
    req["id"] = json!("consult");
    assert_eq!(a.post("/api/v3.11/conferences", &req).0, 200);
    // A virtual room is left alone by the scheduler.
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "lobby", "topic": "Lobby", "owner": "o"}),
    );
    assert_eq!(state("consult"), "stopped");

    p.clock.advance(Duration::from_secs(600));
    eventually(Duration::from_secs(10), "the scheduled start", || {
        (state("consult") == "running").then_some(())
    });
    let started = loop {
        match events.try_recv() {
            Ok(ServerEvent::Started { cid, by }) => break (cid, by),
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(started, ("consult".to_string(), Trigger::Schedule));

    p.clock.advance(Duration::from_secs(1799));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state("consult"),
        "running",
        "one second before the end it still runs"
    );
    p.clock.advance(Duration::from_secs(1));
    eventually(Duration::from_secs(10), "the scheduled stop", || {
        (state("consult") == "stopped").then_some(())
    });
    assert_eq!(state("lobby"), "stopped");

    // Weekly, Fridays 12:45 local (UTC+3), 15 minutes. 2027-01-01 is a Friday; now is 12:30.
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "friday", "topic": "Friday", "owner": "o", "schedule": {"type": 0, "days": [5], "time": "12:45", "duration": 900, "time_offset": 180}}),
    );
    p.clock.advance(Duration::from_secs(900));
    eventually(Duration::from_secs(10), "the weekly start", || {
        (state("friday") == "running").then_some(())
    });
    // Stopped by hand in its window: the schedule does not restart it...
    assert_eq!(
        a.post("/api/v3.11/conferences/friday/stop", &json!({})).0,
        200
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(state("friday"), "stopped");
    // ...but next Friday it runs again.
    p.clock.advance(Duration::from_secs(7 * 86_400));
    eventually(Duration::from_secs(10), "next week's start", || {
        (state("friday") == "running").then_some(())
    });
}

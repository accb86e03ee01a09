//! The conferencing server's REST API over real HTTP against the real
//! binary: seed requests accepted as-is, TrueConf-shaped answers, every
//! error status, persistence across a restart.

mod common;

use std::time::Duration;

use common::{Api, Dais, Raw, Start, bad_fields, fixture};
use serde_json::json;

const CLIENT: &str = "crm:correct-horse-battery";

fn start(data: &std::path::Path, extra: &[&str]) -> Dais {
    let mut s = Start::new(data);
    s.extra = ["--api-client", CLIENT]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    let mut d = Dais::start(s);
    d.wait_ready();
    d
}

fn api(d: &Dais) -> Api {
    Api::new(&d.http).login_client("crm", "correct-horse-battery")
}

#[test]
fn oauth_tokens_and_their_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let anon = Api::new(&d.http);
    let (code, body) = anon.form(
        "/oauth2/v1/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "crm"),
            ("client_secret", "correct-horse-battery"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 604_800);
    assert_eq!(body["access_token"].as_str().unwrap().len(), 64);

    let (code, body) = anon.form(
        "/oauth2/v1/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "crm"),
            ("client_secret", "wrong"),
        ],
    );
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(body["error_description"].is_string());
    let (code, body) = anon.form("/oauth2/v1/token", &[("grant_type", "magic")]);
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // No token, a wrong token: 401 with a reason.
    let (code, body) = anon.get("/api/v3.11/conferences");
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access token")
    );
    let (code, _) = anon.with_token("0000").get("/api/v3.11/conferences");
    assert_eq!(code, 401);
    // ?access_token= works as well as the header.
    let ok = api(&d);
    let t = ok.token.clone().unwrap();
    let (code, _) = anon.get(&format!("/api/v3.11/conferences?access_token={t}"));
    assert_eq!(code, 200);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn guessing_secrets_at_the_token_endpoint_locks_the_address_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), &[]);
    let client = api(&d);
    let anon = Api::new(&d.http);
    let grant = |secret: &str| {
        anon.form(
            "/oauth2/v1/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "crm"),
                ("client_secret", secret),
            ],
        )
    };
    // A malformed request is not a guess and costs nothing.
    for _ in 0..10 {
        let (code, _) = anon.form("/oauth2/v1/token", &[("grant_type", "client_credentials")]);
        assert_eq!(code, 400);
    }
    // A right secret in between clears the count.
    for _ in 0..4 {
        assert_eq!(grant("wrong").0, 401);
    }
    assert_eq!(grant("correct-horse-battery").0, 200);
    for _ in 0..4 {
        assert_eq!(grant("wrong").0, 401);
    }
    // A malformed request in between resets nothing either.
    let (code, _) = anon.form("/oauth2/v1/token", &[("grant_type", "client_credentials")]);
    assert_eq!(code, 400);
    // The fifth wrong secret in a row locks the address out: even the
    // right one is refused until it ends, with when to come back.
    assert_eq!(grant("wrong").0, 401);
    let (code, body) = grant("correct-horse-battery");
    assert_eq!(
        (code, body["error"].as_str()),
        (429, Some("slow_down")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("try again in 30 s"),
        "{body}"
    );
    // A token issued before goes on working.
    let (code, body) = client.get("/api/v3.11/conferences");
    assert_eq!(code, 200, "{body}");
}

#[test]
fn guessing_a_conference_pin_locks_that_address_out_of_that_conference() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    for (id, pin, host_pin) in [("vault", "4821", "9137"), ("lobby", "1111", "")] {
        let (code, body) = a.post(
            "/api/v3.11/conferences",
            &json!({"id": id, "topic": id, "owner": "doc", "allow_guests": true, "state": "running",
                     "pin": pin, "host_pin": host_pin, "max_participants": 50}),
        );
        assert_eq!(code, 200, "{body}");
    }
    let join = |source: &str, cid: &str, pin: &str| {
        let path = format!("/api/v3.11/conferences/{cid}/participants");
        let body = json!({"display_name": "Guest", "pin": pin}).to_string();
        let r = d.raw(Raw::post_json(&path, &body).source(source));
        (r.status, r.head.clone(), r.json())
    };
    // Four wrong, then the host PIN: the count starts again.
    for pin in ["0000", "1234", "9999", "4822"] {
        assert_eq!(join("127.0.0.1", "vault", pin).0, 403, "{pin}");
    }
    let (code, _, body) = join("127.0.0.1", "vault", "9137");
    assert_eq!(code, 200, "{body}");
    // Someone who knows the PIN cannot reset the count between guesses
    // at the host PIN: four guesses, the PIN (which lets them in), and
    // the fifth guess locks this address out of the conference. The PIN
    // and the host PIN are then refused too, with when to come back.
    for pin in ["0001", "9136", "9138", "0003"] {
        let (code, _, body) = join("127.0.0.1", "vault", pin);
        assert_eq!(
            (code, body["reason"].as_str()),
            (403, Some("wrong_pin")),
            "{pin}: {body}"
        );
    }
    assert_eq!(join("127.0.0.1", "vault", "4821").0, 200);
    assert_eq!(join("127.0.0.1", "vault", "0004").0, 403);
    for pin in ["4821", "9137"] {
        let (code, head, body) = join("127.0.0.1", "vault", pin);
        assert_eq!(code, 429, "{pin}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("try again in 30 s"), "{message}");
        let retry: u64 = head
            .lines()
            .find_map(|l| l.strip_prefix("retry-after: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in {head}"));
        assert!((1..=30).contains(&retry), "{retry}");
    }
    // The signalling is held to the same count.
    let addr = d.http.trim_start_matches("http://").to_string();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut ws, _) =
        tungstenite::client(format!("ws://{addr}/webrtc/signalling/ws"), stream).unwrap();
    ws.send(tungstenite::Message::text(
        json!({"type": "join", "cid": "vault", "displayName": "Guest", "pin": "4821"}).to_string(),
    ))
    .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(
        (reply["type"].as_str(), reply["reason"].as_str()),
        (Some("refused"), Some("slow_down")),
        "{reply}"
    );
    // A guest link tried with a PIN from the locked-out address is not
    // spent: the guest it was made for can still use it from elsewhere.
    let (code, clients) = a.get(
        "/api/v3.11/software/clients?call_id=vault&case=join_conference_button&user=2%24Ian*Ian",
    );
    assert_eq!(code, 200, "{clients}");
    let link = common::link_token(clients["clients"][0]["web_url"].as_str().unwrap());
    let with_link = |source: &str| {
        let body = json!({"token": link, "pin": "4821"}).to_string();
        let r = d
            .raw(Raw::post_json("/api/v3.11/conferences/vault/participants", &body).source(source));
        (r.status, r.head.clone(), r.json())
    };
    assert_eq!(with_link("127.0.0.1").0, 429);
    let (code, _, body) = with_link("127.0.0.3");
    assert_eq!(code, 200, "the link still works elsewhere: {body}");
    // Other conferences, and other addresses, are not held up.
    assert_eq!(join("127.0.0.1", "lobby", "1111").0, 200);
    let (code, _, body) = join("127.0.0.2", "vault", "4821");
    assert_eq!(code, 200, "another address: {body}");
    let (code, _, body) = join("127.0.0.2", "vault", "9137");
    assert_eq!(
        (code, body["participant"]["role"].as_str()),
        (200, Some("moderator")),
        "the host PIN from another address: {body}"
    );
}

#[test]
fn seed_requests_are_accepted_and_answered_as_trueconf_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut d = start(&data, &[]);
    let a = api(&d);

    // Seed 002's object, flat rights, as-is.
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &fixture("seed002_create_conference.json"),
    );
    assert_eq!(code, 200, "{body}");
    let c = &body["conference"];
    assert_eq!(c["id"], "Conference_ID");
    assert_eq!(c["state"], "running");
    assert_eq!(c["type"], 0);
    assert_eq!(c["mode"], "PxP");
    assert_eq!(c["max_participants"], 2);
    assert_eq!(c["max_podiums"], 2);
    assert_eq!(c["allow_guests"], true);
    assert_eq!(c["recording"], 1);
    assert_eq!(c["schedule"], json!({"type": -1}));
    assert_eq!(c["rights"]["guest"]["video_send"], true);
    assert!(c["url"].as_str().unwrap().ends_with("/c/Conference_ID"));
    assert!(
        c["webclient_url"]
            .as_str()
            .unwrap()
            .ends_with("/webrtc/Conference_ID")
    );
    assert!(c["created_at"].as_i64().unwrap() > 1_700_000_000);

    // The same CID again: 409.
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &fixture("seed002_create_conference.json"),
    );
    assert_eq!(code, 409, "{body}");

    // Nested rights and the one-time schedule; no id: a 10-digit one.
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &fixture("api_notes_nested_rights.json"),
    );
    assert_eq!(code, 200, "{body}");
    let c = &body["conference"];
    let id = c["id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(c["schedule"]["start_time"], 1_798_794_000);
    assert_eq!(c["schedule"]["duration"], 1800);
    assert_eq!(c["rights"]["guest"]["chat_send"], false);
    assert_eq!(c["rights"]["user"]["chat_send"], true);
    assert_eq!(c["state"], "stopped");
    assert_eq!(c["invitations"][0]["display_name"], "Dr. Smith");

    // Any v3 minor version in the path; not v4.
    assert_eq!(a.get("/api/v3.3/conferences/Conference_ID").0, 200);
    assert_eq!(a.get("/api/v3.0/conferences/Conference_ID").0, 200);
    assert_eq!(a.get("/api/v4.0/conferences/Conference_ID").0, 404);
    assert_eq!(a.get("/api/v3.11/conferences/NoSuchRoom").0, 404);

    // v4 mode names are accepted too.
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Board", "owner": "ceo", "mode": "S|L Auto", "max_podiums": 3}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["conference"]["type"], 4);
    assert_eq!(
        body["conference"]["on_join_mute_mic"], true,
        "smart meetings mute on entry"
    );

    // Listing with filters and paging.
    let (code, body) = a.get("/api/v3.11/conferences?state=running");
    assert_eq!(code, 200);
    assert_eq!(body["total"], 1);
    let (_, body) = a.get("/api/v3.11/conferences?page_size=2&page=2");
    assert_eq!(body["total"], 3);
    assert_eq!(body["conferences"].as_array().unwrap().len(), 1);
    let (code, body) = a.get("/api/v3.11/conferences?state=sleeping&page_size=0");
    assert_eq!(code, 400);
    assert_eq!(bad_fields(&body), ["page_size", "state"]);

    // Restart: everything is still there, the token too.
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    drop(d);
    let mut d = start(&data, &[]);
    let a = Api {
        base: d.http.clone(),
        token: a.token.clone(),
    };
    let (code, body) = a.get("/api/v3.11/conferences/Conference_ID");
    assert_eq!(code, 200, "token or conference lost over a restart: {body}");
    assert_eq!(body["conference"]["state"], "running");
    assert_eq!(body["conference"]["max_participants"], 2);
    let (_, body) = a.get(&format!("/api/v3.11/conferences/{id}"));
    assert_eq!(body["conference"]["rights"]["guest"]["chat_send"], false);
    assert_eq!(a.get("/api/v3.11/conferences").1["total"], 3);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn bad_requests_name_every_bad_field() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &json!({"id": "room 1", "topic": "", "max_participants": 5000, "type": 2, "schedule": {"type": 1}, "pin": "12ab", "colour": "red"}),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        bad_fields(&body),
        [
            "colour",
            "id",
            "max_participants",
            "owner",
            "pin",
            "schedule.duration",
            "schedule.start_time",
            "topic",
            "type"
        ],
        "one answer names every bad field: {body}"
    );
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &json!({"id": "room 1", "topic": "", "owner": "x", "max_participants": 5000, "pin": "12ab"}),
    );
    assert_eq!(code, 400);
    assert_eq!(
        bad_fields(&body),
        ["id", "max_participants", "pin", "topic"]
    );
    let msg = body.to_string();
    assert!(
        msg.contains("position 4"),
        "the CID error names the position: {msg}"
    );

    let (code, body) = a.post_raw("/api/v3.11/conferences", b"{\"topic\": ".to_vec());
    assert_eq!(code, 400);
    assert!(
        body["error"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{body}"
    );

    // Bodies over http.max_body_bytes are refused before parsing.
    let huge = format!("{{\"topic\": \"{}\"}}", "x".repeat(300 * 1024));
    let (code, _) = a.post_raw("/api/v3.11/conferences", huge.into_bytes());
    assert_eq!(code, 413);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn update_rename_run_stop_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "daily", "topic": "Daily", "owner": "alice"}),
    );
    let (code, body) = a.post("/api/v3.11/conferences/daily/run", &json!({}));
    assert_eq!((code, body["state"].as_str()), (200, Some("running")));
    // A running conference's CID can change.
    let (code, body) = a.put(
        "/api/v3.11/conferences/daily",
        &json!({"id": "daily-standup", "max_participants": 10}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["conference"]["id"], "daily-standup");
    assert_eq!(body["conference"]["state"], "running");
    assert_eq!(a.get("/api/v3.11/conferences/daily").0, 404);
    assert_eq!(
        a.get("/api/v3.11/conferences/daily-standup").1["conference"]["max_participants"],
        10
    );
    // A bad update changes nothing.
    let (code, _) = a.put(
        "/api/v3.11/conferences/daily-standup",
        &json!({"topic": "New", "max_participants": 1}),
    );
    assert_eq!(code, 400);
    assert_eq!(
        a.get("/api/v3.11/conferences/daily-standup").1["conference"]["topic"],
        "Daily"
    );
    let (code, body) = a.post("/api/v3.11/conferences/daily-standup/stop", &json!({}));
    assert_eq!((code, body["state"].as_str()), (200, Some("stopped")));
    let (code, _) = a.delete("/api/v3.11/conferences/daily-standup");
    assert_eq!(code, 200);
    assert_eq!(a.get("/api/v3.11/conferences/daily-standup").0, 404);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn users_own_their_conferences_and_rights_forbid_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let hash = common::hash_secret;
    let cfg = tmp.path().join("dais.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[server.users]]\nlogin = \"alice\"\ndisplay_name = \"Alice\"\npassword_hash = \"{}\"\n\n[[server.users]]\nlogin = \"bob\"\npassword_hash = \"{}\"\n",
            hash("alice-password"),
            hash("bob-password")
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let mut s = Start::new(&data);
    s.config = Some(cfg);
    s.extra = vec!["--api-client".into(), CLIENT.into()];
    let mut d = Dais::start(s);
    d.wait_ready();
    let anon = Api::new(&d.http);
    let user = |name: &str, pw: &str| {
        let (code, body) = anon.form(
            "/oauth2/v1/token",
            &[
                ("grant_type", "password"),
                ("username", name),
                ("password", pw),
            ],
        );
        assert_eq!(code, 200, "{body}");
        anon.with_token(body["access_token"].as_str().unwrap())
    };
    let alice = user("alice", "alice-password");
    let bob = user("bob", "bob-password");
    let (code, _) = anon.form(
        "/oauth2/v1/token",
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "nope"),
        ],
    );
    assert_eq!(code, 400);

    // Alice's conference is hers even when she does not say so.
    let (code, body) = alice.post(
        "/api/v3.11/conferences",
        &json!({"id": "alices", "topic": "Alice's"}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["conference"]["owner"], "alice");
    // She may not create one in Bob's name.
    assert_eq!(
        alice
            .post(
                "/api/v3.11/conferences",
                &json!({"topic": "x", "owner": "bob"})
            )
            .0,
        403
    );
    // Bob may neither see nor change nor delete it.
    assert_eq!(bob.get("/api/v3.11/conferences/alices").0, 403);
    assert_eq!(
        bob.put("/api/v3.11/conferences/alices", &json!({"topic": "Mine"}))
            .0,
        403
    );
    assert_eq!(bob.delete("/api/v3.11/conferences/alices").0, 403);
    assert_eq!(bob.get("/api/v3.11/conferences").1["total"], 0);
    // Templates are the room's: users cannot change them.
    assert_eq!(
        bob.post(
            "/api/v3.11/templates",
            &json!({"name": "x", "settings": {}})
        )
        .0,
        403
    );
    // Alice runs hers; Bob joins as a participant and cannot admit or remove.
    assert_eq!(
        alice
            .post("/api/v3.11/conferences/alices/run", &json!({}))
            .0,
        200
    );
    let (code, body) = bob.post("/api/v3.11/conferences/alices/participants", &json!({}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["participant"]["id"], "bob");
    let (code, _) = alice.post("/api/v3.11/conferences/alices/participants", &json!({}));
    assert_eq!(code, 200);
    assert_eq!(
        bob.delete("/api/v3.11/conferences/alices/participants/alice")
            .0,
        403
    );
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn waiting_room_pin_and_capacity_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    let (code, body) = a.post(
        "/api/v3.11/conferences",
        &json!({"id": "clinic", "topic": "Clinic", "owner": "doc", "allow_guests": true, "state": "running",
                 "pin": "2468", "waiting_room_enabled": true, "max_participants": 3}),
    );
    assert_eq!(code, 200, "{body}");
    let anon = Api::new(&d.http);
    let join = |name: &str, pin: &str| {
        anon.post(
            "/api/v3.11/conferences/clinic/participants",
            &json!({"display_name": name, "pin": pin}),
        )
    };

    let (code, body) = join("Eve", "0000");
    assert_eq!((code, body["reason"].as_str()), (403, Some("wrong_pin")));
    assert_eq!(body["message"], "wrong PIN");

    let (code, body) = join("Pat", "2468");
    assert_eq!(
        (code, body["decision"].as_str(), body["reason"].as_str()),
        (202, Some("waiting"), Some("waiting_room"))
    );
    let pat = body["participant"]["id"].as_str().unwrap().to_string();
    let pat_session = anon.with_token(body["session"].as_str().unwrap());
    // A waiting participant sees nobody.
    let (code, body) = pat_session.get("/api/v3.11/conferences/clinic/participants");
    assert_eq!(code, 200);
    assert_eq!(body["participants"], json!([]));

    let (_, body) = join("Quinn", "2468");
    let quinn = body["participant"]["id"].as_str().unwrap().to_string();
    let (_, body) = join("Ray", "2468");
    assert_eq!(body["decision"], "waiting");
    // The fourth is one too many.
    let (code, body) = join("Sam", "2468");
    assert_eq!((code, body["reason"].as_str()), (403, Some("full")));
    assert_eq!(body["message"], "the conference is full");

    // The owner (API client) sees the waiting room and admits Pat, then everyone.
    let (_, body) = a.get("/api/v3.11/conferences/clinic/participants");
    assert_eq!(body["participants"].as_array().unwrap().len(), 3);
    let (code, body) = a.post(
        &format!("/api/v3.11/conferences/clinic/participants/{pat}/admit"),
        &json!({}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["participant"]["state"], "admitted");
    // Pat now sees the admitted ones only.
    let (_, body) = pat_session.get("/api/v3.11/conferences/clinic/participants");
    assert_eq!(body["participants"].as_array().unwrap().len(), 1);
    // Pat cannot admit Quinn.
    assert_eq!(
        pat_session
            .post(
                &format!("/api/v3.11/conferences/clinic/participants/{quinn}/admit"),
                &json!({})
            )
            .0,
        403
    );
    let (code, body) = a.post(
        "/api/v3.11/conferences/clinic/waiting_room/admit_all",
        &json!({}),
    );
    assert_eq!(code, 200);
    assert!(
        body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "admitted")
    );
    // Back to the waiting room, then removed.
    let (code, body) = a.put(
        &format!("/api/v3.11/conferences/clinic/participants/{quinn}"),
        &json!({"waiting_room": true}),
    );
    assert_eq!(
        (code, body["participant"]["state"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(
        a.delete(&format!(
            "/api/v3.11/conferences/clinic/participants/{quinn}"
        ))
        .0,
        200
    );
    assert_eq!(
        a.delete(&format!(
            "/api/v3.11/conferences/clinic/participants/{quinn}"
        ))
        .0,
        404
    );
    // Pat leaves by deleting their own membership.
    assert_eq!(
        pat_session
            .delete(&format!("/api/v3.11/conferences/clinic/participants/{pat}"))
            .0,
        200
    );
    // Stopping the conference empties it.
    a.post("/api/v3.11/conferences/clinic/stop", &json!({}));
    let (code, body) = join("Late", "2468");
    assert_eq!((code, body["reason"].as_str()), (403, Some("not_running")));
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn templates_save_rename_start_and_delete_for_good() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut d = start(&data, &[]);
    let a = api(&d);
    let (code, body) = a.post(
        "/api/v3.11/templates",
        &json!({"name": "Weekly review", "settings": {"type": 3, "max_participants": 8, "max_podiums": 2, "waiting_room_enabled": true}}),
    );
    assert_eq!(code, 201, "{body}");
    let id = body["template"]["id"].as_i64().unwrap();
    let (code, body) = a.post(
        "/api/v3.11/templates",
        &json!({"name": "", "settings": {"max_participants": 1}}),
    );
    assert_eq!(code, 400);
    assert_eq!(bad_fields(&body), ["name", "settings.max_participants"]);

    let (code, body) = a.put(
        &format!("/api/v3.11/templates/{id}"),
        &json!({"name": "Monthly review"}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["template"]["settings"]["max_podiums"], 2,
        "renaming keeps the settings"
    );

    let (code, body) = a.post(&format!("/api/v3.11/templates/{id}/start"), &json!({}));
    assert_eq!(code, 200, "{body}");
    let c = &body["conference"];
    assert_eq!(c["topic"], "Monthly review");
    assert_eq!(c["state"], "running");
    assert_eq!(c["type"], 3);
    assert_eq!(c["waiting_room_enabled"], true);

    // Templates survive a restart; a deleted one does not come back.
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    drop(d);
    let mut d = start(&data, &[]);
    let a = api(&d);
    let (_, body) = a.get("/api/v3.11/templates");
    assert_eq!(body["templates"][0]["name"], "Monthly review");
    assert_eq!(a.delete(&format!("/api/v3.11/templates/{id}")).0, 204);
    assert_eq!(a.get(&format!("/api/v3.11/templates/{id}")).0, 404);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    drop(d);
    let mut d = start(&data, &[]);
    assert_eq!(
        api(&d).get("/api/v3.11/templates").1["templates"],
        json!([])
    );
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn ics_parses_back_and_calendar_links_point_at_the_event() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    let mut req = fixture("api_notes_nested_rights.json");
    req["id"] = json!("consult");
    req["description"] = json!("Bring your test results, please; thanks");
    assert_eq!(a.post("/api/v3.11/conferences", &req).0, 200);
    let (code, text) = a.get_text("/api/v3.11/conferences/consult/ics");
    assert_eq!(code, 200);
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let cal = parser
        .next()
        .expect("one calendar")
        .expect("valid iCalendar");
    let ev = &cal.events[0];
    let prop = |n: &str| {
        ev.properties
            .iter()
            .find(|p| p.name == n)
            .and_then(|p| p.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(prop("DTSTART"), "20270101T090000Z");
    assert_eq!(prop("DTEND"), "20270101T093000Z");
    assert_eq!(prop("SUMMARY"), "Doctor consultation");
    assert!(
        prop("DESCRIPTION").contains("Bring your test results"),
        "{}",
        prop("DESCRIPTION")
    );
    assert!(prop("URL").ends_with("/webrtc/consult"));

    // Weekly: an RRULE.
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "weekly", "topic": "Weekly", "owner": "o", "schedule": {"type": 0, "days": ["tue", "fri"], "time": "10:00", "duration": 3600, "time_offset": 60}}),
    );
    let (_, text) = a.get_text("/api/v3.11/conferences/weekly/ics");
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let cal = parser.next().unwrap().unwrap();
    let rrule = cal.events[0]
        .properties
        .iter()
        .find(|p| p.name == "RRULE")
        .unwrap();
    assert_eq!(rrule.value.as_deref(), Some("FREQ=WEEKLY;BYDAY=TU,FR"));

    let (code, body) = a.get("/api/v3.11/conferences/weekly/calendars");
    assert_eq!(code, 200);
    assert!(
        body["google"]
            .as_str()
            .unwrap()
            .starts_with("https://calendar.google.com/calendar/render?action=TEMPLATE&text=Weekly")
    );
    assert!(
        body["google"]
            .as_str()
            .unwrap()
            .contains("RRULE%3AFREQ%3DWEEKLY")
    );
    assert!(body["outlook"].as_str().unwrap().contains("subject=Weekly"));
    assert!(
        body["ics"]
            .as_str()
            .unwrap()
            .ends_with("/api/v3.11/conferences/weekly/ics")
    );

    // A virtual room has no calendar entry.
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "vr", "topic": "VR", "owner": "o"}),
    );
    assert_eq!(a.get("/api/v3.11/conferences/vr/ics").0, 409);
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn openapi_describes_every_route_and_every_route_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(&tmp.path().join("data"), &[]);
    let a = api(&d);
    let (code, spec) = Api::new(&d.http).get("/api/openapi.json");
    assert_eq!(code, 200);
    assert_eq!(spec["openapi"], "3.0.3");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 19);
    a.post(
        "/api/v3.11/conferences",
        &json!({"id": "x1", "topic": "t", "owner": "o", "state": "running"}),
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let p = path
                .replace("{id}", "x1")
                .replace("{pid}", "nobody")
                .replace("{inv}", "nobody")
                .replace("{tid}", "999");
            let (code, body) = match method.as_str() {
                "get" => a.get(&p),
                "post" if p == "/oauth2/v1/token" => a.form(&p, &[("grant_type", "nope")]),
                "post" => a.post(&p, &json!({})),
                "put" => a.put(&p, &json!({})),
                "delete" => continue, // destructive; covered elsewhere
                other => panic!("unexpected method {other}"),
            };
            assert!(code != 405 && code != 500, "{method} {p}: {code} {body}");
            if code == 404 {
                let msg = body["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    msg.starts_with("no conference")
                        || msg.starts_with("no template")
                        || msg.starts_with("no participant")
                        || msg.contains("is not invited"),
                    "{method} {p} is not routed: {body}"
                );
            }
        }
    }
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

/// A refresh token is spent when used, in the store too: after a restart
/// it is still refused. Taking a client out of the settings ends its
/// tokens at the next start, and putting it back does not revive them.
#[test]
fn spent_refresh_tokens_and_removed_clients_stay_ended_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let other = ["--api-client", "kiosk:another-long-secret"];
    let mut d = start(&data, &other);
    let anon = Api::new(&d.http);
    let grant = |anon: &Api, pairs: &[(&str, &str)]| anon.form("/oauth2/v1/token", pairs);
    let (code, first) = grant(
        &anon,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "crm"),
            ("client_secret", "correct-horse-battery"),
        ],
    );
    assert_eq!(code, 200, "{first}");
    let refresh = |anon: &Api, token: &str| {
        grant(
            anon,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
    };
    let spent = first["refresh_token"].as_str().unwrap().to_string();
    let (code, second) = refresh(&anon, &spent);
    assert_eq!(code, 200, "{second}");
    let (code, body) = refresh(&anon, &spent);
    assert_eq!((code, body["error"].as_str()), (400, Some("invalid_grant")));
    let (code, kiosk) = grant(
        &anon,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "kiosk"),
            ("client_secret", "another-long-secret"),
        ],
    );
    assert_eq!(code, 200, "{kiosk}");
    let kiosk_token = kiosk["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        anon.with_token(&kiosk_token)
            .get("/api/v3.11/conferences")
            .0,
        200
    );

    // Restarted without the kiosk client.
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    let mut d = start(&data, &[]);
    let anon = Api::new(&d.http);
    let (code, body) = refresh(&anon, &spent);
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a spent refresh token stays spent after a restart: {body}"
    );
    let crm = second["access_token"].as_str().unwrap();
    assert_eq!(anon.with_token(crm).get("/api/v3.11/conferences").0, 200);
    let (code, body) = anon.with_token(&kiosk_token).get("/api/v3.11/conferences");
    assert_eq!(code, 401, "a removed client's token ends: {body}");
    let (code, body) = refresh(&anon, second["refresh_token"].as_str().unwrap());
    assert_eq!(code, 200, "the unspent refresh token still works: {body}");

    // The kiosk back: its old token does not come back with it.
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    let d = start(&data, &other);
    let (code, _) = Api::new(&d.http)
        .with_token(&kiosk_token)
        .get("/api/v3.11/conferences");
    assert_eq!(code, 401);
}

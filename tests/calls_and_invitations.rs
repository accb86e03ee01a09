//! Calls and invitations: a room calls a room on another dais, which rings
//! until it is accepted (then both see each other, and the call ends for
//! both when one hangs up), declined or missed; a room calls a user of its
//! own dais; a room that does not answer by itself rings for invitations
//! from its own server; the room posts to its conference's chat; the
//! contacts list joins the phone book and the server's users.

mod common;

use std::time::Duration;

use common::{Api, Control, Dais, display_shows, eventually, start_room};
use serde_json::{Value, json};

const RED: (u8, u8, u8) = (255, 0, 0);
const BLUE: (u8, u8, u8) = (0, 0, 255);

/// A valid Argon2 hash (of "password"); users here never sign in.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGFpcy10ZXN0LXNhbHQ$0E3VrMUq2H1ZbJUiEB7Cu6c2fOCTz1bVb8UVZPpF8xk";

/// The share of a PNG's pixels within 60 of `colour` in every channel.
fn share_of(png: &[u8], colour: (u8, u8, u8)) -> f64 {
    let Ok(mut r) = png::Decoder::new(std::io::Cursor::new(png)).read_info() else {
        return 0.0;
    };
    let mut buf = vec![0; r.output_buffer_size().unwrap_or(0)];
    let Ok(info) = r.next_frame(&mut buf) else {
        return 0.0;
    };
    let step = info.color_type.samples();
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(step).collect();
    let near = |a: u8, b: u8| a.abs_diff(b) <= 60;
    let hits = px
        .iter()
        .filter(|p| near(p[0], colour.0) && near(p[1], colour.1) && near(p[2], colour.2))
        .count();
    hits as f64 / px.len().max(1) as f64
}

fn state(c: &mut Control) -> Value {
    let r = c.call(json!({"method": "getAppState"}));
    assert_eq!(r["ok"], true, "{r}");
    r["result"].clone()
}

fn wait_state(c: &mut Control, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(30), what, || {
        let st = state(c);
        pred(&st).then_some(st)
    })
}

/// Two rooms: a blue callee that rings (it does not answer by itself) with
/// an API client for the caller, and a red caller that knows it.
fn two_rooms(tmp: &std::path::Path, ring_seconds: u32) -> (Dais, Dais, String) {
    let callee = start_room(
        &tmp.join("callee"),
        "blue",
        &format!(
            "[room]\nname = \"Boardroom B\"\n[conference]\nanswer_invitations = false\nring_seconds = {ring_seconds}\n"
        ),
        &["--api-client", "boardroom-a:s3cret-s3cret"],
    );
    let addr = callee.http.trim_start_matches("http://").to_string();
    let caller = start_room(
        &tmp.join("caller"),
        "red",
        &format!(
            "[room]\nname = \"Boardroom A\"\n[[conference.servers]]\nhost = \"{addr}\"\nscheme = \"http\"\nclient_id = \"boardroom-a\"\nclient_secret = \"s3cret-s3cret\"\n"
        ),
        &[],
    );
    (callee, caller, addr)
}

#[test]
fn a_room_calls_a_room_on_another_dais_which_rings_until_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let (callee, caller, addr) = two_rooms(tmp.path(), 60);
    let mut a = caller.control();
    let mut b = callee.control();

    // The caller is in the call at once; the callee rings.
    let r = a.send_line(&format!("trueconf:room@{addr}"));
    assert_eq!(r["ok"], true, "{r}");
    let st = state(&mut a);
    assert_eq!(st["activity"], "conference", "{st}");
    assert_eq!(st["conference"]["call"], true, "{st}");
    assert_eq!(st["conference"]["server"], addr.as_str(), "{st}");
    let cid = st["conference"]["cid"].as_str().unwrap().to_string();

    let st = wait_state(&mut b, "the callee ringing", |st| !st["incoming"].is_null());
    assert_eq!(st["incoming"]["cid"], cid.as_str(), "{st}");
    assert_eq!(st["incoming"]["topic"], "Call from Boardroom A", "{st}");
    assert_eq!(
        st["activity"], "idle",
        "ringing is not yet a conference: {st}"
    );

    let r = b.call(json!({"method": "accept"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = state(&mut b);
    assert!(st["incoming"].is_null(), "{st}");
    assert_eq!(st["conference"]["cid"], cid.as_str(), "{st}");
    assert_eq!(st["conference"]["call"], true, "{st}");

    // Each room's display shows the other's camera.
    eventually(
        Duration::from_secs(40),
        "the callee's blue camera at the caller",
        || display_shows(&caller, BLUE).then_some(()),
    );
    eventually(
        Duration::from_secs(40),
        "the caller's red camera at the callee",
        || display_shows(&callee, RED).then_some(()),
    );

    // The callee's panel shows the conference as its display composes it:
    // the caller's red camera in the conference picture.
    eventually(
        Duration::from_secs(40),
        "the caller's red camera on the callee's panel",
        || {
            let (code, png) = callee.get_bytes("/panel/screenshot.png");
            (code == 200 && share_of(&png, RED) > 0.02).then_some(())
        },
    );

    // The caller hangs up: the callee leaves by itself and the call's
    // conference stops on its dais.
    assert_eq!(a.call(json!({"method": "hangUp"}))["ok"], true);
    let st = wait_state(&mut b, "the callee out of the call", |st| {
        st["conference"].is_null()
    });
    assert_eq!(st["activity"], "idle", "{st}");
    let api = Api::new(&callee.http).login_client("boardroom-a", "s3cret-s3cret");
    eventually(
        Duration::from_secs(10),
        "the call's conference stopped",
        || {
            let (code, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
            (code == 200 && body["conference"]["state"] == "stopped").then_some(())
        },
    );
}

#[test]
fn a_declined_or_missed_call_ends_for_the_caller() {
    let tmp = tempfile::tempdir().unwrap();
    let (callee, caller, addr) = two_rooms(tmp.path(), 5);
    let mut a = caller.control();
    let mut b = callee.control();

    // Nothing rings: accept and reject are conflicts.
    let r = b.call(json!({"method": "accept"}));
    assert_eq!(r["error"]["code"], "conflict", "{r}");

    // Declined.
    let r = a.call(json!({"method": "call", "peer": "room", "server": addr}));
    assert_eq!(r["ok"], true, "{r}");
    wait_state(&mut b, "the callee ringing", |st| !st["incoming"].is_null());
    let r = b.call(json!({"method": "reject"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["state"], "rejected", "{r}");
    let st = wait_state(&mut a, "the caller out of the declined call", |st| {
        st["conference"].is_null()
    });
    assert_eq!(st["activity"], "idle", "{st}");
    let st = state(&mut b);
    assert!(
        st["incoming"].is_null() && st["conference"].is_null(),
        "{st}"
    );

    // Missed: nobody answers for ring_seconds (5).
    let r = a.call(json!({"method": "call", "peer": "room", "server": addr}));
    assert_eq!(r["ok"], true, "{r}");
    wait_state(&mut b, "the callee ringing again", |st| {
        !st["incoming"].is_null()
    });
    let st = wait_state(&mut b, "the call missed", |st| !st["missedCall"].is_null());
    assert!(st["incoming"].is_null(), "{st}");
    assert_eq!(st["missedCall"]["topic"], "Call from Boardroom A", "{st}");
    wait_state(&mut a, "the caller out of the missed call", |st| {
        st["conference"].is_null()
    });
}

#[test]
fn a_room_calls_a_user_of_its_own_dais_and_posts_to_the_chat() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start_room(
        &tmp.path().join("room"),
        "smpte",
        &format!(
            "[room]\nname = \"Huddle 3\"\n[[room.contacts]]\nname = \"Boardroom 2.01\"\naddress = \"room@dais-b.example:8080\"\n[[server.users]]\nlogin = \"ann\"\ndisplay_name = \"Ann Smith\"\npassword_hash = \"{HASH}\"\n"
        ),
        &["--api-client", "crm:correct-horse-battery"],
    );
    let mut c = d.control();

    // Contacts: the phone book and the server's users, by name.
    let r = c.call(json!({"method": "getContacts"}));
    assert_eq!(
        r["result"]["contacts"],
        json!([
            {"name": "Ann Smith", "address": "ann", "local": true},
            {"name": "Boardroom 2.01", "address": "room@dais-b.example:8080", "local": false},
        ]),
        "{r}"
    );

    // Someone who is not a user here, or the room itself, is named.
    let r = c.call(json!({"method": "call", "peer": "zed"}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("zed"),
        "{r}"
    );
    let r = c.call(json!({"method": "call", "peer": "room"}));
    assert_eq!(r["error"]["code"], "badRequest", "{r}");

    // Calling Ann: a running conference of two, Ann invited, the room in it.
    let r = c.call(json!({"method": "call", "peer": "ann"}));
    assert_eq!(r["ok"], true, "{r}");
    let cid = r["result"]["cid"].as_str().unwrap().to_string();
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    let (code, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(code, 200, "{body}");
    let conf = &body["conference"];
    assert_eq!(conf["state"], "running", "{body}");
    assert_eq!(conf["max_participants"], 2, "{body}");
    assert_eq!(conf["type"], 0, "all on screen: {body}");
    assert_eq!(conf["topic"], "Call from Huddle 3", "{body}");
    assert_eq!(conf["invitations"][0]["id"], "ann", "{body}");

    // The chat: empty text is refused by name; a message comes back in the
    // conference's chat, as everyone in it sees it.
    let r = c.call(json!({"method": "sendChat", "text": "  "}));
    assert_eq!(r["error"]["code"], "badRequest", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().starts_with("text:"),
        "{r}"
    );
    let r = c.call(json!({"method": "sendChat", "text": "Running five minutes late"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = wait_state(&mut c, "the message in the room's chat", |st| {
        st["conference"]["chat"]
            .as_array()
            .is_some_and(|l| l.iter().any(|m| m["text"] == "Running five minutes late"))
    });
    assert_eq!(st["conference"]["call"], true, "{st}");

    // Meet now invites users by login; anyone else is named.
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);
    let r = c.call(json!({"method": "meetNow", "mode": "smart", "invite": ["ann", "zed"]}));
    assert_eq!(r["error"]["code"], "notFound", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invite[1]"),
        "{r}"
    );
    let r = c.call(json!({"method": "meetNow", "mode": "smart", "invite": ["ann"]}));
    assert_eq!(r["ok"], true, "{r}");
    let cid = r["result"]["cid"].as_str().unwrap();
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(body["conference"]["invitations"][0]["id"], "ann", "{body}");
    assert_eq!(
        body["conference"]["invitations"][0]["display_name"], "Ann Smith",
        "{body}"
    );
}

#[test]
fn a_room_that_does_not_answer_by_itself_rings_for_its_own_servers_invitations() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start_room(
        &tmp.path().join("room"),
        "smpte",
        "[conference]\nanswer_invitations = false\n",
        &["--api-client", "crm:correct-horse-battery"],
    );
    let mut c = d.control();
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    let (code, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Quarterly numbers", "owner": "crm", "type": 0,
                "invitations": [{"id": "room"}], "auto_invite": 1, "state": "running"}),
    );
    assert_eq!(code, 200, "{r}");
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    let st = wait_state(&mut c, "the room ringing", |st| !st["incoming"].is_null());
    assert_eq!(st["incoming"]["topic"], "Quarterly numbers", "{st}");
    assert!(st["conference"].is_null(), "{st}");
    let r = c.call(json!({"method": "accept"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = state(&mut c);
    assert_eq!(st["conference"]["cid"], cid.as_str(), "{st}");
    assert_eq!(
        st["conference"]["call"], false,
        "a conference, not a call: {st}"
    );

    // Stopping a conference that rings takes the ringing away (missed).
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);
    let (code, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Stand-up", "owner": "crm", "type": 0,
                "invitations": [{"id": "room"}], "auto_invite": 1, "state": "running"}),
    );
    assert_eq!(code, 200, "{r}");
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, "the room ringing", |st| !st["incoming"].is_null());
    let (code, r) = api.post(&format!("/api/v3.11/conferences/{cid}/stop"), &json!({}));
    assert_eq!(code, 200, "{r}");
    let st = wait_state(&mut c, "the ringing gone", |st| st["incoming"].is_null());
    assert_eq!(st["missedCall"]["topic"], "Stand-up", "{st}");

    // Hang-up (the remote's red key) while ringing declines: the ringing
    // stops, nothing is missed, and a conference (not a call) goes on.
    let (code, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Review", "owner": "crm", "type": 0,
                "invitations": [{"id": "room"}], "auto_invite": 1, "state": "running"}),
    );
    assert_eq!(code, 200, "{r}");
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    wait_state(&mut c, "the room ringing", |st| {
        st["incoming"]["topic"] == "Review"
    });
    let r = c.call(json!({"method": "hangUp"}));
    assert_eq!(r["ok"], true, "{r}");
    let st = state(&mut c);
    assert!(st["incoming"].is_null(), "{st}");
    assert!(st["missedCall"].is_null(), "{st}");
    assert!(st["conference"].is_null(), "{st}");
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}"));
    assert_eq!(body["conference"]["state"], "running", "{body}");
    // And with nothing ringing, joining or on, hang-up says so.
    let r = c.call(json!({"method": "hangUp"}));
    assert_eq!(r["error"]["code"], "conflict", "{r}");
    assert_eq!(
        r["error"]["message"], "the room is not in a call or conference",
        "{r}"
    );
}

//! Conferences with real media on the room's own dais: browser guests in
//! headless Chromium (fake camera of one colour, fake microphone tone) and
//! the room itself join through the participants' signalling, and each side
//! decodes the others' pictures and sound under the conference's rules.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{Browser, Fake, Page};
use common::{Api, Dais, Start, display_shows, near};
use serde_json::{Value, json};

const ROOM_RED: (u8, u8, u8) = (255, 0, 0);
const GREEN: (u8, u8, u8) = (0, 200, 0);

/// A room whose camera shows plain red, with an API client.
fn start(data: &std::path::Path, extra_config: &str) -> (Dais, Api) {
    let cfg = data.with_extension("toml");
    std::fs::write(
        &cfg,
        format!(
            "[camera]\npattern = \"red\"\nwidth = 640\nheight = 360\nframerate = 15\n{extra_config}"
        ),
    )
    .unwrap();
    let mut s = Start::new(data);
    s.config = Some(cfg);
    s.extra = vec!["--api-client".into(), "crm:correct-horse-battery".into()];
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    (d, api)
}

/// The guest link for `name` from `software/clients`, pointed at this dais.
fn web_url(api: &Api, cid: &str, name: &str) -> String {
    let (code, body) = api.get(&format!(
        "/api/v3.11/software/clients?call_id={cid}&case=join_conference_button&user=%24{name}"
    ));
    assert_eq!(code, 200, "{body}");
    body["clients"][0]["web_url"].as_str().unwrap().to_string()
}

/// Opens `url` and presses Join.
fn guest_joins(page: &mut Page, url: &str) {
    page.goto(url);
    page.wait(Duration::from_secs(20), "the lobby's devices", |p| {
        (p.eval("!!document.getElementById('preview').srcObject") == true).then_some(())
    });
    page.eval("window.dais.join()");
}

fn phase(page: &mut Page) -> String {
    page.eval("window.dais.state.phase")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Received video mids whose decoded picture is near `colour`.
fn sees(page: &mut Page, colour: (u8, u8, u8)) -> bool {
    let frames = page.frames();
    let Some(map) = frames.as_object() else {
        return false;
    };
    let mids: Vec<String> = map
        .iter()
        .filter(|(_, v)| v["framesDecoded"].as_u64().unwrap_or(0) > 0)
        .map(|(k, _)| k.clone())
        .collect();
    mids.iter().any(|mid| {
        let c = page.eval(&format!("window.dais.colour({mid:?})"));
        c.as_array().is_some_and(|c| {
            let c = (
                c[0].as_u64().unwrap_or(0) as u8,
                c[1].as_u64().unwrap_or(0) as u8,
                c[2].as_u64().unwrap_or(0) as u8,
            );
            near(c, colour, 60)
        })
    })
}

/// The loudest received audio track's RMS (0 to 1).
fn hears(page: &mut Page) -> f64 {
    page.eval("Math.max(0, ...Object.values(window.dais.levels()))")
        .as_f64()
        .unwrap_or(0.0)
}

fn room_hears_db(d: &Dais) -> f64 {
    d.status()["preview"]["remoteLevelsDb"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(Value::as_f64)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .unwrap_or(f64::NEG_INFINITY)
}

#[test]
fn a_guest_from_the_web_link_and_the_room_see_and_hear_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(&json!({"topic": "Weekly", "owner": "room", "type": 0, "max_participants": 6, "allow_guests": true}),
    );
    // The room joins by CID from the control network.
    let mut c = d.control();
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");

    let b = Browser::launch(Fake::new(GREEN));
    let mut page = b.page();
    guest_joins(&mut page, &web_url(&api, &cid, "Greta"));
    page.wait(Duration::from_secs(30), "the guest to be admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    page.wait(
        Duration::from_secs(40),
        "the room's red picture in the browser",
        |p| sees(p, ROOM_RED).then_some(()),
    );
    page.wait(
        Duration::from_secs(20),
        "the room's tone in the browser",
        |p| (hears(p) > 0.01).then_some(()),
    );
    common::eventually(
        Duration::from_secs(40),
        "the guest's green picture on the room display",
        || display_shows(&d, GREEN).then_some(()),
    );
    common::eventually(
        Duration::from_secs(20),
        "the guest's tone on the room speaker",
        || (room_hears_db(&d) > -40.0).then_some(()),
    );

    // The roster has both; the REST API agrees with the signalling.
    let (_, body) = api.get(&format!("/api/v3.11/conferences/{cid}/participants"));
    let people = body["participants"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{body}");

    // The server's own view of each participant's tracks: both send video
    // and sound, and /metrics carries the server's loss and keyframe
    // totals; the room's view of the guest's video has its repair figures.
    let st = d.status();
    let tracks = st["conferenceTracks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for kind in ["audio", "video"] {
        let senders = tracks
            .iter()
            .filter(|t| t["track"] == kind && t["packetsReceived"].as_u64().unwrap_or(0) > 0)
            .count();
        assert_eq!(senders, 2, "{kind} from the room and the guest: {tracks:?}");
    }
    assert!(
        tracks
            .iter()
            .all(|t| t["packetsLost"].is_u64() && t["keyframeRequests"].is_u64()),
        "{tracks:?}"
    );
    let repair = st["preview"]["remoteRepair"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        repair
            .values()
            .any(|r| r["packetsReceived"].as_u64().unwrap_or(0) > 0),
        "the room's figures for the guest's video: {repair:?}"
    );
    let (_, metrics) = api.get_text("/metrics");
    for name in [
        "dais_conference_media_lost_packets_total",
        "dais_conference_media_keyframe_requests_total",
        "dais_remote_video_packets_lost_total",
        "dais_remote_video_nacks_total",
    ] {
        assert!(
            metrics.contains(&format!("\n{name} ")),
            "{name} in /metrics:\n{metrics}"
        );
    }
    drop(b);
}

const BLUE: (u8, u8, u8) = (0, 0, 220);

/// Opens the conference page as `name` with `pin` and presses Join.
fn join_with_pin(page: &mut Page, d: &Dais, cid: &str, name: &str, pin: &str) {
    guest_joins(
        page,
        &d.url(&format!(
            "/webrtc/{cid}?name={name}&pin={pin}&processing=off"
        )),
    );
}

/// Frames decoded on all received video tracks together.
fn frames_decoded(page: &mut Page) -> u64 {
    page.frames()
        .as_object()
        .map(|m| m.values().filter_map(|v| v["framesDecoded"].as_u64()).sum())
        .unwrap_or(0)
}

/// The roster entry for `name` as the page sees it.
fn roster_entry(page: &mut Page, name: &str) -> Value {
    page.eval(&format!(
        "JSON.parse(JSON.stringify(window.dais.state.roster.find(p => p.displayName === {name:?}) || null))"
    ))
}

#[test]
fn waiting_room_pins_and_a_full_conference() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Board", "owner": "chair", "type": 0, "max_participants": 2,
               "allow_guests": true, "waiting_room_enabled": true,
               "pin": "1357", "host_pin": "8642"}),
    );

    // The host PIN makes Mona a moderator, admitted at once.
    let mona = Browser::launch(Fake::new(BLUE));
    let mut m = mona.page();
    join_with_pin(&mut m, &d, &cid, "Mona", "8642");
    m.wait(Duration::from_secs(30), "Mona admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    assert_eq!(m.eval("window.dais.state.role"), "moderator");
    m.eval("window.dais.send({type: 'chat', text: 'Welcome, everyone'})");

    // A wrong PIN is refused with a reason the page shows.
    let gus = Browser::launch(Fake::new(GREEN));
    let mut g = gus.page();
    join_with_pin(&mut g, &d, &cid, "Gus", "0000");
    g.wait(Duration::from_secs(20), "the wrong PIN refused", |p| {
        (phase(p) == "over").then_some(())
    });
    assert_eq!(g.eval("window.dais.state.reason"), "wrong_pin");
    let shown = g.eval("document.getElementById('over-text').textContent");
    assert!(
        shown.as_str().unwrap().to_lowercase().contains("pin"),
        "{shown}"
    );

    // The right PIN: into the waiting room, where nothing flows.
    join_with_pin(&mut g, &d, &cid, "Gus", "1357");
    g.wait(Duration::from_secs(20), "Gus in the waiting room", |p| {
        (phase(p) == "waiting").then_some(())
    });
    m.wait(Duration::from_secs(10), "Mona sees Gus waiting", |p| {
        (roster_entry(p, "Gus")["state"] == "waiting").then_some(())
    });

    // The conference is full (Mona and Gus, waiting or not): a third is
    // refused, with the reason.
    let (status, refused) = signalling_join(&d, &cid, "Third", "1357");
    assert_eq!(status, "refused", "{refused}");
    assert_eq!(refused["reason"], "full", "{refused}");

    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        frames_decoded(&mut g),
        0,
        "the waiting room receives no media"
    );
    assert!(
        !sees(&mut m, GREEN),
        "nobody receives the waiting participant"
    );
    assert_eq!(
        g.eval("window.dais.state.chat.length"),
        0,
        "no chat in the waiting room"
    );

    // Mona invites Gus in from her participant list.
    m.eval(
        "[...document.querySelectorAll('#people button')].find(b => b.textContent === 'Invite').click()",
    );
    g.wait(Duration::from_secs(20), "Gus admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    g.wait(Duration::from_secs(40), "Mona's picture at Gus", |p| {
        sees(p, BLUE).then_some(())
    });
    m.wait(Duration::from_secs(40), "Gus's picture at Mona", |p| {
        sees(p, GREEN).then_some(())
    });
    // The late joiner gets the conference's chat history.
    g.wait(Duration::from_secs(10), "the chat history", |p| {
        (p.eval("window.dais.state.chat.map(c => c.text).join('|')") == "Welcome, everyone")
            .then_some(())
    });
}

/// Joins over the signalling WebSocket directly; returns the first answer's
/// type and the message.
fn signalling_join(d: &Dais, cid: &str, name: &str, pin: &str) -> (String, Value) {
    let addr = d.http.trim_start_matches("http://").to_string();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) =
        tungstenite::client(format!("ws://{addr}/webrtc/signalling/ws"), stream).unwrap();
    ws.send(tungstenite::Message::text(
        json!({"type": "join", "cid": cid, "displayName": name, "pin": pin}).to_string(),
    ))
    .unwrap();
    loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            return (v["type"].as_str().unwrap_or_default().to_string(), v);
        }
    }
}

#[test]
fn in_a_video_lecture_participants_see_only_the_lecturer() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Lecture", "owner": "room", "type": 1, "max_participants": 10,
               "allow_guests": true}),
    );
    // The room owns the conference and lectures.
    let mut c = d.control();
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");

    let green = Browser::launch(Fake::new(GREEN));
    let mut g = green.page();
    join_with_pin(&mut g, &d, &cid, "Gina", "");
    let blue = Browser::launch(Fake::new(BLUE));
    let mut b = blue.page();
    join_with_pin(&mut b, &d, &cid, "Bert", "");
    for p in [&mut g, &mut b] {
        p.wait(Duration::from_secs(30), "admitted", |p| {
            (phase(p) == "admitted").then_some(())
        });
        p.wait(Duration::from_secs(40), "the lecturer's picture", |p| {
            sees(p, ROOM_RED).then_some(())
        });
    }
    // The lecturer sees everyone.
    for colour in [GREEN, BLUE] {
        common::eventually(
            Duration::from_secs(40),
            "the students on the room display",
            || display_shows(&d, colour).then_some(()),
        );
    }
    // The students see only the lecturer, never each other.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!sees(&mut g, BLUE), "Gina must not receive Bert");
    assert!(!sees(&mut b, GREEN), "Bert must not receive Gina");
    let shown = g.eval(
        "Object.values(window.dais.state.tracks).filter(t => t.kind === 'video' && t.participant).map(t => t.displayName)",
    );
    assert_eq!(shown, json!(["Meeting room"]), "tiles offered to a student");
}

#[test]
fn in_a_smart_meeting_the_loud_talker_takes_the_podium_and_silence_gives_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    // A quiet room microphone; quick attack and release for the test.
    let (d, api) = start(
        &tmp.path().join("data"),
        "[microphone]\nwave = \"silence\"\n[conference]\nsmart_attack_ms = 300\nsmart_release_seconds = 3\n",
    );
    let cid = api.running_conference(
        &json!({"topic": "Smart", "owner": "room", "type": 4, "max_participants": 10,
               "max_podiums": 1, "allow_guests": true}),
    );
    let mut c = d.control();
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");

    let loud = Browser::launch(Fake {
        colour: GREEN,
        tone_hz: 500.0,
        amplitude: 0.6,
    });
    let mut l = loud.page();
    join_with_pin(&mut l, &d, &cid, "Lou", "");
    let quiet = Browser::launch(Fake::new(BLUE).silent());
    let mut q = quiet.page();
    join_with_pin(&mut q, &d, &cid, "Quinn", "");
    for p in [&mut l, &mut q] {
        p.wait(Duration::from_secs(30), "admitted", |p| {
            (phase(p) == "admitted").then_some(())
        });
    }
    // Smart meetings mute everyone on entry; nobody talks, nobody is on
    // the podium.
    assert_eq!(l.eval("window.dais.state.micMuted"), true);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(roster_entry(&mut q, "Lou")["podium"], false);
    assert!(!sees(&mut q, GREEN));

    // Lou unmutes and talks: Lou takes the podium, and Quinn sees Lou.
    l.eval("window.dais.setMic(false)");
    q.wait(Duration::from_secs(20), "Lou on the podium", |p| {
        (roster_entry(p, "Lou")["podium"] == true).then_some(())
    });
    q.wait(Duration::from_secs(40), "Lou's picture at Quinn", |p| {
        sees(p, GREEN).then_some(())
    });
    assert_eq!(roster_entry(&mut q, "Quinn")["podium"], false);
    common::eventually(Duration::from_secs(40), "Lou on the room display", || {
        display_shows(&d, GREEN).then_some(())
    });

    // Lou falls silent: the place is given back after the release time.
    l.eval("window.dais.setMic(true)");
    q.wait(Duration::from_secs(20), "Lou off the podium", |p| {
        (roster_entry(p, "Lou")["podium"] == false).then_some(())
    });
}

#[test]
fn guests_held_for_the_host_hear_music_and_the_host_arriving_starts_the_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Hosted", "owner": "room", "type": 0, "max_participants": 6,
               "allow_guests": true, "wait_for_host": true, "music_on_hold": true,
               "announce_join_leave": true,
               "recording_enabled": true, "auto_start_recording": true}),
    );
    let b = Browser::launch(Fake::new(GREEN));
    let mut g = b.page();
    join_with_pin(&mut g, &d, &cid, "Hana", "");
    g.wait(Duration::from_secs(20), "Hana held for the host", |p| {
        (phase(p) == "waiting" && p.eval("window.dais.state.reason") == "waiting_for_host")
            .then_some(())
    });
    // Music on hold: sound on the server's track, no pictures.
    g.wait(Duration::from_secs(30), "music on hold", |p| {
        (hears(p) > 0.01).then_some(())
    });
    assert_eq!(frames_decoded(&mut g), 0, "held guests see nobody");

    // The host (the room) arrives: Hana is let in, sees and hears the room,
    // and the conference records itself from then on.
    let mut c = d.control();
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");
    g.wait(Duration::from_secs(20), "Hana admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    g.wait(Duration::from_secs(40), "the room's picture", |p| {
        sees(p, ROOM_RED).then_some(())
    });
    common::eventually(Duration::from_secs(10), "the recording to start", || {
        (c.call(json!({"method": "getAppState"}))["result"]["recording"] == true).then_some(())
    });
    let dir = tmp.path().join("data").join("recordings");
    // A generous deadline: on a loaded machine the encoder and the muxer
    // take a while over the first keyframe and the file's first write.
    common::eventually(
        Duration::from_secs(60),
        "a recording file that grows",
        || {
            let size: u64 = std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            (size > 10_000).then_some(())
        },
    );
    // The room leaves: the recording stops with it; Hana hears about it.
    assert_eq!(c.call(json!({"method": "hangUp"}))["ok"], true);
    assert_eq!(
        c.call(json!({"method": "getAppState"}))["result"]["recording"],
        false
    );
    g.wait(Duration::from_secs(10), "the leave announced", |p| {
        (p.eval("window.dais.state.announcements.some(a => a.event === 'left')") == true)
            .then_some(())
    });
}

#[test]
fn in_a_moderated_meeting_only_the_podium_is_forwarded_and_the_moderator_moves_people() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Panel", "owner": "chair", "type": 3, "max_participants": 6,
               "max_podiums": 2, "allow_guests": true, "host_pin": "8642"}),
    );
    let mona = Browser::launch(Fake::new(BLUE));
    let mut m = mona.page();
    join_with_pin(&mut m, &d, &cid, "Mona", "8642");
    let gus = Browser::launch(Fake::new(GREEN));
    let mut g = gus.page();
    join_with_pin(&mut g, &d, &cid, "Gus", "");
    for p in [&mut m, &mut g] {
        p.wait(Duration::from_secs(30), "admitted", |p| {
            (phase(p) == "admitted").then_some(())
        });
    }
    m.wait(Duration::from_secs(10), "Gus in Mona's list", |p| {
        (roster_entry(p, "Gus")["state"] == "admitted").then_some(())
    });
    assert_eq!(roster_entry(&mut m, "Gus")["podium"], false);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!sees(&mut m, GREEN), "off the podium, Gus is not forwarded");

    // The moderator puts Gus on the podium from her list.
    let click = |p: &mut Page, label: &str| {
        p.eval(&format!(
            "[...document.querySelectorAll('#people button')].find(b => b.getAttribute('aria-label') === {label:?}).click()"
        ));
    };
    click(&mut m, "Put Gus on the podium");
    m.wait(Duration::from_secs(40), "Gus's picture at Mona", |p| {
        sees(p, GREEN).then_some(())
    });
    assert_eq!(roster_entry(&mut g, "Gus")["podium"], true);

    // And takes him off again: his tile goes away.
    click(&mut m, "Take Gus off the podium");
    m.wait(Duration::from_secs(20), "Gus's slot emptied", |p| {
        (p.eval("Object.values(window.dais.state.tracks).some(t => t.displayName === 'Gus')")
            == false)
            .then_some(())
    });
    // A participant may not move anyone.
    g.eval("window.dais.send({type: 'podium', id: window.dais.state.participantId, on: true})");
    g.wait(Duration::from_secs(10), "the refusal", |p| {
        (p.eval("window.dais.state.errors.length") != 0).then_some(())
    });
    assert_eq!(roster_entry(&mut m, "Gus")["podium"], false);
}

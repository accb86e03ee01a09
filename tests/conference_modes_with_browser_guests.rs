//! The conference's rules with real media on the room's own dais, browser
//! guests in headless Chromium and the room joining through the
//! participants' signalling: the waiting room, PINs and a full conference;
//! a video lecture; a smart meeting's podium; music on hold; a moderated
//! meeting. Seeing and hearing each other, and loss, are in
//! `conference_with_browser_guests.rs`.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/guests.rs"]
mod guests;

use std::time::Duration;

use guests::*;

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
    let _turn = browser::turn();
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Board", "owner": "chair", "type": 0, "max_participants": 2,
               "allow_guests": true, "waiting_room_enabled": true,
               "pin": "1357", "host_pin": "8642"}),
    );

    // The host PIN makes Mona a moderator, admitted at once.
    let mona = Browser::launch(Fake::card(OTHER_CARD));
    let mut m = mona.page();
    join_with_pin(&mut m, &d, &cid, "Mona", "8642");
    m.wait(Duration::from_secs(30), "Mona admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    assert_eq!(m.eval("window.dais.state.role"), "moderator");
    m.eval("window.dais.send({type: 'chat', text: 'Welcome, everyone'})");

    // A wrong PIN is refused with a reason the page shows.
    let gus = Browser::launch(Fake::card(GUEST_CARD));
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
        !sees_any(&mut m, GUEST_FRAMES),
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
        sees(p, OTHER_FRAMES).then_some(())
    });
    m.wait(Duration::from_secs(40), "Gus's picture at Mona", |p| {
        sees(p, GUEST_FRAMES).then_some(())
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
    let _turn = browser::turn();
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

    let green = Browser::launch(Fake::card(GUEST_CARD));
    let mut g = green.page();
    join_with_pin(&mut g, &d, &cid, "Gina", "");
    let blue = Browser::launch(Fake::card(OTHER_CARD));
    let mut b = blue.page();
    join_with_pin(&mut b, &d, &cid, "Bert", "");
    for p in [&mut g, &mut b] {
        p.wait(Duration::from_secs(30), "admitted", |p| {
            (phase(p) == "admitted").then_some(())
        });
        // A student once saw no video at all here for 40 s, under load
        // (audio flowing, the room's track assigned): on a failure, say
        // what the server received and sent of each participant.
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.wait(Duration::from_secs(40), "the lecturer's picture", |p| {
                sees(p, ROOM_FRAMES).then_some(())
            })
        }));
        if let Err(e) = waited {
            let st = d.status();
            eprintln!(
                "server tracks {}; server connections {}; conference media {}",
                st["conferenceTracks"], st["conferencePeers"], st["conferenceMedia"]
            );
            std::panic::resume_unwind(e);
        }
    }
    // The lecturer sees everyone.
    for whose in [GUEST_FRAMES, OTHER_FRAMES] {
        common::eventually(
            Duration::from_secs(40),
            "the students on the room display",
            || room_sees(&d, whose.clone()).then_some(()),
        );
    }
    // The students see only the lecturer, never each other.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !sees_any(&mut g, OTHER_FRAMES),
        "Gina must not receive Bert"
    );
    assert!(
        !sees_any(&mut b, GUEST_FRAMES),
        "Bert must not receive Gina"
    );
    let shown = g.eval(
        "Object.values(window.dais.state.tracks).filter(t => t.kind === 'video' && t.participant).map(t => t.displayName)",
    );
    assert_eq!(shown, json!(["Meeting room"]), "tiles offered to a student");
}

#[test]
fn in_a_smart_meeting_the_loud_talker_takes_the_podium_and_silence_gives_it_back() {
    let _turn = browser::turn();
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
        tone_hz: 500.0,
        amplitude: 0.6,
        ..Fake::card(GUEST_CARD)
    });
    let mut l = loud.page();
    join_with_pin(&mut l, &d, &cid, "Lou", "");
    let quiet = Browser::launch(Fake::card(OTHER_CARD).silent());
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
    assert!(!sees_any(&mut q, GUEST_FRAMES));

    // Lou unmutes and talks: Lou takes the podium, and Quinn sees Lou.
    l.eval("window.dais.setMic(false)");
    q.wait(Duration::from_secs(20), "Lou on the podium", |p| {
        (roster_entry(p, "Lou")["podium"] == true).then_some(())
    });
    q.wait(Duration::from_secs(40), "Lou's picture at Quinn", |p| {
        sees(p, GUEST_FRAMES).then_some(())
    });
    assert_eq!(roster_entry(&mut q, "Quinn")["podium"], false);
    common::eventually(Duration::from_secs(40), "Lou on the room display", || {
        room_sees(&d, GUEST_FRAMES).then_some(())
    });

    // Lou falls silent: the place is given back after the release time.
    l.eval("window.dais.setMic(true)");
    q.wait(Duration::from_secs(20), "Lou off the podium", |p| {
        (roster_entry(p, "Lou")["podium"] == false).then_some(())
    });
}

#[test]
fn guests_held_for_the_host_hear_music_and_the_host_arriving_starts_the_recording() {
    let _turn = browser::turn();
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Hosted", "owner": "room", "type": 0, "max_participants": 6,
               "allow_guests": true, "wait_for_host": true, "music_on_hold": true,
               "announce_join_leave": true,
               "recording_enabled": true, "auto_start_recording": true}),
    );
    let b = Browser::launch(Fake::card(GUEST_CARD));
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
        sees(p, ROOM_FRAMES).then_some(())
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
    let _turn = browser::turn();
    let tmp = tempfile::tempdir().unwrap();
    let (d, api) = start(&tmp.path().join("data"), "");
    let cid = api.running_conference(
        &json!({"topic": "Panel", "owner": "chair", "type": 3, "max_participants": 6,
               "max_podiums": 2, "allow_guests": true, "host_pin": "8642"}),
    );
    let mona = Browser::launch(Fake::card(OTHER_CARD));
    let mut m = mona.page();
    join_with_pin(&mut m, &d, &cid, "Mona", "8642");
    let gus = Browser::launch(Fake::card(GUEST_CARD));
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
    assert!(
        !sees_any(&mut m, GUEST_FRAMES),
        "off the podium, Gus is not forwarded"
    );

    // The moderator puts Gus on the podium from her list.
    let click = |p: &mut Page, label: &str| {
        p.eval(&format!(
            "[...document.querySelectorAll('#people button')].find(b => b.getAttribute('aria-label') === {label:?}).click()"
        ));
    };
    click(&mut m, "Put Gus on the podium");
    m.wait(Duration::from_secs(40), "Gus's picture at Mona", |p| {
        sees(p, GUEST_FRAMES).then_some(())
    });
    assert_eq!(roster_entry(&mut g, "Gus")["podium"], true);

    // And takes him off again: his tile goes away.
    click(&mut m, "Take Gus off the podium");
    m.wait(Duration::from_secs(20), "Gus's slot emptied", |p| {
        (p.eval("Object.values(window.dais.state.tracks).some(t => t.displayName === 'Gus')")
            == false)
            .then_some(())
    });
    // Her list says so too (the roster comes apart from the media).
    m.wait(
        Duration::from_secs(20),
        "Gus off the podium in Mona's list",
        |p| (roster_entry(p, "Gus")["podium"] == false).then_some(()),
    );
    // A participant may not move anyone.
    g.eval("window.dais.send({type: 'podium', id: window.dais.state.participantId, on: true})");
    g.wait(Duration::from_secs(10), "the refusal", |p| {
        (p.eval("window.dais.state.errors.length") != 0).then_some(())
    });
    assert_eq!(roster_entry(&mut m, "Gus")["podium"], false);
}

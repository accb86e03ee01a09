//! Conferences with real media on the room's own dais: browser guests in
//! headless Chromium (a fake camera showing a test card of its own, a fake
//! microphone tone) and the room itself join through the participants'
//! signalling, and each side decodes the others' pictures and sound under
//! the conference's rules.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{Browser, Fake, Page};
use common::{Api, Dais, Start, display_cards};
use dais::media::testcard::ReadBack;
use serde_json::{Value, json};

/// A room whose camera shows the test card, with an API client.
fn start(data: &std::path::Path, extra_config: &str) -> (Dais, Api) {
    start_with_camera(
        data,
        &format!(
            "pattern = \"testcard\"\nwidth = {}\nheight = {}",
            ROOM_CARD.0, ROOM_CARD.1
        ),
        extra_config,
    )
}

/// A room whose camera is `camera` (TOML lines of its section) at 15
/// frames a second, with an API client.
fn start_with_camera(data: &std::path::Path, camera: &str, extra_config: &str) -> (Dais, Api) {
    let cfg = data.with_extension("toml");
    std::fs::write(
        &cfg,
        format!("[camera]\n{camera}\nframerate = 15\n{extra_config}"),
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

/// Whether the browser shows a picture of `whose` card: a received video
/// that reads back as one of its frames. Where it is expected, the frame
/// must be whole too ([`ReadBack::whole`]); where it must not be, any
/// frame of it that reads is a leak.
fn sees(page: &mut Page, whose: std::ops::Range<u16>) -> bool {
    browser_cards(page, browser::CAMERA)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame) && r.whole())
}

/// Whether the browser shows any frame of `whose` card at all.
fn sees_any(page: &mut Page, whose: std::ops::Range<u16>) -> bool {
    browser_cards(page, browser::CAMERA)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame))
}

/// Whether the room's display shows a whole frame of `whose` card.
fn room_sees(d: &Dais, whose: std::ops::Range<u16>) -> bool {
    room_cards(d)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame) && r.whole())
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

/// The size of the room's test card in the tests that send it.
const ROOM_CARD: (u32, u32) = (320, 240);
/// The first frame of a guest's test card. The room's card counts from 0
/// at 15 frames a second, far below this in a test's minutes, so the
/// number tells whose picture arrived.
const GUEST_CARD: u16 = 30_000;
/// What the browser shows of test cards sent at `sent`: for each received
/// video with a decoded picture, what it reads back as (`None` where the
/// counter does not read).
fn browser_cards(page: &mut Page, sent: (u32, u32)) -> Vec<Option<ReadBack>> {
    let frames = page.frames();
    let mids: Vec<String> = frames
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v["framesDecoded"].as_u64().unwrap_or(0) > 0)
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    mids.iter()
        .filter_map(|mid| page.picture(mid))
        .map(|(w, h, rgba)| {
            let read = dais::media::testcard::read_back(&rgba, w, h, w * 4, sent);
            // At its own shape: never stretched on the way.
            if read.is_some() {
                let (a, b) = (
                    f64::from(w) / f64::from(h),
                    f64::from(sent.0) / f64::from(sent.1),
                );
                assert!(
                    (a / b - 1.0).abs() < 0.02,
                    "the browser receives a {w}x{h} picture of a {}x{} card",
                    sent.0,
                    sent.1
                );
            }
            read
        })
        .collect()
}

/// Reads pictures with `read` for `secs` and checks them: every picture
/// whose counter reads is a frame in `frames`, and that frame whole
/// ([`ReadBack::whole`]). Returns the distinct frames seen, the worst PSNR
/// and how many readings had no readable picture.
fn watch_cards(
    secs: u64,
    who: &str,
    frames: std::ops::Range<u16>,
    mut read: impl FnMut() -> Vec<Option<ReadBack>>,
) -> (usize, f64, usize) {
    let mut seen = std::collections::BTreeSet::new();
    let (mut worst, mut worst_ssim, mut unreadable) = (f64::INFINITY, 1.0f64, 0);
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        let mine: Vec<ReadBack> = read()
            .into_iter()
            .flatten()
            .filter(|r| frames.contains(&r.frame))
            .collect();
        if mine.is_empty() {
            unreadable += 1;
        }
        for r in mine {
            assert!(
                r.whole(),
                "{who} shows frame {} of the test card at {:.1} dB, SSIM {:.3} (want 30 dB, or SSIM 0.9 and 25 dB)",
                r.frame,
                r.psnr,
                r.ssim
            );
            seen.insert(r.frame);
            worst = worst.min(r.psnr);
            worst_ssim = worst_ssim.min(r.ssim);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{who}: {} distinct frames, worst PSNR {worst:.1} dB, worst SSIM {worst_ssim:.3}, {unreadable} readings without one",
        seen.len()
    );
    (seen.len(), worst, unreadable)
}

/// The room display's far-end pictures, read back as test cards sent at
/// the browsers' camera size.
fn room_cards(d: &Dais) -> Vec<Option<ReadBack>> {
    display_cards(d, browser::CAMERA)
        .into_iter()
        .map(|(_, read)| read)
        .collect()
}

/// The size at which the room receives its far-end pictures now.
fn room_receives(d: &Dais) -> Vec<(u64, u64)> {
    d.status()["preview"]["displayTiles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|t| t["id"] != "self")
                .filter_map(|t| Some((t["pictureWidth"].as_u64()?, t["pictureHeight"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A room sending the test card and a browser guest sending its own, in
/// an all-on-screen conference on the room's dais, once each shows the
/// other's card.
struct CardMeeting {
    d: Dais,
    api: Api,
    cid: String,
    page: Page,
    _browser: Browser,
    _tmp: tempfile::TempDir,
}

impl CardMeeting {
    fn start(extra_config: &str) -> CardMeeting {
        let tmp = tempfile::tempdir().unwrap();
        let (d, api) = start(&tmp.path().join("data"), extra_config);
        let cid = api.running_conference(&json!({"topic": "Weekly", "owner": "room", "type": 0, "max_participants": 6, "allow_guests": true}),
        );
        // The room joins by CID from the control network.
        let mut c = d.control();
        let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
        assert_eq!(r["ok"], true, "{r}");

        let browser = Browser::launch(Fake::card(GUEST_CARD));
        let mut page = browser.page();
        guest_joins(&mut page, &web_url(&api, &cid, "Greta"));
        page.wait(Duration::from_secs(30), "the guest to be admitted", |p| {
            (phase(p) == "admitted").then_some(())
        });
        page.wait(
            Duration::from_secs(40),
            "the room's test card in the browser",
            |p| {
                browser_cards(p, ROOM_CARD)
                    .iter()
                    .flatten()
                    .any(|r| ROOM_FRAMES.contains(&r.frame))
                    .then_some(())
            },
        );
        common::eventually(
            Duration::from_secs(40),
            "the guest's test card on the room display",
            || {
                room_cards(&d)
                    .iter()
                    .flatten()
                    .any(|r| GUEST_FRAMES.contains(&r.frame))
                    .then_some(())
            },
        );
        CardMeeting {
            d,
            api,
            cid,
            page,
            _browser: browser,
            _tmp: tmp,
        }
    }

    /// Watches the browser's picture of the room's card for `secs`
    /// ([`watch_cards`]): at least `least` distinct frames (a picture that
    /// moves; each reading takes a while, and a test machine running the
    /// other tests' browsers at once shows fewer), and at most three
    /// readings without one.
    fn browser_sees_the_room_move(&mut self, secs: u64, least: usize) {
        let page = &mut self.page;
        let (frames, _, unreadable) = watch_cards(secs, "the browser", ROOM_FRAMES, || {
            browser_cards(page, ROOM_CARD)
        });
        assert!(
            frames >= least && unreadable <= 3,
            "the browser showed {frames} frames of the room's card in {secs} s, {unreadable} times none"
        );
    }

    /// The same of the room display's picture of the guest.
    fn room_sees_the_guest_move(&self, secs: u64, least: usize) {
        let (frames, _, unreadable) = watch_cards(secs, "the room display", GUEST_FRAMES, || {
            room_cards(&self.d)
        });
        assert!(
            frames >= least && unreadable <= 3,
            "the room showed {frames} frames of the guest's card in {secs} s, {unreadable} times none"
        );
    }
}

/// The room's card's frame numbers in a test, and the guest's.
const ROOM_FRAMES: std::ops::Range<u16> = 0..GUEST_CARD;
const GUEST_FRAMES: std::ops::Range<u16> = GUEST_CARD..GUEST_CARD + browser::CARD_FRAMES;
/// A second guest's card, and its frame numbers.
const OTHER_CARD: u16 = 31_000;
const OTHER_FRAMES: std::ops::Range<u16> = OTHER_CARD..OTHER_CARD + browser::CARD_FRAMES;

#[test]
fn a_guest_from_the_web_link_and_the_room_see_and_hear_each_other() {
    let _turn = browser::turn();
    let mut m = CardMeeting::start("");
    // Each side shows the other's test card whole: the frame it says it
    // is, at its shape and colours, and moving.
    // The browser's picture of the room can freeze for seconds even on a
    // clean link when this machine is loaded (all of this file's browsers
    // at once): what the server drops as late it cannot get again, and the
    // browser waits for a keyframe (issue 13). It must come back.
    m.browser_sees_the_room_move(12, 2);
    m.room_sees_the_guest_move(5, 3);
    m.page.wait(
        Duration::from_secs(20),
        "the room's tone in the browser",
        |p| (hears(p) > 0.01).then_some(()),
    );
    let d = &m.d;
    common::eventually(
        Duration::from_secs(20),
        "the guest's tone on the room speaker",
        || (room_hears_db(d) > -40.0).then_some(()),
    );

    // The guest's browser sends three quarters of the size (the first
    // step a browser takes by itself under load): the room shows the
    // smaller picture whole, at its shape and colours, and the full size
    // again when it comes back.
    for (factor, size) in [(4.0 / 3.0, (240, 180)), (1.0, (320, 240))] {
        assert_eq!(
            m.page.eval(&format!("window.dais.scaleCamera({factor})")),
            true
        );
        common::eventually(
            Duration::from_secs(30),
            &format!("the room to receive the guest at {size:?}"),
            || room_receives(d).contains(&size).then_some(()),
        );
        // The browser's encoder starts the new size soft and sharpens it
        // within a second or two.
        common::eventually(
            Duration::from_secs(20),
            &format!("the guest's card at {size:?} whole on the room display"),
            || {
                room_cards(d)
                    .iter()
                    .flatten()
                    .any(|r| GUEST_FRAMES.contains(&r.frame) && r.whole())
                    .then_some(())
            },
        );
        m.room_sees_the_guest_move(4, 3);
    }
    let (api, cid) = (&m.api, &m.cid);

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
        "dais_conference_media_nacks_received_total",
        "dais_conference_media_retransmitted_packets_total",
    ] {
        assert!(
            metrics.contains(&format!("\n{name} ")),
            "{name} in /metrics:\n{metrics}"
        );
    }
    drop(m);
}

/// The browser's figures for its received video: (lost, NACKs, PLIs,
/// freezes, frozen ms), all tracks together.
fn browser_repairs(page: &mut Page) -> [u64; 5] {
    let frames = page.frames();
    let mut t = [0u64; 5];
    for v in frames.as_object().into_iter().flat_map(|m| m.values()) {
        for (i, k) in ["lost", "nacks", "plis", "freezes", "frozenMs"]
            .iter()
            .enumerate()
        {
            t[i] += v[k].as_u64().unwrap_or(0);
        }
    }
    t
}

#[test]
fn with_two_percent_lost_each_way_pictures_stay_whole_and_the_sound_goes_on() {
    let _turn = browser::turn();
    // The room's server drops 2% of every connection's packets, in and
    // out: guest to server to room, and room to server to guest.
    let mut m = CardMeeting::start("[conference]\ninduced_loss_permille = 20\n");
    let before = browser_repairs(&mut m.page);
    // Both pictures keep moving, whole. (Measured on this machine: the
    // browser froze once for about 0.3 s in the whole test, the room's
    // picture of the guest at most 0.4 s; before the server's feedback
    // was tuned, 3-15 s and 0.9 s.)
    m.browser_sees_the_room_move(12, 2);
    m.room_sees_the_guest_move(8, 4);
    // Sound goes on both ways: ten fresh readings each, all audible.
    let mut heard = vec![];
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        heard.push((hears(&mut m.page), room_hears_db(&m.d)));
    }
    assert!(
        heard.iter().all(|(b, r)| *b > 0.01 && *r > -40.0),
        "sound under loss (browser RMS, room dB): {heard:?}"
    );
    // The losses were seen and repaired: the browser asked again, and so
    // did the room.
    let after = browser_repairs(&mut m.page);
    let st = m.d.status();
    let room = &st["preview"]["remoteRepair"];
    let tracks = &st["conferenceTracks"];
    let peers = &st["conferencePeers"];
    eprintln!(
        "2% each way: browser [lost, nacks, plis, freezes, frozen ms] {before:?} -> {after:?}; \
         room {room}; server tracks {tracks}; server connections {peers}"
    );
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "the browser saw losses and asked again: {before:?} -> {after:?}"
    );
    let room_asked: u64 = room
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .map(|r| r["nacksSent"].as_u64().unwrap_or(0) + r["keyframeRequests"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        room_asked > 0,
        "the room asked again for what it lost: {room}"
    );
    // The server sent again some of what it had forwarded and the far ends
    // lost, and got back some of what it lost itself on the way in.
    let sum = |k: &str| -> u64 {
        peers
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p[k].as_u64().unwrap_or(0))
            .sum()
    };
    assert!(
        sum("retransmitted") > 0,
        "the server retransmitted: {peers}"
    );
    assert!(
        sum("retransmissionsReceived") > 0,
        "the server's NACKs were answered: {peers}"
    );
}

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

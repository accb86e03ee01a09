//! What the conference tests with browser guests share: a room showing the
//! test card, the guests' web link and join, what each side sees (test
//! cards read back) and hears, and a meeting of cards to compare.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use super::{browser, common};

pub use super::browser::{Browser, Fake, Page};
pub use super::common::{Api, Dais, Start, display_cards};
pub use dais::media::testcard::ReadBack;
pub use serde_json::{Value, json};

/// A room whose camera shows the test card, with an API client.
pub fn start(data: &std::path::Path, extra_config: &str) -> (Dais, Api) {
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
pub fn start_with_camera(data: &std::path::Path, camera: &str, extra_config: &str) -> (Dais, Api) {
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
pub fn web_url(api: &Api, cid: &str, name: &str) -> String {
    let (code, body) = api.get(&format!(
        "/api/v3.11/software/clients?call_id={cid}&case=join_conference_button&user=%24{name}"
    ));
    assert_eq!(code, 200, "{body}");
    body["clients"][0]["web_url"].as_str().unwrap().to_string()
}

/// Opens `url` and presses Join.
pub fn guest_joins(page: &mut Page, url: &str) {
    page.goto(url);
    page.wait(Duration::from_secs(20), "the lobby's devices", |p| {
        (p.eval("!!document.getElementById('preview').srcObject") == true).then_some(())
    });
    page.eval("window.dais.join()");
}

pub fn phase(page: &mut Page) -> String {
    page.eval("window.dais.state.phase")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether the browser shows a picture of `whose` card: a received video
/// that reads back as one of its frames. Where it is expected, the frame
/// must be whole too ([`ReadBack::whole`]); where it must not be, any
/// frame of it that reads is a leak.
pub fn sees(page: &mut Page, whose: std::ops::Range<u16>) -> bool {
    browser_cards(page, browser::CAMERA)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame) && r.whole())
}

/// Whether the browser shows any frame of `whose` card at all.
pub fn sees_any(page: &mut Page, whose: std::ops::Range<u16>) -> bool {
    browser_cards(page, browser::CAMERA)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame))
}

/// Whether the room's display shows a whole frame of `whose` card.
pub fn room_sees(d: &Dais, whose: std::ops::Range<u16>) -> bool {
    room_cards(d)
        .iter()
        .flatten()
        .any(|r| whose.contains(&r.frame) && r.whole())
}

/// The loudest received audio track's RMS (0 to 1).
pub fn hears(page: &mut Page) -> f64 {
    page.eval("Math.max(0, ...Object.values(window.dais.levels()))")
        .as_f64()
        .unwrap_or(0.0)
}

pub fn room_hears_db(d: &Dais) -> f64 {
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
pub const ROOM_CARD: (u32, u32) = (320, 240);
/// The first frame of a guest's test card. The room's card counts from 0
/// at 15 frames a second, far below this in a test's minutes, so the
/// number tells whose picture arrived.
pub const GUEST_CARD: u16 = 30_000;
/// What the browser shows of test cards sent at `sent`: for each received
/// video with a decoded picture, what it reads back as (`None` where the
/// counter does not read).
pub fn browser_cards(page: &mut Page, sent: (u32, u32)) -> Vec<Option<ReadBack>> {
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
pub fn watch_cards(
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
pub fn room_cards(d: &Dais) -> Vec<Option<ReadBack>> {
    display_cards(d, browser::CAMERA)
        .into_iter()
        .map(|(_, read)| read)
        .collect()
}

/// The size at which the room receives its far-end pictures now.
pub fn room_receives(d: &Dais) -> Vec<(u64, u64)> {
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
pub struct CardMeeting {
    pub d: Dais,
    pub api: Api,
    pub cid: String,
    pub page: Page,
    pub _browser: Browser,
    pub _tmp: tempfile::TempDir,
}

impl CardMeeting {
    pub fn start(extra_config: &str) -> CardMeeting {
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
    pub fn browser_sees_the_room_move(&mut self, secs: u64, least: usize) {
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
    pub fn room_sees_the_guest_move(&self, secs: u64, least: usize) {
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
pub const ROOM_FRAMES: std::ops::Range<u16> = 0..GUEST_CARD;
pub const GUEST_FRAMES: std::ops::Range<u16> = GUEST_CARD..GUEST_CARD + browser::CARD_FRAMES;
/// A second guest's card, and its frame numbers.
pub const OTHER_CARD: u16 = 31_000;
pub const OTHER_FRAMES: std::ops::Range<u16> = OTHER_CARD..OTHER_CARD + browser::CARD_FRAMES;

//! A guest on another host of the room's LAN joins from the link
//! `software/clients` hands out, and sends camera and microphone: the
//! browser runs in a network namespace on a veth LAN (not loopback, which
//! browsers count as secure whatever the scheme), trusts the room's device
//! CA through its NSS database as an organisation's machines would, and
//! gets a secure context only because dais serves HTTPS. The room's display
//! shows the guest's picture and its mix carries the guest's sound.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/guests.rs"]
mod guests;

use std::time::Duration;

use common::lan::Lan;
use guests::*;

#[test]
fn a_guest_on_another_host_sends_camera_and_microphone_over_https() {
    let _turn = browser::turn();
    let lan = Lan::new();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("room.toml");
    std::fs::write(
        &cfg,
        format!(
            "[camera]\npattern = \"testcard\"\nwidth = {}\nheight = {}\nframerate = 15\n",
            ROOM_CARD.0, ROOM_CARD.1
        ),
    )
    .unwrap();
    let mut s = Start::new(&data);
    s.config = Some(cfg);
    s.extra = vec![
        "--https-listen".into(),
        format!("{}:0", lan.room),
        "--api-client".into(),
        "crm:correct-horse-battery".into(),
    ];
    let mut d = Dais::start(s);
    d.wait_ready();
    // An integrator's system asks for the link over HTTPS at the room's
    // LAN address, as it would from its own host.
    assert!(d.base().starts_with(&format!("https://{}:", lan.room)));
    let api = Api::new(&d.base()).login_client("crm", "correct-horse-battery");
    let cid = api.running_conference(&json!({"topic": "LAN", "owner": "room", "type": 0,
        "max_participants": 6, "allow_guests": true}));
    let mut c = d.control();
    let r = c.send_line(&format!("trueconf:\\c\\{cid}"));
    assert_eq!(r["ok"], true, "{r}");
    let url = web_url(&api, &cid, "Lena");
    assert!(
        url.starts_with(&format!("https://{}:", lan.room)),
        "the guest link is https at the room's LAN address: {url}"
    );

    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    let browser = Browser::launch_on(&lan, &ca, Fake::card(GUEST_CARD));
    let mut page = browser.page();
    page.goto(&url);
    page.wait(Duration::from_secs(20), "the page from the room", |p| {
        (p.eval("document.readyState") == "complete" && p.eval("!!window.dais") == true)
            .then_some(())
    });
    assert_eq!(
        page.eval("window.isSecureContext"),
        true,
        "the guest's page is a secure context (chromium log:\n{})",
        browser.log()
    );
    assert_eq!(page.eval("!!navigator.mediaDevices"), true);
    assert_eq!(
        page.eval("location.origin"),
        url.split("/webrtc/").next().unwrap(),
        "no redirect, no certificate interstitial"
    );
    guest_joins(&mut page, &url);
    page.wait(Duration::from_secs(30), "the guest to be admitted", |p| {
        (phase(p) == "admitted").then_some(())
    });
    common::eventually(
        Duration::from_secs(40),
        "the guest's test card on the room display",
        || {
            room_cards(&d)
                .iter()
                .flatten()
                .any(|r| GUEST_FRAMES.contains(&r.frame) && r.whole())
                .then_some(())
        },
    );
    common::eventually(
        Duration::from_secs(20),
        "the guest's tone in the room's mix",
        || (room_hears_db(&d) > -40.0).then_some(()),
    );
    page.wait(
        Duration::from_secs(40),
        "the room's test card in the guest's browser",
        |p| {
            browser_cards(p, ROOM_CARD)
                .iter()
                .flatten()
                .any(|r| ROOM_FRAMES.contains(&r.frame))
                .then_some(())
        },
    );
}

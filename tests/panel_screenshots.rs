//! Each panel screen rendered by the software renderer at the two panel
//! sizes dais supports (1920×1080 and 1280×800), compared with the reference
//! PNGs in `tests/data/screens/` with a small tolerance. A changed screen
//! fails until its references are regenerated on purpose:
//! `DAIS_UPDATE_SCREENSHOTS=1 cargo test --test panel_screenshots`
//! (then look at the PNGs before committing them). Actual frames of a
//! failing comparison are written to `target/screenshots/`.

use std::path::PathBuf;

use dais::app::state::InConference;
use dais::app::{Activity, AppState, Endpoints};
use dais::conference::Standing;
use dais::panel::today::Item;
use dais::panel::{OffscreenPanel, RoomApi, SettingsApi, Snapshot, settings, show, show_today};
use dais::sfu::client::Participant;
use slint::ComponentHandle;

const SIZES: [(u32, u32); 2] = [(1920, 1080), (1280, 800)];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/screens")
}

fn idle() -> AppState {
    let mut st = AppState::new("Boardroom 4.12".into(), "virtual".into(), 0);
    st.activity = Activity::Idle;
    st.endpoints = Endpoints {
        http: Some("http://192.0.2.10:8080".into()),
        plain_http: None,
        control: Some("192.0.2.10:4710".into()),
        certificate: None,
    };
    st
}

fn person(id: &str, name: &str, role: &str, waiting: bool, podium: bool) -> Participant {
    Participant {
        id: id.into(),
        display_name: name.into(),
        role: role.into(),
        guest: id.starts_with("guest:"),
        state: if waiting {
            Standing::Waiting
        } else {
            Standing::Admitted
        },
        reason: waiting.then(|| "waiting_room".into()),
        podium,
        mic_muted: false,
        camera_off: false,
        sharing: false,
    }
}

fn conference() -> AppState {
    let mut st = idle();
    st.activity = Activity::Conference;
    st.conference = Some(InConference {
        cid: "4154248070".into(),
        topic: "Quarterly planning".into(),
        mode: "S|L".into(),
        participant_id: "room".into(),
        role: "owner".into(),
        state: Standing::Admitted,
        reason: None,
        server: None,
        participants: vec![
            person("room", "Boardroom 4.12", "owner", false, true),
            person("ann", "Ann Smith", "speaker", false, true),
            person("bo", "Bo Chen", "participant", false, false),
            person("guest:7", "Guest Lee", "participant", true, false),
        ],
        chat: Vec::new(),
        call: false,
    });
    st
}

fn png(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, s.width, s.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&s.rgb)
        .unwrap();
    out
}

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Compares `shot` with its reference; returns what differs.
fn compare(name: &str, shot: &Snapshot) -> Result<(), String> {
    let path = dir().join(format!("{name}.png"));
    if std::env::var_os("DAIS_UPDATE_SCREENSHOTS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, png(shot)).unwrap();
        return Ok(());
    }
    let keep = || {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(format!("{name}.png")), png(shot)).unwrap();
    };
    let Ok(bytes) = std::fs::read(&path) else {
        keep();
        return Err(format!(
            "{}: no reference (DAIS_UPDATE_SCREENSHOTS=1 writes it)",
            path.display()
        ));
    };
    let (w, h, want) = decode(&bytes);
    if (w, h) != (shot.width, shot.height) {
        keep();
        return Err(format!(
            "{name}: {w}×{h} expected, got {}×{}",
            shot.width, shot.height
        ));
    }
    // A pixel differs when a channel is off by more than 40; up to 0.3% of
    // the pixels may (font hinting, antialiasing).
    let differing = want
        .chunks(3)
        .zip(shot.rgb.chunks(3))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 40))
        .count();
    let limit = (w * h) as usize * 3 / 1000;
    if differing > limit {
        keep();
        return Err(format!(
            "{name}: {differing} pixels differ (at most {limit}); the frame is in target/screenshots/"
        ));
    }
    Ok(())
}

#[test]
fn every_screen_matches_its_reference_at_both_sizes() {
    let (w, h) = SIZES[0];
    let mut panel = OffscreenPanel::new(w, h).unwrap();
    let mut book = dais::config::Settings::default();
    book.room.contacts = vec![dais::config::ContactSettings {
        name: "Boardroom 2.01".into(),
        address: "room@dais-b.example:8080".into(),
    }];
    book.server.users = vec![dais::config::UserSettings {
        login: "ann".into(),
        display_name: "Ann Smith".into(),
        password_hash: Default::default(),
    }];
    dais::panel::contacts::wire(&panel.ui, &book.contacts());
    let mut ringing = idle();
    ringing.incoming = Some(dais::app::state::Incoming {
        cid: "4154248070".into(),
        topic: "Call from Boardroom 2.01".into(),
        from: "boardroom-2-01".into(),
        until: 45,
    });
    let mut failures = Vec::new();
    for (w, h) in SIZES {
        panel.resize(w, h);
        for (screen, st) in [
            ("home", idle()),
            ("meet", idle()),
            ("templates", idle()),
            ("settings", idle()),
            ("contacts", idle()),
            ("conference", conference()),
            ("incoming", ringing.clone()),
        ] {
            show(&panel.ui, &st);
            show_today(
                &panel.ui,
                &[Item {
                    cid: "daily".into(),
                    topic: "Daily stand-up".into(),
                    start: None,
                    running: true,
                }],
            );
            let nav = match screen {
                "conference" | "incoming" => "home",
                s => s,
            };
            panel.ui.global::<RoomApi>().set_screen(nav.into());
            if screen == "settings" {
                panel.ui.global::<SettingsApi>().set_unlocked(true);
                let mut st = st.clone();
                st.started_at = 0;
                let pages = settings::pages(
                    &st,
                    &dais::config::Settings::default(),
                    &settings::NetworkInfo {
                        address: Some("192.0.2.10".into()),
                        gateway: Some("192.0.2.1 (via eth0)".into()),
                        dns: vec!["192.0.2.53".into()],
                        interfaces: vec![("eth0".into(), "up".into(), "52:54:00:12:34:56".into())],
                    },
                    8_040,
                );
                settings::show(&panel.ui, &pages);
                settings::show_meter(&panel.ui, Some(-24.0));
            }
            let shot = panel.render();
            // Not blank: the screen drew something.
            let distinct: std::collections::HashSet<&[u8]> = shot.rgb.chunks(3).collect();
            assert!(distinct.len() > 8, "{screen} at {w}×{h} is blank");
            if let Err(e) = compare(&format!("{screen}-{w}x{h}"), &shot) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

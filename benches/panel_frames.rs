//! The panel's software renderer (the appliance's, without a GPU): frame
//! time at 1920×1080 for Home and for the conference screen showing the
//! room display with four video tiles, median and p95 over full redraws;
//! and the time from a remote's key event to the frame that shows it.

use std::time::{Duration, Instant};

use dais::app::state::InConference;
use dais::app::{Activity, AppState};
use dais::input::{Action, KeyEvent};
use dais::panel::{Dispatch, OffscreenPanel, RoomApi, apply_key, show, wire};
use dais::sfu::client::Participant;
use slint::ComponentHandle;

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:6.2} ms   p95 {:6.2} ms   ({} frames)",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        v.len()
    )
}

fn four_tiles() -> slint::Image {
    let (w, h) = (1280u32, 720u32);
    let colours = [[200, 40, 40], [40, 160, 60], [40, 80, 200], [220, 180, 40]];
    let mut buf = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::new(w, h);
    for (i, p) in buf.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        let q = usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2);
        let c = colours[q];
        // A little texture, as a picture has.
        let n = ((x * 7 + y * 13) % 32) as u8;
        *p = slint::Rgb8Pixel::new(c[0] + n / 2, c[1] + n / 2, c[2] + n / 2);
    }
    slint::Image::from_rgb8(buf)
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"panel_frames".contains(&a))
    {
        return;
    }
    let frames = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        5
    };
    let mut panel = OffscreenPanel::new(1920, 1080).unwrap();
    let dispatch: Dispatch = std::sync::Arc::new(|_| {});
    wire(&panel.ui, dispatch.clone());

    let mut st = AppState::new("Boardroom 4.12".into(), "virtual".into(), 0);
    st.activity = Activity::Idle;
    show(&panel.ui, &st);
    let mut home = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        panel.render();
        home.push(t.elapsed());
    }

    // The remote: Down moves the focus ring; time until the frame shows it.
    let mut key = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        apply_key(&panel.ui, KeyEvent::Press(Action::Down), &dispatch);
        panel.render();
        key.push(t.elapsed());
    }

    st.activity = Activity::Conference;
    st.conference = Some(InConference {
        cid: "4154248070".into(),
        topic: "Quarterly planning".into(),
        mode: "PxP".into(),
        participant_id: "room".into(),
        role: "owner".into(),
        state: dais::conference::Standing::Admitted,
        reason: None,
        server: None,
        participants: ["room", "ann", "bo", "cy"]
            .iter()
            .map(|id| Participant {
                id: id.to_string(),
                display_name: id.to_uppercase(),
                role: "speaker".into(),
                guest: false,
                state: dais::conference::Standing::Admitted,
                reason: None,
                podium: true,
                mic_muted: false,
                camera_off: false,
                sharing: false,
            })
            .collect(),
        chat: Vec::new(),
        call: false,
    });
    show(&panel.ui, &st);
    panel.ui.global::<RoomApi>().set_preview_live(true);
    let tiles = four_tiles();
    let mut call = Vec::new();
    for _ in 0..frames {
        // A new composite frame each time, as the display sends them.
        panel.ui.global::<RoomApi>().set_preview(tiles.clone());
        let t = Instant::now();
        panel.render();
        call.push(t.elapsed());
    }

    println!("panel, software renderer at 1920×1080 (full redraws):");
    println!("  home                             {}", stats(home));
    println!("  conference, four video tiles     {}", stats(call));
    println!("  remote key → frame showing it    {}", stats(key));
}

//! The room's camera picture follows what its encoder keeps up with: when
//! the encoder's thread falls behind the camera (here it is held up on
//! purpose, as a starved CPU holds it up), the room sends a smaller
//! picture that keeps moving instead of one frame a second; the far end
//! decodes the smaller size and still reads the test card's rising frame
//! number; once the encoder keeps up again the picture steps back up to
//! the configured size. `/status`'s figures say so.

#[path = "common/media.rs"]
mod media;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dais::config::VideoCodec;
use dais::media::adapt::{CALM_WAIT, SendCounts};
use dais::media::testcard;
use gst::prelude::*;
use media::*;

/// What A reports it sends in the call "a".
fn sending(e: &Engine) -> Option<SendCounts> {
    e.handle.stats.send_video.lock().ok()?.get("a").copied()
}

/// The size B's decoder gives A's picture.
fn decoded_size(b: &Engine) -> Option<(i32, i32)> {
    let dec = find_element(b, made_by("vp8dec"))?;
    let caps = dec.static_pad("src")?.current_caps()?;
    let s = caps.structure(0)?;
    Some((s.get("width").ok()?, s.get("height").ok()?))
}

/// The frame number B reads in its picture of A.
fn frame_number(b: &Engine) -> Option<u16> {
    let s = remote_frame(b)?;
    let info = gst_video::VideoInfo::from_caps(s.caps()?).ok()?;
    let map = s.buffer()?.map_readable().ok()?;
    testcard::read_counter(
        map.as_slice(),
        info.width(),
        info.height(),
        info.stride()[0] as u32,
    )
}

/// Distinct frame numbers B reads over `secs`.
fn frames_read(b: &Engine, secs: u64) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(n) = frame_number(b) {
            seen.insert(n);
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    seen.len()
}

#[test]
fn a_starved_encoder_sends_a_smaller_picture_that_moves_and_steps_back_up() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("testcard", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let _call = call(&rt, &a, &b, VideoCodec::Vp8);
    wait(Duration::from_secs(60), "B to read A's test card", || {
        frame_number(&b)
    });
    let full = sending(&a).expect("A's call reports what it sends");
    assert_eq!((full.width, full.height), (W, H));
    assert_eq!((full.configured_width, full.configured_height), (W, H));
    assert_eq!(decoded_size(&b), Some((W as i32, H as i32)));

    // A's encoder thread now needs 120 ms a frame: it can take about 8 of
    // the camera's 15 frames a second, and its queue drops the rest.
    let queue = wait(Duration::from_secs(10), "A's encoder queue", || {
        find_element(&a, named("vq0"))
    });
    let slow = Arc::new(AtomicBool::new(true));
    {
        let slow = slow.clone();
        queue
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if slow.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(120));
                }
                gst::PadProbeReturn::Ok
            });
    }
    let down = wait(
        Duration::from_secs(60),
        "A to send a smaller picture",
        || sending(&a).filter(|s| s.steps_down > 0),
    );
    slow.store(false, Ordering::Relaxed);
    assert!(
        down.width < W && down.height < H && down.frames_dropped > 0,
        "A steps down: {down:?}"
    );
    // A quarter off each side, the shape kept.
    assert_eq!((down.width, down.height), (W * 3 / 4, H * 3 / 4));
    eprintln!("stepped down: {down:?}");

    // B decodes the smaller picture (until the calm wait is over) and
    // keeps reading A's frame numbers rise: the picture moves.
    wait(
        Duration::from_secs(CALM_WAIT.as_secs() / 2),
        "B to decode A's smaller picture",
        || (decoded_size(&b) == Some((down.width as i32, down.height as i32))).then_some(()),
    );
    let moving = frames_read(&b, 3);
    assert!(
        moving >= 5,
        "B read {moving} distinct frames of A's smaller picture in 3 s"
    );

    // The encoder keeps up again: after the calm wait, back to the
    // configured size, at B too.
    let up = wait(
        CALM_WAIT * 4,
        "A to step back up to the configured size",
        || sending(&a).filter(|s| s.width == W && s.height == H),
    );
    assert!(up.steps_up >= up.steps_down, "{up:?}");
    wait(
        Duration::from_secs(30),
        "B to decode A's full picture again",
        || (decoded_size(&b) == Some((W as i32, H as i32))).then_some(()),
    );
    let moving = frames_read(&b, 3);
    assert!(
        moving >= 5,
        "B read {moving} distinct frames of A's full picture in 3 s"
    );
    eprintln!("stepped back up: {up:?}");
}

//! Two media engines in one process call each other over WebRTC through
//! the signalling interface: each decodes the other's picture and sound,
//! muting silences the far end, camera off puts the slate on the far end's
//! screen, and a camera that fails mid-call is replaced without ending it.

#[path = "common/media.rs"]
mod media;

use std::time::Duration;

use dais::config::VideoCodec;
use dais::media::room::SLATE_RGB;
use gst::prelude::*;
use media::*;

const RED: (u8, u8, u8) = (255, 0, 0);
const BLUE: (u8, u8, u8) = (0, 0, 255);

#[test]
fn two_rooms_see_and_hear_each_other_and_the_controls_reach_the_far_end() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = call(&rt, &a, &b, VideoCodec::Vp8);

    wait(Duration::from_secs(30), "both sides connected", || {
        (c.connected.load(std::sync::atomic::Ordering::SeqCst) >= 2).then_some(())
    });
    // Each side decodes the other's picture: B sees red, A sees blue.
    wait(
        Duration::from_secs(30),
        "B to decode A's red camera",
        || remote_frame(&b).filter(|f| near(center(f), RED, 40)),
    );
    wait(
        Duration::from_secs(30),
        "A to decode B's blue camera",
        || remote_frame(&a).filter(|f| near(center(f), BLUE, 40)),
    );
    // And hears it: the far end's tone is well above silence.
    let level = wait(Duration::from_secs(30), "B to hear A", || {
        remote_level(&b).filter(|l| *l > -30.0)
    });
    assert!(level > -30.0, "A's tone at B: {level} dB");
    // Through B's speaker mix, not only its decoder.
    wait(Duration::from_secs(15), "B's speaker to play A", || {
        speaker_level(&b).filter(|l| *l > -40.0)
    });
    // The display shows it too: B's screen is mostly red in A's tile.
    let placements = b.handle.room().unwrap().placements();
    assert_eq!(placements.len(), 2, "grid: the far end and the room itself");

    // Mute: the far end measures silence, and B's speaker plays it.
    rt.block_on(a.handle.mic_muted(true));
    wait(
        Duration::from_secs(15),
        "silence at B after A mutes",
        || remote_level(&b).filter(|l| *l < -60.0),
    );
    wait(Duration::from_secs(15), "B's speaker silent", || {
        speaker_level(&b).filter(|l| *l < -60.0)
    });
    rt.block_on(a.handle.mic_muted(false));
    wait(Duration::from_secs(15), "A's tone back at B", || {
        remote_level(&b).filter(|l| *l > -30.0)
    });

    // Camera off: the far end gets the slate, never the camera.
    rt.block_on(a.handle.camera(false));
    wait(Duration::from_secs(15), "the slate at B", || {
        remote_frame(&b).filter(|f| near(center(f), SLATE_RGB, 24))
    });
    rt.block_on(a.handle.camera(true));
    wait(Duration::from_secs(15), "A's camera back at B", || {
        remote_frame(&b).filter(|f| near(center(f), RED, 40))
    });

    // A camera that errors mid-call: slate at once, the call goes on, the
    // camera comes back after the retry.
    let cam = a.handle.room().unwrap().pipeline.by_name("camera").unwrap();
    let src = cam
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("src")
        .unwrap();
    gst::element_error!(src, gst::ResourceError::Read, ("unplugged (simulated)"));
    wait(
        Duration::from_secs(15),
        "the slate after the camera failed",
        || remote_frame(&b).filter(|f| near(center(f), SLATE_RGB, 24)),
    );
    let restarts = a
        .handle
        .stats
        .camera_restarts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(restarts >= 1);
    wait(
        Duration::from_secs(20),
        "the camera back after the retry",
        || remote_frame(&b).filter(|f| near(center(f), RED, 40)),
    );
    assert!(
        c.a.remote_tracks().len() >= 2,
        "the call survived: {:?}",
        c.a.remote_tracks()
    );

    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

/// A far end whose audio always comes later than the speaker mix waits
/// for (simulated: every buffer of A's sound at B stamped 700 ms earlier,
/// as a machine too busy to decode in time would deliver it) is delayed
/// until it fits, and B's speaker plays it instead of silence.
#[test]
fn far_end_sound_that_comes_too_late_is_delayed_not_lost() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = call(&rt, &a, &b, VideoCodec::Vp8);
    let level = wait(Duration::from_secs(30), "B to decode A's sound", || {
        find_element(&b, named("level-"))
    });
    const LATE: gst::ClockTime = gst::ClockTime::from_mseconds(700);
    level
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(buf) = info.buffer_mut() {
                let buf = buf.make_mut();
                if let Some(pts) = buf.pts() {
                    buf.set_pts(pts.saturating_sub(LATE));
                }
            }
            gst::PadProbeReturn::Ok
        });
    // The decoder still hears A.
    wait(Duration::from_secs(30), "B to hear A", || {
        remote_level(&b).filter(|l| *l > -30.0)
    });
    // B finds A's sound late for its speaker and delays it by what puts it
    // back ahead of the mix: the 700 ms shift, less the lead the track had
    // before it (its jitter buffer's and decoder's margin, 150 to 300 ms on
    // this machine depending on load), plus 200 ms of headroom.
    let delay = wait(Duration::from_secs(30), "B to delay A's sound", || {
        let d = b.handle.stats.remote_delay_ms.lock().unwrap().clone();
        d.values().copied().find(|d| *d >= 500)
    });
    assert!(
        delay <= dais::media::catchup::MAX_DELAY as u64 / 1_000_000,
        "{delay} ms"
    );
    assert!(late_tracks(&b) >= 1);
    // After one short gap (the track now starts 200 ms ahead of the mix),
    // B's speaker plays A; dropped as late, it would stay silent.
    wait(
        Duration::from_secs(10),
        "B's speaker to play late A",
        || speaker_level(&b).filter(|l| *l > -40.0),
    );
    // And keeps playing it: ten fresh readings over the next two seconds,
    // nearly all audible (a busy test machine may make the track late once
    // more, which costs one short gap; dropped as late, none would be).
    let mut readings = vec![];
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        *b.handle.stats.speaker_level_db.lock().unwrap() = None;
        readings.push(wait(
            Duration::from_secs(5),
            "a fresh speaker reading",
            || speaker_level(&b),
        ));
    }
    let audible = readings.iter().filter(|l| **l > -40.0).count();
    assert!(
        audible >= 7,
        "B's speaker while A is late (dB): {readings:?}"
    );
    // /status says where the track now stands: ahead of the mix, by less
    // than its delay.
    let lead = wait(
        Duration::from_secs(10),
        "A's sound ahead of B's mix",
        || {
            let l = b.handle.stats.remote_lead_ms.lock().unwrap().clone();
            l.values().copied().find(|l| *l >= 0)
        },
    );
    assert!(
        lead < delay as i64,
        "lead {lead} ms with a delay of {delay} ms"
    );
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

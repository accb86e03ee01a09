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
    // The display shows it too: B's screen is mostly red in A's tile.
    let placements = b.handle.room().unwrap().placements();
    assert_eq!(placements.len(), 2, "grid: the far end and the room itself");

    // Mute: the far end measures silence.
    rt.block_on(a.handle.mic_muted(true));
    wait(
        Duration::from_secs(15),
        "silence at B after A mutes",
        || remote_level(&b).filter(|l| *l < -60.0),
    );
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

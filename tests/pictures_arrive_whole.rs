//! The far end sees the picture that was sent: room A's camera is dais's
//! test card, and room B reads each picture it shows back to the frame it
//! was (the counter), compares it with that frame as drawn (PSNR), at its
//! own shape, on a clean link and with 2% of A's packets lost on the way
//! in, where the sound goes on too.

#[path = "common/media.rs"]
mod media;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dais::config::VideoCodec;
use dais::media::testcard;
use gst::prelude::*;
use media::*;

/// The least PSNR of a picture shown against the frame it says it is.
const MIN_PSNR: f64 = 30.0;

/// What B showed of A's test card: (frame number, PSNR against it).
fn shown(e: &Engine) -> Option<(u16, f64)> {
    let s = remote_frame(e)?;
    let caps = s.caps()?;
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    assert_eq!(
        (info.width(), info.height()),
        (W, H),
        "the far end's picture at its own size and shape"
    );
    let map = s.buffer()?.map_readable().ok()?;
    let stride = info.stride()[0] as u32;
    let n = testcard::read_counter(map.as_slice(), W, H, stride)?;
    let want = testcard::draw(u32::from(n), W, H);
    Some((n, testcard::psnr(map.as_slice(), stride, &want, W, H)))
}

/// Watches B's pictures of A for `secs`: every one whose counter reads must
/// be the frame it says, and the counter must keep rising. Returns the
/// distinct frames seen and the worst PSNR.
fn watch(b: &Engine, secs: u64) -> (usize, f64) {
    let mut seen = std::collections::BTreeSet::new();
    let mut worst = f64::INFINITY;
    let mut unreadable = 0;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        match shown(b) {
            Some((n, p)) => {
                assert!(
                    p >= MIN_PSNR,
                    "B shows frame {n} of A's test card at {p:.1} dB (want at least {MIN_PSNR})"
                );
                seen.insert(n);
                worst = worst.min(p);
            }
            None => unreadable += 1,
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    assert!(
        unreadable <= 2,
        "{unreadable} of B's pictures of A had no readable frame number"
    );
    (seen.len(), worst)
}

/// A call whose pictures keep the configured size: these tests compare
/// every pixel with the card drawn at that size, on a machine that may be
/// too busy to encode it in time (the smaller picture a starved encoder
/// sends has its own test, `sent_picture_follows_the_encoder`).
fn fixed_size_call(rt: &tokio::runtime::Runtime, a: &Engine, b: &Engine) -> Call {
    let fixed = |id: &str, offerer: bool| dais::media::webrtc::SessionOptions {
        adapt_size: false,
        ..options(id, offerer, VideoCodec::Vp8)
    };
    call_with(rt, a, b, fixed("a", true), fixed("b", false))
}

#[test]
fn the_far_end_shows_each_frame_of_the_test_card_as_it_was_sent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("testcard", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = fixed_size_call(&rt, &a, &b);
    wait(Duration::from_secs(30), "B to show A's test card", || {
        shown(&b)
    });
    let (frames, worst) = watch(&b, 4);
    // 15 frames a second for 4 s, polled every 40 ms: a moving picture
    // (a busy machine shows fewer), and never one that is not the frame it
    // says it is.
    assert!(
        frames >= 12,
        "B showed only {frames} distinct frames of A in 4 s"
    );
    eprintln!("clean link: {frames} frames, worst PSNR {worst:.1} dB");
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

#[test]
fn with_two_percent_of_packets_lost_the_picture_stays_whole_and_the_sound_goes_on() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("testcard", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = fixed_size_call(&rt, &a, &b);
    wait(Duration::from_secs(30), "B to show A's test card", || {
        shown(&b)
    });
    wait(Duration::from_secs(30), "B's speaker to play A", || {
        speaker_level(&b).filter(|l| *l > -40.0)
    });
    // From now on one in fifty of the packets that reach B's network
    // element from A (video, sound and control alike, encrypted) is lost,
    // the same ones every run.
    let nice = wait(Duration::from_secs(10), "B's ICE source", || {
        find_element(&b, made_by("nicesrc"))
    });
    let arrived = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let on = Arc::new(AtomicBool::new(true));
    {
        let (arrived, lost, on) = (arrived.clone(), lost.clone(), on.clone());
        nice.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let n = arrived.fetch_add(1, Ordering::SeqCst);
                // A fixed scramble of the packet's number: 2% of them.
                let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
                if on.load(Ordering::SeqCst) && x % 50 == 0 {
                    lost.fetch_add(1, Ordering::SeqCst);
                    return gst::PadProbeReturn::Drop;
                }
                gst::PadProbeReturn::Ok
            });
    }
    // The gaps between the pictures of A that B decodes, from their times
    // in the pipeline, while the loss lasts.
    let decoder = wait(
        Duration::from_secs(10),
        "B's decoder of A's pictures",
        || find_element(&b, made_by("vp8dec")),
    );
    let gaps = Arc::new(std::sync::Mutex::new(
        dais::media::repair::Freezes::default(),
    ));
    {
        let gaps = gaps.clone();
        let on = on.clone();
        decoder.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER,
            move |pad, info| {
                if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                    && on.load(Ordering::SeqCst)
                    && let Some(pts) = buf.pts()
                    && let Some(seg) = pad.sticky_event::<gst::event::Segment>(0)
                    && let Some(seg) = seg.segment().downcast_ref::<gst::ClockTime>()
                    && let Some(at) = seg.to_running_time(pts)
                {
                    gaps.lock().unwrap().on_picture(at.nseconds());
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    let (frames, worst) = watch(&b, 8);
    // The sound goes on: ten fresh readings of B's speaker, all audible.
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
    on.store(false, Ordering::SeqCst);
    let (n_lost, n_arrived) = (lost.load(Ordering::SeqCst), arrived.load(Ordering::SeqCst));
    let repair = b.handle.stats.repair_totals();
    eprintln!(
        "2% loss: {n_lost} of {n_arrived} packets dropped; {frames} frames shown, worst PSNR \
         {worst:.1} dB; B's repair figures {repair:?}; speaker {readings:?}; pictures {:?}",
        gaps.lock().unwrap()
    );
    assert!(
        n_lost >= 10,
        "only {n_lost} of {n_arrived} packets were dropped"
    );
    assert!(
        frames >= 16,
        "B showed only {frames} distinct frames of A in 8 s"
    );
    assert!(
        readings.iter().all(|l| *l > -40.0),
        "B's speaker under loss (dB): {readings:?}"
    );
    // The losses were seen and asked for again, and each freeze ended:
    // the picture kept coming back (the frames counted above). How long
    // the freezes last is printed, not asserted: on a loaded machine they
    // reach 1-2 s (issue 13 is open on it).
    assert!(repair.nacks_sent >= 1, "{repair:?}");
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

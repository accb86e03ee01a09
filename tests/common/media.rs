//! Media engines in the test process: the virtual devices with distinct
//! colours and tones, small pictures to keep two calls on two cores cheap,
//! and helpers to read pixels and levels.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use dais::config::{
    CameraSettings, DisplaySettings, MediaSettings, MicrophoneSettings, VideoCodec,
};
use dais::devices::{CameraTarget, DisplayTarget, MicrophoneTarget, SpeakerTarget};
use dais::media::webrtc::{Session, SessionEvent, SessionOptions, Signal};
use dais::media::{MediaEvent, MediaHandle, RoomConfig};
use gst::prelude::*;
use tokio::sync::mpsc;

pub const W: u32 = 320;
pub const H: u32 = 240;
pub const FPS: u32 = 15;

/// A room whose camera is a flat `pattern` (videotestsrc name) and whose
/// microphone hums at `freq` Hz.
pub fn config(pattern: &str, freq: f64) -> RoomConfig {
    let camera = CameraSettings {
        width: W,
        height: H,
        framerate: FPS,
        pattern: pattern.into(),
        ..Default::default()
    };
    RoomConfig {
        camera_target: CameraTarget::Test {
            pattern: pattern.into(),
        },
        camera: camera.clone(),
        content_target: Some(CameraTarget::Test {
            pattern: "green".into(),
        }),
        content: CameraSettings {
            pattern: "green".into(),
            ..camera
        },
        recordings_dir: std::env::temp_dir()
            .join(format!("dais-rec-{}-{pattern}", std::process::id())),
        microphone_target: MicrophoneTarget::Test {
            wave: "sine".into(),
            frequency_hz: freq,
        },
        microphone: MicrophoneSettings::default(),
        speaker_target: SpeakerTarget::Fake,
        speaker: Default::default(),
        display_target: DisplayTarget::Appsink,
        display: DisplaySettings {
            width: W,
            height: H,
            framerate: FPS,
            ..Default::default()
        },
        media: MediaSettings {
            send_width: W,
            send_height: H,
            send_framerate: FPS,
            video_bitrate_kbps: 400,
            ..Default::default()
        },
        panel_frames: None,
        panel_display_frames: None,
        panel_size: (160, 90),
        panel_fps: 5,
    }
}

pub struct Engine {
    pub handle: MediaHandle,
    pub events: mpsc::Receiver<MediaEvent>,
}

pub fn engine(rt: &tokio::runtime::Runtime, cfg: RoomConfig) -> Engine {
    dais::media::init().unwrap();
    // `DAIS_TEST_LOG=dais=debug` shows the engine's own account of a failure.
    if let Ok(filter) = std::env::var("DAIS_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let (tx, events) = mpsc::channel(64);
    let handle = rt.block_on(async { dais::media::spawn(cfg, tx) });
    wait(Duration::from_secs(20), "the room pipeline", || {
        handle.room().is_some().then_some(())
    });
    Engine { handle, events }
}

pub fn wait<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn options(id: &str, offerer: bool, codec: VideoCodec) -> SessionOptions {
    SessionOptions {
        id: id.into(),
        send_video: true,
        send_audio: true,
        codec,
        width: W,
        height: H,
        framerate: FPS,
        adapt_size: true,
        video_kbps: 400,
        audio_kbps: 32,
        offerer,
        content: false,
        audio_level: false,
    }
}

/// Two sessions wired back to back: every signal from one reaches the other.
pub struct Call {
    pub a: Session,
    pub b: Session,
    pub connected: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

pub fn call(rt: &tokio::runtime::Runtime, a: &Engine, b: &Engine, codec: VideoCodec) -> Call {
    call_with(
        rt,
        a,
        b,
        options("a", true, codec),
        options("b", false, codec),
    )
}

pub fn call_with(
    rt: &tokio::runtime::Runtime,
    a: &Engine,
    b: &Engine,
    oa: SessionOptions,
    ob: SessionOptions,
) -> Call {
    let (sa, ra) = a.handle.session(oa).unwrap();
    let (sb, rb) = b.handle.session(ob).unwrap();
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    for (mut rx, peer, c) in [
        (ra, sb.clone(), connected.clone()),
        (rb, sa.clone(), connected.clone()),
    ] {
        rt.spawn(async move {
            while let Some(ev) = rx.recv().await {
                match ev {
                    SessionEvent::Signal(s) => {
                        let _ = peer.handle(s);
                    }
                    SessionEvent::Connected => {
                        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        });
    }
    Call {
        a: sa,
        b: sb,
        connected,
    }
}

/// The RGB at (x, y) of an RGBA sample.
pub fn pixel(sample: &gst::Sample, x: u32, y: u32) -> (u8, u8, u8) {
    let caps = sample.caps().expect("caps");
    let info = gst_video::VideoInfo::from_caps(caps).expect("video caps");
    let buf = sample.buffer().expect("buffer");
    let map = buf.map_readable().expect("readable");
    let stride = info.stride()[0] as usize;
    let bpp = info.format_info().pixel_stride()[0] as usize;
    let o = y as usize * stride + x as usize * bpp;
    (map[o], map[o + 1], map[o + 2])
}

pub fn near(a: (u8, u8, u8), b: (u8, u8, u8), tol: i32) -> bool {
    (a.0 as i32 - b.0 as i32).abs() <= tol
        && (a.1 as i32 - b.1 as i32).abs() <= tol
        && (a.2 as i32 - b.2 as i32).abs() <= tol
}

/// The latest frame of the first remote video track.
pub fn remote_frame(e: &Engine) -> Option<gst::Sample> {
    let f = e.handle.stats.remote_frames.lock().ok()?;
    f.values().next().cloned()
}

pub fn remote_level(e: &Engine) -> Option<f64> {
    let l = e.handle.stats.remote_levels_db.lock().ok()?;
    l.values().next().copied()
}

/// What the room's speaker plays, dBFS.
pub fn speaker_level(e: &Engine) -> Option<f64> {
    *e.handle.stats.speaker_level_db.lock().ok()?
}

pub fn late_tracks(e: &Engine) -> u64 {
    e.handle
        .stats
        .late_tracks
        .load(std::sync::atomic::Ordering::Relaxed)
}

pub fn center(sample: &gst::Sample) -> (u8, u8, u8) {
    let caps = sample.caps().unwrap();
    let info = gst_video::VideoInfo::from_caps(caps).unwrap();
    pixel(sample, info.width() / 2, info.height() / 2)
}

#[allow(unused)]
fn _uses(_: Signal) {}

pub fn _element(e: &Engine, name: &str) -> Option<gst::Element> {
    e.handle.room()?.pipeline.by_name(name)
}

/// The first element of `e`'s room pipeline, sessions included, that
/// `pick` chooses.
pub fn find_element(e: &Engine, pick: impl Fn(&gst::Element) -> bool) -> Option<gst::Element> {
    let room = e.handle.room()?;
    let mut it = room.pipeline.iterate_recurse();
    while let Ok(Some(el)) = it.next() {
        if pick(&el) {
            return Some(el);
        }
    }
    None
}

/// The first element whose name starts with `prefix`.
pub fn named(prefix: &str) -> impl Fn(&gst::Element) -> bool + '_ {
    move |el| el.name().starts_with(prefix)
}

/// The first element made by the factory `factory`.
pub fn made_by(factory: &str) -> impl Fn(&gst::Element) -> bool + '_ {
    move |el| el.factory().is_some_and(|f| f.name() == factory)
}

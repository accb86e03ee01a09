//! The room display and its inputs, through real pipelines: a 4-tile grid
//! puts each picture in its quadrant, layouts move them, an RTSP stream from
//! a real RTSP server on loopback shows up, shared content renegotiates a
//! running call, and a recording plays back with the expected duration.

#[path = "common/media.rs"]
mod media;

use std::time::Duration;

use dais::config::VideoCodec;
use dais::media::layout::{Fit, Layout};
use dais::media::room::bin_of;
use gst_rtsp_server::prelude::*;
use media::*;

fn solid(name: &str, pattern: &str) -> gst::Bin {
    let src = gst::ElementFactory::make("videotestsrc")
        .property("is-live", true)
        .property_from_str("pattern", pattern)
        .build()
        .unwrap();
    let caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", W as i32)
                .field("height", H as i32)
                .build(),
        )
        .build()
        .unwrap();
    bin_of(name, &[src, caps]).unwrap()
}

fn display_at(e: &Engine, x: u32, y: u32) -> Option<(u8, u8, u8)> {
    let s = e.handle.stats.last_display_sample.lock().ok()?.clone()?;
    Some(pixel(&s, x, y))
}

#[test]
fn four_tiles_sit_in_their_quadrants_and_layouts_move_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = engine(&rt, config("red", 440.0));
    let room = e.handle.room().unwrap();
    room.add_video_source("green", solid("green", "green"), false)
        .unwrap();
    room.add_video_source("blue", solid("blue", "blue"), false)
        .unwrap();
    room.add_video_source("white", solid("white", "white"), false)
        .unwrap();
    let (qx, qy) = (W / 4, H / 4);
    let want = [
        ((qx, qy), (0, 255, 0)),
        ((3 * qx, qy), (0, 0, 255)),
        ((qx, 3 * qy), (255, 255, 255)),
        ((3 * qx, 3 * qy), (255, 0, 0)), // the room's own camera last
    ];
    for ((x, y), rgb) in want {
        wait(
            Duration::from_secs(15),
            &format!("{rgb:?} at ({x},{y})"),
            || display_at(&e, x, y).filter(|p| near(*p, rgb, 40)),
        );
    }
    // Speaker: the first tile fills the screen.
    rt.block_on(e.handle.layout(Layout::Speaker));
    for (x, y) in [(qx, qy), (3 * qx, 3 * qy)] {
        wait(Duration::from_secs(10), "green everywhere", || {
            display_at(&e, x, y).filter(|p| near(*p, (0, 255, 0), 40))
        });
    }
    // Picture in picture: the room's own picture in the bottom-right corner.
    rt.block_on(e.handle.layout(Layout::Pip));
    wait(Duration::from_secs(10), "self-view in the corner", || {
        display_at(&e, W - W / 8 - 4, H - H / 8 - 4).filter(|p| near(*p, (255, 0, 0), 40))
    });
    wait(Duration::from_secs(10), "the far end behind it", || {
        display_at(&e, qx, qy).filter(|p| near(*p, (0, 255, 0), 40))
    });
    // A source that leaves leaves the grid.
    rt.block_on(e.handle.layout(Layout::Grid));
    assert!(room.remove_video_source("white"));
    assert_eq!(room.placements().len(), 3);
    rt.block_on(e.handle.stop());
}

/// SMPTE colour bars at `w`x`h` (square pixels), and the capsfilter that
/// sets the size: the sender's resolution, changeable mid-stream.
fn bars(w: i32, h: i32) -> (gst::Bin, gst::Element) {
    let src = gst::ElementFactory::make("videotestsrc")
        .property("is-live", true)
        .property_from_str("pattern", "smpte")
        .build()
        .unwrap();
    let caps = gst::ElementFactory::make("capsfilter")
        .property("caps", sized(w, h))
        .build()
        .unwrap();
    (bin_of("bars", &[src, caps.clone()]).unwrap(), caps)
}

fn sized(w: i32, h: i32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", w)
        .field("height", h)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

fn display(e: &Engine) -> Option<gst::Sample> {
    e.handle.stats.last_display_sample.lock().ok()?.clone()
}

/// Something is drawn at (x, y): not the compositor's black background.
fn drawn(s: &gst::Sample, x: u32, y: u32) -> bool {
    let (r, g, b) = pixel(s, x, y);
    r.max(g).max(b) > 40
}

/// How many rows, and how many columns, of the display area `x0..x1` by
/// `0..H` have a picture in them.
fn extent(s: &gst::Sample, x0: u32, x1: u32) -> (usize, usize) {
    let rows = (0..H).filter(|y| (x0..x1).any(|x| drawn(s, x, *y))).count();
    let cols = (x0..x1).filter(|x| (0..H).any(|y| drawn(s, *x, y))).count();
    (rows, cols)
}

/// The first row with a picture in `x0..x1`.
fn top(s: &gst::Sample, x0: u32, x1: u32) -> Option<u32> {
    (0..H).find(|y| (x0..x1).any(|x| drawn(s, x, *y)))
}

/// Bars of one colour along row `y` in `x0..x1`: a change of colour starts
/// a new bar unless it follows the last change within 3 pixels (scaling
/// blends the edges).
fn bars_along(s: &gst::Sample, y: u32, x0: u32, x1: u32) -> usize {
    let mut n = 1;
    let mut last_change: Option<u32> = None;
    for x in x0 + 1..x1 {
        if !near(pixel(s, x, y), pixel(s, x - 1, y), 30) {
            if last_change.is_none_or(|c| x - c > 3) {
                n += 1;
            }
            last_change = Some(x);
        }
    }
    n
}

/// A picture keeps its shape in a tile of another shape: letterboxed by
/// default, cut to fill when the fit is crop, and fitted again when the
/// sender changes its resolution mid-stream. (The defect: a guest's 16:9
/// picture squeezed into a tall grid tile, a face drawn thin.)
#[test]
fn pictures_keep_their_shape_in_tiles_of_another_shape() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = engine(&rt, config("red", 440.0));
    let room = e.handle.room().unwrap();
    assert_eq!(room.fit(), Fit::Letterbox);
    let (bin, caps) = bars(320, 180);
    room.add_video_source("bars", bin, false).unwrap();
    // A grid of two on the 320x240 display: the bars in a 160x240 tile on
    // the left, the room's own 4:3 picture (red) on the right.
    let half = W / 2;
    // Letterboxed: the 16:9 bars are 160x90 in the middle of their tile,
    // all seven across; the room's 4:3 picture is 160x120.
    let s = wait(Duration::from_secs(15), "the bars letterboxed", || {
        display(&e).filter(|s| {
            let (rows, cols) = extent(s, 0, half);
            (87..=93).contains(&rows) && cols == half as usize
        })
    });
    let y0 = top(&s, 0, half).unwrap();
    assert!((72..=78).contains(&y0), "the bars start at row {y0}");
    assert_eq!(bars_along(&s, y0 + 20, 0, half), 7);
    let s = wait(Duration::from_secs(10), "the room letterboxed", || {
        display(&e).filter(|s| (117..=123).contains(&extent(s, half, W).0))
    });
    assert!(near(pixel(&s, half + half / 2, H / 2), (255, 0, 0), 40));
    assert!(!drawn(&s, half + half / 2, 20));

    // Crop: both tiles full, the bars' middle three left (their width of
    // 120 of 320 pixels has the tile's 2:3 shape).
    room.set_fit(Fit::Crop);
    // (The tile's new size and the cut reach the compositor a frame apart.)
    let s = wait(
        Duration::from_secs(10),
        "the tiles filled, the bars cut",
        || {
            display(&e).filter(|s| {
                extent(s, 0, half).0 >= 238
                    && extent(s, half, W).0 >= 238
                    && bars_along(s, 40, 0, half) == 3
            })
        },
    );
    assert!(near(pixel(&s, half + half / 2, 20), (255, 0, 0), 40));

    // The sender turns to portrait (180x320) mid-stream: fitted again, at
    // full height, 135 pixels wide.
    room.set_fit(Fit::Letterbox);
    caps.set_property("caps", sized(180, 320));
    wait(
        Duration::from_secs(15),
        "the portrait picture fitted",
        || {
            display(&e).filter(|s| {
                let (rows, cols) = extent(s, 0, half);
                rows == H as usize && (132..=138).contains(&cols)
            })
        },
    );
    rt.block_on(e.handle.stop());
}

/// A real RTSP server on loopback serving a green H.264 stream.
fn rtsp_server() -> (String, gst::glib::MainLoop) {
    dais::media::init().unwrap();
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service("0");
    let mounts = server.mount_points().unwrap();
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( videotestsrc is-live=true pattern=green ! video/x-raw,width={W},height={H},framerate={FPS}/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )"
    ));
    factory.set_shared(true);
    mounts.add_factory("/cam", factory);
    let ctx = gst::glib::MainContext::new();
    let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
    let id = server.attach(Some(&ctx)).unwrap();
    let _ = id;
    let port = server.bound_port();
    let ml = main_loop.clone();
    std::thread::spawn(move || {
        ctx.with_thread_default(|| ml.run()).unwrap();
    });
    (format!("rtsp://127.0.0.1:{port}/cam"), main_loop)
}

#[test]
fn an_rtsp_stream_shows_on_the_display_and_goes_into_a_call() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, ml) = rtsp_server();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let tee = a.handle.open_rtsp(&url).unwrap();
    rt.block_on(a.handle.layout(Layout::Speaker));
    wait(
        Duration::from_secs(30),
        "RTSP frames on the display",
        || display_at(&a, W / 2, H / 2).filter(|p| near(*p, (0, 255, 0), 40)),
    );
    // Sent into a call as a participant: B receives a second video track.
    let c = call(&rt, &a, &b, VideoCodec::Vp8);
    wait(Duration::from_secs(30), "the call", || remote_frame(&b));
    c.a.add_video_from(&tee, &options("a", true, VideoCodec::Vp8))
        .unwrap();
    wait(Duration::from_secs(30), "the RTSP stream at B", || {
        let frames = b.handle.stats.remote_frames.lock().unwrap();
        frames
            .values()
            .any(|f| near(center(f), (0, 255, 0), 40))
            .then_some(())
    });
    assert!(a.handle.close_rtsp());
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
    ml.quit();
}

#[test]
fn sharing_content_renegotiates_a_running_call() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = call(&rt, &a, &b, VideoCodec::Vp8);
    wait(Duration::from_secs(30), "the call", || {
        remote_frame(&b).filter(|f| near(center(f), (255, 0, 0), 40))
    });
    // The answering side shares: it makes the new offer.
    let tee = b.handle.share_content(true).unwrap().unwrap();
    c.b.add_video_from(&tee, &options("b", false, VideoCodec::Vp8))
        .unwrap();
    wait(Duration::from_secs(30), "B's content at A", || {
        let frames = a.handle.stats.remote_frames.lock().unwrap();
        (frames.len() >= 2 && frames.values().any(|f| near(center(f), (0, 255, 0), 40)))
            .then_some(())
    });
    assert!(
        c.a.remote_tracks().len() >= 3,
        "audio, camera and content: {:?}",
        c.a.remote_tracks()
    );
    // Content takes the speaker's place on B's own display too.
    assert_eq!(b.handle.room().unwrap().placements()[0].id, "content");
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

#[test]
fn an_h264_call_works_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = call(&rt, &a, &b, VideoCodec::H264);
    wait(Duration::from_secs(30), "B to decode A's H.264", || {
        remote_frame(&b).filter(|f| near(center(f), (255, 0, 0), 40))
    });
    wait(Duration::from_secs(30), "A to decode B's H.264", || {
        remote_frame(&a).filter(|f| near(center(f), (0, 0, 255), 40))
    });
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

#[test]
fn a_recording_plays_back_with_the_expected_duration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = config("red", 440.0);
    let dir = tempfile::tempdir().unwrap();
    cfg.recordings_dir = dir.path().to_path_buf();
    cfg.media.recording_segment_seconds = 2;
    let e = engine(&rt, cfg);
    wait(Duration::from_secs(10), "frames", || {
        e.handle.stats.last_display_sample.lock().unwrap().clone()
    });
    e.handle.start_recording("meeting").unwrap();
    assert!(
        e.handle.start_recording("again").is_err(),
        "one recording at a time"
    );
    std::thread::sleep(Duration::from_secs(5));
    let files = e.handle.stop_recording().unwrap();
    assert!(files.len() >= 2, "5 s in 2 s segments: {files:?}");
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(10)).unwrap();
    let mut total = Duration::ZERO;
    for f in &files {
        let uri = gst::glib::filename_to_uri(f, None).unwrap();
        let info = discoverer
            .discover_uri(&uri)
            .unwrap_or_else(|e| panic!("{f:?} does not play: {e}"));
        let d = info.duration().expect("a duration");
        total += Duration::from_nanos(d.nseconds());
        assert_eq!(info.video_streams().len(), 1, "{f:?}");
        assert_eq!(info.audio_streams().len(), 1, "{f:?}");
    }
    assert!(
        total >= Duration::from_millis(4000) && total <= Duration::from_millis(6500),
        "recorded {total:?} of 5 s"
    );
    rt.block_on(e.handle.stop());
}

//! Element builders shared by every pipeline: the camera as a source bin
//! with a fixed raw output, and the room display as a sink.

use std::os::fd::AsRawFd;

use gst::prelude::*;

use super::MediaError;
use crate::config::{CameraSettings, DisplaySettings, SpeakerSettings, VideoInputFormat};
use crate::devices::{CameraTarget, DisplayTarget, SpeakerTarget};

pub(crate) fn make(factory: &str, name: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| MediaError::Element {
            element: factory.to_string(),
        })
}

fn raw_caps(width: u32, height: u32, framerate: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(framerate as i32, 1))
        .build()
}

/// A bin with one `src` pad giving raw video at the camera's configured
/// size and rate, whatever the device delivers.
pub fn camera_source(
    target: &CameraTarget,
    settings: &CameraSettings,
    name: &str,
) -> Result<gst::Bin, MediaError> {
    let bin = gst::Bin::builder().name(name).build();
    let caps = raw_caps(settings.width, settings.height, settings.framerate);
    let mut chain: Vec<gst::Element> = Vec::new();
    match target {
        CameraTarget::Test { pattern } if pattern == TESTCARD => {
            let src = make("videotestsrc", "src")?;
            src.set_property("is-live", true);
            src.set_property_from_str("pattern", "black");
            let card = make("capsfilter", "testcard-caps")?;
            card.set_property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "RGBA")
                    .field("width", settings.width as i32)
                    .field("height", settings.height as i32)
                    .field(
                        "framerate",
                        gst::Fraction::new(settings.framerate as i32, 1),
                    )
                    .build(),
            );
            draw_testcard(&card);
            chain.extend([src, card]);
        }
        CameraTarget::Test { pattern } => {
            let src = make("videotestsrc", "src")?;
            src.set_property("is-live", true);
            src.set_property_from_str("pattern", pattern);
            chain.push(src);
        }
        CameraTarget::V4l2 { device, .. } => {
            let src = make("v4l2src", "src")?;
            src.set_property("device", device.to_string_lossy().to_string());
            let mjpeg = match settings.input_format {
                VideoInputFormat::Mjpeg => true,
                VideoInputFormat::Raw => false,
                VideoInputFormat::Auto => !offers_raw(&src, &caps),
            };
            chain.push(src);
            if mjpeg {
                let jcaps = make("capsfilter", "jpeg-caps")?;
                jcaps.set_property(
                    "caps",
                    gst::Caps::builder("image/jpeg")
                        .field("width", settings.width as i32)
                        .field("height", settings.height as i32)
                        .field(
                            "framerate",
                            gst::Fraction::new(settings.framerate as i32, 1),
                        )
                        .build(),
                );
                chain.push(jcaps);
                chain.push(make("jpegdec", "jpegdec")?);
            }
        }
        CameraTarget::Element { factory } => chain.push(make(factory, "src")?),
    }
    chain.push(make("videoconvert", "convert")?);
    chain.push(make("videoscale", "scale")?);
    let rate = make("videorate", "rate")?;
    // A camera (re)started in a running pipeline (after privacy, a failure
    // or a camera switch) must not have its first frame back-filled from
    // the start of the segment: that is a burst of every frame since the
    // room started, stamped in the past, which the encoder and the far
    // end's jitter buffer choke on.
    rate.set_property("skip-to-first", true);
    chain.push(rate);
    let filter = make("capsfilter", "caps")?;
    filter.set_property("caps", &caps);
    chain.push(filter);

    bin.add_many(&chain).map_err(|_| MediaError::link(name))?;
    gst::Element::link_many(&chain).map_err(|_| MediaError::link(name))?;
    let last = chain.last().expect("chain holds at least the capsfilter");
    let pad = last
        .static_pad("src")
        .expect("capsfilter always has a src pad");
    let ghost = gst::GhostPad::with_target(&pad).map_err(|_| MediaError::link(name))?;
    ghost.set_active(true).ok();
    bin.add_pad(&ghost).map_err(|_| MediaError::link(name))?;
    Ok(bin)
}

/// The test pattern that is dais's own test card ([`super::testcard`]).
pub const TESTCARD: &str = "testcard";

/// Paints each frame leaving `card` (a capsfilter to RGBA after a live
/// videotestsrc) with the test card of its frame number (the buffer's
/// offset).
fn draw_testcard(card: &gst::Element) {
    let Some(pad) = card.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let Some(info_v) = pad
            .current_caps()
            .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
        else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(buf) = info.buffer_mut() {
            let n = buf.offset() as u32;
            let buf = buf.make_mut();
            if let Ok(mut map) = buf.map_writable() {
                super::testcard::draw_into(
                    n,
                    info_v.width(),
                    info_v.height(),
                    info_v.stride()[0] as u32,
                    map.as_mut_slice(),
                );
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Whether a V4L2 source offers raw frames at the wanted size and rate;
/// USB cameras often give 1080p30 only as MJPEG.
fn offers_raw(src: &gst::Element, wanted: &gst::Caps) -> bool {
    if src.set_state(gst::State::Ready).is_err() {
        return true;
    }
    let offered = src
        .static_pad("src")
        .map(|p| p.query_caps(None))
        .unwrap_or_else(gst::Caps::new_any);
    let _ = src.set_state(gst::State::Null);
    offered.can_intersect(wanted)
}

/// The room display sink. `keep_alive` holds resources the sink borrows (the
/// DRM file descriptor) for as long as the pipeline lives.
pub struct DisplaySink {
    pub element: gst::Element,
    pub appsink: Option<gst_app::AppSink>,
    pub keep_alive: Option<std::fs::File>,
}

pub fn display_sink(
    target: &DisplayTarget,
    settings: &DisplaySettings,
    name: &str,
) -> Result<DisplaySink, MediaError> {
    let mut keep_alive = None;
    let mut appsink = None;
    let element = match target {
        DisplayTarget::Appsink => {
            let sink = gst_app::AppSink::builder()
                .name(name)
                .caps(
                    &gst::Caps::builder("video/x-raw")
                        .field("format", "RGBx")
                        .field("width", settings.width as i32)
                        .field("height", settings.height as i32)
                        .build(),
                )
                .max_buffers(2)
                .drop(true)
                .sync(true)
                .build();
            appsink = Some(sink.clone());
            sink.upcast()
        }
        DisplayTarget::Kms {
            drm_device,
            connector_id,
            ..
        } => {
            let sink = make("kmssink", name)?;
            if let Some(dev) = drm_device {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(dev)
                    .map_err(|e| MediaError::Device {
                        device: dev.display().to_string(),
                        reason: e.to_string(),
                    })?;
                sink.set_property("fd", file.as_raw_fd());
                keep_alive = Some(file);
            }
            if let Some(id) = connector_id {
                sink.set_property("connector-id", *id as i32);
            }
            sink.set_property("force-modesetting", true);
            sink
        }
        DisplayTarget::Window => make("ximagesink", name)?,
        DisplayTarget::Fake => {
            let s = make("fakesink", name)?;
            s.set_property("sync", true);
            s
        }
        DisplayTarget::Element { factory } => make(factory, name)?,
    };
    Ok(DisplaySink {
        element,
        appsink,
        keep_alive,
    })
}

/// The room's speaker: ALSA, discarded with the clock kept, or an element.
pub fn speaker_sink(
    target: &SpeakerTarget,
    settings: &SpeakerSettings,
    name: &str,
) -> Result<gst::Element, MediaError> {
    let sink = match target {
        SpeakerTarget::Alsa { device, .. } => {
            let s = make("alsasink", name)?;
            s.set_property("device", device);
            s.set_property("buffer-time", i64::from(settings.buffer_ms) * 1000);
            s.set_property("latency-time", i64::from(settings.period_ms) * 1000);
            s.set_property_from_str("slave-method", settings.slave_method.nick());
            s
        }
        SpeakerTarget::Fake => make("fakesink", name)?,
        SpeakerTarget::Element { factory } => make(factory, name)?,
    };
    if sink.has_property("sync") {
        sink.set_property("sync", true);
    }
    // The mix is made once the room's latency has passed; what reaches the
    // sink later than its deadline is skipped. The deadline is part of the
    // latency the sink reports, so the whole room waits for it alike.
    if sink.has_property("processing-deadline") {
        sink.set_property(
            "processing-deadline",
            u64::from(settings.deadline_ms) * 1_000_000,
        );
    }
    // The speaker must not hold the pipeline back from PLAYING.
    if sink.has_property("async") {
        sink.set_property("async", false);
    }
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The speaker's deadline is part of the latency the room runs at, so
    /// the mix gets that long to reach the card.
    #[test]
    fn the_speaker_deadline_is_part_of_the_room_latency() {
        gst::init().unwrap();
        let latency_with = |deadline_ms: u32| {
            let pipeline = gst::Pipeline::new();
            let src = gst::ElementFactory::make("audiotestsrc")
                .property("is-live", true)
                .build()
                .unwrap();
            let settings = SpeakerSettings {
                deadline_ms,
                ..Default::default()
            };
            let sink = speaker_sink(&SpeakerTarget::Fake, &settings, "speaker").unwrap();
            pipeline.add_many([&src, &sink]).unwrap();
            src.link(&sink).unwrap();
            pipeline.set_state(gst::State::Playing).unwrap();
            // The sink answers for a live stream once it has one.
            let deadline = Instant::now() + Duration::from_secs(10);
            let min = loop {
                let mut q = gst::query::Latency::new();
                if pipeline.query(&mut q) {
                    let (live, min, _) = q.result();
                    if live {
                        break min;
                    }
                }
                assert!(Instant::now() < deadline, "no live latency in 10 s");
                std::thread::sleep(Duration::from_millis(20));
            };
            pipeline.set_state(gst::State::Null).unwrap();
            min.mseconds()
        };
        let short = latency_with(20);
        let long = latency_with(300);
        assert!(long >= 300, "room latency {long} ms with a 300 ms deadline");
        assert!(
            long >= short + 280,
            "a 300 ms deadline gives {long} ms, a 20 ms one {short} ms"
        );
    }

    /// A camera put on air seconds after the room started sends frames
    /// stamped now, at the camera's pace, not a back-fill from time zero.
    #[test]
    fn a_camera_restarted_mid_stream_starts_at_the_current_time() {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        // Something live keeps the pipeline's clock running meanwhile.
        let keep = gst::ElementFactory::make("audiotestsrc")
            .property("is-live", true)
            .build()
            .unwrap();
        let sink = gst::ElementFactory::make("fakesink").build().unwrap();
        pipeline.add_many([&keep, &sink]).unwrap();
        keep.link(&sink).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        std::thread::sleep(Duration::from_millis(1500));

        let settings = CameraSettings {
            width: 64,
            height: 48,
            framerate: 10,
            ..Default::default()
        };
        let cam = camera_source(
            &CameraTarget::Test {
                pattern: "red".into(),
            },
            &settings,
            "camera",
        )
        .unwrap();
        let appsink = gst_app::AppSink::builder().sync(false).build();
        pipeline
            .add_many([cam.upcast_ref::<gst::Element>(), appsink.upcast_ref()])
            .unwrap();
        cam.link(&appsink).unwrap();
        let started = pipeline.current_running_time().unwrap();
        cam.sync_state_with_parent().unwrap();
        appsink.sync_state_with_parent().unwrap();

        let mut stamps = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stamps.len() < 5 && Instant::now() < deadline {
            if let Some(s) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
                stamps.push(s.buffer().and_then(|b| b.pts()).unwrap());
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(stamps.len(), 5, "frames from the restarted camera");
        let slack = gst::ClockTime::from_mseconds(300);
        assert!(
            stamps[0] + slack >= started,
            "first frame stamped {} but the camera started at {}: back-filled",
            stamps[0],
            started
        );
        // One frame per 100 ms, not a burst of duplicates.
        for w in stamps.windows(2) {
            assert!(
                w[1] - w[0] >= gst::ClockTime::from_mseconds(90),
                "frames {stamps:?} are not at the camera's pace"
            );
        }
    }
}

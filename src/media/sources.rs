//! Video sources besides the camera: shared content (a second capture
//! device or a test picture) and RTSP streams (IP cameras, encoders).

use gst::prelude::*;

use super::MediaError;
use super::build::{self, make};
use super::room::bin_of;
use crate::config::CameraSettings;
use crate::devices::CameraTarget;

/// The tile id of shared content.
pub const CONTENT: &str = "content";
/// The tile id of the RTSP stream.
pub const RTSP: &str = "rtsp";

/// Shared content from a capture device or a test picture.
pub fn content(target: &CameraTarget, settings: &CameraSettings) -> Result<gst::Bin, MediaError> {
    build::camera_source(target, settings, CONTENT)
}

/// An RTSP stream decoded to raw video at `width`×`height`. Audio in the
/// stream is not played.
pub fn rtsp(url: &str, width: u32, height: u32) -> Result<gst::Bin, MediaError> {
    if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
        return Err(MediaError::Device {
            device: url.into(),
            reason: "not an rtsp:// URL".into(),
        });
    }
    let src = make("rtspsrc", "rtsp-src")?;
    src.set_property("location", url);
    src.set_property("latency", 200u32);
    src.set_property_from_str("protocols", "tcp+udp");
    let decode = make("decodebin", "rtsp-decode")?;
    let conv = make("videoconvert", "rtsp-convert")?;
    let scale = make("videoscale", "rtsp-scale")?;
    let caps = make("capsfilter", "rtsp-caps")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", width as i32)
            .field("height", height as i32)
            .build(),
    );
    let bin = bin_of(RTSP, &[conv.clone(), scale, caps])?;
    bin.add_many([&src, &decode])
        .map_err(|_| MediaError::link("rtsp"))?;
    // rtspsrc and decodebin make their pads as the stream is described.
    let d = decode.downgrade();
    src.connect_pad_added(move |_, pad| {
        if let Some(decode) = d.upgrade()
            && let Some(sink) = decode.static_pad("sink")
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
    let c = conv.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if let Some(conv) = c.upgrade()
            && is_video
            && let Some(sink) = conv.static_pad("sink")
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
    Ok(bin)
}

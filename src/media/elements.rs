//! Which GStreamer elements a selection needs, and which Debian package
//! provides each, so a missing plugin is a start-up error that says what to
//! install instead of a black screen.

use crate::devices::{CameraTarget, DisplayTarget, MicrophoneTarget, Selection, SpeakerTarget};

/// Element factory → the Debian 12 package that ships it.
const PACKAGES: &[(&str, &str)] = &[
    ("appsink", "gstreamer1.0-plugins-base"),
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audiomixer", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
    ("audiotestsrc", "gstreamer1.0-plugins-base"),
    ("capsfilter", "libgstreamer1.0-0"),
    ("compositor", "gstreamer1.0-plugins-base"),
    ("fakesink", "libgstreamer1.0-0"),
    ("opusdec", "gstreamer1.0-plugins-base"),
    ("opusenc", "gstreamer1.0-plugins-base"),
    ("queue", "libgstreamer1.0-0"),
    ("tee", "libgstreamer1.0-0"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videorate", "gstreamer1.0-plugins-base"),
    ("videoscale", "gstreamer1.0-plugins-base"),
    ("videotestsrc", "gstreamer1.0-plugins-base"),
    ("ximagesink", "gstreamer1.0-x"),
    ("alsasink", "gstreamer1.0-alsa"),
    ("alsasrc", "gstreamer1.0-alsa"),
    ("jpegdec", "gstreamer1.0-plugins-good"),
    ("level", "gstreamer1.0-plugins-good"),
    ("matroskamux", "gstreamer1.0-plugins-good"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("rtph264pay", "gstreamer1.0-plugins-good"),
    ("rtpopusdepay", "gstreamer1.0-plugins-good"),
    ("rtpopuspay", "gstreamer1.0-plugins-good"),
    ("rtpvp8depay", "gstreamer1.0-plugins-good"),
    ("rtpvp8pay", "gstreamer1.0-plugins-good"),
    ("rtspsrc", "gstreamer1.0-plugins-good"),
    ("splitmuxsink", "gstreamer1.0-plugins-good"),
    ("v4l2src", "gstreamer1.0-plugins-good"),
    ("videocrop", "gstreamer1.0-plugins-good"),
    ("vp8dec", "gstreamer1.0-plugins-good"),
    ("vp8enc", "gstreamer1.0-plugins-good"),
    ("kmssink", "gstreamer1.0-plugins-bad"),
    ("webrtcbin", "gstreamer1.0-plugins-bad"),
    ("webrtcdsp", "gstreamer1.0-plugins-bad"),
    ("webrtcechoprobe", "gstreamer1.0-plugins-bad"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("input-selector", "libgstreamer1.0-0"),
    ("textoverlay", "gstreamer1.0-plugins-base"),
    ("volume", "gstreamer1.0-plugins-base"),
    ("decodebin", "gstreamer1.0-plugins-base"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("opusparse", "gstreamer1.0-plugins-bad"),
    ("avdec_h264", "gstreamer1.0-libav"),
    ("nicesrc", "gstreamer1.0-nice"),
];

/// The Debian package that provides `element`, if dais knows it.
pub fn package_of(element: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(e, _)| *e == element)
        .map(|(_, p)| *p)
}

/// Elements the local preview needs for this selection (camera → tee →
/// display and panel), plus the microphone and speaker elements so a
/// profile naming a missing audio element fails at start, not mid-call.
pub fn for_selection(sel: &Selection) -> Vec<String> {
    let mut v: Vec<String> = [
        "capsfilter",
        "tee",
        "queue",
        "videoconvert",
        "videoscale",
        "videorate",
        "appsink",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for cam in std::iter::once(&sel.camera).chain(sel.content.iter()) {
        match cam {
            CameraTarget::Test { .. } => v.push("videotestsrc".into()),
            CameraTarget::V4l2 { .. } => {
                v.push("v4l2src".into());
                v.push("jpegdec".into());
            }
            CameraTarget::Element { factory } => v.push(factory.clone()),
        }
    }
    // The room pipeline: selectors, slate, processing, compositor, mixer,
    // WebRTC and recording.
    v.extend(
        [
            "input-selector",
            "textoverlay",
            "volume",
            "webrtcdsp",
            "webrtcechoprobe",
            "compositor",
            "videocrop",
            "audiomixer",
            "audiotestsrc",
            "fakesink",
            "webrtcbin",
            "vp8enc",
            "vp8dec",
            "rtpvp8pay",
            "rtpvp8depay",
            "opusenc",
            "opusdec",
            "rtpopuspay",
            "rtpopusdepay",
            "x264enc",
            "h264parse",
            "avdec_h264",
            "rtph264pay",
            "rtph264depay",
            "splitmuxsink",
            "mp4mux",
            "matroskamux",
            "opusparse",
            "rtspsrc",
            "decodebin",
        ]
        .map(String::from),
    );
    match &sel.microphone {
        MicrophoneTarget::Test { .. } => v.push("audiotestsrc".into()),
        MicrophoneTarget::Alsa { .. } => v.push("alsasrc".into()),
        MicrophoneTarget::Element { factory } => v.push(factory.clone()),
    }
    match &sel.speaker {
        SpeakerTarget::Alsa { .. } => v.push("alsasink".into()),
        SpeakerTarget::Fake => v.push("fakesink".into()),
        SpeakerTarget::Element { factory } => v.push(factory.clone()),
    }
    match &sel.display {
        DisplayTarget::Appsink => {}
        DisplayTarget::Kms { .. } => v.push("kmssink".into()),
        DisplayTarget::Window => v.push("ximagesink".into()),
        DisplayTarget::Fake => v.push("fakesink".into()),
        DisplayTarget::Element { factory } => v.push(factory.clone()),
    }
    v.extend(["audioconvert", "audioresample", "level"].map(String::from));
    v.sort();
    v.dedup();
    v
}

/// An element this machine lacks, and where to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub element: String,
    pub package: Option<&'static str>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.package {
            Some(p) => write!(f, "{} (install {p})", self.element),
            None => write!(
                f,
                "{} (not a known element: check the profile's spelling or install the plugin that provides it)",
                self.element
            ),
        }
    }
}

/// Looks every element up in the registry. Needs `gst::init()`.
pub fn missing(elements: &[String]) -> Vec<Missing> {
    elements
        .iter()
        .filter(|e| gst::ElementFactory::find(e).is_none())
        .map(|e| Missing {
            element: e.clone(),
            package: package_of(e),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_unique() {
        let mut names: Vec<_> = PACKAGES.iter().map(|(e, _)| *e).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn missing_elements_name_their_package() {
        gst::init().unwrap();
        let m = missing(&["videotestsrc".into(), "nosuchsrc".into()]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].element, "nosuchsrc");
        assert!(m[0].to_string().contains("not a known element"));
        let k = Missing {
            element: "kmssink".into(),
            package: package_of("kmssink"),
        };
        assert_eq!(k.to_string(), "kmssink (install gstreamer1.0-plugins-bad)");
    }
}

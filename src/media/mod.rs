//! The media engine: GStreamer pipelines built in Rust from the hardware
//! profile's device selection.
//!
//! - [`room`]: the room pipeline (camera and microphone with their
//!   fallbacks, the display compositor, the speaker mix, the panel tile);
//! - [`engine`]: the task that owns it, turns its bus into
//!   [`MediaEvent`]s, keeps devices on the air and rebuilds after failures;
//! - [`webrtc`]: WebRTC sessions on webrtcbin with an explicit signalling
//!   interface;
//! - [`layout`]: display geometry, how a picture fits its tile (sans-IO);
//! - `tiles`: the display's tiles, their compositor pads and crops, the
//!   size of their pictures, the layout applied to them;
//! - [`adapt`]: the picture the room sends steps down when the encoder
//!   cannot keep up with the camera, and back up after a calm while
//!   (sans-IO);
//! - [`catchup`]: delays a far-end track that comes too late for the
//!   speaker mix or the display (sans-IO);
//! - [`repair`]: a far-end video track after packet loss: NACK, keyframe
//!   requests, damaged frames dropped, and the figures per track;
//! - [`testcard`]: the test card, a known picture that says which frame it
//!   is (sans-IO: draw, read, compare);
//! - [`threads`]: sound before pictures: the threads that only move
//!   pictures run at a lower priority;
//! - [`elements`]: the element check with Debian package hints;
//! - `build`: element builders for cameras, displays and speakers.
//!
//! Invariants:
//! - every element a selection needs is checked at start-up
//!   ([`elements::missing`]); a missing plugin stops start-up with the
//!   element and its Debian package named;
//! - the room pipeline runs on the system clock, never a sound card's;
//! - a thread that moves pictures only (camera, encoders, decoders,
//!   compositor, display) never runs at the priority of the sound path:
//!   on a machine short of CPU the room shows pictures late, never plays
//!   silence; the camera and encoders come before the room's own display;
//! - a camera's picture is sent at a size its encoder keeps up with, never
//!   at a frame a second: it steps down a quarter a side, never below
//!   [`adapt::MIN_SIDE`] and never above the configured size;
//! - a far-end picture damaged by loss is never shown: the last good one
//!   holds until a keyframe, which is asked for at once;
//! - pipelines reach `Null` on every path out (stop, error, rebuild, drop);
//! - a pipeline error never ends the process: devices fall back to slate or
//!   silence and are retried, the pipeline is rebuilt with back-off, and
//!   each failure is reported as an event.

pub mod adapt;
pub(crate) mod build;
pub mod elements;
pub mod engine;
pub mod recorder;
pub mod repair;
pub mod room;
pub mod sources;
pub mod testcard;
pub mod threads;
mod tiles;
pub mod webrtc;

// The sans-IO parts live in the core crate.
pub use dais_core::{catchup, layout};

pub use build::{camera_source, display_sink, speaker_sink};
pub use engine::{MediaHandle, spawn};
pub use room::{FrameCallback, RgbFrame, RoomConfig, RoomStats};
pub use tiles::ShownTile;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("missing GStreamer elements: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    MissingElements(Vec<elements::Missing>),
    #[error("cannot create GStreamer element {element}")]
    Element { element: String },
    #[error("cannot link the elements of {what}")]
    Link { what: String },
    #[error("{device}: {reason}")]
    Device { device: String, reason: String },
    #[error("{pipeline}: cannot change to {state}: {reason}")]
    State {
        pipeline: String,
        state: String,
        reason: String,
    },
    #[error("the media engine is not running (starting, rebuilding or stopped)")]
    NotRunning,
}

impl MediaError {
    pub(crate) fn link(what: &str) -> Self {
        MediaError::Link {
            what: what.to_string(),
        }
    }
}

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    gst::init().map_err(|e| MediaError::Init(e.to_string()))
}

/// The DTLS warm-up's end, once it has been started.
static DTLS_WARM_UP: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>> =
    std::sync::Mutex::new(None);

/// Makes the process's DTLS certificate ahead of the first call.
///
/// GStreamer's DTLS elements create one RSA certificate per process, the
/// first time any of them is created, and every later one waits for it.
/// That is a fraction of a second on a room's CPU but tens of seconds on
/// an emulated one, and made inside the first call's negotiation it holds
/// the answer back for all of that time. Called once dais is ready; the
/// certificate is made on a thread of its own. Without the DTLS plugin
/// there is nothing to make (calls then fail with the element named).
pub fn warm_up_dtls() {
    let Ok(mut slot) = DTLS_WARM_UP.lock() else {
        return;
    };
    if slot.is_some() {
        return;
    }
    let (done, wait) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("dtls-warm-up".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            match gst::ElementFactory::make("dtlsdec").build() {
                Ok(_) => tracing::debug!(took = ?started.elapsed(), "DTLS certificate made"),
                Err(e) => tracing::debug!(error = %e, "no DTLS certificate made ahead"),
            }
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => *slot = Some(wait),
        Err(e) => tracing::warn!(error = %e, "cannot start the DTLS warm-up"),
    }
}

/// Waits up to `budget` for a DTLS warm-up still under way, so that the
/// process does not exit while the certificate is being made (OpenSSL's
/// exit handlers would run under the thread's feet).
pub fn finish_warm_up(budget: std::time::Duration) {
    let wait = DTLS_WARM_UP.lock().ok().and_then(|mut s| s.take());
    if let Some(wait) = wait
        && wait.recv_timeout(budget).is_err()
    {
        tracing::warn!(?budget, "the DTLS warm-up had not finished at exit");
    }
}

/// The camera's state (the "preview") as the rest of dais sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PreviewState {
    Starting,
    Playing,
    /// Deliberately off (standby, privacy): the camera is released and the
    /// slate is on air.
    Standby,
    /// Failed; the slate is on air and the camera is retried after
    /// `retry_in_ms`.
    Failed {
        error: String,
        retry_in_ms: u64,
    },
    Stopped,
}

/// A device's state (the microphone).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DeviceState {
    Live,
    Failed { error: String, retry_in_ms: u64 },
}

/// Everything the media engine reports to the app loop.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Preview(PreviewState),
    Microphone(DeviceState),
    SessionError {
        session: String,
        error: String,
    },
    /// An RTSP stream or the content source failed and left the display.
    SourceFailed {
        source: String,
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_states_serialise_as_the_control_api_documents() {
        let failed = DeviceState::Failed {
            error: "unplugged".into(),
            retry_in_ms: 2000,
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"state": "failed", "error": "unplugged", "retryInMs": 2000})
        );
        assert_eq!(
            serde_json::to_value(PreviewState::Standby).unwrap(),
            serde_json::json!({"state": "standby"})
        );
    }
}

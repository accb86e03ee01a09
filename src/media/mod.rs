//! The media engine: GStreamer pipelines built in Rust from the hardware
//! profile's device selection.
//!
//! So far it runs the local preview (camera → display and panel); calls,
//! the compositor and recording join it here. Bus messages become typed
//! [`MediaEvent`]s in one place per pipeline; the app loop consumes them.
//!
//! Invariants:
//! - every element a selection needs is checked at start-up
//!   ([`elements::missing`]); a missing plugin stops start-up with the
//!   element and its Debian package named;
//! - pipelines reach `Null` on every path out (stop, error, restart, drop);
//! - a pipeline error never ends the process: the pipeline is rebuilt with
//!   back-off and the failure is reported as an event.

mod build;
pub mod elements;
pub mod preview;

pub use build::{camera_source, display_sink};
pub use preview::{PreviewHandle, PreviewStats, RgbFrame, spawn_preview};

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

/// The preview pipeline's lifecycle as the rest of dais sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum PreviewState {
    Starting,
    Playing,
    /// Deliberately off (room standby): camera released.
    Standby,
    /// Failed and will be retried after `retry_in_ms`.
    Failed {
        error: String,
        retry_in_ms: u64,
    },
    Stopped,
}

/// Everything the media engine reports to the app loop.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Preview(PreviewState),
}

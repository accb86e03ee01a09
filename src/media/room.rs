//! The room pipeline: everything the room sees, hears and shows, in one
//! GStreamer pipeline so that one clock times it all.
//!
//! ```text
//! camera ─┐                        ┌─ queue → compositor (self-view tile)
//!         ├ input-selector → tee ──┼─ queue(leaky) → rate/scale → appsink (panel tile)
//! slate ──┘                        └─ (per call) queue → encoder → payloader → webrtcbin
//! microphone ─┐
//!             ├ input-selector → volume(mute) → webrtcdsp → tee ─┬─ level → fakesink (meter)
//! silence ────┘                                                   └─ (per call) → opusenc → webrtcbin
//! remote video ... → compositor(layout) → tee ─┬─ queue → display sink
//!                                              ├─ queue(leaky) → rate/scale → appsink (panel, in a conference)
//!                                              └─ (recording) → encoder → splitmuxsink
//! silence + remote audio ... → audiomixer → volume → webrtcechoprobe → speaker
//! ```
//!
//! The selectors are the resilience: a camera or microphone that fails is
//! swapped for the slate or silence at once, the call goes on, and the
//! engine rebuilds the device's bin with back-off. Privacy and standby use
//! the same switch and release the device.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use tokio::sync::mpsc;

use super::MediaError;
use super::adapt::SendCounts;
use super::build::{self, make};
use super::catchup::{Adjust, Catchup, MAX_DELAY};
use super::layout::{Fit, Layout, Tile};
use super::repair::{RepairCounts, TrackRepair};
use super::threads::ThreadRoles;
use super::tiles::{ShownTile, TileEntry, Tiles, new_crop, picture_of, watch_picture};
use crate::config::{
    CameraSettings, DisplaySettings, MediaSettings, MicrophoneSettings, SpeakerSettings,
};
use crate::devices::{CameraTarget, DisplayTarget, MicrophoneTarget, SpeakerTarget};

/// The slate's colour (RGB), shown when the camera is off or failed.
pub const SLATE_RGB: (u8, u8, u8) = (0x20, 0x30, 0x40);
/// Sample rate and format of the room's audio paths.
pub const AUDIO_RATE: i32 = 48_000;

mod devices;
mod display;
mod pipeline;

pub use pipeline::bin_of;
use pipeline::running_time;
pub(crate) use pipeline::{audio_caps, microphone_bin};

/// What the room pipeline is built from.
#[derive(Clone)]
pub struct RoomConfig {
    pub camera_target: CameraTarget,
    pub camera: CameraSettings,
    /// The second video source: content to share, or a second camera.
    pub content_target: Option<CameraTarget>,
    pub content: CameraSettings,
    /// Where recordings go.
    pub recordings_dir: std::path::PathBuf,
    pub microphone_target: MicrophoneTarget,
    pub microphone: MicrophoneSettings,
    pub speaker_target: SpeakerTarget,
    pub speaker: SpeakerSettings,
    pub display_target: DisplayTarget,
    pub display: DisplaySettings,
    pub media: MediaSettings,
    /// The camera, for the panel's preview tile.
    pub panel_frames: Option<FrameCallback>,
    /// The room display as composed (every tile in the layout), for the
    /// panel's conference screen.
    pub panel_display_frames: Option<FrameCallback>,
    pub panel_size: (u32, u32),
    pub panel_fps: u32,
}

/// Counters readable from any thread.
#[derive(Debug, Default)]
pub struct RoomStats {
    pub frames_displayed: AtomicU64,
    pub frames_to_panel: AtomicU64,
    pub camera_restarts: AtomicU64,
    pub last_display_sample: Mutex<Option<gst::Sample>>,
    /// Loudness of the room's own microphone after processing, dBFS.
    pub mic_level_db: Mutex<Option<f64>>,
    /// Loudness of each remote audio track, dBFS, by track id.
    pub remote_levels_db: Mutex<HashMap<String, f64>>,
    /// The last frame of each remote video track (RGBA), by track id.
    pub remote_frames: Mutex<HashMap<String, gst::Sample>>,
    /// Decoded frames received from far ends, all tracks together.
    pub remote_frames_decoded: AtomicU64,
    /// Loudness of what the room's speaker plays (the mix after the
    /// room's volume), dBFS.
    pub speaker_level_db: Mutex<Option<f64>>,
    /// How much each far-end track is delayed because it came too late for
    /// the speaker mix or the display (ms), by track id; see
    /// [`super::catchup`].
    pub remote_delay_ms: Mutex<HashMap<String, u64>>,
    /// How far ahead of its mixer's output each far-end track's newest
    /// buffer arrived, its delay included (ms, negative when late), by
    /// track id: a track far ahead is heard that much later, one behind is
    /// dropped by the mix.
    pub remote_lead_ms: Mutex<HashMap<String, i64>>,
    /// Times a far-end track was found late for its mixer.
    pub late_tracks: AtomicU64,
    /// Each far-end video track's losses and repairs, by track id
    /// ([`super::repair`]).
    pub remote_repair: Mutex<HashMap<String, Arc<TrackRepair>>>,
    /// The same figures of tracks that have gone, added up (so that the
    /// totals in `/metrics` never go down).
    pub repair_gone: Mutex<RepairCounts>,
    /// The picture each call sends, by session id ([`super::adapt`]).
    pub send_video: Mutex<HashMap<String, SendCounts>>,
    /// Steps of sent pictures down and up since the start.
    pub send_steps_down: AtomicU64,
    pub send_steps_up: AtomicU64,
    /// The pictures on the room display and where ([`Tiles::apply`]).
    pub display_tiles: Arc<Mutex<Vec<ShownTile>>>,
}

impl RoomStats {
    /// Every far-end video track's losses and repairs, by track id.
    pub fn repair_counts(&self) -> HashMap<String, RepairCounts> {
        self.remote_repair
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.counts())).collect())
            .unwrap_or_default()
    }

    /// All far-end video tracks' losses and repairs since the start,
    /// gone tracks included.
    pub fn repair_totals(&self) -> RepairCounts {
        let mut t = self
            .repair_gone
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        for c in self.repair_counts().values() {
            t.add(c);
        }
        t
    }
}

/// Which input a selector is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Device,
    Fallback,
}

/// An RGB picture handed to the panel.
#[derive(Clone)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    /// Tightly packed RGB, `width * 3` bytes per row.
    pub data: Vec<u8>,
}

pub type FrameCallback = Arc<dyn Fn(RgbFrame) + Send + Sync>;

/// A video source besides the camera (content, an RTSP stream): shown as a
/// tile and available to calls through its tee.
pub struct VideoSource {
    pub bin: gst::Bin,
    pub tee: gst::Element,
    queue: gst::Element,
    crop: gst::Element,
    pad: gst::Pad,
}

/// The pipeline and handles to its parts.
pub struct Room {
    pub pipeline: gst::Pipeline,
    pub config: RoomConfig,
    pub stats: Arc<RoomStats>,
    vsel: gst::Element,
    vsel_camera: gst::Pad,
    vsel_slate: gst::Pad,
    /// Runs only while on air: a full-size slate costs as much as a camera.
    slate: gst::Bin,
    camera_bin: Mutex<Option<gst::Bin>>,
    /// Which camera is the room's camera: the main one or the second.
    active_camera: Mutex<(CameraTarget, CameraSettings)>,
    pub(crate) vtee: gst::Element,
    asel: gst::Element,
    asel_mic: gst::Pad,
    asel_silence: gst::Pad,
    mic_bin: Mutex<Option<gst::Bin>>,
    mic_volume: gst::Element,
    pub(crate) atee: gst::Element,
    pub(crate) compositor: gst::Element,
    pub(crate) audiomixer: gst::Element,
    speaker_volume: gst::Element,
    pub(crate) display_tee: gst::Element,
    pub(crate) mix_tee: gst::Element,
    tiles: Arc<Mutex<Tiles>>,
    /// Extra video sources (content, RTSP) by id: their bin and tee.
    sources: Mutex<HashMap<String, VideoSource>>,
    /// level element name → remote track id.
    levels: Mutex<HashMap<String, String>>,
    /// Running time the speaker mix and the display compositor have
    /// produced up to (ns; 0 before the first output).
    speaker_position: Arc<AtomicU64>,
    display_position: Arc<AtomicU64>,
    /// Which streaming threads move pictures only ([`super::threads`]).
    pub(crate) threads: Arc<ThreadRoles>,
    /// The pipeline's bus messages, for the engine's watch (taken once).
    messages: Mutex<Option<mpsc::UnboundedReceiver<gst::Message>>>,
    _keep_alive: Option<std::fs::File>,
}

impl Room {
    /// Switches the video input between the camera and the slate; the
    /// slate runs only while it is on air.
    pub fn video_input(&self, input: Input) {
        match input {
            Input::Device => {
                self.vsel.set_property("active-pad", &self.vsel_camera);
                let _ = self.slate.set_state(gst::State::Null);
                self.slate.set_locked_state(true);
            }
            Input::Fallback => {
                self.slate.set_locked_state(false);
                let _ = self.slate.sync_state_with_parent();
                self.vsel.set_property("active-pad", &self.vsel_slate);
            }
        }
    }

    pub fn audio_input(&self, input: Input) {
        let pad = match input {
            Input::Device => &self.asel_mic,
            Input::Fallback => &self.asel_silence,
        };
        self.asel.set_property("active-pad", pad);
    }

    pub fn set_mic_muted(&self, muted: bool) {
        self.mic_volume.set_property("mute", muted);
    }

    /// Speaker volume, 0 to 100.
    pub fn set_volume(&self, volume: u8) {
        // A gentle curve: 50 is -12 dB, 100 is 0 dB.
        let v = (volume.min(100) as f64 / 100.0).powi(2);
        self.speaker_volume.set_property("volume", v);
    }

    /// Adds a video source (a bin with one `src` pad) as tile `id`, behind
    /// a tee that calls can send from.
    pub fn add_video_source(
        &self,
        id: &str,
        bin: gst::Bin,
        content: bool,
    ) -> Result<gst::Element, MediaError> {
        self.remove_video_source(id);
        let tee = make("tee", &format!("{id}-tee"))?;
        tee.set_property("allow-not-linked", true);
        let q = make("queue", &format!("{id}-queue"))?;
        q.set_property_from_str("leaky", "downstream");
        q.set_property("max-size-buffers", 2u32);
        self.threads.picture(&bin);
        self.threads.picture(&q);
        let crop = self.tile_crop(id)?;
        self.pipeline
            .add_many([bin.upcast_ref(), &tee, &q, &crop])
            .map_err(|_| MediaError::link(id))?;
        link_pads(
            &bin.static_pad("src"),
            &tee.static_pad("sink").ok_or_else(|| MediaError::link(id))?,
            id,
        )?;
        tee.link(&q).map_err(|_| MediaError::link(id))?;
        q.link(&crop).map_err(|_| MediaError::link(id))?;
        let pad = self
            .compositor_pad()
            .ok_or_else(|| MediaError::link("compositor"))?;
        link_pads(&crop.static_pad("src"), &pad, id)?;
        for e in [
            &crop,
            q.upcast_ref::<gst::Element>(),
            &tee,
            bin.upcast_ref(),
        ] {
            let _ = e.sync_state_with_parent();
        }
        self.add_tile(
            Tile {
                id: id.into(),
                local: false,
                content,
            },
            pad.clone(),
            crop.clone(),
        );
        if content {
            self.speaker(id);
        }
        if let Ok(mut s) = self.sources.lock() {
            s.insert(
                id.to_string(),
                VideoSource {
                    bin,
                    tee: tee.clone(),
                    queue: q,
                    crop,
                    pad,
                },
            );
        }
        Ok(tee)
    }

    /// Takes a video source off the display and out of the pipeline.
    pub fn remove_video_source(&self, id: &str) -> bool {
        let Some(src) = self.sources.lock().ok().and_then(|mut s| s.remove(id)) else {
            return false;
        };
        self.remove_tile(id);
        for e in [
            src.bin.upcast_ref::<gst::Element>(),
            &src.tee,
            &src.queue,
            &src.crop,
        ] {
            let _ = e.set_state(gst::State::Null);
            let _ = self.pipeline.remove(e);
        }
        self.compositor.release_request_pad(&src.pad);
        true
    }

    /// The tee of a video source, for a call to send it.
    pub fn video_source_tee(&self, id: &str) -> Option<gst::Element> {
        self.sources.lock().ok()?.get(id).map(|s| s.tee.clone())
    }

    /// Names the remote track a `level` element measures.
    pub fn register_level(&self, element: &str, track: &str) {
        if let Ok(mut l) = self.levels.lock() {
            l.insert(element.to_string(), track.to_string());
        }
    }

    /// Records a `level` message: the microphone meter or a remote track.
    pub fn on_level(&self, element: &str, rms_db: f64) {
        let own = match element {
            "mic-level" => Some(&self.stats.mic_level_db),
            "speaker-level" => Some(&self.stats.speaker_level_db),
            _ => None,
        };
        if let Some(own) = own {
            if let Ok(mut m) = own.lock() {
                *m = Some(rms_db);
            }
            return;
        }
        let track = self
            .levels
            .lock()
            .ok()
            .and_then(|l| l.get(element).cloned());
        if let Some(t) = track
            && let Ok(mut m) = self.stats.remote_levels_db.lock()
        {
            m.insert(t, rms_db);
        }
    }

    /// Sends a new stream of audio into the speaker mix. Returns the
    /// mixer's pad so the caller can release it.
    pub fn mixer_pad(&self) -> Option<gst::Pad> {
        self.audiomixer.request_pad_simple("sink_%u")
    }

    pub fn compositor_pad(&self) -> Option<gst::Pad> {
        self.compositor.request_pad_simple("sink_%u")
    }

    /// Keeps a far-end track in time for its mixer (the speaker mix for
    /// audio, the display for video): `arrive` is where the track's
    /// buffers come in, before anything that can hold them back (the sink
    /// pad of the queue in front of the mixer), `out` the track's last
    /// source pad before the mixer. When buffers arrive too late to be
    /// mixed, the track is delayed by an offset on `out`
    /// ([`super::catchup`]); the queue between holds the delay.
    pub fn catch_up(&self, arrive: &gst::Pad, out: &gst::Pad, track: &str, audio: bool) {
        let position = if audio {
            self.speaker_position.clone()
        } else {
            self.display_position.clone()
        };
        let stats = Arc::downgrade(&self.stats);
        let track = track.to_string();
        let state = Mutex::new(Catchup::new());
        let out = out.clone();
        arrive.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let mixer = position.load(Ordering::Relaxed);
            let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref() else {
                return gst::PadProbeReturn::Ok;
            };
            // Audio that starts before the mix's position loses that part;
            // a picture is still shown while any of it is current.
            let at = if audio {
                buf.pts()
            } else {
                buf.pts().map(|pts| pts + buf.duration().unwrap_or_default())
            };
            let start = at.and_then(|t| running_time(pad, t));
            let (Some(start), true) = (start, mixer > 0) else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(mut c) = state.lock() else {
                return gst::PadProbeReturn::Ok;
            };
            let adjust = c.on_buffer(start, mixer);
            if let Some(st) = stats.upgrade()
                && let Ok(mut m) = st.remote_lead_ms.lock()
            {
                let lead = i64::try_from(start)
                    .unwrap_or(i64::MAX)
                    .saturating_add(c.delay())
                    .saturating_sub(i64::try_from(mixer).unwrap_or(i64::MAX));
                // Every buffer: the track's entry is updated in place.
                match m.get_mut(&track) {
                    Some(v) => *v = lead / 1_000_000,
                    None => {
                        m.insert(track.clone(), lead / 1_000_000);
                    }
                }
            }
            let Some(adjust) = adjust else {
                return gst::PadProbeReturn::Ok;
            };
            match adjust {
                Adjust::Delay(delay) => {
                    let grew = delay > out.offset();
                    // The segment is sent again with the new offset before
                    // the next buffer leaves the pad.
                    out.set_offset(delay);
                    let ms = u64::try_from(delay / 1_000_000).unwrap_or(0);
                    if grew {
                        tracing::info!(track = %track, delay_ms = ms, "far-end track came too late for the room: delaying it");
                    } else {
                        tracing::info!(track = %track, delay_ms = ms, "far-end track on time again: giving delay back");
                    }
                    if let Some(st) = stats.upgrade() {
                        if grew {
                            st.late_tracks.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Ok(mut m) = st.remote_delay_ms.lock() {
                            m.insert(track.clone(), ms);
                        }
                    }
                }
                Adjust::Beyond => {
                    tracing::warn!(track = %track, max_ms = MAX_DELAY / 1_000_000, "far-end track is later than the room will wait for: it is being dropped");
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// The pipeline's bus messages, in the order they were posted. The
    /// engine's watch takes them once; `None` after that.
    pub fn take_messages(&self) -> Option<mpsc::UnboundedReceiver<gst::Message>> {
        self.messages.lock().ok().and_then(|mut m| m.take())
    }

    /// The first error the pipeline has posted and nobody has read yet.
    pub fn pending_error(&self) -> Option<String> {
        let mut slot = self.messages.lock().ok()?;
        let rx = slot.as_mut()?;
        while let Ok(msg) = rx.try_recv() {
            if let gst::MessageView::Error(err) = msg.view() {
                return Some(err.error().to_string());
            }
        }
        None
    }

    /// Forgets a far-end track's delay once the track is gone.
    pub fn forget_track(&self, track: &str) {
        if let Ok(mut m) = self.stats.remote_delay_ms.lock() {
            m.remove(track);
        }
        if let Ok(mut m) = self.stats.remote_lead_ms.lock() {
            m.remove(track);
        }
        let gone = self
            .stats
            .remote_repair
            .lock()
            .ok()
            .and_then(|mut m| m.remove(track));
        if let (Some(r), Ok(mut g)) = (gone, self.stats.repair_gone.lock()) {
            g.add(&r.counts());
        }
    }
}

impl Drop for Room {
    /// However the room goes (stop, rebuild, a runtime shutting down), its
    /// pipeline reaches `Null` first: GStreamer elements must not be
    /// disposed while streaming.
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The names of a message's source and all its parents, innermost first.
pub fn ancestry(msg: &gst::Message) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = msg.src().cloned();
    while let Some(o) = cur {
        out.push(o.name().to_string());
        cur = o.parent();
    }
    out
}

/// Takes a source bin out of a running pipeline and to `Null`.
pub(crate) fn remove_source(pipeline: &gst::Pipeline, bin: &gst::Bin) {
    if let Some(src) = bin.static_pad("src")
        && let Some(peer) = src.peer()
    {
        let _ = src.unlink(&peer);
    }
    let _ = bin.set_state(gst::State::Null);
    let _ = pipeline.remove(bin);
}

pub(crate) fn link_pads(
    src: &Option<gst::Pad>,
    sink: &gst::Pad,
    what: &str,
) -> Result<(), MediaError> {
    let src = src.as_ref().ok_or_else(|| MediaError::link(what))?;
    src.link(sink)
        .map(|_| ())
        .map_err(|_| MediaError::link(what))
}

/// Copies an RGB sample into a packed frame (GStreamer pads rows to 4 bytes).
pub(crate) fn rgb_frame(sample: &gst::Sample) -> Option<RgbFrame> {
    let caps = sample.caps()?;
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let buffer = sample.buffer()?;
    let map = buffer.map_readable().ok()?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = info.stride()[0] as usize;
    let mut data = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let start = row * stride;
        data.extend_from_slice(map.get(start..start + w * 3)?);
    }
    Some(RgbFrame {
        width: w as u32,
        height: h as u32,
        data,
    })
}

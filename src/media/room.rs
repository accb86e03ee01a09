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

fn video_caps(w: u32, h: u32, fps: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(fps as i32, 1))
        .build()
}

pub(crate) fn audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", AUDIO_RATE)
        .field("channels", 1i32)
        .field("layout", "interleaved")
        .build()
}

fn add_link(
    bin: &impl IsA<gst::Bin>,
    chain: &[&gst::Element],
    what: &str,
) -> Result<(), MediaError> {
    bin.as_ref()
        .add_many(chain.iter().copied())
        .map_err(|_| MediaError::link(what))?;
    gst::Element::link_many(chain.iter().copied()).map_err(|_| MediaError::link(what))
}

/// A bin with one `src` ghost pad from the last element of `chain`.
pub fn bin_of(name: &str, chain: &[gst::Element]) -> Result<gst::Bin, MediaError> {
    let bin = gst::Bin::builder().name(name).build();
    let refs: Vec<&gst::Element> = chain.iter().collect();
    add_link(&bin, &refs, name)?;
    let last = chain.last().ok_or_else(|| MediaError::link(name))?;
    let pad = last
        .static_pad("src")
        .ok_or_else(|| MediaError::link(name))?;
    let ghost = gst::GhostPad::with_target(&pad).map_err(|_| MediaError::link(name))?;
    ghost.set_active(true).ok();
    bin.add_pad(&ghost).map_err(|_| MediaError::link(name))?;
    Ok(bin)
}

/// The slate: a flat colour with a line of text, at the camera's size.
fn slate(cfg: &CameraSettings) -> Result<gst::Bin, MediaError> {
    let src = make("videotestsrc", "slate-src")?;
    src.set_property("is-live", true);
    src.set_property_from_str("pattern", "solid-color");
    let (r, g, b) = SLATE_RGB;
    src.set_property(
        "foreground-color",
        0xff00_0000u32 | (r as u32) << 16 | (g as u32) << 8 | b as u32,
    );
    let caps = make("capsfilter", "slate-caps")?;
    caps.set_property("caps", video_caps(cfg.width, cfg.height, cfg.framerate));
    let text = make("textoverlay", "slate-text")?;
    text.set_property("text", "Camera off");
    text.set_property_from_str("valignment", "bottom");
    text.set_property_from_str("halignment", "center");
    text.set_property("font-desc", "Sans 24");
    text.set_property("shaded-background", false);
    let conv = make("videoconvert", "slate-convert")?;
    bin_of("slate", &[src, caps, text, conv])
}

/// The microphone as a bin giving processed-format audio.
pub(crate) fn microphone_bin(
    target: &MicrophoneTarget,
    cfg: &MicrophoneSettings,
    name: &str,
) -> Result<gst::Bin, MediaError> {
    let src = match target {
        MicrophoneTarget::Test { wave, frequency_hz } => {
            let s = make("audiotestsrc", "mic-src")?;
            s.set_property("is-live", true);
            s.set_property_from_str("wave", wave);
            s.set_property("freq", *frequency_hz);
            s.set_property("volume", 0.3f64);
            s
        }
        MicrophoneTarget::Alsa { device, .. } => {
            let s = make("alsasrc", "mic-src")?;
            s.set_property("device", device);
            s
        }
        MicrophoneTarget::Element { factory } => make(factory, "mic-src")?,
    };
    let _ = cfg;
    let conv = make("audioconvert", "mic-convert")?;
    let res = make("audioresample", "mic-resample")?;
    let caps = make("capsfilter", "mic-caps")?;
    caps.set_property("caps", audio_caps());
    bin_of(name, &[src, conv, res, caps])
}

fn silence(name: &str) -> Result<gst::Bin, MediaError> {
    let s = make("audiotestsrc", &format!("{name}-src"))?;
    s.set_property("is-live", true);
    s.set_property_from_str("wave", "silence");
    // 10 ms buffers, as webrtcdsp processes them.
    s.set_property("samplesperbuffer", AUDIO_RATE / 100);
    let caps = make("capsfilter", &format!("{name}-caps"))?;
    caps.set_property("caps", audio_caps());
    bin_of(name, &[s, caps])
}

impl Room {
    /// Builds the room pipeline (not yet playing).
    pub fn build(config: RoomConfig, stats: Arc<RoomStats>) -> Result<Arc<Room>, MediaError> {
        let pipeline = gst::Pipeline::with_name("room");
        // The room runs on the system's monotonic clock, never on a sound
        // card's. Left to choose, GStreamer takes the most upstream clock
        // provider, the microphone: the far end's audio and video are then
        // timed by the microphone's crystal, and the speaker, another card,
        // drifts against it. On a busy machine a timer-driven capture clock
        // falls behind real time by seconds; the speaker then found every
        // sample already late and played silence through the whole call.
        // Every card slaves to the system clock instead (alsasrc/alsasink
        // skew slaving), and network media is timed by real time.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        // Every message passes here in the thread that posts it: a new
        // streaming thread takes its priority before it does any work
        // (sound before pictures), then the message goes on to the
        // engine's watch.
        let threads = Arc::new(ThreadRoles::default());
        let (messages_tx, messages) = mpsc::unbounded_channel();
        if let Some(bus) = pipeline.bus() {
            let roles = threads.clone();
            bus.set_sync_handler(move |_, msg| {
                roles.on_message(msg);
                let _ = messages_tx.send(msg.clone());
                gst::BusSyncReply::Drop
            });
        }
        let cam = &config.camera;

        // Video in: camera or slate.
        let vsel = gst::ElementFactory::make("input-selector")
            .name("video-select")
            .property("sync-streams", false)
            .build()
            .map_err(|_| MediaError::Element {
                element: "input-selector".into(),
            })?;
        let camera = build::camera_source(&config.camera_target, cam, "camera")?;
        threads.sending(&camera);
        let slate = slate(cam)?;
        threads.picture(&slate);
        let vtee = make("tee", "video-tee")?;
        vtee.set_property("allow-not-linked", true);
        pipeline
            .add_many([camera.upcast_ref(), slate.upcast_ref(), &vsel, &vtee])
            .map_err(|_| MediaError::link("video in"))?;
        let vsel_camera = vsel
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("selector"))?;
        let vsel_slate = vsel
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("selector"))?;
        link_pads(&camera.static_pad("src"), &vsel_camera, "camera → selector")?;
        link_pads(&slate.static_pad("src"), &vsel_slate, "slate → selector")?;
        vsel.link(&vtee)
            .map_err(|_| MediaError::link("selector → tee"))?;
        vsel.set_property("active-pad", &vsel_camera);
        // The slate idles until it is needed.
        slate.set_locked_state(true);

        // Audio in: microphone or silence, mute, processing.
        let asel = gst::ElementFactory::make("input-selector")
            .name("audio-select")
            .property("sync-streams", false)
            .build()
            .map_err(|_| MediaError::Element {
                element: "input-selector".into(),
            })?;
        let mic = microphone_bin(&config.microphone_target, &config.microphone, "microphone")?;
        let quiet = silence("mic-silence")?;
        let mic_volume = make("volume", "mic-volume")?;
        let mut chain = vec![mic_volume.clone()];
        let dsp_on = config.media.echo_cancellation
            || config.media.noise_suppression
            || config.media.gain_control;
        if dsp_on {
            let dsp = make("webrtcdsp", "mic-dsp")?;
            dsp.set_property("probe", "echo-probe");
            dsp.set_property("echo-cancel", config.media.echo_cancellation);
            dsp.set_property("noise-suppression", config.media.noise_suppression);
            dsp.set_property("gain-control", config.media.gain_control);
            chain.push(dsp);
        }
        let atee = make("tee", "audio-tee")?;
        atee.set_property("allow-not-linked", true);
        chain.push(atee.clone());
        pipeline
            .add_many([mic.upcast_ref(), quiet.upcast_ref(), &asel])
            .map_err(|_| MediaError::link("audio in"))?;
        let refs: Vec<&gst::Element> = chain.iter().collect();
        add_link(&pipeline, &refs, "microphone chain")?;
        let asel_mic = asel
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("selector"))?;
        let asel_silence = asel
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("selector"))?;
        link_pads(&mic.static_pad("src"), &asel_mic, "microphone → selector")?;
        link_pads(
            &quiet.static_pad("src"),
            &asel_silence,
            "silence → selector",
        )?;
        asel.link(&mic_volume)
            .map_err(|_| MediaError::link("selector → volume"))?;
        asel.set_property("active-pad", &asel_mic);
        // The meter.
        let mq = make("queue", "meter-queue")?;
        mq.set_property_from_str("leaky", "downstream");
        let level = make("level", "mic-level")?;
        level.set_property("interval", 100_000_000u64);
        let msink = make("fakesink", "meter-sink")?;
        msink.set_property("sync", false);
        msink.set_property("async", false);
        add_link(&pipeline, &[&mq, &level, &msink], "meter")?;
        atee.link(&mq)
            .map_err(|_| MediaError::link("tee → meter"))?;

        // Display: compositor → tee → display sink.
        let d = &config.display;
        let compositor = make("compositor", "compositor")?;
        threads.picture(&compositor);
        compositor.set_property_from_str("background", "black");
        let ccaps = make("capsfilter", "compositor-caps")?;
        ccaps.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "RGBA")
                .field("width", d.width as i32)
                .field("height", d.height as i32)
                .field("framerate", gst::Fraction::new(d.framerate as i32, 1))
                .build(),
        );
        let display_tee = make("tee", "display-tee")?;
        display_tee.set_property("allow-not-linked", true);
        let dq = make("queue", "display-queue")?;
        threads.picture(&dq);
        let dconv = make("videoconvert", "display-convert")?;
        let sink = build::display_sink(&config.display_target, d, "display")?;
        add_link(
            &pipeline,
            &[
                &compositor,
                &ccaps,
                &display_tee,
                &dq,
                &dconv,
                &sink.element,
            ],
            "display",
        )?;
        // Self-view into the compositor.
        let sq = make("queue", "selfview-queue")?;
        threads.picture(&sq);
        sq.set_property_from_str("leaky", "downstream");
        sq.set_property("max-size-buffers", 2u32);
        pipeline
            .add(&sq)
            .map_err(|_| MediaError::link("self-view"))?;
        vtee.link(&sq)
            .map_err(|_| MediaError::link("tee → self-view"))?;
        let self_crop = new_crop("selfview")?;
        pipeline
            .add(&self_crop)
            .map_err(|_| MediaError::link("self-view"))?;
        sq.link(&self_crop)
            .map_err(|_| MediaError::link("self-view → crop"))?;
        let self_pad = compositor
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("compositor"))?;
        link_pads(
            &self_crop.static_pad("src"),
            &self_pad,
            "self-view → compositor",
        )?;

        // Count and keep what reaches the display.
        if let Some(pad) = sink.element.static_pad("sink") {
            let st = stats.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                st.frames_displayed.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(app) = &sink.appsink {
            let st = Arc::downgrade(&stats);
            app.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        if let Some(st) = st.upgrade()
                            && let Ok(mut last) = st.last_display_sample.lock()
                        {
                            *last = Some(sample);
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }

        // Speaker: silence + remote audio → mixer → volume → echo probe → sink.
        let audiomixer = make("audiomixer", "audiomixer")?;
        // The far end's audio arrives through jitter buffers and decoders:
        // on a slow machine the mix must wait longer than they report, or
        // it drops the audio as late.
        audiomixer.set_property(
            "latency",
            u64::from(config.media.speaker_latency_ms) * 1_000_000,
        );
        let mix_silence = silence("mix-silence")?;
        pipeline
            .add(&mix_silence)
            .map_err(|_| MediaError::link("mixer"))?;
        let speaker_volume = make("volume", "speaker-volume")?;
        let mix_tee = make("tee", "mix-tee")?;
        mix_tee.set_property("allow-not-linked", true);
        let sconv = make("audioconvert", "speaker-convert")?;
        let sres = make("audioresample", "speaker-resample")?;
        let scaps = make("capsfilter", "speaker-caps")?;
        scaps.set_property("caps", audio_caps());
        // What the room hears, after its volume (silent when muted).
        let speaker_level = make("level", "speaker-level")?;
        speaker_level.set_property("interval", 100_000_000u64);
        let mut chain = vec![
            audiomixer.clone(),
            mix_tee.clone(),
            speaker_volume.clone(),
            speaker_level,
            sconv,
            sres,
            scaps,
        ];
        if dsp_on {
            chain.push(make("webrtcechoprobe", "echo-probe")?);
        }
        chain.push(make("audioconvert", "speaker-out-convert")?);
        chain.push(build::speaker_sink(
            &config.speaker_target,
            &config.speaker,
            "speaker",
        )?);
        let refs: Vec<&gst::Element> = chain.iter().collect();
        add_link(&pipeline, &refs, "speaker")?;
        let mixpad = audiomixer
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("mixer"))?;
        link_pads(&mix_silence.static_pad("src"), &mixpad, "silence → mixer")?;

        // The panel's camera tile, and the display as the panel's
        // conference picture.
        for (prefix, tee, cb) in [
            ("panel", &vtee, &config.panel_frames),
            ("panel-display", &display_tee, &config.panel_display_frames),
        ] {
            if let Some(cb) = cb {
                let q = build_panel_tap(
                    &pipeline,
                    tee,
                    prefix,
                    cb.clone(),
                    config.panel_size,
                    config.panel_fps,
                    &stats,
                )?;
                threads.picture(&q);
            }
        }

        let layout = Layout::from_name(&config.media.layout).unwrap_or_default();
        let tiles = Arc::new(Mutex::new(Tiles {
            layout,
            fit: Fit::from_name(&config.media.tile_fit).unwrap_or_default(),
            width: d.width as i32,
            height: d.height as i32,
            blank: false,
            entries: vec![TileEntry {
                tile: Tile {
                    id: "self".into(),
                    local: true,
                    content: false,
                },
                pad: self_pad,
                crop: self_crop.clone(),
            }],
            pictures: HashMap::new(),
            shown: stats.display_tiles.clone(),
        }));
        watch_picture(&tiles, &self_crop);
        let active = (config.camera_target.clone(), config.camera.clone());
        let speaker_position = output_position(&audiomixer)?;
        let display_position = output_position(&compositor)?;
        let room = Arc::new(Room {
            pipeline,
            config,
            stats,
            vsel,
            vsel_camera,
            vsel_slate,
            slate: slate.clone(),
            camera_bin: Mutex::new(Some(camera)),
            active_camera: Mutex::new(active),
            vtee,
            asel,
            asel_mic,
            asel_silence,
            mic_bin: Mutex::new(Some(mic)),
            mic_volume,
            atee,
            compositor,
            audiomixer,
            speaker_volume,
            display_tee,
            mix_tee,
            tiles: tiles.clone(),
            levels: Mutex::new(HashMap::new()),
            speaker_position,
            display_position,
            sources: Mutex::new(HashMap::new()),
            threads,
            messages: Mutex::new(Some(messages)),
            _keep_alive: sink.keep_alive,
        });
        room.relayout();
        Ok(room)
    }

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

/// The running time of `pts` in the segment `pad` carries, without the
/// pad's own offset.
fn running_time(pad: &gst::Pad, pts: gst::ClockTime) -> Option<u64> {
    let ev = pad.sticky_event::<gst::event::Segment>(0)?;
    let seg = ev.segment().downcast_ref::<gst::ClockTime>()?;
    seg.to_running_time(pts).map(|t| t.nseconds())
}

/// Follows how far an aggregator (the speaker mix, the display) has
/// produced output, as a running time in ns.
fn output_position(aggregator: &gst::Element) -> Result<Arc<AtomicU64>, MediaError> {
    let src = aggregator
        .static_pad("src")
        .ok_or_else(|| MediaError::link("mixer output"))?;
    let position = Arc::new(AtomicU64::new(0));
    let pos = position.clone();
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
            && let Some(pts) = buf.pts()
            && let Some(rt) = running_time(pad, pts + buf.duration().unwrap_or_default())
        {
            pos.store(rt, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(position)
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

/// A small, slow copy of `tee`'s video for the panel (elements named
/// `<prefix>-...`, the appsink `<prefix>`). Returns the queue whose thread
/// runs it.
fn build_panel_tap(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    prefix: &str,
    cb: FrameCallback,
    (w, h): (u32, u32),
    fps: u32,
    stats: &Arc<RoomStats>,
) -> Result<gst::Element, MediaError> {
    let q = make("queue", &format!("{prefix}-queue"))?;
    q.set_property_from_str("leaky", "downstream");
    q.set_property("max-size-buffers", 2u32);
    let rate = make("videorate", &format!("{prefix}-rate"))?;
    rate.set_property("drop-only", true);
    let scale = make("videoscale", &format!("{prefix}-scale"))?;
    let conv = make("videoconvert", &format!("{prefix}-convert"))?;
    let appsink = gst_app::AppSink::builder()
        .name(prefix)
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .field("width", w as i32)
                .field("height", h as i32)
                .field("framerate", gst::Fraction::new(fps as i32, 1))
                .build(),
        )
        .max_buffers(1)
        .drop(true)
        .sync(false)
        .build();
    add_link(
        pipeline,
        &[&q, &rate, &scale, &conv, appsink.upcast_ref()],
        "panel tile",
    )?;
    tee.link(&q)
        .map_err(|_| MediaError::link(&format!("tee → {prefix}")))?;
    let st = Arc::downgrade(stats);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = rgb_frame(&sample) {
                    cb(frame);
                    if let Some(st) = st.upgrade() {
                        st.frames_to_panel.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(q)
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

//! The media engine: one task that owns the room pipeline, turns its bus
//! into [`MediaEvent`]s, obeys controls, and keeps the room on the air.
//!
//! - A camera or microphone that errors is swapped for the slate or
//!   silence at once (calls go on) and rebuilt with back-off; each change is
//!   reported as an event.
//! - Any other pipeline error takes the pipeline to `Null` and rebuilds it
//!   with back-off; the process never ends because of media.
//! - What the room asked for (camera on or off, microphone mute, volume,
//!   layout) is remembered and applied again after every rebuild.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::layout::Layout;
use super::recorder::Recorder;
use super::room::{Room, RoomConfig, RoomStats};
use super::sources::{self, CONTENT, RTSP};
use super::webrtc::{Session, SessionEvent, SessionOptions};
use super::{DeviceState, MediaError, MediaEvent, PreviewState};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A device that just failed is first retried after this long: a USB
/// camera or speakerphone takes a second or two to re-enumerate.
const DEVICE_RETRY_START: Duration = Duration::from_secs(2);

enum Control {
    Camera(bool),
    Blank(bool),
    /// A device was plugged in: retry failed devices now, not after back-off.
    RetryNow,
    /// Use the second camera (`true`) or the main one.
    SwitchCamera(bool, oneshot::Sender<Result<(), String>>),
    MicMuted(bool),
    Volume(u8),
    Layout(Layout),
    Stop(oneshot::Sender<()>),
}

/// What the room wants, applied to every (re)built pipeline.
#[derive(Debug, Clone)]
struct Desired {
    camera_on: bool,
    blank: bool,
    mic_muted: bool,
    volume: u8,
    layout: Layout,
}

/// Talks to the engine task.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<Control>,
    pub stats: Arc<RoomStats>,
    room: Arc<Mutex<Option<Arc<Room>>>>,
    recorder: Arc<Mutex<Option<Recorder>>>,
}

impl MediaHandle {
    /// Camera on, or off (privacy, standby: the device is released and the
    /// slate goes on air).
    pub async fn camera(&self, on: bool) {
        let _ = self.tx.send(Control::Camera(on)).await;
    }

    /// Retries failed devices now (a device was plugged in).
    pub async fn retry_now(&self) {
        let _ = self.tx.send(Control::RetryNow).await;
    }

    /// Blanks the room display (standby) or shows it again.
    pub async fn blank(&self, blank: bool) {
        let _ = self.tx.send(Control::Blank(blank)).await;
    }

    pub async fn mic_muted(&self, muted: bool) {
        let _ = self.tx.send(Control::MicMuted(muted)).await;
    }

    pub async fn volume(&self, v: u8) {
        let _ = self.tx.send(Control::Volume(v)).await;
    }

    pub async fn layout(&self, l: Layout) {
        let _ = self.tx.send(Control::Layout(l)).await;
    }

    /// Makes the second camera (or the main one again) the room's camera.
    pub async fn switch_camera(&self, second: bool) -> Result<(), MediaError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Control::SwitchCamera(second, tx))
            .await
            .map_err(|_| MediaError::NotRunning)?;
        rx.await
            .map_err(|_| MediaError::NotRunning)?
            .map_err(|reason| MediaError::Device {
                device: "camera".into(),
                reason,
            })
    }

    /// Shares content (the second video source) on the display; returns
    /// its tee so calls can send it. `false` stops sharing.
    pub fn share_content(&self, on: bool) -> Result<Option<gst::Element>, MediaError> {
        let room = self.room().ok_or(MediaError::NotRunning)?;
        if !on {
            room.remove_video_source(CONTENT);
            return Ok(None);
        }
        let target = room
            .config
            .content_target
            .clone()
            .ok_or(MediaError::Device {
                device: "content".into(),
                reason: "the hardware profile names no content source ([content])".into(),
            })?;
        let bin = sources::content(&target, &room.config.content)?;
        room.add_video_source(CONTENT, bin, true).map(Some)
    }

    /// Shows an RTSP stream on the display; calls can send it from the
    /// returned tee.
    pub fn open_rtsp(&self, url: &str) -> Result<gst::Element, MediaError> {
        let room = self.room().ok_or(MediaError::NotRunning)?;
        let bin = sources::rtsp(url, room.config.camera.width, room.config.camera.height)?;
        room.add_video_source(RTSP, bin, false)
    }

    pub fn close_rtsp(&self) -> bool {
        self.room().is_some_and(|r| r.remove_video_source(RTSP))
    }

    /// Starts recording the display and the speaker mix.
    pub fn start_recording(&self, prefix: &str) -> Result<(), MediaError> {
        let room = self.room().ok_or(MediaError::NotRunning)?;
        let mut slot = self.recorder.lock().map_err(|_| MediaError::NotRunning)?;
        if slot.is_some() {
            return Err(MediaError::Device {
                device: "recorder".into(),
                reason: "already recording".into(),
            });
        }
        let m = &room.config.media;
        let dir = room.config.recordings_dir.clone();
        *slot = Some(Recorder::start(
            room.clone(),
            &dir,
            prefix,
            m.recording_format,
            Duration::from_secs(m.recording_segment_seconds as u64),
            m.video_bitrate_kbps,
        )?);
        Ok(())
    }

    /// Stops recording; blocks until the last file is finalised. Returns
    /// the files written.
    pub fn stop_recording(&self) -> Option<Vec<std::path::PathBuf>> {
        let rec = self.recorder.lock().ok()?.take()?;
        Some(rec.stop())
    }

    pub fn recording(&self) -> bool {
        self.recorder.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// Takes the pipeline to `Null` and waits until it is there.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The running room pipeline, if there is one.
    pub fn room(&self) -> Option<Arc<Room>> {
        self.room.lock().ok().and_then(|r| r.clone())
    }

    /// Starts a WebRTC session in the room pipeline.
    pub fn session(
        &self,
        opts: SessionOptions,
    ) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>), MediaError> {
        let room = self.room().ok_or(MediaError::NotRunning)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((Session::new(room, opts, tx)?, rx))
    }
}

/// Starts the engine. Events arrive on `events`.
pub fn spawn(config: RoomConfig, events: mpsc::Sender<MediaEvent>) -> MediaHandle {
    let (tx, rx) = mpsc::channel(32);
    let stats = Arc::new(RoomStats::default());
    let slot = Arc::new(Mutex::new(None));
    let desired = Desired {
        camera_on: true,
        blank: false,
        mic_muted: false,
        volume: 50,
        layout: Layout::from_name(&config.media.layout).unwrap_or_default(),
    };
    tokio::spawn(run(
        config,
        rx,
        events,
        stats.clone(),
        slot.clone(),
        desired,
    ));
    MediaHandle {
        tx,
        stats,
        room: slot,
        recorder: Arc::new(Mutex::new(None)),
    }
}

/// A device that failed and when to try it again.
struct Retry {
    at: Option<Instant>,
    backoff: Duration,
}

impl Retry {
    fn new() -> Self {
        Self {
            at: None,
            backoff: DEVICE_RETRY_START,
        }
    }

    fn schedule(&mut self) -> Duration {
        let wait = self.backoff;
        self.at = Some(Instant::now() + wait);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        wait
    }

    fn clear(&mut self) {
        self.at = None;
        self.backoff = DEVICE_RETRY_START;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

enum Outcome {
    Failed(String),
    Stop(oneshot::Sender<()>),
    Gone,
}

async fn run(
    config: RoomConfig,
    mut rx: mpsc::Receiver<Control>,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<RoomStats>,
    slot: Arc<Mutex<Option<Arc<Room>>>>,
    mut desired: Desired,
) {
    let emit = |e: MediaEvent| {
        let events = events.clone();
        async move {
            let _ = events.send(e).await;
        }
    };
    let mut backoff = BACKOFF_START;
    loop {
        emit(MediaEvent::Preview(PreviewState::Starting)).await;
        let outcome = match start(&config, &stats, &desired) {
            Ok(room) => {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(room.clone());
                }
                let out = watch(&room, &mut rx, &emit, &mut desired, &mut backoff).await;
                if let Ok(mut s) = slot.lock() {
                    *s = None;
                }
                let _ = room.pipeline.set_state(gst::State::Null);
                out
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        match outcome {
            Outcome::Stop(done) => {
                emit(MediaEvent::Preview(PreviewState::Stopped)).await;
                let _ = done.send(());
                return;
            }
            Outcome::Gone => return,
            Outcome::Failed(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "media: the room pipeline failed; rebuilding");
                stats
                    .camera_restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                emit(MediaEvent::Preview(PreviewState::Failed {
                    error,
                    retry_in_ms: backoff.as_millis() as u64,
                }))
                .await;
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                let deadline = tokio::time::sleep(wait);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut deadline => break,
                        c = rx.recv() => match c {
                            Some(Control::Stop(done)) => {
                                emit(MediaEvent::Preview(PreviewState::Stopped)).await;
                                let _ = done.send(());
                                return;
                            }
                            Some(other) => apply_desired(&mut desired, other),
                            None => return,
                        }
                    }
                }
            }
        }
    }
}

fn apply_desired(d: &mut Desired, c: Control) {
    match c {
        Control::SwitchCamera(_, reply) => {
            let _ = reply.send(Err("the media engine is rebuilding".into()));
        }
        Control::Camera(on) => d.camera_on = on,
        Control::Blank(b) => d.blank = b,
        Control::RetryNow => {}
        Control::MicMuted(m) => d.mic_muted = m,
        Control::Volume(v) => d.volume = v,
        Control::Layout(l) => d.layout = l,
        Control::Stop(_) => {}
    }
}

fn start(
    config: &RoomConfig,
    stats: &Arc<RoomStats>,
    d: &Desired,
) -> Result<Arc<Room>, MediaError> {
    let room = Room::build(config.clone(), stats.clone())?;
    room.set_mic_muted(d.mic_muted);
    room.set_volume(d.volume);
    room.set_layout(d.layout);
    room.set_blank(d.blank);
    if let Err(e) = room.pipeline.set_state(gst::State::Playing) {
        let _ = room.pipeline.set_state(gst::State::Null);
        let reason = room.pending_error().unwrap_or_else(|| e.to_string());
        return Err(MediaError::State {
            pipeline: "room".into(),
            state: "PLAYING".into(),
            reason,
        });
    }
    if !d.camera_on {
        room.release_camera();
    }
    Ok(room)
}

async fn watch<F, Fut>(
    room: &Arc<Room>,
    rx: &mut mpsc::Receiver<Control>,
    emit: &F,
    desired: &mut Desired,
    backoff: &mut Duration,
) -> Outcome
where
    F: Fn(MediaEvent) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(mut messages) = room.take_messages() else {
        return Outcome::Failed("the room pipeline's messages are already taken".into());
    };
    let mut camera = Retry::new();
    let mut mic = Retry::new();
    let mut camera_live = false;
    loop {
        tokio::select! {
            msg = messages.recv() => {
                let Some(msg) = msg else { return Outcome::Failed("bus closed".into()) };
                match msg.view() {
                    gst::MessageView::StateChanged(sc)
                        if msg.src() == Some(room.pipeline.upcast_ref()) && sc.current() == gst::State::Playing =>
                    {
                        *backoff = BACKOFF_START;
                        camera_live = desired.camera_on;
                        emit(MediaEvent::Preview(if desired.camera_on { PreviewState::Playing } else { PreviewState::Standby })).await;
                    }
                    gst::MessageView::Error(err) => {
                        let from = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                        let text = format!("{from}: {}", err.error());
                        match room.origin(&msg) {
                            Some("camera") => {
                                room.release_camera();
                                camera_live = false;
                                let wait = camera.schedule();
                                tracing::warn!(error = %text, retry_in = ?wait, "media: camera failed; slate on air");
                                room.stats.camera_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                emit(MediaEvent::Preview(PreviewState::Failed { error: text, retry_in_ms: wait.as_millis() as u64 })).await;
                            }
                            Some("microphone") => {
                                room.release_microphone();
                                let wait = mic.schedule();
                                tracing::warn!(error = %text, retry_in = ?wait, "media: microphone failed; silence sent");
                                emit(MediaEvent::Microphone(DeviceState::Failed { error: text, retry_in_ms: wait.as_millis() as u64 })).await;
                            }
                            _ if super::room::ancestry(&msg).iter().any(|n| n == RTSP || n == CONTENT) => {
                                // A stream or content source failed: take it off
                                // the display; the room and its calls go on.
                                let id = if super::room::ancestry(&msg).iter().any(|n| n == RTSP) { RTSP } else { CONTENT };
                                room.remove_video_source(id);
                                tracing::warn!(source = id, error = %text, "media: a video source failed");
                                emit(MediaEvent::SourceFailed { source: id.to_string(), error: text }).await;
                            }
                            _ if super::room::ancestry(&msg).iter().any(|n| n.starts_with("session-")) => {
                                let id = super::room::ancestry(&msg)
                                    .into_iter()
                                    .find_map(|n| n.strip_prefix("session-").map(str::to_string))
                                    .unwrap_or_default();
                                tracing::warn!(session = %id, error = %text, "media: a session failed");
                                emit(MediaEvent::SessionError { session: id, error: text }).await;
                            }
                            _ => return Outcome::Failed(text),
                        }
                    }
                    gst::MessageView::Element(e) => {
                        if let Some(s) = e.structure()
                            && s.name() == "level"
                            && let Some(src) = msg.src()
                            && let Ok(rms) = s.get::<gst::glib::ValueArray>("rms")
                            && let Some(db) = rms.iter().next().and_then(|v| v.get::<f64>().ok())
                        {
                            room.on_level(&src.name(), db);
                        }
                    }
                    gst::MessageView::Latency(_) => {
                        // A call joined or left: the pipeline's latency changes.
                        let _ = room.pipeline.recalculate_latency();
                    }
                    gst::MessageView::Eos(_) => return Outcome::Failed("the room pipeline ended".into()),
                    _ => {}
                }
            }
            _ = sleep_until(camera.at) => {
                if !desired.camera_on {
                    camera.clear();
                    continue;
                }
                match room.restore_camera() {
                    Ok(()) => {
                        camera.clear();
                        camera_live = true;
                        tracing::info!("media: camera back on air");
                        emit(MediaEvent::Preview(PreviewState::Playing)).await;
                    }
                    Err(e) => {
                        let wait = camera.schedule();
                        emit(MediaEvent::Preview(PreviewState::Failed { error: e.to_string(), retry_in_ms: wait.as_millis() as u64 })).await;
                    }
                }
            }
            _ = sleep_until(mic.at) => {
                match room.restore_microphone() {
                    Ok(()) => {
                        mic.clear();
                        emit(MediaEvent::Microphone(DeviceState::Live)).await;
                    }
                    Err(e) => {
                        let wait = mic.schedule();
                        emit(MediaEvent::Microphone(DeviceState::Failed { error: e.to_string(), retry_in_ms: wait.as_millis() as u64 })).await;
                    }
                }
            }
            c = rx.recv() => match c {
                None => return Outcome::Gone,
                Some(Control::Stop(done)) => return Outcome::Stop(done),
                Some(Control::Camera(on)) => {
                    desired.camera_on = on;
                    if on && !camera_live {
                        match room.restore_camera() {
                            Ok(()) => {
                                camera.clear();
                                camera_live = true;
                                emit(MediaEvent::Preview(PreviewState::Playing)).await;
                            }
                            Err(e) => {
                                let wait = camera.schedule();
                                emit(MediaEvent::Preview(PreviewState::Failed { error: e.to_string(), retry_in_ms: wait.as_millis() as u64 })).await;
                            }
                        }
                    } else if !on {
                        room.release_camera();
                        camera.clear();
                        camera_live = false;
                        emit(MediaEvent::Preview(PreviewState::Standby)).await;
                    }
                }
                Some(Control::MicMuted(m)) => {
                    desired.mic_muted = m;
                    room.set_mic_muted(m);
                }
                Some(Control::Blank(b)) => {
                    desired.blank = b;
                    room.set_blank(b);
                }
                Some(Control::RetryNow) => {
                    let now = Instant::now();
                    camera.at = camera.at.map(|_| now);
                    mic.at = mic.at.map(|_| now);
                }
                Some(Control::SwitchCamera(second, reply)) => {
                    let res = room.select_camera(second).map_err(|e| e.to_string());
                    if res.is_ok() && desired.camera_on {
                        room.release_camera();
                        let r = room.restore_camera();
                        camera_live = r.is_ok();
                        if let Err(e) = r {
                            let wait = camera.schedule();
                            emit(MediaEvent::Preview(PreviewState::Failed { error: e.to_string(), retry_in_ms: wait.as_millis() as u64 })).await;
                        }
                    }
                    let _ = reply.send(res);
                }
                Some(Control::Volume(v)) => {
                    desired.volume = v;
                    room.set_volume(v);
                }
                Some(Control::Layout(l)) => {
                    desired.layout = l;
                    room.set_layout(l);
                }
            }
        }
    }
}

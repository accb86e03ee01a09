//! The local preview: camera → tee → room display, and a small, slow copy
//! of the picture for the panel's preview tile.
//!
//! One tokio task owns the pipeline (an actor): it turns bus messages into
//! [`MediaEvent`]s, obeys [`Control`] messages, and rebuilds the pipeline
//! with back-off when it fails. Callbacks hold only weak references or
//! shared counters, never the pipeline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gst::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::build::{self, make};
use super::{MediaError, MediaEvent, PreviewState};
use crate::config::{CameraSettings, DisplaySettings};
use crate::devices::{CameraTarget, DisplayTarget};

/// An RGB picture handed to the panel.
#[derive(Clone)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    /// Tightly packed RGB, `width * 3` bytes per row.
    pub data: Vec<u8>,
}

pub type FrameCallback = Arc<dyn Fn(RgbFrame) + Send + Sync>;

/// What the preview needs to know.
#[derive(Clone)]
pub struct PreviewConfig {
    pub camera_target: CameraTarget,
    pub camera: CameraSettings,
    pub display_target: DisplayTarget,
    pub display: DisplaySettings,
    /// Receives panel-sized frames at `panel_fps`.
    pub panel_frames: Option<FrameCallback>,
    pub panel_size: (u32, u32),
    pub panel_fps: u32,
}

/// Counters readable from any thread (HTTP status, metrics, tests).
#[derive(Debug, Default)]
pub struct PreviewStats {
    pub frames_displayed: AtomicU64,
    pub frames_to_panel: AtomicU64,
    pub restarts: AtomicU64,
    /// The most recent frame that reached an appsink display.
    pub last_display_sample: Mutex<Option<gst::Sample>>,
}

enum Control {
    Standby,
    Wake,
    Stop(oneshot::Sender<()>),
}

/// Talks to the preview task.
#[derive(Clone)]
pub struct PreviewHandle {
    tx: mpsc::Sender<Control>,
    pub stats: Arc<PreviewStats>,
}

impl PreviewHandle {
    pub async fn standby(&self) {
        let _ = self.tx.send(Control::Standby).await;
    }

    pub async fn wake(&self) {
        let _ = self.tx.send(Control::Wake).await;
    }

    /// Takes the pipeline to `Null` and waits until it is there.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Starts the preview task. State changes arrive on `events`.
pub fn spawn_preview(cfg: PreviewConfig, events: mpsc::Sender<MediaEvent>) -> PreviewHandle {
    let (tx, rx) = mpsc::channel(8);
    let stats = Arc::new(PreviewStats::default());
    tokio::spawn(run(cfg, rx, events, stats.clone()));
    PreviewHandle { tx, stats }
}

enum Outcome {
    Failed(String),
    Standby,
    Stop(oneshot::Sender<()>),
}

async fn run(
    cfg: PreviewConfig,
    mut rx: mpsc::Receiver<Control>,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<PreviewStats>,
) {
    let emit = |s: PreviewState| {
        let events = events.clone();
        async move {
            let _ = events.send(MediaEvent::Preview(s)).await;
        }
    };
    let mut backoff = BACKOFF_START;
    loop {
        emit(PreviewState::Starting).await;
        let outcome = match Running::start(&cfg, &stats) {
            Ok(running) => {
                let out = running.watch(&mut rx, &events, &mut backoff).await;
                running.teardown();
                out
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        let resumed = match outcome {
            Outcome::Stop(done) => Resume::Stop(done),
            Outcome::Standby => {
                emit(PreviewState::Standby).await;
                backoff = BACKOFF_START;
                sleep_until_woken(&mut rx).await
            }
            Outcome::Failed(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "preview failed");
                stats.restarts.fetch_add(1, Ordering::Relaxed);
                emit(PreviewState::Failed {
                    error,
                    retry_in_ms: backoff.as_millis() as u64,
                })
                .await;
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => Resume::Run,
                    c = rx.recv() => match c {
                        Some(Control::Stop(done)) => Resume::Stop(done),
                        Some(Control::Standby) => {
                            emit(PreviewState::Standby).await;
                            sleep_until_woken(&mut rx).await
                        }
                        Some(Control::Wake) => Resume::Run,
                        None => Resume::Gone,
                    }
                }
            }
        };
        match resumed {
            Resume::Run => {}
            Resume::Stop(done) => {
                emit(PreviewState::Stopped).await;
                let _ = done.send(());
                return;
            }
            Resume::Gone => return,
        }
    }
}

enum Resume {
    Run,
    Stop(oneshot::Sender<()>),
    Gone,
}

/// In standby: wait for `wake` (or `stop`).
async fn sleep_until_woken(rx: &mut mpsc::Receiver<Control>) -> Resume {
    loop {
        match rx.recv().await {
            Some(Control::Wake) => return Resume::Run,
            Some(Control::Standby) => {}
            Some(Control::Stop(done)) => return Resume::Stop(done),
            None => return Resume::Gone,
        }
    }
}

/// A built pipeline and what must live as long as it does.
struct Running {
    pipeline: gst::Pipeline,
    _keep_alive: Option<std::fs::File>,
}

impl Running {
    fn start(cfg: &PreviewConfig, stats: &Arc<PreviewStats>) -> Result<Self, MediaError> {
        let (pipeline, keep) = build_preview(cfg, stats)?;
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let _ = pipeline.set_state(gst::State::Null);
            // The bus usually holds the reason (device busy, no such node).
            let reason = pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(err) => Some(err.error().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| e.to_string());
            return Err(MediaError::State {
                pipeline: "preview".into(),
                state: "PLAYING".into(),
                reason,
            });
        }
        Ok(Self {
            pipeline,
            _keep_alive: keep,
        })
    }

    async fn watch(
        &self,
        rx: &mut mpsc::Receiver<Control>,
        events: &mpsc::Sender<MediaEvent>,
        backoff: &mut Duration,
    ) -> Outcome {
        let Some(bus) = self.pipeline.bus() else {
            return Outcome::Failed("pipeline has no bus".into());
        };
        let mut messages = bus.stream();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { return Outcome::Failed("bus closed".into()) };
                    match msg.view() {
                        gst::MessageView::StateChanged(sc)
                            if msg.src() == Some(self.pipeline.upcast_ref())
                                && sc.current() == gst::State::Playing =>
                        {
                            *backoff = BACKOFF_START;
                            let _ = events.send(MediaEvent::Preview(PreviewState::Playing)).await;
                        }
                        gst::MessageView::Error(err) => {
                            let from = msg
                                .src()
                                .map(|s| s.path_string().to_string())
                                .unwrap_or_default();
                            return Outcome::Failed(format!("{from}: {}", err.error()));
                        }
                        gst::MessageView::Eos(_) => {
                            return Outcome::Failed("the camera stream ended".into());
                        }
                        _ => {}
                    }
                }
                c = rx.recv() => match c {
                    Some(Control::Standby) => return Outcome::Standby,
                    Some(Control::Wake) => {}
                    Some(Control::Stop(done)) => return Outcome::Stop(done),
                    None => return Outcome::Stop(oneshot::channel().0),
                }
            }
        }
    }

    fn teardown(&self) {
        if let Err(e) = self.pipeline.set_state(gst::State::Null) {
            tracing::error!(error = %e, "preview: could not reach NULL");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// camera → tee ─┬─ queue → convert → scale → display sink
///               └─ queue(leaky) → rate → scale → convert → RGB caps → panel appsink
pub fn build_preview(
    cfg: &PreviewConfig,
    stats: &Arc<PreviewStats>,
) -> Result<(gst::Pipeline, Option<std::fs::File>), MediaError> {
    let pipeline = gst::Pipeline::with_name("preview");
    let camera = build::camera_source(&cfg.camera_target, &cfg.camera, "camera")?;
    let tee = make("tee", "split")?;
    let dq = make("queue", "display-queue")?;
    let dconv = make("videoconvert", "display-convert")?;
    let dscale = make("videoscale", "display-scale")?;
    let sink = build::display_sink(&cfg.display_target, &cfg.display, "display")?;

    pipeline
        .add_many([
            camera.upcast_ref(),
            &tee,
            &dq,
            &dconv,
            &dscale,
            &sink.element,
        ])
        .map_err(|_| MediaError::link("preview"))?;
    camera
        .link(&tee)
        .map_err(|_| MediaError::link("camera → tee"))?;
    gst::Element::link_many([&tee, &dq, &dconv, &dscale, &sink.element])
        .map_err(|_| MediaError::link("tee → display"))?;

    // Count what reaches the display, whatever the sink is.
    if let Some(pad) = sink.element.static_pad("sink") {
        let stats = stats.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            stats.frames_displayed.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    if let Some(app) = &sink.appsink {
        let stats = Arc::downgrade(stats);
        app.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(stats) = stats.upgrade()
                        && let Ok(mut last) = stats.last_display_sample.lock()
                    {
                        *last = Some(sample);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    if let Some(cb) = &cfg.panel_frames {
        let (w, h) = cfg.panel_size;
        let q = make("queue", "panel-queue")?;
        q.set_property_from_str("leaky", "downstream");
        q.set_property("max-size-buffers", 2u32);
        let rate = make("videorate", "panel-rate")?;
        rate.set_property("drop-only", true);
        let scale = make("videoscale", "panel-scale")?;
        let conv = make("videoconvert", "panel-convert")?;
        let appsink = gst_app::AppSink::builder()
            .name("panel")
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", "RGB")
                    .field("width", w as i32)
                    .field("height", h as i32)
                    .field("framerate", gst::Fraction::new(cfg.panel_fps as i32, 1))
                    .build(),
            )
            .max_buffers(1)
            .drop(true)
            .sync(false)
            .build();
        pipeline
            .add_many([&q, &rate, &scale, &conv, appsink.upcast_ref()])
            .map_err(|_| MediaError::link("panel preview"))?;
        gst::Element::link_many([&tee, &q, &rate, &scale, &conv, appsink.upcast_ref()])
            .map_err(|_| MediaError::link("tee → panel"))?;
        let cb = cb.clone();
        let stats = Arc::downgrade(stats);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = rgb_frame(&sample) {
                        cb(frame);
                        if let Some(st) = stats.upgrade() {
                            st.frames_to_panel.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    Ok((pipeline, sink.keep_alive))
}

/// Copies an RGB sample into a packed frame (GStreamer pads rows to 4 bytes).
fn rgb_frame(sample: &gst::Sample) -> Option<RgbFrame> {
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

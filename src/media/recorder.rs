//! Recording the room's composite: the display picture (H.264) and the
//! speaker mix (Opus) into MP4 or Matroska files, cut into segments.
//!
//! The recorder is a bin hung off the display and mix tees. Stopping sends
//! end-of-stream into it and waits until the file writer has seen it, so
//! the last segment is finalised (an MP4 without its index does not play).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::MediaError;
use super::build::make;
use super::room::Room;
use crate::config::RecordingFormat;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A recording in progress.
pub struct Recorder {
    room: Arc<Room>,
    bin: gst::Bin,
    tee_pads: Vec<gst::Pad>,
    files: Arc<Mutex<Vec<PathBuf>>>,
    /// Segments the writer has finished.
    closed: Arc<(Mutex<usize>, std::sync::Condvar)>,
}

impl Recorder {
    /// Starts recording into `dir` (created if missing). Files are named
    /// `<prefix>-00000.mp4`, `-00001`... as segments close.
    pub fn start(
        room: Arc<Room>,
        dir: &Path,
        prefix: &str,
        format: RecordingFormat,
        segment: Duration,
        video_kbps: u32,
    ) -> Result<Self, MediaError> {
        std::fs::create_dir_all(dir).map_err(|e| MediaError::Device {
            device: dir.display().to_string(),
            reason: format!("cannot create the recordings directory: {e}"),
        })?;
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let bin = gst::Bin::builder().name(format!("recorder-{n}")).build();
        let ext = match format {
            RecordingFormat::Mp4 => "mp4",
            RecordingFormat::Mkv => "mkv",
        };
        let mux = match format {
            RecordingFormat::Mp4 => make("mp4mux", "mux")?,
            RecordingFormat::Mkv => make("matroskamux", "mux")?,
        };
        let split = make("splitmuxsink", "split")?;
        split.set_property(
            "location",
            dir.join(format!("{prefix}-%05d.{ext}"))
                .to_string_lossy()
                .to_string(),
        );
        split.set_property("max-size-time", segment.as_nanos() as u64);
        split.set_property("send-keyframe-requests", true);
        split.set_property("muxer", &mux);

        // Video: the composite as H.264.
        let vq = make("queue", "vq")?;
        room.threads.picture(&vq);
        vq.set_property("max-size-time", 2_000_000_000u64);
        vq.set_property("max-size-buffers", 0u32);
        vq.set_property("max-size-bytes", 0u32);
        let vconv = make("videoconvert", "vconv")?;
        let venc = make("x264enc", "venc")?;
        venc.set_property_from_str("tune", "zerolatency");
        venc.set_property_from_str("speed-preset", "ultrafast");
        venc.set_property("bitrate", video_kbps);
        // A keyframe at least every segment, so every file starts cleanly
        // and splits land on time.
        let fps = room.config.display.framerate.max(1);
        venc.set_property(
            "key-int-max",
            (fps as u64 * segment.as_secs().clamp(1, 10)) as u32,
        );
        let vparse = make("h264parse", "vparse")?;
        // Audio: the mix as Opus.
        let aq = make("queue", "aq")?;
        aq.set_property("max-size-time", 2_000_000_000u64);
        aq.set_property("max-size-buffers", 0u32);
        aq.set_property("max-size-bytes", 0u32);
        let aconv = make("audioconvert", "aconv")?;
        let ares = make("audioresample", "ares")?;
        let aenc = make("opusenc", "aenc")?;
        let aparse = make("opusparse", "aparse")?;
        bin.add_many([
            &vq, &vconv, &venc, &vparse, &aq, &aconv, &ares, &aenc, &aparse, &split,
        ])
        .map_err(|_| MediaError::link("recorder"))?;
        gst::Element::link_many([&vq, &vconv, &venc, &vparse])
            .map_err(|_| MediaError::link("recorder video"))?;
        gst::Element::link_many([&aq, &aconv, &ares, &aenc, &aparse])
            .map_err(|_| MediaError::link("recorder audio"))?;
        let vsink = split
            .request_pad_simple("video")
            .ok_or_else(|| MediaError::link("splitmuxsink video"))?;
        let asink = split
            .request_pad_simple("audio_%u")
            .ok_or_else(|| MediaError::link("splitmuxsink audio"))?;
        vparse
            .static_pad("src")
            .ok_or_else(|| MediaError::link("recorder"))?
            .link(&vsink)
            .map_err(|_| MediaError::link("recorder video"))?;
        aparse
            .static_pad("src")
            .ok_or_else(|| MediaError::link("recorder"))?
            .link(&asink)
            .map_err(|_| MediaError::link("recorder audio"))?;

        let mut ghosts = Vec::new();
        for (first, name) in [(&vq, "video"), (&aq, "audio")] {
            let target = first
                .static_pad("sink")
                .ok_or_else(|| MediaError::link("recorder"))?;
            let g = gst::GhostPad::builder_with_target(&target)
                .map_err(|_| MediaError::link("recorder"))?
                .name(name)
                .build();
            g.set_active(true).ok();
            bin.add_pad(&g).map_err(|_| MediaError::link("recorder"))?;
            ghosts.push(g);
        }

        // Files are known when splitmuxsink opens them.
        let files = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
        let prefix_path = dir.join(prefix);
        let seen = files.clone();
        split.connect("format-location-full", false, move |args| {
            let idx = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
            let path = PathBuf::from(format!("{}-{idx:05}.{ext}", prefix_path.display()));
            if let Ok(mut f) = seen.lock() {
                f.push(path.clone());
            }
            Some(path.to_string_lossy().to_string().to_value())
        });
        room.pipeline
            .add(&bin)
            .map_err(|_| MediaError::link("recorder"))?;
        let vt = room
            .display_tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| MediaError::link("display tee"))?;
        let at = room
            .mix_tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| MediaError::link("mix tee"))?;
        bin.sync_state_with_parent()
            .map_err(|_| MediaError::State {
                pipeline: "recorder".into(),
                state: "PLAYING".into(),
                reason: "the recorder did not start".into(),
            })?;
        // The end (the file writer exists once the bin runs): EOS reaching the file writer means the last file is closed.
        // splitmuxsink sends EOS through its writer at the end of every
        // segment: the recording is complete when every opened file has
        // seen one. (At the end it may open one more file for the last GOP.)
        let closes = closed.clone();
        if let Some(sink) = split
            .clone()
            .downcast::<gst::Bin>()
            .ok()
            .and_then(|b| b.iterate_sinks().into_iter().flatten().next())
            && let Some(pad) = sink.static_pad("sink")
        {
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data
                    && ev.type_() == gst::EventType::Eos
                {
                    let (lock, cv) = &*closes;
                    if let Ok(mut n) = lock.lock() {
                        *n += 1;
                        cv.notify_all();
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }

        vt.link(&ghosts[0])
            .map_err(|_| MediaError::link("display → recorder"))?;
        at.link(&ghosts[1])
            .map_err(|_| MediaError::link("mix → recorder"))?;
        // Start on a keyframe.
        venc.send_event(
            gst_video::DownstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build(),
        );
        Ok(Self {
            room,
            bin,
            tee_pads: vec![vt, at],
            files,
            closed,
        })
    }

    /// Ends the recording, finalises the last file and returns the files.
    pub fn stop(self) -> Vec<PathBuf> {
        // Detach from the room, then end the streams inside the bin.
        for tp in &self.tee_pads {
            if let Some(peer) = tp.peer() {
                let _ = tp.unlink(&peer);
                peer.send_event(gst::event::Eos::new());
            }
            if let Some(tee) = tp.parent_element() {
                tee.release_request_pad(tp);
            }
        }
        // Done when every opened file is closed and no new one opens for a
        // moment (the final GOP may get a file of its own just after the
        // previous file closes).
        let opened = || self.files.lock().map(|f| f.len()).unwrap_or(0);
        let (lock, cv) = &*self.closed;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut settled_since: Option<std::time::Instant> = None;
        loop {
            let now = std::time::Instant::now();
            if now > deadline {
                tracing::warn!("recording: the last file was not finalised within 10 s");
                break;
            }
            let n = lock.lock().map(|n| *n).unwrap_or(usize::MAX);
            if n >= opened() {
                let since = *settled_since.get_or_insert(now);
                if now - since >= Duration::from_millis(300) {
                    break;
                }
            } else {
                settled_since = None;
            }
            if let Ok(g) = lock.lock() {
                let _ = cv.wait_timeout(g, Duration::from_millis(50));
            }
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = self.room.pipeline.remove(&self.bin);
        self.files.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

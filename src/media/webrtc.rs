//! A WebRTC session on webrtcbin, with an explicit signalling interface:
//! offers, answers and ICE candidates go in as [`Signal`]s through
//! [`Session::handle`] and come out as [`SessionEvent::Signal`]s, so the
//! embedded server, a remote peer or a test can drive it.
//!
//! The session lives in a bin of its own inside the room pipeline: it
//! takes the room's camera and microphone from their tees, encodes them
//! (VP8 or H.264, Opus), and puts what it receives on the display
//! (compositor) and the speaker (mixer). Bundle and rtcp-mux are always on;
//! NACK and PLI are negotiated; a keyframe is asked for whenever a new
//! decoder starts, and the encoders answer PLI/FIR with one. Adding a track
//! (content sharing) renegotiates.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::MediaError;
use super::build::make;
use super::layout::Tile;
use super::repair::TrackRepair;
use super::room::{Room, audio_caps, link_pads};
use crate::config::VideoCodec;

mod colours;
mod receive;
mod send;
use colours::vp8_colours;

/// The RFC 6464 audio level extension, as a conference server offers it.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub const AUDIO_LEVEL_ID: u32 = 1;

/// A signalling message, in or out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Signal {
    Offer { sdp: String },
    Answer { sdp: String },
    Candidate { mline: u32, candidate: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TrackKind {
    Audio,
    Video,
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Send this to the other side.
    Signal(Signal),
    /// ICE and DTLS are up: media flows.
    Connected,
    /// The connection failed or was closed by the other side.
    Failed(String),
    /// A track from the other side started playing.
    RemoteTrack { id: String, kind: TrackKind },
}

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub id: String,
    /// Send the room's camera and microphone.
    pub send_video: bool,
    pub send_audio: bool,
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    /// Step the camera's picture down while the encoder cannot keep up
    /// with it ([`super::adapt`]).
    pub adapt_size: bool,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Make the first offer (the other side answers).
    pub offerer: bool,
    /// Negotiate a content track up front, fed only while sharing
    /// ([`Session::share`]): a conference server offers one.
    pub content: bool,
    /// Mark outgoing audio with its level (RFC 6464), which a conference
    /// server's voice detection reads.
    pub audio_level: bool,
}

/// A branch from a room tee into the session.
struct SendBranch {
    tee_pad: gst::Pad,
    encoder: gst::Element,
}

/// A branch from the session onto the display or the speaker.
struct RecvBranch {
    id: String,
    /// The compositor or mixer pad it feeds.
    room_pad: gst::Pad,
    kind: TrackKind,
    /// webrtcbin's pad it comes from (its transceiver names the m-line).
    source: gst::Pad,
    /// Shown as shared content.
    content: bool,
    /// The crop in front of the compositor (video).
    crop: Option<gst::Element>,
}

/// The content sender's input while nobody shares.
struct ContentIn {
    ghost: gst::GhostPad,
    tee_pad: Option<gst::Pad>,
}

struct Inner {
    id: String,
    room: Arc<Room>,
    bin: gst::Bin,
    webrtc: gst::Element,
    events: mpsc::UnboundedSender<SessionEvent>,
    offerer: AtomicBool,
    sends: Mutex<Vec<SendBranch>>,
    recvs: Mutex<Vec<RecvBranch>>,
    closed: AtomicBool,
    next: AtomicU32,
    content_in: Mutex<Option<ContentIn>>,
    /// Candidates from the other side that arrived before its session
    /// description; `None` once the remote description is set.
    pending: Mutex<Option<Vec<(u32, String)>>>,
}

/// A WebRTC peer connection in the room pipeline.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

pub(crate) fn promise<F>(f: F) -> gst::Promise
where
    F: FnOnce(Option<&gst::StructureRef>) + Send + 'static,
{
    gst::Promise::with_change_func(move |reply| f(reply.ok().flatten()))
}

impl Session {
    /// Creates the session inside `room`'s pipeline. Offers (if
    /// `opts.offerer`) and candidates arrive on `events`.
    pub fn new(
        room: Arc<Room>,
        opts: SessionOptions,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Result<Self, MediaError> {
        let t0 = std::time::Instant::now();
        let bin = gst::Bin::builder()
            .name(format!("session-{}", opts.id))
            .build();
        let webrtc = make("webrtcbin", "webrtc")?;
        webrtc.set_property_from_str("bundle-policy", "max-bundle");
        // Keep latency low on a LAN; NACK retransmissions still fit.
        webrtc.set_property("latency", 100u32);
        super::repair::tune_feedback(&webrtc);
        bin.add(&webrtc).map_err(|_| MediaError::link("session"))?;
        room.pipeline
            .add(&bin)
            .map_err(|_| MediaError::link("session"))?;
        let inner = Arc::new(Inner {
            id: opts.id.clone(),
            room: room.clone(),
            bin,
            webrtc: webrtc.clone(),
            events,
            offerer: AtomicBool::new(opts.offerer),
            sends: Mutex::new(Vec::new()),
            recvs: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            next: AtomicU32::new(0),
            content_in: Mutex::new(None),
            pending: Mutex::new(Some(Vec::new())),
        });
        let s = Session { inner };
        s.connect_signals();
        // Running before any branch joins a room tee: a tee treats a
        // branch that is not yet running (FLUSHING) as fatal and stops the
        // camera or microphone for the whole room.
        s.inner
            .bin
            .sync_state_with_parent()
            .map_err(|_| MediaError::State {
                pipeline: format!("session {}", opts.id),
                state: "PLAYING".into(),
                reason: "the session did not start".into(),
            })?;
        let started = t0.elapsed();
        if opts.send_video {
            let tee = room.vtee.clone();
            s.video_branch(Some(&tee), &opts)?;
        }
        let video = t0.elapsed();
        if opts.send_audio {
            s.add_audio(&opts)?;
        }
        let audio = t0.elapsed();
        if opts.content {
            s.video_branch(None, &opts)?;
        }
        // Where a slow machine spends a join's time.
        tracing::info!(
            session = %opts.id,
            webrtcbin_ms = started.as_millis() as u64,
            video_ms = (video - started).as_millis() as u64,
            audio_ms = (audio - video).as_millis() as u64,
            content_ms = (t0.elapsed() - audio).as_millis() as u64,
            "media session built"
        );
        Ok(s)
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    fn weak(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    fn connect_signals(&self) {
        let w = self.weak();
        self.inner
            .webrtc
            .connect("on-negotiation-needed", false, move |_| {
                if let Some(inner) = w.upgrade()
                    && inner.offerer.load(Ordering::SeqCst)
                {
                    Session { inner }.create_offer();
                }
                None
            });
        let w = self.weak();
        self.inner
            .webrtc
            .connect("on-ice-candidate", false, move |args| {
                let mline = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
                let candidate = args
                    .get(2)
                    .and_then(|v| v.get::<String>().ok())
                    .unwrap_or_default();
                if let Some(inner) = w.upgrade() {
                    let _ = inner
                        .events
                        .send(SessionEvent::Signal(Signal::Candidate { mline, candidate }));
                }
                None
            });
        let w = self.weak();
        self.inner
            .webrtc
            .connect_notify(Some("connection-state"), move |webrtc, _| {
                let Some(inner) = w.upgrade() else { return };
                let state =
                    webrtc.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
                let ev = match state {
                    gst_webrtc::WebRTCPeerConnectionState::Connected => {
                        Some(SessionEvent::Connected)
                    }
                    gst_webrtc::WebRTCPeerConnectionState::Failed => {
                        Some(SessionEvent::Failed("the connection failed".into()))
                    }
                    gst_webrtc::WebRTCPeerConnectionState::Closed
                        if !inner.closed.load(Ordering::SeqCst) =>
                    {
                        Some(SessionEvent::Failed("the connection closed".into()))
                    }
                    _ => None,
                };
                if let Some(ev) = ev {
                    let _ = inner.events.send(ev);
                }
            });
        // NACK on every video transceiver, the receive-only ones webrtcbin
        // makes for a far end's offer included (it makes them while it
        // writes the answer, which carries NACK only where it is set).
        self.inner
            .webrtc
            .connect("on-new-transceiver", false, move |args| {
                if let Some(t) = args
                    .get(1)
                    .and_then(|v| v.get::<gst_webrtc::WebRTCRTPTransceiver>().ok())
                    && t.property::<gst_webrtc::WebRTCKind>("kind") == gst_webrtc::WebRTCKind::Video
                {
                    t.set_property("do-nack", true);
                }
                None
            });
        let w = self.weak();
        self.inner.webrtc.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            if let Some(inner) = w.upgrade() {
                let s = Session { inner };
                if let Err(e) = s.receive(pad) {
                    tracing::warn!(session = %s.inner.id, error = %e, "cannot play a received track");
                }
            }
        });
    }

    fn create_offer(&self) {
        let w = self.weak();
        let p = promise(move |reply| {
            let Some(inner) = w.upgrade() else { return };
            let offer = reply
                .and_then(|r| r.value("offer").ok())
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok());
            let Some(offer) = offer else {
                let _ = inner
                    .events
                    .send(SessionEvent::Failed("could not create an offer".into()));
                return;
            };
            // Queued before it is sent: webrtcbin applies its operations
            // in order, so the answer can never arrive ahead of it. The
            // other side holds back candidates that overtake the offer.
            inner
                .webrtc
                .emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
            if let Ok(sdp) = offer.sdp().as_text() {
                let _ = inner
                    .events
                    .send(SessionEvent::Signal(Signal::Offer { sdp }));
            }
        });
        self.inner
            .webrtc
            .emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &p]);
    }

    /// Applies a message from the other side.
    pub fn handle(&self, signal: Signal) -> Result<(), MediaError> {
        match signal {
            Signal::Offer { sdp } => {
                let desc = parse_sdp(&sdp, gst_webrtc::WebRTCSDPType::Offer)?;
                let w = self.weak();
                let p = promise(move |_| {
                    if let Some(inner) = w.upgrade() {
                        let s = Session { inner };
                        s.flush_candidates();
                        s.create_answer();
                    }
                });
                self.inner
                    .webrtc
                    .emit_by_name::<()>("set-remote-description", &[&desc, &p]);
            }
            Signal::Answer { sdp } => {
                let desc = parse_sdp(&sdp, gst_webrtc::WebRTCSDPType::Answer)?;
                let w = self.weak();
                let p = promise(move |_| {
                    if let Some(inner) = w.upgrade() {
                        Session { inner }.flush_candidates();
                    }
                });
                self.inner
                    .webrtc
                    .emit_by_name::<()>("set-remote-description", &[&desc, &p]);
            }
            Signal::Candidate { mline, candidate } => {
                if candidate.is_empty() {
                    return Ok(()); // end of candidates
                }
                if let Ok(mut pending) = self.inner.pending.lock()
                    && let Some(queue) = pending.as_mut()
                {
                    // Too early: webrtcbin would drop it. Kept until the
                    // other side's description is in.
                    queue.push((mline, candidate));
                    return Ok(());
                }
                self.inner
                    .webrtc
                    .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
            }
        }
        Ok(())
    }

    /// Applies the candidates that came before the remote description.
    fn flush_candidates(&self) {
        let queued = match self.inner.pending.lock() {
            Ok(mut p) => p.take().unwrap_or_default(),
            Err(_) => return,
        };
        for (mline, candidate) in queued {
            self.inner
                .webrtc
                .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
        }
    }

    fn create_answer(&self) {
        let w = self.weak();
        let p = promise(move |reply| {
            let Some(inner) = w.upgrade() else { return };
            let answer = reply
                .and_then(|r| r.value("answer").ok())
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok());
            let Some(answer) = answer else {
                let _ = inner
                    .events
                    .send(SessionEvent::Failed("could not create an answer".into()));
                return;
            };
            inner
                .webrtc
                .emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
            if let Ok(sdp) = answer.sdp().as_text() {
                let _ = inner
                    .events
                    .send(SessionEvent::Signal(Signal::Answer { sdp }));
            }
        });
        self.inner
            .webrtc
            .emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &p]);
    }

    /// Sends video from `tee` (the camera, or a content source) as a new
    /// track. On a session already negotiated this renegotiates: the side
    /// that adds the track makes the offer.
    pub fn add_video_from(
        &self,
        tee: &gst::Element,
        opts: &SessionOptions,
    ) -> Result<(), MediaError> {
        // Whoever adds a track makes the offer for it.
        self.inner.offerer.store(true, Ordering::SeqCst);
        self.video_branch(Some(tee), opts)
    }

    /// Feeds the negotiated content track from `tee` (a content source),
    /// or stops feeding it (`None`). No renegotiation: the track was
    /// agreed at the start ([`SessionOptions::content`]).
    pub fn share(&self, tee: Option<&gst::Element>) -> Result<(), MediaError> {
        let mut slot = self
            .inner
            .content_in
            .lock()
            .map_err(|_| MediaError::link("content"))?;
        let c = slot.as_mut().ok_or_else(|| MediaError::Device {
            device: "content".into(),
            reason: "this call has no content track".into(),
        })?;
        if let Some(old) = c.tee_pad.take() {
            let _ = old.unlink(&c.ghost);
            if let Some(t) = old.parent_element() {
                t.release_request_pad(&old);
            }
        }
        if let Some(tee) = tee {
            let tp = tee
                .request_pad_simple("src_%u")
                .ok_or_else(|| MediaError::link("content tee"))?;
            tp.link(&c.ghost)
                .map_err(|_| MediaError::link("content → session"))?;
            c.tee_pad = Some(tp);
            self.request_keyframe();
        }
        Ok(())
    }

    /// Shows the received video tracks the conference says carry someone
    /// and hides the others: `tracks` maps each m-line id to (shown,
    /// content).
    pub fn set_tracks(&self, tracks: &std::collections::HashMap<String, (bool, bool)>) {
        let Ok(mut recvs) = self.inner.recvs.lock() else {
            return;
        };
        let room = &self.inner.room;
        for r in recvs.iter_mut().filter(|r| r.kind == TrackKind::Video) {
            let mid = r
                .source
                .property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
                .and_then(|t| t.mid());
            let Some((shown, content)) = mid.and_then(|m| tracks.get(m.as_str()).copied()) else {
                continue;
            };
            if !shown {
                room.remove_tile(&r.id);
            } else if (!room.has_tile(&r.id) || r.content != content)
                && let Some(crop) = &r.crop
            {
                r.content = content;
                room.add_tile(
                    Tile {
                        id: r.id.clone(),
                        local: false,
                        content,
                    },
                    r.room_pad.clone(),
                    crop.clone(),
                );
            }
        }
    }

    /// Asks every sending encoder for a keyframe now (a new subscriber).
    pub fn request_keyframe(&self) {
        if let Ok(sends) = self.inner.sends.lock() {
            for s in sends.iter() {
                let ev = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                if let Some(pad) = s.encoder.static_pad("sink") {
                    pad.send_event(ev);
                }
            }
        }
    }

    /// Ends the session: its bin leaves the pipeline and reaches `Null`,
    /// and its tiles and mixer inputs are released.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(mut sends) = inner.sends.lock() {
            for s in sends.drain(..) {
                if let Some(peer) = s.tee_pad.peer() {
                    let _ = s.tee_pad.unlink(&peer);
                }
                if let Some(tee) = s.tee_pad.parent_element() {
                    tee.release_request_pad(&s.tee_pad);
                }
            }
        }
        if let Ok(mut recvs) = inner.recvs.lock() {
            for r in recvs.drain(..) {
                inner.room.forget_track(&r.id);
                if r.kind == TrackKind::Video {
                    inner.room.remove_tile(&r.id);
                    if let Ok(mut f) = inner.room.stats.remote_frames.lock() {
                        f.remove(&r.id);
                    }
                } else if let Ok(mut l) = inner.room.stats.remote_levels_db.lock() {
                    l.remove(&r.id);
                }
                if let Some(peer) = r.room_pad.peer() {
                    let _ = peer.unlink(&r.room_pad);
                }
                if let Some(parent) = r.room_pad.parent_element() {
                    parent.release_request_pad(&r.room_pad);
                }
            }
        }
        if let Ok(mut m) = inner.room.stats.send_video.lock() {
            m.remove(&inner.id);
        }
        let _ = inner.bin.set_state(gst::State::Null);
        let _ = inner.room.pipeline.remove(&inner.bin);
    }

    /// Remote track ids, with their kinds.
    pub fn remote_tracks(&self) -> Vec<(String, TrackKind)> {
        self.inner
            .recvs
            .lock()
            .map(|r| r.iter().map(|b| (b.id.clone(), b.kind)).collect())
            .unwrap_or_default()
    }

    /// Whether `msg` came from inside this session's bin.
    pub fn owns(&self, msg: &gst::Message) -> bool {
        let name = format!("session-{}", self.inner.id);
        super::room::ancestry(msg).contains(&name)
    }
}

/// Answers every caps query that reaches `pad` with `caps(pad)` within the
/// query's filter, so that the query goes no further downstream.
fn answer_caps_queries(
    pad: &gst::Pad,
    caps: impl Fn(&gst::Pad) -> gst::Caps + Send + Sync + 'static,
) {
    pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, move |pad, info| {
        let Some(gst::PadProbeData::Query(query)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::QueryViewMut::Caps(q) = query.view_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let ours = caps(pad);
        let answer = match q.filter() {
            Some(filter) => filter.intersect_with_mode(&ours, gst::CapsIntersectMode::First),
            None => ours,
        };
        q.set_result(&answer);
        gst::PadProbeReturn::Handled
    });
}

/// A random RTP SSRC (RFC 3550 §8.1).
pub(crate) fn random_ssrc() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // No kernel entropy: time and a counter still keep two senders in
        // one process apart, which is all an SSRC has to do here.
        static N: AtomicU32 = AtomicU32::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return t ^ N.fetch_add(0x9e37_79b9, Ordering::Relaxed);
    }
    u32::from_ne_bytes(b)
}

pub(crate) fn parse_sdp(
    sdp: &str,
    kind: gst_webrtc::WebRTCSDPType,
) -> Result<gst_webrtc::WebRTCSessionDescription, MediaError> {
    let msg =
        gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|_| MediaError::Device {
            device: "sdp".into(),
            reason: "the session description does not parse".into(),
        })?;
    Ok(gst_webrtc::WebRTCSessionDescription::new(kind, msg))
}

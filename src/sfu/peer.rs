//! One participant's WebRTC peer on the server: a webrtcbin in the
//! conference's pipeline. The server always makes the offers.
//!
//! m-lines, in order: what the participant sends (microphone, camera,
//! content: receive-only here), then what it receives (the server's own
//! sounds, `audio` speaker slots, `video` tiles, one content slot:
//! send-only here, each with a fixed SSRC). Every send-only track is fed
//! from a pad of ours that the router pushes rewritten RTP into; webrtcbin
//! holds buffers back until the track is negotiated, so the router checks
//! [`Out::ready`] first instead of stalling its thread.
//!
//! In GStreamer 1.22 a send track must be made by requesting a sink pad
//! and then configuring its transceiver (asking for a pad with caps binds
//! the wrong transceiver), and received packets keep their RFC 6464
//! audio-level extension up to webrtcbin's source pads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;
use tokio::sync::mpsc;

use super::SfuConfig;
use super::loss::induced_drop;
use crate::media::MediaError;
use crate::media::webrtc::{Signal, parse_sdp, promise, random_ssrc};

/// A participant's connection's repairs ([`Peer::repair`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerRepair {
    /// Retransmissions the server asked of the participant.
    pub nacks_sent: u64,
    /// Of those, how many arrived in time.
    pub nacks_answered: u64,
    /// Retransmitted packets that came back from the participant at all,
    /// in time or not (its retransmission receivers).
    pub retransmissions_received: u64,
    /// Retransmissions the participant asked of the server.
    pub nacks_received: u64,
    /// Packets the server sent again.
    pub retransmitted: u64,
}

impl PeerRepair {
    pub fn add(&mut self, o: &PeerRepair) {
        self.nacks_sent += o.nacks_sent;
        self.nacks_answered += o.nacks_answered;
        self.retransmissions_received += o.retransmissions_received;
        self.nacks_received += o.nacks_received;
        self.retransmitted += o.retransmitted;
    }
}

/// A stream a participant sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Audio,
    Video,
    Content,
    /// The conference's own sounds (not from a participant).
    Server,
}

/// A track a participant receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutKind {
    Server,
    Audio,
    Video,
    Content,
}

impl OutKind {
    /// The kind of source that feeds it.
    pub fn track(self) -> Track {
        match self {
            OutKind::Server => Track::Server,
            OutKind::Audio => Track::Audio,
            OutKind::Video => Track::Video,
            OutKind::Content => Track::Content,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutKind::Server => "server",
            OutKind::Audio => "audio",
            OutKind::Video => "video",
            OutKind::Content => "content",
        }
    }
}

/// The audio-level extension's id in every offer.
pub const AUDIO_LEVEL_EXT: u8 = 1;
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub const OPUS_PT: u8 = 111;
pub const VP8_PT: u8 = 96;

pub fn opus_caps(ssrc: Option<u32>, level: bool) -> gst::Caps {
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", OPUS_PT as i32)
        .field("clock-rate", 48_000i32)
        .field("encoding-params", "2")
        .field("useinbandfec", "1");
    if level {
        b = b.field(format!("extmap-{AUDIO_LEVEL_EXT}"), AUDIO_LEVEL_URI);
    }
    if let Some(s) = ssrc {
        b = b.field("ssrc", s);
    }
    b.build()
}

pub fn vp8_caps(ssrc: Option<u32>) -> gst::Caps {
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "VP8")
        .field("payload", VP8_PT as i32)
        .field("clock-rate", 90_000i32)
        .field("rtcp-fb-nack", true)
        .field("rtcp-fb-nack-pli", true)
        .field("rtcp-fb-ccm-fir", true);
    if let Some(s) = ssrc {
        b = b.field("ssrc", s);
    }
    b.build()
}

/// How many of each track a participant receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub audio: usize,
    pub video: usize,
    /// Held for the host: hears the server's sounds only, sends nothing.
    pub listen_only: bool,
}

/// Where the router's packets and requests go.
pub trait Hub: Send + Sync {
    /// An RTP packet arrived from `member`'s `track`.
    fn inbound(&self, member: &str, track: Track, buf: &gst::BufferRef);
    /// `member`'s decoder lost the picture on its out track `out`.
    fn wants_keyframe(&self, member: &str, out: usize);
}

/// What a peer tells its participant's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    Signal(Signal),
    Connected,
    Failed(String),
    /// Which participant each received track now shows.
    Tracks(Vec<super::signal::TrackInfo>),
}

/// A send-only track and the pad that feeds it.
pub struct Out {
    pub kind: OutKind,
    pub ssrc: u32,
    src: gst::Pad,
    sink: gst::Pad,
    transceiver: gst_webrtc::WebRTCRTPTransceiver,
}

impl Out {
    /// Negotiated: webrtcbin takes buffers without holding the pushing
    /// thread.
    pub fn ready(&self) -> bool {
        !self.sink.is_blocked()
    }

    pub fn mid(&self) -> Option<String> {
        self.transceiver.mid().map(|m| m.to_string())
    }

    pub fn push(&self, packet: Vec<u8>, pts: Option<gst::ClockTime>) {
        let mut b = gst::Buffer::from_mut_slice(packet);
        if let Some(b) = b.get_mut() {
            b.set_pts(pts);
        }
        // Flushing or not linked during teardown: nothing to do.
        let _ = self.src.push(b);
    }
}

pub struct Peer {
    pub member: String,
    pipeline: gst::Pipeline,
    bin: gst::Bin,
    webrtc: gst::Element,
    pub outs: Vec<Out>,
    recv: Vec<(gst_webrtc::WebRTCRTPTransceiver, Track)>,
    /// Where keyframe requests for each received track are pushed.
    inbound: Mutex<HashMap<Track, gst::Pad>>,
    /// Remote candidates held until the first answer is in.
    pending: Mutex<Option<Vec<(u32, String)>>>,
    events: mpsc::UnboundedSender<PeerEvent>,
    closed: AtomicBool,
    /// When the peer was made: how long its participant took to answer.
    created: std::time::Instant,
}

impl Peer {
    /// Builds the peer in `pipeline`; its first offer follows on `events`.
    pub fn new(
        pipeline: &gst::Pipeline,
        n: u64,
        member: &str,
        shape: Shape,
        hub: Weak<dyn Hub>,
        events: mpsc::UnboundedSender<PeerEvent>,
        config: SfuConfig,
    ) -> Result<Arc<Self>, MediaError> {
        let created = std::time::Instant::now();
        let bin = gst::Bin::builder().name(format!("peer-{n}")).build();
        let webrtc = crate::media::build::make("webrtcbin", "webrtc")?;
        webrtc.set_property_from_str("bundle-policy", "max-bundle");
        webrtc.set_property("latency", config.jitter_ms);
        crate::media::repair::tune_feedback(&webrtc);
        if config.induced_loss_permille > 0 {
            induce_loss(&bin, config.induced_loss_permille);
        }
        bin.add(&webrtc).map_err(|_| MediaError::link("peer"))?;
        pipeline.add(&bin).map_err(|_| MediaError::link("peer"))?;

        let mut recv = Vec::new();
        if !shape.listen_only {
            for (track, caps) in [
                (Track::Audio, opus_caps(None, true)),
                (Track::Video, vp8_caps(None)),
                (Track::Content, vp8_caps(None)),
            ] {
                let t = webrtc.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                    "add-transceiver",
                    &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &caps],
                );
                // Retransmission for video only: browsers offer no RTX for
                // audio and refuse an audio m-line that groups SSRCs.
                t.set_property("do-nack", track != Track::Audio);
                recv.push((t, track));
            }
        }
        let mut kinds = vec![OutKind::Server];
        if !shape.listen_only {
            kinds.extend(std::iter::repeat_n(OutKind::Audio, shape.audio));
            kinds.extend(std::iter::repeat_n(OutKind::Video, shape.video));
            kinds.push(OutKind::Content);
        }
        let templ = gst::PadTemplate::new(
            "src",
            gst::PadDirection::Src,
            gst::PadPresence::Always,
            &gst::Caps::new_any(),
        )
        .map_err(|_| MediaError::link("peer pad template"))?;
        let mut outs = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let ssrc = random_ssrc();
            let caps = match kind {
                OutKind::Server | OutKind::Audio => opus_caps(Some(ssrc), false),
                OutKind::Video | OutKind::Content => vp8_caps(Some(ssrc)),
            };
            let sink = webrtc
                .request_pad_simple("sink_%u")
                .ok_or_else(|| MediaError::link("webrtcbin sink"))?;
            let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
            transceiver.set_property(
                "direction",
                gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
            );
            transceiver.set_property("codec-preferences", &caps);
            transceiver.set_property("do-nack", matches!(kind, OutKind::Video | OutKind::Content));
            let h = hub.clone();
            let who = member.to_string();
            let src = gst::Pad::builder_from_template(&templ)
                .name(format!("out{i}"))
                .event_function(move |_, _, ev| {
                    if gst_video::ForceKeyUnitEvent::is(&ev)
                        && let Some(h) = h.upgrade()
                    {
                        h.wants_keyframe(&who, i);
                    }
                    true
                })
                .build();
            src.set_active(true)
                .map_err(|_| MediaError::link("peer pad"))?;
            src.link(&sink)
                .map_err(|_| MediaError::link("peer pad → webrtcbin"))?;
            outs.push(Out {
                kind,
                ssrc,
                src,
                sink,
                transceiver,
            });
        }
        let peer = Arc::new(Peer {
            member: member.to_string(),
            pipeline: pipeline.clone(),
            bin,
            webrtc,
            outs,
            recv,
            inbound: Mutex::new(HashMap::new()),
            pending: Mutex::new(Some(Vec::new())),
            events,
            closed: AtomicBool::new(false),
            created,
        });
        peer.connect(hub);
        peer.bin
            .sync_state_with_parent()
            .map_err(|_| MediaError::State {
                pipeline: format!("peer {member}"),
                state: "PLAYING".into(),
                reason: "the peer did not start".into(),
            })?;
        // Events pass webrtcbin's hold, buffers wait for negotiation. The
        // caps must reach webrtcbin's (now active) sink pads before the
        // answer: webrtcbin connects only pads that have caps, and buffers
        // (which would carry the sticky events later) wait for that.
        for (i, out) in peer.outs.iter().enumerate() {
            let caps = match out.kind {
                OutKind::Server | OutKind::Audio => opus_caps(Some(out.ssrc), false),
                OutKind::Video | OutKind::Content => vp8_caps(Some(out.ssrc)),
            };
            out.src.push_event(gst::event::StreamStart::new(&format!(
                "{member}-{i}-{}",
                out.ssrc
            )));
            out.src.push_event(gst::event::Caps::new(&caps));
            out.src
                .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
        }
        Ok(peer)
    }

    fn connect(self: &Arc<Self>, hub: Weak<dyn Hub>) {
        let w = Arc::downgrade(self);
        self.webrtc
            .connect("on-negotiation-needed", false, move |_| {
                if let Some(p) = w.upgrade() {
                    p.offer();
                }
                None
            });
        let w = Arc::downgrade(self);
        self.webrtc.connect("on-ice-candidate", false, move |args| {
            let mline = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
            let candidate = args
                .get(2)
                .and_then(|v| v.get::<String>().ok())
                .unwrap_or_default();
            if let Some(p) = w.upgrade() {
                let _ = p
                    .events
                    .send(PeerEvent::Signal(Signal::Candidate { mline, candidate }));
            }
            None
        });
        let w = Arc::downgrade(self);
        self.webrtc
            .connect_notify(Some("connection-state"), move |webrtc, _| {
                let Some(p) = w.upgrade() else { return };
                let state =
                    webrtc.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
                let ev = match state {
                    gst_webrtc::WebRTCPeerConnectionState::Connected => Some(PeerEvent::Connected),
                    gst_webrtc::WebRTCPeerConnectionState::Failed => {
                        Some(PeerEvent::Failed("the media connection failed".into()))
                    }
                    _ => None,
                };
                if let Some(ev) = ev
                    && !p.closed.load(Ordering::SeqCst)
                {
                    let _ = p.events.send(ev);
                }
            });
        let w = Arc::downgrade(self);
        self.webrtc.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            if let Some(p) = w.upgrade() {
                p.inbound_pad(pad, hub.clone());
            }
        });
    }

    /// A received stream: counted and forwarded by the hub from a probe,
    /// then dropped into a fakesink.
    fn inbound_pad(&self, pad: &gst::Pad, hub: Weak<dyn Hub>) {
        let trans = pad.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver");
        let Some(track) = trans.and_then(|t| {
            self.recv
                .iter()
                .find(|(r, _)| *r == t)
                .map(|(_, track)| *track)
        }) else {
            tracing::debug!(member = %self.member, pad = %pad.name(), "unexpected stream; dropped");
            return;
        };
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .property("enable-last-sample", false)
            .build()
        else {
            return;
        };
        if self.bin.add(&sink).is_err() {
            return;
        }
        let _ = sink.sync_state_with_parent();
        let Some(sink_pad) = sink.static_pad("sink") else {
            return;
        };
        let member = self.member.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(h), Some(gst::PadProbeData::Buffer(b))) = (hub.upgrade(), &info.data) {
                h.inbound(&member, track, b);
            }
            gst::PadProbeReturn::Ok
        });
        if pad.link(&sink_pad).is_err() {
            tracing::warn!(member = %self.member, "cannot link a received stream");
            return;
        }
        if let Ok(mut m) = self.inbound.lock() {
            m.insert(track, sink_pad);
        }
        tracing::debug!(member = %self.member, ?track, "receiving");
    }

    /// Asks the participant's encoder for a keyframe (RTCP PLI).
    pub fn request_keyframe(&self, track: Track) {
        let pad = self
            .inbound
            .lock()
            .ok()
            .and_then(|m| m.get(&track).cloned());
        if let Some(p) = pad {
            p.push_event(
                gst_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(false)
                    .build(),
            );
        }
    }

    /// Whether the participant's `track` has arrived.
    pub fn receiving(&self, track: Track) -> bool {
        self.inbound
            .lock()
            .map(|m| m.contains_key(&track))
            .unwrap_or(false)
    }

    /// The pipeline's running time now: the stamp for pushed packets
    /// (never in the future: webrtcbin's sender would wait for it).
    pub fn now(&self) -> Option<gst::ClockTime> {
        self.pipeline.current_running_time()
    }

    fn offer(self: &Arc<Self>) {
        let w = Arc::downgrade(self);
        let p = promise(move |reply| {
            let Some(peer) = w.upgrade() else { return };
            let offer = reply
                .and_then(|r| r.value("offer").ok())
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok());
            let Some(offer) = offer else {
                let _ = peer
                    .events
                    .send(PeerEvent::Failed("could not create an offer".into()));
                return;
            };
            peer.webrtc
                .emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
            if let Ok(sdp) = offer.sdp().as_text() {
                let _ = peer.events.send(PeerEvent::Signal(Signal::Offer { sdp }));
            }
        });
        self.webrtc
            .emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &p]);
    }

    /// Applies a message from the participant: answers and candidates.
    pub fn handle(self: &Arc<Self>, signal: Signal) -> Result<(), MediaError> {
        match signal {
            Signal::Answer { sdp } => {
                let desc = parse_sdp(&sdp, gst_webrtc::WebRTCSDPType::Answer)?;
                let w = Arc::downgrade(self);
                let p = promise(move |reply| {
                    if let Some(peer) = w.upgrade() {
                        if let Some(e) = reply.and_then(|r| r.value("error").ok()) {
                            tracing::warn!(member = %peer.member, error = ?e, "the participant's answer was not applied");
                        } else {
                            // Media held for this participant flows from here.
                            tracing::info!(
                                member = %peer.member,
                                after_ms = peer.created.elapsed().as_millis() as u64,
                                "the participant's answer is applied"
                            );
                        }
                        peer.flush_candidates();
                    }
                });
                self.webrtc
                    .emit_by_name::<()>("set-remote-description", &[&desc, &p]);
                Ok(())
            }
            Signal::Candidate { mline, candidate } => {
                if candidate.is_empty() {
                    return Ok(());
                }
                if let Ok(mut pending) = self.pending.lock()
                    && let Some(q) = pending.as_mut()
                {
                    q.push((mline, candidate));
                    return Ok(());
                }
                self.webrtc
                    .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
                Ok(())
            }
            Signal::Offer { .. } => Err(MediaError::Device {
                device: "signalling".into(),
                reason: "the server makes the offers; send an answer".into(),
            }),
        }
    }

    fn flush_candidates(&self) {
        let queued = match self.pending.lock() {
            Ok(mut p) => p.take().unwrap_or_default(),
            Err(_) => return,
        };
        for (mline, candidate) in queued {
            self.webrtc
                .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
        }
    }

    /// What this connection repaired: the NACKs the server sent its
    /// participant for lost packets and how many of those came back in
    /// time (its jitter buffers), and the NACKs the participant sent for
    /// what the server forwarded and the packets sent again (its
    /// retransmission senders).
    pub fn repair(&self) -> PeerRepair {
        let mut r = PeerRepair::default();
        let Some(bin) = self.webrtc.downcast_ref::<gst::Bin>() else {
            return r;
        };
        let mut it = bin.iterate_recurse();
        while let Ok(Some(e)) = it.next() {
            match e.factory().map(|f| f.name().to_string()).as_deref() {
                Some("rtpjitterbuffer") => {
                    let st = e.property::<gst::Structure>("stats");
                    let get = |k: &str| st.get::<u64>(k).unwrap_or(0);
                    r.nacks_sent += get("rtx-count");
                    r.nacks_answered += get("rtx-success-count");
                }
                Some("rtprtxreceive") => {
                    r.retransmissions_received +=
                        u64::from(e.property::<u32>("num-rtx-assoc-packets"));
                }
                Some("rtprtxsend") => {
                    r.nacks_received += u64::from(e.property::<u32>("num-rtx-requests"));
                    r.retransmitted += u64::from(e.property::<u32>("num-rtx-packets"));
                }
                _ => {}
            }
        }
        r
    }

    /// Leaves the pipeline; every element reaches `Null`.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        for o in &self.outs {
            let _ = o.src.set_active(false);
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = self.pipeline.remove(&self.bin);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Drops `permille` of the packets that reach the peer's connection from
/// its participant and that leave for it, encrypted, where the network
/// would lose them (`conference.induced_loss_permille`): ICE's source and
/// sink, made inside webrtcbin once it sets up its transport.
fn induce_loss(bin: &gst::Bin, permille: u32) {
    bin.connect("deep-element-added", false, move |args| {
        let element = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
        let factory = element.factory().map(|f| f.name().to_string());
        let pad = match factory.as_deref() {
            Some("nicesrc") => element.static_pad("src"),
            Some("nicesink") => element.static_pad("sink"),
            _ => None,
        };
        if let Some(pad) = pad {
            let n = std::sync::atomic::AtomicU64::new(0);
            let next = move || n.fetch_add(1, Ordering::Relaxed);
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| match &mut info.data {
                    Some(gst::PadProbeData::Buffer(_)) => {
                        if induced_drop(next(), permille) {
                            gst::PadProbeReturn::Drop
                        } else {
                            gst::PadProbeReturn::Ok
                        }
                    }
                    Some(gst::PadProbeData::BufferList(list)) => {
                        let list = list.make_mut();
                        for i in (0..list.len()).rev() {
                            if induced_drop(next(), permille) {
                                list.remove(i..i + 1);
                            }
                        }
                        gst::PadProbeReturn::Ok
                    }
                    _ => gst::PadProbeReturn::Ok,
                },
            );
        }
        None
    });
}

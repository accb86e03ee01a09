//! A far-end video track after packet loss: what the room asks for, and
//! what it counts.
//!
//! Loss on the way to the room is repaired in two steps. The jitter buffer
//! asks for a lost packet again (NACK, negotiated on every video
//! transceiver) while it can still arrive in time. A packet lost for good
//! leaves the depayloader waiting for the next keyframe: it drops what
//! cannot be decoded cleanly and asks the sender for a keyframe at once
//! (a force-key-unit event that webrtcbin sends as a PLI); the decoder
//! discards any frame it finds corrupted. Meanwhile the display keeps the
//! last good picture: a short freeze, never blocks of garbage.
//!
//! [`TrackRepair`] counts this per track for `/status` and `/metrics`:
//! packets received, lost for good and late (the jitter buffer's own
//! figures), NACKs sent and answered, keyframe requests, and freezes
//! ([`Freezes`], sans-IO: a gap between pictures longer than [`FREEZE`]).

use gst::prelude::*;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A gap between two shown pictures longer than this is a freeze (ns).
pub const FREEZE: u64 = 600_000_000;

/// Gaps between pictures, from their running times (sans-IO).
#[derive(Debug, Default, Clone)]
pub struct Freezes {
    last: Option<u64>,
    pub count: u64,
    /// Time spent frozen, the frozen gaps added up (ns).
    pub frozen: u64,
    /// The longest gap between two pictures (ns).
    pub longest: u64,
}

impl Freezes {
    /// A picture at running time `at`. Returns the gap when it ended a
    /// freeze.
    pub fn on_picture(&mut self, at: u64) -> Option<u64> {
        let last = self.last.replace(at.max(self.last.unwrap_or(0)))?;
        let gap = at.saturating_sub(last);
        self.longest = self.longest.max(gap);
        if gap > FREEZE {
            self.count += 1;
            self.frozen = self.frozen.saturating_add(gap);
            return Some(gap);
        }
        None
    }
}

/// What one far-end track has lost and how it was repaired.
#[derive(Debug, Default)]
pub struct TrackRepair {
    keyframe_requests: AtomicU64,
    freezes: Mutex<Freezes>,
    /// The track's jitter buffer, for its loss and NACK figures.
    jitterbuffer: Mutex<Option<gst::glib::WeakRef<gst::Element>>>,
}

/// [`TrackRepair`]'s figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairCounts {
    /// Packets the jitter buffer passed on.
    pub packets_received: u64,
    /// Packets given up for lost (never arrived, not even when asked again).
    pub packets_lost: u64,
    /// Packets that arrived after their time had passed.
    pub packets_late: u64,
    /// Retransmissions asked for (NACKs).
    pub nacks_sent: u64,
    /// Of those, how many arrived in time.
    pub nacks_answered: u64,
    /// Keyframes asked of the sender (sent as PLIs).
    pub keyframe_requests: u64,
    /// Gaps between pictures longer than [`FREEZE`], and their total (ms).
    pub freezes: u64,
    pub frozen_ms: u64,
    /// The longest gap between two pictures (ms).
    pub longest_freeze_ms: u64,
}

impl RepairCounts {
    /// Adds `o`'s figures to these.
    pub fn add(&mut self, o: &RepairCounts) {
        self.packets_received += o.packets_received;
        self.packets_lost += o.packets_lost;
        self.packets_late += o.packets_late;
        self.nacks_sent += o.nacks_sent;
        self.nacks_answered += o.nacks_answered;
        self.keyframe_requests += o.keyframe_requests;
        self.freezes += o.freezes;
        self.frozen_ms += o.frozen_ms;
        self.longest_freeze_ms = self.longest_freeze_ms.max(o.longest_freeze_ms);
    }
}

impl TrackRepair {
    /// Repairs and watches a track: `depay_sink` is where its packets
    /// enter the depayloader (keyframe requests leave there), `shown` a
    /// pad its decoded pictures pass, `source` webrtcbin's pad it comes
    /// from.
    ///
    /// The track's jitter buffer asks for lost packets again from here on:
    /// webrtcbin (1.22) negotiates NACK and retransmission but leaves its
    /// jitter buffers' requests off in a bundle (measured: every one had
    /// `do-retransmission` false, and not one NACK was sent under 2% loss).
    pub fn attach(
        self: &std::sync::Arc<Self>,
        depay_sink: &gst::Pad,
        shown: &gst::Pad,
        source: &gst::Pad,
    ) {
        if let Some(e) = upstream_jitterbuffer(source) {
            e.set_property("do-retransmission", true);
            if let Ok(mut jb) = self.jitterbuffer.lock() {
                *jb = Some(e.downgrade());
            }
        }
        let me = std::sync::Arc::downgrade(self);
        depay_sink.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let (Some(me), Some(gst::PadProbeData::Event(ev))) =
                (me.upgrade(), info.data.as_ref())
                && gst_video::ForceKeyUnitEvent::is(ev)
            {
                me.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        let me = std::sync::Arc::downgrade(self);
        shown.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(me) = me.upgrade() else {
                return gst::PadProbeReturn::Remove;
            };
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                && let Some(pts) = buf.pts()
                && let Some(seg) = pad.sticky_event::<gst::event::Segment>(0)
                && let Some(seg) = seg.segment().downcast_ref::<gst::ClockTime>()
                && let Some(at) = seg.to_running_time(pts)
                && let Ok(mut f) = me.freezes.lock()
                && let Some(gap) = f.on_picture(at.nseconds())
            {
                tracing::info!(gap_ms = gap / 1_000_000, "far-end picture froze");
            }
            gst::PadProbeReturn::Ok
        });
    }

    pub fn counts(&self) -> RepairCounts {
        let (freezes, frozen, longest) = self
            .freezes
            .lock()
            .map(|f| (f.count, f.frozen, f.longest))
            .unwrap_or_default();
        let mut c = RepairCounts {
            keyframe_requests: self.keyframe_requests.load(Ordering::Relaxed),
            freezes,
            frozen_ms: frozen / 1_000_000,
            longest_freeze_ms: longest / 1_000_000,
            ..Default::default()
        };
        let jb = self
            .jitterbuffer
            .lock()
            .ok()
            .and_then(|j| j.as_ref().and_then(|w| w.upgrade()));
        if let Some(jb) = jb {
            let s = jb.property::<gst::Structure>("stats");
            let get = |f: &str| s.get::<u64>(f).unwrap_or(0);
            c.packets_received = get("num-pushed");
            c.packets_lost = get("num-lost");
            c.packets_late = get("num-late");
            c.nacks_sent = get("rtx-count");
            c.nacks_answered = get("rtx-success-count");
        }
        c
    }
}

/// RTCP's share of a session's bandwidth (RTP/AVPF allows one early
/// feedback packet per regular RTCP interval; the default 5% spaced them
/// 150-400 ms apart at 300 kbit/s, so NACKs and PLIs left too late).
const RTCP_FRACTION: f64 = 0.2;

/// Makes the feedback of every RTP session `webrtc` makes leave in time
/// to repair a loss: measured with 2% of the packets lost on a loopback
/// call, a retransmission came back 150-440 ms after the loss (too late
/// for the jitter buffer) and 1-3 ms after it with this.
///
/// - RTCP gets a fifth of the bandwidth, so a NACK or PLI waits
///   for the next early feedback slot tens of milliseconds, not hundreds.
/// - The jitter buffers ask for a packet once it is seen missing, not
///   also for the next one before it is due (`rtx-next-seqnum`): pictures
///   of one or two packets come 66 ms apart, and those guesses were
///   early NACKs that used up the early feedback slot.
pub fn tune_feedback(webrtc: &gst::Element) {
    let Some(bin) = webrtc.downcast_ref::<gst::Bin>() else {
        return;
    };
    bin.connect("deep-element-added", false, |args| {
        let element = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
        match element.factory().map(|f| f.name()).as_deref() {
            Some("rtpsession") => element.set_property("rtcp-fraction", RTCP_FRACTION),
            Some("rtpjitterbuffer") => element.set_property("rtx-next-seqnum", false),
            _ => {}
        }
        None
    });
}

/// The jitter buffer a webrtcbin source pad's packets come through:
/// through ghost pads and the elements between, upstream.
fn upstream_jitterbuffer(pad: &gst::Pad) -> Option<gst::Element> {
    let mut at = pad.clone();
    for _ in 0..32 {
        if let Some(target) = at.downcast_ref::<gst::GhostPad>().and_then(|g| g.target()) {
            at = target;
            continue;
        }
        let element = at.parent_element()?;
        if element
            .factory()
            .is_some_and(|f| f.name() == "rtpjitterbuffer")
        {
            return Some(element);
        }
        at = element.sink_pads().into_iter().next()?.peer()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn pictures_at_their_pace_are_no_freeze() {
        let mut f = Freezes::default();
        for i in 0..300 {
            assert_eq!(f.on_picture(i * 33 * MS), None);
        }
        assert_eq!(f.count, 0);
    }

    #[test]
    fn a_gap_longer_than_the_limit_is_one_freeze_with_its_length() {
        let mut f = Freezes::default();
        f.on_picture(0);
        f.on_picture(33 * MS);
        assert_eq!(f.on_picture(1_033 * MS), Some(1_000 * MS));
        f.on_picture(1_066 * MS);
        assert_eq!((f.count, f.frozen, f.longest), (1, 1_000 * MS, 1_000 * MS));
    }

    #[test]
    fn a_picture_stamped_earlier_than_the_last_is_no_freeze_and_no_panic() {
        let mut f = Freezes::default();
        f.on_picture(5_000 * MS);
        assert_eq!(f.on_picture(0), None);
        assert_eq!(f.on_picture(5_033 * MS), None);
        assert_eq!(f.on_picture(u64::MAX), Some(u64::MAX - 5_033 * MS));
        assert_eq!(f.count, 1);
    }
}

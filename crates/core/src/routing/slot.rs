//! One forwarding slot: a track a participant receives (one video tile or
//! one audio stream) whose source the router changes as the podium and
//! the speakers change.
//!
//! The receiver sees one steady stream: one SSRC, sequence numbers and
//! timestamps that carry on across source changes. A new video source is
//! only let through from its next keyframe (the receiver's decoder cannot
//! start anywhere else); until then the slot asks for one. Time is passed
//! in.

use std::time::Duration;

use super::rtp::{self, Header, Rewrite};

/// What is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    pub fn clock_rate(self) -> u32 {
        match self {
            Kind::Audio => 48_000,
            Kind::Video => 90_000,
        }
    }
}

/// How often a slot waiting for a keyframe asks again.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// The mapping from the current source's numbering to the slot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    ssrc_in: u32,
    seq_delta: u16,
    ts_delta: u32,
}

/// What the slot did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// Send this rewritten packet.
    Send(Vec<u8>),
    /// Not for this slot (another source, or not yet a keyframe).
    Drop,
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub kind: Kind,
    pub ssrc: u32,
    pub payload_type: u8,
    source: Option<String>,
    mapping: Option<Mapping>,
    /// The last packet sent: sequence number, timestamp, when.
    last: Option<(u16, u32, Duration)>,
    /// A video source change waits for a keyframe ...
    awaiting_keyframe: bool,
    /// ... asked for at this time (`None`: ask now).
    asked: Option<Duration>,
    pub sent_packets: u64,
}

impl Slot {
    pub fn new(kind: Kind, ssrc: u32, payload_type: u8) -> Self {
        Self {
            kind,
            ssrc,
            payload_type,
            source: None,
            mapping: None,
            last: None,
            awaiting_keyframe: false,
            asked: None,
            sent_packets: 0,
        }
    }

    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Points the slot at `source` (or nothing). Returns true when the
    /// caller should ask that source for a keyframe now.
    pub fn assign(&mut self, source: Option<&str>, now: Duration) -> bool {
        if self.source.as_deref() == source {
            return false;
        }
        self.source = source.map(str::to_string);
        self.mapping = None;
        match (self.kind, source) {
            (Kind::Video, Some(_)) => {
                self.awaiting_keyframe = true;
                self.asked = Some(now);
                true
            }
            _ => {
                self.awaiting_keyframe = false;
                false
            }
        }
    }

    /// Whether the slot still waits for a keyframe and it is time to ask
    /// again (packet loss can eat the first request or its answer).
    pub fn keyframe_due(&mut self, now: Duration) -> bool {
        let due = self.awaiting_keyframe
            && self
                .asked
                .is_none_or(|asked| now.saturating_sub(asked) >= KEYFRAME_RETRY);
        if due {
            self.asked = Some(now);
        }
        due
    }

    /// The receiver lost the picture (PLI/FIR): its decoder needs a
    /// keyframe from the current source. Returns the source to ask.
    pub fn receiver_wants_keyframe(&self) -> Option<&str> {
        if self.kind == Kind::Video {
            self.source.as_deref()
        } else {
            None
        }
    }

    /// Offers a packet from `from`, parsed as `h`.
    pub fn forward(&mut self, from: &str, buf: &[u8], h: &Header, now: Duration) -> Forward {
        if self.source.as_deref() != Some(from) {
            return Forward::Drop;
        }
        let fresh = match self.mapping {
            Some(m) if m.ssrc_in == h.ssrc => None,
            // A new source, or the same participant restarted its stream.
            _ => Some(h),
        };
        if let Some(h) = fresh {
            if self.kind == Kind::Video {
                let key = rtp::vp8(&buf[h.payload.0..h.payload.1]).is_some_and(|v| v.keyframe);
                if !key {
                    if !self.awaiting_keyframe {
                        // The stream restarted under us: ask right away.
                        self.awaiting_keyframe = true;
                        self.asked = None;
                    }
                    self.mapping = None;
                    return Forward::Drop;
                }
            }
            self.awaiting_keyframe = false;
            let (seq_out, ts_out) = match self.last {
                // Carry on one past the last packet, with the wall time
                // between them on the media clock.
                Some((seq, ts, at)) => {
                    let ticks = ((now.saturating_sub(at).as_secs_f64()
                        * self.kind.clock_rate() as f64) as u32)
                        .max(1);
                    (seq.wrapping_add(1), ts.wrapping_add(ticks))
                }
                None => (h.seq, h.timestamp),
            };
            self.mapping = Some(Mapping {
                ssrc_in: h.ssrc,
                seq_delta: seq_out.wrapping_sub(h.seq),
                ts_delta: ts_out.wrapping_sub(h.timestamp),
            });
        }
        let Some(m) = self.mapping else {
            return Forward::Drop;
        };
        let seq = h.seq.wrapping_add(m.seq_delta);
        let timestamp = h.timestamp.wrapping_add(m.ts_delta);
        // Remember the newest packet (reordered old ones do not move it back).
        let newer = self
            .last
            .is_none_or(|(s, _, _)| (seq.wrapping_sub(s) as i16) > 0 || fresh.is_some());
        if newer {
            self.last = Some((seq, timestamp, now));
        }
        self.sent_packets += 1;
        Forward::Send(rtp::rewrite(
            buf,
            h,
            Rewrite {
                ssrc: self.ssrc,
                seq,
                timestamp,
                payload_type: self.payload_type,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtp::{packet, parse};
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = &[0x10, 0x00, 0x9d];
    const DELTA: &[u8] = &[0x10, 0x01, 0x9d];
    const MID: &[u8] = &[0x00, 0x01, 0x9d];

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn send(
        slot: &mut Slot,
        from: &str,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: &[u8],
        now: Duration,
    ) -> Option<Header> {
        let p = packet(100, seq, ts, ssrc, &[], payload);
        let h = parse(&p).unwrap();
        match slot.forward(from, &p, &h, now) {
            Forward::Send(out) => Some(parse(&out).unwrap()),
            Forward::Drop => None,
        }
    }

    #[test]
    fn a_video_source_starts_at_a_keyframe() {
        let mut s = Slot::new(Kind::Video, 1000, 96);
        assert!(s.assign(Some("alice"), ms(0)));
        assert!(send(&mut s, "alice", 10, 900, 5, DELTA, ms(1)).is_none());
        assert!(send(&mut s, "alice", 11, 900, 5, MID, ms(2)).is_none());
        let h = send(&mut s, "alice", 12, 3900, 5, KEY, ms(30)).unwrap();
        assert_eq!((h.ssrc, h.payload_type), (1000, 96));
        let h2 = send(&mut s, "alice", 13, 3900, 5, MID, ms(31)).unwrap();
        assert_eq!(h2.seq, h.seq.wrapping_add(1));
        assert_eq!(h2.timestamp, h.timestamp);
    }

    #[test]
    fn switching_sources_keeps_numbering_continuous() {
        let mut s = Slot::new(Kind::Video, 1000, 96);
        s.assign(Some("alice"), ms(0));
        let a = send(&mut s, "alice", 500, 10_000, 5, KEY, ms(0)).unwrap();
        s.assign(Some("bob"), ms(100));
        // Alice's late packets no longer pass.
        assert!(send(&mut s, "alice", 501, 13_000, 5, MID, ms(101)).is_none());
        // Bob's first keyframe continues the stream.
        assert!(send(&mut s, "bob", 7, 1, 9, DELTA, ms(120)).is_none());
        let b = send(&mut s, "bob", 8, 3001, 9, KEY, ms(200)).unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        assert_eq!(b.timestamp, a.timestamp.wrapping_add(18_000)); // 200 ms at 90 kHz
        assert_eq!(b.ssrc, 1000);
    }

    #[test]
    fn audio_switches_at_once() {
        let mut s = Slot::new(Kind::Audio, 2000, 111);
        assert!(!s.assign(Some("alice"), ms(0)));
        assert!(send(&mut s, "alice", 1, 960, 5, &[0xfc], ms(0)).is_some());
        assert!(!s.assign(Some("bob"), ms(20)));
        let b = send(&mut s, "bob", 90, 5, 6, &[0xfc], ms(20)).unwrap();
        assert_eq!(b.ssrc, 2000);
    }

    #[test]
    fn a_waiting_slot_asks_for_keyframes_until_one_comes() {
        let mut s = Slot::new(Kind::Video, 1, 96);
        assert!(s.assign(Some("alice"), ms(0)));
        assert!(!s.keyframe_due(ms(100)));
        assert!(s.keyframe_due(ms(600)));
        assert!(!s.keyframe_due(ms(700)));
        send(&mut s, "alice", 1, 1, 5, KEY, ms(800)).unwrap();
        assert!(!s.keyframe_due(ms(5000)));
    }

    #[test]
    fn a_restarted_source_waits_for_its_keyframe() {
        let mut s = Slot::new(Kind::Video, 1, 96);
        s.assign(Some("alice"), ms(0));
        let a = send(&mut s, "alice", 1, 1, 5, KEY, ms(0)).unwrap();
        // New SSRC (the browser renegotiated): deltas wait for a keyframe.
        assert!(send(&mut s, "alice", 900, 77, 6, DELTA, ms(40)).is_none());
        assert!(s.keyframe_due(ms(41)));
        let b = send(&mut s, "alice", 901, 3077, 6, KEY, ms(80)).unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
    }

    proptest! {
        /// Whatever the sources do, the receiver sees one SSRC and
        /// sequence numbers that only ever go up by one between the
        /// packets of a source that arrive in order.
        #[test]
        fn the_receiver_sees_one_steady_stream(
            steps in proptest::collection::vec((0usize..3, any::<bool>(), 0u8..4), 1..200)
        ) {
            let names = ["a", "b", "c"];
            let mut s = Slot::new(Kind::Video, 77, 96);
            let mut seqs = [100u16, 30_000, 65_000];
            let mut last: Option<u16> = None;
            let mut now = ms(0);
            for (src, key, action) in steps {
                now += ms(33);
                if action == 0 {
                    s.assign(Some(names[src]), now);
                    continue;
                }
                seqs[src] = seqs[src].wrapping_add(1);
                let body = if key { KEY } else { MID };
                let p = packet(100, seqs[src], u32::from(seqs[src]) * 3000, src as u32 + 1, &[], body);
                let h = parse(&p).unwrap();
                if let Forward::Send(out) = s.forward(names[src], &p, &h, now) {
                    let o = parse(&out).unwrap();
                    prop_assert_eq!(o.ssrc, 77);
                    if let Some(l) = last {
                        prop_assert_eq!(o.seq, l.wrapping_add(1));
                    }
                    last = Some(o.seq);
                }
            }
        }
    }
}

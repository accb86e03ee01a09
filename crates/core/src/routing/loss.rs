//! What the server lost of a participant's track (sans-IO).
//!
//! The server sees each source track's packets after its own jitter buffer:
//! a gap in their sequence numbers is a packet that every receiver of the
//! track misses (lost on the way in, or dropped as too late). [`SeqLoss`]
//! counts them the way RFC 3550 counts cumulative loss: packets expected
//! from the first and highest sequence numbers seen (extended over
//! wrap-around), less those received, never below zero (duplicates).

use serde::Serialize;

/// A jump this far ahead or behind is a new numbering (a restarted
/// sender), not loss: the count goes on from the new number.
const RESTART: u16 = 3000;

#[derive(Debug, Clone, Default)]
pub struct SeqLoss {
    /// Extended sequence numbers: the first of this numbering, and the
    /// highest so far.
    first: u64,
    highest: u64,
    started: bool,
    /// Received in this numbering.
    received: u64,
    /// Loss and receipts of earlier numberings.
    lost_before: u64,
    received_before: u64,
}

/// A source track's figures on the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackLoss {
    pub packets_received: u64,
    /// Missing from the sequence numbers (lost or dropped as too late).
    pub packets_lost: u64,
    /// Keyframes the server asked of the participant for this track.
    pub keyframe_requests: u64,
}

impl SeqLoss {
    /// A packet with sequence number `seq` arrived. Returns how many
    /// packets it skipped past: numbers between the highest so far and
    /// this one, never seen (0 for the next packet in order, a late one, a
    /// duplicate or a new numbering).
    pub fn on_packet(&mut self, seq: u16) -> u64 {
        if !self.started {
            self.started = true;
            // Far from zero, so that numbers before the first one seen
            // still extend without going below it; a multiple of 65536, so
            // that the low 16 bits stay the sequence number.
            self.first = (1 << 32) + u64::from(seq);
            self.highest = self.first;
            self.received = 1;
            return 0;
        }
        let top = self.highest as u16;
        let ahead = seq.wrapping_sub(top);
        let behind = top.wrapping_sub(seq);
        let mut skipped = 0;
        if ahead != 0 && ahead < 0x8000 {
            if ahead > RESTART {
                self.restart(seq);
                return 0;
            }
            self.highest += u64::from(ahead);
            skipped = u64::from(ahead - 1);
        } else if behind > RESTART {
            self.restart(seq);
            return 0;
        } else if u64::from(behind) > self.highest - self.first {
            // Older than the first packet seen: the numbering began earlier.
            self.first = self.highest - u64::from(behind);
        }
        self.received += 1;
        skipped
    }

    fn restart(&mut self, seq: u16) {
        self.lost_before += self.lost_now();
        self.received_before += self.received;
        self.started = false;
        let _ = self.on_packet(seq);
    }

    fn lost_now(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.highest - self.first + 1).saturating_sub(self.received)
    }

    pub fn received(&self) -> u64 {
        self.received_before + self.received
    }

    pub fn lost(&self) -> u64 {
        self.lost_before + self.lost_now()
    }
}

/// Loss made on purpose (`conference.induced_loss_permille`): which of a
/// connection's packets the server drops, in or out, to try how rooms and
/// guests cope with a lossy network. Packet `n` of a direction is dropped
/// when a fixed scramble of `n` falls below the share: spread out, not in
/// bursts, and the same packets every run.
pub fn induced_drop(n: u64, permille: u32) -> bool {
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    x % 1000 < u64::from(permille.min(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: impl IntoIterator<Item = u16>) -> SeqLoss {
        let mut l = SeqLoss::default();
        for s in seqs {
            let _ = l.on_packet(s);
        }
        l
    }

    #[test]
    fn each_packet_says_what_it_skipped() {
        let skipped = |seqs: &[u16]| {
            let mut l = SeqLoss::default();
            seqs.iter().map(|s| l.on_packet(*s)).collect::<Vec<u64>>()
        };
        // 14 skips 12 and 13; 12 comes late and 14 again, skipping nothing;
        // 40000 is a new numbering, after which 40004 skips three.
        assert_eq!(
            skipped(&[10, 11, 14, 12, 14, 15, 18, 40_000, 40_001, 40_004]),
            [0, 0, 2, 0, 0, 0, 2, 0, 0, 2]
        );
        // Across wrap-around.
        assert_eq!(skipped(&[65_534, 65_535, 1, 2]), [0, 0, 1, 0]);
    }

    #[test]
    fn a_gapless_run_loses_nothing_across_wrap_around() {
        let l = feed((0..2000u32).map(|i| (65_000 + i) as u16));
        assert_eq!((l.received(), l.lost()), (2000, 0));
    }

    #[test]
    fn gaps_are_counted_and_late_arrivals_fill_them() {
        let l = feed([10, 11, 13, 14, 17]);
        assert_eq!(l.lost(), 2 + 1);
        let l = feed([10, 11, 13, 12, 14]);
        assert_eq!(l.lost(), 0);
        // Packets from before the first one seen, across wrap-around.
        let l = feed([3, 4, 65_534, 65_535, 0, 2]);
        assert_eq!((l.received(), l.lost()), (6, 1));
        // A duplicate does not hide a loss below zero.
        let l = feed([10, 10, 10, 11]);
        assert_eq!((l.received(), l.lost()), (4, 0));
    }

    #[test]
    fn a_restarted_numbering_is_no_loss() {
        let l = feed([100, 101, 102, 40_000, 40_001, 40_003]);
        assert_eq!((l.received(), l.lost()), (6, 1));
    }

    proptest::proptest! {
        /// A run of packets with any of them left out, in order: the loss
        /// is exactly what was left out (interior gaps; the count cannot
        /// know of packets missing before the first or after the last).
        #[test]
        fn left_out_packets_are_the_loss(start in 0u16.., len in 2usize..3000,
                                         drop in proptest::collection::vec(0.0f64..1.0, 3000)) {
            let kept: Vec<u16> = (0..len)
                .filter(|i| *i == 0 || *i == len - 1 || drop[*i] >= 0.05)
                .map(|i| start.wrapping_add(i as u16))
                .collect();
            let mut l = SeqLoss::default();
            let skipped: u64 = kept.iter().map(|s| l.on_packet(*s)).sum();
            proptest::prop_assert_eq!(l.lost() as usize, len - kept.len());
            proptest::prop_assert_eq!(skipped, l.lost());
            proptest::prop_assert_eq!(l.received() as usize, kept.len());
        }

        /// Any sequence numbers at all: no panic, and the loss never
        /// exceeds what the numbers could span.
        #[test]
        fn any_numbers_are_counted_without_panic(seqs in proptest::collection::vec(0u16.., 0..500)) {
            let l = feed(seqs.iter().copied());
            proptest::prop_assert_eq!(l.received() as usize, seqs.len());
        }
    }

    #[test]
    fn induced_loss_drops_its_share_spread_out() {
        for permille in [0u32, 10, 20, 200, 1000] {
            let dropped: Vec<u64> = (0..100_000u64)
                .filter(|n| induced_drop(*n, permille))
                .collect();
            let share = dropped.len() as f64 / 100_000.0 * 1000.0;
            assert!(
                (share - f64::from(permille)).abs() <= f64::from(permille) * 0.1 + 0.5,
                "{permille}‰ dropped {share:.1}‰"
            );
            if (1..=20).contains(&permille) {
                // Seldom two in a row at a few per cent: a loss is mostly
                // one packet for the receiver to ask again.
                let runs = dropped.windows(2).filter(|w| w[1] == w[0] + 1).count();
                assert!(
                    runs * 20 <= dropped.len(),
                    "{permille}‰: {runs} back-to-back drops"
                );
            }
        }
    }
}

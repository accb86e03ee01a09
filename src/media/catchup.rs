//! Far-end media that arrives too late for the room's mixers (sans-IO).
//!
//! The speaker mix (`audiomixer`) and the display (`compositor`) are live
//! aggregators: an output block is made when the clock reaches its running
//! time plus the pipeline's latency, and input for it that comes later is
//! dropped. On a loaded machine the far end's audio can come later than the
//! latency its jitter buffer and decoder report, packet after packet, and
//! then the room hears nothing at all although every packet arrives.
//!
//! [`Catchup`] watches one far-end track against its mixer's output
//! position. When the track falls behind (or is about to), it delays the
//! whole track, by a pad offset, so that it is [`HEADROOM`] ahead of the
//! mixer again: one short gap instead of permanent silence. Once the track
//! has been well ahead for a whole [`WINDOW`] the delay is given back, so a
//! passing load spike does not leave the call late for good. The delay never
//! exceeds [`MAX_DELAY`]: a track later than that is beyond saving, and
//! delaying it further would only desynchronise it from the picture.
//!
//! Times are running times in nanoseconds, passed in; the mixer's output
//! position is the clock this runs on.

/// How far ahead of the mixer a late track is put back.
pub const HEADROOM: i64 = 200_000_000;
/// A track closer than this to the mixer's position is about to be late.
pub const GUARD: i64 = 20_000_000;
/// How long a track must stay well ahead before its delay is reduced.
pub const WINDOW: u64 = 10_000_000_000;
/// The most a track is ever delayed.
pub const MAX_DELAY: i64 = 3_000_000_000;
/// A new track is left alone this long: its first buffers come before the
/// pipeline has taken the new jitter buffer's latency into account, and are
/// late by that latency once, which is no reason to delay the whole call.
pub const GRACE: u64 = 2_000_000_000;

/// What one buffer of a track meant for the track's delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjust {
    /// Delay the track by this much from now on (ns).
    Delay(i64),
    /// Late by more than [`MAX_DELAY`] can make up: the buffer is lost.
    Beyond,
}

/// One far-end track's delay.
#[derive(Debug, Clone, Default)]
pub struct Catchup {
    delay: i64,
    /// The mixer's position at the track's first buffer.
    first: Option<u64>,
    /// Smallest lead seen since `window_start`.
    min_lead: Option<i64>,
    window_start: Option<u64>,
    /// How many times the track was found late.
    pub late_count: u64,
    beyond_reported: bool,
}

impl Catchup {
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay currently applied (ns).
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// A buffer is about to go to a mixer whose output has reached running
    /// time `mixer`; `start` is the running time (before this track's
    /// delay) by which the mixer must not have gone past it: a sound's
    /// start (the mix drops what begins before its position), a picture's
    /// end (the display shows a picture while any of it is current).
    /// Returns a new delay when it should change.
    pub fn on_buffer(&mut self, start: u64, mixer: u64) -> Option<Adjust> {
        let first = *self.first.get_or_insert(mixer);
        if mixer.saturating_sub(first) < GRACE {
            return None;
        }
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let mixer_i = i64::try_from(mixer).unwrap_or(i64::MAX);
        let lead = start.saturating_add(self.delay).saturating_sub(mixer_i);
        if lead < GUARD {
            self.late_count += 1;
            self.restart_window(mixer);
            let wanted = self.delay.saturating_add(HEADROOM.saturating_sub(lead));
            if wanted > MAX_DELAY {
                if self.delay < MAX_DELAY {
                    self.delay = MAX_DELAY;
                    return Some(Adjust::Delay(MAX_DELAY));
                }
                if !self.beyond_reported {
                    self.beyond_reported = true;
                    return Some(Adjust::Beyond);
                }
                return None;
            }
            self.beyond_reported = false;
            self.delay = wanted;
            return Some(Adjust::Delay(wanted));
        }
        self.min_lead = Some(self.min_lead.map_or(lead, |m| m.min(lead)));
        let began = *self.window_start.get_or_insert(mixer);
        if mixer.saturating_sub(began) < WINDOW {
            return None;
        }
        let min_lead = self.min_lead.unwrap_or(lead);
        self.restart_window(mixer);
        if self.delay > 0 && min_lead > HEADROOM + HEADROOM / 2 {
            let give_back = (min_lead - HEADROOM).min(self.delay);
            self.delay -= give_back;
            return Some(Adjust::Delay(self.delay));
        }
        None
    }

    fn restart_window(&mut self, mixer: u64) {
        self.window_start = Some(mixer);
        self.min_lead = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A track that starts at mixer time 0, on time through its grace.
    fn started() -> Catchup {
        let mut c = Catchup::new();
        for i in 0..=(GRACE / (10 * MS)) {
            assert_eq!(c.on_buffer(i * 10 * MS + 100 * MS, i * 10 * MS), None);
        }
        c
    }
    const AFTER_GRACE: u64 = GRACE + 10 * MS;

    #[test]
    fn a_new_track_is_not_judged_in_its_grace() {
        let mut c = Catchup::new();
        // The first buffers of a call: late, before the latency is updated.
        for i in 0..(GRACE / (10 * MS)) {
            assert_eq!(c.on_buffer(i * 10 * MS, i * 10 * MS + 80 * MS), None);
        }
        assert_eq!(c.late_count, 0);
        // Then on time.
        for i in 0..1000 {
            let mixer = GRACE + i * 10 * MS;
            assert_eq!(c.on_buffer(mixer + 60 * MS, mixer), None);
        }
        assert_eq!(c.delay(), 0);
    }

    #[test]
    fn a_track_on_time_is_left_alone() {
        let mut c = Catchup::new();
        for i in 0..2000u64 {
            // 100 ms ahead of the mixer, every 10 ms for 20 s.
            assert_eq!(c.on_buffer(i * 10 * MS + 100 * MS, i * 10 * MS), None);
        }
        assert_eq!(c.delay(), 0);
        assert_eq!(c.late_count, 0);
    }

    #[test]
    fn a_late_track_is_delayed_to_headroom_once() {
        let mut c = started();
        // 350 ms behind the mixer.
        let mixer = AFTER_GRACE;
        let start = mixer - 350 * MS;
        assert_eq!(
            c.on_buffer(start, mixer),
            Some(Adjust::Delay(350_000_000 + HEADROOM))
        );
        // The following buffers, equally late before the delay, now fit.
        for i in 1..100u64 {
            assert_eq!(c.on_buffer(start + i * 10 * MS, mixer + i * 10 * MS), None);
        }
        assert_eq!(c.late_count, 1);
    }

    #[test]
    fn growing_lateness_grows_the_delay_up_to_the_limit() {
        let mut c = started();
        let mut last = 0;
        let mut beyond = 0;
        for i in 0..400u64 {
            // Falls 10 ms further behind every 10 ms: hopeless.
            let mixer = AFTER_GRACE + i * 10 * MS;
            let start = AFTER_GRACE;
            match c.on_buffer(start, mixer) {
                Some(Adjust::Delay(d)) => {
                    assert!(d > last && d <= MAX_DELAY, "{d}");
                    last = d;
                }
                Some(Adjust::Beyond) => beyond += 1,
                None => {}
            }
        }
        assert_eq!(c.delay(), MAX_DELAY);
        assert_eq!(beyond, 1, "beyond the limit is reported once");
    }

    #[test]
    fn the_delay_is_given_back_after_a_calm_window() {
        let mut c = started();
        let t0 = AFTER_GRACE;
        assert!(matches!(
            c.on_buffer(t0 - 800 * MS, t0),
            Some(Adjust::Delay(_))
        ));
        assert_eq!(c.delay(), 1000 * MS as i64);
        // The load is gone: buffers now come 100 ms ahead without the
        // delay, 1.1 s ahead with it.
        let mut changes = vec![];
        for i in 1..=1500u64 {
            let mixer = t0 + i * 10 * MS;
            if let Some(a) = c.on_buffer(mixer + 100 * MS, mixer) {
                changes.push(a);
            }
        }
        // Given back to HEADROOM ahead, not to zero and not in one buffer.
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(c.delay(), HEADROOM - 100 * MS as i64);
        assert_eq!(c.late_count, 1);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut c = Catchup::new();
        let _ = c.on_buffer(u64::MAX, 0);
        let _ = c.on_buffer(0, u64::MAX);
        let _ = c.on_buffer(u64::MAX, u64::MAX);
        assert!(c.delay() <= MAX_DELAY);
    }
}

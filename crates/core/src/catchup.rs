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
/// The longest calm window: each time a give-back is followed by lateness,
/// the next give-back waits twice as long, up to this.
pub const MAX_WINDOW: u64 = 80_000_000_000;
/// The most a track is ever delayed.
pub const MAX_DELAY: i64 = 3_000_000_000;
/// A new track is left alone this long: its first buffers come before the
/// pipeline has taken the new jitter buffer's latency into account, and are
/// late by that latency once, which is no reason to delay the whole call.
pub const GRACE: u64 = 2_000_000_000;
/// Lateness counts only when late buffers keep coming for this long (of
/// the mixer's time), none more than this after the one before. A burst of
/// buffers released at once after a stall is late at its head and on time
/// at its tail: it costs a short gap, not a delay for the whole call sized
/// by its worst buffer.
pub const PERSIST: u64 = 100_000_000;
/// A give-back smaller than this is not worth a discontinuity.
pub const MIN_GIVE_BACK: i64 = 20_000_000;

/// What one buffer of a track meant for the track's delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjust {
    /// Delay the track by this much from now on (ns).
    Delay(i64),
    /// Late by more than [`MAX_DELAY`] can make up: the buffer is lost.
    Beyond,
}

/// A stretch of late buffers, none more than [`PERSIST`] after the one
/// before.
#[derive(Debug, Clone, Copy)]
struct LateRun {
    /// The mixer's position at its first late buffer.
    since: u64,
    /// The mixer's position at its last late buffer.
    last: u64,
    /// The least extra delay that puts its least late buffer
    /// [`HEADROOM`] ahead.
    least_needed: i64,
}

/// One far-end track's delay.
///
/// `on_buffer` must see each buffer when it *arrives*, before anything
/// that can hold it back (a queue filling up in front of the mixer would
/// make a late track look early, and the delay would swing).
#[derive(Debug, Clone)]
pub struct Catchup {
    delay: i64,
    /// The mixer's position at the track's first buffer.
    first: Option<u64>,
    /// Smallest lead seen since `window_start`.
    min_lead: Option<i64>,
    window_start: Option<u64>,
    /// The calm window the next give-back waits for.
    window: u64,
    /// The last change was a give-back: lateness now means it gave back
    /// too much, and the next window is longer.
    gave_back: bool,
    late_run: Option<LateRun>,
    /// How many times the track's delay was raised.
    pub late_count: u64,
    beyond_reported: bool,
}

impl Default for Catchup {
    fn default() -> Self {
        Self {
            delay: 0,
            first: None,
            min_lead: None,
            window_start: None,
            window: WINDOW,
            gave_back: false,
            late_run: None,
            late_count: 0,
            beyond_reported: false,
        }
    }
}

impl Catchup {
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay currently applied (ns).
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// A buffer has arrived for a mixer whose output has reached running
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
            self.restart_window(mixer);
            let needed = HEADROOM.saturating_sub(lead);
            if self
                .late_run
                .is_some_and(|r| mixer.saturating_sub(r.last) >= PERSIST)
            {
                self.late_run = None;
            }
            let run = self.late_run.get_or_insert(LateRun {
                since: mixer,
                last: mixer,
                least_needed: needed,
            });
            run.last = mixer;
            run.least_needed = run.least_needed.min(needed);
            if mixer.saturating_sub(run.since) < PERSIST {
                return None;
            }
            let needed = run.least_needed;
            self.late_run = None;
            self.late_count += 1;
            if self.gave_back {
                self.window = self.window.saturating_mul(2).min(MAX_WINDOW);
                self.gave_back = false;
            }
            let wanted = self.delay.saturating_add(needed);
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
        // On time for a while ends a late run: it was a burst, not a trend.
        if self
            .late_run
            .is_some_and(|r| mixer.saturating_sub(r.last) >= PERSIST)
        {
            self.late_run = None;
        }
        self.min_lead = Some(self.min_lead.map_or(lead, |m| m.min(lead)));
        let began = *self.window_start.get_or_insert(mixer);
        if mixer.saturating_sub(began) < self.window {
            return None;
        }
        let min_lead = self.min_lead.unwrap_or(lead);
        self.restart_window(mixer);
        // Half of what is spare, so that the delay settles instead of
        // swinging between early and late.
        let give_back = ((min_lead - HEADROOM) / 2).min(self.delay);
        if self.delay > 0 && give_back >= MIN_GIVE_BACK {
            self.delay -= give_back;
            self.gave_back = true;
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

    /// Feeds buffers every 10 ms from `from` for `ms` milliseconds; the
    /// track's own lead (without any delay) at mixer time `t` is
    /// `lead(t)`. Returns the delay changes.
    fn feed(c: &mut Catchup, from: u64, ms: u64, lead: impl Fn(u64) -> i64) -> Vec<Adjust> {
        let mut changes = vec![];
        for i in 0..ms / 10 {
            let mixer = from + i * 10 * MS;
            let start = (mixer as i64 + lead(mixer)).max(0) as u64;
            if let Some(a) = c.on_buffer(start, mixer) {
                changes.push(a);
            }
        }
        changes
    }

    #[test]
    fn a_late_track_is_delayed_to_headroom_once() {
        let mut c = started();
        // From now on 350 ms behind the mixer.
        let changes = feed(&mut c, AFTER_GRACE, 5_000, |_| -350 * MS as i64);
        assert_eq!(changes, vec![Adjust::Delay(350_000_000 + HEADROOM)]);
        assert_eq!(c.late_count, 1);
    }

    #[test]
    fn a_burst_released_after_a_stall_costs_no_delay() {
        let mut c = started();
        // A stall: 2.8 s of sound held back comes at once (its head 2.8 s
        // late, its tail on time), then the track is on time again.
        assert_eq!(feed(&mut c, AFTER_GRACE, 5_000, |_| 60 * MS as i64), vec![]);
        let t0 = AFTER_GRACE + 5_000 * MS;
        for k in 0..280u64 {
            let start = t0 - 2_800 * MS + k * 10 * MS + 60 * MS;
            assert_eq!(c.on_buffer(start, t0 + k / 10 * MS), None);
        }
        let changes = feed(&mut c, t0 + 30 * MS, 20_000, |_| 60 * MS as i64);
        assert_eq!(changes, vec![]);
        assert_eq!(c.delay(), 0);
    }

    #[test]
    fn growing_lateness_grows_the_delay_up_to_the_limit() {
        let mut c = started();
        let mut last = 0;
        let mut beyond = 0;
        for i in 0..800u64 {
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
    fn the_delay_is_given_back_in_steps_and_settles_ahead() {
        let mut c = started();
        let t0 = AFTER_GRACE;
        feed(&mut c, t0, 200, |_| -800 * MS as i64);
        assert_eq!(c.delay(), 1000 * MS as i64);
        // The load is gone: buffers now come 100 ms ahead without the
        // delay.
        let mut last = c.delay() + 1;
        let changes = feed(&mut c, t0 + 200 * MS, 120_000, |_| 100 * MS as i64);
        for a in &changes {
            let Adjust::Delay(d) = *a else {
                panic!("{changes:?}")
            };
            assert!(d < last, "only ever given back: {changes:?}");
            last = d;
        }
        assert!(changes.len() >= 3, "in several steps: {changes:?}");
        // Never given back past the headroom: the track stays ahead.
        assert!(c.delay() + 100 * MS as i64 >= HEADROOM, "{}", c.delay());
        assert!(c.delay() + 100 * MS as i64 <= HEADROOM + 2 * MIN_GIVE_BACK + 10 * MS as i64);
        assert_eq!(c.late_count, 1);
    }

    /// The swing seen on a starved machine: a track about 300 ms late
    /// with ±150 ms of jitter. The delay settles instead of being given
    /// back and taken again every window.
    #[test]
    fn a_jittery_late_track_settles_instead_of_swinging() {
        let mut c = started();
        // A fixed pseudo-random jitter, the same every run.
        let jitter = |t: u64| {
            let x = (t / (10 * MS))
                .wrapping_mul(6_364_136_223_846_793_005)
                .rotate_left(17);
            (x % 301) as i64 - 150
        };
        let changes = feed(&mut c, AFTER_GRACE, 600_000, |t| {
            (-300 + jitter(t)) * MS as i64
        });
        assert!(
            c.late_count <= 4,
            "late {} times in 10 minutes: {changes:?}",
            c.late_count
        );
        assert!(changes.len() <= 8, "{changes:?}");
        assert!(c.delay() <= MAX_DELAY);
        // Settled: nothing changes in the last five minutes.
        let more = feed(&mut c, AFTER_GRACE + 600_000 * MS, 300_000, |t| {
            (-300 + jitter(t)) * MS as i64
        });
        assert_eq!(more, vec![], "still changing after 10 minutes");
    }

    #[test]
    fn a_give_back_that_proves_too_much_waits_longer_next_time() {
        let mut c = started();
        let t0 = AFTER_GRACE;
        feed(&mut c, t0, 200, |_| -1000 * MS as i64);
        assert_eq!(c.window, WINDOW);
        // Calm for a window, so some delay is given back ...
        let changes = feed(&mut c, t0 + 200 * MS, 21_000, |_| -500 * MS as i64);
        assert_eq!(changes, vec![Adjust::Delay(950 * MS as i64)]);
        // ... then the old lateness is back.
        feed(&mut c, t0 + 21_200 * MS, 1_000, |_| -1000 * MS as i64);
        assert_eq!(c.window, 2 * WINDOW);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut c = Catchup::new();
        let _ = c.on_buffer(u64::MAX, 0);
        let _ = c.on_buffer(0, u64::MAX);
        let _ = c.on_buffer(u64::MAX, u64::MAX);
        assert!(c.delay() <= MAX_DELAY);
    }

    proptest::proptest! {
        /// Whatever the far end does, the delay stays within its limits,
        /// and a track that then keeps a steady pace ends up on time.
        #[test]
        fn any_lateness_keeps_the_delay_in_bounds_and_a_steady_track_on_time(
            leads in proptest::collection::vec(-4_000i64..2_000, 1..400),
            steady in -2_500i64..1_000,
        ) {
            let mut c = started();
            let mut mixer = AFTER_GRACE;
            for l in leads {
                let start = (mixer as i64 + l * MS as i64).max(0) as u64;
                let _ = c.on_buffer(start, mixer);
                proptest::prop_assert!((0..=MAX_DELAY).contains(&c.delay()));
                mixer += 10 * MS;
            }
            feed(&mut c, mixer, 5_000, |_| steady * MS as i64);
            let lead = steady * MS as i64 + c.delay();
            proptest::prop_assert!(lead >= GUARD, "lead {lead} with delay {}", c.delay());
        }
    }
}

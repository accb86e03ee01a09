//! The picture the room sends follows what its CPU can encode.
//!
//! The encoder takes the camera's frames from a leaky queue that keeps the
//! newest two. An encoder that cannot keep up leaves the queue to drop the
//! rest, and the far end sees a picture that moves once a second: measured
//! in the image test, the emulated room encoded one 640x360 frame a second
//! with the CPU its sound left it. A smaller picture that moves is better,
//! as browsers decide for a camera. [`SendScale`] counts the frames that
//! reach the queue and those the encoder's thread takes from it, two
//! seconds at a time. When the encoder falls short in three windows in a
//! row (after the first seconds of the call) the sent picture steps down by a quarter of each side; after a calm
//! while it steps back up. A step up that has to be undone soon after
//! doubles the calm wait, so a box at its limit does not swing between two
//! sizes.
//!
//! Sans-IO: the frames are counted and the time is passed in by the
//! pipeline's pad probes ([`super::webrtc`]).

use std::time::{Duration, Instant};

/// How long the encoder is watched before its share is judged.
pub const WINDOW: Duration = Duration::from_secs(2);
/// Below this share of the offered frames taken, a window is short.
const SHORT: f64 = 0.75;
/// Short windows in a row that step the picture down.
const SHORT_WINDOWS: u32 = 3;
/// The start of a call is not judged: ICE, DTLS and the first keyframe
/// take the CPU for a moment on any box.
pub const GRACE: Duration = Duration::from_secs(6);
/// At or above this share a window is calm.
const CALM: f64 = 0.95;
/// The calm wait before the first step up.
pub const CALM_WAIT: Duration = Duration::from_secs(20);
/// The longest calm wait.
const MAX_CALM_WAIT: Duration = Duration::from_secs(320);
/// A step down this soon after a step up undoes it.
const UNDONE_WITHIN: Duration = Duration::from_secs(30);
/// No step makes the picture's shorter side smaller than this.
pub const MIN_SIDE: u32 = 90;
/// Fewer frames than this in a window say nothing (a camera that stalls,
/// a branch that just started).
const MIN_FRAMES: u32 = 4;

/// What the room is sending and how it got there (for `/status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendCounts {
    pub width: u32,
    pub height: u32,
    pub configured_width: u32,
    pub configured_height: u32,
    pub steps_down: u64,
    pub steps_up: u64,
    /// Camera frames the encoder could not take.
    pub frames_dropped: u64,
}

/// The sent picture's size, stepped by how the encoder keeps up.
#[derive(Debug, Clone)]
pub struct SendScale {
    full: (u32, u32),
    step: u32,
    started: Option<Instant>,
    window: Option<Instant>,
    offered: u32,
    taken: u32,
    short: u32,
    calm_since: Option<Instant>,
    calm_wait: Duration,
    last_up: Option<Instant>,
    /// A window that holds a change of size is not judged.
    settling: bool,
    counts: SendCounts,
}

impl SendScale {
    /// Sending `full` (the configured size) at first.
    pub fn new(full: (u32, u32)) -> Self {
        Self {
            full,
            step: 0,
            started: None,
            window: None,
            offered: 0,
            taken: 0,
            short: 0,
            calm_since: None,
            calm_wait: CALM_WAIT,
            last_up: None,
            settling: false,
            counts: SendCounts {
                width: full.0,
                height: full.1,
                configured_width: full.0,
                configured_height: full.1,
                ..Default::default()
            },
        }
    }

    /// The camera gives `picture` (width, height): the steps are taken
    /// from it as it fits in the configured size at its own shape. A
    /// camera smaller than that is sent as it is, not enlarged, so steps
    /// of the configured size would change nothing for several windows.
    /// Returns the size to send now when that changes while stepped down.
    pub fn picture(&mut self, picture: (u32, u32)) -> Option<(u32, u32)> {
        let (cw, ch) = (self.counts.configured_width, self.counts.configured_height);
        if picture.0 == 0 || picture.1 == 0 || cw == 0 || ch == 0 {
            return None;
        }
        let (pw, ph) = (u64::from(picture.0), u64::from(picture.1));
        // The largest size of the picture's shape inside the configured
        // box, and never larger than the picture.
        let (w, h) = if pw * u64::from(ch) > u64::from(cw) * ph {
            (u64::from(cw), u64::from(cw) * ph / pw)
        } else {
            (u64::from(ch) * pw / ph, u64::from(ch))
        };
        let (w, h) = (w.min(pw).max(2) as u32 & !1, h.min(ph).max(2) as u32 & !1);
        if (w, h) == self.full {
            return None;
        }
        self.full = (w, h);
        while self.step > 0 && !can_step(self.full, self.step) {
            self.step -= 1;
        }
        let now = self.size();
        self.counts.width = now.0;
        self.counts.height = now.1;
        (self.step > 0).then_some(now)
    }

    /// The size to send now.
    pub fn size(&self) -> (u32, u32) {
        size_at(self.full, self.step)
    }

    pub fn counts(&self) -> SendCounts {
        self.counts
    }

    /// How long the picture must be calm before the next step up.
    pub fn calm_wait(&self) -> Duration {
        self.calm_wait
    }

    /// A camera frame reached the encoder's queue at `now`. Returns the
    /// new size when the picture steps.
    pub fn offered(&mut self, now: Instant) -> Option<(u32, u32)> {
        let change = self.judge(now);
        self.offered = self.offered.saturating_add(1);
        change
    }

    /// The encoder's thread took a frame from the queue.
    pub fn taken(&mut self) {
        self.taken = self.taken.saturating_add(1);
    }

    fn judge(&mut self, now: Instant) -> Option<(u32, u32)> {
        let Some(start) = self.window else {
            self.window = Some(now);
            self.started = Some(now);
            return None;
        };
        if now.saturating_duration_since(start) < WINDOW {
            return None;
        }
        let (offered, taken) = (self.offered, self.taken.min(self.offered));
        self.window = Some(now);
        self.offered = 0;
        self.taken = 0;
        self.counts.frames_dropped += u64::from(offered - taken);
        let young = self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) < GRACE);
        if std::mem::take(&mut self.settling) || young || offered < MIN_FRAMES {
            return None;
        }
        let share = f64::from(taken) / f64::from(offered);
        if share < SHORT {
            self.calm_since = None;
            self.short += 1;
            if self.short < SHORT_WINDOWS || !can_step(self.full, self.step + 1) {
                return None;
            }
            self.short = 0;
            self.step += 1;
            self.counts.steps_down += 1;
            if self
                .last_up
                .is_some_and(|t| now.saturating_duration_since(t) < UNDONE_WITHIN)
            {
                self.calm_wait = (self.calm_wait * 2).min(MAX_CALM_WAIT);
            }
            return Some(self.changed());
        }
        self.short = 0;
        if share < CALM || self.step == 0 {
            self.calm_since = None;
            return None;
        }
        let since = *self.calm_since.get_or_insert(start);
        if now.saturating_duration_since(since) < self.calm_wait {
            return None;
        }
        self.calm_since = None;
        self.step -= 1;
        self.counts.steps_up += 1;
        self.last_up = Some(now);
        Some(self.changed())
    }

    fn changed(&mut self) -> (u32, u32) {
        self.settling = true;
        let (w, h) = self.size();
        self.counts.width = w;
        self.counts.height = h;
        (w, h)
    }
}

/// `full` with each side taken down by a quarter `step` times, kept even
/// (I420 halves both sides for colour).
pub fn size_at(full: (u32, u32), step: u32) -> (u32, u32) {
    let (mut w, mut h) = (u64::from(full.0), u64::from(full.1));
    for _ in 0..step.min(32) {
        w = w * 3 / 4;
        h = h * 3 / 4;
    }
    let even = |v: u64| (v.max(2) as u32) & !1;
    (even(w), even(h))
}

/// Whether `step` keeps the shorter side at [`MIN_SIDE`] or more.
fn can_step(full: (u32, u32), step: u32) -> bool {
    let (w, h) = size_at(full, step);
    w.min(h) >= MIN_SIDE
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `seconds` of a 15 fps camera of which the encoder takes
    /// `share`, from `t`; returns the sizes stepped to.
    fn run(s: &mut SendScale, t: &mut Instant, seconds: u32, share: f64) -> Vec<(u32, u32)> {
        let mut out = vec![];
        let mut owed = 0.0;
        for _ in 0..seconds * 15 {
            *t += Duration::from_millis(1000 / 15);
            if let Some(size) = s.offered(*t) {
                out.push(size);
            }
            owed += share;
            if owed >= 1.0 {
                owed -= 1.0;
                s.taken();
            }
        }
        out
    }

    #[test]
    fn an_encoder_that_keeps_up_keeps_the_configured_size() {
        let mut s = SendScale::new((1280, 720));
        let mut t = Instant::now();
        assert!(run(&mut s, &mut t, 120, 1.0).is_empty());
        assert_eq!(s.size(), (1280, 720));
        assert_eq!(s.counts().frames_dropped, 0);
    }

    #[test]
    fn a_short_encoder_steps_down_until_it_keeps_up() {
        let mut s = SendScale::new((640, 360));
        let mut t = Instant::now();
        // Nothing in the first seconds, then three short windows.
        assert!(run(&mut s, &mut t, 6, 0.2).is_empty());
        let steps = run(&mut s, &mut t, 8, 0.2);
        assert_eq!(steps, vec![(480, 270)]);
        // Still short: down again, after the settling window.
        let steps = run(&mut s, &mut t, 8, 0.2);
        assert_eq!(steps, vec![(360, 202)]);
        // Keeping up now: no more steps for less than the calm wait.
        assert!(run(&mut s, &mut t, 15, 1.0).is_empty());
        assert_eq!(s.counts().steps_down, 2);
        assert!(s.counts().frames_dropped > 100);
    }

    #[test]
    fn a_short_moment_is_not_enough() {
        let mut s = SendScale::new((640, 360));
        let mut t = Instant::now();
        run(&mut s, &mut t, 8, 1.0);
        assert!(run(&mut s, &mut t, 3, 0.1).is_empty());
        assert!(run(&mut s, &mut t, 20, 1.0).is_empty());
        assert_eq!(s.size(), (640, 360));
    }

    #[test]
    fn it_never_goes_below_the_smallest_picture() {
        let mut s = SendScale::new((320, 180));
        let mut t = Instant::now();
        run(&mut s, &mut t, 120, 0.05);
        let (w, h) = s.size();
        assert!(w.min(h) >= MIN_SIDE, "{w}x{h}");
        assert_eq!(s.size(), (180, 100));
    }

    #[test]
    fn calm_steps_back_up_and_an_undone_step_up_waits_longer() {
        let mut s = SendScale::new((640, 360));
        let mut t = Instant::now();
        run(&mut s, &mut t, 14, 0.2);
        assert_eq!(s.size(), (480, 270));
        // Calm for the wait: back to the configured size.
        let up = run(&mut s, &mut t, CALM_WAIT.as_secs() as u32 + 5, 1.0);
        assert_eq!(up, vec![(640, 360)]);
        // Short again at once: down, and the next step up waits twice as long.
        let down = run(&mut s, &mut t, 9, 0.2);
        assert_eq!(down, vec![(480, 270)]);
        assert_eq!(s.calm_wait(), CALM_WAIT * 2);
        assert!(run(&mut s, &mut t, CALM_WAIT.as_secs() as u32 + 5, 1.0).is_empty());
        let up = run(&mut s, &mut t, CALM_WAIT.as_secs() as u32 + 10, 1.0);
        assert_eq!(up, vec![(640, 360)]);
        assert_eq!((s.counts().steps_down, s.counts().steps_up), (2, 2));
    }

    #[test]
    fn the_start_of_a_call_is_not_judged() {
        let mut s = SendScale::new((640, 360));
        let mut t = Instant::now();
        assert!(run(&mut s, &mut t, 5, 0.0).is_empty());
        assert_eq!(s.size(), (640, 360));
    }

    #[test]
    fn a_stalled_camera_is_not_judged() {
        let mut s = SendScale::new((640, 360));
        let mut t = Instant::now();
        // One frame every 3 s, none taken: too few to say anything.
        for _ in 0..40 {
            t += Duration::from_secs(3);
            assert!(s.offered(t).is_none());
        }
        assert_eq!(s.size(), (640, 360));
    }

    proptest! {
        #[test]
        fn every_step_is_even_smaller_and_keeps_the_shape(
            w in 16u32..7680, h in 16u32..4320, step in 0u32..40,
        ) {
            let (sw, sh) = size_at((w & !1, h & !1), step);
            prop_assert!(sw % 2 == 0 && sh % 2 == 0);
            prop_assert!(sw <= w.max(2) && sh <= h.max(2));
            if step > 0 && can_step((w & !1, h & !1), step) {
                // The shape within the rounding of two pixels a side.
                let a = f64::from(w & !1) / f64::from(h & !1);
                let b = f64::from(sw) / f64::from(sh);
                prop_assert!((a - b).abs() / a < 12.0 / f64::from(sw.min(sh)),
                    "{w}x{h} step {step}: {sw}x{sh}");
            }
        }

        #[test]
        fn any_counts_never_panic_and_stay_in_bounds(
            events in proptest::collection::vec((0u64..3000, any::<bool>()), 0..400),
        ) {
            let mut s = SendScale::new((1280, 720));
            let mut t = Instant::now();
            for (ms, take) in events {
                t += Duration::from_millis(ms);
                if let Some((w, h)) = s.offered(t) {
                    prop_assert!(w <= 1280 && h <= 720 && w.min(h) >= MIN_SIDE);
                }
                if take { s.taken(); }
            }
        }
    }

    #[test]
    fn a_camera_smaller_than_the_send_size_is_stepped_from_its_own_size() {
        let mut s = SendScale::new((1280, 720));
        // A 4:3 camera of 320x240: sent as it is, and steps start there.
        assert_eq!(s.picture((320, 240)), None);
        assert_eq!(s.size(), (320, 240));
        assert_eq!((s.counts().width, s.counts().configured_width), (320, 1280));
        // A 1080p camera fits the configured 720p box.
        assert_eq!(s.picture((1920, 1080)), None);
        assert_eq!(s.size(), (1280, 720));
        // A 4:3 camera larger than the box keeps its shape inside it.
        s.picture((1280, 960));
        assert_eq!(s.size(), (960, 720));
        // Nonsense sizes change nothing.
        assert_eq!(s.picture((0, 240)), None);
        assert_eq!(s.size(), (960, 720));
    }
}

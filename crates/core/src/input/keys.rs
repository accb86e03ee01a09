//! From key events to panel actions: repeat and long press. Sans-IO: the
//! edge feeds what the kernel reports, with the time, and calls [`Keys::tick`]
//! while keys are held.

use std::collections::HashMap;
use std::time::Duration;

use super::keymap::{Action, Keymap};

/// Timing a person expects from a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Held this long, a repeating key starts repeating...
    pub delay: Duration,
    /// ...once per this interval.
    pub interval: Duration,
    /// Held this long, a key with a long-press meaning means it.
    pub long: Duration,
    /// An IR remote with no kernel keymap sends its scancode again every
    /// ~110 ms while held; silence this long means it was let go.
    pub scan_release: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            delay: Duration::from_millis(400),
            interval: Duration::from_millis(120),
            long: Duration::from_millis(800),
            scan_release: Duration::from_millis(250),
        }
    }
}

/// What the panel should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    Press(Action),
    LongPress(Action),
}

#[derive(Debug, Clone)]
struct Held {
    action: Action,
    since: Duration,
    last: Duration,
    long_sent: bool,
}

/// Kernel key values.
pub const UP: i32 = 0;
pub const DOWN: i32 = 1;
pub const AUTOREPEAT: i32 = 2;

pub struct Keys {
    keymap: Keymap,
    timing: Timing,
    held: HashMap<String, Held>,
    /// The key a bare scancode stream holds, and when it was last seen.
    scanning: Option<(String, Duration)>,
}

impl Keys {
    pub fn new(keymap: Keymap, timing: Timing) -> Self {
        Keys {
            keymap,
            timing,
            held: HashMap::new(),
            scanning: None,
        }
    }

    /// A key event: `value` is [`UP`], [`DOWN`] or [`AUTOREPEAT`].
    pub fn feed(&mut self, key: &str, value: i32, at: Duration) -> Vec<KeyEvent> {
        let mut out = Vec::new();
        match value {
            DOWN => {
                let Some(action) = self.keymap.action(key) else {
                    return out;
                };
                if self.held.contains_key(key) {
                    return out;
                }
                if !action.has_long_press() {
                    out.push(KeyEvent::Press(action));
                }
                self.held.insert(
                    key.to_string(),
                    Held {
                        action,
                        since: at,
                        last: at,
                        long_sent: false,
                    },
                );
            }
            UP => {
                if let Some(h) = self.held.remove(key)
                    && h.action.has_long_press()
                    && !h.long_sent
                {
                    out.push(KeyEvent::Press(h.action));
                }
            }
            AUTOREPEAT => out.extend(self.advance(Some(key), at)),
            _ => {}
        }
        out
    }

    /// A raw remote scancode (rc-core's `MSC_SCAN`) with no kernel key.
    pub fn scancode(&mut self, code: u32, at: Duration) -> Vec<KeyEvent> {
        let Some(key) = self.keymap.scancode(code).map(str::to_string) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match &self.scanning {
            Some((k, _)) if *k == key => out.extend(self.feed(&key, AUTOREPEAT, at)),
            Some((k, _)) => {
                let k = k.clone();
                out.extend(self.feed(&k, UP, at));
                out.extend(self.feed(&key, DOWN, at));
            }
            None => out.extend(self.feed(&key, DOWN, at)),
        }
        self.scanning = Some((key, at));
        out
    }

    /// Time passes: repeats, long presses, and scancode streams that went
    /// quiet. Call it every few tens of milliseconds while [`Keys::busy`].
    pub fn tick(&mut self, at: Duration) -> Vec<KeyEvent> {
        // A scancode stream that went quiet was let go: release it first,
        // so that it does not repeat past its end.
        let mut out = Vec::new();
        if let Some((k, last)) = self.scanning.clone()
            && at.saturating_sub(last) >= self.timing.scan_release
        {
            self.scanning = None;
            out.extend(self.feed(&k, UP, at));
        }
        out.extend(self.advance(None, at));
        out
    }

    /// Whether keys are held (the edge should tick).
    pub fn busy(&self) -> bool {
        !self.held.is_empty()
    }

    fn advance(&mut self, only: Option<&str>, at: Duration) -> Vec<KeyEvent> {
        let t = self.timing;
        let mut out = Vec::new();
        let mut keys: Vec<&String> = self.held.keys().collect();
        keys.sort();
        let keys: Vec<String> = keys.into_iter().cloned().collect();
        for k in keys {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let Some(h) = self.held.get_mut(&k) else {
                continue;
            };
            let held_for = at.saturating_sub(h.since);
            if h.action.has_long_press() && !h.long_sent && held_for >= t.long {
                h.long_sent = true;
                out.push(KeyEvent::LongPress(h.action));
            }
            if h.action.repeats() && held_for >= t.delay && at.saturating_sub(h.last) >= t.interval
            {
                h.last = at;
                out.push(KeyEvent::Press(h.action));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> Keys {
        let map = Keymap::parse(super::super::keymap::DEFAULT, "default.toml", |_| true).unwrap();
        Keys::new(map, Timing::default())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_tap_is_one_press() {
        let mut k = keys();
        assert_eq!(
            k.feed("KEY_5", DOWN, ms(0)),
            [KeyEvent::Press(Action::Digit(5))]
        );
        assert!(
            k.feed("KEY_5", AUTOREPEAT, ms(500)).is_empty(),
            "digits do not repeat"
        );
        assert!(k.feed("KEY_5", UP, ms(600)).is_empty());
        assert!(!k.busy());
        assert!(
            k.feed("KEY_F24", DOWN, ms(700)).is_empty(),
            "unmapped keys do nothing"
        );
    }

    #[test]
    fn held_arrows_repeat_after_the_delay() {
        let mut k = keys();
        let mut presses = k.feed("KEY_DOWN", DOWN, ms(0)).len();
        for t in (20..1000).step_by(20) {
            presses += k.tick(ms(t)).len();
        }
        k.feed("KEY_DOWN", UP, ms(1000));
        // One press, then from 400 ms one every 120 ms: 400, 520, ..., 880.
        assert_eq!(presses, 1 + 5);
    }

    #[test]
    fn back_held_is_a_long_press_and_tapped_is_a_press() {
        let mut k = keys();
        assert!(k.feed("KEY_BACK", DOWN, ms(0)).is_empty());
        assert_eq!(
            k.feed("KEY_BACK", UP, ms(200)),
            [KeyEvent::Press(Action::Back)]
        );
        assert!(k.feed("KEY_BACK", DOWN, ms(1000)).is_empty());
        assert!(k.tick(ms(1500)).is_empty());
        assert_eq!(k.tick(ms(1820)), [KeyEvent::LongPress(Action::Back)]);
        assert!(k.tick(ms(2500)).is_empty(), "once");
        assert!(
            k.feed("KEY_BACK", UP, ms(2600)).is_empty(),
            "no press after a long one"
        );
    }

    #[test]
    fn a_bare_scancode_stream_is_a_held_key() {
        let map = Keymap::parse(
            "[keys]\nKEY_UP = \"up\"\nKEY_OK = \"ok\"\n[scancodes]\n\"0x10\" = \"KEY_UP\"\n\"0x11\" = \"KEY_OK\"\n",
            "r.toml",
            |_| true,
        )
        .unwrap();
        let mut k = Keys::new(map, Timing::default());
        let mut ev = k.scancode(0x10, ms(0));
        for t in (110..=660).step_by(110) {
            ev.extend(k.scancode(0x10, ms(t)));
        }
        ev.extend(k.tick(ms(1000)));
        assert!(!k.busy());
        // Press at 0, repeats at 440 and 660 (≥400 ms held, ≥120 ms apart).
        assert_eq!(ev, vec![KeyEvent::Press(Action::Up); 3]);
        assert_eq!(k.scancode(0x11, ms(2000)), [KeyEvent::Press(Action::Ok)]);
        assert!(k.scancode(0x99, ms(2100)).is_empty());
    }

    proptest! {
        #[test]
        fn any_event_stream_ends_with_nothing_held(
            events in proptest::collection::vec((0usize..6, 0i32..4, 0u64..300), 0..60)
        ) {
            let names = ["KEY_UP", "KEY_OK", "KEY_BACK", "KEY_1", "KEY_VOLUMEUP", "KEY_X"];
            let mut k = keys();
            let mut t = 0;
            for (n, v, dt) in events {
                t += dt;
                k.feed(names[n], v, ms(t));
                k.tick(ms(t));
            }
            for n in names {
                k.feed(n, UP, ms(t + 1));
            }
            prop_assert!(!k.busy());
        }
    }
}

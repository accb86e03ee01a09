//! When a conference runs: never on its own (a virtual room), once, or
//! weekly. Times are Unix seconds passed in; nothing here reads a clock.

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Days of the week as a bit set, Monday = bit 0 ... Sunday = bit 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Days(u8);

impl Days {
    pub const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    /// From ISO weekday numbers, 1 = Monday ... 7 = Sunday.
    pub fn from_iso(days: &[u8]) -> Option<Self> {
        let mut bits = 0u8;
        for &d in days {
            if !(1..=7).contains(&d) {
                return None;
            }
            bits |= 1 << (d - 1);
        }
        Some(Self(bits))
    }

    pub fn from_names(names: &[&str]) -> Option<Self> {
        let mut bits = 0u8;
        for n in names {
            let lower = n.to_ascii_lowercase();
            let i = Self::NAMES
                .iter()
                .position(|d| lower.starts_with(d) && d.len() <= lower.len())?;
            bits |= 1 << i;
        }
        Some(Self(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// ISO weekday numbers in order.
    pub fn iso(self) -> Vec<u8> {
        (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| i + 1)
            .collect()
    }

    fn contains_iso(self, d: u8) -> bool {
        (1..=7).contains(&d) && self.0 & (1 << (d - 1)) != 0
    }
}

/// The v3 schedule object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Schedule {
    /// `{"type": -1}`: a virtual room, running until stopped.
    #[default]
    None,
    /// `{"type": 1, "start_time", "duration"}`.
    OneTime {
        start: i64,
        duration: u32,
        /// Minutes east of UTC the organiser lives in (display and ICS).
        offset_minutes: i32,
    },
    /// `{"type": 0, "days", "time", "duration"}`: every listed weekday at a
    /// local time of day.
    Weekly {
        days: Days,
        /// Minutes after local midnight.
        start_minute: u16,
        duration: u32,
        offset_minutes: i32,
    },
}

pub const MAX_ONE_TIME_DURATION: u32 = 31 * 86_400;
pub const MAX_WEEKLY_DURATION: u32 = 86_400;

/// ISO weekday (1 = Monday) of a day counted from the Unix epoch, which
/// began on a Thursday.
fn iso_weekday(day: i64) -> u8 {
    ((day + 3).rem_euclid(7) + 1) as u8
}

impl Schedule {
    /// The v3 `type` integer.
    pub fn kind(&self) -> i64 {
        match self {
            Schedule::None => -1,
            Schedule::OneTime { .. } => 1,
            Schedule::Weekly { .. } => 0,
        }
    }

    /// The occurrence `[start, end)` that contains `t`, if any.
    pub fn window_at(&self, t: i64) -> Option<(i64, i64)> {
        match *self {
            Schedule::None => None,
            Schedule::OneTime {
                start, duration, ..
            } => (start <= t && t < start + duration as i64)
                .then_some((start, start + duration as i64)),
            Schedule::Weekly { .. } => {
                // An occurrence containing t started at most one day before.
                let (s, _) = self.weekly_start_at_or_before(t)?;
                let end = s + self.duration() as i64;
                (t < end).then_some((s, end))
            }
        }
    }

    pub fn duration(&self) -> u32 {
        match *self {
            Schedule::None => 0,
            Schedule::OneTime { duration, .. } | Schedule::Weekly { duration, .. } => duration,
        }
    }

    pub fn offset_minutes(&self) -> i32 {
        match *self {
            Schedule::None => 0,
            Schedule::OneTime { offset_minutes, .. } | Schedule::Weekly { offset_minutes, .. } => {
                offset_minutes
            }
        }
    }

    /// The latest weekly start at or before `t` (within the last 8 days).
    fn weekly_start_at_or_before(&self, t: i64) -> Option<(i64, u8)> {
        let Schedule::Weekly {
            days,
            start_minute,
            offset_minutes,
            ..
        } = *self
        else {
            return None;
        };
        let off = offset_minutes as i64 * 60;
        let local = t + off;
        let today = local.div_euclid(DAY);
        (0..=8).find_map(|back| {
            let day = today - back;
            let wd = iso_weekday(day);
            let start = day * DAY + start_minute as i64 * 60 - off;
            (days.contains_iso(wd) && start <= t).then_some((start, wd))
        })
    }

    /// The first start strictly after `t`.
    pub fn next_start_after(&self, t: i64) -> Option<i64> {
        match *self {
            Schedule::None => None,
            Schedule::OneTime { start, .. } => (start > t).then_some(start),
            Schedule::Weekly {
                days,
                start_minute,
                offset_minutes,
                ..
            } => {
                if days.is_empty() {
                    return None;
                }
                let off = offset_minutes as i64 * 60;
                let today = (t + off).div_euclid(DAY);
                (0..=8).find_map(|fwd| {
                    let day = today + fwd;
                    let start = day * DAY + start_minute as i64 * 60 - off;
                    (days.contains_iso(iso_weekday(day)) && start > t).then_some(start)
                })
            }
        }
    }

    /// When the wanted running state next changes after `t`: the end of the
    /// current occurrence or the next start.
    pub fn next_transition(&self, t: i64) -> Option<i64> {
        match self.window_at(t) {
            Some((_, end)) => Some(end),
            None => self.next_start_after(t),
        }
    }

    /// Whether a scheduled conference should be running at `t`. Virtual
    /// rooms return `None`: only people start and stop them.
    pub fn wants_running(&self, t: i64) -> Option<bool> {
        match self {
            Schedule::None => None,
            _ => Some(self.window_at(t).is_some()),
        }
    }

    /// Occurrences starting in `[from, to)`, for calendars and the panel's
    /// "today" list. At most `limit` of them.
    pub fn occurrences(&self, from: i64, to: i64, limit: usize) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut t = from - 1;
        while out.len() < limit {
            let Some(s) = self.next_start_after(t) else {
                break;
            };
            if s >= to {
                break;
            }
            out.push((s, s + self.duration() as i64));
            t = s;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2027-01-01 12:00 MSK (+03:00), the seed's consultation.
    const SEED_START: i64 = 1_798_794_000;

    #[test]
    fn seed_one_time_schedule_runs_for_its_duration() {
        let s = Schedule::OneTime {
            start: SEED_START,
            duration: 1800,
            offset_minutes: 180,
        };
        assert_eq!(s.wants_running(SEED_START - 1), Some(false));
        assert_eq!(s.wants_running(SEED_START), Some(true));
        assert_eq!(s.wants_running(SEED_START + 1799), Some(true));
        assert_eq!(s.wants_running(SEED_START + 1800), Some(false));
        assert_eq!(s.next_transition(SEED_START - 100), Some(SEED_START));
        assert_eq!(s.next_transition(SEED_START + 5), Some(SEED_START + 1800));
        assert_eq!(s.next_transition(SEED_START + 1800), None);
    }

    #[test]
    fn epoch_weekdays() {
        assert_eq!(iso_weekday(0), 4); // 1970-01-01, Thursday
        assert_eq!(iso_weekday(4), 1); // 1970-01-05, Monday
        assert_eq!(iso_weekday(-1), 3);
    }

    #[test]
    fn weekly_tuesday_and_friday_at_nine_moscow_time() {
        let s = Schedule::Weekly {
            days: Days::from_names(&["tue", "fri"]).unwrap(),
            start_minute: 9 * 60,
            duration: 3600,
            offset_minutes: 180,
        };
        // 2027-01-05 is a Tuesday; 09:00 MSK is 06:00 UTC.
        let tue_9 = 1_799_128_800;
        assert_eq!(s.wants_running(tue_9 - 1), Some(false));
        assert_eq!(s.wants_running(tue_9), Some(true));
        assert_eq!(s.window_at(tue_9 + 60), Some((tue_9, tue_9 + 3600)));
        assert_eq!(s.next_start_after(tue_9), Some(tue_9 + 3 * DAY));
        let occ = s.occurrences(tue_9, tue_9 + 7 * DAY, 10);
        assert_eq!(occ.len(), 2);
        assert_eq!(occ[1].0, tue_9 + 3 * DAY);
    }

    #[test]
    fn weekly_occurrence_may_cross_midnight() {
        let s = Schedule::Weekly {
            days: Days::from_iso(&[7]).unwrap(),
            start_minute: 23 * 60 + 30,
            duration: 3600,
            offset_minutes: 0,
        };
        // Sunday 1970-01-04 23:30 UTC.
        let start = 3 * DAY + 23 * 3600 + 1800;
        assert_eq!(s.window_at(start + 3000), Some((start, start + 3600)));
        assert_eq!(s.window_at(start + 3600), None);
    }

    #[test]
    fn day_names_and_numbers() {
        assert_eq!(
            Days::from_names(&["Monday", "sun"]).unwrap().iso(),
            vec![1, 7]
        );
        assert!(Days::from_names(&["funday"]).is_none());
        assert!(Days::from_iso(&[0]).is_none());
        assert!(Days::from_iso(&[8]).is_none());
    }

    proptest! {
        #[test]
        fn weekly_transitions_agree_with_windows(
            bits in 1u8..128,
            minute in 0u16..1440,
            duration in 60u32..=86_400,
            offset in -720i32..=840,
            t in 0i64..4_000_000_000,
        ) {
            let s = Schedule::Weekly {
                days: Days(bits),
                start_minute: minute,
                duration,
                offset_minutes: offset,
            };
            let running = s.wants_running(t).unwrap();
            let next = s.next_transition(t).unwrap();
            prop_assert!(next > t);
            prop_assert!(next - t <= 8 * DAY);
            // Nothing changes strictly between t and the next transition.
            prop_assert_eq!(s.wants_running(next - 1).unwrap(), running);
            if running {
                let (a, b) = s.window_at(t).unwrap();
                prop_assert!(a <= t && t < b);
                let wd = iso_weekday((a + offset as i64 * 60).div_euclid(DAY));
                prop_assert!(Days(bits).contains_iso(wd));
            }
        }
    }
}

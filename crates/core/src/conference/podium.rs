//! Smart-meeting talk detection: who should be on the podium, from voice
//! activity and content sharing, with hysteresis so a cough does not
//! reshuffle the podium and a pause for breath does not drop a speaker.
//!
//! Input: per-participant voice reports (`active` or not, typically every
//! 50 to 200 ms from the audio-level header extension or a level meter) and
//! sharing changes, each with a monotonic `now`. Output: the podium
//! changes to make. Time is passed in; nothing here sleeps or reads a clock.

use std::collections::HashMap;
use std::time::Duration;

/// The thresholds. Defaults suit speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkConfig {
    /// Continuous voice needed before someone is considered talking.
    pub attack: Duration,
    /// Gaps shorter than this do not break a voice streak (breaths, plosives).
    pub gap: Duration,
    /// Silence after which a podium member gives up their place.
    pub release: Duration,
    /// Least time on the podium before a member can be replaced.
    pub hold: Duration,
}

impl Default for TalkConfig {
    fn default() -> Self {
        Self {
            attack: Duration::from_millis(800),
            gap: Duration::from_millis(400),
            release: Duration::from_secs(10),
            hold: Duration::from_secs(4),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Talk {
    streak_since: Option<Duration>,
    last_voice: Option<Duration>,
    sharing: bool,
    on_podium_since: Option<Duration>,
}

/// One podium change the roster should make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Up(String),
    Down(String),
}

/// Talk state for every participant of one smart meeting.
#[derive(Debug, Clone, Default)]
pub struct SmartPodium {
    pub config: TalkConfig,
    talk: HashMap<String, Talk>,
}

impl SmartPodium {
    pub fn new(config: TalkConfig) -> Self {
        Self {
            config,
            talk: HashMap::new(),
        }
    }

    /// Records one voice report.
    pub fn voice(&mut self, id: &str, active: bool, now: Duration) {
        let gap = self.config.gap;
        let t = self.talk.entry(id.to_string()).or_default();
        let broken = t
            .last_voice
            .is_none_or(|last| now.saturating_sub(last) > gap);
        if active {
            if broken || t.streak_since.is_none() {
                t.streak_since = Some(now);
            }
            t.last_voice = Some(now);
        } else if broken {
            t.streak_since = None;
        }
    }

    pub fn sharing(&mut self, id: &str, on: bool) {
        self.talk.entry(id.to_string()).or_default().sharing = on;
    }

    pub fn forget(&mut self, id: &str) {
        self.talk.remove(id);
    }

    /// Tells the detector who is on the podium now (after moderator moves
    /// or departures), so hold times start from the right moment.
    pub fn placed(&mut self, id: &str, on: bool, now: Duration) {
        let t = self.talk.entry(id.to_string()).or_default();
        t.on_podium_since = if on {
            Some(t.on_podium_since.unwrap_or(now))
        } else {
            None
        };
    }

    fn talking(&self, t: &Talk, now: Duration) -> bool {
        match (t.streak_since, t.last_voice) {
            (Some(since), Some(last)) => {
                now.saturating_sub(last) <= self.config.gap
                    && now.saturating_sub(since) >= self.config.attack
            }
            _ => false,
        }
    }

    fn silent_for(&self, t: &Talk, now: Duration) -> Duration {
        let since = t.last_voice.or(t.on_podium_since).unwrap_or_default();
        now.saturating_sub(since)
    }

    /// The changes to make now. `podium` is who is on it, `eligible` who may
    /// take a place (admitted participants), `max` the number of places.
    pub fn decide(
        &mut self,
        podium: &[String],
        eligible: &[String],
        max: usize,
        now: Duration,
    ) -> Vec<Change> {
        let mut on: Vec<String> = podium.to_vec();
        let mut changes = Vec::new();

        // Released: silent too long and not sharing.
        let release = self.config.release;
        let released: Vec<String> = on
            .iter()
            .filter(|id| {
                let t = self.talk.get(*id).cloned().unwrap_or_default();
                !t.sharing && self.silent_for(&t, now) >= release
            })
            .cloned()
            .collect();
        for id in released {
            on.retain(|x| x != &id);
            changes.push(Change::Down(id));
        }

        // Candidates: sharers first, then the longest talkers.
        let mut candidates: Vec<(bool, Duration, String)> = eligible
            .iter()
            .filter(|id| !on.contains(id))
            .filter_map(|id| {
                let t = self.talk.get(id)?;
                if t.sharing {
                    Some((true, Duration::ZERO, id.clone()))
                } else if self.talking(t, now) {
                    Some((false, t.streak_since.unwrap_or(now), id.clone()))
                } else {
                    None
                }
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

        for (sharer, _, id) in candidates {
            if on.len() < max {
                on.push(id.clone());
                changes.push(Change::Up(id));
                continue;
            }
            // Full: replace the member silent longest, if they may go.
            let victim = on
                .iter()
                .filter_map(|m| {
                    let t = self.talk.get(m).cloned().unwrap_or_default();
                    if t.sharing {
                        return None;
                    }
                    let held = t
                        .on_podium_since
                        .map(|s| now.saturating_sub(s))
                        .unwrap_or(Duration::MAX);
                    let silent = self.silent_for(&t, now);
                    let quiet_now = !self.talking(&t, now)
                        && t.last_voice
                            .is_none_or(|l| now.saturating_sub(l) > self.config.gap);
                    let may_go = held >= self.config.hold && quiet_now;
                    (may_go || (sharer && quiet_now)).then_some((silent, m.clone()))
                })
                .max();
            if let Some((_, m)) = victim {
                on.retain(|x| x != &m);
                changes.push(Change::Down(m));
                on.push(id.clone());
                changes.push(Change::Up(id));
            }
        }
        for c in &changes {
            match c {
                Change::Up(id) => self.placed(id, true, now),
                Change::Down(id) => self.placed(id, false, now),
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `active` reports every 100 ms from `from` to `to`.
    fn talk(p: &mut SmartPodium, id: &str, active: bool, from: u64, to: u64) {
        let mut t = from;
        while t < to {
            p.voice(id, active, ms(t));
            t += 100;
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_cough_does_not_take_the_podium_but_speech_does() {
        let mut p = SmartPodium::default();
        let all = ids(&["a", "b"]);
        talk(&mut p, "a", true, 0, 300);
        assert!(p.decide(&[], &all, 1, ms(300)).is_empty());
        talk(&mut p, "a", false, 300, 2000);
        talk(&mut p, "a", true, 2000, 3000);
        assert_eq!(
            p.decide(&[], &all, 1, ms(3000)),
            vec![Change::Up("a".into())]
        );
    }

    #[test]
    fn a_breath_does_not_break_a_streak() {
        let mut p = SmartPodium::default();
        talk(&mut p, "a", true, 0, 500);
        p.voice("a", false, ms(600));
        talk(&mut p, "a", true, 700, 1000);
        assert!(p.talking(&p.talk["a"].clone(), ms(900)));
    }

    #[test]
    fn silence_releases_a_place_after_the_release_time() {
        let mut p = SmartPodium::default();
        let all = ids(&["a"]);
        talk(&mut p, "a", true, 0, 1000);
        assert_eq!(p.decide(&[], &all, 2, ms(1000)).len(), 1);
        let on = ids(&["a"]);
        talk(&mut p, "a", false, 1000, 10_500);
        assert!(
            p.decide(&on, &all, 2, ms(10_500)).is_empty(),
            "held within release"
        );
        assert_eq!(
            p.decide(&on, &all, 2, ms(11_100)),
            vec![Change::Down("a".into())]
        );
    }

    #[test]
    fn a_new_talker_replaces_the_longest_silent_member_when_full() {
        let mut p = SmartPodium::default();
        let all = ids(&["a", "b", "c"]);
        talk(&mut p, "a", true, 0, 1000);
        talk(&mut p, "b", true, 0, 1000);
        let ch = p.decide(&[], &all, 2, ms(1000));
        assert_eq!(ch.len(), 2);
        let on = ids(&["a", "b"]);
        // b keeps talking a little later than a.
        talk(&mut p, "b", true, 1000, 2000);
        talk(&mut p, "c", true, 5000, 6000);
        let ch = p.decide(&on, &all, 2, ms(6000));
        assert_eq!(ch, vec![Change::Down("a".into()), Change::Up("c".into())]);
    }

    #[test]
    fn nobody_is_replaced_within_the_hold_time() {
        let mut p = SmartPodium::default();
        let all = ids(&["a", "b"]);
        talk(&mut p, "a", true, 0, 1000);
        p.decide(&[], &all, 1, ms(1000));
        talk(&mut p, "b", true, 1500, 2500);
        assert!(p.decide(&ids(&["a"]), &all, 1, ms(2500)).is_empty());
    }

    #[test]
    fn sharing_takes_a_place_and_keeps_it() {
        let mut p = SmartPodium::default();
        let all = ids(&["a", "s"]);
        talk(&mut p, "a", true, 0, 1000);
        p.decide(&[], &all, 1, ms(1000));
        p.sharing("s", true);
        talk(&mut p, "a", false, 1000, 1500);
        let ch = p.decide(&ids(&["a"]), &all, 1, ms(1500));
        assert_eq!(ch, vec![Change::Down("a".into()), Change::Up("s".into())]);
        // A sharer stays on the podium through silence.
        assert!(p.decide(&ids(&["s"]), &all, 1, ms(60_000)).is_empty());
    }
}

//! Back-off for guessing: after `after` failures in a row from one key (an
//! address, an address and a conference), the key is locked for `lock`,
//! doubling with every further lockout up to `max`. A success clears the
//! key (when the caller says so); failures further apart than `forget`
//! start the count again, and a key quiet for `forget` after its last
//! lock ended starts again from the first lock's length. The table is bounded: at `capacity` keys, the one seen longest ago
//! that is not locked makes room (or, when all are locked, the one whose
//! lock ends first). Sans-IO: `now` is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures in a row that lock the key.
    pub after: u32,
    /// The first lock; each further one doubles it.
    pub lock: Duration,
    /// The longest lock.
    pub max: Duration,
    /// Keys remembered at most.
    pub capacity: usize,
    /// A failure this long after the key's last one counts from one again.
    pub forget: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    lockouts: u32,
    locked_until: Option<Duration>,
    seen: Duration,
}

#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Err(retry_in)` while `key` is locked.
    pub fn check(&self, key: &K, now: Duration) -> Result<(), Duration> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure; `Some(lock)` when it locks the key.
    pub fn failed(&mut self, key: &K, now: Duration) -> Option<Duration> {
        if !self.entries.contains_key(key) {
            self.make_room(now);
        }
        let p = self.policy;
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            lockouts: 0,
            locked_until: None,
            seen: now,
        });
        if e.locked_until.is_some_and(|u| u <= now) {
            e.locked_until = None;
            e.failures = 0;
        }
        if now.saturating_sub(e.seen) > p.forget {
            e.failures = 0;
            e.lockouts = 0;
        }
        e.seen = now;
        e.failures += 1;
        if e.failures < p.after {
            return None;
        }
        let lock = p.lock.saturating_mul(1u32 << e.lockouts.min(16)).min(p.max);
        e.lockouts += 1;
        e.failures = 0;
        e.locked_until = Some(now.saturating_add(lock));
        // Quiet time counts from the lock's end, so a long lock does not
        // itself make the key forgotten.
        e.seen = now.saturating_add(lock);
        Some(lock)
    }

    /// A success: the key starts afresh.
    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Failures left before `key` is locked.
    pub fn remaining(&self, key: &K) -> u32 {
        let used = self.entries.get(key).map_or(0, |e| e.failures);
        self.policy.after.saturating_sub(used)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: Duration) {
        if self.entries.len() < self.policy.capacity.max(1) {
            return;
        }
        let locked = |e: &Entry| e.locked_until.is_some_and(|u| u > now);
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| !locked(e))
            .min_by_key(|(_, e)| e.seen)
            .or_else(|| {
                self.entries
                    .iter()
                    .min_by_key(|(_, e)| e.locked_until.unwrap_or_default())
            })
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy {
            after: 5,
            lock: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            capacity: 4,
            forget: Duration::from_secs(900),
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn five_failures_lock_with_doubling_back_off_and_a_success_clears() {
        let mut t = Throttle::new(policy());
        for i in 0..4 {
            assert_eq!(t.failed(&"a", s(i)), None);
        }
        assert_eq!(t.remaining(&"a"), 1);
        assert_eq!(t.failed(&"a", s(4)), Some(s(30)));
        assert_eq!(t.check(&"a", s(10)), Err(s(24)));
        assert_eq!(t.check(&"b", s(10)), Ok(()), "other keys are not affected");
        assert_eq!(t.check(&"a", s(34)), Ok(()));
        for i in 0..4 {
            assert_eq!(t.failed(&"a", s(40 + i)), None);
        }
        assert_eq!(
            t.failed(&"a", s(44)),
            Some(s(60)),
            "the second lock is twice as long"
        );
        t.succeeded(&"a");
        assert_eq!(t.check(&"a", s(50)), Ok(()));
        assert_eq!(t.remaining(&"a"), 5);
    }

    #[test]
    fn failures_far_apart_start_the_count_again() {
        let mut t = Throttle::new(policy());
        for i in 0..4 {
            assert_eq!(
                t.failed(&"a", s(i * 1000)),
                None,
                "each 1000 s after the last"
            );
        }
        assert_eq!(t.remaining(&"a"), 4);
    }

    #[test]
    fn locks_keep_doubling_past_the_forget_time_and_decay_after_quiet() {
        let mut t = Throttle::new(policy());
        let mut now = 0;
        let mut locks = Vec::new();
        // A guesser who comes back the moment each lock ends.
        for _ in 0..8 {
            let mut got = None;
            for _ in 0..5 {
                got = t.failed(&"a", s(now));
            }
            let lock = got.expect("the fifth failure locks");
            locks.push(lock.as_secs());
            now += lock.as_secs();
        }
        assert_eq!(locks, [30, 60, 120, 240, 480, 960, 1920, 3600]);
        // Quiet for longer than `forget` after the last lock ended: the
        // next lock is the first one's length again.
        now += 901;
        for _ in 0..4 {
            assert_eq!(t.failed(&"a", s(now)), None);
        }
        assert_eq!(t.failed(&"a", s(now)), Some(s(30)));
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_locked() {
        let mut t = Throttle::new(policy());
        for _ in 0..5 {
            t.failed(&0u32, s(0));
        }
        // A hundred other addresses, each failing once, within the lock.
        for k in 1..100u32 {
            t.failed(&k, s(1 + u64::from(k) / 10));
            assert!(t.len() <= 4);
        }
        assert!(
            t.check(&0, s(20)).is_err(),
            "a locked key outlives idle ones"
        );
    }

    proptest! {
        /// Whatever happens, the table stays within its capacity, a lock
        /// never exceeds the maximum, and no key is locked before `after`
        /// failures in a row.
        #[test]
        fn any_history_keeps_the_rules(ops in proptest::collection::vec((0u8..8, any::<bool>(), 0u64..120), 0..300)) {
            let mut t = Throttle::new(policy());
            let mut now = Duration::ZERO;
            let mut run: HashMap<u8, u32> = HashMap::new();
            for (key, ok, dt) in ops {
                now += Duration::from_secs(dt);
                if ok {
                    t.succeeded(&key);
                    run.remove(&key);
                } else if t.check(&key, now).is_ok() {
                    let n = run.entry(key).or_default();
                    *n += 1;
                    if let Some(lock) = t.failed(&key, now) {
                        prop_assert!(lock <= s(3600));
                        prop_assert!(*n >= 5, "locked after {} failures", n);
                        *n = 0;
                    }
                }
                prop_assert!(t.len() <= 4);
            }
        }
    }
}

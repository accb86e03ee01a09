//! Guessing conference PINs is slowed: a join that carries a PIN is
//! refused while its source is locked out of that conference, and a
//! guest's also while the conference itself is; every wrong PIN counts
//! towards the source's lock, and a guest's towards the conference's too.
//! The conference's strongest PIN (its host PIN, else its PIN) clears
//! only its own source's count. Joins without a PIN (owners, invited
//! users, guests of an open conference) are never held up, and signed-in
//! users are not held up by what guests did.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use dais_core::throttle::{Policy, Throttle};

use super::auth::source_key;

/// One source guessing one conference's PIN or host PIN: five wrong in a
/// row lock it out of that conference for 30 s, doubling up to an hour.
pub const PIN_GUESSES: Policy = Policy {
    after: 5,
    lock: Duration::from_secs(30),
    max: Duration::from_secs(3600),
    capacity: 10_000,
    forget: Duration::from_secs(900),
};

/// Many sources guessing one conference: fifty wrong PINs, each within a
/// quarter of an hour of the last, lock PIN joins to it for a minute,
/// doubling up to 15 minutes. A ten-thousand-PIN space then takes weeks.
pub const CONFERENCE_PIN_GUESSES: Policy = Policy {
    after: 50,
    lock: Duration::from_secs(60),
    max: Duration::from_secs(900),
    capacity: 10_000,
    forget: Duration::from_secs(900),
};

/// Who may not try a PIN now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// This source, for this conference.
    Source(Duration),
    /// Every source, for this conference.
    Conference(Duration),
}

impl Locked {
    pub fn retry_in(self) -> Duration {
        match self {
            Locked::Source(d) | Locked::Conference(d) => d,
        }
    }
}

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.retry_in().as_secs_f64().ceil() as u64;
        match self {
            Locked::Source(_) => write!(
                f,
                "too many wrong PINs for this conference from your address; try again in {secs} s"
            ),
            Locked::Conference(_) => write!(
                f,
                "too many wrong PINs for this conference; PIN entry is paused for {secs} s"
            ),
        }
    }
}

#[derive(Debug)]
pub struct PinGuesses {
    by_source: Mutex<Throttle<(IpAddr, String)>>,
    by_conference: Mutex<Throttle<String>>,
}

impl Default for PinGuesses {
    fn default() -> Self {
        Self {
            by_source: Mutex::new(Throttle::new(PIN_GUESSES)),
            by_conference: Mutex::new(Throttle::new(CONFERENCE_PIN_GUESSES)),
        }
    }
}

impl PinGuesses {
    /// `Err` while `source` may not try a PIN for `cid` (monotonic `now`).
    pub fn may_try(
        &self,
        source: IpAddr,
        cid: &str,
        guest: bool,
        now: Duration,
    ) -> Result<(), Locked> {
        let key = (source_key(source), cid.to_string());
        lock(&self.by_source)
            .check(&key, now)
            .map_err(Locked::Source)?;
        if !guest {
            return Ok(());
        }
        lock(&self.by_conference)
            .check(&cid.to_string(), now)
            .map_err(Locked::Conference)
    }

    /// A wrong PIN from `source` for `cid`; `Some` when it locks either.
    pub fn wrong(&self, source: IpAddr, cid: &str, guest: bool, now: Duration) -> Option<Locked> {
        let key = (source_key(source), cid.to_string());
        let conference = guest
            .then(|| lock(&self.by_conference).failed(&cid.to_string(), now))
            .flatten()
            .map(Locked::Conference);
        let source = lock(&self.by_source).failed(&key, now).map(Locked::Source);
        source.or(conference)
    }

    /// A right PIN from `source` for `cid`.
    pub fn right(&self, source: IpAddr, cid: &str) {
        lock(&self.by_source).succeeded(&(source_key(source), cid.to_string()));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 8));

    #[test]
    fn five_wrong_pins_lock_the_source_out_of_that_conference_only() {
        let g = PinGuesses::default();
        let t = Duration::from_secs(100);
        for i in 0..4 {
            assert_eq!(g.wrong(A, "5001", true, t), None, "guess {i}");
        }
        assert_eq!(
            g.wrong(A, "5001", true, t),
            Some(Locked::Source(Duration::from_secs(30)))
        );
        assert_eq!(
            g.may_try(A, "5001", true, t + Duration::from_secs(10)),
            Err(Locked::Source(Duration::from_secs(20)))
        );
        assert_eq!(g.may_try(A, "5002", true, t), Ok(()));
        assert_eq!(g.may_try(B, "5001", true, t), Ok(()));
        assert_eq!(
            g.may_try(A, "5001", true, t + Duration::from_secs(30)),
            Ok(())
        );
        // The message says when to come back, rounded up.
        let m = Locked::Source(Duration::from_millis(19_200)).to_string();
        assert!(m.contains("try again in 20 s"), "{m}");
    }

    #[test]
    fn a_right_pin_clears_its_own_source_only() {
        let g = PinGuesses::default();
        let t = Duration::from_secs(100);
        for _ in 0..4 {
            g.wrong(A, "5001", true, t);
            g.wrong(B, "5001", true, t);
        }
        g.right(A, "5001");
        assert_eq!(g.wrong(A, "5001", true, t), None);
        assert!(matches!(
            g.wrong(B, "5001", true, t),
            Some(Locked::Source(_))
        ));
    }

    #[test]
    fn many_sources_lock_the_conference() {
        let g = PinGuesses::default();
        let t = Duration::from_secs(100);
        let mut locked = None;
        for i in 0..50u8 {
            let src = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, i));
            locked = g.wrong(src, "5001", true, t);
        }
        assert_eq!(locked, Some(Locked::Conference(Duration::from_secs(60))));
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(10, 2, 0, 1));
        assert!(matches!(
            g.may_try(fresh, "5001", true, t),
            Err(Locked::Conference(_))
        ));
        assert_eq!(g.may_try(fresh, "5002", true, t), Ok(()));
        // A signed-in user is not held up by what guests did.
        assert_eq!(g.may_try(fresh, "5001", false, t), Ok(()));
    }
}

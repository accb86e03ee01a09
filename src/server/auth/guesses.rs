//! Guessing at the token endpoint: refused grants counted by source (an
//! IPv4 address, an IPv6 /64) and the client or user named, and by source
//! alone, each locking out with back-off (core `throttle`). A success
//! clears only its own pair.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use dais_core::throttle::{Policy, Throttle};

/// Guessing one client's secret or one user's password from one source:
/// five refused grants in a row lock the pair out for 30 s, doubling up to
/// an hour.
pub const TOKEN_GUESSES: Policy = Policy {
    after: 5,
    lock: Duration::from_secs(30),
    max: Duration::from_secs(3600),
    capacity: 10_000,
    forget: Duration::from_secs(900),
};

/// How much of a grant's client id or user name the throttle keeps.
pub const SUBJECT_MAX: usize = 128;

/// Guessing from one source across names: twenty refused grants, each
/// within a quarter of an hour of the last, lock the source out.
pub const SOURCE_GUESSES: Policy = Policy {
    after: 20,
    lock: Duration::from_secs(60),
    max: Duration::from_secs(3600),
    capacity: 10_000,
    forget: Duration::from_secs(900),
};

/// Who a grant names: the client id, or the user (refresh tokens name
/// neither and count under the source alone). At most
/// [`SUBJECT_MAX`] characters of the name are kept: the throttle holds
/// thousands of these, and a guess may send a name as long as the body.
pub fn grant_subject(form: &HashMap<String, String>) -> String {
    let get = |k: &str| {
        form.get(k).map(|s| {
            s.trim()
                .chars()
                .take(SUBJECT_MAX)
                .collect::<String>()
                .to_ascii_lowercase()
        })
    };
    match form.get("grant_type").map(String::as_str) {
        Some("password") => format!("user:{}", get("username").unwrap_or_default()),
        Some("client_credentials") => format!("client:{}", get("client_id").unwrap_or_default()),
        _ => String::new(),
    }
}

/// The key a source is throttled under: an IPv4 address, or an IPv6
/// address's /64 (one host may hold all of it).
pub fn source_key(ip: IpAddr) -> IpAddr {
    // An IPv4 peer on a dual-stack listener arrives as ::ffff:a.b.c.d: it
    // is that IPv4 address, not one /64 shared by every IPv4 client.
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The token endpoint's two counts.
pub struct Guesses {
    /// Refused grants by source and the client or user named
    /// ([`TOKEN_GUESSES`]); a success clears only its own pair.
    pairs: Mutex<Throttle<(IpAddr, String)>>,
    /// Refused grants by source, whoever was named ([`SOURCE_GUESSES`]);
    /// no success clears them, time does.
    sources: Mutex<Throttle<IpAddr>>,
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses {
            pairs: Mutex::new(Throttle::new(TOKEN_GUESSES)),
            sources: Mutex::new(Throttle::new(SOURCE_GUESSES)),
        }
    }
}

impl Guesses {
    /// `Err(retry_in)` while `peer` may not try `subject` (monotonic `now`).
    pub fn check(&self, peer: IpAddr, subject: &str, now: Duration) -> Result<(), Duration> {
        let peer = source_key(peer);
        let by_source = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        by_source.check(&peer, now)?;
        let g = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        g.check(&(peer, subject.to_string()), now)
    }

    /// A grant from `peer` naming `subject` was refused (wrong secret,
    /// password or refresh token); `Some(lock)` when that locks it out.
    pub fn refused(&self, peer: IpAddr, subject: &str, now: Duration) -> Option<Duration> {
        let peer = source_key(peer);
        let by_source = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(&peer, now);
        let by_pair = self
            .pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(&(peer, subject.to_string()), now);
        by_pair.or(by_source)
    }

    /// A grant from `peer` naming `subject` succeeded: that pair starts
    /// afresh (the source's count stays).
    pub fn granted(&self, peer: IpAddr, subject: &str) {
        self.pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .succeeded(&(source_key(peer), subject.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_ipv4_client_on_a_dual_stack_listener_is_its_own_source() {
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        let other: IpAddr = "::ffff:10.0.0.8".parse().unwrap();
        assert_eq!(source_key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
        assert_ne!(source_key(mapped), source_key(other));
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(source_key(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_grant_subject_is_bounded_whatever_name_is_sent() {
        let long = "x".repeat(100_000);
        let f = form(&[("grant_type", "client_credentials"), ("client_id", &long)]);
        assert_eq!(grant_subject(&f).len(), "client:".len() + SUBJECT_MAX);
        let f = form(&[("grant_type", "password"), ("username", " Ann ")]);
        assert_eq!(grant_subject(&f), "user:ann");
        assert_eq!(grant_subject(&form(&[("grant_type", "refresh_token")])), "");
    }

    #[test]
    fn a_success_clears_only_its_own_guesses_and_sources_are_counted_apart() {
        let a = Guesses::default();
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let next_door: IpAddr = "2001:db8::8".parse().unwrap();
        let t = Duration::from_secs(100);
        for _ in 0..4 {
            assert_eq!(a.refused(ip, "client:admin", t), None);
        }
        // Signing in as oneself does not buy more guesses at the admin.
        a.granted(ip, "user:mallory");
        // Another address of the same /64 is the same source.
        assert_eq!(
            a.refused(next_door, "client:admin", t),
            Some(Duration::from_secs(30))
        );
        assert!(a.check(ip, "client:admin", t).is_err());
        assert!(a.check(ip, "user:mallory", t).is_ok());
        // Across names, twenty refusals lock the source out.
        let other: IpAddr = "192.0.2.9".parse().unwrap();
        for i in 0..19 {
            assert_eq!(a.refused(other, &format!("user:u{i}"), t), None);
        }
        assert!(a.refused(other, "user:u19", t).is_some());
        assert!(a.check(other, "user:anyone", t).is_err());
        assert!(a.check(ip, "user:anyone", t).is_ok());
    }
}

//! Who may drive the room: the control PIN, control tokens, and lockout of
//! addresses that keep guessing.
//!
//! A controller authenticates with the PIN (or an API access token from
//! `/oauth2/v1/token`) and gets a control token for its later requests and
//! for `Authorization: Bearer` on `POST /control`. After `lockout_after`
//! failures in a row from one address, that address is locked out for
//! `lockout_seconds`, doubling with every further lockout up to an hour.
//! Time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use dais_core::throttle::{Policy, Throttle};

use crate::server::auth::{random_hex, token_hash};

/// How long a control token lives without use.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_LOCKOUT: Duration = Duration::from_secs(3600);
/// Addresses whose failures the gate remembers at most: past that, the
/// one seen longest ago (and not locked) makes room, so guessing from
/// many addresses cannot grow the table without bound.
pub const REMEMBERED_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("wrong PIN or token ({remaining} attempts left before a lockout)")]
    Wrong { remaining: u32 },
    #[error("too many failed attempts from this address; try again in {} s", retry_in.as_secs().max(1))]
    Locked { retry_in: Duration },
    #[error(
        "authentication is required: send {{\"method\": \"auth\", \"credentials\": \"<PIN or token>\"}} first"
    )]
    Required,
    #[error("the control token is not valid or has expired; authenticate again")]
    BadToken,
}

/// Settings the gate works with.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub require_auth: bool,
    pub pin: Option<String>,
    pub lockout_after: u32,
    pub lockout: Duration,
}

pub struct Gate {
    config: GateConfig,
    /// token hash -> expiry (monotonic)
    tokens: Mutex<HashMap<String, Duration>>,
    failures: Mutex<Throttle<IpAddr>>,
}

impl Gate {
    pub fn new(config: GateConfig) -> Self {
        let policy = Policy {
            after: config.lockout_after.max(1),
            lock: config.lockout,
            max: MAX_LOCKOUT,
            capacity: REMEMBERED_ADDRESSES,
            forget: Duration::from_secs(900),
        };
        Self {
            config,
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(Throttle::new(policy)),
        }
    }

    /// Addresses with failures remembered (bounded by
    /// [`REMEMBERED_ADDRESSES`]).
    pub fn remembered(&self) -> usize {
        self.failures.lock().map(|f| f.len()).unwrap_or(0)
    }

    pub fn required(&self) -> bool {
        self.config.require_auth
    }

    /// Checks credentials from `peer`. `api_token_ok` says whether the
    /// credentials are a valid REST API access token (checked by the caller,
    /// which has the server). Returns a new control token.
    pub fn authenticate(
        &self,
        peer: IpAddr,
        credentials: &str,
        api_token_ok: bool,
        now: Duration,
    ) -> Result<String, GateError> {
        let peer = peer.to_canonical();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(retry_in) = failures.check(&peer, now) {
            return Err(GateError::Locked { retry_in });
        }
        let pin_ok = self
            .config
            .pin
            .as_deref()
            .is_some_and(|pin| constant_time_eq(pin.as_bytes(), credentials.as_bytes()));
        if pin_ok || api_token_ok || self.token_valid(credentials, now) {
            failures.succeeded(&peer);
            drop(failures);
            return Ok(self.issue(now));
        }
        if let Some(lock) = failures.failed(&peer, now) {
            tracing::warn!(%peer, seconds = lock.as_secs(), "control: address locked out after failed authentication");
            return Err(GateError::Locked { retry_in: lock });
        }
        Err(GateError::Wrong {
            remaining: failures.remaining(&peer),
        })
    }

    fn issue(&self, now: Duration) -> String {
        let token = random_hex(24);
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|_, exp| *exp > now);
        t.insert(token_hash(&token), now + TOKEN_TTL);
        token
    }

    /// Whether a control token is valid; a valid one is extended.
    pub fn token_valid(&self, token: &str, now: Duration) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match t.get_mut(&token_hash(token)) {
            Some(exp) if *exp > now => {
                *exp = now + TOKEN_TTL;
                true
            }
            _ => false,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(GateConfig {
            require_auth: true,
            pin: Some("2468".into()),
            lockout_after: 5,
            lockout: Duration::from_secs(30),
        })
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_pin_gives_a_token_that_works_until_it_expires() {
        let g = gate();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let t = g.authenticate(ip, "2468", false, at(0)).unwrap();
        assert!(g.token_valid(&t, at(10)));
        // A token may itself authenticate a new connection.
        assert!(g.authenticate(ip, &t, false, at(20)).is_ok());
        assert!(!g.token_valid(&t, at(20) + TOKEN_TTL + at(1)));
        assert!(!g.token_valid("nonsense", at(1)));
    }

    #[test]
    fn five_wrong_pins_lock_the_address_out_with_growing_back_off() {
        let g = gate();
        let ip: IpAddr = "10.0.0.8".parse().unwrap();
        for left in (1..5).rev() {
            assert_eq!(
                g.authenticate(ip, "0000", false, at(0)),
                Err(GateError::Wrong { remaining: left })
            );
        }
        assert_eq!(
            g.authenticate(ip, "0000", false, at(0)),
            Err(GateError::Locked { retry_in: at(30) })
        );
        // Even the right PIN is refused while locked.
        assert!(matches!(
            g.authenticate(ip, "2468", false, at(10)),
            Err(GateError::Locked { .. })
        ));
        // Another address is unaffected.
        assert!(
            g.authenticate("10.0.0.9".parse().unwrap(), "2468", false, at(10))
                .is_ok()
        );
        // After the lockout: five more failures lock for twice as long.
        for _ in 0..4 {
            let _ = g.authenticate(ip, "1", false, at(31));
        }
        assert_eq!(
            g.authenticate(ip, "1", false, at(31)),
            Err(GateError::Locked { retry_in: at(60) })
        );
        assert!(g.authenticate(ip, "2468", false, at(92)).is_ok());
    }

    #[test]
    fn guessing_from_many_addresses_keeps_the_table_bounded() {
        let g = gate();
        for i in 0..(REMEMBERED_ADDRESSES as u32 + 5_000) {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            let _ = g.authenticate(ip, "0000", false, at(1));
        }
        assert!(g.remembered() <= REMEMBERED_ADDRESSES, "{}", g.remembered());
        // A locked-out address is not the one that makes room.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            let _ = g.authenticate(ip, "0000", false, at(2));
        }
        for i in 0..REMEMBERED_ADDRESSES as u32 {
            let other = IpAddr::from((0x0b00_0000u32 + i).to_be_bytes());
            let _ = g.authenticate(other, "0000", false, at(3));
        }
        assert!(matches!(
            g.authenticate(ip, "2468", false, at(4)),
            Err(GateError::Locked { .. })
        ));
    }

    #[test]
    fn without_a_pin_only_api_tokens_pass() {
        let g = Gate::new(GateConfig {
            require_auth: true,
            pin: None,
            lockout_after: 5,
            lockout: at(30),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(g.authenticate(ip, "", false, at(0)).is_err());
        assert!(g.authenticate(ip, "whatever", true, at(0)).is_ok());
    }
}

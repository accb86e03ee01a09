//! Time as a value that can be passed in.
//!
//! Sans-IO code takes `now` as an argument; the edges get it from a
//! [`Clock`]. Production uses [`SystemClock`]; tests use [`ManualClock`] to
//! move time forward (a guest link expiring after a minute, a scheduled
//! conference starting) without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Wall-clock Unix seconds.
    fn unix(&self) -> i64;
    /// Monotonic time since some fixed origin.
    fn mono(&self) -> Duration;
}

#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn mono(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    unix: AtomicI64,
    mono_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(unix: i64) -> Self {
        Self {
            unix: AtomicI64::new(unix),
            mono_ms: AtomicI64::new(0),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.unix.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
        self.mono_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    pub fn set_unix(&self, unix: i64) {
        self.unix.store(unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix(&self) -> i64 {
        self.unix.load(Ordering::SeqCst)
    }

    fn mono(&self) -> Duration {
        Duration::from_millis(self.mono_ms.load(Ordering::SeqCst).max(0) as u64)
    }
}

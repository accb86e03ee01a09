//! Talking to systemd: readiness, status text, stopping and the watchdog.
//!
//! All calls are no-ops outside systemd (`NOTIFY_SOCKET` unset), so the
//! same binary runs under `make run`, in tests and on the appliance.

use std::time::Duration;

use sd_notify::NotifyState;

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn watchdog_ping() {
    notify(&[NotifyState::Watchdog]);
}

/// The interval to ping at (half of `WatchdogSec`), when the unit has one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "systemd notify failed");
    }
}

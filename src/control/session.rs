//! One controller connection, whatever carries it (TCP line, WebSocket,
//! the local socket, one HTTP request): authentication, rate limit,
//! requests, replies and feedback subscriptions.
//!
//! A request is a JSON object or a `trueconf:` link. Beyond the `Command`
//! methods a connection understands `auth`, `subscribe` and `unsubscribe`.
//! A subscription to a state path (`audio.volume`, `conference`,
//! `activity`...) first sends the current value, then every change, as
//! Cisco's xFeedback does; every authenticated connection also gets
//! `appStateChanged` when the room's activity changes.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dais_core::slots::{Slot, Slots};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::gate::{Gate, GateError};
use super::request;
use crate::app::{App, AppState};
use crate::command::{CommandError, ErrorCode, Source};

/// Connections the local socket takes at once.
pub const LOCAL_CONNECTIONS: usize = 16;
/// How long a network connection may stay without authenticating (when
/// authentication is required) before it is closed.
pub const AUTH_DEADLINE: Duration = Duration::from_secs(10);

/// What every connection shares.
pub struct ControlService {
    pub app: App,
    pub gate: Gate,
    /// A slot per open network connection (TCP and WebSocket), at most
    /// `control.max_connections_per_address` from one address.
    pub connections: Arc<Slots<IpAddr>>,
    /// The local socket's own pool: a flood on the network cannot keep
    /// `dais open` out.
    pub local: Arc<Semaphore>,
    pub idle_timeout: Duration,
    pub rate_limit: u32,
    origin: Instant,
}

impl ControlService {
    pub fn new(
        app: App,
        gate: Gate,
        max_connections: usize,
        per_address: usize,
        idle_timeout: Duration,
        rate_limit: u32,
    ) -> Self {
        Self {
            app,
            gate,
            connections: Slots::new(per_address, max_connections),
            local: Arc::new(Semaphore::new(LOCAL_CONNECTIONS)),
            idle_timeout,
            rate_limit,
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// A network connection's slot, or why there is none.
    pub fn slot(&self, peer: IpAddr) -> Result<Slot<IpAddr>, dais_core::slots::Full> {
        self.connections.take(peer.to_canonical())
    }
}

/// A token bucket: `rate` per second, bursts of twice that.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Duration,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Self {
            rate: rate as f64,
            tokens: rate as f64 * 2.0,
            last: Duration::ZERO,
        }
    }

    fn take(&mut self, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate * 2.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-connection state.
pub struct Session {
    pub peer: SocketAddr,
    /// The local socket: file permissions already decided who may connect.
    trusted: bool,
    authed: bool,
    subs: BTreeMap<String, Value>,
    last_activity: Option<Value>,
    bucket: Bucket,
    source: Source,
    /// One request per HTTP call: no subscriptions.
    one_shot: bool,
}

fn error_reply(id: Option<Value>, code: ErrorCode, msg: impl Into<String>) -> Value {
    request::reply(id, Err(CommandError::new(code, msg)))
}

impl Session {
    pub fn new(peer: SocketAddr, trusted: bool, rate: u32, one_shot: bool) -> Self {
        Self {
            peer,
            trusted,
            authed: false,
            subs: BTreeMap::new(),
            last_activity: None,
            bucket: Bucket::new(rate),
            source: Source::Control {
                peer: if trusted {
                    "local socket".into()
                } else {
                    peer.to_string()
                },
            },
            one_shot,
        }
    }

    /// Marks the session authenticated (a valid bearer on HTTP).
    pub fn set_authed(&mut self) {
        self.authed = true;
    }

    /// How long this connection may wait for its next request: the idle
    /// timeout, or until [`AUTH_DEADLINE`] after `opened` while it has not
    /// authenticated. `None` when that deadline has passed.
    pub fn read_deadline(&self, svc: &ControlService, opened: Instant) -> Option<Duration> {
        if self.authed(svc) {
            return Some(svc.idle_timeout);
        }
        AUTH_DEADLINE
            .checked_sub(opened.elapsed())
            .filter(|d| !d.is_zero())
            .map(|d| d.min(svc.idle_timeout))
    }

    pub fn authed(&self, svc: &ControlService) -> bool {
        self.authed || self.trusted || !svc.gate.required()
    }

    /// Handles one request and returns the reply to send.
    pub async fn on_text(&mut self, svc: &ControlService, text: &str) -> Value {
        let now = svc.now();
        if !self.bucket.take(now) {
            return error_reply(
                None,
                ErrorCode::RateLimited,
                format!(
                    "more than {} requests per second on this connection",
                    svc.rate_limit
                ),
            );
        }
        let text = text.trim();
        let lower = text.get(..9).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("trueconf:")
            || lower.starts_with("visicall:")
            || lower.starts_with("intent:")
        {
            return self
                .command_json(svc, None, json!({"method": "openLink", "link": text}))
                .await;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return error_reply(
                    None,
                    ErrorCode::BadRequest,
                    format!(
                        "not valid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                );
            }
        };
        let id = value
            .get("requestId")
            .cloned()
            .filter(|v| v.is_string() || v.is_number());
        match value.get("method").and_then(Value::as_str) {
            Some("auth") => self.auth(svc, id, &value, now),
            Some("subscribe") | Some("unsubscribe") => self.subscription(svc, id, &value),
            _ => self.command_json(svc, id, value).await,
        }
    }

    fn auth(&mut self, svc: &ControlService, id: Option<Value>, v: &Value, now: Duration) -> Value {
        let Some(creds) = v.get("credentials").and_then(Value::as_str) else {
            return error_reply(
                id,
                ErrorCode::BadRequest,
                "credentials: the PIN or a token, as a string",
            );
        };
        if let Some(extra) = v.as_object().and_then(|o| {
            o.keys()
                .find(|k| !["method", "requestId", "credentials", "type"].contains(&k.as_str()))
        }) {
            return error_reply(
                id,
                ErrorCode::BadRequest,
                format!("unknown parameter `{extra}` for method auth"),
            );
        }
        let server = &svc.app.shared.server;
        let api_ok = server
            .auth()
            .check(creds, server.now())
            .is_ok_and(|p| p.is_admin());
        match svc.gate.authenticate(self.peer.ip(), creds, api_ok, now) {
            Ok(token) => {
                self.authed = true;
                request::reply(id, Ok(crate::app::Reply::Json(json!({"token": token}))))
            }
            Err(e @ GateError::Locked { .. }) => {
                error_reply(id, ErrorCode::LockedOut, e.to_string())
            }
            Err(e) => error_reply(id, ErrorCode::Unauthorized, e.to_string()),
        }
    }

    fn subscription(&mut self, svc: &ControlService, id: Option<Value>, v: &Value) -> Value {
        if !self.authed(svc) {
            return error_reply(id, ErrorCode::Unauthorized, GateError::Required.to_string());
        }
        if self.one_shot {
            return error_reply(
                id,
                ErrorCode::BadRequest,
                "subscriptions need a WebSocket or TCP connection",
            );
        }
        let Some(path) = v.get("path").and_then(Value::as_str) else {
            return error_reply(
                id,
                ErrorCode::BadRequest,
                "path: a state path such as \"audio.volume\" or \"conference\"",
            );
        };
        let subscribe = v.get("method").and_then(Value::as_str) == Some("subscribe");
        let state = state_json(&svc.app.state());
        if subscribe {
            let Some(current) = lookup(&state, path) else {
                return error_reply(
                    id,
                    ErrorCode::BadRequest,
                    format!(
                        "path: no state at {path:?}; try one of {}",
                        top_paths(&state)
                    ),
                );
            };
            self.subs.insert(path.to_string(), current.clone());
            request::reply(
                id,
                Ok(crate::app::Reply::Json(
                    json!({"path": path, "value": current}),
                )),
            )
        } else if self.subs.remove(path).is_some() {
            request::reply(id, Ok(crate::app::Reply::Done))
        } else {
            error_reply(
                id,
                ErrorCode::NotFound,
                format!("path: not subscribed to {path:?}"),
            )
        }
    }

    async fn command_json(
        &mut self,
        svc: &ControlService,
        id: Option<Value>,
        value: Value,
    ) -> Value {
        if !self.authed(svc) {
            return error_reply(id, ErrorCode::Unauthorized, GateError::Required.to_string());
        }
        let parsed = request::parse_value(value);
        let id = parsed.request_id.or(id);
        let outcome = match parsed.command {
            Ok(cmd) => svc.app.dispatch(cmd, self.source.clone()).await,
            Err(e) => Err(e),
        };
        request::reply(id, outcome)
    }

    /// The events to send after a state change: feedback for subscribed
    /// paths whose value changed, and `appStateChanged` on a new activity.
    pub fn on_state(&mut self, svc: &ControlService, st: &AppState) -> Vec<Value> {
        let state = state_json(st);
        let activity = state.get("activity").cloned();
        let changed = self.last_activity.is_some() && self.last_activity != activity;
        self.last_activity = activity.clone();
        if !self.authed(svc) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if changed {
            out.push(json!({"event": "appStateChanged", "activity": activity, "appState": state}));
        }
        for (path, last) in self.subs.iter_mut() {
            let now = lookup(&state, path).cloned().unwrap_or(Value::Null);
            if &now != last {
                out.push(json!({"event": "feedback", "path": path, "value": now}));
                *last = now;
            }
        }
        out
    }
}

fn state_json(st: &AppState) -> Value {
    serde_json::to_value(st).unwrap_or(Value::Null)
}

/// A dotted path into the state (`audio.volume`, `conference.cid`).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |cur, seg| cur.get(seg))
}

fn top_paths(v: &Value) -> String {
    v.as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_bursts_then_the_rate() {
        let mut b = Bucket::new(10);
        let t = Duration::from_secs(1);
        let allowed = (0..50).filter(|_| b.take(t)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate");
        assert!(!b.take(t));
        assert!(
            b.take(t + Duration::from_millis(150)),
            "refills at the rate"
        );
    }

    #[test]
    fn paths_reach_into_the_state() {
        let v = json!({"audio": {"volume": 30}, "conference": null});
        assert_eq!(lookup(&v, "audio.volume"), Some(&json!(30)));
        assert_eq!(lookup(&v, "conference"), Some(&Value::Null));
        assert_eq!(lookup(&v, "audio.bass"), None);
    }
}

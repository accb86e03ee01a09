//! The checks of what dais listens on and how: HTTP and HTTPS (addresses,
//! certificates, origins, host names, limits) and the control network.

use std::net::SocketAddr;

use super::super::Settings;

/// Every problem of `s`'s `http` and `control` sections, told to `bad`.
pub(super) fn check(s: &Settings, bad: &mut impl FnMut(&str, String)) {
    for (i, o) in s.http.allowed_origins.iter().enumerate() {
        if !dais_core::origin::valid(o) {
            bad(
                &format!("http.allowed_origins[{i}]"),
                format!(
                    "a web origin such as \"https://panel.example.org:8443\" (scheme, host, optional port; no path), got {o:?}"
                ),
            );
        }
    }
    for (i, h) in s.http.allowed_hosts.iter().enumerate() {
        if !dais_core::origin::valid_host_entry(h) {
            bad(
                &format!("http.allowed_hosts[{i}]"),
                format!(
                    "a host name such as \"room-12.corp.example\", \"*.rooms.example\" or \"*\" (no scheme, port or path), got {h:?}"
                ),
            );
        }
    }
    let scrape = s.http.metrics_token.expose();
    if !scrape.is_empty() && (scrape.chars().count() < 16 || !scrape.is_ascii()) {
        bad(
            "http.metrics_token",
            "at least 16 ASCII characters (it is a password for /metrics), or empty for none"
                .to_string(),
        );
    }
    let h = &s.http;
    if !h.https_listen.is_empty() {
        match h.https_listen.parse::<SocketAddr>() {
            Err(_) => bad(
                "http.https_listen",
                format!(
                    "ADDR:PORT such as \"0.0.0.0:8443\", or \"\" for none, got {:?}",
                    h.https_listen
                ),
            ),
            Ok(a) if a == h.listen => bad(
                "http.https_listen",
                format!("an address other than http.listen ({})", h.listen),
            ),
            Ok(a) if s.control.enabled && a == s.control.listen => bad(
                "http.https_listen",
                format!("an address other than control.listen ({a})"),
            ),
            Ok(_) => {}
        }
    }
    if h.tls_certificate.is_empty() != h.tls_key.is_empty() {
        let (field, other) = if h.tls_certificate.is_empty() {
            ("http.tls_certificate", "http.tls_key")
        } else {
            ("http.tls_key", "http.tls_certificate")
        };
        bad(
            field,
            format!("a PEM file, since {other} is set (both or neither)"),
        );
    }
    if !(1024..=64 * 1024 * 1024).contains(&s.http.max_body_bytes) {
        bad(
            "http.max_body_bytes",
            format!(
                "an integer from 1024 to 67108864, got {}",
                s.http.max_body_bytes
            ),
        );
    }
    if !(16..=100_000).contains(&s.http.max_connections) {
        bad(
            "http.max_connections",
            format!("16 to 100000, got {}", s.http.max_connections),
        );
    }
    if !(1..=s.http.max_connections.max(1)).contains(&s.http.max_connections_per_address) {
        bad(
            "http.max_connections_per_address",
            format!(
                "1 to http.max_connections ({}), got {}",
                s.http.max_connections, s.http.max_connections_per_address
            ),
        );
    }
    if !(1..=s.control.max_connections.max(1)).contains(&s.control.max_connections_per_address) {
        bad(
            "control.max_connections_per_address",
            format!(
                "1 to control.max_connections ({}), got {}",
                s.control.max_connections, s.control.max_connections_per_address
            ),
        );
    }
    if !(1..=10_000).contains(&s.control.max_connections) {
        bad(
            "control.max_connections",
            format!(
                "an integer from 1 to 10000, got {}",
                s.control.max_connections
            ),
        );
    }
    let c = &s.control;
    if !c.http_listen.is_empty() && c.http_listen.parse::<SocketAddr>().is_err() {
        bad(
            "control.http_listen",
            format!(
                "ADDR:PORT such as \"10.10.0.5:8443\", or \"\", got {:?}",
                c.http_listen
            ),
        );
    }
    let p = c.pin.expose();
    if !p.is_empty() && (p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit())) {
        bad("control.pin", "1 to 20 digits, or \"\" for none".into());
    }
    let a = s.panel.admin_pin.expose();
    if !a.is_empty() && (a.len() > 20 || !a.bytes().all(|b| b.is_ascii_digit())) {
        bad("panel.admin_pin", "1 to 20 digits, or \"\" for none".into());
    }
    if !(5..=86_400).contains(&c.idle_timeout) {
        bad(
            "control.idle_timeout",
            format!("5 to 86400 seconds, got {}", c.idle_timeout),
        );
    }
    if !(1..=10_000).contains(&c.rate_limit) {
        bad(
            "control.rate_limit",
            format!("1 to 10000 requests per second, got {}", c.rate_limit),
        );
    }
    if !(1..=100).contains(&c.lockout_after) {
        bad(
            "control.lockout_after",
            format!("1 to 100 failures, got {}", c.lockout_after),
        );
    }
    if !(1..=3600).contains(&c.lockout_seconds) {
        bad(
            "control.lockout_seconds",
            format!("1 to 3600 seconds, got {}", c.lockout_seconds),
        );
    }
    if s.control.enabled && s.control.listen == s.http.listen {
        bad(
            "control.listen",
            format!("an address other than http.listen ({})", s.http.listen),
        );
    }
}

//! What dais listens on: the HTTP and HTTPS listeners and the control
//! network.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::super::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    #[serde(with = "super::addr")]
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Web origins besides dais's own whose pages may use its WebSockets
    /// and `POST /control` from a browser (`https://panel.example.org`).
    pub allowed_origins: Vec<String>,
    /// Names besides its addresses, `localhost` and its host name by which
    /// dais may be reached (`room-12.corp.example`, `*.rooms.example`, `*`).
    pub allowed_hosts: Vec<String>,
    /// A bearer token for Prometheus to read `/metrics` with; empty: only
    /// admin API and control tokens may.
    pub metrics_token: Secret,
    /// Most connections open at once on each HTTP(S) listener.
    pub max_connections: u32,
    /// Most of them from one address: a
    /// meeting's guests behind one NAT share it.
    pub max_connections_per_address: u32,
    /// `ADDR:PORT` of the HTTPS listener, which serves everything `listen`
    /// does over TLS; `listen` then answers the health probes and sends
    /// the rest here. Empty: no TLS (dais behind a TLS proxy).
    pub https_listen: String,
    /// The operator's certificate chain (PEM file, the server's first);
    /// empty: a device certificate from dais's own CA.
    pub tls_certificate: String,
    /// The private key of `tls_certificate` (PEM file).
    pub tls_key: String,
}

impl HttpSettings {
    /// The HTTPS listener's address, when there is one (validated at load).
    pub fn https(&self) -> Option<SocketAddr> {
        self.https_listen.parse().ok()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 256 * 1024,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            metrics_token: Secret::default(),
            max_connections: 4096,
            max_connections_per_address: 256,
            https_listen: "0.0.0.0:8443".into(),
            tls_certificate: String::new(),
            tls_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlSettings {
    pub enabled: bool,
    /// TCP line protocol for room controllers.
    #[serde(with = "super::addr")]
    pub listen: SocketAddr,
    /// A listener of its own for the WebSocket API and `POST /control`, so
    /// they live only on the control network; empty: on `http.listen`.
    pub http_listen: String,
    /// Controllers must authenticate (PIN or token). Turn off only on an
    /// isolated control network.
    pub require_auth: bool,
    /// The control PIN (digits). `dais run --control-pin` sets it for one run.
    pub pin: Secret,
    /// Most simultaneous controller connections (the local socket has a
    /// pool of its own).
    pub max_connections: u32,
    /// Most of them from one address.
    pub max_connections_per_address: u32,
    /// Seconds of silence before a connection is closed.
    pub idle_timeout: u32,
    /// Requests per second a connection may make (bursts of twice that).
    pub rate_limit: u32,
    /// Failed authentications from one address before it is locked out.
    pub lockout_after: u32,
    /// First lockout in seconds; each further lockout doubles, up to an hour.
    pub lockout_seconds: u32,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 4710)),
            http_listen: String::new(),
            require_auth: true,
            pin: Secret::default(),
            max_connections: 200,
            max_connections_per_address: 16,
            idle_timeout: 300,
            rate_limit: 50,
            lockout_after: 5,
            lockout_seconds: 30,
        }
    }
}

//! Outbound HTTP and WebSocket: the one client dais uses to reach other
//! servers (another dais's API and signalling today).
//!
//! - TLS is rustls with ring, and servers are checked against the system's
//!   trust store (`/etc/ssl/certs`, where an IT team adds its own CA).
//! - Every request has a deadline: [`CONNECT_TIMEOUT`] to connect and
//!   [`REQUEST_TIMEOUT`] for the whole answer.
//! - Redirects are followed up to [`MAX_REDIRECTS`]; 307 and 308 keep the
//!   method and body. A redirect from https to plain http is refused, and
//!   credentials are not sent on to another host.
//! - Chunked and length-delimited bodies both read, up to [`MAX_BODY`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_REDIRECTS: usize = 5;
/// The longest answer read: API answers are small.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("timed out")]
    TimedOut,
    /// Could not connect, TLS failed, the redirect was refused, the
    /// connection broke: the reason with its causes.
    #[error("{0}")]
    Failed(String),
    #[error("the answer is longer than {MAX_BODY} bytes")]
    TooLong,
    #[error("the TLS client cannot be set up: {0}")]
    Tls(String),
}

impl From<reqwest::Error> for OutboundError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return OutboundError::TimedOut;
        }
        // reqwest's own message is terse ("error sending request"): the
        // causes say what went wrong (refused, TLS, redirect).
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !reason.contains(&s_text) {
                reason.push_str(": ");
                reason.push_str(&s_text);
            }
            source = s.source();
        }
        OutboundError::Failed(reason)
    }
}

/// rustls's crypto for the whole process: ring. Installed once, before
/// any TLS client is built.
fn crypto() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Another part of the process may have installed one first.
        // ring lacks post-quantum key exchange (hence the deprecation);
        // aws-lc-rs has it but needs cmake and minutes more per cold build.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
    });
}

/// The TLS settings of every outbound connection: ring, and the system's
/// trust store. Without one (no CA certificates installed) plain http
/// still works, and https fails per request naming the unknown issuer.
fn rustls_config() -> rustls::ClientConfig {
    crypto();
    use rustls_platform_verifier::ConfigVerifierExt;
    match rustls::ClientConfig::with_platform_verifier() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no trusted CA certificates: https to other servers will fail");
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        }
    }
}

/// The shared HTTP client (connections are pooled).
pub fn http() -> Result<&'static reqwest::Client, OutboundError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let mut tls = (*tls()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| OutboundError::Tls(OutboundError::from(e).to_string()))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Every outbound client's settings but its TLS: deadlines, redirects.
fn builder() -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt
                .previous()
                .last()
                .is_some_and(|u| u.scheme() == "https");
        if downgrade {
            attempt.error("refused a redirect from https to plain http")
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("dais/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(policy)
}

/// The TLS settings for WebSocket connections (wss://): the same crypto
/// and trust as [`http`].
pub fn tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| Arc::new(rustls_config())).clone()
}

/// A DER certificate's SHA-256 fingerprint as browsers show it
/// (`AB:CD:...`, 32 pairs).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    dais_core::fingerprint::format(&sha2::Sha256::digest(der))
}

/// How a server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Trust {
    /// The system's trust store, names checked.
    #[default]
    System,
    /// One certificate, by its SHA-256 fingerprint (shown form): the
    /// server's own, whatever name it is for, or a CA in the chain it
    /// presents, which must then have issued it for the name asked for.
    Pinned(String),
    /// The CA certificates of a PEM file (its bytes), trusted for this
    /// server alone, names checked.
    Ca(Vec<u8>),
}

/// TLS that trusts exactly one server certificate, the one whose SHA-256
/// fingerprint is `fingerprint` (see [`Trust::Pinned`]): dais reaching its
/// own HTTPS listener over loopback (a name check there would need
/// `127.0.0.1` in an operator's certificate). The handshake's signature is
/// still checked against that certificate's key, so only its holder
/// passes.
pub fn pinned(fingerprint: &str) -> Arc<rustls::ClientConfig> {
    match tls_for(&Trust::Pinned(fingerprint.to_string())) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot pin a certificate: trusting the system store");
            tls()
        }
    }
}

/// The TLS settings for a server trusted as `trust` says.
pub fn tls_for(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, OutboundError> {
    crypto();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboundError::Tls(e.to_string()))?;
    let config = match trust {
        Trust::System => return Ok(tls()),
        Trust::Pinned(fingerprint) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                fingerprint: dais_core::fingerprint::parse(fingerprint)
                    .unwrap_or_else(|| fingerprint.clone()),
                provider,
            }))
            .with_no_client_auth(),
        Trust::Ca(pem) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| OutboundError::Tls(format!("not a PEM certificate: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| OutboundError::Tls(format!("not a CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(OutboundError::Tls(
                    "holds no -----BEGIN CERTIFICATE----- block".into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// An HTTP client for a server trusted as `trust` says: the shared one
/// for the system's store, else one per trust, kept for the next request.
pub fn http_for(trust: &Trust) -> Result<reqwest::Client, OutboundError> {
    if *trust == Trust::System {
        return http().cloned();
    }
    static CLIENTS: OnceLock<std::sync::Mutex<std::collections::HashMap<Trust, reqwest::Client>>> =
        OnceLock::new();
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(c) = clients.lock().ok().and_then(|m| m.get(trust).cloned()) {
        return Ok(c);
    }
    let mut tls = (*tls_for(trust)?).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| OutboundError::Tls(OutboundError::from(e).to_string()))?;
    if let Ok(mut m) = clients.lock() {
        // A handful of servers; the map never grows past the settings'.
        if m.len() > 64 {
            m.clear();
        }
        m.insert(trust.clone(), client.clone());
    }
    Ok(client)
}

#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        if presented == self.fingerprint {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        // A pinned CA the server sent along: it must have issued the
        // server's certificate, for this name.
        if let Some(ca) = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
        {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.clone().into_owned())?;
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
            return verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        }
        let issuers: Vec<String> = intermediates.iter().map(|c| fingerprint(c)).collect();
        Err(rustls::Error::General(format!(
            "{} presented the certificate SHA-256 {presented}{}, not the pinned {}",
            server_name.to_str(),
            if issuers.is_empty() {
                String::new()
            } else {
                format!(" (issued by SHA-256 {})", issuers.join(", "))
            },
            self.fingerprint
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` and reads the whole answer (at most [`MAX_BODY`]).
pub async fn send(request: reqwest::RequestBuilder) -> Result<Answer, OutboundError> {
    let mut response = request.send().await?;
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(OutboundError::TooLong);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(OutboundError::TooLong);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body })
}

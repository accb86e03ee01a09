//! The certificate the HTTPS listener serves, and reloading it without a
//! restart.
//!
//! Either the operator's (`http.tls_certificate` and `http.tls_key`, PEM
//! files from the settings or provisioning), re-read when either file
//! changes; or, without one, a **device certificate**: dais keeps a CA of
//! its own in the data directory (`tls/ca.pem`, `tls/ca.key`, made on
//! first start) and issues from it a leaf for the names and addresses it
//! answers to. An organisation trusts the device CA once (its PEM is at
//! `GET /device-ca.pem` and in the data directory, its SHA-256 fingerprint
//! on the panel, in `/status` and in the log) and every leaf after it:
//! the leaf is issued again at each start, when the room's addresses
//! change, and long before it expires.
//!
//! Invariant: a reload that fails keeps the certificate being served and
//! logs why; it never leaves the listener without one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::app::state::Certificate;

/// How long a device leaf is valid: the most browsers accept (397 days).
pub const LEAF_DAYS: i64 = 397;
/// A device leaf older than this is issued again at the next check.
pub const LEAF_RENEW_AFTER: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long the device CA is valid, from 2020.
pub const CA_YEARS: i64 = 80;
/// The directory, in the data directory, of the device CA.
pub const DEVICE_DIR: &str = "tls";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {path}: cannot read it: {source}")]
    Read {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting} {path}: {message}")]
    Pem {
        setting: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("http.tls_key {key} does not belong to http.tls_certificate {certificate}: {message}")]
    Mismatch {
        certificate: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("the device certificate in {dir}: {message}")]
    Device { dir: PathBuf, message: String },
}

/// Where the served certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The operator's PEM files.
    Operator { certificate: PathBuf, key: PathBuf },
    /// dais's own CA in `dir`, issuing for `names` (host names and
    /// addresses) as they are when the certificate is checked.
    Device { dir: PathBuf },
}

impl Source {
    /// From the settings: the operator's files when both are set, else the
    /// device CA under `data_dir`.
    pub fn from_settings(http: &crate::config::HttpSettings, data_dir: &Path) -> Self {
        if http.tls_certificate.is_empty() {
            Source::Device {
                dir: data_dir.join(DEVICE_DIR),
            }
        } else {
            Source::Operator {
                certificate: PathBuf::from(&http.tls_certificate),
                key: PathBuf::from(&http.tls_key),
            }
        }
    }
}

/// The names and addresses a device leaf is issued for.
pub type Names = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// What is being served, and what decides when it changes.
struct Loaded {
    key: Arc<CertifiedKey>,
    info: Certificate,
    /// Operator files: their modification times when read.
    stamps: Option<(SystemTime, SystemTime)>,
    /// Device leaf: the names it covers and when it was issued.
    issued: Option<(Vec<String>, SystemTime)>,
}

/// The listener's certificate: resolves every handshake to the current
/// one; `check` reloads it when its source changed.
pub struct Tls {
    source: Source,
    names: Names,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("source", &self.source).finish()
    }
}

impl Tls {
    /// Loads the operator's certificate, or makes (first start) or reads
    /// the device CA and issues a leaf for `names()`.
    pub fn load(source: Source, names: Names) -> Result<Arc<Self>, TlsError> {
        // ring: see `outbound::crypto` for why not aws-lc-rs.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = read(&source, &names(), &provider)?;
        Ok(Arc::new(Self {
            source,
            names,
            provider,
            current: RwLock::new(loaded),
        }))
    }

    /// What is served now: fingerprints and where it comes from.
    pub fn info(&self) -> Certificate {
        self.current
            .read()
            .map(|l| l.info.clone())
            .unwrap_or_default()
    }

    /// Reloads when the source changed: the operator's files were
    /// replaced, or the device's names changed or its leaf is due. Returns
    /// the new certificate's description when it changed; on an error the
    /// served certificate stays.
    pub fn check(&self, force: bool) -> Result<Option<Certificate>, TlsError> {
        let due = {
            let cur = self.current.read().map_err(|_| poisoned(&self.source))?;
            force || self.stale(&cur)
        };
        if !due {
            return Ok(None);
        }
        let loaded = read(&self.source, &(self.names)(), &self.provider)?;
        let info = loaded.info.clone();
        let mut cur = self.current.write().map_err(|_| poisoned(&self.source))?;
        let changed = cur.info.fingerprint != info.fingerprint;
        *cur = loaded;
        Ok(changed.then_some(info))
    }

    fn stale(&self, cur: &Loaded) -> bool {
        match (&self.source, &cur.stamps, &cur.issued) {
            (Source::Operator { certificate, key }, Some(stamps), _) => {
                match (modified(certificate), modified(key)) {
                    (Some(c), Some(k)) => (c, k) != *stamps,
                    _ => false,
                }
            }
            (Source::Device { .. }, _, Some((names, at))) => {
                // A clock that went back (or jumped ahead, once it was
                // set) gets a leaf issued again.
                *names != sorted((self.names)())
                    || at.elapsed().map_or(true, |age| age > LEAF_RENEW_AFTER)
            }
            _ => true,
        }
    }

    /// The device CA's certificate as PEM, for `GET /device-ca.pem`;
    /// `None` when the operator's certificate is served.
    pub fn device_ca_pem(&self) -> Option<Vec<u8>> {
        match &self.source {
            Source::Device { dir } => std::fs::read(dir.join("ca.pem")).ok(),
            Source::Operator { .. } => None,
        }
    }

    /// The rustls configuration serving this certificate, HTTP/1.1 only.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for Tls {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|l| l.key.clone())
    }
}

fn poisoned(source: &Source) -> TlsError {
    TlsError::Device {
        dir: match source {
            Source::Operator { certificate, .. } => certificate.clone(),
            Source::Device { dir } => dir.clone(),
        },
        message: "an earlier reload panicked".into(),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

pub use crate::outbound::fingerprint;

fn read(source: &Source, names: &[String], provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    match source {
        Source::Operator { certificate, key } => read_operator(certificate, key, provider),
        Source::Device { dir } => issue_device(dir, sorted(names.to_vec()), provider),
    }
}

fn read_file(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        setting,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file, in order; an error names the file.
pub fn certificates(
    setting: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |message: String| TlsError::Pem {
        setting,
        path: path.to_path_buf(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(
            "holds no -----BEGIN CERTIFICATE----- block: it must be PEM, the server's certificate first"
                .into(),
        ));
    }
    Ok(chain)
}

fn read_operator(
    certificate: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Loaded, TlsError> {
    let stamps = (
        modified(certificate).unwrap_or(SystemTime::UNIX_EPOCH),
        modified(key).unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let chain = certificates(
        "http.tls_certificate",
        certificate,
        &read_file("http.tls_certificate", certificate)?,
    )?;
    let key_pem = read_file("http.tls_key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        setting: "http.tls_key",
        path: key.to_path_buf(),
        message: format!("no private key in it (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
    })?;
    let fp = fingerprint(&chain[0]);
    let issuer = chain.get(1).map(|c| fingerprint(c));
    let certified =
        CertifiedKey::from_der(chain, private, provider).map_err(|e| TlsError::Mismatch {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(Loaded {
        key: Arc::new(certified),
        info: Certificate {
            source: "operator".into(),
            fingerprint: fp,
            issuer_fingerprint: issuer,
            file: certificate.display().to_string(),
            names: Vec::new(),
        },
        stamps: Some(stamps),
        issued: None,
    })
}

/// The device CA's name: fixed by its key, so the CA can sign again after
/// a restart with nothing stored but its certificate and key.
fn ca_params(key: &rcgen::KeyPair) -> rcgen::CertificateParams {
    let id = Sha256::digest(key.public_key_raw());
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!(
            "dais device CA {:02X}{:02X}{:02X}{:02X}",
            id[0], id[1], id[2], id[3]
        ),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "dais meeting room");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Reads the device CA from `dir`, making it first when there is none.
/// A CA left half made (a crash or power loss on first start: a file
/// missing, empty or not matching the other) is made again, with a
/// warning that clients must trust the new one; a file that cannot be read
/// is an error, never a reason to replace a CA an organisation trusts.
fn device_ca(
    dir: &Path,
    provider: &CryptoProvider,
) -> Result<(rcgen::KeyPair, CertificateDer<'static>), TlsError> {
    let bad = |message: String| TlsError::Device {
        dir: dir.to_path_buf(),
        message,
    };
    let (ca_pem, key_pem) = (dir.join("ca.pem"), dir.join("ca.key"));
    let read = |path: &Path| match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(bad(format!(
            "{}: cannot read it: {e}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
        ))),
    };
    match (read(&key_pem)?, read(&ca_pem)?) {
        (None, None) => {}
        (Some(key), Some(cert)) => match parse_ca(&key, &cert, provider) {
            Ok(pair) => return Ok(pair),
            Err(why) => {
                tracing::warn!(dir = %dir.display(), %why, "the device CA is unusable: making a new one, which clients must trust again")
            }
        },
        _ => {
            tracing::warn!(dir = %dir.display(), "half a device CA (a crash while it was made?): making a new one, which clients must trust again")
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create it: {e}")))?;
    let key = rcgen::KeyPair::generate().map_err(|e| bad(format!("cannot make a key: {e}")))?;
    let mut params = ca_params(&key);
    // Fixed dates, not the clock's: a board without a real-time clock may
    // make its CA before the time is set, and a CA is not issued again.
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020 + CA_YEARS as i32, 1, 1);
    params.serial_number = Some(serial());
    let cert = params
        .self_signed(&key)
        .map_err(|e| bad(format!("cannot sign the CA: {e}")))?;
    // The certificate first, then the key, each whole or not at all.
    write_file(&ca_pem, cert.pem().as_bytes(), 0o644)
        .map_err(|e| bad(format!("ca.pem: cannot write it: {e}")))?;
    write_file(&key_pem, key.serialize_pem().as_bytes(), 0o600)
        .map_err(|e| bad(format!("ca.key: cannot write it: {e}")))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(dir = %dir.display(), fingerprint = %fingerprint(cert.der()), "made the device CA");
    Ok((key, cert.der().clone()))
}

/// The CA's key and certificate from their PEM files, if they belong
/// together.
fn parse_ca(
    key: &[u8],
    cert: &[u8],
    provider: &CryptoProvider,
) -> Result<(rcgen::KeyPair, CertificateDer<'static>), String> {
    let key_text = std::str::from_utf8(key).map_err(|_| "ca.key is not PEM text".to_string())?;
    let key = rcgen::KeyPair::from_pem(key_text).map_err(|e| format!("ca.key: {e}"))?;
    let cert = CertificateDer::from_pem_slice(cert).map_err(|e| format!("ca.pem: {e}"))?;
    let private =
        PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| format!("ca.key: {e}"))?;
    CertifiedKey::from_der(vec![cert.clone()], private, provider)
        .and_then(|c| c.keys_match())
        .map_err(|e| format!("ca.key does not belong to ca.pem: {e}"))?;
    Ok((key, cert))
}

/// Writes a file whole or not at all (a temporary file, synced, renamed
/// over it), with `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    // A leftover from a crash would keep its own mode: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    // A failed draw still gives a distinct serial from the clock.
    if getrandom::fill(&mut bytes).is_err() {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = t.to_be_bytes();
    }
    bytes[0] &= 0x7f; // positive
    rcgen::SerialNumber::from_slice(&bytes)
}

fn issue_device(
    dir: &Path,
    names: Vec<String>,
    provider: &CryptoProvider,
) -> Result<Loaded, TlsError> {
    let bad = |message: String| TlsError::Device {
        dir: dir.to_path_buf(),
        message,
    };
    let (ca_key, ca_der) = device_ca(dir, provider)?;
    let issuer = rcgen::Issuer::new(ca_params(&ca_key), ca_key);
    let key = rcgen::KeyPair::generate().map_err(|e| bad(format!("cannot make a key: {e}")))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let common = names
        .iter()
        .find(|n| n.parse::<std::net::IpAddr>().is_err() && *n != "localhost")
        .or(names.first())
        .cloned()
        .unwrap_or_else(|| "dais".into());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common);
    params.subject_alt_names = names
        .iter()
        .filter_map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(rcgen::SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().ok().map(rcgen::SanType::DnsName),
        })
        .collect();
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(LEAF_DAYS);
    params.serial_number = Some(serial());
    let leaf = params
        .signed_by(&key, &issuer)
        .map_err(|e| bad(format!("cannot issue the leaf: {e}")))?;
    let leaf_der = leaf.der().clone();
    let private = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| bad(format!("the leaf's key: {e}")))?;
    let info = Certificate {
        source: "device".into(),
        fingerprint: fingerprint(&leaf_der),
        issuer_fingerprint: Some(fingerprint(&ca_der)),
        file: dir.join("ca.pem").display().to_string(),
        names: names.clone(),
    };
    let certified = CertifiedKey::from_der(vec![leaf_der, ca_der], private, provider)
        .map_err(|e| bad(format!("the leaf does not match its key: {e}")))?;
    Ok(Loaded {
        key: Arc::new(certified),
        info,
        stamps: None,
        issued: Some((names, SystemTime::now())),
    })
}

/// The names and addresses dais answers to, for its device leaf:
/// `localhost`, the machine's host names (and `name.local`), `extra`
/// (exact names from the settings), loopback and every interface address
/// but IPv6 link-local ones (which a URL cannot name without a zone).
pub fn own_names(extra: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    for n in super::own_names() {
        if !n.is_empty() {
            names.push(format!("{n}.local"));
            names.push(n);
        }
    }
    names.extend(
        extra
            .iter()
            .filter(|n| !n.is_empty() && *n != "*")
            .map(|n| n.to_ascii_lowercase()),
    );
    names.push("127.0.0.1".into());
    names.push("::1".into());
    names.extend(interface_addresses().into_iter().map(|a| a.to_string()));
    sorted(names)
}

/// The machine's interface addresses (getifaddrs), without IPv6
/// link-local ones.
pub fn interface_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; every
    // node and address pointer is checked before it is read.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut node = head;
        while !node.is_null() {
            let addr = (*node).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let a = &*(addr as *const libc::sockaddr_in);
                        out.push(std::net::IpAddr::from(
                            u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let a = &*(addr as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                        if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                            out.push(std::net::IpAddr::V6(ip));
                        }
                    }
                    _ => {}
                }
            }
            node = (*node).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> CryptoProvider {
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider()
    }

    #[test]
    fn a_device_ca_is_kept_and_a_half_made_one_is_made_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tls");
        let (_, first) = device_ca(&dir, &ring()).unwrap();
        let (_, again) = device_ca(&dir, &ring()).unwrap();
        assert_eq!(first, again, "kept across starts");
        // Power lost while ca.pem was written: empty. A new CA, not a dais
        // that cannot start.
        std::fs::write(dir.join("ca.pem"), b"").unwrap();
        let (_, remade) = device_ca(&dir, &ring()).unwrap();
        assert_ne!(remade, first);
        // A key that is not the certificate's: made again too.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.join("ca.key"), other.serialize_pem()).unwrap();
        let (key, cert) = device_ca(&dir, &ring()).unwrap();
        assert_ne!(cert, remade);
        assert!(
            parse_ca(
                key.serialize_pem().as_bytes(),
                &std::fs::read(dir.join("ca.pem")).unwrap(),
                &ring()
            )
            .is_ok()
        );
        // Only one of the two: made again.
        std::fs::remove_file(dir.join("ca.key")).unwrap();
        let (_, alone) = device_ca(&dir, &ring()).unwrap();
        assert_ne!(alone, cert);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}

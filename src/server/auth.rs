//! Who is calling the REST API: OAuth 2.0 tokens for API clients
//! (client credentials) and local users (password grant), refresh tokens,
//! and bearer checks.
//!
//! Secrets are kept as Argon2 hashes (PHC strings) in settings; tokens are
//! random and only their SHA-256 is stored, in memory and in the store, so
//! a restart keeps them valid and a copy of the database does not leak them.

use std::collections::HashMap;
use std::sync::RwLock;

pub mod guesses;
pub use guesses::{Guesses, grant_subject, source_key};

use argon2::password_hash::phc::PasswordHash;
use argon2::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// The client id of [`Principal::appliance`].
pub const APPLIANCE_ID: &str = "room";

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API client: acts with the server administrator's authority.
    Client { id: String },
    /// A local user: owns and manages their own conferences.
    User { login: String, display_name: String },
    /// The room itself (panel, remote, control network).
    Room { login: String },
}

impl Principal {
    /// The appliance itself with the server's authority: the panel's
    /// lists of conferences and the room's own bookkeeping (auto-recording,
    /// the recording check, ending a conference it moderates). Distinct
    /// from [`Principal::Room`], the room as a participant with its login.
    pub fn appliance() -> Principal {
        Principal::Client {
            id: APPLIANCE_ID.into(),
        }
    }

    /// The login conferences record as `owner` when this principal creates one.
    pub fn login(&self) -> Option<&str> {
        match self {
            Principal::Client { .. } => None,
            Principal::User { login, .. } | Principal::Room { login } => Some(login),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Client { .. } | Principal::Room { .. })
    }

    fn encode(&self) -> (String, String) {
        match self {
            Principal::Client { id } => ("client".into(), id.clone()),
            Principal::User {
                login,
                display_name,
            } => ("user".into(), format!("{login}\n{display_name}")),
            Principal::Room { login } => ("room".into(), login.clone()),
        }
    }

    fn decode(kind: &str, subject: &str) -> Option<Self> {
        match kind {
            "client" => Some(Principal::Client {
                id: subject.to_string(),
            }),
            "user" => {
                let (login, name) = subject.split_once('\n')?;
                Some(Principal::User {
                    login: login.into(),
                    display_name: name.into(),
                })
            }
            "room" => Some(Principal::Room {
                login: subject.into(),
            }),
            _ => None,
        }
    }
}

/// A secret as configured: an Argon2 PHC hash from settings, or a plain
/// value given on the command line for one run.
#[derive(Debug, Clone)]
pub enum Secret {
    Hash(String),
    Plain(String),
}

impl Secret {
    pub fn verify(&self, given: &str) -> bool {
        match self {
            Secret::Plain(s) => constant_time_eq(s.as_bytes(), given.as_bytes()),
            Secret::Hash(phc) => argon2::Argon2::default()
                .verify_password(given.as_bytes(), phc.as_str())
                .is_ok(),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hashes a secret for settings (`dais config hash-secret`).
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password_with_salt(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether a string is a usable Argon2 PHC hash (settings validation).
pub fn is_phc_hash(s: &str) -> bool {
    PasswordHash::new(s).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    pub id: String,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct LocalUser {
    pub login: String,
    pub display_name: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub principal: Principal,
    pub kind: TokenKind,
    pub expires_at: i64,
}

/// A stored token row: the hash, the principal, and when it expires.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub hash: String,
    pub kind: String,
    pub principal_kind: String,
    pub subject: String,
    pub expires_at: i64,
}

/// Why a token request failed, as OAuth names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`.
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
}

/// Configured principals and the live tokens.
pub struct Auth {
    clients: Vec<ApiClient>,
    users: Vec<LocalUser>,
    tokens: RwLock<HashMap<String, TokenInfo>>,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    /// Refused grants at the token endpoint, by source and name.
    pub guesses: Guesses,
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub rows: Vec<TokenRow>,
    /// Hashes of tokens this grant spent (the refresh token it used), to
    /// delete from the store with the new rows.
    pub revoked: Vec<String>,
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // getrandom fails only without a kernel entropy source; a fixed token
    // would be worse than stopping, so this is an invariant.
    getrandom::fill(&mut buf).expect("the kernel's random source is available");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Auth {
    pub fn new(clients: Vec<ApiClient>, users: Vec<LocalUser>, access_ttl: i64) -> Self {
        Self {
            clients,
            users,
            tokens: RwLock::new(HashMap::new()),
            access_ttl,
            refresh_ttl: 30 * 86_400,
            guesses: Guesses::default(),
        }
    }

    /// Whether `principal` is still one of this server's: a client or user
    /// the settings name (the appliance and the room always are).
    pub fn known(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Client { id } => {
                id == APPLIANCE_ID || self.clients.iter().any(|c| c.id == *id)
            }
            Principal::User { login, .. } => self
                .users
                .iter()
                .any(|u| u.login.eq_ignore_ascii_case(login)),
            Principal::Room { .. } => true,
        }
    }

    /// Whether `id` names a principal other than API client `client`: a
    /// user, the room, a guest, or another client. An API client brings
    /// participants only under its own id (`client`, `client:anything`).
    pub fn id_of_another(&self, id: &str, client: &str, room_login: &str) -> bool {
        let base = id.split(':').next().unwrap_or(id);
        base != client
            || id.starts_with("guest:")
            || base.eq_ignore_ascii_case(room_login)
            || base.eq_ignore_ascii_case(APPLIANCE_ID)
            || self
                .users
                .iter()
                .any(|u| u.login.eq_ignore_ascii_case(base))
    }

    /// Loads tokens saved by an earlier run. Returns the hashes of those it
    /// dropped because their client or user is gone from the settings: the
    /// caller deletes them from the store, so removing a client or user
    /// ends its tokens for good.
    pub fn restore(&self, rows: Vec<TokenRow>, now: i64) -> Vec<String> {
        let mut gone = Vec::new();
        let Ok(mut t) = self.tokens.write() else {
            return gone;
        };
        for r in rows {
            if r.expires_at <= now {
                continue;
            }
            let kind = if r.kind == "refresh" {
                TokenKind::Refresh
            } else {
                TokenKind::Access
            };
            let principal = Principal::decode(&r.principal_kind, &r.subject);
            match principal.filter(|p| self.known(p)) {
                Some(principal) => {
                    t.insert(
                        r.hash,
                        TokenInfo {
                            principal,
                            kind,
                            expires_at: r.expires_at,
                        },
                    );
                }
                None => gone.push(r.hash),
            }
        }
        gone
    }

    /// Handles `POST /oauth2/v1/token` parameters. Returns the tokens and
    /// the rows to persist.
    pub fn grant(&self, form: &HashMap<String, String>, now: i64) -> Result<Issued, OAuthError> {
        let get = |k: &str| form.get(k).map(String::as_str).filter(|s| !s.is_empty());
        let grant = get("grant_type")
            .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
        let principal = match grant {
            "client_credentials" => {
                let id = get("client_id")
                    .ok_or_else(|| OAuthError::new("invalid_request", "client_id is required"))?;
                let secret = get("client_secret").ok_or_else(|| {
                    OAuthError::new("invalid_request", "client_secret is required")
                })?;
                let ok = self
                    .clients
                    .iter()
                    .any(|c| c.id == id && c.secret.verify(secret));
                if !ok {
                    return Err(OAuthError::new(
                        "invalid_client",
                        "unknown client or wrong secret",
                    ));
                }
                Principal::Client { id: id.into() }
            }
            "password" => {
                let login = get("username")
                    .ok_or_else(|| OAuthError::new("invalid_request", "username is required"))?;
                let password = get("password")
                    .ok_or_else(|| OAuthError::new("invalid_request", "password is required"))?;
                let base = login.split('@').next().unwrap_or(login);
                let user = self
                    .users
                    .iter()
                    .find(|u| u.login.eq_ignore_ascii_case(base) && u.password.verify(password))
                    .ok_or_else(|| {
                        OAuthError::new("invalid_grant", "unknown user or wrong password")
                    })?;
                // A client may identify itself too; if it does, it must be right.
                if let (Some(id), Some(secret)) = (get("client_id"), get("client_secret"))
                    && !self
                        .clients
                        .iter()
                        .any(|c| c.id == id && c.secret.verify(secret))
                {
                    return Err(OAuthError::new(
                        "invalid_client",
                        "wrong client credentials",
                    ));
                }
                Principal::User {
                    login: user.login.clone(),
                    display_name: user.display_name.clone(),
                }
            }
            "refresh_token" => {
                let token = get("refresh_token").ok_or_else(|| {
                    OAuthError::new("invalid_request", "refresh_token is required")
                })?;
                let hash = token_hash(token);
                let mut tokens = self
                    .tokens
                    .write()
                    .map_err(|_| OAuthError::new("invalid_grant", "token store unavailable"))?;
                match tokens.get(&hash) {
                    Some(info) if info.kind == TokenKind::Refresh && info.expires_at > now => {
                        let p = info.principal.clone();
                        // Refresh tokens rotate: the old one is spent, here
                        // and (the caller deletes `revoked`) in the store.
                        tokens.remove(&hash);
                        drop(tokens);
                        let mut issued = self.issue(p, now);
                        issued.revoked.push(hash);
                        return Ok(issued);
                    }
                    _ => {
                        return Err(OAuthError::new(
                            "invalid_grant",
                            "the refresh token is unknown or expired",
                        ));
                    }
                }
            }
            other => {
                return Err(OAuthError::new(
                    "unsupported_grant_type",
                    format!(
                        "{other} is not supported; use client_credentials, password or refresh_token"
                    ),
                ));
            }
        };
        Ok(self.issue(principal, now))
    }

    /// Issues a token pair for `principal`.
    pub fn issue(&self, principal: Principal, now: i64) -> Issued {
        let access = random_hex(32);
        let refresh = random_hex(32);
        let (pk, subject) = principal.encode();
        let mut rows = Vec::new();
        if let Ok(mut t) = self.tokens.write() {
            // Expired tokens are dropped as new ones are issued.
            t.retain(|_, i| i.expires_at > now);
            for (token, kind, ttl) in [
                (&access, TokenKind::Access, self.access_ttl),
                (&refresh, TokenKind::Refresh, self.refresh_ttl),
            ] {
                let hash = token_hash(token);
                t.insert(
                    hash.clone(),
                    TokenInfo {
                        principal: principal.clone(),
                        kind,
                        expires_at: now + ttl,
                    },
                );
                rows.push(TokenRow {
                    hash,
                    kind: kind.name().into(),
                    principal_kind: pk.clone(),
                    subject: subject.clone(),
                    expires_at: now + ttl,
                });
            }
        }
        Issued {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.access_ttl,
            rows,
            revoked: Vec::new(),
        }
    }

    /// Checks a bearer token. `Err` carries what a 401 should say.
    pub fn check(&self, token: &str, now: i64) -> Result<Principal, &'static str> {
        let hash = token_hash(token);
        let t = self.tokens.read().map_err(|_| "token store unavailable")?;
        match t.get(&hash) {
            Some(i) if i.kind == TokenKind::Access && i.expires_at > now => Ok(i.principal.clone()),
            Some(i) if i.kind == TokenKind::Access => Err("the access token has expired"),
            _ => Err("the access token is not valid"),
        }
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

    fn auth() -> Auth {
        Auth::new(
            vec![
                ApiClient {
                    id: "crm".into(),
                    secret: Secret::Plain("s3cret".into()),
                },
                ApiClient {
                    id: "hashed".into(),
                    secret: Secret::Hash(hash_secret("pw").unwrap()),
                },
            ],
            vec![LocalUser {
                login: "alice".into(),
                display_name: "Alice".into(),
                password: Secret::Hash(hash_secret("wonderland").unwrap()),
            }],
            3600,
        )
    }

    #[test]
    fn client_credentials_and_expiry() {
        let a = auth();
        let t = a
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "crm"),
                    ("client_secret", "s3cret"),
                ]),
                100,
            )
            .unwrap();
        assert_eq!(
            a.check(&t.access_token, 200),
            Ok(Principal::Client { id: "crm".into() })
        );
        assert_eq!(
            a.check(&t.access_token, 100 + 3600),
            Err("the access token has expired")
        );
        assert_eq!(a.check("nope", 200), Err("the access token is not valid"));
        // A refresh token is not an access token.
        assert!(a.check(&t.refresh_token, 200).is_err());
        let h = a.grant(
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "hashed"),
                ("client_secret", "pw"),
            ]),
            0,
        );
        assert!(h.is_ok());
    }

    #[test]
    fn wrong_secrets_and_grants_get_oauth_errors() {
        let a = auth();
        let e = a
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "crm"),
                    ("client_secret", "x"),
                ]),
                0,
            )
            .unwrap_err();
        assert_eq!(e.error, "invalid_client");
        let e = a
            .grant(
                &form(&[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "x"),
                ]),
                0,
            )
            .unwrap_err();
        assert_eq!(e.error, "invalid_grant");
        let e = a
            .grant(&form(&[("grant_type", "implicit")]), 0)
            .unwrap_err();
        assert_eq!(e.error, "unsupported_grant_type");
        let e = a.grant(&form(&[]), 0).unwrap_err();
        assert_eq!(e.error, "invalid_request");
    }

    #[test]
    fn password_grant_and_rotating_refresh() {
        let a = auth();
        let t = a
            .grant(
                &form(&[
                    ("grant_type", "password"),
                    ("username", "alice@room"),
                    ("password", "wonderland"),
                ]),
                0,
            )
            .unwrap();
        let p = a.check(&t.access_token, 1).unwrap();
        assert_eq!(p.login(), Some("alice"));
        let r = a
            .grant(
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &t.refresh_token),
                ]),
                10,
            )
            .unwrap();
        assert!(a.check(&r.access_token, 11).is_ok());
        let again = a.grant(
            &form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh_token),
            ]),
            12,
        );
        assert_eq!(again.unwrap_err().error, "invalid_grant");
    }

    #[test]
    fn tokens_survive_a_restore() {
        let a = auth();
        let t = a.issue(
            Principal::User {
                login: "alice".into(),
                display_name: "Alice".into(),
            },
            0,
        );
        let b = auth();
        assert!(b.restore(t.rows.clone(), 5).is_empty());
        assert_eq!(b.check(&t.access_token, 6).unwrap().login(), Some("alice"));
    }

    #[test]
    fn tokens_of_principals_gone_from_the_settings_end_at_a_restore() {
        let a = auth();
        let gone_user = a.issue(
            Principal::User {
                login: "bob".into(),
                display_name: "Bob".into(),
            },
            0,
        );
        let gone_client = a.issue(Principal::Client { id: "old".into() }, 0);
        let kept = a.issue(Principal::Client { id: "crm".into() }, 0);
        let appliance = a.issue(Principal::appliance(), 0);
        let rows: Vec<TokenRow> = [&gone_user, &gone_client, &kept, &appliance]
            .iter()
            .flat_map(|i| i.rows.clone())
            .collect();
        let b = auth();
        let mut dropped = b.restore(rows, 5);
        dropped.sort();
        let mut want: Vec<String> = gone_user
            .rows
            .iter()
            .chain(&gone_client.rows)
            .map(|r| r.hash.clone())
            .collect();
        want.sort();
        assert_eq!(dropped, want);
        assert!(b.check(&gone_user.access_token, 6).is_err());
        assert!(b.check(&gone_client.access_token, 6).is_err());
        assert!(b.check(&kept.access_token, 6).is_ok());
        assert!(b.check(&appliance.access_token, 6).is_ok());
    }

    #[test]
    fn a_used_refresh_token_is_handed_back_for_the_store_to_delete() {
        let a = auth();
        let t = a.issue(Principal::Client { id: "crm".into() }, 0);
        let spent = token_hash(&t.refresh_token);
        let next = a
            .grant(
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &t.refresh_token),
                ]),
                10,
            )
            .unwrap();
        assert_eq!(next.revoked, vec![spent]);
        assert!(a.issue(Principal::appliance(), 11).revoked.is_empty());
    }

    #[test]
    fn a_client_names_only_its_own_participants() {
        let a = auth();
        for own in ["crm", "crm:desk", "crm:a:b"] {
            assert!(!a.id_of_another(own, "crm", "room"), "{own}");
        }
        for other in [
            "alice",
            "ALICE",
            "alice:x",
            "room",
            "room:x",
            "hashed",
            "hashed:x",
            "guest:1234",
            "crmx",
            "cr",
            "",
        ] {
            assert!(a.id_of_another(other, "crm", "room"), "{other}");
        }
        // A client whose id is a user's login or the room's cannot use it.
        assert!(a.id_of_another("alice", "alice", "room"));
        assert!(a.id_of_another("lobby", "lobby", "lobby"));
        assert!(a.id_of_another("guest:1", "guest", "room"));
    }

    #[test]
    fn hashes_are_recognised() {
        let h = hash_secret("x").unwrap();
        assert!(is_phc_hash(&h));
        assert!(!is_phc_hash("plain"));
        assert!(Secret::Hash(h.clone()).verify("x"));
        assert!(!Secret::Hash(h).verify("y"));
        assert!(!Secret::Hash("garbage".into()).verify("x"));
    }
}

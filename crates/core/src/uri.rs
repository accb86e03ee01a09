//! The `trueconf:` link grammar (seed 003, and the deeplinks of seed 002):
//! a sans-IO parser and formatter.
//!
//! ```text
//! link    = scheme ":" [target] *("&" param)      ; params may also come first
//! scheme  = "trueconf" | "visicall" (obsolete)
//! target  = "\c\" cid ["@" server [vcs]]          ; join a conference
//!         | "#" call-string                        ; "#rtsp:%2f%2fhost:554" opens RTSP
//!         | peer ["@" server]                      ; call a user or any call string
//! vcs     = "%23vcs" | "%vcs" | "#vcs"
//! param   = key "=" value                          ; values are percent-encoded UTF-8
//! key     = "h" | "login" | "password" | "encrypt" | "force" | "templogin"
//!         | "conftype" | "autoclose"
//! android = "intent:" payload "#Intent;scheme=trueconf;package=...;end"
//!           ; payload is the link body with "@", "&", "=" and "%" escaped
//! ```
//!
//! Delimiters are found on the raw text before any decoding, so an encoded
//! `%40` or `%26` inside a value stays part of it. [`format`] writes the
//! canonical spelling and `parse(format(l)) == l` for every [`Link`].
//! Errors name the byte offset and what was expected.

use std::fmt;

/// Which scheme the link used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Trueconf,
    /// The obsolete name; accepted with a deprecation warning.
    Visicall,
    /// Android's `intent:` form.
    Intent {
        scheme: String,
        package: String,
    },
}

/// How the "this is a TrueConf server" suffix after a conference's server
/// was spelled; kept so a link can be written back the way it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vcs {
    None,
    /// `%vcs`, as seed 003 writes it.
    Bare,
    /// `%23vcs`, as seed 002 writes it (`#vcs` is read as this too).
    Encoded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Call a user or any call string, optionally on another server.
    Call {
        peer: String,
        server: Option<String>,
    },
    /// Join a conference by CID, optionally on another server.
    Conference {
        cid: String,
        server: Option<String>,
        vcs: Vcs,
    },
    /// Open an RTSP stream (`url` decoded, e.g. `rtsp://host:554`).
    Rtsp { url: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    H,
    Login,
    Password,
    Encrypt,
    Force,
    Templogin,
    Conftype,
    Autoclose,
}

impl Key {
    pub const ALL: [Key; 8] = [
        Key::H,
        Key::Login,
        Key::Password,
        Key::Encrypt,
        Key::Force,
        Key::Templogin,
        Key::Conftype,
        Key::Autoclose,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Key::H => "h",
            Key::Login => "login",
            Key::Password => "password",
            Key::Encrypt => "encrypt",
            Key::Force => "force",
            Key::Templogin => "templogin",
            Key::Conftype => "conftype",
            Key::Autoclose => "autoclose",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
    }

    fn is_flag(self) -> bool {
        matches!(
            self,
            Key::Encrypt | Key::Force | Key::Templogin | Key::Autoclose
        )
    }
}

/// A parsed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub scheme: Scheme,
    pub target: Option<Target>,
    /// Parameters in the order written, values decoded.
    pub params: Vec<(Key, String)>,
}

impl Link {
    pub fn param(&self, k: Key) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, k: Key) -> bool {
        self.param(k) == Some("1")
    }

    /// The servers of the `h` parameter.
    pub fn servers(&self) -> Vec<String> {
        self.param(Key::H)
            .map(|h| h.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    }
}

/// A link and what is worth telling its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub link: Link,
    pub warnings: Vec<String>,
}

/// Why a string is not a link: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: expected {expected}")]
pub struct UriError {
    pub offset: usize,
    pub expected: String,
}

fn err<T>(offset: usize, expected: impl Into<String>) -> Result<T, UriError> {
    Err(UriError {
        offset,
        expected: expected.into(),
    })
}

/// Longest link accepted: enough for every real link, small enough that a
/// controller cannot make dais chew on megabytes.
pub const MAX_LEN: usize = 16 * 1024;
/// Longest decoded target or value. With at most eight parameters, even a
/// value that needs an escape for every byte formats back under [`MAX_LEN`],
/// so every link that parses can be written and read again.
pub const MAX_PART: usize = 512;

/// Parses a `trueconf:`, `visicall:` or `intent:` link.
pub fn parse(s: &str) -> Result<Parsed, UriError> {
    if s.len() > MAX_LEN {
        return err(MAX_LEN, format!("a link of at most {MAX_LEN} bytes"));
    }
    let lower: String = s.chars().take(9).collect::<String>().to_ascii_lowercase();
    let mut warnings = Vec::new();
    if lower.starts_with("trueconf:") {
        let (target, params) = parse_body(&s[9..], 9)?;
        finish(Scheme::Trueconf, target, params, warnings)
    } else if lower.starts_with("visicall:") {
        warnings.push("the visicall: scheme is obsolete; use trueconf:".to_string());
        let (target, params) = parse_body(&s[9..], 9)?;
        finish(Scheme::Visicall, target, params, warnings)
    } else if lower.starts_with("intent:") {
        parse_intent(s)
    } else {
        err(0, "a link starting with trueconf:, visicall: or intent:")
    }
}

fn finish(
    scheme: Scheme,
    target: Option<Target>,
    params: Vec<(Key, String, usize)>,
    warnings: Vec<String>,
) -> Result<Parsed, UriError> {
    let has = |k: Key| params.iter().find(|(key, _, _)| *key == k);
    if let Some((_, _, at)) = has(Key::Conftype)
        && !matches!(target, Some(Target::Call { .. }))
    {
        return err(
            *at,
            "conftype only after a user to call (trueconf:user&conftype=hotquery)",
        );
    }
    if let Some((_, _, at)) = has(Key::Password).or(has(Key::Templogin))
        && has(Key::Login).is_none()
    {
        return err(*at, "a login parameter to go with password or templogin");
    }
    Ok(Parsed {
        link: Link {
            scheme,
            target,
            params: params.into_iter().map(|(k, v, _)| (k, v)).collect(),
        },
        warnings,
    })
}

type Body = (Option<Target>, Vec<(Key, String, usize)>);

/// Parses what follows the scheme. `base` is the byte offset of `body` in
/// the original string, for error positions.
fn parse_body(body: &str, base: usize) -> Result<Body, UriError> {
    // Split on raw '&', remembering where each piece starts.
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, b) in body.bytes().enumerate() {
        if b == b'&' {
            pieces.push((start, &body[start..i]));
            start = i + 1;
        }
    }
    pieces.push((start, &body[start..]));

    let mut target = None;
    let mut rest = &pieces[..];
    let first_is_param = |p: &str| {
        p.split_once('=')
            .is_some_and(|(k, _)| Key::from_name(k).is_some())
    };
    let (first_at, first) = pieces[0];
    if first.is_empty() {
        if pieces.len() > 1 {
            // "trueconf:&login=x": a stray '&'.
            return err(base, "a target or a parameter after the scheme, not '&'");
        }
        rest = &pieces[1..];
    } else if !first_is_param(first) {
        target = Some(parse_target(first, base + first_at)?);
        rest = &pieces[1..];
    }

    let mut params: Vec<(Key, String, usize)> = Vec::new();
    for (at, p) in rest {
        let at = base + at;
        if p.is_empty() {
            return err(at, "a parameter after '&'");
        }
        let Some((k, v)) = p.split_once('=') else {
            return err(at + p.len(), "'=' and a value after the parameter name");
        };
        let Some(key) = Key::from_name(k) else {
            return err(
                at,
                format!(
                    "a parameter name ({}), not {k:?}",
                    Key::ALL.map(Key::name).join(", ")
                ),
            );
        };
        if params.iter().any(|(x, _, _)| *x == key) {
            return err(at, format!("{} only once", key.name()));
        }
        let vat = at + k.len() + 1;
        let value = decode(v, vat)?;
        check_value(key, &value, vat)?;
        params.push((key, value, at));
    }
    Ok((target, params))
}

fn check_value(key: Key, v: &str, at: usize) -> Result<(), UriError> {
    if key.is_flag() && v != "0" && v != "1" {
        return err(at, format!("0 or 1 for {}", key.name()));
    }
    match key {
        Key::Conftype if v != "hotquery" => err(at, "conftype=hotquery"),
        Key::H
            if v.split(',')
                .any(|h| h.trim().is_empty() || !is_host(h.trim())) =>
        {
            err(at, "a comma-separated list of server addresses for h")
        }
        Key::Login if v.is_empty() => err(at, "a login"),
        _ => Ok(()),
    }
}

/// A server address: a DNS name, IPv4, `[IPv6]`, optionally with `:port`.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c))
}

fn parse_target(t: &str, at: usize) -> Result<Target, UriError> {
    let lower = t.to_ascii_lowercase();
    let conf_prefix = ["\\c\\", "%5cc%5c", "/c/"]
        .into_iter()
        .find(|p| lower.starts_with(p));
    if let Some(prefix) = conf_prefix {
        let body = &t[prefix.len()..];
        let bat = at + prefix.len();
        let (cid_raw, server_raw) = match body.find('@') {
            Some(i) => (&body[..i], Some((&body[i + 1..], bat + i + 1))),
            None => (body, None),
        };
        // A suffix may end the CID itself when no server is given.
        let (cid_raw, mut vcs) = strip_vcs(cid_raw);
        let cid = decode(cid_raw, bat)?;
        if cid.is_empty() {
            return err(bat, "a conference ID after \\c\\");
        }
        if let Err(e) = crate::conference::Cid::parse(&cid) {
            return err(bat, format!("a conference ID ({e})"));
        }
        let server = match server_raw {
            Some((s, sat)) => {
                let (s, v) = strip_vcs(s);
                vcs = v;
                let host = decode(s, sat)?;
                if !is_host(&host) {
                    return err(sat, "a server address after '@'");
                }
                Some(host)
            }
            None => None,
        };
        return Ok(Target::Conference { cid, server, vcs });
    }
    if let Some(call) = t.strip_prefix('#') {
        let s = decode(call, at + 1)?;
        if s.is_empty() {
            return err(at + 1, "a call string after '#'");
        }
        let l = s.to_ascii_lowercase();
        if l.starts_with("rtsp://") || l.starts_with("rtsps://") {
            return Ok(Target::Rtsp { url: s });
        }
        if l.starts_with("rtsp:") {
            return err(at + 1, "rtsp:// (slashes written as %2f)");
        }
        return Ok(Target::Call {
            peer: format!("#{s}"),
            server: None,
        });
    }
    let (peer_raw, server_raw) = match t.find('@') {
        Some(i) => (&t[..i], Some((&t[i + 1..], at + i + 1))),
        None => (t, None),
    };
    let peer = decode(peer_raw, at)?;
    if peer.is_empty() {
        return err(at, "a user or call string before '@'");
    }
    let server = match server_raw {
        Some((s, sat)) => {
            let host = decode(s, sat)?;
            if !is_host(&host) {
                return err(sat, "a server address after '@'");
            }
            Some(host)
        }
        None => None,
    };
    Ok(Target::Call { peer, server })
}

fn strip_vcs(s: &str) -> (&str, Vcs) {
    let l = s.to_ascii_lowercase();
    if l.ends_with("%23vcs") {
        (&s[..s.len() - 6], Vcs::Encoded)
    } else if l.ends_with("#vcs") {
        (&s[..s.len() - 4], Vcs::Encoded)
    } else if l.ends_with("%vcs") {
        (&s[..s.len() - 4], Vcs::Bare)
    } else {
        (s, Vcs::None)
    }
}

/// Percent-decodes to UTF-8, naming the offset of a bad escape.
fn decode(s: &str, at: usize) -> Result<String, UriError> {
    let out = decode_any(s, at)?;
    if out.len() > MAX_PART {
        return err(
            at,
            format!("a value of at most {MAX_PART} bytes once decoded"),
        );
    }
    Ok(out)
}

fn decode_any(s: &str, at: usize) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => return err(at + i, "two hex digits after '%'"),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| UriError {
        offset: at,
        expected: format!(
            "UTF-8 text once decoded (byte {} of the decoded value is not)",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Characters written as-is in targets and values; everything else is
/// percent-encoded. `*` and `$` stay literal as in TrueConf's own links.
fn keep(c: char, in_target: bool) -> bool {
    c.is_ascii_alphanumeric() || "-._~*$!'()+,;:".contains(c) || (!in_target && c == '/')
}

fn encode(s: &str, in_target: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if keep(c, in_target) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn parse_intent(s: &str) -> Result<Parsed, UriError> {
    let body = &s[7..];
    let Some(hash) = body.find("#Intent;") else {
        return err(
            s.len(),
            "the Android trailer #Intent;scheme=trueconf;package=...;end",
        );
    };
    let payload = &body[..hash];
    let trailer = &body[hash + 8..];
    let tat = 7 + hash + 8;
    let mut scheme = None;
    let mut package = None;
    let mut ended = false;
    let mut off = tat;
    for part in trailer.split(';') {
        if ended {
            return err(off, "nothing after ;end");
        }
        match part.split_once('=') {
            Some(("scheme", v)) => scheme = Some(v.to_string()),
            Some(("package", v)) => package = Some(v.to_string()),
            Some(_) => {}
            None if part == "end" => ended = true,
            None => return err(off, "key=value or end in the intent trailer"),
        }
        off += part.len() + 1;
    }
    if !ended {
        return err(s.len(), ";end at the end of the intent trailer");
    }
    let scheme = scheme.ok_or(UriError {
        offset: tat,
        expected: "scheme=trueconf in the intent trailer".into(),
    })?;
    if !scheme.eq_ignore_ascii_case("trueconf") {
        return err(tat, "scheme=trueconf in the intent trailer");
    }
    let package = package.unwrap_or_default();
    // The payload is the link body with its delimiters escaped once.
    let inner = unescape_intent(payload);
    let (target, params) = parse_body(&inner, 7).map_err(|e| UriError {
        offset: e.offset,
        expected: format!("{} (in the unescaped intent payload)", e.expected),
    })?;
    finish(
        Scheme::Intent { scheme, package },
        target,
        params,
        Vec::new(),
    )
}

/// Undoes the intent escaping: `%40` `%26` `%3D` `%25` become `@ & = %`;
/// other escapes stay for the body's own decoding.
fn unescape_intent(p: &str) -> String {
    let b = p.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let rep = match [b[i + 1].to_ascii_lowercase(), b[i + 2].to_ascii_lowercase()] {
                [b'4', b'0'] => Some(b'@'),
                [b'2', b'6'] => Some(b'&'),
                [b'3', b'd'] => Some(b'='),
                [b'2', b'5'] => Some(b'%'),
                _ => None,
            };
            if let Some(c) = rep {
                out.push(c);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII was replaced by ASCII, so the text stays valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn escape_intent(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '%' => out.push_str("%25"),
            '@' => out.push_str("%40"),
            '&' => out.push_str("%26"),
            '=' => out.push_str("%3d"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a link in its canonical spelling.
pub fn format(l: &Link) -> String {
    let mut body = String::new();
    match &l.target {
        None => {}
        Some(Target::Call { peer, server }) => {
            // A raw '#' starts a call string (which has no server part); one
            // that would read back differently (empty, RTSP, with a server)
            // is written escaped so it stays a plain peer. Inside an Android
            // intent it is always escaped: a raw '#' there could spell the
            // `#Intent;` trailer.
            let in_intent = matches!(l.scheme, Scheme::Intent { .. });
            match peer.strip_prefix('#') {
                Some(rest)
                    if server.is_none()
                        && !in_intent
                        && !rest.is_empty()
                        && !rest.to_ascii_lowercase().starts_with("rtsp") =>
                {
                    body.push('#');
                    body.push_str(&encode(rest, true));
                }
                Some(_) => {
                    body.push_str("%23");
                    body.push_str(&encode(&peer[1..], true));
                }
                None => body.push_str(&encode(peer, true)),
            }
            if let Some(s) = server {
                body.push('@');
                body.push_str(&encode(s, true));
            }
        }
        Some(Target::Conference { cid, server, vcs }) => {
            body.push_str("\\c\\");
            body.push_str(&encode(cid, true));
            if let Some(s) = server {
                body.push('@');
                body.push_str(&encode(s, true));
            }
            body.push_str(match vcs {
                Vcs::None => "",
                Vcs::Bare => "%vcs",
                Vcs::Encoded => "%23vcs",
            });
        }
        Some(Target::Rtsp { url }) => {
            body.push('#');
            body.push_str(&encode(url, true));
        }
    }
    for (i, (k, v)) in l.params.iter().enumerate() {
        if i > 0 || l.target.is_some() {
            body.push('&');
        }
        body.push_str(k.name());
        body.push('=');
        body.push_str(&encode(v, false));
    }
    match &l.scheme {
        Scheme::Trueconf => format!("trueconf:{body}"),
        Scheme::Visicall => format!("visicall:{body}"),
        Scheme::Intent { scheme, package } => format!(
            "intent:{}#Intent;scheme={scheme};package={package};end",
            escape_intent(&body)
        ),
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self))
    }
}

#[cfg(test)]
mod tests;

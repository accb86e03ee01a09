//! Which web pages may talk to dais from a browser: the `Origin` a browser
//! sends on a WebSocket upgrade or a cross-site POST, checked against the
//! `Host` it asked for and an allow-list. Sans-IO: header values in, a
//! decision out.
//!
//! A request without `Origin` is not from a web page (a room controller,
//! curl, another dais) and passes: this check stops other sites' pages
//! from using a browser on the room's network to reach dais (cross-site
//! WebSocket hijacking, a page spending a controller's PIN attempts). A
//! request with one passes when the origin is dais's own (same scheme-less
//! host and port as `Host`) or listed in `http.allowed_origins`.

/// Why a browser request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("Origin {0:?} is not a web origin (scheme://host[:port])")]
    Malformed(String),
    #[error("a request from a web page must name the Host it is for")]
    NoHost,
    #[error(
        "pages from {origin} may not use this dais (it is {host}); add the origin to http.allowed_origins to allow it"
    )]
    Foreign { origin: String, host: String },
}

/// The host and port an `Origin` or `Host` value names, lowercased, the
/// scheme's default port filled in (`None` scheme: a bare `Host`).
fn authority(value: &str, scheme: Option<&str>) -> Option<(String, Option<u16>)> {
    let value = value.trim();
    if value.is_empty() || value.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = match value.rsplit_once(':') {
        // An IPv6 literal's colons sit inside brackets.
        Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().ok()?)),
        _ => (value, None),
    };
    if host.is_empty() || (host.starts_with('[') != host.ends_with(']')) {
        return None;
    }
    let port = port.or(match scheme {
        Some("http") | Some("ws") => Some(80),
        Some("https") | Some("wss") => Some(443),
        _ => None,
    });
    Some((host.to_ascii_lowercase(), port))
}

/// An `Origin` header value as scheme and authority.
fn parse_origin(origin: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    let (host, port) = authority(rest, Some(&scheme))?;
    Some((scheme, host, port))
}

/// Whether a request with these `Origin` and `Host` headers may go on.
/// `allowed` holds origins as operators write them
/// (`https://panel.example.org:8443`).
pub fn check(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> Result<(), Refused> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let (scheme, o_host, o_port) =
        parse_origin(origin).ok_or_else(|| Refused::Malformed(origin.to_string()))?;
    for a in allowed {
        if let Some(a) = parse_origin(a)
            && a == (scheme.clone(), o_host.clone(), o_port)
        {
            return Ok(());
        }
    }
    let host = host.ok_or(Refused::NoHost)?;
    let foreign = || Refused::Foreign {
        origin: origin.to_string(),
        host: host.to_string(),
    };
    // The Host carries no scheme: its port defaults to the origin's
    // scheme's, as the browser left it out for the same reason.
    let (h_host, h_port) = authority(host, Some(&scheme)).ok_or_else(foreign)?;
    if (h_host, h_port) == (o_host, o_port) {
        Ok(())
    } else {
        Err(foreign())
    }
}

/// Whether `value` is an origin `check` can compare (for settings).
pub fn valid(value: &str) -> bool {
    parse_origin(value).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_origin_is_not_a_web_page_and_passes() {
        assert_eq!(check(None, None, &[]), Ok(()));
        assert_eq!(check(None, Some("10.0.0.5:8080"), &[]), Ok(()));
    }

    #[test]
    fn dais_own_pages_pass() {
        for (origin, host) in [
            ("http://10.0.0.5:8080", "10.0.0.5:8080"),
            ("http://127.0.0.1:40123", "127.0.0.1:40123"),
            ("https://Room-1.corp.example", "room-1.corp.example"),
            ("https://room-1.corp.example", "room-1.corp.example:443"),
            ("http://[fe80::1]:8080", "[fe80::1]:8080"),
        ] {
            assert_eq!(
                check(Some(origin), Some(host), &[]),
                Ok(()),
                "{origin} {host}"
            );
        }
    }

    #[test]
    fn other_sites_are_refused_with_the_way_to_allow_them() {
        let e = check(Some("http://attacker.invalid"), Some("10.0.0.5:8080"), &[]).unwrap_err();
        assert!(e.to_string().contains("http.allowed_origins"), "{e}");
        for (origin, host) in [
            ("http://10.0.0.5:8081", "10.0.0.5:8080"),
            ("https://10.0.0.5:8080", "10.0.0.5"),
            ("http://10.0.0.5", "10.0.0.5:443"),
            ("null", "10.0.0.5:8080"),
            ("file://", "10.0.0.5:8080"),
        ] {
            assert!(
                check(Some(origin), Some(host), &[]).is_err(),
                "{origin} {host}"
            );
        }
        assert_eq!(
            check(Some("http://10.0.0.5:8080"), None, &[]),
            Err(Refused::NoHost)
        );
    }

    #[test]
    fn listed_origins_pass() {
        let allowed = vec!["https://panel.corp.example:8443".to_string()];
        assert_eq!(
            check(
                Some("https://PANEL.corp.example:8443"),
                Some("10.0.0.5:8080"),
                &allowed
            ),
            Ok(())
        );
        assert!(
            check(
                Some("https://panel.corp.example"),
                Some("10.0.0.5:8080"),
                &allowed
            )
            .is_err()
        );
        assert!(valid("https://panel.corp.example:8443"));
        assert!(!valid("panel.corp.example"));
        assert!(!valid("https://panel/x"));
    }

    proptest! {
        /// No header value panics the check, and an origin is always its
        /// own host's.
        #[test]
        fn any_headers_give_an_answer(origin in ".{0,60}", host in ".{0,60}") {
            let _ = check(Some(&origin), Some(&host), std::slice::from_ref(&origin));
            if let Some((_, h, p)) = parse_origin(&origin) {
                let host = match p { Some(p) => format!("{h}:{p}"), None => h };
                prop_assert_eq!(check(Some(&origin), Some(&host), &[]), Ok(()));
            }
        }
    }
}

//! Which web pages may talk to dais from a browser: the `Origin` a browser
//! sends on a WebSocket upgrade or a cross-site POST, checked against the
//! `Host` it asked for and an allow-list, and the `Host` of every request
//! against the names dais answers to. Sans-IO: header values in, a
//! decision out.
//!
//! A request without `Origin` is not from a web page (a room controller,
//! curl, another dais) and passes: this check stops other sites' pages
//! from using a browser on the room's network to reach dais (cross-site
//! WebSocket hijacking, a page spending a controller's PIN attempts). A
//! request with one passes when the origin is dais's own (same scheme-less
//! host and port as `Host`, in the scheme dais serves) or listed in
//! `http.allowed_origins`.
//!
//! The `Host` check stops DNS rebinding: a page on `attacker.example`
//! whose name is made to resolve to the room's address is, to the
//! browser, same-origin with dais, and so passes any Origin check. Its
//! requests still say `Host: attacker.example`, a name dais is not known
//! by. dais answers to IP literals, `localhost`, its own host names and
//! the names in `http.allowed_hosts`; other names are refused.

/// The scheme a request arrived in (`http` or `https`): the listener puts
/// it in every request's extensions, and an `Origin` is dais's own only in
/// it. A request without one (a router driven directly, as in tests) is
/// `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedScheme(pub &'static str);

impl Default for ServedScheme {
    fn default() -> Self {
        ServedScheme("http")
    }
}

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
    #[error(
        "this dais is not known as {0:?}; add the name to http.allowed_hosts to reach it by that name"
    )]
    UnknownHost(String),
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

/// Whether a request with these `Origin` and `Host` headers, to a
/// listener serving `served` (`http` or `https`), may go on. `allowed`
/// holds origins as operators write them (`https://panel.example.org:8443`).
pub fn check(
    origin: Option<&str>,
    host: Option<&str>,
    served: &str,
    allowed: &[String],
) -> Result<(), Refused> {
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
    // The Host carries no scheme: its port defaults to that of the scheme
    // this listener serves, which must also be the origin's.
    let (h_host, h_port) = authority(host, Some(served)).ok_or_else(foreign)?;
    if scheme == served && (h_host, h_port) == (o_host, o_port) {
        Ok(())
    } else {
        Err(foreign())
    }
}

/// Whether `value` is an origin `check` can compare (for settings).
pub fn valid(value: &str) -> bool {
    parse_origin(value).is_some()
}

/// The host a URL names (`https://Room.example:8443/x` → `room.example`),
/// for adding `server.public_url`'s name to the known ones.
pub fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (host, _) = self::authority(authority, None)?;
    Some(host)
}

/// The origin a URL's page has (`https://Room.example:8443/x` →
/// `https://room.example:8443`).
pub fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

/// A host name as compared: lowercase, without a trailing dot.
fn name(value: &str) -> String {
    value.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a request's `Host` names dais. `own` are the machine's own
/// names (its host name; `name.local` is implied); `allowed` are
/// operators' entries from `http.allowed_hosts`: a name, `*.domain` for
/// any name under it, or `*` for any name at all. A request without
/// `Host` (HTTP/1.0, a raw client) cannot come from a rebinding page and
/// passes.
pub fn host_known(host: Option<&str>, own: &[String], allowed: &[String]) -> Result<(), Refused> {
    let Some(raw) = host else {
        return Ok(());
    };
    let refused = || Refused::UnknownHost(raw.to_string());
    let (h, _) = authority(raw, None).ok_or_else(refused)?;
    if let Some(v6) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // A link-local address may carry its zone (`fe80::1%eth0`).
        let v6 = v6.split('%').next().unwrap_or(v6);
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| refused());
    }
    let h = name(&h);
    if h.parse::<std::net::Ipv4Addr>().is_ok() || h == "localhost" || h.ends_with(".localhost") {
        return Ok(());
    }
    let own_match = own
        .iter()
        .map(|o| name(o))
        .any(|o| !o.is_empty() && (h == o || h.strip_suffix(".local") == Some(o.as_str())));
    let listed = allowed.iter().map(|a| name(a)).any(|a| {
        a == "*"
            || a == h
            || a.strip_prefix("*.").is_some_and(|d| {
                h.len() > d.len() + 1 && h.ends_with(d) && h[..h.len() - d.len()].ends_with('.')
            })
    });
    if own_match || listed {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Whether `value` is an entry `host_known` can use (for settings).
pub fn valid_host_entry(value: &str) -> bool {
    let v = value.strip_prefix("*.").unwrap_or(value);
    value == "*"
        || (!v.is_empty()
            && v.len() <= 253
            && v.trim_end_matches('.').split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_origin_is_not_a_web_page_and_passes() {
        assert_eq!(check(None, None, "http", &[]), Ok(()));
        assert_eq!(check(None, Some("10.0.0.5:8080"), "http", &[]), Ok(()));
    }

    #[test]
    fn dais_own_pages_pass() {
        for (origin, host, served) in [
            ("http://10.0.0.5:8080", "10.0.0.5:8080", "http"),
            ("http://127.0.0.1:40123", "127.0.0.1:40123", "http"),
            ("http://10.0.0.5", "10.0.0.5:80", "http"),
            (
                "https://Room-1.corp.example",
                "room-1.corp.example",
                "https",
            ),
            (
                "https://room-1.corp.example",
                "room-1.corp.example:443",
                "https",
            ),
            ("http://[fe80::1]:8080", "[fe80::1]:8080", "http"),
        ] {
            assert_eq!(
                check(Some(origin), Some(host), served, &[]),
                Ok(()),
                "{origin} {host}"
            );
        }
    }

    #[test]
    fn other_sites_are_refused_with_the_way_to_allow_them() {
        let e = check(
            Some("http://attacker.invalid"),
            Some("10.0.0.5:8080"),
            "http",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("http.allowed_origins"), "{e}");
        for (origin, host) in [
            ("http://10.0.0.5:8081", "10.0.0.5:8080"),
            ("https://10.0.0.5:8080", "10.0.0.5"),
            ("http://10.0.0.5", "10.0.0.5:443"),
            // The review's case: an https page is not dais's own when dais
            // serves plain http, though both leave the port out.
            ("https://10.0.0.5", "10.0.0.5"),
            ("https://10.0.0.5:8080", "10.0.0.5:8080"),
            ("null", "10.0.0.5:8080"),
            ("file://", "10.0.0.5:8080"),
        ] {
            assert!(
                check(Some(origin), Some(host), "http", &[]).is_err(),
                "{origin} {host}"
            );
        }
        assert!(check(Some("http://10.0.0.5"), Some("10.0.0.5"), "https", &[]).is_err());
        assert_eq!(
            check(Some("http://10.0.0.5:8080"), None, "http", &[]),
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
                "http",
                &allowed
            ),
            Ok(())
        );
        assert!(
            check(
                Some("https://panel.corp.example"),
                Some("10.0.0.5:8080"),
                "http",
                &allowed
            )
            .is_err()
        );
        assert!(valid("https://panel.corp.example:8443"));
        assert!(!valid("panel.corp.example"));
        assert!(!valid("https://panel/x"));
    }

    fn own() -> Vec<String> {
        vec!["Room-12".to_string()]
    }

    #[test]
    fn addresses_localhost_and_own_names_are_known() {
        for host in [
            "10.0.0.5:8080",
            "10.0.0.5",
            "127.0.0.1:40000",
            "[::1]:8080",
            "[fe80::1]",
            "[fe80::1%eth0]:8080",
            "[fe80::1%25eth0]",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost",
            "room-12",
            "room-12.local:8080",
            "room-12.local.",
        ] {
            assert_eq!(host_known(Some(host), &own(), &[]), Ok(()), "{host}");
        }
        assert_eq!(host_known(None, &own(), &[]), Ok(()));
    }

    #[test]
    fn a_rebinding_name_is_refused_with_the_way_to_allow_it() {
        for host in [
            "attacker.example:8080",
            "attacker.example",
            "room-12.attacker.example",
            "localhost.attacker.example",
            "10.0.0.5.nip.io",
            "[::1",
            "[not-v6]:80",
            "",
            "a b",
            "host:notaport",
        ] {
            let e = host_known(Some(host), &own(), &[]).unwrap_err();
            assert!(e.to_string().contains("http.allowed_hosts"), "{host}: {e}");
        }
    }

    #[test]
    fn listed_names_and_domains_are_known() {
        let allowed = vec![
            "room-12.corp.example".to_string(),
            "*.rooms.example.".to_string(),
        ];
        for host in [
            "ROOM-12.corp.example:443",
            "a.rooms.example",
            "b.c.rooms.example:8080",
        ] {
            assert_eq!(host_known(Some(host), &[], &allowed), Ok(()), "{host}");
        }
        for host in [
            "rooms.example",
            "xrooms.example",
            "corp.example",
            "a.rooms.example.evil",
        ] {
            assert!(host_known(Some(host), &[], &allowed).is_err(), "{host}");
        }
        assert_eq!(
            host_known(Some("anything.example"), &[], &["*".to_string()]),
            Ok(())
        );
        assert_eq!(
            url_host("https://Room.example:8443/x?y").as_deref(),
            Some("room.example")
        );
        assert_eq!(url_host("http://[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(url_host("room.example"), None);
        assert_eq!(
            url_origin("HTTPS://Room.example:8443/x").as_deref(),
            Some("https://room.example:8443")
        );
        for ok in ["*", "*.corp.example", "room-12.corp.example", "room-12."] {
            assert!(valid_host_entry(ok), "{ok}");
        }
        for bad in [
            "",
            "*.",
            "room 12",
            "https://room",
            "room:8080",
            "a..b",
            "**.x",
        ] {
            assert!(!valid_host_entry(bad), "{bad}");
        }
    }

    proptest! {
        /// No header value panics the check, and an origin is always its
        /// own host's.
        #[test]
        fn any_headers_give_an_answer(origin in ".{0,60}", host in ".{0,60}") {
            let _ = check(Some(&origin), Some(&host), "http", std::slice::from_ref(&origin));
            let _ = host_known(Some(&host), std::slice::from_ref(&origin), std::slice::from_ref(&origin));
            if let Some((scheme, h, p)) = parse_origin(&origin) {
                let host = match p { Some(p) => format!("{h}:{p}"), None => h };
                prop_assert_eq!(check(Some(&origin), Some(&host), &scheme, &[]), Ok(()));
            }
        }

        /// A name outside the lists is refused, whatever its labels.
        #[test]
        fn unlisted_names_are_refused(labels in proptest::collection::vec("[a-z][a-z0-9-]{0,10}", 1..4), port in proptest::option::of(any::<u16>())) {
            let name = format!("{}.attacker.example", labels.join("."));
            let host = match port { Some(p) => format!("{name}:{p}"), None => name };
            prop_assert!(host_known(Some(&host), &own(), &["*.corp.example".to_string()]).is_err());
        }

        /// Any IPv4 address with any port is known.
        #[test]
        fn ipv4_literals_are_known(a in any::<[u8; 4]>(), port in any::<u16>()) {
            let host = format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]);
            prop_assert_eq!(host_known(Some(&host), &[], &[]), Ok(()));
        }
    }
}

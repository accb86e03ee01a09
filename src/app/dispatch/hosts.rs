//! Whether a `host[:port]` a link or a command names is this dais or
//! another server.

/// Whether two `host[:port]` spellings name the same server.
pub(super) fn same_host(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether `host` names this machine's dais: a loopback or local address or
/// this host's name, and one of our HTTP listeners' ports when a port is
/// given (another dais on this machine listens elsewhere).
pub fn is_local_host(host: &str, our_ports: &[u16], public_url: &str) -> bool {
    let host = host.trim();
    let (name, port) = split_host_port(host);
    if let Some(p) = port
        && !our_ports.is_empty()
        && !our_ports.contains(&p)
    {
        return false;
    }
    let name = name
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    if name == "localhost" {
        return true;
    }
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        // Binding succeeds only for addresses of this machine.
        return ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok();
    }
    let public = public_url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if !public.is_empty() && public.eq_ignore_ascii_case(&name) {
        return true;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().eq_ignore_ascii_case(&name))
        .unwrap_or(false)
}

fn split_host_port(h: &str) -> (&str, Option<u16>) {
    if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port
        if let Some((addr, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
        return (h, None);
    }
    match h.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (h, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_recognised() {
        assert!(is_local_host("127.0.0.1", &[], ""));
        assert!(is_local_host("127.0.0.1:8080", &[8080], ""));
        assert!(
            !is_local_host("127.0.0.1:9090", &[8080], ""),
            "another dais on this box"
        );
        assert!(is_local_host("localhost", &[8080], ""));
        assert!(is_local_host("[::1]:8080", &[8080], ""));
        assert!(is_local_host(
            "room.example.com",
            &[],
            "https://room.example.com"
        ));
        // With HTTPS, both listeners are this dais.
        assert!(is_local_host("127.0.0.1:8443", &[8443, 8080], ""));
        assert!(is_local_host("127.0.0.1:8080", &[8443, 8080], ""));
        assert!(!is_local_host("127.0.0.1:9443", &[8443, 8080], ""));
        assert!(!is_local_host("video.example.com", &[], ""));
        assert!(
            !is_local_host("192.0.2.1", &[], ""),
            "TEST-NET is never local"
        );
    }
}

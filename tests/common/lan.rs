//! A second host on a LAN: a network namespace joined to this one by a
//! veth pair, so a browser in it reaches dais at a LAN address, not
//! loopback (which browsers treat as secure whatever the scheme). Made and
//! removed by the test (`ip`, as root); each test process and LAN gets a
//! /30 of its own in 10.78.0.0/16.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Lan {
    /// The namespace's name (`ip netns`).
    pub ns: String,
    /// The room's end of the pair, in this namespace.
    host_if: String,
    /// The room's address on the LAN.
    pub room: Ipv4Addr,
    /// The other host's address.
    pub guest: Ipv4Addr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    /// Makes the namespace and the link, both ends up and addressed.
    pub fn new() -> Lan {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 64, "a test process makes at most 64 LANs");
        let (x, y) = ((pid % 250) as u8, (n * 4) as u8);
        let room = Ipv4Addr::new(10, 78, x, y + 1);
        let guest = Ipv4Addr::new(10, 78, x, y + 2);
        let tag = format!("{}{n}", pid % 100_000);
        let lan = Lan {
            ns: format!("dais-lan-{tag}"),
            host_if: format!("dlh{tag}"),
            room,
            guest,
        };
        let guest_if = format!("dlg{tag}");
        // Left over from a killed run of a process with the same id.
        let _ = Command::new("ip").args(["netns", "del", &lan.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &lan.host_if])
            .output();
        ip(&["netns", "add", &lan.ns]);
        ip(&[
            "link",
            "add",
            &lan.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &guest_if,
        ]);
        ip(&["link", "set", &guest_if, "netns", &lan.ns]);
        ip(&["addr", "add", &format!("{room}/30"), "dev", &lan.host_if]);
        ip(&["link", "set", &lan.host_if, "up"]);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", lan.ns.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        exec(&["addr", "add", &format!("{guest}/30"), "dev", &guest_if]);
        exec(&["link", "set", &guest_if, "up"]);
        exec(&["link", "set", "lo", "up"]);
        lan
    }

    /// Runs `f` on a thread inside the namespace: a socket it opens
    /// belongs to the other host (reaching what listens on its loopback)
    /// and stays usable from any thread after.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_namespace(&self.ns, f)
    }
}

/// Runs `f` on a thread inside the network namespace `ns` (see
/// [`Lan::enter`]).
pub fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    {
        let path = format!("/var/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = std::fs::File::open(&path).expect("the namespace's file");
                // SAFETY: setns on this thread only, with a namespace fd
                // that stays open for the call.
                let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the namespace thread")
        })
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and so both.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

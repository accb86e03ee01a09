//! The evdev edge: finds input devices that have keys the keymap knows,
//! reads them on a thread each, notices devices that come and go, and hands
//! the panel its actions. Hot-plug: the kernel's and udev's uevents (a
//! `NETLINK_KOBJECT_UEVENT` socket, parsed by `uevent.rs`) say when an
//! `/dev/input/event*` node came or went; `/dev/input` is rescanned then,
//! and every two seconds besides (for a node udev was still preparing, or
//! where the socket cannot be opened). `[input] devices` narrows it to
//! named devices (by `/dev/input/by-id/...` path or name).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::{InputError, KeyEvent, Keymap, Keys, Timing};

/// Whether the kernel has a key of this name (`KEY_OK`, ...).
pub fn is_key(name: &str) -> bool {
    evdev::KeyCode::from_str(name).is_ok()
}

/// The keymap at `path`, or the built-in default when `path` is `None`.
pub fn load_keymap(path: Option<&Path>) -> Result<Keymap, InputError> {
    match path {
        None => Keymap::parse(
            super::keymap::DEFAULT,
            "hardware/keymaps/default.toml",
            is_key,
        ),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| InputError::Device {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            Keymap::parse(&text, &p.display().to_string(), is_key)
        }
    }
}

/// One thing a device said, before the keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Key { name: String, value: i32 },
    Scan(u32),
}

/// Reads evdev events into [`Raw`] values (the part tests replace).
pub trait Source: Send {
    /// Blocks until the device says something; `Err` when it is gone.
    fn next(&mut self) -> std::io::Result<Vec<Raw>>;
}

struct Device(evdev::Device);

impl Source for Device {
    fn next(&mut self) -> std::io::Result<Vec<Raw>> {
        let mut out = Vec::new();
        for ev in self.0.fetch_events()? {
            match ev.destructure() {
                evdev::EventSummary::Key(_, code, value) => out.push(Raw::Key {
                    name: format!("{code:?}"),
                    value,
                }),
                evdev::EventSummary::Misc(_, evdev::MiscCode::MSC_SCAN, value) => {
                    out.push(Raw::Scan(value as u32))
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Feeds one source through the keymap until it ends, sending actions.
/// Ticks while keys are held so repeats and long presses happen on time.
pub fn pump(
    mut source: impl Source + 'static,
    keymap: Keymap,
    timing: Timing,
    out: mpsc::Sender<KeyEvent>,
) {
    let keys = Arc::new(Mutex::new(Keys::new(keymap, timing)));
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    // The ticker: repeats and long presses without waiting for the device.
    let (k, o, d) = (keys.clone(), out.clone(), done.clone());
    let ticker = std::thread::spawn(move || {
        while !d.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            let events = match k.lock() {
                Ok(mut k) => k.tick(start.elapsed()),
                Err(_) => return,
            };
            for e in events {
                if o.send(e).is_err() {
                    return;
                }
            }
        }
    });
    while let Ok(raws) = source.next() {
        let at = start.elapsed();
        let Ok(mut k) = keys.lock() else { break };
        let mut events = Vec::new();
        for r in raws {
            events.extend(match r {
                Raw::Key { name, value } => k.feed(&name, value, at),
                Raw::Scan(code) => k.scancode(code, at),
            });
        }
        drop(k);
        if events.into_iter().any(|e| out.send(e).is_err()) {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
}

/// Watches `/dev/input` for keyboards and remotes with keys `keymap` maps,
/// and reads each on its own thread. Runs until `stop` is set.
pub fn watch(
    keymap: Keymap,
    timing: Timing,
    only: Vec<String>,
    exclusive: bool,
    out: mpsc::Sender<KeyEvent>,
    stop: Arc<AtomicBool>,
) {
    let open: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
    let uevents = match Uevents::open() {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::info!(error = %e, "input: no uevent socket; rescanning /dev/input every 2 s");
            None
        }
    };
    while !stop.load(Ordering::Relaxed) {
        // `/dev/input/by-id/...` names resolve to the event node they are.
        let wanted: Vec<(String, Option<PathBuf>)> = only
            .iter()
            .map(|w| (w.clone(), std::fs::canonicalize(w).ok()))
            .collect();
        for (path, dev) in evdev::enumerate() {
            if open.lock().map(|o| o.contains(&path)).unwrap_or(true) {
                continue;
            }
            let chosen = wanted.is_empty()
                || wanted.iter().any(|(name, real)| {
                    real.as_deref() == Some(path.as_path()) || dev.name() == Some(name.as_str())
                });
            if !chosen {
                continue;
            }
            let useful = dev
                .supported_keys()
                .is_some_and(|k| k.iter().any(|c| keymap.action(&format!("{c:?}")).is_some()));
            if !useful {
                continue;
            }
            let mut dev = dev;
            if exclusive && let Err(e) = dev.grab() {
                tracing::warn!(device = %path.display(), error = %e, "input: cannot take the device for dais alone; other readers see its keys too");
            }
            tracing::info!(device = %path.display(), name = dev.name().unwrap_or("?"), exclusive, "input: reading keys");
            if let Ok(mut o) = open.lock() {
                o.insert(path.clone());
            }
            let (map, tx, open) = (keymap.clone(), out.clone(), open.clone());
            let _ = std::thread::Builder::new()
                .name("dais-input".into())
                .spawn(move || {
                    pump(Device(dev), map, timing, tx);
                    tracing::info!(device = %path.display(), "input: device gone");
                    if let Ok(mut o) = open.lock() {
                        o.remove(&path);
                    }
                });
        }
        match &uevents {
            Some(u) => {
                if u.wait_for_input(Duration::from_secs(2)) {
                    tracing::debug!("input: a device came or went");
                }
            }
            None => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// A socket on the kernel's and udev's device events.
struct Uevents {
    fd: std::os::fd::OwnedFd,
}

impl Uevents {
    fn open() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); the descriptor is owned from here on.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // Group 1: the kernel's events; group 2: udev's, once it is done.
        addr.nl_groups = 1 | 2;
        use std::os::fd::AsRawFd;
        // SAFETY: `addr` outlives the call and its size is passed.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Waits up to `limit` for events; true when an input event device
    /// came or went (the events that arrived meanwhile are all read).
    fn wait_for_input(&self, limit: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 8192];
        let mut seen = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // After an input event, only what is already queued.
            let ms = if seen {
                0
            } else {
                left.as_millis() as libc::c_int
            };
            if !seen && ms == 0 {
                return false;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                std::thread::sleep(left);
                return seen;
            }
            if n == 0 {
                return seen;
            }
            // SAFETY: `buf` is valid for its length.
            let got = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if got < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    // Events were lost: anything may have come or gone.
                    tracing::debug!("input: uevents overflowed; rescanning");
                    seen = true;
                }
                continue;
            }
            if got == 0 {
                continue;
            }
            match super::uevent::parse(&buf[..got as usize]) {
                Ok(ev) if ev.is_input_device() => {
                    tracing::debug!(action = %ev.action, node = ev.devname.as_deref().unwrap_or(""), udev = ev.from_udev, "input: uevent");
                    seen = true;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "input: unreadable uevent"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Action;

    /// A recorded remote: batches of events with pauses between them.
    struct Recorded(std::vec::IntoIter<(u64, Vec<Raw>)>);

    impl Source for Recorded {
        fn next(&mut self) -> std::io::Result<Vec<Raw>> {
            let (pause, raws) = self
                .0
                .next()
                .ok_or_else(|| std::io::Error::other("unplugged"))?;
            std::thread::sleep(Duration::from_millis(pause));
            Ok(raws)
        }
    }

    fn key(name: &str, value: i32) -> Raw {
        Raw::Key {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn the_default_keymap_names_real_keys() {
        let m = load_keymap(None).unwrap();
        assert_eq!(m.action("KEY_OK"), Some(Action::Ok));
        let e = Keymap::parse("[keys]\nKEY_OKAY = \"ok\"\n", "x.toml", is_key).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml:2: KEY_OKAY: not a Linux input key name"
        );
    }

    #[test]
    fn a_device_stream_becomes_actions_and_a_held_key_repeats() {
        let (tx, rx) = mpsc::channel();
        let stream = Recorded(
            vec![
                (0, vec![key("KEY_4", 1), key("KEY_4", 0)]),
                (10, vec![key("KEY_DOWN", 1)]),
                // Held 600 ms: the ticker repeats it (no kernel autorepeat).
                (600, vec![key("KEY_DOWN", 0)]),
                (10, vec![key("KEY_ENTER", 1), key("KEY_ENTER", 0)]),
            ]
            .into_iter(),
        );
        pump(stream, load_keymap(None).unwrap(), Timing::default(), tx);
        let got: Vec<KeyEvent> = rx.try_iter().collect();
        assert_eq!(got[0], KeyEvent::Press(Action::Digit(4)));
        let downs = got
            .iter()
            .filter(|e| **e == KeyEvent::Press(Action::Down))
            .count();
        // Repeat timing is tested without threads in `keys.rs`.
        assert!(downs >= 1, "{got:?}");
        assert_eq!(got.last(), Some(&KeyEvent::Press(Action::Ok)));
    }
}

//! The Settings screen's controller: the admin PIN (with a lockout after
//! repeated failures) and the pages: devices, network, control-network
//! security, provisioning, about. The pages are computed from the app's
//! state, the settings and what the machine reports, by plain functions;
//! reading `/proc`, `/sys` and `/etc` happens in [`NetworkInfo::read`].

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, Model, ModelRc, VecModel};

use super::{AppWindow, SettingRow, SettingsApi};
use crate::app::AppState;
use crate::config::Settings;

/// Wrong PINs in a row before the panel stops accepting PINs for a while.
pub const PIN_ATTEMPTS: u32 = 5;
pub const PIN_LOCKOUT: Duration = Duration::from_secs(30);

/// The PIN gate. Time is passed in.
#[derive(Debug)]
pub struct PinGate {
    pin: String,
    failures: u32,
    locked_until: Option<Instant>,
}

impl PinGate {
    pub fn new(pin: &str) -> Self {
        Self {
            pin: pin.to_string(),
            failures: 0,
            locked_until: None,
        }
    }

    pub fn required(&self) -> bool {
        !self.pin.is_empty()
    }

    /// `Ok` opens Settings; `Err` says why not, for the screen.
    pub fn try_pin(&mut self, typed: &str, now: Instant) -> Result<(), String> {
        if !self.required() {
            return Ok(());
        }
        if let Some(until) = self.locked_until {
            if now < until {
                let left = (until - now).as_secs().max(1);
                return Err(format!("Too many wrong PINs: try again in {left} s."));
            }
            self.locked_until = None;
            self.failures = 0;
        }
        // Same time whatever the first differing digit.
        let same = typed.len() == self.pin.len()
            && typed
                .bytes()
                .zip(self.pin.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            self.failures = 0;
            return Ok(());
        }
        self.failures += 1;
        if self.failures >= PIN_ATTEMPTS {
            self.locked_until = Some(now + PIN_LOCKOUT);
            return Err(format!(
                "Too many wrong PINs: try again in {} s.",
                PIN_LOCKOUT.as_secs()
            ));
        }
        Err(format!(
            "Wrong PIN ({} of {PIN_ATTEMPTS} tries left).",
            PIN_ATTEMPTS - self.failures
        ))
    }
}

/// Wires the PIN entry.
pub fn wire(ui: &AppWindow, admin_pin: &str) {
    let gate = Rc::new(RefCell::new(PinGate::new(admin_pin)));
    let api = ui.global::<SettingsApi>();
    api.set_pin_required(gate.borrow().required());
    let weak = ui.as_weak();
    api.on_unlock(move |typed| {
        let Some(ui) = weak.upgrade() else { return };
        let api = ui.global::<SettingsApi>();
        match gate.borrow_mut().try_pin(&typed, Instant::now()) {
            Ok(()) => {
                api.set_pin_error("".into());
                api.set_unlocked(true);
            }
            Err(why) => {
                tracing::warn!("panel: admin PIN refused");
                api.set_pin_error(why.into());
            }
        }
    });
}

/// What the machine says about its network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkInfo {
    pub address: Option<String>,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// Name, state (`up`, `down`), hardware address.
    pub interfaces: Vec<(String, String, String)>,
}

impl NetworkInfo {
    pub fn read() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mut interfaces = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name == "lo" {
                    continue;
                }
                let base = format!("/sys/class/net/{name}");
                interfaces.push((
                    name,
                    read(&format!("{base}/operstate")).trim().to_string(),
                    read(&format!("{base}/address")).trim().to_string(),
                ));
            }
        }
        interfaces.sort();
        Self {
            address: primary_address(),
            gateway: default_gateway(&read("/proc/net/route")),
            dns: nameservers(&read("/etc/resolv.conf")),
            interfaces,
        }
    }
}

/// The address the room's traffic leaves from: a UDP socket "connected"
/// to a documentation address (no packet is sent) learns it.
fn primary_address() -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// The default route's gateway from `/proc/net/route` (hex, little-endian).
pub fn default_gateway(route: &str) -> Option<String> {
    route.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[1] != "00000000" {
            return None;
        }
        let g = u32::from_str_radix(f[2], 16).ok()?;
        Some(format!(
            "{} (via {})",
            std::net::Ipv4Addr::from(g.swap_bytes()),
            f[0]
        ))
    })
}

/// `nameserver` lines of `/etc/resolv.conf`.
pub fn nameservers(resolv: &str) -> Vec<String> {
    resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// "3 d 4 h", "2 h 14 min", "5 min", "40 s".
pub fn uptime_text(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The pages, as label/value rows.
#[derive(Debug, Default, PartialEq)]
pub struct Pages {
    pub devices: Vec<(String, String)>,
    pub network: Vec<(String, String)>,
    pub security: Vec<(String, String)>,
    pub provisioning: Vec<(String, String)>,
    pub about: Vec<(String, String)>,
}

pub fn pages(st: &AppState, settings: &Settings, net: &NetworkInfo, now_unix: u64) -> Pages {
    let row = |l: &str, v: String| (l.to_string(), v);
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();

    let mut devices = Vec::new();
    if let Some(sel) = &st.hardware {
        devices.push(row("Camera", sel.camera.to_string()));
        if let Some(c) = &sel.content {
            devices.push(row("Content / second camera", c.to_string()));
        }
        devices.push(row("Microphone", sel.microphone.to_string()));
        devices.push(row("Speaker", sel.speaker.to_string()));
        devices.push(row("Display", sel.display.to_string()));
    }
    let count = |class: &str| st.devices.iter().filter(|d| d.class == class).count();
    devices.push(row(
        "Devices seen",
        format!(
            "{} cameras, {} microphones, {} speakers",
            count("Video/Source"),
            count("Audio/Source"),
            count("Audio/Sink")
        ),
    ));

    let mut network = vec![
        row(
            "Address",
            net.address.clone().unwrap_or_else(|| "none".into()),
        ),
        row(
            "Gateway",
            net.gateway.clone().unwrap_or_else(|| "none".into()),
        ),
        row(
            "DNS servers",
            if net.dns.is_empty() {
                "none".into()
            } else {
                net.dns.join(", ")
            },
        ),
    ];
    for (name, state, mac) in &net.interfaces {
        network.push(row(name, format!("{state} · {mac}")));
    }
    if let Some(h) = &st.endpoints.http {
        network.push(row("REST API", format!("{h}/api/v3.11/")));
        network.push(row("Web client", format!("{h}/webrtc/")));
    }
    match &st.endpoints.certificate {
        Some(c) if c.source == "device" => {
            network.push(row(
                "HTTPS",
                "device certificate: trust the device CA (/device-ca.pem) once".into(),
            ));
            if let Some(ca) = &c.issuer_fingerprint {
                network.push(row("Device CA SHA-256", ca.clone()));
            }
            network.push(row("Certificate SHA-256", c.fingerprint.clone()));
        }
        Some(c) => {
            network.push(row(
                "HTTPS",
                format!("the operator's certificate ({})", c.file),
            ));
            network.push(row("Certificate SHA-256", c.fingerprint.clone()));
        }
        None => network.push(row(
            "HTTPS",
            "off: plain HTTP (http.https_listen), for use behind a TLS proxy only".into(),
        )),
    }

    let c = &settings.control;
    let security = vec![
        row(
            "Control port (TCP)",
            if c.enabled {
                c.listen.to_string()
            } else {
                "off".into()
            },
        ),
        row(
            "Control over WebSocket and HTTP",
            if c.http_listen.is_empty() {
                match settings.http.https() {
                    Some(a) => format!("on the API port, HTTPS ({a})"),
                    None => format!("on the API port ({})", settings.http.listen),
                }
            } else {
                c.http_listen.clone()
            },
        ),
        row(
            "Controllers must authenticate",
            if c.require_auth {
                "yes (PIN or token)".into()
            } else {
                "no: only on an isolated control network".into()
            },
        ),
        row("Control PIN set", yes(!c.pin.is_empty())),
        row("Connections at most", c.max_connections.to_string()),
        row("Requests per second", c.rate_limit.to_string()),
        row(
            "Lockout",
            format!(
                "after {} failures, {} s at first",
                c.lockout_after, c.lockout_seconds
            ),
        ),
        row(
            "Idle connections closed after",
            format!("{} s", c.idle_timeout),
        ),
        row("API clients", settings.server.api_clients.len().to_string()),
        row(
            "Panel admin PIN set",
            yes(!settings.panel.admin_pin.is_empty()),
        ),
    ];

    let mut provisioning = vec![row("built-in defaults", "always".into())];
    for l in &st.settings_layers {
        provisioning.push(row(&l.kind, l.file.clone()));
    }
    if !st
        .settings_layers
        .iter()
        .any(|l| l.kind == "provisioned settings")
    {
        provisioning.push(row(
            "provisioned settings",
            "none: this room was not provisioned".into(),
        ));
    }

    let about = vec![
        row("Version", format!("dais {}", st.version)),
        row(
            "Uptime",
            uptime_text(now_unix.saturating_sub(st.started_at)),
        ),
        row("Room name", st.room_name.clone()),
        row("Hardware profile", st.profile.clone()),
        row("Licence", "GPL-3.0-or-later".into()),
    ];

    Pages {
        devices,
        network,
        security,
        provisioning,
        about,
    }
}

fn set_rows(
    current: ModelRc<SettingRow>,
    rows: &[(String, String)],
    set: impl FnOnce(ModelRc<SettingRow>),
) {
    let rows: Vec<SettingRow> = rows
        .iter()
        .map(|(l, v)| SettingRow {
            label: l.as_str().into(),
            value: v.as_str().into(),
        })
        .collect();
    if current.row_count() != rows.len() || current.iter().zip(&rows).any(|(a, b)| a != *b) {
        set(ModelRc::new(VecModel::from(rows)));
    }
}

/// Shows the pages.
pub fn show(ui: &AppWindow, p: &Pages) {
    let api = ui.global::<SettingsApi>();
    set_rows(api.get_devices(), &p.devices, |m| api.set_devices(m));
    set_rows(api.get_network(), &p.network, |m| api.set_network(m));
    set_rows(api.get_security(), &p.security, |m| api.set_security(m));
    set_rows(api.get_provisioning(), &p.provisioning, |m| {
        api.set_provisioning(m)
    });
    set_rows(api.get_about(), &p.about, |m| api.set_about(m));
}

/// Shows the microphone's level after processing (dBFS).
pub fn show_meter(ui: &AppWindow, mic_db: Option<f64>) {
    let api = ui.global::<SettingsApi>();
    match mic_db {
        Some(db) if db.is_finite() => {
            // -60 dBFS and below is empty, 0 dBFS full.
            api.set_mic_level(((db + 60.0) / 60.0).clamp(0.0, 1.0) as f32);
            api.set_mic_level_text(format!("{db:.0} dBFS").into());
        }
        _ => {
            api.set_mic_level(0.0);
            api.set_mic_level_text("silent".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_gate_counts_failures_and_locks_out_for_a_while() {
        let t0 = Instant::now();
        let mut g = PinGate::new("2468");
        assert!(g.required());
        assert!(g.try_pin("2468", t0).is_ok());
        for i in 1..PIN_ATTEMPTS {
            let e = g.try_pin("1111", t0).unwrap_err();
            assert!(e.contains(&format!("{} of", PIN_ATTEMPTS - i)), "{e}");
        }
        assert!(g.try_pin("1", t0).unwrap_err().contains("try again"));
        // Locked: even the right PIN waits.
        assert!(g.try_pin("2468", t0 + Duration::from_secs(10)).is_err());
        assert!(g.try_pin("2468", t0 + PIN_LOCKOUT).is_ok());
        // No PIN set: open.
        assert!(PinGate::new("").try_pin("", t0).is_ok());
        assert!(!PinGate::new("").required());
    }

    #[test]
    fn gateway_and_nameservers_are_read_from_the_kernel_and_resolver_files() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(
            default_gateway(route).as_deref(),
            Some("10.0.2.1 (via eth0)")
        );
        assert_eq!(default_gateway("Iface\n"), None);
        assert_eq!(default_gateway("Iface\nbroken\n"), None);
        assert_eq!(
            nameservers("# x\nnameserver 10.0.2.3\nsearch lan\nnameserver  ::1 \nnameserver\n"),
            vec!["10.0.2.3", "::1"]
        );
    }

    #[test]
    fn uptime_reads_like_a_person_would_say_it() {
        assert_eq!(uptime_text(40), "40 s");
        assert_eq!(uptime_text(300), "5 min");
        assert_eq!(uptime_text(2 * 3600 + 14 * 60), "2 h 14 min");
        assert_eq!(uptime_text(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }

    #[test]
    fn the_pages_say_what_is_set_and_hide_secrets() {
        let mut st = AppState::new("Boardroom".into(), "virtual".into(), 1_000);
        st.settings_layers.push(crate::app::state::SettingsLayer {
            kind: "hardware profile".into(),
            file: "hardware/virtual.toml".into(),
        });
        let mut settings = Settings::default();
        settings.control.pin = "9876".into();
        settings.panel.admin_pin = "2468".into();
        let p = pages(&st, &settings, &NetworkInfo::default(), 1_000 + 3_700);
        let all = format!("{p:?}");
        assert!(!all.contains("9876") && !all.contains("2468"), "{all}");
        assert!(
            p.security
                .contains(&("Control PIN set".into(), "yes".into()))
        );
        assert!(p.about.contains(&("Uptime".into(), "1 h 1 min".into())));
        assert!(
            p.provisioning
                .iter()
                .any(|(k, v)| k == "provisioned settings" && v.starts_with("none"))
        );
        assert!(p.network.contains(&("Address".into(), "none".into())));
    }
}

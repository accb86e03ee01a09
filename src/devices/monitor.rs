//! What GStreamer's device monitor sees: cameras, microphones and speakers
//! that its providers (v4l2, alsa, pulse, ...) report.

use gst::prelude::*;
use serde::Serialize;

/// One device as the monitor reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenDevice {
    /// `Video/Source`, `Audio/Source` or `Audio/Sink`.
    pub class: String,
    pub name: String,
    /// The provider's properties that identify it (device.path, alsa.card, ...).
    pub properties: Vec<(String, String)>,
}

const CLASSES: &[&str] = &["Video/Source", "Audio/Source", "Audio/Sink"];

/// Probes once. Needs `gst::init()` to have run.
pub fn probe() -> Vec<SeenDevice> {
    let monitor = gst::DeviceMonitor::new();
    for class in CLASSES {
        monitor.add_filter(Some(class), None);
    }
    if monitor.start().is_err() {
        tracing::warn!("device monitor: no provider could start");
        return Vec::new();
    }
    let devices = monitor.devices();
    monitor.stop();
    let mut out: Vec<SeenDevice> = devices
        .iter()
        .map(|d| {
            let mut properties = Vec::new();
            if let Some(props) = d.properties() {
                for (k, v) in props.iter() {
                    let key = k.as_str();
                    if is_identifying(key)
                        && let Ok(s) = v.transform::<String>()
                        && let Ok(s) = s.get::<String>()
                    {
                        properties.push((key.to_string(), s));
                    }
                }
            }
            SeenDevice {
                class: d.device_class().to_string(),
                name: d.display_name().to_string(),
                properties,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.class, &a.name).cmp(&(&b.class, &b.name)));
    out
}

fn is_identifying(key: &str) -> bool {
    key.starts_with("device.")
        || key.starts_with("alsa.")
        || key.starts_with("api.")
        || key.starts_with("v4l2.")
        || key == "udev-probed"
}

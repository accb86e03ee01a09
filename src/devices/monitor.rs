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

/// A device that came or went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Change {
    Added(SeenDevice),
    Removed(SeenDevice),
}

/// Watches for cameras, microphones and speakers being plugged in or out
/// until `cancel` fires. The first report is every device present.
pub async fn watch(
    events: tokio::sync::mpsc::Sender<Change>,
    cancel: tokio_util::sync::CancellationToken,
) {
    use futures_util::StreamExt;
    let monitor = gst::DeviceMonitor::new();
    for class in CLASSES {
        monitor.add_filter(Some(class), None);
    }
    let bus = monitor.bus();
    let mut messages = bus.stream();
    if monitor.start().is_err() {
        tracing::info!("device monitor: no provider could start; hot-plug is off");
        return;
    }
    for d in monitor.devices() {
        let _ = events.send(Change::Added(seen(&d))).await;
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            m = messages.next() => {
                let Some(m) = m else { break };
                let change = match m.view() {
                    gst::MessageView::DeviceAdded(a) => Change::Added(seen(&a.device())),
                    gst::MessageView::DeviceRemoved(r) => Change::Removed(seen(&r.device())),
                    _ => continue,
                };
                tracing::info!(?change, "device monitor");
                if events.send(change).await.is_err() {
                    break;
                }
            }
        }
    }
    monitor.stop();
}

fn seen(d: &gst::Device) -> SeenDevice {
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
}

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
    let mut out: Vec<SeenDevice> = devices.iter().map(seen).collect();
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

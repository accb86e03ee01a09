//! The app's state: what the room is doing and which services are up.
//!
//! Plain data with its transitions. The app loop is its only writer and
//! publishes every change on a `watch` channel; the panel, the control
//! network's feedback and `/readyz` read it from there.

use serde::Serialize;

use crate::devices::Selection;
use crate::media::{DeviceState, PreviewState};

/// What the room is doing, as a room controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Activity {
    Starting,
    Idle,
    Standby,
    /// Joining a conference or placing a call: the network steps run.
    Connecting,
    /// In a conference (admitted).
    Conference,
    /// Asked to join a conference and waiting (waiting room, approval, host).
    Waiting,
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceState {
    Down,
    Starting,
    Up,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Store,
    Http,
    Control,
    Media,
    Panel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Services {
    pub store: ServiceState,
    pub http: ServiceState,
    pub control: ServiceState,
    pub media: ServiceState,
    pub panel: ServiceState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Where dais serves its pages and APIs: `https://ADDR:PORT` with the
    /// HTTPS listener, else `http://ADDR:PORT`.
    pub http: Option<String>,
    /// `http://ADDR:PORT` of the plain listener when HTTPS serves the rest
    /// (it answers the probes and redirects).
    pub plain_http: Option<String>,
    /// `ADDR:PORT` of the TCP control listener.
    pub control: Option<String>,
    /// The certificate the HTTPS listener serves, when there is one.
    pub certificate: Option<Certificate>,
}

/// The certificate dais serves over HTTPS, as the panel and `/status` show
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// `device` (issued by dais's own CA) or `operator` (the settings'
    /// PEM files).
    pub source: String,
    /// The served certificate's SHA-256 fingerprint (`AB:CD:...`).
    pub fingerprint: String,
    /// Its issuer's, when the chain holds it: for a device certificate,
    /// the device CA an organisation trusts.
    pub issuer_fingerprint: Option<String>,
    /// The operator's certificate file, or the device CA's PEM.
    pub file: String,
    /// The names and addresses a device certificate is issued for.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audio {
    /// Speaker volume, 0 to 100.
    pub volume: u8,
    pub mic_muted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Camera {
    /// Privacy: the camera is released.
    pub muted: bool,
}

/// The conference the room is in or waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InConference {
    pub cid: String,
    pub topic: String,
    /// The v4 mode name (`PxP`, `OxP`, `S|L`, `S|L Auto`).
    pub mode: String,
    /// The room's id in the roster.
    pub participant_id: String,
    pub role: String,
    pub state: crate::conference::Standing,
    /// Why the room waits, when it does.
    pub reason: Option<String>,
    /// The other dais hosting it (federation); `None`: this one.
    pub server: Option<String>,
    /// Who is in it, as the room may see them.
    pub participants: Vec<crate::sfu::client::Participant>,
    /// Its chat, the latest 50 messages.
    pub chat: Vec<crate::server::persist::ChatMessage>,
    /// A call (a conference of two that ends with either side): the room
    /// hangs up when the other side has been and gone.
    pub call: bool,
}

/// A conference inviting the room, ringing until it is accepted, rejected
/// or `conference.ring_seconds` pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incoming {
    pub cid: String,
    pub topic: String,
    /// Who is calling: the conference's owner as the server names them.
    pub from: String,
    /// Unix seconds when the ringing stops.
    pub until: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    pub room_name: String,
    pub profile: String,
    pub activity: Activity,
    pub services: Services,
    /// The camera: playing, off (standby, privacy) or failed.
    pub preview: PreviewState,
    pub microphone: DeviceState,
    /// The display layout.
    pub layout: String,
    /// Content is being shared.
    pub sharing: bool,
    /// `main` or `second`.
    pub active_camera: String,
    /// The RTSP stream on the display, if any.
    pub rtsp: Option<String>,
    pub recording: bool,
    /// The last media problem worth telling the room about.
    pub last_error: Option<String>,
    /// Cameras, microphones and speakers GStreamer sees, kept up to date
    /// as they are plugged in and out.
    pub devices: Vec<crate::devices::monitor::SeenDevice>,
    pub endpoints: Endpoints,
    pub hardware: Option<Selection>,
    pub audio: Audio,
    pub camera: Camera,
    pub conference: Option<InConference>,
    /// What the room is joining while `activity` is `connecting`: a CID,
    /// `cid@server`, or the server a call is placed through.
    pub connecting: Option<String>,
    /// An invitation ringing on the room (accept or reject).
    pub incoming: Option<Incoming>,
    /// The last invitation that rang unanswered (until the next answer).
    pub missed_call: Option<Incoming>,
    /// The user the room signed in as on its own server (`None`: the room
    /// acts as itself, `server.room_login`).
    pub signed_in: Option<String>,
    /// Put the room to sleep when the current conference ends (`autoclose=1`).
    pub close_after_call: bool,
    /// Unix seconds when this dais started.
    pub started_at: u64,
    pub version: &'static str,
    /// The settings files this run was started from, lowest layer first
    /// (hardware profile, provisioned settings, local overrides).
    pub settings_layers: Vec<SettingsLayer>,
}

/// One settings file dais read at start.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsLayer {
    /// `hardware profile`, `provisioned settings` or `local overrides`.
    pub kind: String,
    pub file: String,
}

impl AppState {
    pub fn new(room_name: String, profile: String, started_at: u64) -> Self {
        Self {
            room_name,
            profile,
            activity: Activity::Starting,
            services: Services {
                store: ServiceState::Down,
                http: ServiceState::Down,
                control: ServiceState::Down,
                media: ServiceState::Down,
                panel: ServiceState::Down,
            },
            preview: PreviewState::Starting,
            microphone: DeviceState::Live,
            layout: "grid".into(),
            sharing: false,
            active_camera: "main".into(),
            rtsp: None,
            recording: false,
            last_error: None,
            devices: Vec::new(),
            endpoints: Endpoints::default(),
            hardware: None,
            audio: Audio {
                volume: 50,
                mic_muted: false,
            },
            camera: Camera { muted: false },
            conference: None,
            connecting: None,
            incoming: None,
            missed_call: None,
            signed_in: None,
            close_after_call: false,
            started_at,
            version: env!("CARGO_PKG_VERSION"),
            settings_layers: Vec::new(),
        }
    }

    pub fn set_service(&mut self, service: Service, state: ServiceState) {
        let slot = match service {
            Service::Store => &mut self.services.store,
            Service::Http => &mut self.services.http,
            Service::Control => &mut self.services.control,
            Service::Media => &mut self.services.media,
            Service::Panel => &mut self.services.panel,
        };
        *slot = state;
        self.settle();
    }

    /// Whether the camera preview should run: not in standby, not muted.
    pub fn wants_camera(&self) -> bool {
        self.activity != Activity::Standby && !self.camera.muted
    }

    /// Applies a preview state change: the media service is up while the
    /// preview plays or is deliberately stopped (standby, privacy).
    pub fn set_preview(&mut self, preview: PreviewState) {
        self.services.media = match &preview {
            PreviewState::Playing | PreviewState::Standby => ServiceState::Up,
            PreviewState::Starting => ServiceState::Starting,
            PreviewState::Failed { .. } => ServiceState::Failed,
            PreviewState::Stopped => ServiceState::Down,
        };
        self.preview = preview;
        self.settle();
    }

    /// Leaves `Starting` once everything needed for readiness is up.
    fn settle(&mut self) {
        if self.activity == Activity::Starting && self.ready() {
            self.activity = Activity::Idle;
        }
    }

    /// Ready once the store, the HTTP server and the media preview are up.
    pub fn ready(&self) -> bool {
        self.pending().is_empty()
    }

    /// What readiness still waits for.
    pub fn pending(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if self.services.store != ServiceState::Up {
            p.push("store");
        }
        if self.services.http != ServiceState::Up {
            p.push("http");
        }
        if self.services.media != ServiceState::Up {
            p.push("media");
        }
        if self.activity == Activity::Stopping {
            p.push("stopping");
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_store_http_and_preview() {
        let mut s = AppState::new("R".into(), "virtual".into(), 0);
        assert_eq!(s.pending(), ["store", "http", "media"]);
        s.set_service(Service::Store, ServiceState::Up);
        s.set_service(Service::Http, ServiceState::Up);
        assert!(!s.ready());
        assert_eq!(s.activity, Activity::Starting);
        s.set_preview(PreviewState::Playing);
        assert!(s.ready());
        assert_eq!(s.activity, Activity::Idle);
        s.set_preview(PreviewState::Failed {
            error: "x".into(),
            retry_in_ms: 500,
        });
        assert_eq!(s.pending(), ["media"]);
        s.set_preview(PreviewState::Standby);
        assert!(s.ready());
    }
}

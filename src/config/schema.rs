//! The settings schema: every key dais reads, its type and its default.
//!
//! Plain data. Loading, layering and error positions live in `config::load`;
//! range and cross-field checks in `config::validate`.

use super::Secret;

mod listeners;
pub use listeners::{ControlSettings, HttpSettings};
use serde::{Deserialize, Serialize};

/// The whole settings tree. Every struct takes `#[serde(default)]` so that any
/// layer may set only the keys it cares about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub profile: ProfileInfo,
    pub room: RoomSettings,
    pub http: HttpSettings,
    pub control: ControlSettings,
    pub camera: CameraSettings,
    /// The second video source: shared content or a second camera.
    #[serde(default = "CameraSettings::no_content")]
    pub content: CameraSettings,
    pub microphone: MicrophoneSettings,
    pub speaker: SpeakerSettings,
    pub display: DisplaySettings,
    pub panel: PanelSettings,
    pub input: InputSettings,
    pub media: MediaSettings,
    pub server: ServerSettings,
    pub conference: ConferenceSettings,
    pub log: LogSettings,
}

impl Settings {
    /// The room's contacts: its phone book and its server's users, as one
    /// sorted list ([`crate::contacts::list`]).
    pub fn contacts(&self) -> Vec<crate::contacts::Contact> {
        let book: Vec<_> = self
            .room
            .contacts
            .iter()
            .map(|c| crate::contacts::Entry {
                name: &c.name,
                address: &c.address,
            })
            .collect();
        let users: Vec<_> = self
            .server
            .users
            .iter()
            .map(|u| crate::contacts::User {
                login: &u.login,
                display_name: &u.display_name,
            })
            .collect();
        crate::contacts::list(&book, &users)
    }

    /// The web origins whose pages may use dais from a browser besides
    /// the one a request's `Host` names: `http.allowed_origins`, and that
    /// of `server.public_url` (dais behind a TLS proxy serves its pages
    /// from there).
    pub fn web_origins(&self) -> Vec<String> {
        let mut list = self.http.allowed_origins.clone();
        list.extend(
            dais_core::origin::url_origin(&self.server.public_url)
                .filter(|o| dais_core::origin::valid(o)),
        );
        list
    }

    /// The names besides its addresses, `localhost` and its host name that
    /// dais answers to: `http.allowed_hosts`, and `server.public_url`'s.
    pub fn host_names(&self) -> Vec<String> {
        let mut list = self.http.allowed_hosts.clone();
        list.extend(
            dais_core::origin::url_host(&self.server.public_url)
                .filter(|h| dais_core::origin::valid_host_entry(h) && !h.contains('*')),
        );
        list
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: ProfileInfo::default(),
            room: RoomSettings::default(),
            http: HttpSettings::default(),
            control: ControlSettings::default(),
            camera: CameraSettings::default(),
            content: CameraSettings::no_content(),
            microphone: MicrophoneSettings::default(),
            speaker: SpeakerSettings::default(),
            display: DisplaySettings::default(),
            panel: PanelSettings::default(),
            input: InputSettings::default(),
            media: MediaSettings::default(),
            conference: ConferenceSettings::default(),
            server: ServerSettings::default(),
            log: LogSettings::default(),
        }
    }
}

/// Which hardware profile these settings describe (set by the profile file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
}

impl Default for ProfileInfo {
    fn default() -> Self {
        Self {
            name: "none".into(),
            description: "built-in defaults, no hardware profile loaded".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomSettings {
    /// Shown on the panel and to the far end.
    pub name: String,
    /// The room's phone book (the panel lists these with the users of the
    /// room's own server).
    pub contacts: Vec<ContactSettings>,
}

impl Default for RoomSettings {
    fn default() -> Self {
        Self {
            name: "Meeting room".into(),
            contacts: Vec::new(),
        }
    }
}

/// Someone the room calls often.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactSettings {
    pub name: String,
    /// A call string: `user` on this dais, `user@server` on another, or
    /// `\c\CID@server` for a conference.
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VideoSourceKind {
    /// GStreamer's videotestsrc: the virtual camera.
    Test,
    /// A V4L2 camera (USB UVC, HDMI capture).
    V4l2,
    /// Any GStreamer source element named by `element`.
    Element,
    /// No source (only for `[content]`).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VideoInputFormat {
    /// Raw when the camera offers the size and rate, MJPEG otherwise.
    Auto,
    Raw,
    Mjpeg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CameraSettings {
    pub source: VideoSourceKind,
    /// videotestsrc pattern for `source = "test"` (smpte, ball, snow, ...).
    pub pattern: String,
    /// Device node, preferably a stable `/dev/v4l/by-id/...` link.
    pub device: Option<String>,
    /// USB `vendor:product` in hex, e.g. `046d:085e`.
    pub usb_id: Option<String>,
    /// Part of the device name as the kernel reports it.
    pub name: Option<String>,
    /// GStreamer factory name for `source = "element"`.
    pub element: Option<String>,
    pub input_format: VideoInputFormat,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
}

impl CameraSettings {
    /// The defaults of `[content]`: none.
    pub fn no_content() -> Self {
        Self {
            source: VideoSourceKind::None,
            pattern: "ball".into(),
            ..Self::default()
        }
    }
}

impl Default for CameraSettings {
    fn default() -> Self {
        Self {
            source: VideoSourceKind::Test,
            pattern: "smpte".into(),
            device: None,
            usb_id: None,
            name: None,
            element: None,
            input_format: VideoInputFormat::Auto,
            width: 1280,
            height: 720,
            framerate: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudioSourceKind {
    /// GStreamer's audiotestsrc: the virtual microphone.
    Test,
    Alsa,
    Element,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MicrophoneSettings {
    pub source: AudioSourceKind,
    /// audiotestsrc waveform for `source = "test"` (sine, silence, pink-noise, ...).
    pub wave: String,
    pub frequency_hz: f64,
    /// ALSA card id or name, e.g. `Speakerphone`.
    pub card: Option<String>,
    pub usb_id: Option<String>,
    /// A raw ALSA PCM name, e.g. `hw:CARD=Speakerphone,DEV=0`.
    pub device: Option<String>,
    pub element: Option<String>,
    pub rate: u32,
    pub channels: u32,
}

impl Default for MicrophoneSettings {
    fn default() -> Self {
        Self {
            source: AudioSourceKind::Test,
            wave: "sine".into(),
            frequency_hz: 440.0,
            card: None,
            usb_id: None,
            device: None,
            element: None,
            rate: 48_000,
            channels: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudioSinkKind {
    Alsa,
    /// Discard audio, keeping the clock (fakesink sync=true).
    Fake,
    Element,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeakerSettings {
    pub sink: AudioSinkKind,
    pub card: Option<String>,
    pub usb_id: Option<String>,
    /// A raw ALSA PCM name; `null` is ALSA's discarding device.
    pub device: Option<String>,
    pub element: Option<String>,
    /// ALSA: the sound card's ring buffer, in ms. A machine that can be
    /// starved of CPU for longer than this underruns (a click, and the
    /// samples behind it played late or dropped).
    pub buffer_ms: u32,
    /// ALSA: the period, how much is written at a time, in ms.
    pub period_ms: u32,
    /// How late the speaker mix may reach the card and still be played, in
    /// ms (GStreamer's `processing-deadline`). The mix for an instant is
    /// made when the room's latency has passed; the sink then has only this
    /// long to receive it, and sound that comes later is skipped, silently.
    /// A machine starved of CPU needs more. The whole room (the display
    /// too) is put this much later, so picture and sound stay together.
    pub deadline_ms: u32,
    /// ALSA: how the card follows the room's clock when its crystal
    /// drifts: "resample" (smoothly), "skew" (by jumps of the write
    /// position) or "none".
    pub slave_method: SpeakerSlaving,
}

/// How the speaker follows the pipeline's clock (GStreamer's
/// `audiobasesink` `slave-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpeakerSlaving {
    Resample,
    Skew,
    None,
}

impl SpeakerSlaving {
    /// The `slave-method` nick.
    pub fn nick(self) -> &'static str {
        match self {
            SpeakerSlaving::Resample => "resample",
            SpeakerSlaving::Skew => "skew",
            SpeakerSlaving::None => "none",
        }
    }
}

impl Default for SpeakerSettings {
    fn default() -> Self {
        Self {
            sink: AudioSinkKind::Fake,
            card: None,
            usb_id: None,
            device: None,
            element: None,
            buffer_ms: 200,
            period_ms: 10,
            deadline_ms: 20,
            slave_method: SpeakerSlaving::Skew,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisplaySinkKind {
    /// Frames handed to dais itself (the panel's preview, tests).
    Appsink,
    /// Full-screen on a DRM/KMS connector (the appliance's HDMI output).
    Kms,
    /// A window on the desktop session (`DISPLAY`).
    Window,
    /// Discard frames, keeping the clock.
    Fake,
    Element,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DisplaySettings {
    pub sink: DisplaySinkKind,
    /// DRM device, preferably a stable `/dev/dri/by-path/...` link.
    pub drm_device: Option<String>,
    /// Connector name as the kernel names it, e.g. `HDMI-A-1`.
    pub connector: Option<String>,
    pub element: Option<String>,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
}

impl Default for DisplaySettings {
    fn default() -> Self {
        Self {
            sink: DisplaySinkKind::Appsink,
            drm_device: None,
            connector: None,
            element: None,
            width: 1280,
            height: 720,
            framerate: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanelBackend {
    /// A window when `DISPLAY` or `WAYLAND_DISPLAY` is set, otherwise headless.
    Auto,
    Window,
    /// Full screen on a DRM device through Slint's LinuxKMS backend.
    Kms,
    /// Software renderer into memory (tests, screenshots, no screen).
    Headless,
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PanelSettings {
    pub backend: PanelBackend,
    pub width: u32,
    pub height: u32,
    pub drm_device: Option<String>,
    /// Digits that open the panel's Settings; empty leaves them open (the
    /// panel says so).
    pub admin_pin: Secret,
}

impl Default for PanelSettings {
    fn default() -> Self {
        Self {
            backend: PanelBackend::Auto,
            width: 1280,
            height: 800,
            drm_device: None,
            admin_pin: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputSettings {
    /// Read IR receivers, remotes and keyboards through evdev.
    pub enabled: bool,
    /// Keymap file (scancode → key → action); empty uses the built-in default.
    pub keymap: String,
    /// Input devices to read, by `/dev/input/by-id/...` path or device name;
    /// empty reads every keyboard and IR receiver.
    pub devices: Vec<String>,
    pub long_press_ms: u32,
    /// Take the devices dais reads for itself (EVIOCGRAB), so no other
    /// reader (the panel's LinuxKMS input, a desktop) acts on the same key.
    pub exclusive: bool,
}

impl Default for InputSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            keymap: String::new(),
            devices: Vec::new(),
            long_press_ms: 800,
            exclusive: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VideoCodec {
    Vp8,
    H264,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingFormat {
    Mp4,
    Mkv,
}

/// Calls, the display compositor and recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// The codec the room sends video with.
    pub video_codec: VideoCodec,
    /// Size and rate of the video the room sends.
    pub send_width: u32,
    pub send_height: u32,
    pub send_framerate: u32,
    /// Send a smaller picture while the encoder cannot keep up with the
    /// camera ([`crate::media::adapt`]); false keeps the configured size
    /// and drops frames instead.
    pub adapt_send_size: bool,
    pub video_bitrate_kbps: u32,
    pub audio_bitrate_kbps: u32,
    /// The microphone's signal processing (webrtcdsp).
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub gain_control: bool,
    /// The display layout at start: speaker, grid, speaker-strip or pip.
    pub layout: String,
    /// How a picture fills a tile of another shape: "letterbox" (all of
    /// it, with bars) or "crop" (the tile full, the edges cut). Never
    /// stretched; shared content is always letterboxed.
    pub tile_fit: String,
    /// Where recordings go; empty: `recordings/` in the data directory.
    pub recordings_dir: String,
    pub recording_format: RecordingFormat,
    /// Recordings are cut into files of this many seconds.
    pub recording_segment_seconds: u32,
    /// How much longer than its inputs report the speaker mix waits for
    /// the far end's audio before playing without it (a slow machine
    /// needs some). It adds to the whole pipeline's latency, the room
    /// display's included.
    pub speaker_latency_ms: u32,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            video_codec: VideoCodec::Vp8,
            send_width: 1280,
            send_height: 720,
            send_framerate: 30,
            adapt_send_size: true,
            video_bitrate_kbps: 1500,
            audio_bitrate_kbps: 32,
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
            layout: "grid".into(),
            tile_fit: "letterbox".into(),
            recordings_dir: String::new(),
            recording_format: RecordingFormat::Mp4,
            recording_segment_seconds: 600,
            speaker_latency_ms: 0,
        }
    }
}

/// Live conferences: media routing on this server, and other dais
/// servers the room may join conferences on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConferenceSettings {
    /// Video tiles each participant receives at most.
    pub video_slots: u32,
    /// Speakers each participant hears at once.
    pub audio_slots: u32,
    /// How long the server waits for a missing packet of a participant
    /// (asking for it again meanwhile) before it gives it up, in
    /// milliseconds. Packets in order pass at once: this costs delay only
    /// after a loss.
    pub jitter_ms: u32,
    /// Packets of each participant's connection the server drops on
    /// purpose, in and out, per thousand: to try how rooms and guests
    /// cope with a lossy network. 0 in service.
    pub induced_loss_permille: u32,
    /// Smart meeting: continuous voice before someone takes the podium.
    pub smart_attack_ms: u32,
    /// Smart meeting: silence before a speaker gives up the podium.
    pub smart_release_seconds: u32,
    /// Join by itself when a conference on this dais invites the room
    /// (an API invite, `auto_invite` at the start, or another room's call)
    /// and the room is free. Off: the room rings (accept or reject on the
    /// panel, the remote or the control network).
    pub answer_invitations: bool,
    /// How long an invitation rings before it counts as missed.
    pub ring_seconds: u32,
    /// Other dais servers (`trueconf:\c\CID@host#vcs`): one of their API
    /// clients.
    pub servers: Vec<RemoteServerSettings>,
}

impl Default for ConferenceSettings {
    fn default() -> Self {
        Self {
            video_slots: 9,
            audio_slots: 3,
            jitter_ms: 150,
            induced_loss_permille: 0,
            smart_attack_ms: 800,
            smart_release_seconds: 10,
            answer_invitations: true,
            ring_seconds: 45,
            servers: Vec::new(),
        }
    }
}

/// Credentials for another dais server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteServerSettings {
    /// `host` or `host:port`, as links name it.
    pub host: String,
    /// "http" (a LAN) or "https".
    pub scheme: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// With "https": the SHA-256 fingerprint (`AB:CD:…`) of its
    /// certificate, or of the CA in the chain it presents (another dais's
    /// device CA, on its panel); empty: not pinned.
    pub fingerprint: String,
    /// With "https": a PEM file of the CA(s) its certificate chains to,
    /// trusted for it alone; empty: the system's trust store.
    pub ca: String,
}

impl RemoteServerSettings {
    fn secure(&self) -> bool {
        self.scheme == "https"
    }

    /// Its REST API's base: `http://host:port` (the default) or `https://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.secure() { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    /// Its participants' signalling WebSocket (`ws://` or `wss://`).
    pub fn signalling_url(&self) -> String {
        let scheme = if self.secure() { "wss" } else { "ws" };
        format!("{scheme}://{}/webrtc/signalling/ws", self.host)
    }
}

/// The embedded conferencing server and its REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub enabled: bool,
    /// Base URL for links (`https://room.example.com`); empty: the request's Host.
    pub public_url: String,
    /// Seconds an OAuth access token lives.
    pub token_ttl: u64,
    /// Seconds a guest link lives.
    pub link_ttl: u64,
    /// The owner name of conferences the room starts itself.
    pub room_login: String,
    pub api_clients: Vec<ApiClientSettings>,
    pub users: Vec<UserSettings>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            public_url: String::new(),
            token_ttl: 604_800,
            link_ttl: 60,
            room_login: "room".into(),
            api_clients: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// An OAuth client allowed the client_credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiClientSettings {
    pub id: String,
    /// Argon2 hash from `dais config hash-secret`.
    pub secret_hash: Secret,
}

/// A local user allowed the password grant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    pub login: String,
    pub display_name: String,
    /// Argon2 hash from `dais config hash-secret`.
    pub password_hash: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// `journald` under systemd (JOURNAL_STREAM set), `text` otherwise.
    Auto,
    Text,
    Journald,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `dais=debug,gst=warn`; `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

/// `ADDR:PORT` strings with an error that says what was expected.
mod addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            D::Error::custom(format!(
                "expected ADDR:PORT such as \"0.0.0.0:8080\" or \"[::1]:8080\", got {s:?}"
            ))
        })
    }
}

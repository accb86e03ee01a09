//! The one command language.
//!
//! Touch, IR remote, keyboard, the control network, `trueconf:` links and the
//! REST API all turn their input into [`Command`] values and hand them to the
//! one dispatcher (`app::App::dispatch`). A feature reachable from one input
//! is therefore reachable from all of them, and every input sees the same
//! replies and the same errors.
//!
//! Invariant: this module is plain data. No IO, no clock, no async; the JSON
//! shape (`{"method": "...", ...}`) is the control protocol's and is
//! documented in `docs/control.md`.

use serde::{Deserialize, Serialize};

/// Conference modes as commands name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MeetingMode {
    AllOnScreen,
    VideoLecture,
    Moderated,
    Smart,
}

/// A conference to start on the room's own server: what Meet now asks
/// for and what a template keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meeting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub mode: MeetingMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_podiums: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_on_entry: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Users of the room's server to invite (their endpoints ring when it
    /// starts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invite: Vec<String>,
}

/// The most people Meet now invites at once.
pub const INVITE_MAX: usize = 100;

impl Meeting {
    pub fn new(mode: MeetingMode) -> Self {
        Self {
            topic: None,
            mode,
            max_participants: None,
            max_podiums: None,
            waiting_room: None,
            auto_approve: None,
            mute_on_entry: None,
            pin: None,
            invite: Vec::new(),
        }
    }

    /// The conference settings this asks for. Guests may join by link or
    /// PIN: a room's meetings are for visitors too.
    pub fn to_patch(&self) -> crate::conference::Patch {
        use crate::conference::Mode;
        crate::conference::Patch {
            topic: self.topic.clone(),
            mode: Some(match self.mode {
                MeetingMode::AllOnScreen => Mode::AllOnScreen,
                MeetingMode::VideoLecture => Mode::VideoLecture,
                MeetingMode::Moderated => Mode::Moderated,
                MeetingMode::Smart => Mode::Smart,
            }),
            max_participants: self.max_participants.map(i64::from),
            max_podiums: self.max_podiums.map(i64::from),
            waiting_room: self.waiting_room,
            auto_approve: self.auto_approve,
            mute_mic_on_entry: self.mute_on_entry,
            pin: self.pin.clone().filter(|p| !p.is_empty()),
            allow_guests: Some(true),
            invitations: (!self.invite.is_empty()).then(|| {
                self.invite
                    .iter()
                    .map(|login| crate::conference::Invitation {
                        id: login.clone(),
                        display_name: login.clone(),
                    })
                    .collect()
            }),
            auto_invite: (!self.invite.is_empty()).then_some(true),
            ..Default::default()
        }
    }

    /// A template's settings as the command language names them.
    pub fn from_patch(p: &crate::conference::Patch) -> Self {
        use crate::conference::Mode;
        Self {
            topic: p.topic.clone(),
            mode: match p.mode {
                Some(Mode::AllOnScreen) => MeetingMode::AllOnScreen,
                Some(Mode::VideoLecture) => MeetingMode::VideoLecture,
                Some(Mode::Moderated) => MeetingMode::Moderated,
                _ => MeetingMode::Smart,
            },
            max_participants: p.max_participants.and_then(|n| u32::try_from(n).ok()),
            max_podiums: p.max_podiums.and_then(|n| u32::try_from(n).ok()),
            waiting_room: p.waiting_room,
            auto_approve: p.auto_approve,
            mute_on_entry: p.mute_mic_on_entry,
            pin: p.pin.clone(),
            invite: p
                .invitations
                .iter()
                .flatten()
                .map(|i| i.id.clone())
                .collect(),
        }
    }

    /// Checks that need no state; `at` prefixes the field names
    /// (`""` or `"settings."`).
    pub fn validate(&self, at: &str) -> Result<(), CommandError> {
        let bad = |m: String| Err(CommandError::new(ErrorCode::BadRequest, format!("{at}{m}")));
        if let Some(n) = self.max_participants
            && !(2..=1000).contains(&n)
        {
            return bad(format!("maxParticipants: 2 to 1000, got {n}"));
        }
        if let Some(n) = self.max_podiums
            && n < 1
        {
            return bad("maxPodiums: at least 1".into());
        }
        if let Some(t) = &self.topic
            && (t.trim().is_empty() || t.chars().count() > 240)
        {
            return bad("topic: 1 to 240 characters".into());
        }
        if let Some(p) = &self.pin
            && (p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad("pin: up to 20 digits".into());
        }
        if self.invite.len() > INVITE_MAX {
            return bad(format!(
                "invite: at most {INVITE_MAX} people, got {}",
                self.invite.len()
            ));
        }
        for (i, login) in self.invite.iter().enumerate() {
            if login.trim().is_empty() || login.chars().count() > 64 {
                return bad(format!("invite[{i}]: a login of 1 to 64 characters"));
            }
        }
        Ok(())
    }
}

/// A guest identity from a link (`templogin=1&login=*guest*Name&password=TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuestLogin {
    pub display_name: String,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PresetAction {
    Recall,
    Store,
}

/// Something a person or a system asks the room to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "method",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Command {
    /// The whole app state: activity, services, endpoints, call state.
    GetAppState,
    /// The devices the profile selected and how they were found.
    GetHardware,
    /// The effective settings, secrets removed.
    GetSettings,
    /// Change settings that may change at run time (`room.name`).
    SetSettings {
        settings: serde_json::Value,
    },
    /// Conferences on the room's own server.
    GetConferences,
    /// Leave standby: camera and display back on.
    Wake,
    /// Camera released and display dark until `wake`.
    Standby,
    /// `trueconf:` with nothing after it: bring the room to its home screen.
    Launch,
    /// Sign the room in as a user of a server (`login=...&password=...`).
    Login {
        #[serde(default)]
        servers: Vec<String>,
        login: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        encrypted: bool,
        #[serde(default)]
        force: bool,
    },
    /// Call a user or any call string.
    Call {
        peer: String,
        #[serde(default)]
        server: Option<String>,
    },
    /// Call the conference where `user` is the moderator (`conftype=hotquery`).
    CallModerator {
        user: String,
        #[serde(default)]
        server: Option<String>,
    },
    /// Join a conference by CID, on this room's server or another.
    JoinConference {
        cid: String,
        #[serde(default)]
        server: Option<String>,
        #[serde(default)]
        pin: Option<String>,
        #[serde(default)]
        guest: Option<GuestLogin>,
    },
    /// Create a conference on the room's server, start it and join it.
    MeetNow(Meeting),
    /// The room's conference templates.
    GetTemplates,
    /// The room's phone book and the users of its server.
    GetContacts,
    /// Posts a message to the chat of the room's conference.
    SendChat {
        text: String,
    },
    /// Save a template: a new one without `id`, else replace that one
    /// (rename, change mode and sizes).
    SaveTemplate {
        #[serde(default)]
        id: Option<i64>,
        name: String,
        settings: Meeting,
    },
    /// Delete a template. There is no undo: the panel confirms first.
    DeleteTemplate {
        id: i64,
    },
    /// Start a conference from a template and join it.
    StartTemplate {
        id: i64,
    },
    /// Show an RTSP stream (`trueconf:#rtsp:...`).
    OpenRtsp {
        url: String,
    },
    /// When the current call or conference ends, put the room to sleep.
    AutoClose,
    Accept,
    Reject,
    HangUp,
    /// End the conference for everyone (the room must be its owner or a
    /// moderator; conferences on the room's own server only).
    EndConference,
    /// Moderating the conference the room is in (it must be its owner,
    /// moderator or operator): let someone in from the waiting room...
    Admit {
        participant_id: String,
    },
    /// ... everyone waiting ...
    AdmitAll,
    /// ... decline someone's request to join ...
    RejectJoinRequest {
        participant_id: String,
    },
    /// ... send someone back to the waiting room ...
    ToWaitingRoom {
        participant_id: String,
    },
    /// ... or move someone on or off the podium.
    Podium {
        participant_id: String,
        on: bool,
    },
    /// Speaker volume, 0 to 100.
    SetVolume {
        volume: u8,
    },
    /// The display layout: `speaker`, `grid`, `speaker-strip` or `pip`.
    SetLayout {
        layout: String,
    },
    MuteMicrophone,
    UnmuteMicrophone,
    /// Privacy: the camera is released; the far end sees a slate.
    MuteCamera,
    UnmuteCamera,
    /// Camera presets 1 to 35.
    CameraPreset {
        action: PresetAction,
        preset: u8,
    },
    /// Relative camera move; each axis from -1.0 to 1.0 of its range.
    CameraMove {
        #[serde(default)]
        pan: f32,
        #[serde(default)]
        tilt: f32,
        #[serde(default)]
        zoom: f32,
    },
    /// The camera's controls (V4L2 cameras), with their current values.
    GetCameraControls,
    /// Sets one camera control (`control`: its id or name, as
    /// `getCameraControls` lists them) and reads it back.
    SetCameraControl {
        control: String,
        value: i64,
    },
    /// Share content (the second video source) on the display and in calls.
    ShareContent {
        on: bool,
    },
    /// Make the main or the second camera the room's camera.
    SwitchCamera {
        camera: String,
    },
    /// Take the RTSP stream off the display.
    CloseRtsp,
    /// Record the display and the speaker mix.
    StartRecording,
    StopRecording,
    /// A `trueconf:` link: parsed into commands run in order.
    OpenLink {
        link: String,
    },
}

impl Command {
    /// The method name as it appears on the wire and in logs.
    pub fn method(&self) -> &'static str {
        match self {
            Command::GetAppState => "getAppState",
            Command::GetHardware => "getHardware",
            Command::GetSettings => "getSettings",
            Command::SetSettings { .. } => "setSettings",
            Command::GetConferences => "getConferences",
            Command::Wake => "wake",
            Command::Standby => "standby",
            Command::Launch => "launch",
            Command::Login { .. } => "login",
            Command::Call { .. } => "call",
            Command::CallModerator { .. } => "callModerator",
            Command::JoinConference { .. } => "joinConference",
            Command::MeetNow(_) => "meetNow",
            Command::GetTemplates => "getTemplates",
            Command::GetContacts => "getContacts",
            Command::SendChat { .. } => "sendChat",
            Command::SaveTemplate { .. } => "saveTemplate",
            Command::DeleteTemplate { .. } => "deleteTemplate",
            Command::StartTemplate { .. } => "startTemplate",
            Command::OpenRtsp { .. } => "openRtsp",
            Command::AutoClose => "autoClose",
            Command::Accept => "accept",
            Command::Reject => "reject",
            Command::HangUp => "hangUp",
            Command::EndConference => "endConference",
            Command::Admit { .. } => "admit",
            Command::AdmitAll => "admitAll",
            Command::RejectJoinRequest { .. } => "rejectJoinRequest",
            Command::ToWaitingRoom { .. } => "toWaitingRoom",
            Command::Podium { .. } => "podium",
            Command::SetVolume { .. } => "setVolume",
            Command::SetLayout { .. } => "setLayout",
            Command::MuteMicrophone => "muteMicrophone",
            Command::UnmuteMicrophone => "unmuteMicrophone",
            Command::MuteCamera => "muteCamera",
            Command::UnmuteCamera => "unmuteCamera",
            Command::CameraPreset { .. } => "cameraPreset",
            Command::CameraMove { .. } => "cameraMove",
            Command::GetCameraControls => "getCameraControls",
            Command::SetCameraControl { .. } => "setCameraControl",
            Command::ShareContent { .. } => "shareContent",
            Command::SwitchCamera { .. } => "switchCamera",
            Command::CloseRtsp => "closeRtsp",
            Command::StartRecording => "startRecording",
            Command::StopRecording => "stopRecording",
            Command::OpenLink { .. } => "openLink",
        }
    }

    /// Commands that only read state, so they can be answered while a
    /// controller holds no write rights (and cost nothing to repeat).
    pub fn is_query(&self) -> bool {
        matches!(
            self,
            Command::GetAppState
                | Command::GetHardware
                | Command::GetSettings
                | Command::GetConferences
                | Command::GetTemplates
                | Command::GetContacts
                | Command::GetCameraControls
        )
    }

    /// Parameter checks that need no state. Errors name the parameter.
    pub fn validate(&self) -> Result<(), CommandError> {
        let bad = |m: String| Err(CommandError::new(ErrorCode::BadRequest, m));
        match self {
            Command::SetVolume { volume } if *volume > 100 => {
                bad(format!("volume: 0 to 100, got {volume}"))
            }
            Command::SendChat { text }
                if text.trim().is_empty() || text.chars().count() > crate::conference::CHAT_MAX =>
            {
                bad(format!(
                    "text: 1 to {} characters, not only spaces",
                    crate::conference::CHAT_MAX
                ))
            }
            Command::Admit { participant_id }
            | Command::RejectJoinRequest { participant_id }
            | Command::ToWaitingRoom { participant_id }
            | Command::Podium { participant_id, .. }
                if participant_id.is_empty() || participant_id.len() > 128 =>
            {
                bad("participantId: 1 to 128 characters".into())
            }
            Command::CameraPreset { preset, .. } if !(1..=35).contains(preset) => {
                bad(format!("preset: 1 to 35, got {preset}"))
            }
            Command::CameraMove { pan, tilt, zoom } => {
                for (n, v) in [("pan", pan), ("tilt", tilt), ("zoom", zoom)] {
                    if !v.is_finite() || !(-1.0..=1.0).contains(v) {
                        return bad(format!("{n}: -1.0 to 1.0, got {v}"));
                    }
                }
                Ok(())
            }
            Command::JoinConference { cid, pin, .. } => {
                if let Err(e) = crate::conference::Cid::parse(cid) {
                    return bad(format!("cid: {e}"));
                }
                if let Some(p) = pin
                    && (p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()))
                {
                    return bad("pin: up to 20 digits".into());
                }
                Ok(())
            }
            Command::MeetNow(m) => m.validate(""),
            Command::SaveTemplate { name, settings, .. } => {
                let n = name.trim().chars().count();
                let max = crate::conference::template::NAME_MAX;
                if n == 0 || name.chars().count() > max {
                    return bad(format!("name: 1 to {max} characters"));
                }
                settings.validate("settings.")
            }
            Command::Call { peer, .. } | Command::CallModerator { user: peer, .. }
                if peer.trim().is_empty() =>
            {
                bad("peer: a user or call string".into())
            }
            Command::Login { login, .. } if login.is_empty() => bad("login: required".into()),
            _ => Ok(()),
        }
    }
}

/// Which input a command came from: for logs and, later, for rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Source {
    Panel,
    Remote,
    Control {
        peer: String,
    },
    Uri,
    Rest,
    /// dais itself (watchdog, scheduler).
    System,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Panel => f.write_str("panel"),
            Source::Remote => f.write_str("remote"),
            Source::Control { peer } => write!(f, "control {peer}"),
            Source::Uri => f.write_str("uri"),
            Source::Rest => f.write_str("rest"),
            Source::System => f.write_str("system"),
        }
    }
}

/// Why a command was not carried out. `code` is stable for machines; the
/// message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The request was malformed: bad JSON, unknown method, bad parameter.
    BadRequest,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// Too many failed sign-ins from this address; wait and retry.
    LockedOut,
    /// Too many requests on this connection.
    RateLimited,
    /// The command cannot run in the room's current state.
    Conflict,
    /// What the command asks for does not exist (conference, preset...).
    NotFound,
    /// The conference refused the room (wrong PIN, full, ...).
    Refused,
    /// The room has no part that could do this (a camera without PTZ,
    /// calls to other servers in this build). The message says which.
    Unavailable,
    /// Something went wrong inside dais.
    Internal,
    /// The request comes from a web page dais does not let use it
    /// (`http.allowed_origins`).
    Forbidden,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_method_tagged() {
        let c: Command = serde_json::from_str(r#"{"method":"getAppState"}"#).unwrap();
        assert_eq!(c, Command::GetAppState);
        assert_eq!(
            serde_json::to_string(&Command::Standby).unwrap(),
            r#"{"method":"standby"}"#
        );
        let c: Command =
            serde_json::from_str(r#"{"method":"joinConference","cid":"4154248070"}"#).unwrap();
        assert_eq!(
            c,
            Command::JoinConference {
                cid: "4154248070".into(),
                server: None,
                pin: None,
                guest: None
            }
        );
        let c: Command = serde_json::from_str(
            r#"{"method":"meetNow","mode":"smart","maxParticipants":10,"waitingRoom":true}"#,
        )
        .unwrap();
        assert!(matches!(
            c,
            Command::MeetNow(Meeting {
                mode: MeetingMode::Smart,
                max_participants: Some(10),
                ..
            })
        ));
        let c: Command = serde_json::from_str(
            r#"{"method":"saveTemplate","name":"Board","settings":{"mode":"moderated","maxPodiums":3}}"#,
        )
        .unwrap();
        assert_eq!(c.method(), "saveTemplate");
        let back: Command = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let e = Command::SaveTemplate {
            id: None,
            name: "Board".into(),
            settings: Meeting {
                max_participants: Some(1),
                ..Meeting::new(MeetingMode::Smart)
            },
        }
        .validate()
        .unwrap_err();
        assert!(
            e.message.starts_with("settings.maxParticipants"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_methods_are_rejected() {
        let e = serde_json::from_str::<Command>(r#"{"method":"selfDestruct"}"#).unwrap_err();
        assert!(e.to_string().contains("selfDestruct"), "{e}");
    }

    #[test]
    fn method_names_match_the_wire() {
        for c in [
            Command::GetAppState,
            Command::GetHardware,
            Command::Wake,
            Command::Standby,
            Command::HangUp,
            Command::AdmitAll,
            Command::Admit {
                participant_id: "guest:1".into(),
            },
            Command::Podium {
                participant_id: "ann".into(),
                on: true,
            },
            Command::SetVolume { volume: 5 },
            Command::CameraPreset {
                action: PresetAction::Recall,
                preset: 3,
            },
            Command::OpenLink {
                link: "trueconf:".into(),
            },
        ] {
            let v = serde_json::to_value(&c).unwrap();
            assert_eq!(v["method"], c.method());
        }
    }

    #[test]
    fn parameters_are_checked_and_named() {
        let msg = |c: Command| c.validate().unwrap_err().message;
        assert_eq!(
            msg(Command::SetVolume { volume: 101 }),
            "volume: 0 to 100, got 101"
        );
        assert!(
            msg(Command::CameraPreset {
                action: PresetAction::Store,
                preset: 36
            })
            .starts_with("preset")
        );
        assert!(
            msg(Command::CameraMove {
                pan: 2.0,
                tilt: 0.0,
                zoom: 0.0
            })
            .starts_with("pan")
        );
        assert!(
            msg(Command::JoinConference {
                cid: "a b".into(),
                server: None,
                pin: None,
                guest: None
            })
            .starts_with("cid")
        );
        assert!(Command::SetVolume { volume: 100 }.validate().is_ok());
    }
}

//! The app loop: applies events to the room's state, one at a time, and
//! carries out commands against the media engine and the conferencing
//! server. The only writer of [`AppState`].

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::state::InConference;
use super::{Activity, AppEvent, AppState, Reply, Shared};
use crate::command::{
    Command, CommandError, ErrorCode, GuestLogin, MeetingMode, PresetAction, Source,
};
use crate::conference::roster::{self, JoinRequest};
use crate::conference::{JoinDecision, Mode, Patch, RunState};
use crate::devices::CameraTarget;
use crate::devices::SpeakerTarget;
use crate::devices::camera::{self, CameraControl, V4lCamera};
use crate::devices::mixer::{self, AlsaMixer};
use crate::media::layout::Layout;
use crate::media::{MediaEvent, MediaHandle};
use crate::server::{Caller, Moderation, Principal, ServerError, ServerEvent};

struct Loop {
    state: watch::Sender<AppState>,
    shared: Arc<Shared>,
    media: Option<MediaHandle>,
    /// Whether the camera is on air, as last asked.
    camera_on: bool,
    /// Whether the display is blanked, as last asked.
    blank: bool,
}

pub(super) async fn run_loop(
    mut rx: mpsc::Receiver<AppEvent>,
    state: watch::Sender<AppState>,
    shared: Arc<Shared>,
) {
    let mut l = Loop {
        state,
        shared,
        media: None,
        camera_on: true,
        blank: false,
    };
    while let Some(event) = rx.recv().await {
        match event {
            AppEvent::Command {
                command,
                source,
                reply,
            } => {
                let method = command.method();
                let result = l.command(command, &source).await;
                if let Err(e) = &result {
                    tracing::info!(%source, method, error = %e, "command refused");
                }
                l.sync_camera().await;
                let _ = reply.send(result);
            }
            AppEvent::Service(service, s) => {
                l.state.send_if_modified(|st| {
                    let before = st.clone();
                    st.set_service(service, s);
                    *st != before
                });
            }
            AppEvent::Endpoints(e) => l.state.send_modify(|st| st.endpoints = e),
            AppEvent::Hardware(sel) => l.state.send_modify(|st| st.hardware = Some(sel)),
            AppEvent::MediaStarted(handle) => l.media = Some(handle),
            AppEvent::Media(MediaEvent::Preview(p)) => {
                l.state.send_if_modified(|st| {
                    if st.preview == p {
                        return false;
                    }
                    st.set_preview(p);
                    true
                });
            }
            AppEvent::Media(MediaEvent::Microphone(m)) => {
                l.state.send_if_modified(|st| {
                    if st.microphone == m {
                        return false;
                    }
                    st.microphone = m;
                    true
                });
            }
            AppEvent::Media(MediaEvent::SessionError { session, error }) => {
                tracing::warn!(%session, %error, "a call's media failed");
            }
            AppEvent::Media(MediaEvent::SourceFailed { source, error }) => {
                l.state.send_modify(|st| {
                    st.last_error = Some(format!("{source}: {error}"));
                    match source.as_str() {
                        "rtsp" => st.rtsp = None,
                        _ => st.sharing = false,
                    }
                });
            }
            AppEvent::Server(ev) => {
                l.server_event(ev);
                l.sync_camera().await;
            }
            AppEvent::Devices(change) => {
                use crate::devices::monitor::Change;
                let added = matches!(change, Change::Added(_));
                l.state.send_modify(|st| match change {
                    Change::Added(d) => {
                        st.devices.retain(|x| x != &d);
                        st.devices.push(d);
                    }
                    Change::Removed(d) => st.devices.retain(|x| x != &d),
                });
                if added && let Some(m) = &l.media {
                    m.retry_now().await;
                }
            }
            AppEvent::Stopping => l.state.send_modify(|st| st.activity = Activity::Stopping),
        }
    }
}

fn err(code: ErrorCode, m: impl Into<String>) -> CommandError {
    CommandError::new(code, m)
}

fn device_err(e: crate::devices::DeviceError) -> CommandError {
    err(ErrorCode::Unavailable, e.to_string())
}

fn media_err(e: crate::media::MediaError) -> CommandError {
    match e {
        crate::media::MediaError::NotRunning => err(ErrorCode::Unavailable, e.to_string()),
        crate::media::MediaError::Device { .. } => err(ErrorCode::Conflict, e.to_string()),
        other => err(ErrorCode::Internal, other.to_string()),
    }
}

fn server_err(e: ServerError) -> CommandError {
    let code = match &e {
        ServerError::NotFound(_) => ErrorCode::NotFound,
        ServerError::Invalid(_) => ErrorCode::BadRequest,
        ServerError::Conflict(_) => ErrorCode::Conflict,
        ServerError::Forbidden(_) | ServerError::Unauthorized(_) => ErrorCode::Refused,
        ServerError::Roster(_) => ErrorCode::Conflict,
        ServerError::Store(_) => ErrorCode::Internal,
    };
    err(code, e.to_string())
}

/// Federation (conferences and sign-ins on other servers) is not in this
/// build; say so instead of pretending.
fn federation(server: &str) -> CommandError {
    err(
        ErrorCode::Unavailable,
        format!(
            "{server} is another server: dais cannot yet reach conferences or accounts on other servers (federation)"
        ),
    )
}

impl Loop {
    fn room_id(&self) -> String {
        let st = self.state.borrow();
        st.signed_in
            .clone()
            .unwrap_or_else(|| self.shared.settings.server.room_login.clone())
    }

    fn room(&self) -> Principal {
        Principal::Room {
            login: self.room_id(),
        }
    }

    /// Whether `host` (with an optional port) is this dais.
    fn is_local(&self, host: &str) -> bool {
        let http = self
            .state
            .borrow()
            .endpoints
            .http
            .clone()
            .unwrap_or_default();
        let our_port = http.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
        is_local_host(
            host,
            our_port,
            self.shared.settings.server.public_url.as_str(),
        )
    }

    async fn command(&mut self, c: Command, _source: &Source) -> Result<Reply, CommandError> {
        match c {
            Command::GetAppState => Ok(Reply::AppState(Box::new(self.state.borrow().clone()))),
            Command::GetHardware => Ok(Reply::Hardware(
                self.state.borrow().hardware.clone().map(Box::new),
            )),
            Command::GetSettings => Ok(Reply::Json(self.settings_json())),
            Command::SetSettings { settings } => self.set_settings(settings).await,
            Command::GetConferences => {
                let (list, _) = self.shared.server.list(&self.room(), &Default::default());
                let base = self
                    .state
                    .borrow()
                    .endpoints
                    .http
                    .clone()
                    .unwrap_or_default();
                Ok(Reply::Json(json!({
                    "conferences": list.iter().map(|c| crate::server::model::conference_json(c, &base)).collect::<Vec<_>>()
                })))
            }
            Command::Standby => {
                let activity = self.state.borrow().activity;
                match activity {
                    Activity::Standby => Ok(Reply::Done),
                    Activity::Idle => {
                        self.state.send_modify(|st| st.activity = Activity::Standby);
                        Ok(Reply::Done)
                    }
                    Activity::Conference | Activity::Waiting => Err(err(
                        ErrorCode::Conflict,
                        "the room is in a conference; hang up before standby",
                    )),
                    Activity::Starting | Activity::Stopping => Err(err(
                        ErrorCode::Conflict,
                        format!("cannot enter standby while {activity:?}").to_lowercase(),
                    )),
                }
            }
            Command::Wake | Command::Launch => {
                let activity = self.state.borrow().activity;
                match activity {
                    Activity::Standby => {
                        self.state.send_modify(|st| st.activity = Activity::Idle);
                        Ok(Reply::Done)
                    }
                    Activity::Stopping => {
                        Err(err(ErrorCode::Conflict, "cannot wake while stopping"))
                    }
                    _ => Ok(Reply::Done),
                }
            }
            Command::Login {
                servers,
                login,
                password,
                ..
            } => self.login(servers, login, password).await,
            Command::Call { peer, server } => {
                if let Some(s) = server.filter(|s| !self.is_local(s)) {
                    return Err(federation(&s));
                }
                Err(err(
                    ErrorCode::Unavailable,
                    format!(
                        "calling {peer}: person-to-person calls need call media, which this build of dais does not have yet; invite them to a conference instead"
                    ),
                ))
            }
            Command::CallModerator { user, server } => {
                if let Some(s) = server.filter(|s| !self.is_local(s)) {
                    return Err(federation(&s));
                }
                let (list, _) = self.shared.server.list(
                    &Principal::Client { id: "room".into() },
                    &crate::server::Filter {
                        state: Some(RunState::Running),
                        ..Default::default()
                    },
                );
                let conf = list
                    .into_iter()
                    .find(|c| c.is_owner(&user))
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("{user} is not moderating a running conference on this server"),
                        )
                    })?;
                self.join(conf.id.to_string(), None, None).await
            }
            Command::JoinConference {
                cid,
                server,
                pin,
                guest,
            } => {
                if let Some(s) = server.filter(|s| !self.is_local(s)) {
                    return Err(federation(&s));
                }
                self.join(cid, pin, guest).await
            }
            Command::MeetNow {
                topic,
                mode,
                max_participants,
                max_podiums,
                waiting_room,
                auto_approve,
                mute_on_entry,
                pin,
            } => {
                let room = self.room();
                let name = self.state.borrow().room_name.clone();
                let patch = Patch {
                    topic: Some(topic.unwrap_or_else(|| format!("{name} meeting"))),
                    owner: room.login().map(str::to_string),
                    mode: Some(match mode {
                        MeetingMode::AllOnScreen => Mode::AllOnScreen,
                        MeetingMode::VideoLecture => Mode::VideoLecture,
                        MeetingMode::Moderated => Mode::Moderated,
                        MeetingMode::Smart => Mode::Smart,
                    }),
                    max_participants: max_participants.map(i64::from),
                    max_podiums: max_podiums.map(i64::from),
                    waiting_room,
                    auto_approve,
                    mute_mic_on_entry: mute_on_entry,
                    camera_off_on_entry: None,
                    pin,
                    allow_guests: Some(true),
                    state: Some(RunState::Running),
                    ..Default::default()
                };
                let conf = self
                    .shared
                    .server
                    .create(&room, patch)
                    .await
                    .map_err(server_err)?;
                self.join(conf.id.to_string(), None, None).await?;
                Ok(Reply::Json(
                    json!({"cid": conf.id.as_str(), "topic": conf.topic}),
                ))
            }
            Command::OpenRtsp { url } => {
                self.media()?.open_rtsp(&url).map_err(media_err)?;
                self.state.send_modify(|st| st.rtsp = Some(url));
                Ok(Reply::Done)
            }
            Command::AutoClose => {
                self.state.send_modify(|st| st.close_after_call = true);
                Ok(Reply::Done)
            }
            Command::Accept | Command::Reject => {
                Err(err(ErrorCode::Conflict, "there is no incoming call"))
            }
            Command::HangUp => self.hang_up().await,
            Command::SetVolume { volume } => {
                // The card's own mixer when the speaker has one (the
                // pipeline then passes sound at full level), else software.
                let card = self
                    .state
                    .borrow()
                    .hardware
                    .as_ref()
                    .and_then(|h| match &h.speaker {
                        SpeakerTarget::Alsa { device, .. } => mixer::card_of(device),
                        _ => None,
                    });
                let hw = match card {
                    Some(card) => tokio::task::spawn_blocking(move || {
                        AlsaMixer::open(&card).and_then(|m| mixer::set_percent(&m, mixer::Direction::Playback, volume))
                    })
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
                    .map_err(|e| tracing::warn!(error = %e, "speaker mixer unusable; using software volume"))
                    .is_ok(),
                    None => false,
                };
                if let Some(m) = &self.media {
                    m.volume(if hw { 100 } else { volume }).await;
                }
                self.state.send_modify(|st| st.audio.volume = volume);
                Ok(Reply::Done)
            }
            Command::MuteMicrophone | Command::UnmuteMicrophone => {
                let muted = matches!(c, Command::MuteMicrophone);
                self.state.send_modify(|st| st.audio.mic_muted = muted);
                if let Some(m) = &self.media {
                    m.mic_muted(muted).await;
                }
                self.roster_media(Some(muted), None);
                Ok(Reply::Done)
            }
            Command::SetLayout { layout } => {
                let l = Layout::from_name(&layout).ok_or_else(|| {
                    err(
                        ErrorCode::BadRequest,
                        format!("layout: speaker, grid, speaker-strip or pip, got {layout:?}"),
                    )
                })?;
                self.state
                    .send_modify(|st| st.layout = l.name().to_string());
                if let Some(m) = &self.media {
                    m.layout(l).await;
                }
                Ok(Reply::Done)
            }
            Command::MuteCamera | Command::UnmuteCamera => {
                let muted = matches!(c, Command::MuteCamera);
                self.state.send_modify(|st| st.camera.muted = muted);
                self.roster_media(None, Some(muted));
                Ok(Reply::Done)
            }
            Command::CameraPreset { action, preset } => self.camera_preset(action, preset).await,
            Command::CameraMove { pan, tilt, zoom } => {
                let device = self.v4l2_camera()?;
                tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&device).map_err(device_err)?;
                    camera::move_relative(&cam, pan, tilt, zoom).map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                Ok(Reply::Done)
            }
            Command::GetCameraControls => {
                let device = self.v4l2_camera()?;
                let list = tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&device).map_err(device_err)?;
                    cam.controls().map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                Ok(Reply::Json(json!({"controls": list})))
            }
            Command::ShareContent { on } => {
                let media = self.media()?;
                media.share_content(on).map_err(media_err)?;
                self.state.send_modify(|st| st.sharing = on);
                Ok(Reply::Done)
            }
            Command::SwitchCamera { camera } => {
                let second = match camera.as_str() {
                    "main" => false,
                    "second" => true,
                    other => {
                        return Err(err(
                            ErrorCode::BadRequest,
                            format!("camera: \"main\" or \"second\", got {other:?}"),
                        ));
                    }
                };
                self.media()?
                    .switch_camera(second)
                    .await
                    .map_err(media_err)?;
                self.state.send_modify(|st| st.active_camera = camera);
                Ok(Reply::Done)
            }
            Command::CloseRtsp => {
                if self.media()?.close_rtsp() {
                    self.state.send_modify(|st| st.rtsp = None);
                    Ok(Reply::Done)
                } else {
                    Err(err(ErrorCode::Conflict, "no RTSP stream is open"))
                }
            }
            Command::StartRecording => {
                let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
                self.media()?
                    .start_recording(&format!("room-{stamp}"))
                    .map_err(media_err)?;
                self.state.send_modify(|st| st.recording = true);
                Ok(Reply::Done)
            }
            Command::StopRecording => {
                let media = self.media()?;
                let files = tokio::task::spawn_blocking(move || media.stop_recording())
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
                    .ok_or_else(|| err(ErrorCode::Conflict, "the room is not recording"))?;
                self.state.send_modify(|st| st.recording = false);
                Ok(Reply::Json(json!({"files": files})))
            }
            Command::OpenLink { .. } => Err(err(
                ErrorCode::Internal,
                "links are expanded by the dispatcher, not the loop",
            )),
        }
    }

    fn media(&self) -> Result<MediaHandle, CommandError> {
        self.media
            .clone()
            .ok_or_else(|| err(ErrorCode::Unavailable, "the media engine is not running"))
    }

    /// The room camera's device node, when it is a V4L2 camera.
    fn v4l2_camera(&self) -> Result<std::path::PathBuf, CommandError> {
        let target = self
            .state
            .borrow()
            .hardware
            .as_ref()
            .map(|h| h.camera.clone());
        match target {
            Some(CameraTarget::V4l2 { device, .. }) => Ok(device),
            Some(t) => Err(err(
                ErrorCode::Unavailable,
                format!("the camera ({t}) has no pan, tilt or zoom"),
            )),
            None => Err(err(ErrorCode::Unavailable, "no camera")),
        }
    }

    async fn camera_preset(
        &mut self,
        action: PresetAction,
        preset: u8,
    ) -> Result<Reply, CommandError> {
        let device = self.v4l2_camera()?;
        let key = device.display().to_string();
        match action {
            PresetAction::Store => {
                let d = device.clone();
                let p = tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&d).map_err(device_err)?;
                    camera::capture(&cam).map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                let body = serde_json::to_string(&p).unwrap_or_default();
                self.shared
                    .store
                    .write(move |tx| {
                        tx.execute(
                            "INSERT INTO camera_presets (camera, preset, controls, saved_at) VALUES (?1, ?2, ?3, strftime('%s','now'))
                             ON CONFLICT(camera, preset) DO UPDATE SET controls = excluded.controls, saved_at = excluded.saved_at",
                            (&key, preset, &body),
                        )
                        .map(|_| ())
                    })
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
                Ok(Reply::Done)
            }
            PresetAction::Recall => {
                let k = key.clone();
                let body: Option<String> = self
                    .shared
                    .store
                    .read(move |c| {
                        use rusqlite::OptionalExtension;
                        c.query_row(
                            "SELECT controls FROM camera_presets WHERE camera = ?1 AND preset = ?2",
                            (&k, preset),
                            |r| r.get(0),
                        )
                        .optional()
                    })
                    .await
                    .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
                let p: camera::Preset = body
                    .and_then(|b| serde_json::from_str(&b).ok())
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("preset {preset} is not stored for {key}"),
                        )
                    })?;
                tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&device).map_err(device_err)?;
                    camera::recall(&cam, &p).map_err(device_err)
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                Ok(Reply::Done)
            }
        }
    }

    /// Starts or stops the camera to match standby and privacy, and
    /// blanks the display in standby.
    async fn sync_camera(&mut self) {
        let want = self.state.borrow().wants_camera();
        let blank = self.state.borrow().activity == Activity::Standby;
        if let Some(m) = &self.media {
            if want != self.camera_on {
                m.camera(want).await;
            }
            if blank != self.blank {
                m.blank(blank).await;
            }
        }
        self.camera_on = want;
        self.blank = blank;
    }

    fn settings_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.shared.settings).unwrap_or_default();
        // Secrets never leave dais.
        if let Some(list) = v
            .pointer_mut("/server/api_clients")
            .and_then(|x| x.as_array_mut())
        {
            for c in list {
                c["secret_hash"] = json!("(hidden)");
            }
        }
        if let Some(list) = v
            .pointer_mut("/server/users")
            .and_then(|x| x.as_array_mut())
        {
            for u in list {
                u["password_hash"] = json!("(hidden)");
            }
        }
        if let Some(pin) = v.pointer_mut("/control/pin") {
            *pin = json!(if pin.as_str().is_some_and(|p| !p.is_empty()) {
                "(set)"
            } else {
                ""
            });
        }
        v["room"]["name"] = json!(self.state.borrow().room_name);
        v
    }

    async fn set_settings(&mut self, settings: serde_json::Value) -> Result<Reply, CommandError> {
        let serde_json::Value::Object(top) = &settings else {
            return Err(err(
                ErrorCode::BadRequest,
                "settings: an object such as {\"room\": {\"name\": \"Boardroom\"}}",
            ));
        };
        let mut name = None;
        let mut problems = Vec::new();
        for (section, v) in top {
            match (section.as_str(), v) {
                ("room", serde_json::Value::Object(room)) => {
                    for (k, v) in room {
                        match (k.as_str(), v.as_str()) {
                            ("name", Some(n)) if !n.trim().is_empty() && n.chars().count() <= 64 => {
                                name = Some(n.trim().to_string())
                            }
                            ("name", _) => problems.push("settings.room.name: 1 to 64 characters".to_string()),
                            (other, _) => problems.push(format!(
                                "settings.room.{other}: cannot change while running; edit the settings file and restart"
                            )),
                        }
                    }
                }
                (other, _) => problems.push(format!(
                    "settings.{other}: cannot change while running; edit the settings file and restart"
                )),
            }
        }
        if !problems.is_empty() {
            return Err(err(ErrorCode::BadRequest, problems.join("; ")));
        }
        if let Some(n) = name {
            let stored = n.clone();
            self.shared
                .store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO runtime_settings (key, value) VALUES ('room.name', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [&stored],
                    )
                    .map(|_| ())
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
            self.state.send_modify(|st| st.room_name = n);
        }
        Ok(Reply::Json(self.settings_json()))
    }

    async fn login(
        &mut self,
        servers: Vec<String>,
        login: String,
        password: String,
    ) -> Result<Reply, CommandError> {
        // Signing in on any of the listed addresses that is this dais works;
        // a list of only other servers needs federation.
        if let Some(remote) = servers.iter().find(|s| !self.is_local(s))
            && servers.iter().all(|s| !self.is_local(s))
        {
            return Err(federation(remote));
        }
        let server = self.shared.server.clone();
        let l = login.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let form = [
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), l),
                ("password".to_string(), password),
            ]
            .into_iter()
            .collect();
            server.auth().grant(&form, server.now()).is_ok()
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Err(err(
                ErrorCode::Unauthorized,
                format!("{login}: unknown user or wrong password"),
            ));
        }
        let base = login.split('@').next().unwrap_or(&login).to_string();
        self.state.send_modify(|st| st.signed_in = Some(base));
        Ok(Reply::Done)
    }

    async fn join(
        &mut self,
        cid: String,
        pin: Option<String>,
        guest: Option<GuestLogin>,
    ) -> Result<Reply, CommandError> {
        let current = self.state.borrow().conference.clone();
        if let Some(current) = current
            && current.cid == cid
        {
            return Ok(Reply::Json(json!({"cid": cid, "state": current.state})));
        }
        if self.state.borrow().conference.is_some() {
            self.hang_up().await?;
        }
        let name = self.state.borrow().room_name.clone();
        let req = match guest {
            Some(g) => {
                let link = self
                    .shared
                    .server
                    .redeem_link(&cid, &g.token)
                    .await
                    .map_err(server_err)?;
                JoinRequest {
                    id: format!("guest:{}", link.guest_id),
                    display_name: if g.display_name.is_empty() {
                        link.display_name
                    } else {
                        g.display_name
                    },
                    guest: true,
                    pin,
                    via_link: true,
                }
            }
            None => JoinRequest {
                id: self.room_id(),
                display_name: name,
                guest: false,
                pin,
                via_link: false,
            },
        };
        let out = self.shared.server.join(&cid, req).map_err(server_err)?;
        let conf = self
            .shared
            .server
            .get(&Principal::Client { id: "room".into() }, &cid)
            .map_err(server_err)?;
        match (&out.decision, out.member) {
            (JoinDecision::Refused(r), _) => Err(err(
                ErrorCode::Refused,
                format!("conference {cid} refused the room: {r} ({})", r.code()),
            )),
            (_, None) => Err(err(ErrorCode::Internal, "joined without a roster entry")),
            (decision, Some(m)) => {
                let (state, reason, activity) = match decision {
                    JoinDecision::Waiting(r) => {
                        ("waiting", Some(r.name().to_string()), Activity::Waiting)
                    }
                    _ => ("admitted", None, Activity::Conference),
                };
                let mic_muted = m.mic_muted;
                self.state.send_modify(|st| {
                    st.conference = Some(InConference {
                        cid: cid.clone(),
                        topic: conf.topic.clone(),
                        mode: conf.mode.v4().to_string(),
                        participant_id: m.id.clone(),
                        role: m.role.name().to_string(),
                        state: state.to_string(),
                        reason: reason.clone(),
                    });
                    st.activity = activity;
                    // Mute on entry applies to the room too.
                    st.audio.mic_muted = st.audio.mic_muted || mic_muted;
                });
                Ok(Reply::Json(
                    json!({"cid": cid, "state": state, "reason": reason, "role": m.role.name()}),
                ))
            }
        }
    }

    async fn hang_up(&mut self) -> Result<Reply, CommandError> {
        let Some(c) = self.state.borrow().conference.clone() else {
            return Err(err(
                ErrorCode::Conflict,
                "the room is not in a call or conference",
            ));
        };
        let caller = Caller::Principal(Principal::Room {
            login: c.participant_id.clone(),
        });
        match self.shared.server.moderate(
            &caller,
            &c.cid,
            Moderation::Remove(c.participant_id.clone()),
        ) {
            // Already gone (conference stopped, removed): leaving is done.
            Ok(()) | Err(ServerError::NotFound(_)) | Err(ServerError::Roster(_)) => {}
            Err(e) => return Err(server_err(e)),
        }
        self.left_conference();
        Ok(Reply::Done)
    }

    fn left_conference(&mut self) {
        self.state.send_modify(|st| {
            st.conference = None;
            st.activity = if st.close_after_call {
                Activity::Standby
            } else {
                Activity::Idle
            };
            st.close_after_call = false;
        });
    }

    fn roster_media(&self, mic: Option<bool>, cam: Option<bool>) {
        let Some(c) = self.state.borrow().conference.clone() else {
            return;
        };
        let caller = Caller::Principal(Principal::Room {
            login: c.participant_id.clone(),
        });
        let step = Moderation::Media {
            id: c.participant_id.clone(),
            mic_muted: mic,
            camera_off: cam,
        };
        if let Err(e) = self.shared.server.moderate(&caller, &c.cid, step) {
            tracing::warn!(error = %e, "could not tell the conference about the room's media");
        }
    }

    /// Follows what the server does to the room's conference.
    fn server_event(&mut self, ev: ServerEvent) {
        let Some(c) = self.state.borrow().conference.clone() else {
            return;
        };
        match ev {
            ServerEvent::Stopped { cid, .. } | ServerEvent::Deleted { cid } if cid == c.cid => {
                self.left_conference()
            }
            ServerEvent::Renamed { from, to } if from == c.cid => {
                self.state.send_modify(|st| {
                    if let Some(conf) = st.conference.as_mut() {
                        conf.cid = to;
                    }
                });
            }
            ServerEvent::Roster { cid, event } if cid == c.cid => match event {
                roster::Event::Removed { id }
                | roster::Event::Left { id }
                | roster::Event::Refused { id, .. }
                    if id == c.participant_id =>
                {
                    self.left_conference()
                }
                roster::Event::Admitted { id } if id == c.participant_id => {
                    self.state.send_modify(|st| {
                        st.activity = Activity::Conference;
                        if let Some(conf) = st.conference.as_mut() {
                            conf.state = "admitted".into();
                            conf.reason = None;
                        }
                    });
                }
                roster::Event::Waiting { id, reason } if id == c.participant_id => {
                    self.state.send_modify(|st| {
                        st.activity = Activity::Waiting;
                        if let Some(conf) = st.conference.as_mut() {
                            conf.state = "waiting".into();
                            conf.reason = Some(reason.name().into());
                        }
                    });
                }
                roster::Event::Role { id, role } if id == c.participant_id => {
                    self.state.send_modify(|st| {
                        if let Some(conf) = st.conference.as_mut() {
                            conf.role = role.name().into();
                        }
                    });
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// Whether `host` names this machine's dais: a loopback or local address or
/// this host's name, and the same port as our HTTP listener when a port is
/// given (another dais on this machine listens elsewhere).
pub fn is_local_host(host: &str, our_port: Option<u16>, public_url: &str) -> bool {
    let host = host.trim();
    let (name, port) = split_host_port(host);
    if let (Some(p), Some(ours)) = (port, our_port)
        && p != ours
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
        assert!(is_local_host("127.0.0.1", None, ""));
        assert!(is_local_host("127.0.0.1:8080", Some(8080), ""));
        assert!(
            !is_local_host("127.0.0.1:9090", Some(8080), ""),
            "another dais on this box"
        );
        assert!(is_local_host("localhost", Some(8080), ""));
        assert!(is_local_host("[::1]:8080", Some(8080), ""));
        assert!(is_local_host(
            "room.example.com",
            None,
            "https://room.example.com"
        ));
        assert!(!is_local_host("video.example.com", None, ""));
        assert!(
            !is_local_host("192.0.2.1", None, ""),
            "TEST-NET is never local"
        );
    }
}

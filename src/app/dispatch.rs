//! The app loop: applies events to the room's state, one at a time, and
//! carries out commands against the media engine and the conferencing
//! server. The only writer of [`AppState`].

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

use super::state::InConference;
use super::{Activity, AppEvent, AppState, Reply, Shared};
use crate::command::{Command, CommandError, ErrorCode, GuestLogin, Meeting, PresetAction, Source};
use crate::conference::RunState;
use crate::devices::CameraTarget;
use crate::devices::SpeakerTarget;
use crate::devices::camera::{self, CameraControl, V4lCamera};
use crate::devices::mixer::{self, AlsaMixer};
use crate::media::layout::Layout;
use crate::media::{MediaEvent, MediaHandle};
use crate::server::{Principal, ServerError, ServerEvent};
use crate::sfu::client::{
    self, Call, CallEvent, ClientError, Credentials, Joined, MediaShape, Target,
};
use crate::sfu::signal::ClientMsg;

mod call;
mod devices;
mod hosts;
mod settings;
use call::{Answer, Attempt, Joining};
use hosts::{is_local_host, same_host};

struct Loop {
    state: watch::Sender<AppState>,
    shared: Arc<Shared>,
    media: Option<MediaHandle>,
    /// Whether the camera is on air, as last asked.
    camera_on: bool,
    /// Whether the display is blanked, as last asked.
    blank: bool,
    /// For events from the room's conference call.
    events: mpsc::WeakSender<AppEvent>,
    /// The room's conference call, numbered by the join that made it.
    call: Option<(u64, Call)>,
    /// What the room's calls are to do next (no IO there).
    flow: crate::call::Flow,
    /// The reply to the command being carried out, until a join takes it
    /// to answer once connected.
    asking: Option<Answer>,
    /// The join under way, if any.
    connecting: Option<Attempt>,
}

pub(super) async fn run_loop(
    mut rx: mpsc::Receiver<AppEvent>,
    events: mpsc::WeakSender<AppEvent>,
    state: watch::Sender<AppState>,
    shared: Arc<Shared>,
) {
    let mut l = Loop {
        state,
        shared,
        media: None,
        camera_on: true,
        blank: false,
        events,
        call: None,
        flow: crate::call::Flow::new(),
        asking: None,
        connecting: None,
    };
    while let Some(event) = rx.recv().await {
        match event {
            AppEvent::Command {
                command,
                source,
                reply,
            } => {
                let method = command.method();
                l.asking = Some(reply);
                let result = l.command(command, &source).await;
                if let Err(e) = &result {
                    tracing::info!(%source, method, error = %e, "command refused");
                }
                l.sync_camera().await;
                // A join under way took the reply, to answer when it ends.
                if let Some(reply) = l.asking.take() {
                    let _ = reply.send(result);
                }
            }
            AppEvent::Connected(n, result) => {
                l.connected(n, *result).await;
                l.sync_camera().await;
            }
            AppEvent::Service(service, s) => {
                l.state.send_if_modified(|st| {
                    let before = st.clone();
                    st.set_service(service, s);
                    *st != before
                });
            }
            AppEvent::Endpoints(e) => l.state.send_modify(|st| st.endpoints = e),
            AppEvent::Certificate(c) => {
                l.state.send_modify(|st| st.endpoints.certificate = Some(c))
            }
            AppEvent::Hardware(sel) => l.state.send_modify(|st| st.hardware = Some(sel)),
            AppEvent::MediaStarted(handle) => {
                l.media = Some(handle);
                // The card starts where the room's volume says, unmuted.
                let volume = l.state.borrow().audio.volume;
                if let Err(e) = l.speaker_volume(volume).await {
                    tracing::warn!(error = %e.message, "could not set the speaker's volume");
                }
            }
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
            AppEvent::Server(ServerEvent::Invited { cid, ids }) => {
                l.invited(cid, ids).await;
                l.sync_camera().await;
            }
            AppEvent::Server(ev) => {
                l.server_event(ev).await;
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
            AppEvent::Call(n, ev) => {
                if l.call.as_ref().is_some_and(|(m, _)| *m == n) {
                    l.call_event(ev).await;
                    l.sync_camera().await;
                }
            }
            AppEvent::CallTimer(until) => {
                l.call_timer(until).await;
                l.sync_camera().await;
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
        ServerError::PinLocked(_) => ErrorCode::LockedOut,
    };
    err(code, e.to_string())
}

/// Signing in and calling people on other servers is not in this build
/// (joining conferences on another dais is); say so instead of pretending.
fn federation(server: &str) -> CommandError {
    err(
        ErrorCode::Unavailable,
        format!(
            "{server} is another server: dais joins conferences and calls people there (with [conference.servers] credentials) but cannot sign in there or find who moderates there"
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
        let ports: Vec<u16> = {
            let st = self.state.borrow();
            [&st.endpoints.http, &st.endpoints.plain_http]
                .into_iter()
                .flatten()
                .filter_map(|u| u.rsplit(':').next()?.parse().ok())
                .collect()
        };
        is_local_host(
            host,
            &ports,
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
                    Activity::Conference | Activity::Waiting | Activity::Connecting => Err(err(
                        ErrorCode::Conflict,
                        "the room is in a conference or joining one; hang up before standby",
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
            Command::Call { peer, server } => self.call(peer, server).await,
            Command::CallModerator { user, server } => {
                if let Some(s) = server.filter(|s| !self.is_local(s)) {
                    return Err(federation(&s));
                }
                let (list, _) = self.shared.server.list(
                    &Principal::appliance(),
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
                self.join(conf.id.to_string(), None, None, None)
                    .await
                    .map(Joining::reply)
            }
            Command::JoinConference {
                cid,
                server,
                pin,
                guest,
            } => {
                let remote = server.filter(|s| !self.is_local(s));
                self.join(cid, pin, guest, remote).await.map(Joining::reply)
            }
            Command::MeetNow(m) => {
                let name = self.state.borrow().room_name.clone();
                let invitations = self.invitations(&m.invite)?;
                let mut patch = m.to_patch();
                if !invitations.is_empty() {
                    patch.invitations = Some(invitations);
                }
                patch.topic = Some(m.topic.clone().unwrap_or_else(|| format!("{name} meeting")));
                self.start_own(patch).await
            }
            Command::SendChat { text } => match &self.call {
                Some((_, call)) => {
                    call.send(ClientMsg::Chat { text });
                    Ok(Reply::Done)
                }
                None => Err(err(ErrorCode::Conflict, "the room is not in a conference")),
            },
            Command::GetContacts => {
                let s = &self.shared.settings;
                Ok(Reply::Json(json!({
                    "contacts": s.contacts()
                })))
            }
            Command::GetTemplates => Ok(Reply::Json(json!({
                "templates": self
                    .shared
                    .server
                    .templates()
                    .iter()
                    .map(|t| json!({"id": t.id, "name": t.name, "settings": Meeting::from_patch(&t.settings)}))
                    .collect::<Vec<_>>()
            }))),
            Command::SaveTemplate { id, name, settings } => {
                let t = self
                    .shared
                    .server
                    .save_template(id, name, settings.to_patch())
                    .await
                    .map_err(server_err)?;
                Ok(Reply::Json(json!({"id": t.id, "name": t.name})))
            }
            Command::DeleteTemplate { id } => {
                self.shared
                    .server
                    .delete_template(id)
                    .await
                    .map_err(server_err)?;
                Ok(Reply::Done)
            }
            Command::StartTemplate { id } => {
                let room = self.room();
                let conf = self
                    .shared
                    .server
                    .start_template(&room, id)
                    .await
                    .map_err(server_err)?;
                self.join_new(&conf).await
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
            Command::Accept => self.answer(true).await,
            Command::Reject => self.answer(false).await,
            Command::HangUp => self.hang_up().await,
            Command::EndConference => self.end_conference().await,
            Command::Admit { participant_id } => {
                self.moderate(ClientMsg::Admit { id: participant_id })
            }
            Command::AdmitAll => self.moderate(ClientMsg::AdmitAll),
            Command::RejectJoinRequest { participant_id } => {
                self.moderate(ClientMsg::Reject { id: participant_id })
            }
            Command::ToWaitingRoom { participant_id } => {
                self.moderate(ClientMsg::ToWaitingRoom { id: participant_id })
            }
            Command::Podium { participant_id, on } => self.moderate(ClientMsg::Podium {
                id: participant_id,
                on,
            }),
            Command::SetVolume { volume } => {
                self.speaker_volume(volume).await?;
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
                    let list = cam.controls().map_err(device_err)?;
                    Ok::<_, CommandError>(
                        list.into_iter()
                            .map(|c| {
                                let mut v = json!(c);
                                if !matches!(c.kind, camera::ControlKind::Button) {
                                    v["value"] = json!(cam.get(c.id).ok());
                                }
                                v
                            })
                            .collect::<Vec<_>>(),
                    )
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))??;
                Ok(Reply::Json(json!({"controls": list})))
            }
            Command::SetCameraControl { control, value } => {
                let device = self.v4l2_camera()?;
                tokio::task::spawn_blocking(move || {
                    let cam = V4lCamera::open(&device).map_err(device_err)?;
                    let list = cam.controls().map_err(device_err)?;
                    let c = camera::find_control(&list, &control).ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!(
                                "control: the camera has no control {control:?} (getCameraControls lists them)"
                            ),
                        )
                    })?;
                    camera::check_value(c, value)
                        .map_err(|m| err(ErrorCode::BadRequest, format!("value: {m}")))?;
                    cam.set(c.id, value).map_err(device_err)?;
                    let now = cam.get(c.id).map_err(device_err)?;
                    Ok::<_, CommandError>(Reply::Json(
                        json!({"id": c.id, "name": c.name, "value": now}),
                    ))
                })
                .await
                .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
            }
            Command::ShareContent { on } => {
                let media = self.media()?;
                let tee = media.share_content(on).map_err(media_err)?;
                if let Some((_, call)) = &self.call {
                    call.share(tee);
                }
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
                self.recording_allowed()?;
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
                // Stopped by hand: leaving the conference stops nothing.
                let _ = self
                    .flow
                    .handle(self.now(), crate::call::Event::RecordingGone);
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

    /// Manual recording in a conference on this dais needs the
    /// conference's permission ("recording enabled").
    fn recording_allowed(&self) -> Result<(), CommandError> {
        let Some(c) = self.state.borrow().conference.clone() else {
            return Ok(());
        };
        if c.server.is_some() {
            return Ok(());
        }
        match self.shared.server.get(&Principal::appliance(), &c.cid) {
            Ok(conf) if !conf.options.recording_enabled => Err(err(
                ErrorCode::Refused,
                format!(
                    "conference {} does not allow recording (recording enabled is off)",
                    c.cid
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Stops the conference the room is in, for everyone.
    async fn end_conference(&mut self) -> Result<Reply, CommandError> {
        let Some(conf) = self.state.borrow().conference.clone() else {
            return Err(err(ErrorCode::Conflict, "the room is not in a conference"));
        };
        if conf.server.is_some() {
            return Err(err(
                ErrorCode::Unavailable,
                "ending a conference on another server is up to its owner; hang up to leave it",
            ));
        }
        if !matches!(conf.role.as_str(), "owner" | "moderator") {
            return Err(err(
                ErrorCode::Refused,
                format!(
                    "the room is {} in conference {}; only its owner or a moderator may end it",
                    conf.role, conf.cid
                ),
            ));
        }
        let by = Principal::appliance();
        self.shared
            .server
            .set_running(&by, &conf.cid, false, crate::server::Trigger::Room)
            .await
            .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
        // The server's Stopped event takes the room out (server_event).
        Ok(Reply::Done)
    }

    /// A moderator action in the room's conference, carried out by the
    /// conference server (which checks the room's role and answers a
    /// refusal as a problem on the call).
    fn moderate(&self, msg: ClientMsg) -> Result<Reply, CommandError> {
        let st = self.state.borrow();
        let Some(conf) = &st.conference else {
            return Err(err(ErrorCode::Conflict, "the room is not in a conference"));
        };
        if !matches!(conf.role.as_str(), "owner" | "moderator" | "operator") {
            return Err(err(
                ErrorCode::Refused,
                format!(
                    "the room is {} in conference {}; only its owner, moderators and operators may do this",
                    conf.role, conf.cid
                ),
            ));
        }
        if let ClientMsg::Admit { id }
        | ClientMsg::Reject { id }
        | ClientMsg::ToWaitingRoom { id }
        | ClientMsg::Podium { id, .. } = &msg
            && !conf.participants.iter().any(|p| &p.id == id)
        {
            return Err(err(
                ErrorCode::NotFound,
                format!("participantId: {id} is not in conference {}", conf.cid),
            ));
        }
        match &self.call {
            Some((_, call)) => {
                call.send(msg);
                Ok(Reply::Done)
            }
            None => Err(err(ErrorCode::Conflict, "the room is not in a conference")),
        }
    }

    fn roster_media(&self, mic: Option<bool>, cam: Option<bool>) {
        if let Some((_, call)) = &self.call {
            call.send(ClientMsg::Media {
                mic_muted: mic,
                camera_off: cam,
            });
        }
    }

    /// A user of this dais, by login (case aside).
    fn local_user(&self, login: &str) -> Option<&crate::config::UserSettings> {
        self.shared
            .settings
            .server
            .users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login.trim()))
    }

    /// Meet now's invitations: users of this dais, by login.
    fn invitations(
        &self,
        logins: &[String],
    ) -> Result<Vec<crate::conference::Invitation>, CommandError> {
        logins
            .iter()
            .enumerate()
            .map(|(i, login)| {
                self.local_user(login)
                    .map(|u| crate::conference::Invitation {
                        id: u.login.clone(),
                        display_name: u.display_name.clone(),
                    })
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("invite[{i}]: {login} is not a user of this dais"),
                        )
                    })
            })
            .collect()
    }
}

/// A call: a conference of two that ends by itself when both have left
/// (what `call` creates, here or on another dais).
fn is_call(c: &crate::conference::Conference) -> bool {
    c.max_participants == 2 && c.options.auto_termination
}

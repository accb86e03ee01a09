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
    /// The room's conference call, numbered.
    call: Option<(u64, Call)>,
    calls: u64,
    /// Invitations rung so far; a ring's timeout only ends its own.
    rings: u64,
    /// The other side of the room's call has been in it.
    call_peer_seen: bool,
    /// The recorder was started by the conference (auto-start).
    conference_recording: bool,
    /// The reply to the command being carried out, until a join takes it
    /// to answer once connected.
    asking: Option<Answer>,
    /// The join under way, if any.
    connecting: Option<Attempt>,
}

type Answer = oneshot::Sender<Result<Reply, CommandError>>;

/// A join under way. Its network steps (signing in to another dais,
/// having it place a call, the signalling join) run as a task, so the
/// loop goes on serving commands, hang-up included, and the watchdog;
/// the task's result comes back as [`AppEvent::Connected`].
struct Attempt {
    /// The call number the join will have.
    n: u64,
    task: tokio::task::JoinHandle<()>,
    /// The commands waiting for the join's answer.
    waiters: Vec<Answer>,
    /// The answer to give instead of the join's own (Meet now, a template:
    /// the new conference's CID and topic).
    reply: Option<serde_json::Value>,
    /// The room placed this call: it is marked a call once joined.
    placed_call: bool,
    /// The conference's CID, where it is known before the join.
    cid: Option<String>,
    /// The other dais it is on, if not this one.
    remote: Option<String>,
}

/// What [`Loop::join`] did.
enum Joining {
    /// The room is already in that conference: the answer now.
    Already(Reply),
    /// The join runs; the command waiting is answered when it ends.
    Started,
}

impl Joining {
    /// The immediate reply to a command that joined: the real one, or a
    /// placeholder the loop drops (the waiting command was taken).
    fn reply(self) -> Reply {
        match self {
            Joining::Already(r) => r,
            Joining::Started => Reply::Json(json!({"state": "connecting"})),
        }
    }
}

/// How the room reaches the conference it joins.
enum Reach {
    /// On this dais: the target is ready.
    Local(Target),
    /// On another dais: sign in there with its API client's credentials.
    Remote {
        entry: crate::config::RemoteServerSettings,
        cid: String,
        pin: Option<String>,
    },
    /// Another dais places a call to `peer`, then the room joins it.
    Call {
        entry: crate::config::RemoteServerSettings,
        peer: String,
        topic: String,
    },
}

impl Reach {
    /// The signalling target, after the network steps that lead to it.
    async fn target(self, name: String) -> Result<Target, CommandError> {
        let (entry, cid, pin, token) = match self {
            Reach::Local(t) => return Ok(t),
            Reach::Remote { entry, cid, pin } => {
                let token = sign_in(&entry).await?;
                (entry, cid, pin, token)
            }
            Reach::Call { entry, peer, topic } => {
                let token = sign_in(&entry).await?;
                let cid = client::place_call(&entry.host, &token, &entry.client_id, &peer, &topic)
                    .await
                    .map_err(|e| match e {
                        ClientError::Refused { message, .. } => err(ErrorCode::Refused, message),
                        e => err(ErrorCode::Unavailable, e.to_string()),
                    })?;
                (entry, cid, None, token)
            }
        };
        Ok(Target {
            url: format!("ws://{}/webrtc/signalling/ws", entry.host),
            cid,
            credentials: Credentials::Token {
                access_token: token,
                participant_id: Some(entry.client_id.clone()),
            },
            display_name: name,
            pin,
        })
    }
}

/// Signs in to another dais with its API client's credentials.
async fn sign_in(entry: &crate::config::RemoteServerSettings) -> Result<String, CommandError> {
    client::sign_in(&entry.host, &entry.client_id, &entry.client_secret)
        .await
        .map_err(|e| err(ErrorCode::Unavailable, e.to_string()))
}

/// A failed signalling join, as the command that asked for it hears it.
fn join_error(cid: &str, e: ClientError) -> CommandError {
    match e {
        ClientError::Refused { reason, message } if reason == "not_found" => {
            err(ErrorCode::NotFound, message)
        }
        ClientError::Refused { reason, message } => err(
            ErrorCode::Refused,
            format!("conference {cid} refused the room: {message} ({reason})"),
        ),
        ClientError::Unreachable { .. } | ClientError::SignIn { .. } => {
            err(ErrorCode::Unavailable, e.to_string())
        }
        ClientError::Protocol(_) => err(ErrorCode::Internal, e.to_string()),
    }
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
        calls: 0,
        rings: 0,
        call_peer_seen: false,
        conference_recording: false,
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
            AppEvent::Call(n, ev) => {
                if l.call.as_ref().is_some_and(|(m, _)| *m == n) {
                    l.call_event(ev).await;
                    l.sync_camera().await;
                }
            }
            AppEvent::RingEnded(n) => l.ring_ended(n).await,
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
                    "contacts": crate::contacts::list(&s.room.contacts, &s.server.users)
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
                Ok(Reply::Json(json!({"files": files})))
            }
            Command::OpenLink { .. } => Err(err(
                ErrorCode::Internal,
                "links are expanded by the dispatcher, not the loop",
            )),
        }
    }

    /// Puts the speaker at `volume`: on the card's own mixer when it has
    /// one, its playback switch on (codecs often come up muted), the
    /// pipeline then passing sound at full level; else in the pipeline.
    async fn speaker_volume(&self, volume: u8) -> Result<(), CommandError> {
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
                let m = AlsaMixer::open(&card)?;
                mixer::set_percent(&m, mixer::Direction::Playback, volume)?;
                mixer::unmute_outputs(&m).map(|_| ())
            })
            .await
            .map_err(|e| err(ErrorCode::Internal, e.to_string()))?
            .map_err(
                |e| tracing::warn!(error = %e, "speaker mixer unusable; using software volume"),
            )
            .is_ok(),
            None => false,
        };
        if let Some(m) = &self.media {
            m.volume(if hw { 100 } else { volume }).await;
        }
        Ok(())
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
                format!("the camera ({t}) is not a V4L2 device: it has no camera controls"),
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

    /// Creates a running conference owned by the room and joins it.
    async fn start_own(
        &mut self,
        mut patch: crate::conference::Patch,
    ) -> Result<Reply, CommandError> {
        let room = self.room();
        patch.owner = room.login().map(str::to_string);
        patch.state = Some(RunState::Running);
        let conf = self
            .shared
            .server
            .create(&room, patch)
            .await
            .map_err(server_err)?;
        self.join_new(&conf).await
    }

    /// The room joins a conference it has just started (Meet now, a
    /// template, a call) and answers with its CID and topic.
    async fn join_new(
        &mut self,
        conf: &crate::conference::Conference,
    ) -> Result<Reply, CommandError> {
        let reply = json!({"cid": conf.id.as_str(), "topic": conf.topic});
        if let Joining::Started = self.join(conf.id.to_string(), None, None, None).await?
            && let Some(a) = self.connecting.as_mut()
        {
            a.reply = Some(reply.clone());
        }
        Ok(Reply::Json(reply))
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
        if let Some(list) = v
            .pointer_mut("/conference/servers")
            .and_then(|x| x.as_array_mut())
        {
            for s in list {
                s["client_secret"] = json!("(hidden)");
            }
        }
        for at in ["/control/pin", "/panel/admin_pin"] {
            if let Some(pin) = v.pointer_mut(at) {
                *pin = json!(if pin.as_str().is_some_and(|p| !p.is_empty()) {
                    "(set)"
                } else {
                    ""
                });
            }
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

    /// Joins conference `cid` as a participant: on this dais over the
    /// signalling WebSocket like any browser, or on another dais (`remote`)
    /// with the credentials `[conference.servers]` holds for it. The join
    /// runs beside the loop ([`Attempt`]); the command that asked is
    /// answered when it ends.
    async fn join(
        &mut self,
        cid: String,
        pin: Option<String>,
        guest: Option<GuestLogin>,
        remote: Option<String>,
    ) -> Result<Joining, CommandError> {
        let current = self.state.borrow().conference.clone();
        if let Some(current) = current
            && current.cid == cid
            && current.server == remote
        {
            return Ok(Joining::Already(Reply::Json(
                json!({"cid": cid, "state": current.state}),
            )));
        }
        // Asked again for the conference it is joining: answer both.
        if let Some(a) = self.connecting.as_mut()
            && a.cid.as_deref() == Some(cid.as_str())
            && a.remote == remote
        {
            a.waiters.extend(self.asking.take());
            return Ok(Joining::Started);
        }
        let name = self.state.borrow().room_name.clone();
        let reach = match &remote {
            Some(host) => Reach::Remote {
                entry: self.remote_server(host)?,
                cid: cid.clone(),
                pin,
            },
            None => Reach::Local(self.local_target(&cid, pin, guest, &name)?),
        };
        self.connect(reach, Some(cid), remote).await
    }

    /// Leaves whatever the room is in or joining, and starts joining
    /// through `reach`.
    async fn connect(
        &mut self,
        reach: Reach,
        cid: Option<String>,
        remote: Option<String>,
    ) -> Result<Joining, CommandError> {
        self.cancel_join("the room was asked to join another conference");
        if self.state.borrow().conference.is_some() {
            self.hang_up().await?;
        }
        let m = &self.shared.settings.media;
        let shape = MediaShape {
            width: m.send_width,
            height: m.send_height,
            framerate: m.send_framerate,
            adapt_size: m.adapt_send_size,
            video_kbps: m.video_bitrate_kbps,
            audio_kbps: m.audio_bitrate_kbps,
        };
        self.calls += 1;
        let n = self.calls;
        let (tx, mut rx) = mpsc::channel(64);
        let app = self.events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Some(app) = app.upgrade() else { return };
                if app.send(AppEvent::Call(n, ev)).await.is_err() {
                    return;
                }
            }
        });
        let name = self.state.borrow().room_name.clone();
        let media = self.media.clone();
        let app = self.events.clone();
        let task = tokio::spawn(async move {
            let result = async {
                let target = reach.target(name).await?;
                let cid = target.cid.clone();
                client::join(target, media, shape, tx)
                    .await
                    .map_err(|e| join_error(&cid, e))
            }
            .await;
            if let Some(app) = app.upgrade() {
                let _ = app.send(AppEvent::Connected(n, Box::new(result))).await;
            }
        });
        let label = match (&cid, &remote) {
            (Some(c), Some(r)) => format!("{c}@{r}"),
            (Some(c), None) => c.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => String::new(),
        };
        tracing::info!(conference = %label, "joining");
        self.state.send_modify(|st| {
            st.activity = Activity::Connecting;
            st.connecting = Some(label);
        });
        self.connecting = Some(Attempt {
            n,
            task,
            waiters: self.asking.take().into_iter().collect(),
            reply: None,
            placed_call: false,
            cid,
            remote,
        });
        Ok(Joining::Started)
    }

    /// Gives up the join under way, if any: its task stops and the
    /// commands waiting for it hear `why`.
    fn cancel_join(&mut self, why: &str) -> bool {
        let Some(a) = self.connecting.take() else {
            return false;
        };
        a.task.abort();
        tracing::info!(cid = ?a.cid, why, "join given up");
        for w in a.waiters {
            let _ = w.send(Err(err(ErrorCode::Conflict, why)));
        }
        self.state.send_modify(Self::not_connecting);
        true
    }

    /// No join is under way any more: back to idle unless it got in.
    fn not_connecting(st: &mut AppState) {
        st.connecting = None;
        if st.activity == Activity::Connecting {
            st.activity = Activity::Idle;
        }
    }

    /// Join number `n` ended: the room is in the conference (or its
    /// waiting room), or it failed; the commands waiting hear which.
    async fn connected(&mut self, n: u64, result: Result<(Call, Joined), CommandError>) {
        let Some(a) = self.connecting.take_if(|a| a.n == n) else {
            // Given up meanwhile: leave what it joined.
            if let Ok((call, _)) = result {
                tokio::spawn(call.leave());
            }
            return;
        };
        let result = match result {
            Ok((call, joined)) => {
                let reply = self.entered(n, call, joined, a.remote.clone()).await;
                if a.placed_call {
                    self.state.send_modify(|st| {
                        if let Some(c) = st.conference.as_mut() {
                            c.call = true;
                        }
                    });
                }
                Ok(Reply::Json(a.reply.unwrap_or(reply)))
            }
            Err(e) => {
                tracing::warn!(cid = ?a.cid, error = %e.message, "could not join");
                Err(e)
            }
        };
        self.state.send_modify(Self::not_connecting);
        for w in a.waiters {
            let _ = w.send(result.clone());
        }
    }

    /// The room is in the conference `joined` (admitted or waiting) over
    /// `call`: the app state and the room's media follow. Returns the
    /// join's answer.
    async fn entered(
        &mut self,
        n: u64,
        call: Call,
        joined: Joined,
        remote: Option<String>,
    ) -> serde_json::Value {
        let activity = if joined.state == "waiting" {
            Activity::Waiting
        } else {
            Activity::Conference
        };
        let (mic_muted, camera_muted) = {
            let st = self.state.borrow();
            (st.audio.mic_muted, st.camera.muted)
        };
        // The conference hears what the room already chose.
        if (mic_muted && !joined.mic_muted) || camera_muted {
            call.send(ClientMsg::Media {
                mic_muted: mic_muted.then_some(true),
                camera_off: camera_muted.then_some(true),
            });
        }
        if joined.mic_muted
            && let Some(m) = &self.media
        {
            // Mute on entry applies to the room too.
            m.mic_muted(true).await;
        }
        // A two-party conference that ends by itself is a call: the room
        // leaves once the other side has left.
        let is_call = remote.is_none()
            && self
                .shared
                .server
                .get(&self.room(), &joined.cid)
                .is_ok_and(|c| is_call(&c));
        self.call_peer_seen = false;
        let reply = json!({
            "cid": joined.cid,
            "state": joined.state,
            "reason": joined.reason,
            "role": joined.role,
        });
        tracing::info!(conference = %joined.cid, state = %joined.state, "joined");
        self.state.send_modify(|st| {
            st.conference = Some(InConference {
                cid: joined.cid.clone(),
                topic: joined.topic.clone(),
                mode: joined.mode.clone(),
                participant_id: joined.participant_id.clone(),
                role: joined.role.clone(),
                state: joined.state.clone(),
                reason: joined.reason.clone(),
                server: remote.clone(),
                participants: Vec::new(),
                chat: Vec::new(),
                call: is_call,
            });
            st.activity = activity;
            st.connecting = None;
            // Someone in the room is using it: the missed call was seen.
            st.missed_call = None;
            st.audio.mic_muted = st.audio.mic_muted || joined.mic_muted;
        });
        self.call = Some((n, call));
        if remote.is_none() && joined.state == "admitted" {
            self.auto_record(&joined.cid);
        }
        reply
    }

    /// The room on its own server: a token for the room (or the guest link
    /// it was given), over loopback.
    fn local_target(
        &self,
        cid: &str,
        pin: Option<String>,
        guest: Option<GuestLogin>,
        name: &str,
    ) -> Result<Target, CommandError> {
        let http = self
            .state
            .borrow()
            .endpoints
            .http
            .clone()
            .ok_or_else(|| err(ErrorCode::Unavailable, "the HTTP listener is not up yet"))?;
        let port = http.rsplit(':').next().unwrap_or("80");
        let url = format!("ws://127.0.0.1:{port}/webrtc/signalling/ws");
        let (credentials, display_name) = match guest {
            Some(g) => (
                Credentials::Link(g.token),
                if g.display_name.is_empty() {
                    name.to_string()
                } else {
                    g.display_name
                },
            ),
            None => {
                let server = &self.shared.server;
                let issued = server.auth().issue(self.room(), server.now());
                (
                    Credentials::Token {
                        access_token: issued.access_token,
                        participant_id: None,
                    },
                    name.to_string(),
                )
            }
        };
        Ok(Target {
            url,
            cid: cid.to_string(),
            credentials,
            display_name,
            pin,
        })
    }

    /// The credentials the room has for another dais.
    fn remote_server(
        &self,
        host: &str,
    ) -> Result<crate::config::RemoteServerSettings, CommandError> {
        let entry = self
            .shared
            .settings
            .conference
            .servers
            .iter()
            .find(|s| same_host(&s.host, host))
            .ok_or_else(|| {
                err(
                    ErrorCode::Unavailable,
                    format!(
                        "{host} is another server and dais has no credentials for it: add it to [conference.servers] (an API client of that dais)"
                    ),
                )
            })?;
        if entry.scheme == "https" {
            return Err(err(
                ErrorCode::Unavailable,
                format!(
                    "{host}: joining over https needs TLS, which this build does not include; use scheme = \"http\" on a trusted network"
                ),
            ));
        }
        Ok(entry.clone())
    }

    /// A conference asking for auto-start recording records from the
    /// room's arrival (its view of the conference) until it leaves.
    fn auto_record(&mut self, cid: &str) {
        let Ok(conf) = self
            .shared
            .server
            .get(&Principal::Client { id: "room".into() }, cid)
        else {
            return;
        };
        let o = &conf.options;
        if !(o.recording_enabled && o.auto_start_recording) {
            return;
        }
        let Some(m) = &self.media else { return };
        if m.recording() {
            return;
        }
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        match m.start_recording(&format!("conference-{cid}-{stamp}")) {
            Ok(()) => {
                self.conference_recording = true;
                self.state.send_modify(|st| st.recording = true);
                tracing::info!(%cid, "recording the conference (auto-start)");
            }
            Err(e) => tracing::warn!(%cid, error = %e, "auto-start recording failed"),
        }
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
        match self
            .shared
            .server
            .get(&Principal::Client { id: "room".into() }, &c.cid)
        {
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

    async fn hang_up(&mut self) -> Result<Reply, CommandError> {
        let gave_up = self.cancel_join("hung up before the join completed");
        if self.state.borrow().conference.is_none() {
            if gave_up {
                return Ok(Reply::Done);
            }
            return Err(err(
                ErrorCode::Conflict,
                "the room is not in a call or conference",
            ));
        }
        if let Some((_, call)) = self.call.take() {
            call.leave().await;
        }
        self.left_conference();
        Ok(Reply::Done)
    }

    fn left_conference(&mut self) {
        self.call = None;
        if self.conference_recording {
            self.conference_recording = false;
            if let Some(m) = self.media.clone() {
                // Finalising the last file takes a moment: not on the loop.
                tokio::task::spawn_blocking(move || m.stop_recording());
            }
            self.state.send_modify(|st| st.recording = false);
        }
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
        let by = Principal::Client { id: "room".into() };
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

    /// Follows the room's conference call.
    async fn call_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::State {
                state,
                reason,
                role,
                mic_muted,
                camera_off: _,
            } => {
                let admitted_now = state == "admitted"
                    && self
                        .state
                        .borrow()
                        .conference
                        .as_ref()
                        .is_some_and(|c| c.state != "admitted");
                let was_muted = self.state.borrow().audio.mic_muted;
                self.state.send_modify(|st| {
                    st.activity = if state == "waiting" {
                        Activity::Waiting
                    } else {
                        Activity::Conference
                    };
                    if let Some(c) = st.conference.as_mut() {
                        c.state = state.clone();
                        c.reason = reason.clone();
                        c.role = role.clone();
                    }
                    // A moderator muted the room (or mute on entry).
                    st.audio.mic_muted = st.audio.mic_muted || mic_muted;
                });
                if mic_muted
                    && !was_muted
                    && let Some(m) = &self.media
                {
                    m.mic_muted(true).await;
                }
                if admitted_now {
                    let cid = self
                        .state
                        .borrow()
                        .conference
                        .as_ref()
                        .map(|c| (c.cid.clone(), c.server.is_none()));
                    if let Some((cid, true)) = cid {
                        self.auto_record(&cid);
                    }
                }
            }
            CallEvent::Roster(list) => {
                let mut other_gone = false;
                self.state.send_modify(|st| {
                    if let Some(c) = st.conference.as_mut() {
                        let others = list
                            .iter()
                            .filter(|p| p.id != c.participant_id && p.state == "admitted")
                            .count();
                        if c.call && others > 0 {
                            self.call_peer_seen = true;
                        }
                        other_gone = c.call && self.call_peer_seen && others == 0;
                        c.participants = list;
                    }
                });
                if other_gone {
                    tracing::info!("the other side hung up: leaving the call");
                    if let Err(e) = self.hang_up().await {
                        tracing::warn!(error = %e.message, "could not leave the call");
                    }
                }
            }
            CallEvent::Chat(list) => self.state.send_modify(|st| {
                if let Some(c) = st.conference.as_mut() {
                    c.chat = list;
                }
            }),
            CallEvent::Ended { reason, message } => {
                tracing::info!(%reason, %message, "the room's conference ended");
                if reason != "left" {
                    self.state
                        .send_modify(|st| st.last_error = Some(format!("conference: {message}")));
                }
                self.left_conference();
            }
            CallEvent::Problem(p) => {
                tracing::warn!(problem = %p, "conference");
                self.state
                    .send_modify(|st| st.last_error = Some(format!("conference: {p}")));
            }
        }
    }

    /// Follows what the server does to the room's conference (the call
    /// reports the rest).
    /// A conference on this dais invites the room: it joins when it is
    /// free (idle or in standby, which it leaves) and answering is on.
    async fn invited(&mut self, cid: String, ids: Vec<String>) {
        let me = self.room_id();
        if !ids.iter().any(|i| i == &me) {
            return;
        }
        let busy = {
            let st = self.state.borrow();
            st.conference.is_some()
                || st.incoming.is_some()
                || !matches!(st.activity, Activity::Idle | Activity::Standby)
        };
        if busy {
            tracing::info!(conference = %cid, "invited while busy; not joining");
            return;
        }
        if !self.shared.settings.conference.answer_invitations {
            self.ring(cid);
            return;
        }
        // Waking is what joining needs (the join wakes the room).
        match self.join(cid.clone(), None, None, None).await {
            Ok(_) => tracing::info!(conference = %cid, "joining on invitation"),
            Err(e) => {
                tracing::warn!(conference = %cid, error = %e.message, "could not join on invitation")
            }
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

    /// Calls someone: a conference of two ("all on screen", ended when
    /// both sides have left) with them invited, so their endpoint rings,
    /// hosted by their dais. A user of this dais is called here; `peer` on
    /// another dais (`server`) through that dais's API with the room's
    /// credentials for it (`[conference.servers]`).
    async fn call(&mut self, peer: String, server: Option<String>) -> Result<Reply, CommandError> {
        let peer = peer.trim().to_string();
        if peer.is_empty() {
            return Err(err(ErrorCode::BadRequest, "peer: whom to call is empty"));
        }
        let name = self.state.borrow().room_name.clone();
        let topic = format!("Call from {name}");
        let reply = match server.filter(|s| !self.is_local(s)) {
            Some(host) => {
                let entry = self.remote_server(&host)?;
                self.connect(Reach::Call { entry, peer, topic }, None, Some(host))
                    .await?
                    .reply()
            }
            None => {
                if peer.eq_ignore_ascii_case(&self.room_id()) {
                    return Err(err(
                        ErrorCode::BadRequest,
                        format!("peer: {peer} is this room"),
                    ));
                }
                let user = self.local_user(&peer).ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!(
                                "{peer} is not a user of this dais; a user of another server is called as user@server"
                            ),
                        )
                    })?;
                let mut patch = Meeting::new(crate::command::MeetingMode::AllOnScreen).to_patch();
                patch.topic = Some(topic);
                patch.max_participants = Some(2);
                patch.invitations = Some(vec![crate::conference::Invitation {
                    id: user.login.clone(),
                    display_name: user.display_name.clone(),
                }]);
                patch.auto_invite = Some(true);
                patch.auto_termination = Some(true);
                self.start_own(patch).await?
            }
        };
        match self.connecting.as_mut() {
            Some(a) => a.placed_call = true,
            None => self.state.send_modify(|st| {
                if let Some(c) = st.conference.as_mut() {
                    c.call = true;
                }
            }),
        }
        Ok(reply)
    }

    /// Rings the room for an invitation: the panel wakes and shows it
    /// until it is accepted, rejected or `ring_seconds` pass.
    fn ring(&mut self, cid: String) {
        let Ok(conf) = self.shared.server.get(&self.room(), &cid) else {
            return;
        };
        let seconds = self.shared.settings.conference.ring_seconds;
        let now = self.shared.server.now().max(0) as u64;
        self.rings += 1;
        let n = self.rings;
        self.state.send_modify(|st| {
            if st.activity == Activity::Standby {
                st.activity = Activity::Idle;
            }
            st.incoming = Some(super::state::Incoming {
                cid: cid.clone(),
                topic: conf.topic.clone(),
                from: conf.owner.clone(),
                until: now + u64::from(seconds),
            });
        });
        tracing::info!(conference = %cid, "invitation ringing");
        let app = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(seconds.into())).await;
            if let Some(app) = app.upgrade() {
                let _ = app.send(AppEvent::RingEnded(n)).await;
            }
        });
    }

    /// The ringing invitation number `n` was not answered in time.
    async fn ring_ended(&mut self, n: u64) {
        if n != self.rings {
            return;
        }
        let Some(inc) = self.state.borrow().incoming.clone() else {
            return;
        };
        tracing::info!(conference = %inc.cid, "invitation missed");
        self.state.send_modify(|st| {
            st.incoming = None;
            st.missed_call = Some(inc.clone());
        });
        self.end_unanswered_call(&inc.cid).await;
    }

    /// A call the room declined or missed ends, so the caller is not left
    /// waiting in it; other conferences go on without the room.
    async fn end_unanswered_call(&self, cid: &str) {
        let server = &self.shared.server;
        if server.get(&self.room(), cid).is_ok_and(|c| is_call(&c))
            && let Err(e) = server
                .set_running(&self.room(), cid, false, crate::server::Trigger::Room)
                .await
        {
            tracing::warn!(conference = %cid, error = %e, "could not end the unanswered call");
        }
    }

    /// Answers the ringing invitation.
    async fn answer(&mut self, accept: bool) -> Result<Reply, CommandError> {
        let Some(inc) = self.state.borrow().incoming.clone() else {
            return Err(err(ErrorCode::Conflict, "there is no incoming call"));
        };
        self.rings += 1;
        self.state.send_modify(|st| {
            st.incoming = None;
            st.missed_call = None;
        });
        if !accept {
            tracing::info!(conference = %inc.cid, "invitation rejected");
            self.end_unanswered_call(&inc.cid).await;
            return Ok(Reply::Json(json!({"cid": inc.cid, "state": "rejected"})));
        }
        self.join(inc.cid, None, None, None)
            .await
            .map(Joining::reply)
    }

    fn server_event(&mut self, ev: ServerEvent) {
        // The ringing stops when the inviting conference stops or goes
        // (the caller gave up).
        if let ServerEvent::Stopped { cid, .. } | ServerEvent::Deleted { cid } = &ev {
            self.state.send_if_modified(|st| {
                if st.incoming.as_ref().is_some_and(|i| &i.cid == cid) {
                    st.missed_call = st.incoming.take();
                    return true;
                }
                false
            });
        }
        let Some(c) = self.state.borrow().conference.clone() else {
            return;
        };
        if c.server.is_some() {
            return;
        }
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
            _ => {}
        }
    }
}

/// A call: a conference of two that ends by itself when both have left
/// (what `call` creates, here or on another dais).
fn is_call(c: &crate::conference::Conference) -> bool {
    c.max_participants == 2 && c.options.auto_termination
}

/// Whether two `host[:port]` spellings name the same server.
fn same_host(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
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

//! The room's conference call, as the loop carries it out: joining (on
//! this dais or another, as a task beside the loop: [`Attempt`]), being in
//! it, hanging up, placing calls, ringing for invitations and recording
//! what asks to be. What to do when is [`crate::call::Flow`]'s to say (no
//! IO there); this module does it and tells the flow what happened.

use super::*;
use crate::call::{Action, Event, Refusal, RingEnd};
use crate::conference::Standing;
use crate::sfu::signal::EndReason;

mod ring;

pub(super) type Answer = oneshot::Sender<Result<Reply, CommandError>>;

/// A join under way. Its network steps (signing in to another dais,
/// having it place a call, the signalling join) run as a task, so the
/// loop goes on serving commands, hang-up included, and the watchdog;
/// the task's result comes back as [`AppEvent::Connected`].
pub(super) struct Attempt {
    /// The call number the join will have.
    n: u64,
    task: tokio::task::JoinHandle<()>,
    /// The commands waiting for the join's answer.
    waiters: Vec<Answer>,
    /// The answer to give instead of the join's own (Meet now, a template:
    /// the new conference's CID and topic).
    reply: Option<serde_json::Value>,
}

/// What [`Loop::join`] did.
pub(super) enum Joining {
    /// The room is already in that conference: the answer now.
    Already(Reply),
    /// The join runs; the command waiting is answered when it ends.
    Started,
}

impl Joining {
    /// The immediate reply to a command that joined: the real one, or a
    /// placeholder the loop drops (the waiting command was taken).
    pub(super) fn reply(self) -> Reply {
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
        let (entry, cid, pin, token, trust) = match self {
            Reach::Local(t) => return Ok(t),
            Reach::Remote { entry, cid, pin } => {
                let trust = trust(&entry)?;
                let token = sign_in(&entry, &trust).await?;
                (entry, cid, pin, token, trust)
            }
            Reach::Call { entry, peer, topic } => {
                let trust = trust(&entry)?;
                let token = sign_in(&entry, &trust).await?;
                let cid = client::place_call(
                    &entry.base_url(),
                    &trust,
                    &token,
                    &entry.client_id,
                    &peer,
                    &topic,
                )
                .await
                .map_err(|e| match e {
                    ClientError::Refused { message, .. } => err(ErrorCode::Refused, message),
                    e => err(ErrorCode::Unavailable, e.to_string()),
                })?;
                (entry, cid, None, token, trust)
            }
        };
        let tls = match &trust {
            crate::outbound::Trust::System => None,
            t => Some(
                crate::outbound::tls_for(t)
                    .map_err(|e| err(ErrorCode::Unavailable, e.to_string()))?,
            ),
        };
        Ok(Target {
            url: entry.signalling_url(),
            tls,
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

/// How the room trusts another dais's certificate: its
/// `[[conference.servers]]` entry's pinned fingerprint or CA file, else
/// the system's store.
fn trust(
    entry: &crate::config::RemoteServerSettings,
) -> Result<crate::outbound::Trust, CommandError> {
    use crate::outbound::Trust;
    if !entry.fingerprint.is_empty() {
        return Ok(Trust::Pinned(entry.fingerprint.clone()));
    }
    if entry.ca.is_empty() {
        return Ok(Trust::System);
    }
    std::fs::read(&entry.ca).map(Trust::Ca).map_err(|e| {
        err(
            ErrorCode::Unavailable,
            format!(
                "conference.servers ({}) ca {}: cannot read it: {e}",
                entry.host, entry.ca
            ),
        )
    })
}

/// Signs in to another dais with its API client's credentials.
async fn sign_in(
    entry: &crate::config::RemoteServerSettings,
    trust: &crate::outbound::Trust,
) -> Result<String, CommandError> {
    client::sign_in(
        &entry.base_url(),
        trust,
        &entry.client_id,
        entry.client_secret.expose(),
    )
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

/// What the flow's actions leave for the caller to do.
#[derive(Default)]
struct FollowUp {
    /// A conference on this dais to join (an accepted invitation).
    join: Option<String>,
    /// The join to start, by number.
    connect: Option<u64>,
}

impl Loop {
    /// The flow's clock: the server's (a manual one in tests).
    pub(super) fn now(&self) -> u64 {
        self.shared.server.now().max(0) as u64
    }

    /// Tells the call flow what happened and carries out what it says.
    async fn flow(&mut self, event: Event) -> Result<FollowUp, Refusal> {
        let actions = self.flow.handle(self.now(), event)?;
        Ok(self.carry_out(actions).await)
    }

    /// Carries out the call flow's actions, in order.
    async fn carry_out(&mut self, actions: Vec<Action>) -> FollowUp {
        let mut next = FollowUp::default();
        for a in actions {
            match a {
                Action::Ring { cid, until } => self.ring(cid, until),
                Action::RingEnded { cid, how } => self.ring_ended(cid, how).await,
                Action::JoinLocal { cid } => next.join = Some(cid),
                Action::Connect { attempt } => next.connect = Some(attempt),
                Action::CancelJoin { attempt, why } => self.cancel_join(attempt, why),
                Action::Leave {
                    attempt,
                    remote,
                    hang_up,
                } => self.leave(attempt, remote, hang_up).await,
                Action::JoinEnded { .. } => self.state.send_modify(Self::not_connecting),
                // `connected` updates the room's state with what it knows.
                Action::Entered { .. } => {}
                Action::StartRecording { cid } => self.auto_record(&cid),
                Action::StopRecording => self.stop_auto_record(),
            }
        }
        next
    }

    /// The call flow's timer for `until` fired.
    pub(super) async fn call_timer(&mut self, until: u64) {
        let actions = self.flow.handle_timeout(until);
        self.carry_out(actions).await;
    }

    /// Creates a running conference owned by the room and joins it.
    pub(super) async fn start_own(
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
    pub(super) async fn join_new(
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

    /// Joins conference `cid` as a participant: on this dais over the
    /// signalling WebSocket like any browser, or on another dais (`remote`)
    /// with the credentials `[conference.servers]` holds for it. The join
    /// runs beside the loop ([`Attempt`]); the command that asked is
    /// answered when it ends.
    pub(super) async fn join(
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
        if let Some(c) = self.flow.connecting()
            && c.cid.as_deref() == Some(cid.as_str())
            && c.remote == remote
            && let Some(a) = self.connecting.as_mut()
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

    /// Leaves whatever the room is in, joining or ringing for, and starts
    /// joining through `reach`.
    async fn connect(
        &mut self,
        reach: Reach,
        cid: Option<String>,
        remote: Option<String>,
    ) -> Result<Joining, CommandError> {
        let label = match (&cid, &remote) {
            (Some(c), Some(r)) => format!("{c}@{r}"),
            (Some(c), None) => c.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => String::new(),
        };
        let next = self
            .flow(Event::Join { cid, remote })
            .await
            .map_err(|e| err(ErrorCode::Internal, e.to_string()))?;
        let Some(n) = next.connect else {
            return Err(err(
                ErrorCode::Internal,
                "the call flow did not start the join",
            ));
        };
        let m = &self.shared.settings.media;
        let shape = MediaShape {
            width: m.send_width,
            height: m.send_height,
            framerate: m.send_framerate,
            adapt_size: m.adapt_send_size,
            video_kbps: m.video_bitrate_kbps,
            audio_kbps: m.audio_bitrate_kbps,
        };
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
        });
        Ok(Joining::Started)
    }

    /// Gives up join `n`: its task stops and the commands waiting for it
    /// hear `why`.
    fn cancel_join(&mut self, n: u64, why: &str) {
        let Some(a) = self.connecting.take_if(|a| a.n == n) else {
            return;
        };
        a.task.abort();
        tracing::info!(join = n, why, "join given up");
        for w in a.waiters {
            let _ = w.send(Err(err(ErrorCode::Conflict, why)));
        }
        self.state.send_modify(Self::not_connecting);
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
    pub(super) async fn connected(&mut self, n: u64, result: Result<(Call, Joined), CommandError>) {
        let a = self.connecting.take_if(|a| a.n == n);
        let result = match result {
            Ok((call, joined)) => {
                let local = self.flow.connecting().is_some_and(|c| c.remote.is_none());
                let conf = local
                    .then(|| {
                        self.shared
                            .server
                            .get(&Principal::appliance(), &joined.cid)
                            .ok()
                    })
                    .flatten();
                let event = Event::Joined {
                    attempt: n,
                    cid: joined.cid.clone(),
                    admitted: joined.state == Standing::Admitted,
                    call: conf.as_ref().is_some_and(is_call),
                    auto_record: conf.as_ref().is_some_and(records_itself),
                };
                // `entered` first: the recorder starts with the room in.
                let actions = match self.flow.handle(self.now(), event) {
                    Ok(actions) => actions,
                    Err(_) => {
                        // Given up meanwhile: leave what it joined.
                        tokio::spawn(call.leave());
                        return;
                    }
                };
                let reply = self.entered(n, call, joined).await;
                self.carry_out(actions).await;
                Ok(Reply::Json(
                    a.as_ref().and_then(|a| a.reply.clone()).unwrap_or(reply),
                ))
            }
            Err(e) => {
                if self.flow(Event::JoinFailed { attempt: n }).await.is_err() {
                    return;
                }
                tracing::warn!(join = n, error = %e.message, "could not join");
                Err(e)
            }
        };
        self.state.send_modify(Self::not_connecting);
        for w in a.into_iter().flat_map(|a| a.waiters) {
            let _ = w.send(result.clone());
        }
    }

    /// The room is in the conference `joined` (admitted or waiting) over
    /// `call`: the app state and the room's media follow. Returns the
    /// join's answer.
    async fn entered(&mut self, n: u64, call: Call, joined: Joined) -> serde_json::Value {
        let activity = if joined.state == Standing::Waiting {
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
        let (remote, is_call) = match self.flow.present() {
            Some(p) => (p.remote.clone(), p.call),
            None => (None, false),
        };
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
                state: joined.state,
                reason: joined.reason.clone(),
                server: remote,
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
        let (http, certificate) = {
            let st = self.state.borrow();
            (st.endpoints.http.clone(), st.endpoints.certificate.clone())
        };
        let http =
            http.ok_or_else(|| err(ErrorCode::Unavailable, "the HTTP listener is not up yet"))?;
        // Where dais listens (loopback for a wildcard listener). Over
        // HTTPS, dais trusts exactly the certificate it serves.
        let authority = http.split("://").nth(1).unwrap_or(&http);
        let (url, tls) = match (http.starts_with("https:"), certificate) {
            (true, Some(c)) => (
                format!("wss://{authority}/webrtc/signalling/ws"),
                Some(crate::outbound::pinned(&c.fingerprint)),
            ),
            _ => (format!("ws://{authority}/webrtc/signalling/ws"), None),
        };
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
            tls,
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
        Ok(entry.clone())
    }

    /// Hangs up: leaves the conference, gives up the join under way, or
    /// declines the ringing invitation.
    pub(super) async fn hang_up(&mut self) -> Result<Reply, CommandError> {
        self.flow(Event::HangUp)
            .await
            .map_err(|e| err(ErrorCode::Conflict, e.to_string()))?;
        Ok(Reply::Done)
    }

    /// Leaves the conference of join `n` (`hang_up`: telling its server;
    /// else it is already over for the room).
    async fn leave(&mut self, n: u64, remote: bool, hang_up: bool) {
        if let Some((_, call)) = self.call.take_if(|(m, _)| *m == n)
            && hang_up
        {
            if remote {
                // Another dais may be slow to confirm: not on the loop.
                tokio::spawn(call.leave());
            } else {
                // This dais confirms at once, so the roster no longer
                // lists the room when the command is answered.
                call.leave().await;
            }
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

    /// A conference asking for auto-start recording records from the
    /// room's arrival (its view of the conference) until it leaves.
    fn auto_record(&mut self, cid: &str) {
        let started = match &self.media {
            // Someone is recording by hand: that recording goes on.
            Some(m) if m.recording() => false,
            Some(m) => {
                let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
                match m.start_recording(&format!("conference-{cid}-{stamp}")) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(%cid, error = %e, "auto-start recording failed");
                        false
                    }
                }
            }
            None => false,
        };
        if started {
            self.state.send_modify(|st| st.recording = true);
            tracing::info!(%cid, "recording the conference (auto-start)");
        } else {
            let _ = self.flow.handle(self.now(), Event::RecordingGone);
        }
    }

    /// Stops the recording the conference started.
    fn stop_auto_record(&mut self) {
        if let Some(m) = self.media.clone() {
            // Finalising the last file takes a moment: not on the loop.
            tokio::task::spawn_blocking(move || m.stop_recording());
        }
        self.state.send_modify(|st| st.recording = false);
    }

    /// Follows the room's conference call.
    pub(super) async fn call_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::State {
                state,
                reason,
                role,
                mic_muted,
                camera_off: _,
            } => {
                let was_muted = self.state.borrow().audio.mic_muted;
                self.state.send_modify(|st| {
                    st.activity = if state == Standing::Waiting {
                        Activity::Waiting
                    } else {
                        Activity::Conference
                    };
                    if let Some(c) = st.conference.as_mut() {
                        c.state = state;
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
                let auto_record = self.flow.present().is_some_and(|p| {
                    p.remote.is_none()
                        && self
                            .shared
                            .server
                            .get(&Principal::appliance(), &p.cid)
                            .is_ok_and(|c| records_itself(&c))
                });
                let admitted = state == Standing::Admitted;
                let _ = self
                    .flow(Event::Admission {
                        admitted,
                        auto_record,
                    })
                    .await;
            }
            CallEvent::Roster(list) => {
                let mut others = 0;
                self.state.send_modify(|st| {
                    if let Some(c) = st.conference.as_mut() {
                        others = list
                            .iter()
                            .filter(|p| p.id != c.participant_id && p.state == Standing::Admitted)
                            .count();
                        c.participants = list;
                    }
                });
                let was_in = self.flow.present().is_some();
                let _ = self.flow(Event::Others(others)).await;
                if was_in && self.flow.present().is_none() {
                    tracing::info!("the other side hung up: the room left the call");
                }
            }
            CallEvent::Chat(list) => self.state.send_modify(|st| {
                if let Some(c) = st.conference.as_mut() {
                    c.chat = list;
                }
            }),
            CallEvent::Ended { reason, message } => {
                tracing::info!(%reason, %message, "the room's conference ended");
                if reason != EndReason::Left {
                    self.state
                        .send_modify(|st| st.last_error = Some(format!("conference: {message}")));
                }
                let _ = self.flow(Event::Ended).await;
            }
            CallEvent::Problem(p) => {
                tracing::warn!(problem = %p, "conference");
                self.state
                    .send_modify(|st| st.last_error = Some(format!("conference: {p}")));
            }
        }
    }

    /// What the server did to a conference on this dais, as far as the
    /// room's call flow cares: the one it is in or ringing for stopped,
    /// went or was renamed.
    pub(super) async fn server_event(&mut self, ev: ServerEvent) {
        let event = match ev {
            ServerEvent::Stopped { cid, .. } | ServerEvent::Deleted { cid } => {
                Event::Stopped { cid }
            }
            ServerEvent::Renamed { from, to } => {
                self.state.send_modify(|st| {
                    if let Some(c) = st.conference.as_mut()
                        && c.server.is_none()
                        && c.cid == from
                    {
                        c.cid = to.clone();
                    }
                    if let Some(i) = st.incoming.as_mut()
                        && i.cid == from
                    {
                        i.cid = to.clone();
                    }
                });
                Event::Renamed { from, to }
            }
            _ => return,
        };
        let _ = self.flow(event).await;
    }
}

/// A conference that records by itself from the room's arrival.
fn records_itself(c: &crate::conference::Conference) -> bool {
    c.options.recording_enabled && c.options.auto_start_recording
}

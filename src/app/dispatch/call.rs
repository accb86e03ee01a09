//! The room's conference call: joining (on this dais or another, as a
//! task beside the loop: [`Attempt`]), being in it, hanging up, placing
//! calls, and ringing for invitations.

use super::*;

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
    /// The room placed this call: it is marked a call once joined.
    placed_call: bool,
    /// The conference's CID, where it is known before the join.
    cid: Option<String>,
    /// The other dais it is on, if not this one.
    remote: Option<String>,
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
    client::sign_in(&entry.host, &entry.client_id, entry.client_secret.expose())
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

impl Loop {
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
    pub(super) async fn connected(&mut self, n: u64, result: Result<(Call, Joined), CommandError>) {
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

    pub(super) async fn hang_up(&mut self) -> Result<Reply, CommandError> {
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
        let remote = self
            .state
            .borrow()
            .conference
            .as_ref()
            .is_some_and(|c| c.server.is_some());
        if let Some((_, call)) = self.call.take() {
            if remote {
                // Another dais may be slow to confirm: not on the loop.
                tokio::spawn(call.leave());
            } else {
                // This dais confirms at once, so the roster no longer
                // lists the room when the command is answered.
                call.leave().await;
            }
        }
        self.left_conference();
        Ok(Reply::Done)
    }

    pub(super) fn left_conference(&mut self) {
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
    pub(super) async fn invited(&mut self, cid: String, ids: Vec<String>) {
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

    /// Calls someone: a conference of two ("all on screen", ended when
    /// both sides have left) with them invited, so their endpoint rings,
    /// hosted by their dais. A user of this dais is called here; `peer` on
    /// another dais (`server`) through that dais's API with the room's
    /// credentials for it (`[conference.servers]`).
    pub(super) async fn call(
        &mut self,
        peer: String,
        server: Option<String>,
    ) -> Result<Reply, CommandError> {
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
            st.incoming = Some(crate::app::state::Incoming {
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
    pub(super) async fn ring_ended(&mut self, n: u64) {
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
    pub(super) async fn answer(&mut self, accept: bool) -> Result<Reply, CommandError> {
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
}

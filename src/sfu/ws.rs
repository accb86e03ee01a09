//! The participants' WebSocket (`GET /webrtc/signalling/ws`, protocol in
//! `docs/signalling.md`) and the web client's pages (`/webrtc/<CID>`).
//!
//! One connection is one participant: it joins through the conference
//! rules (`Server::join`), gets a media peer once admitted (or a
//! listen-only one for music on hold while held for the host), and then
//! relays SDP and candidates, the roster, the track map, the chat and
//! moderator actions until it leaves or is removed. Leaving is what the
//! connection closing means.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{broadcast, mpsc};

use super::Sfu;
use super::peer::{Peer, PeerEvent};
use super::signal::{
    self, Announced, ClientMsg, ConferenceInfo, EndReason, RosterEntry, ServerMsg,
};
use crate::conference::roster::{self, JoinRequest, Member, Place, WaitReason};
use crate::conference::{Actor, JoinDecision, Right, Standing};
use crate::media::webrtc::Signal;
use crate::server::{Caller, Moderation, Principal, ServerError, ServerEvent, auth};

mod events;

use events::server_event;

/// How long a new connection has to send its `join`.
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// The web client's routes; `allowed_origins` are the pages besides
/// dais's own that may open the signalling (`http.allowed_origins`).
pub fn router(sfu: Sfu, allowed_origins: Vec<String>) -> Router {
    let allowed: std::sync::Arc<[String]> = allowed_origins.into();
    Router::new()
        .route(
            "/webrtc/signalling/ws",
            get(
                move |ws: WebSocketUpgrade,
                      headers: axum::http::HeaderMap,
                      extensions: axum::http::Extensions,
                      state: State<Sfu>| {
                    let allowed = allowed.clone();
                    async move {
                        let value = |h| headers.get(h).and_then(|v| v.to_str().ok());
                        if let Err(e) = dais_core::origin::check(
                            value(header::ORIGIN),
                            value(header::HOST),
                            extensions
                                .get::<dais_core::origin::ServedScheme>()
                                .copied()
                                .unwrap_or_default()
                                .0,
                            &allowed,
                        ) {
                            tracing::warn!(error = %e, "signalling: refused a page from elsewhere");
                            let body = serde_json::json!({"type": "refused", "reason": "forbidden_origin", "message": e.to_string()});
                            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
                        }
                        let source = extensions
                            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                            .map(|c| c.0.ip());
                        upgrade(ws, state, source).await
                    }
                },
            ),
        )
        .route("/webrtc/assets/{file}", get(asset))
        .route("/webrtc/{cid}", get(page))
        .with_state(sfu)
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(sfu): State<Sfu>,
    source: Option<std::net::IpAddr>,
) -> Response {
    ws.max_message_size(signal::MAX_MESSAGE)
        .on_upgrade(move |socket| async move { serve(socket, sfu, source).await })
}

// ---- the web client ----------------------------------------------------------

const INDEX: &str = include_str!("../../ui/web/index.html");
const SCRIPT: &str = include_str!("../../ui/web/dais.js");
const STYLE: &str = include_str!("../../ui/web/dais.css");

async fn page(Path(_cid): Path<String>) -> Response {
    // The CID, link token and name travel in the URL; the page reads them.
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::HeaderName::from_static("permissions-policy"),
                "camera=(self), microphone=(self), display-capture=(self), autoplay=(self)",
            ),
        ],
        Html(INDEX),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, ty) = match file.as_str() {
        "dais.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "dais.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

// ---- one participant ----------------------------------------------------------

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    match serde_json::to_string(msg) {
        Ok(t) => socket.send(Message::Text(t.into())).await.is_ok(),
        Err(_) => false,
    }
}

fn error_msg(e: &ServerError) -> ServerMsg {
    let code = match e {
        ServerError::NotFound(_) => "not_found",
        ServerError::Invalid(_) => "bad_request",
        ServerError::Conflict(_) => "conflict",
        ServerError::Forbidden(_) | ServerError::Unauthorized(_) => "forbidden",
        ServerError::Roster(_) => "denied",
        ServerError::Store(_) => "internal",
        ServerError::PinLocked(_) => "slow_down",
    };
    ServerMsg::Error {
        code: code.into(),
        message: e.to_string(),
    }
}

fn state_of(m: &Member) -> (Standing, Option<&'static str>) {
    (
        m.place.standing(),
        m.place.wait_reason().map(WaitReason::name),
    )
}

/// Why a participant's connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// They said `leave`.
    Left,
    /// The socket closed or failed: they are taken out of the roster.
    Gone,
    /// The conference stopped or was deleted.
    Ended,
    /// A moderator removed them.
    Removed,
    /// Refused from the waiting room.
    Refused,
    /// The same identity joined on another connection.
    Replaced,
}

impl Exit {
    fn name(self) -> &'static str {
        match self {
            Exit::Left => "left",
            Exit::Gone => "gone",
            Exit::Ended => "ended",
            Exit::Removed => "removed",
            Exit::Refused => "refused",
            Exit::Replaced => "replaced",
        }
    }
}

pub fn roster_entry(m: &Member) -> RosterEntry {
    let (state, reason) = state_of(m);
    RosterEntry {
        id: m.id.clone(),
        display_name: m.display_name.clone(),
        role: m.role.name().to_string(),
        guest: m.guest,
        state,
        reason: reason.map(str::to_string),
        podium: m.podium,
        mic_muted: m.mic_muted,
        camera_off: m.camera_off,
        sharing: m.sharing,
    }
}

/// Who is joining, from the `join` message's credentials (`source`: the
/// peer's address, for the PIN guessing limits).
async fn identify(
    sfu: &Sfu,
    msg: &ClientMsg,
    source: Option<std::net::IpAddr>,
) -> Result<JoinRequest, ServerMsg> {
    let ClientMsg::Join {
        cid,
        display_name,
        pin,
        link_token,
        access_token,
        participant_id,
    } = msg
    else {
        return Err(ServerMsg::Refused {
            reason: "bad_request".into(),
            message: "the first message must be a join".into(),
        });
    };
    let server = sfu.server();
    let refuse = |reason: &str, message: String| ServerMsg::Refused {
        reason: reason.into(),
        message,
    };
    if let Some(token) = link_token {
        // A locked-out PIN is refused before the single-use link is spent.
        server
            .pin_gate(cid, pin.as_deref(), true, source)
            .map_err(|e| refuse("slow_down", e.to_string()))?;
        let link = server
            .redeem_link(cid, token)
            .await
            .map_err(|e| refuse("link", e.to_string()))?;
        return Ok(JoinRequest {
            id: format!("guest:{}", link.guest_id),
            display_name: display_name.clone().unwrap_or(link.display_name),
            guest: true,
            pin: pin.clone(),
            via_link: true,
        });
    }
    if let Some(token) = access_token {
        let principal = server
            .auth()
            .check(token, server.now())
            .map_err(|e| refuse("unauthorized", e.to_string()))?;
        return Ok(match principal {
            Principal::User {
                login,
                display_name: name,
            } => JoinRequest {
                id: login,
                display_name: display_name.clone().unwrap_or(name),
                guest: false,
                pin: pin.clone(),
                via_link: false,
            },
            Principal::Room { login } => JoinRequest {
                display_name: display_name.clone().unwrap_or_else(|| login.clone()),
                id: login,
                guest: false,
                pin: pin.clone(),
                via_link: false,
            },
            // An API client (another dais room, by federation) names the
            // participant it brings.
            Principal::Client { id } => {
                let pid = participant_id.clone().unwrap_or_else(|| id.clone());
                if pid.is_empty()
                    || pid.len() > 64
                    || !pid
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-@:".contains(c))
                {
                    return Err(refuse(
                        "bad_request",
                        "participantId: 1 to 64 letters, digits or . _ - @ :".into(),
                    ));
                }
                // Its own id, or ids under it: never a user's, the room's,
                // a guest's or another client's, whose place it would take.
                if server
                    .auth()
                    .id_of_another(&pid, &id, &server.config().room_login)
                {
                    return Err(refuse(
                        "forbidden",
                        format!(
                            "participantId {pid:?} belongs to someone else: API client {id} brings participants as {id} or {id}:<name>"
                        ),
                    ));
                }
                JoinRequest {
                    display_name: display_name.clone().unwrap_or_else(|| pid.clone()),
                    id: pid,
                    guest: false,
                    pin: pin.clone(),
                    via_link: false,
                }
            }
        });
    }
    let Some(name) = display_name.clone() else {
        return Err(refuse(
            "bad_request",
            "displayName: required to join as a guest".into(),
        ));
    };
    Ok(JoinRequest {
        id: format!("guest:{}", auth::random_hex(6)),
        display_name: name,
        guest: true,
        pin: pin.clone(),
        via_link: false,
    })
}

struct Conn {
    sfu: Sfu,
    key: u64,
    me: String,
    session: String,
    peer: Option<std::sync::Arc<Peer>>,
    /// The mode the peer was made for (full or listen-only).
    listen_only: bool,
    peer_rx: Option<mpsc::UnboundedReceiver<PeerEvent>>,
    /// Numbers the media sessions of this connection.
    generation: u32,
    roster_dirty: bool,
    /// Last state told to the participant.
    told: Option<(Standing, Option<&'static str>, String)>,
}

impl Conn {
    fn cid(&self) -> Option<String> {
        self.sfu.server().cid_of(self.key)
    }

    fn caller(&self) -> Caller {
        Caller::Session(self.session.clone())
    }

    fn member(&self) -> Option<(crate::conference::Conference, Member, Vec<Member>)> {
        let (conf, all) = self.sfu.server().snapshot(&self.cid()?)?;
        let me = all.iter().find(|m| m.id == self.me)?.clone();
        Some((conf, me, all))
    }

    /// The peer this member should have now: full when admitted,
    /// listen-only while held for the host with music on hold, none
    /// otherwise.
    fn sync_peer(&mut self) {
        let Some((conf, me, _)) = self.member() else {
            return;
        };
        let want = match me.place {
            Place::Admitted => Some(false),
            Place::Waiting(WaitReason::WaitingForHost) if conf.options.music_on_hold => Some(true),
            Place::Waiting(_) => None,
        };
        let Some(cid) = self.cid() else { return };
        match want {
            Some(listen_only) if self.peer.is_none() || self.listen_only != listen_only => {
                let (tx, rx) = mpsc::unbounded_channel();
                match self.sfu.attach(&cid, &self.me, listen_only, tx) {
                    Ok(p) => {
                        self.peer = Some(p);
                        self.peer_rx = Some(rx);
                        self.listen_only = listen_only;
                        self.generation += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, member = %self.me, "no media peer"),
                }
            }
            None if self.peer.is_some() => {
                self.sfu.detach(&cid, &self.me);
                self.peer = None;
                self.peer_rx = None;
            }
            _ => {}
        }
    }

    async fn send_roster(&mut self, socket: &mut WebSocket) -> bool {
        self.roster_dirty = false;
        let Some((_, me, all)) = self.member() else {
            return true;
        };
        let viewer = me.actor();
        let participants = visible(&all, viewer)
            .into_iter()
            .map(roster_entry)
            .collect();
        send(socket, &ServerMsg::Roster { participants }).await
    }

    /// Tells the participant its place and role when they changed.
    async fn send_state(&mut self, socket: &mut WebSocket) -> bool {
        let Some((_, me, _)) = self.member() else {
            return true;
        };
        let (state, reason) = state_of(&me);
        let now = (state, reason, me.role.name().to_string());
        if self.told.as_ref() == Some(&now) {
            return true;
        }
        let was_waiting = self.told.as_ref().is_some_and(|t| t.0 == Standing::Waiting);
        self.told = Some(now);
        let ok = send(
            socket,
            &ServerMsg::State {
                state,
                reason,
                role: me.role.name().to_string(),
                mic_muted: me.mic_muted,
                camera_off: me.camera_off,
            },
        )
        .await;
        if ok && was_waiting && state == Standing::Admitted {
            return self.send_history(socket).await;
        }
        ok
    }

    async fn send_history(&mut self, socket: &mut WebSocket) -> bool {
        let Some((conf, me, _)) = self.member() else {
            return true;
        };
        if me.waiting() || !may(&conf, &me, Right::ChatRcv) {
            return true;
        }
        let Some(cid) = self.cid() else { return true };
        match self.sfu.server().chat_history(&cid).await {
            Ok(messages) => send(socket, &ServerMsg::ChatHistory { messages }).await,
            Err(e) => send(socket, &error_msg(&e)).await,
        }
    }
}

fn may(conf: &crate::conference::Conference, m: &Member, right: Right) -> bool {
    crate::conference::rights::check(
        m.actor(),
        crate::conference::Action::Use(right),
        None,
        &conf.rights,
    )
    .is_ok()
}

/// What a member may see of the roster (the conference rules' view).
fn visible(all: &[Member], viewer: Actor) -> Vec<&Member> {
    if viewer.waiting {
        return Vec::new();
    }
    let see_waiting = viewer.role.manages_participants();
    all.iter().filter(|m| see_waiting || !m.waiting()).collect()
}

/// One participant's connection; `source` is its address, which the PIN
/// guessing limits count by.
async fn serve(mut socket: WebSocket, sfu: Sfu, source: Option<std::net::IpAddr>) {
    let server = sfu.server().clone();
    let mut events = server.subscribe();
    // 1. The join.
    let first = tokio::time::timeout(JOIN_WAIT, socket.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        Ok(Some(Ok(_))) => {
            let _ = send(
                &mut socket,
                &ServerMsg::Refused {
                    reason: "bad_request".into(),
                    message: "messages are JSON text frames".into(),
                },
            )
            .await;
            return;
        }
        Err(_) => {
            let _ = send(
                &mut socket,
                &ServerMsg::Refused {
                    reason: "timeout".into(),
                    message: format!("no join within {} s", JOIN_WAIT.as_secs()),
                },
            )
            .await;
            return;
        }
        _ => return,
    };
    let msg = match signal::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            let _ = send(
                &mut socket,
                &ServerMsg::Refused {
                    reason: "bad_request".into(),
                    message: e.0,
                },
            )
            .await;
            return;
        }
    };
    let req = match identify(&sfu, &msg, source).await {
        Ok(r) => r,
        Err(refusal) => {
            let _ = send(&mut socket, &refusal).await;
            return;
        }
    };
    let ClientMsg::Join { cid, .. } = &msg else {
        return;
    };
    let out = match server.join(cid, req, source) {
        Ok(o) => o,
        Err(e) => {
            let reason = match &e {
                ServerError::NotFound(_) => "not_found",
                ServerError::PinLocked(_) => "slow_down",
                _ => "refused",
            };
            let _ = send(
                &mut socket,
                &ServerMsg::Refused {
                    reason: reason.into(),
                    message: e.to_string(),
                },
            )
            .await;
            return;
        }
    };
    let (member, session) = match (&out.decision, out.member, out.session) {
        (JoinDecision::Refused(r), _, _) => {
            let _ = send(
                &mut socket,
                &ServerMsg::Refused {
                    reason: r.code().into(),
                    message: r.to_string(),
                },
            )
            .await;
            return;
        }
        (_, Some(m), Some(s)) => (m, s),
        _ => return,
    };
    let Some(key) = server.key_of(cid) else {
        return;
    };
    let Some((conf, _)) = server.snapshot(cid) else {
        return;
    };
    tracing::info!(conference = %cid, member = %member.id, "participant connected");
    let (state, reason) = state_of(&member);
    let mut conn = Conn {
        sfu: sfu.clone(),
        key,
        me: member.id.clone(),
        session,
        peer: None,
        listen_only: false,
        peer_rx: None,
        generation: 0,
        roster_dirty: false,
        told: Some((state, reason, member.role.name().to_string())),
    };
    let joined = ServerMsg::Joined {
        participant_id: member.id.clone(),
        role: member.role.name().to_string(),
        state,
        reason,
        conference: ConferenceInfo {
            cid: conf.id.to_string(),
            topic: conf.topic.clone(),
            mode: conf.mode.v4().to_string(),
            max_podiums: conf.max_podiums,
            max_participants: conf.max_participants,
        },
        mic_muted: member.mic_muted,
        camera_off: member.camera_off,
    };
    if !send(&mut socket, &joined).await || !conn.send_roster(&mut socket).await {
        leave(&conn);
        return;
    }
    if state == Standing::Admitted && !conn.send_history(&mut socket).await {
        leave(&conn);
        return;
    }
    conn.sync_peer();

    // 2. The conversation.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let reason = loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    match client_message(&mut conn, &mut socket, &t).await {
                        Ok(true) => {}
                        Ok(false) => break Exit::Left,
                        Err(()) => break Exit::Gone,
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Exit::Gone,
                Some(Ok(_)) => {}
            },
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if let Some(end) = server_event(&mut conn, &mut socket, ev).await {
                        break end;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => conn.roster_dirty = true,
                Err(_) => break Exit::Gone,
            },
            pe = async {
                match conn.peer_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let peer = conn.generation;
                let msg = match pe {
                    Some(PeerEvent::Signal(Signal::Offer { sdp })) => Some(ServerMsg::Offer { sdp, peer }),
                    Some(PeerEvent::Signal(Signal::Candidate { mline, candidate })) => {
                        Some(ServerMsg::Candidate { mline, candidate, peer })
                    }
                    Some(PeerEvent::Tracks(tracks)) => Some(ServerMsg::Tracks { tracks }),
                    Some(PeerEvent::Failed(e)) => Some(ServerMsg::Error { code: "media_failed".into(), message: e }),
                    Some(PeerEvent::Connected) | Some(PeerEvent::Signal(Signal::Answer { .. })) => None,
                    None => {
                        conn.peer_rx = None;
                        None
                    }
                };
                if let Some(m) = msg && !send(&mut socket, &m).await {
                    break Exit::Gone;
                }
            },
            _ = tick.tick() => {
                if conn.roster_dirty && !conn.send_roster(&mut socket).await {
                    break Exit::Gone;
                }
            }
        }
    };
    tracing::info!(member = %conn.me, reason = reason.name(), "participant disconnected");
    if matches!(reason, Exit::Gone | Exit::Left) {
        leave(&conn);
    } else if let Some(cid) = conn.cid() {
        sfu.detach(&cid, &conn.me);
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn leave(conn: &Conn) {
    let Some(cid) = conn.cid() else { return };
    conn.sfu.detach(&cid, &conn.me);
    let _ = conn
        .sfu
        .server()
        .moderate(&conn.caller(), &cid, Moderation::Remove(conn.me.clone()));
}

/// Handles one message. `Ok(false)`: the participant left.
async fn client_message(conn: &mut Conn, socket: &mut WebSocket, text: &str) -> Result<bool, ()> {
    let msg = match signal::parse(text) {
        Ok(m) => m,
        Err(e) => {
            let ok = send(
                socket,
                &ServerMsg::Error {
                    code: "bad_request".into(),
                    message: e.0,
                },
            )
            .await;
            return if ok { Ok(true) } else { Err(()) };
        }
    };
    let Some(cid) = conn.cid() else {
        return Ok(false);
    };
    let server = conn.sfu.server().clone();
    let moderate = |step: Moderation| server.moderate(&conn.caller(), &cid, step);
    let result: Result<Option<ServerMsg>, ServerError> = match msg {
        ClientMsg::Join { .. } => Ok(Some(ServerMsg::Error {
            code: "conflict".into(),
            message: "already joined; open a new connection to join again".into(),
        })),
        ClientMsg::Answer { sdp } => Ok(match &conn.peer {
            Some(p) => p
                .handle(Signal::Answer { sdp })
                .err()
                .map(|e| ServerMsg::Error {
                    code: "bad_request".into(),
                    message: format!("sdp: {e}"),
                }),
            None => Some(ServerMsg::Error {
                code: "conflict".into(),
                message: "no media session: the participant is waiting".into(),
            }),
        }),
        ClientMsg::Candidate { mline, candidate } => {
            if let Some(p) = &conn.peer {
                let _ = p.handle(Signal::Candidate { mline, candidate });
            }
            Ok(None)
        }
        ClientMsg::Media {
            mic_muted,
            camera_off,
        } => moderate(Moderation::Media {
            id: conn.me.clone(),
            mic_muted,
            camera_off,
        })
        .map(|_| None),
        ClientMsg::Share { on } => server.sharing(&cid, &conn.me, on).map(|_| None),
        ClientMsg::Chat { text } => server.chat_post(&cid, &conn.me, &text).await.map(|_| None),
        ClientMsg::Admit { id } => moderate(Moderation::Admit(id)).map(|_| None),
        ClientMsg::AdmitAll => moderate(Moderation::AdmitAll).map(|_| None),
        ClientMsg::Reject { id } => moderate(Moderation::Reject(id)).map(|_| None),
        ClientMsg::ToWaitingRoom { id } => moderate(Moderation::ToWaitingRoom(id)).map(|_| None),
        ClientMsg::Podium { id, on } => moderate(Moderation::Podium(id, on)).map(|_| None),
        ClientMsg::Remove { id } => moderate(Moderation::Remove(id)).map(|_| None),
        ClientMsg::Mute { id, mic, camera } => moderate(Moderation::Media {
            id,
            mic_muted: mic.then_some(true),
            camera_off: camera.then_some(true),
        })
        .map(|_| None),
        ClientMsg::Refresh => {
            conn.sfu.refresh(&cid, &conn.me);
            Ok(None)
        }
        ClientMsg::Leave => {
            leave(conn);
            let _ = send(
                socket,
                &ServerMsg::Ended {
                    reason: EndReason::Left,
                    message: "you left the conference".into(),
                },
            )
            .await;
            return Ok(false);
        }
        ClientMsg::Ping => Ok(Some(ServerMsg::Pong)),
    };
    let reply = match result {
        Ok(r) => r,
        Err(e) => Some(error_msg(&e)),
    };
    match reply {
        Some(r) if !send(socket, &r).await => Err(()),
        _ => Ok(true),
    }
}

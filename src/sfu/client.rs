//! The room as a conference participant: the client end of the
//! signalling protocol, driving a WebRTC session in the room pipeline.
//!
//! The room joins every conference this way, on its own server (over
//! loopback, with a token for the room) or on another dais appliance
//! (federation, with the API client credentials `[conference.servers]`
//! holds for it), so both paths are the one a browser takes.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::signal::{Announced, ClientMsg, EndReason};
use crate::conference::Standing;
use crate::config::VideoCodec;
use crate::media::MediaHandle;
use crate::media::webrtc::{Session, SessionEvent, SessionOptions, Signal};
use crate::server::persist::ChatMessage;

/// How long connecting and joining may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("{host} refused the sign-in: {reason}")]
    SignIn { host: String, reason: String },
    #[error("the conference refused the room: {message} ({reason})")]
    Refused { reason: String, message: String },
    #[error("{0}")]
    Protocol(String),
}

/// Who the room is on the server it joins.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// An OAuth access token (the room's own server, or another dais's API
    /// client), with the participant id to use.
    Token {
        access_token: String,
        participant_id: Option<String>,
    },
    /// A guest link's token.
    Link(String),
}

/// Where and how to join.
#[derive(Debug, Clone)]
pub struct Target {
    /// `ws://host:port/webrtc/signalling/ws`, or `wss://`.
    pub url: String,
    /// How a `wss://` server is trusted; `None`: the system's trust store.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub cid: String,
    pub credentials: Credentials,
    pub display_name: String,
    pub pin: Option<String>,
}

/// A participant as the server lists them (the protocol's roster entry).
pub type Participant = super::signal::RosterEntry;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Track {
    mid: String,
    kind: String,
    participant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConferenceInfo {
    cid: String,
    topic: String,
    mode: String,
}

/// What the server sends, as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Incoming {
    #[serde(rename_all = "camelCase")]
    Joined {
        participant_id: String,
        role: String,
        state: Standing,
        reason: Option<String>,
        conference: ConferenceInfo,
        mic_muted: bool,
        camera_off: bool,
    },
    Refused {
        reason: String,
        message: String,
    },
    #[serde(rename_all = "camelCase")]
    State {
        state: Standing,
        reason: Option<String>,
        role: String,
        mic_muted: bool,
        camera_off: bool,
    },
    Offer {
        sdp: String,
        peer: u32,
    },
    Candidate {
        mline: u32,
        candidate: String,
        peer: u32,
    },
    Roster {
        participants: Vec<Participant>,
    },
    Tracks {
        tracks: Vec<Track>,
    },
    Chat {
        message: ChatMessage,
    },
    ChatHistory {
        messages: Vec<ChatMessage>,
    },
    #[serde(rename_all = "camelCase")]
    Announce {
        event: Announced,
        id: String,
        display_name: String,
    },
    Ended {
        reason: EndReason,
        message: String,
    },
    Error {
        code: String,
        message: String,
    },
    Pong,
}

/// What happens in the call, for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    State {
        state: Standing,
        reason: Option<String>,
        role: String,
        mic_muted: bool,
        camera_off: bool,
    },
    Roster(Vec<Participant>),
    Chat(Vec<ChatMessage>),
    Ended {
        reason: EndReason,
        message: String,
    },
    /// A request failed, or the media did.
    Problem(String),
}

/// The answer to a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub cid: String,
    pub topic: String,
    pub mode: String,
    pub participant_id: String,
    pub role: String,
    pub state: Standing,
    pub reason: Option<String>,
    pub mic_muted: bool,
    pub camera_off: bool,
}

/// How the room sends media in conferences.
#[derive(Debug, Clone)]
pub struct MediaShape {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    /// Step the sent picture down while the encoder cannot keep up.
    pub adapt_size: bool,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

enum Cmd {
    Send(ClientMsg),
    Share(Option<gst::Element>),
    /// Leave, and say so once the server has taken the room off the roster.
    Leave(tokio::sync::oneshot::Sender<()>),
}

/// A running call. Dropping it leaves.
pub struct Call {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Call {
    pub fn send(&self, msg: ClientMsg) {
        let _ = self.tx.send(Cmd::Send(msg));
    }

    /// Sends content from `tee` (or stops).
    pub fn share(&self, tee: Option<gst::Element>) {
        let on = tee.is_some();
        let _ = self.tx.send(Cmd::Share(tee));
        self.send(ClientMsg::Share { on });
    }

    /// Leaves the conference; resolves once the server has confirmed (or
    /// the connection is gone, or [`LEAVE_TIMEOUT`] passed), so that the
    /// roster no longer lists the room when the caller goes on.
    pub async fn leave(self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Cmd::Leave(tx)).is_ok() {
            let _ = tokio::time::timeout(LEAVE_TIMEOUT, rx).await;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, joins and waits for the answer; the call then runs in the
/// background, reporting on `events`.
pub async fn join(
    target: Target,
    media: Option<MediaHandle>,
    shape: MediaShape,
    events: mpsc::Sender<CallEvent>,
) -> Result<(Call, Joined), ClientError> {
    let host = target
        .url
        .split('/')
        .nth(2)
        .unwrap_or(&target.url)
        .to_string();
    let connector = if target.url.starts_with("wss:") {
        tokio_tungstenite::Connector::Rustls(
            target.tls.clone().unwrap_or_else(crate::outbound::tls),
        )
    } else {
        tokio_tungstenite::Connector::Plain
    };
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        target.url.as_str(),
        None,
        false,
        Some(connector),
    );
    let (mut ws, _) = tokio::time::timeout(JOIN_TIMEOUT, connect)
        .await
        .map_err(|_| ClientError::Unreachable {
            host: host.clone(),
            reason: "timed out".into(),
        })?
        .map_err(|e| ClientError::Unreachable {
            host: host.clone(),
            reason: e.to_string(),
        })?;
    let (access_token, participant_id, link_token) = match &target.credentials {
        Credentials::Token {
            access_token,
            participant_id,
        } => (Some(access_token.clone()), participant_id.clone(), None),
        Credentials::Link(t) => (None, None, Some(t.clone())),
    };
    let join = ClientMsg::Join {
        cid: target.cid.clone(),
        display_name: Some(target.display_name.clone()),
        pin: target.pin.clone(),
        link_token,
        access_token,
        participant_id,
    };
    send(&mut ws, &join)
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let answer = tokio::time::timeout(JOIN_TIMEOUT, next(&mut ws))
        .await
        .map_err(|_| ClientError::Protocol("no answer to the join".into()))??;
    let joined = match answer {
        Incoming::Joined {
            participant_id,
            role,
            state,
            reason,
            conference,
            mic_muted,
            camera_off,
        } => Joined {
            cid: conference.cid,
            topic: conference.topic,
            mode: conference.mode,
            participant_id,
            role,
            state,
            reason,
            mic_muted,
            camera_off,
        },
        Incoming::Refused { reason, message } => {
            return Err(ClientError::Refused { reason, message });
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "expected joined or refused, got {other:?}"
            )));
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(ws, rx, media, shape, events));
    Ok((Call { tx }, joined))
}

async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let text = serde_json::to_string(msg).unwrap_or_default();
    ws.send(Message::Text(text.into())).await
}

async fn next(ws: &mut Ws) -> Result<Incoming, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return parse(&t),
            Some(Ok(Message::Close(_))) | None => {
                return Err(ClientError::Protocol(
                    "the server closed the connection".into(),
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ClientError::Protocol(e.to_string())),
        }
    }
}

fn parse(text: &str) -> Result<Incoming, ClientError> {
    serde_json::from_str(text)
        .map_err(|e| ClientError::Protocol(format!("unreadable message from the server: {e}")))
}

struct Media {
    handle: MediaHandle,
    shape: MediaShape,
    session: Option<(u32, Session, mpsc::UnboundedReceiver<SessionEvent>)>,
    sharing: Option<gst::Element>,
}

impl Media {
    /// The session for peer generation `peer` (a new one replaces the old).
    fn session(&mut self, peer: u32) -> Option<&Session> {
        if self.session.as_ref().is_some_and(|(p, _, _)| *p != peer)
            && let Some((_, s, _)) = self.session.take()
        {
            s.close();
        }
        if self.session.is_none() {
            let opts = SessionOptions {
                id: format!("conf{peer}"),
                send_video: true,
                send_audio: true,
                // The conference server forwards VP8.
                codec: VideoCodec::Vp8,
                width: self.shape.width,
                height: self.shape.height,
                framerate: self.shape.framerate,
                adapt_size: self.shape.adapt_size,
                video_kbps: self.shape.video_kbps,
                audio_kbps: self.shape.audio_kbps,
                offerer: false,
                content: true,
                audio_level: true,
            };
            match self.handle.session(opts) {
                Ok((s, rx)) => {
                    if let Some(tee) = &self.sharing {
                        let _ = s.share(Some(tee));
                    }
                    self.session = Some((peer, s, rx));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "conference: no media session");
                    return None;
                }
            }
        }
        self.session.as_ref().map(|(_, s, _)| s)
    }

    fn close(&mut self) {
        if let Some((_, s, _)) = self.session.take() {
            s.close();
        }
    }
}

async fn run(
    mut ws: Ws,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    media: Option<MediaHandle>,
    shape: MediaShape,
    events: mpsc::Sender<CallEvent>,
) {
    let mut media = media.map(|handle| Media {
        handle,
        shape,
        session: None,
        sharing: None,
    });
    let mut chat: Vec<ChatMessage> = Vec::new();
    let mut offered_at: Option<std::time::Instant> = None;
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    let mut left = None;
    let end = loop {
        tokio::select! {
            m = ws.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break CallEvent::Ended {
                        reason: EndReason::Disconnected,
                        message: "the conference server closed the connection".into(),
                    },
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break CallEvent::Ended {
                        reason: EndReason::Disconnected,
                        message: e.to_string(),
                    },
                };
                let msg = match parse(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = events.send(CallEvent::Problem(e.to_string())).await;
                        continue;
                    }
                };
                match msg {
                    Incoming::Offer { sdp, peer } => {
                        // Where a join's time goes on a slow machine: the
                        // session's build, then the answer (logged when sent).
                        let t0 = std::time::Instant::now();
                        tracing::info!(peer, mlines = sdp.matches("\nm=").count(), "conference: offer received");
                        offered_at = Some(t0);
                        if let Some(s) = media.as_mut().and_then(|m| m.session(peer)) {
                            tracing::info!(peer, build_ms = t0.elapsed().as_millis() as u64, "conference: media session ready for the offer");
                            if let Err(e) = s.handle(Signal::Offer { sdp }) {
                                let _ = events.send(CallEvent::Problem(e.to_string())).await;
                            }
                        }
                    }
                    Incoming::Candidate { mline, candidate, peer } => {
                        if let Some(m) = media.as_mut()
                            && let Some((p, s, _)) = &m.session
                            && *p == peer
                        {
                            let _ = s.handle(Signal::Candidate { mline, candidate });
                        }
                    }
                    Incoming::Tracks { tracks } => {
                        tracing::debug!(?tracks, "conference tracks");
                        if let Some(m) = &media
                            && let Some((_, s, _)) = &m.session
                        {
                            let map: HashMap<String, (bool, bool)> = tracks
                                .iter()
                                .filter(|t| t.kind == "video" || t.kind == "content")
                                .map(|t| (t.mid.clone(), (t.participant.is_some(), t.kind == "content")))
                                .collect();
                            s.set_tracks(&map);
                        }
                    }
                    Incoming::State { state, reason, role, mic_muted, camera_off } => {
                        if state == Standing::Waiting
                            && let Some(m) = media.as_mut()
                        {
                            m.close();
                        }
                        let _ = events.send(CallEvent::State { state, reason, role, mic_muted, camera_off }).await;
                    }
                    Incoming::Roster { participants } => {
                        let _ = events.send(CallEvent::Roster(participants)).await;
                    }
                    Incoming::ChatHistory { messages } => {
                        chat = messages;
                        let _ = events.send(CallEvent::Chat(chat.clone())).await;
                    }
                    Incoming::Chat { message } => {
                        chat.push(message);
                        let from = chat.len().saturating_sub(50);
                        chat.drain(..from);
                        let _ = events.send(CallEvent::Chat(chat.clone())).await;
                    }
                    Incoming::Ended { reason, message } => break CallEvent::Ended { reason, message },
                    Incoming::Error { code, message } => {
                        let _ = events.send(CallEvent::Problem(format!("{code}: {message}"))).await;
                    }
                    Incoming::Joined { .. } | Incoming::Refused { .. } | Incoming::Announce { .. } | Incoming::Pong => {}
                }
            }
            ev = async {
                match media.as_mut().and_then(|m| m.session.as_mut()) {
                    Some((p, _, rx)) => (*p, rx.recv().await),
                    None => std::future::pending().await,
                }
            } => {
                let (peer, ev) = ev;
                let msg = match ev {
                    Some(SessionEvent::Signal(Signal::Answer { sdp })) => {
                        tracing::info!(
                            peer,
                            after_offer_ms = offered_at.take().map(|t| t.elapsed().as_millis() as u64),
                            "conference: answer sent"
                        );
                        Some(ClientMsg::Answer { sdp })
                    }
                    Some(SessionEvent::Signal(Signal::Candidate { mline, candidate })) => {
                        Some(ClientMsg::Candidate { mline, candidate })
                    }
                    Some(SessionEvent::Failed(e)) => {
                        let _ = events.send(CallEvent::Problem(format!("media: {e}"))).await;
                        None
                    }
                    Some(_) => None,
                    None => {
                        if let Some(m) = media.as_mut()
                            && m.session.as_ref().is_some_and(|(p, _, _)| *p == peer)
                        {
                            m.session = None;
                        }
                        None
                    }
                };
                if let Some(msg) = msg && send(&mut ws, &msg).await.is_err() {
                    break CallEvent::Ended { reason: EndReason::Disconnected, message: "lost the conference server".into() };
                }
            }
            c = cmds.recv() => match c {
                Some(Cmd::Send(msg)) => {
                    let leaving = msg == ClientMsg::Leave;
                    if send(&mut ws, &msg).await.is_err() || leaving {
                        break CallEvent::Ended { reason: EndReason::Left, message: "the room left the conference".into() };
                    }
                }
                Some(Cmd::Leave(done)) => {
                    if send(&mut ws, &ClientMsg::Leave).await.is_ok() {
                        // The server answers `ended` after it has let go.
                        let _ = tokio::time::timeout(LEAVE_TIMEOUT, async {
                            while let Some(Ok(m)) = ws.next().await {
                                if let Message::Text(t) = m
                                    && matches!(parse(&t), Ok(Incoming::Ended { .. }))
                                {
                                    break;
                                }
                            }
                        })
                        .await;
                    }
                    left = Some(done);
                    break CallEvent::Ended { reason: EndReason::Left, message: "the room left the conference".into() };
                }
                Some(Cmd::Share(tee)) => {
                    if let Some(m) = media.as_mut() {
                        if let Some((_, s, _)) = &m.session
                            && let Err(e) = s.share(tee.as_ref())
                        {
                            let _ = events.send(CallEvent::Problem(e.to_string())).await;
                        }
                        m.sharing = tee;
                    }
                }
                // The app dropped the call: leave.
                None => {
                    let _ = send(&mut ws, &ClientMsg::Leave).await;
                    break CallEvent::Ended { reason: EndReason::Left, message: "the room left the conference".into() };
                }
            },
            _ = ping.tick() => {
                if send(&mut ws, &ClientMsg::Ping).await.is_err() {
                    break CallEvent::Ended { reason: EndReason::Disconnected, message: "lost the conference server".into() };
                }
            }
        }
    };
    if let Some(m) = media.as_mut() {
        m.close();
    }
    let _ = ws.close(None).await;
    if let Some(done) = left {
        let _ = done.send(());
    }
    let _ = events.send(end).await;
}

/// Gets an access token from another dais (OAuth client credentials).
/// `base`: its API's base URL (`http://host:port`, `https://host`).
pub async fn sign_in(
    base: &str,
    trust: &crate::outbound::Trust,
    client_id: &str,
    client_secret: &str,
) -> Result<String, ClientError> {
    let host = host_of(base);
    let sign_in = |reason: String| ClientError::SignIn {
        host: host.to_string(),
        reason,
    };
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ])
    .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let request = outbound(trust)?
        .post(format!("{base}/oauth2/v1/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    let answer = fetch(base, request).await?;
    let status = answer.status;
    let v = answer
        .json()
        .ok_or_else(|| sign_in(format!("HTTP {status} without a JSON body")))?;
    if status != 200 {
        return Err(sign_in(
            v["error_description"]
                .as_str()
                .or(v["error"].as_str())
                // dais's own errors, such as 421 for a name it does not
                // answer to, carry `{"error": {"message"}}`.
                .or(v["error"]["message"].as_str())
                .unwrap_or("refused")
                .to_string(),
        ));
    }
    v["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| sign_in("no access_token in the answer".into()))
}

/// Places a call to `peer` on another dais (API base URL `base`): a
/// running conference of two there ("all on screen", ended when both have
/// left) with `peer` invited, so their endpoint rings. Returns its CID for
/// the room to join.
pub async fn place_call(
    base: &str,
    trust: &crate::outbound::Trust,
    access_token: &str,
    owner: &str,
    peer: &str,
    topic: &str,
) -> Result<String, ClientError> {
    let host = host_of(base);
    let body = serde_json::json!({
        "topic": topic,
        "owner": owner,
        "type": 0,
        "max_participants": 2,
        "schedule": {"type": -1},
        "invitations": [{"id": peer, "display_name": peer}],
        "auto_invite": 1,
        "auto_termination_enabled": true,
        "state": "running",
    });
    let request = outbound(trust)?
        .post(format!("{base}/api/v3.11/conferences"))
        .bearer_auth(access_token)
        .header("content-type", "application/json")
        .body(body.to_string());
    let answer = fetch(base, request).await?;
    let status = answer.status;
    let v = answer.json();
    let refused = |v: Option<&serde_json::Value>| ClientError::Refused {
        reason: if status == 404 {
            "not_found"
        } else {
            "refused"
        }
        .into(),
        message: format!(
            "{host} would not place the call to {peer}: {}",
            v.and_then(|v| v["error"]["message"].as_str().or(v["message"].as_str()))
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}"))
        ),
    };
    if !(200..300).contains(&status) {
        return Err(refused(v.as_ref()));
    }
    v.as_ref()
        .and_then(|v| v["conference"]["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| refused(v.as_ref()))
}

/// `host[:port]` of a base URL, for messages.
fn host_of(base: &str) -> &str {
    base.split_once("://").map_or(base, |(_, h)| h)
}

fn outbound(trust: &crate::outbound::Trust) -> Result<reqwest::Client, ClientError> {
    crate::outbound::http_for(trust).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Sends a request to another dais (at `base`) and reads its answer.
async fn fetch(
    base: &str,
    request: reqwest::RequestBuilder,
) -> Result<crate::outbound::Answer, ClientError> {
    crate::outbound::send(request)
        .await
        .map_err(|e| ClientError::Unreachable {
            host: host_of(base).to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::signal::{ConferenceInfo as Info, ServerMsg, TrackInfo};

    /// What the server writes, the client reads: the two ends of the
    /// documented protocol agree.
    #[test]
    fn the_client_reads_what_the_server_writes() {
        let msgs = vec![
            ServerMsg::Joined {
                participant_id: "room".into(),
                role: "owner".into(),
                state: Standing::Admitted,
                reason: None,
                conference: Info {
                    cid: "1".into(),
                    topic: "t".into(),
                    mode: "PxP".into(),
                    max_podiums: 4,
                    max_participants: 25,
                },
                mic_muted: false,
                camera_off: false,
            },
            ServerMsg::Offer {
                sdp: "v=0".into(),
                peer: 2,
            },
            ServerMsg::Candidate {
                mline: 0,
                candidate: "candidate:1".into(),
                peer: 2,
            },
            ServerMsg::Tracks {
                tracks: vec![TrackInfo {
                    mid: "video3".into(),
                    kind: "video",
                    participant: None,
                    display_name: None,
                }],
            },
            ServerMsg::State {
                state: Standing::Waiting,
                reason: Some("waiting_room"),
                role: "participant".into(),
                mic_muted: true,
                camera_off: false,
            },
            ServerMsg::Ended {
                reason: EndReason::Removed,
                message: "m".into(),
            },
            ServerMsg::Pong,
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        assert!(parse("{\"type\":\"nope\"}").is_err());
    }
}

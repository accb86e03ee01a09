//! The participants' signalling protocol (`docs/signalling.md`): JSON
//! messages over a WebSocket, one object per frame, `type` naming each.
//! Parsing is sans-IO; every refusal names the field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conference::{Refusal, Standing};
use crate::server::persist::ChatMessage;

/// What a participant sends.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientMsg {
    /// The first message: which conference, as whom.
    #[serde(rename_all = "camelCase")]
    Join {
        cid: String,
        /// Shown to the others. Required for guests without a link.
        #[serde(default)]
        display_name: Option<String>,
        #[serde(default)]
        pin: Option<String>,
        /// A guest link's token (`software/clients`, single use).
        #[serde(default)]
        link_token: Option<String>,
        /// An OAuth access token of a user or API client of this server.
        #[serde(default)]
        access_token: Option<String>,
        /// With an API client's token: the participant id to use (another
        /// dais room joining by federation names itself).
        #[serde(default)]
        participant_id: Option<String>,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        mline: u32,
        candidate: String,
    },
    /// Own microphone / camera state.
    #[serde(rename_all = "camelCase")]
    Media {
        #[serde(default)]
        mic_muted: Option<bool>,
        #[serde(default)]
        camera_off: Option<bool>,
    },
    /// Start or stop sharing content (the track goes in the content m-line).
    Share {
        on: bool,
    },
    Chat {
        text: String,
    },
    /// Moderator actions.
    Admit {
        id: String,
    },
    AdmitAll,
    Reject {
        id: String,
    },
    ToWaitingRoom {
        id: String,
    },
    Podium {
        id: String,
        on: bool,
    },
    Remove {
        id: String,
    },
    /// Mute another participant (moderators may mute, never unmute).
    #[serde(rename_all = "camelCase")]
    Mute {
        id: String,
        #[serde(default)]
        mic: bool,
        #[serde(default)]
        camera: bool,
    },
    /// Ask for a keyframe on every received video (the page was hidden).
    Refresh,
    Leave,
    Ping,
}

/// The longest message the server reads, in bytes (an SDP with many
/// m-lines and candidates stays well below).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignalError(pub String);

/// Parses one client message.
pub fn parse(text: &str) -> Result<ClientMsg, SignalError> {
    if text.len() > MAX_MESSAGE {
        return Err(SignalError(format!(
            "message: at most {MAX_MESSAGE} bytes, got {}",
            text.len()
        )));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        SignalError(format!(
            "not valid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(obj) = &v else {
        return Err(SignalError(
            "a message must be a JSON object with a \"type\"".into(),
        ));
    };
    match obj.get("type") {
        None => return Err(SignalError("type: missing".into())),
        Some(Value::String(_)) => {}
        Some(_) => return Err(SignalError("type: expected a string".into())),
    }
    // Which field has the wrong type is worked out before the value is
    // consumed (no copy of a large SDP on the good path).
    let wrong_type = mistyped(obj);
    let msg: ClientMsg = serde_json::from_value(v).map_err(|e| {
        let m = e.to_string();
        if let Some(rest) = m.strip_prefix("unknown variant ") {
            SignalError(format!("type: unknown message type {rest}"))
        } else if let Some(rest) = m.strip_prefix("unknown field ") {
            SignalError(format!("unknown field {rest}"))
        } else if let Some(rest) = m.strip_prefix("missing field ") {
            SignalError(format!("missing field {rest}"))
        } else if let Some(field) = wrong_type {
            SignalError(field)
        } else {
            SignalError(m)
        }
    })?;
    check(&msg)?;
    Ok(msg)
}

/// Names the first field whose JSON type is wrong (serde's own message
/// for an internally tagged enum does not say which).
fn mistyped(obj: &serde_json::Map<String, Value>) -> Option<String> {
    obj.iter().find_map(|(k, v)| {
        let expected = match k.as_str() {
            "cid" | "displayName" | "pin" | "linkToken" | "accessToken" | "participantId"
            | "sdp" | "candidate" | "text" | "id" => "a string",
            "micMuted" | "cameraOff" | "on" | "mic" | "camera" => "true or false",
            "mline" => "a whole number",
            _ => return None,
        };
        let ok = match expected {
            "a string" => v.is_string() || (v.is_null() && k != "id" && k != "text"),
            "true or false" => v.is_boolean() || v.is_null(),
            _ => v.as_u64().is_some_and(|n| n <= u32::MAX as u64),
        };
        (!ok).then(|| format!("{k}: expected {expected}"))
    })
}

fn check(msg: &ClientMsg) -> Result<(), SignalError> {
    let field = |name: &str, what: &str| Err(SignalError(format!("{name}: {what}")));
    match msg {
        ClientMsg::Join {
            cid,
            display_name,
            pin,
            ..
        } => {
            if cid.is_empty() || cid.len() > 128 {
                return field("cid", "1 to 128 characters");
            }
            if let Some(n) = display_name
                && (n.trim().is_empty() || n.chars().count() > 64)
            {
                return field("displayName", "1 to 64 characters");
            }
            if let Some(p) = pin
                && (p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return field("pin", "up to 20 digits");
            }
        }
        ClientMsg::Candidate { candidate, .. } if candidate.len() > 1024 => {
            return field("candidate", "at most 1024 characters");
        }
        _ => {}
    }
    Ok(())
}

/// A participant as others see them: what the server sends in `roster`,
/// and what a client (the room joining a conference) reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RosterEntry {
    pub id: String,
    pub display_name: String,
    pub role: String,
    pub guest: bool,
    pub state: Standing,
    /// Why a waiting participant waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub podium: bool,
    pub mic_muted: bool,
    pub camera_off: bool,
    pub sharing: bool,
}

/// Which participant a received track shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub mid: String,
    /// `audio`, `video` or `content`; `server` for tones and music.
    pub kind: &'static str,
    pub participant: Option<String>,
    pub display_name: Option<String>,
}

/// The conference as a participant needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConferenceInfo {
    pub cid: String,
    pub topic: String,
    /// The v4 mode: `PxP`, `OxP`, `S|L`, `S|L Auto`.
    pub mode: String,
    pub max_podiums: u32,
    pub max_participants: u32,
}

/// What an `announce` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Announced {
    Joined,
    Left,
}

/// Why a participant's time in a conference is over: `ended`'s `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// They left (or the room did).
    Left,
    /// A moderator removed them.
    Removed,
    /// The conference stopped or was deleted.
    ConferenceEnded,
    /// Refused from the waiting room (the owner declined, say).
    Refused(Refusal),
    /// The connection to the conference server was lost (the client's
    /// own reading; never sent).
    Disconnected,
    /// A reason this version does not know; the message says it.
    Other,
}

impl EndReason {
    pub fn code(self) -> &'static str {
        match self {
            EndReason::Left => "left",
            EndReason::Removed => "removed",
            EndReason::ConferenceEnded => "conference_ended",
            EndReason::Refused(r) => r.code(),
            EndReason::Disconnected => "disconnected",
            EndReason::Other => "other",
        }
    }

    /// Reads a code; one this version does not know is [`EndReason::Other`].
    pub fn from_code(code: &str) -> EndReason {
        match code {
            "left" => EndReason::Left,
            "removed" => EndReason::Removed,
            "conference_ended" => EndReason::ConferenceEnded,
            "disconnected" => EndReason::Disconnected,
            c => Refusal::from_code(c).map_or(EndReason::Other, EndReason::Refused),
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for EndReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for EndReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Ok(EndReason::from_code(&code))
    }
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMsg {
    #[serde(rename_all = "camelCase")]
    Joined {
        participant_id: String,
        role: String,
        state: Standing,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
        conference: ConferenceInfo,
        mic_muted: bool,
        camera_off: bool,
    },
    /// The join was refused; the connection closes after this.
    Refused {
        reason: String,
        message: String,
    },
    /// Admitted from waiting, or sent back to the waiting room.
    #[serde(rename_all = "camelCase")]
    State {
        state: Standing,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
        role: String,
        mic_muted: bool,
        camera_off: bool,
    },
    /// `peer` numbers the media session: a new number means a new
    /// peer connection (after the waiting room, say); answers and
    /// candidates always go to the newest.
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
        participants: Vec<RosterEntry>,
    },
    Tracks {
        tracks: Vec<TrackInfo>,
    },
    Chat {
        message: ChatMessage,
    },
    ChatHistory {
        messages: Vec<ChatMessage>,
    },
    /// Someone joined or left (the tone plays when the conference asks).
    #[serde(rename_all = "camelCase")]
    Announce {
        event: Announced,
        id: String,
        display_name: String,
    },
    /// The participant's time in the conference is over.
    Ended {
        reason: EndReason,
        message: String,
    },
    /// A message could not be carried out; the connection stays.
    Error {
        code: String,
        message: String,
    },
    Pong,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_and_reasons_keep_their_documented_spelling() {
        let joined = serde_json::to_value(ServerMsg::State {
            state: Standing::Waiting,
            reason: Some("waiting_room"),
            role: "participant".into(),
            mic_muted: false,
            camera_off: false,
        })
        .unwrap();
        assert_eq!(joined["state"], "waiting");
        let ended = serde_json::to_value(ServerMsg::Ended {
            reason: EndReason::ConferenceEnded,
            message: "m".into(),
        })
        .unwrap();
        assert_eq!(ended["reason"], "conference_ended");
        let announce = serde_json::to_value(ServerMsg::Announce {
            event: Announced::Left,
            id: "a".into(),
            display_name: String::new(),
        })
        .unwrap();
        assert_eq!(announce["event"], "left");
        // Every reason reads back as itself; one from a newer server is
        // `Other`, not an unreadable message.
        let mut all = vec![
            EndReason::Left,
            EndReason::Removed,
            EndReason::ConferenceEnded,
            EndReason::Disconnected,
            EndReason::Other,
        ];
        all.extend(Refusal::ALL.map(EndReason::Refused));
        for r in all {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(
                serde_json::from_str::<EndReason>(&text).unwrap(),
                r,
                "{text}"
            );
        }
        assert_eq!(
            serde_json::from_str::<EndReason>("\"ejected_by_robots\"").unwrap(),
            EndReason::Other
        );
        assert_eq!(EndReason::Refused(Refusal::Rejected).code(), "rejected");
    }

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let e = parse(r#"{"type":"podium","id":"a","on":"yes"}"#).unwrap_err();
        assert_eq!(e.0, "on: expected true or false");
        let e = parse(r#"{"type":"candidate","mline":-1,"candidate":"c"}"#).unwrap_err();
        assert_eq!(e.0, "mline: expected a whole number");
        let e = parse(r#"{"type":"join","cid":7}"#).unwrap_err();
        assert_eq!(e.0, "cid: expected a string");
    }

    #[test]
    fn joins_parse_in_each_form() {
        assert_eq!(
            parse(r#"{"type":"join","cid":"4154248070","linkToken":"$2ab"}"#).unwrap(),
            ClientMsg::Join {
                cid: "4154248070".into(),
                display_name: None,
                pin: None,
                link_token: Some("$2ab".into()),
                access_token: None,
                participant_id: None,
            }
        );
        assert!(matches!(
            parse(r#"{"type":"join","cid":"x","displayName":"Ann","pin":"1234"}"#),
            Ok(ClientMsg::Join { .. })
        ));
        assert_eq!(
            parse(r#"{"type":"admitAll"}"#).unwrap(),
            ClientMsg::AdmitAll
        );
        assert_eq!(
            parse(r#"{"type":"podium","id":"bob","on":true}"#).unwrap(),
            ClientMsg::Podium {
                id: "bob".into(),
                on: true
            }
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let e = |s: &str| parse(s).unwrap_err().0;
        assert!(e("[1]").contains("JSON object"));
        assert!(e("{}").starts_with("type: missing"));
        assert!(e(r#"{"type":"dance"}"#).starts_with("type: unknown message type"));
        assert!(e(r#"{"type":"join"}"#).contains("missing field `cid`"));
        assert!(
            e(r#"{"type":"join","cid":"1","colour":"red"}"#).contains("unknown field `colour`")
        );
        assert!(e(r#"{"type":"join","cid":"1","pin":"12a"}"#).starts_with("pin:"));
        assert!(e(r#"{"type":"join","cid":"1","displayName":" "}"#).starts_with("displayName:"));
        assert!(e(r#"{"type":"candidate","mline":"x","candidate":""}"#).starts_with("mline:"));
        assert!(e("{\"type\":").contains("line 1 column"));
        assert!(e(&format!("\"{}\"", "a".repeat(MAX_MESSAGE))).starts_with("message: at most"));
    }

    #[test]
    fn server_messages_have_their_documented_shape() {
        let v = serde_json::to_value(ServerMsg::Refused {
            reason: "wrong_pin".into(),
            message: "wrong PIN".into(),
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "refused", "reason": "wrong_pin", "message": "wrong PIN"})
        );
        let v = serde_json::to_value(ServerMsg::Tracks {
            tracks: vec![TrackInfo {
                mid: "video3".into(),
                kind: "video",
                participant: Some("bob".into()),
                display_name: Some("Bob".into()),
            }],
        })
        .unwrap();
        assert_eq!(v["tracks"][0]["displayName"], "Bob");
    }

    proptest! {
        #[test]
        fn no_input_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn json_shaped_input_never_panics(t in "(join|answer|candidate|chat|media|podium|mute|leave)", k in "[a-zA-Z]{1,8}", v in "(1|\"x\"|true|null|\\[\\]|\\{\\})") {
            let _ = parse(&format!("{{\"type\":\"{t}\",\"{k}\":{v}}}"));
        }
    }
}

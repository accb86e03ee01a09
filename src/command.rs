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

/// Something a person or a system asks the room to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "camelCase", deny_unknown_fields)]
pub enum Command {
    /// The whole app state: activity, services, endpoints.
    GetAppState,
    /// The devices the profile selected and how they were found.
    GetHardware,
    /// Leave standby: camera and display back on.
    Wake,
    /// Camera released and display dark until `wake`.
    Standby,
}

impl Command {
    /// The method name as it appears on the wire and in logs.
    pub fn method(&self) -> &'static str {
        match self {
            Command::GetAppState => "getAppState",
            Command::GetHardware => "getHardware",
            Command::Wake => "wake",
            Command::Standby => "standby",
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
    /// The command cannot run in the room's current state.
    Conflict,
    /// Part of dais that the command needs is not running.
    Unavailable,
    /// Something went wrong inside dais.
    Internal,
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
        ] {
            let v = serde_json::to_value(&c).unwrap();
            assert_eq!(v["method"], c.method());
        }
    }
}

//! Control requests and replies as JSON, without IO.
//!
//! A request is one JSON object: `{"method": "...", "requestId": ..., ...}`.
//! The reply echoes `requestId` and carries `ok` with either `result` or
//! `error` (`{"code", "message"}`).

use serde_json::{Map, Value, json};

use crate::app::Reply;
use crate::command::{Command, CommandError, ErrorCode};

/// A request after parsing: the command, or why there is none, plus the id
/// to echo either way.
#[derive(Debug)]
pub struct Parsed {
    pub request_id: Option<Value>,
    pub command: Result<Command, CommandError>,
}

/// Parses one request. Never panics; every failure names what was wrong.
pub fn parse(text: &str) -> Parsed {
    match serde_json::from_str(text) {
        Ok(v) => parse_value(v),
        Err(e) => Parsed {
            request_id: None,
            command: Err(bad(format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))),
        },
    }
}

/// Reads a request that is already JSON.
pub fn parse_value(value: Value) -> Parsed {
    let Value::Object(mut obj) = value else {
        return Parsed {
            request_id: None,
            command: Err(bad("a request must be a JSON object with a \"method\"")),
        };
    };
    let request_id = obj.remove("requestId");
    if let Some(id) = &request_id
        && !(id.is_string() || id.is_number())
    {
        return Parsed {
            request_id: None,
            command: Err(bad("requestId: expected a string or a number")),
        };
    }
    let command = command_from(obj);
    Parsed {
        request_id,
        command,
    }
}

fn command_from(obj: Map<String, Value>) -> Result<Command, CommandError> {
    match obj.get("method") {
        None => return Err(bad("method: missing")),
        Some(Value::String(_)) => {}
        Some(_) => return Err(bad("method: expected a string")),
    }
    let keys: Vec<String> = obj.keys().cloned().collect();
    let command: Command = serde_json::from_value(Value::Object(obj)).map_err(|e| {
        let msg = e.to_string();
        if let Some(rest) = msg.strip_prefix("unknown variant ") {
            bad(format!("method: unknown method {rest}"))
        } else if let Some(rest) = msg.strip_prefix("unknown field ") {
            bad(format!("unknown parameter {rest}"))
        } else {
            bad(msg)
        }
    })?;
    // serde ignores extra keys on parameterless methods; a controller that
    // sends one has misunderstood the method, so say so.
    let known = serde_json::to_value(&command).unwrap_or(Value::Null);
    if let Some(extra) = keys.iter().find(|k| known.get(k.as_str()).is_none()) {
        return Err(bad(format!(
            "unknown parameter `{extra}` for method {}",
            command.method()
        )));
    }
    Ok(command)
}

fn bad(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::BadRequest, message)
}

/// The reply object for a finished request.
pub fn reply(request_id: Option<Value>, outcome: Result<Reply, CommandError>) -> Value {
    let mut out = match outcome {
        Ok(Reply::Done) => json!({"ok": true}),
        Ok(r) => json!({"ok": true, "result": r}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    if let Some(id) = request_id {
        out["requestId"] = id;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_request_parses_and_keeps_its_id() {
        let p = parse(r#"{"method":"getAppState","requestId":7}"#);
        assert_eq!(p.request_id, Some(json!(7)));
        assert_eq!(p.command.unwrap(), Command::GetAppState);
    }

    #[test]
    fn errors_name_what_was_wrong() {
        let msg = |s: &str| parse(s).command.unwrap_err().message;
        assert!(msg("{not json").starts_with("not valid JSON at line 1 column 2"));
        assert_eq!(
            msg("[1,2]"),
            "a request must be a JSON object with a \"method\""
        );
        assert_eq!(msg(r#"{"requestId":1}"#), "method: missing");
        assert_eq!(msg(r#"{"method":5}"#), "method: expected a string");
        assert!(msg(r#"{"method":"fly"}"#).starts_with("method: unknown method `fly`"));
        assert!(msg(r#"{"method":"wake","volume":3}"#).starts_with("unknown parameter `volume`"));
        let p = parse(r#"{"method":"wake","requestId":{"a":1}}"#);
        assert_eq!(
            p.command.unwrap_err().message,
            "requestId: expected a string or a number"
        );
    }

    #[test]
    fn replies_echo_the_id() {
        let r = reply(Some(json!("abc")), Ok(Reply::Done));
        assert_eq!(r, json!({"ok": true, "requestId": "abc"}));
        let r = reply(None, Err(bad("x")));
        assert_eq!(
            r,
            json!({"ok": false, "error": {"code": "badRequest", "message": "x"}})
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn arbitrary_objects_never_panic(
            method in prop::option::of("[a-zA-Z]{0,12}"),
            key in "[a-z]{1,8}",
            n in any::<i64>(),
        ) {
            let mut o = serde_json::Map::new();
            if let Some(m) = method { o.insert("method".into(), json!(m)); }
            o.insert(key, json!(n));
            let _ = parse(&Value::Object(o).to_string());
        }
    }
}

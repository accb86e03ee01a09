//! The REST API's JSON, and its mapping to the conference domain.
//!
//! Requests are read field by field from `serde_json::Value`, so that one
//! response can name every bad field with what was expected. Both the v3
//! spellings (integer `type`, flat or nested `rights`, 0/1 flags) and the
//! v4 ones (`mode` strings, `pin`, `waiting_room_enabled`, ...) are accepted;
//! responses carry both.

use serde_json::{Map, Value, json};

use crate::conference::WaitReason;
use crate::conference::roster::Member;
use crate::conference::{
    Conference, Days, FieldError, Invitation, Mode, Patch, Right, Rights, RightsSet, RunState,
    Schedule,
};

/// Fields the API writes that clients echo back; accepted and ignored.
const READ_ONLY: &[&str] = &[
    "url",
    "webclient_url",
    "created_at",
    "stream_recording_state",
    "pin_protected",
];

/// Reads a conference patch from a request body.
pub fn parse_patch(body: &Value) -> Result<Patch, Vec<FieldError>> {
    let (p, errs) = parse_patch_partial(body);
    if errs.is_empty() { Ok(p) } else { Err(errs) }
}

/// Reads what it can: the patch of the fields that parsed, and the errors
/// of those that did not (so the domain can still check the good ones).
pub fn parse_patch_partial(body: &Value) -> (Patch, Vec<FieldError>) {
    let Value::Object(obj) = body else {
        return (
            Patch::default(),
            vec![FieldError::new(
                "body",
                "a JSON object with the conference's fields",
            )],
        );
    };
    let mut p = Patch::default();
    let mut errs = Vec::new();
    for (key, v) in obj {
        let mut bad = |m: &str| errs.push(FieldError::new(key.as_str(), m));
        match key.as_str() {
            "id" => match v {
                Value::String(s) => p.id = Some(s.clone()),
                Value::Number(n) if n.is_u64() => p.id = Some(n.to_string()),
                _ => bad("a string of Latin letters, digits, '_' and '-'"),
            },
            "topic" => str_field(v, &mut p.topic, &mut bad),
            "description" => str_field(v, &mut p.description, &mut bad),
            "owner" => str_field(v, &mut p.owner, &mut bad),
            "type" | "mode" => match v {
                Value::Number(n) => match n.as_i64().and_then(Mode::from_v3) {
                    Some(m) => set_mode(&mut p, m, key, &mut errs),
                    None => bad(
                        "0 (all on screen), 1 (video lecture), 3 (moderated role-based) or 4 (smart meeting)",
                    ),
                },
                Value::String(s) => match Mode::from_v4(s) {
                    Some(m) => set_mode(&mut p, m, key, &mut errs),
                    None => bad("\"PxP\", \"OxP\", \"S|L\" or \"S|L Auto\""),
                },
                _ => bad("an integer mode (0, 1, 3, 4) or a v4 mode name"),
            },
            "max_participants" => int_field(v, &mut p.max_participants, &mut bad),
            "max_podiums" => int_field(v, &mut p.max_podiums, &mut bad),
            "schedule" => match parse_schedule(v) {
                Ok(s) => p.schedule = Some(s),
                Err(e) => errs.extend(e),
            },
            "allow_guests" => flag_field(v, &mut p.allow_guests, &mut bad),
            "allow_only_planned_participants" => {
                flag_field(v, &mut p.allow_only_planned_participants, &mut bad)
            }
            "invitations" => match parse_invitations(v) {
                Ok(list) => p.invitations = Some(list),
                Err(e) => errs.extend(e),
            },
            "auto_invite" => flag_field(v, &mut p.auto_invite, &mut bad),
            "rights" => match parse_rights(v) {
                Ok(r) => p.rights = Some(r),
                Err(e) => errs.extend(e),
            },
            "state" => match v.as_str() {
                Some("running") => p.state = Some(RunState::Running),
                Some("stopped") => p.state = Some(RunState::Stopped),
                _ => bad("\"running\" or \"stopped\""),
            },
            "recording" => flag_field(v, &mut p.recording, &mut bad),
            "auto_approve" => flag_field(v, &mut p.auto_approve, &mut bad),
            "waiting_room_enabled" | "waiting_room" => flag_field(v, &mut p.waiting_room, &mut bad),
            "on_join_mute_mic" | "mute_mic_on_entry" => {
                flag_field(v, &mut p.mute_mic_on_entry, &mut bad)
            }
            "on_join_mute_camera" | "camera_off_on_entry" => {
                flag_field(v, &mut p.camera_off_on_entry, &mut bad)
            }
            "pin" => pin_field(v, &mut p.pin, &mut bad),
            "host_pin" => pin_field(v, &mut p.host_pin, &mut bad),
            "wait_for_host" => flag_field(v, &mut p.wait_for_host, &mut bad),
            "announce_join_leave" => flag_field(v, &mut p.announce_join_leave, &mut bad),
            "recording_enabled" => flag_field(v, &mut p.recording_enabled, &mut bad),
            "auto_start_recording" => flag_field(v, &mut p.auto_start_recording, &mut bad),
            "music_on_hold" => flag_field(v, &mut p.music_on_hold, &mut bad),
            "auto_termination_enabled" | "auto_termination" => {
                flag_field(v, &mut p.auto_termination, &mut bad)
            }
            k if READ_ONLY.contains(&k) => {}
            _ => bad("unknown field"),
        }
    }
    (p, errs)
}

fn set_mode(p: &mut Patch, m: Mode, key: &str, errs: &mut Vec<FieldError>) {
    if let Some(prev) = p.mode
        && prev != m
    {
        errs.push(FieldError::new(
            key,
            format!(
                "\"type\" and \"mode\" disagree ({} vs {})",
                prev.v4(),
                m.v4()
            ),
        ));
    }
    p.mode = Some(m);
}

fn str_field(v: &Value, slot: &mut Option<String>, bad: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => *slot = Some(s.clone()),
        _ => bad("a string"),
    }
}

fn int_field(v: &Value, slot: &mut Option<i64>, bad: &mut impl FnMut(&str)) {
    match v.as_i64() {
        Some(n) => *slot = Some(n),
        None => bad("an integer"),
    }
}

/// true/false, or the v3 API's 0/1.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn flag_field(v: &Value, slot: &mut Option<bool>, bad: &mut impl FnMut(&str)) {
    match flag(v) {
        Some(b) => *slot = Some(b),
        None => bad("true, false, 0 or 1"),
    }
}

fn pin_field(v: &Value, slot: &mut Option<String>, bad: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => *slot = Some(s.clone()),
        Value::Null => *slot = Some(String::new()),
        _ => bad("a string of up to 20 digits (a number would lose leading zeros)"),
    }
}

/// The furthest a schedule's time zone may be from UTC, in minutes.
pub const MAX_OFFSET_MINUTES: i64 = 1440;
/// The latest one-time start: 9999-12-31T23:59:59Z.
pub const MAX_START_TIME: i64 = 253_402_300_799;

fn parse_schedule(v: &Value) -> Result<Schedule, Vec<FieldError>> {
    let field = |f: &str| format!("schedule.{f}");
    let Value::Object(o) = v else {
        return Err(vec![FieldError::new(
            "schedule",
            "an object: {\"type\": -1}, {\"type\": 1, \"start_time\", \"duration\"} or {\"type\": 0, \"days\", \"time\", \"duration\"}",
        )]);
    };
    let mut errs = Vec::new();
    let int = |k: &str, errs: &mut Vec<FieldError>| -> Option<i64> {
        match o.get(k) {
            Some(v) => match v.as_i64() {
                Some(n) => Some(n),
                None => {
                    errs.push(FieldError::new(field(k), "an integer"));
                    None
                }
            },
            None => None,
        }
    };
    let offset = match int("time_offset", &mut errs).unwrap_or(0) {
        o if (-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&o) => o as i32,
        _ => {
            errs.push(FieldError::new(
                field("time_offset"),
                format!("minutes east of UTC, -{MAX_OFFSET_MINUTES} to {MAX_OFFSET_MINUTES}"),
            ));
            0
        }
    };
    let kind = match o.get("type").and_then(Value::as_i64) {
        Some(k) => k,
        None => {
            return Err(vec![FieldError::new(
                field("type"),
                "-1 (virtual room), 0 (weekly) or 1 (one-time)",
            )]);
        }
    };
    let known: &[&str] = match kind {
        -1 => &["type"],
        1 => &["type", "start_time", "duration", "time_offset"],
        0 => &["type", "days", "time", "duration", "time_offset"],
        _ => {
            return Err(vec![FieldError::new(
                field("type"),
                "-1 (virtual room), 0 (weekly) or 1 (one-time)",
            )]);
        }
    };
    for k in o.keys() {
        if !known.contains(&k.as_str()) {
            errs.push(FieldError::new(
                field(k),
                format!("not a field of a schedule of type {kind}"),
            ));
        }
    }
    let duration = |errs: &mut Vec<FieldError>| match int("duration", errs) {
        Some(d) if d > 0 && d <= u32::MAX as i64 => Some(d as u32),
        Some(_) => {
            errs.push(FieldError::new(
                field("duration"),
                "a positive number of seconds",
            ));
            None
        }
        None => {
            if o.get("duration").is_none() {
                errs.push(FieldError::new(field("duration"), "required: seconds"));
            }
            None
        }
    };
    let out = match kind {
        -1 => Some(Schedule::None),
        1 => {
            let start = int("start_time", &mut errs).filter(|t| {
                let ok = (0..=MAX_START_TIME).contains(t);
                if !ok {
                    errs.push(FieldError::new(
                        field("start_time"),
                        format!("a Unix time from 0 to {MAX_START_TIME} (the year 9999)"),
                    ));
                }
                ok
            });
            if o.get("start_time").is_none() {
                errs.push(FieldError::new(
                    field("start_time"),
                    "required: a Unix time",
                ));
            }
            let d = duration(&mut errs);
            match (start, d) {
                (Some(start), Some(duration)) => Some(Schedule::OneTime {
                    start,
                    duration,
                    offset_minutes: offset,
                }),
                _ => None,
            }
        }
        _ => {
            let days = match o.get("days") {
                Some(Value::Array(a)) => {
                    let nums: Option<Vec<u8>> = a
                        .iter()
                        .map(|d| d.as_u64().and_then(|n| u8::try_from(n).ok()))
                        .collect();
                    let names: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                    let parsed = nums
                        .and_then(|n| Days::from_iso(&n))
                        .or_else(|| names.and_then(|n| Days::from_names(&n)));
                    if parsed.is_none() {
                        errs.push(FieldError::new(
                            field("days"),
                            "weekdays as 1 (Monday) to 7 (Sunday) or names such as \"mon\"",
                        ));
                    }
                    parsed
                }
                _ => {
                    errs.push(FieldError::new(
                        field("days"),
                        "required: a list of weekdays",
                    ));
                    None
                }
            };
            let time = match o.get("time").and_then(Value::as_str).map(parse_hhmm) {
                Some(Some(t)) => Some(t),
                _ => {
                    errs.push(FieldError::new(
                        field("time"),
                        "required: the local start time as \"HH:MM\"",
                    ));
                    None
                }
            };
            let d = duration(&mut errs);
            match (days, time, d) {
                (Some(days), Some(start_minute), Some(duration)) => Some(Schedule::Weekly {
                    days,
                    start_minute,
                    duration,
                    offset_minutes: offset,
                }),
                _ => None,
            }
        }
    };
    match out {
        Some(s) if errs.is_empty() => Ok(s),
        _ => Err(errs),
    }
}

/// `H:MM` or `HH:MM`, 00:00 to 23:59 (the OpenAPI document's pattern).
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn parse_invitations(v: &Value) -> Result<Vec<Invitation>, Vec<FieldError>> {
    let Value::Array(a) = v else {
        return Err(vec![FieldError::new(
            "invitations",
            "a list of {\"id\", \"display_name\"} objects",
        )]);
    };
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (i, item) in a.iter().enumerate() {
        match item {
            Value::String(id) => out.push(Invitation {
                id: id.clone(),
                display_name: String::new(),
            }),
            Value::Object(o) => match o.get("id").and_then(Value::as_str) {
                Some(id) => match o.get("display_name") {
                    None | Some(Value::Null) => out.push(Invitation {
                        id: id.to_string(),
                        display_name: String::new(),
                    }),
                    Some(Value::String(name)) => out.push(Invitation {
                        id: id.to_string(),
                        display_name: name.clone(),
                    }),
                    Some(_) => errs.push(FieldError::new(
                        format!("invitations[{i}].display_name"),
                        "a string",
                    )),
                },
                None => errs.push(FieldError::new(
                    format!("invitations[{i}].id"),
                    "required: a string",
                )),
            },
            _ => errs.push(FieldError::new(
                format!("invitations[{i}]"),
                "an object with \"id\" and \"display_name\", or an id string",
            )),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

fn parse_rights(v: &Value) -> Result<RightsSet, Vec<FieldError>> {
    let Value::Object(o) = v else {
        return Err(vec![FieldError::new(
            "rights",
            "an object of booleans, or {\"guest\": {...}, \"user\": {...}}",
        )]);
    };
    let nested = o.contains_key("guest") || o.contains_key("user");
    let mut errs = Vec::new();
    let set = if nested {
        let mut set = RightsSet::default();
        for (k, v) in o {
            match (k.as_str(), v) {
                ("guest", Value::Object(g)) => {
                    set.guest = rights_from(&format!("rights.{k}"), g, &mut errs)
                }
                ("user", Value::Object(u)) => {
                    set.user = rights_from(&format!("rights.{k}"), u, &mut errs)
                }
                ("guest" | "user", _) => errs.push(FieldError::new(
                    format!("rights.{k}"),
                    "an object of booleans",
                )),
                _ => errs.push(FieldError::new(
                    format!("rights.{k}"),
                    "nested rights take only \"guest\" and \"user\"",
                )),
            }
        }
        set
    } else {
        let r = rights_from("rights", o, &mut errs);
        RightsSet { guest: r, user: r }
    };
    if errs.is_empty() { Ok(set) } else { Err(errs) }
}

/// Rights from an object of booleans; unnamed rights stay granted.
fn rights_from(prefix: &str, obj: &Map<String, Value>, errs: &mut Vec<FieldError>) -> Rights {
    let mut r = Rights::all();
    for (k, v) in obj {
        let Some(right) = Right::from_name(k) else {
            errs.push(FieldError::new(format!("{prefix}.{k}"), "not a right"));
            continue;
        };
        match flag(v) {
            Some(b) => r.set(right, b),
            None => errs.push(FieldError::new(format!("{prefix}.{k}"), "true or false")),
        }
    }
    r
}

pub fn rights_json(r: Rights) -> Value {
    let mut m = Map::new();
    for right in Right::ALL {
        m.insert(right.name().into(), Value::Bool(r.has(right)));
    }
    Value::Object(m)
}

pub fn schedule_json(s: &Schedule) -> Value {
    match s {
        Schedule::None => json!({"type": -1}),
        Schedule::OneTime {
            start,
            duration,
            offset_minutes,
        } => {
            json!({"type": 1, "start_time": start, "duration": duration, "time_offset": offset_minutes})
        }
        Schedule::Weekly {
            days,
            start_minute,
            duration,
            offset_minutes,
        } => json!({
            "type": 0,
            "days": days.iso(),
            "time": format!("{:02}:{:02}", start_minute / 60, start_minute % 60),
            "duration": duration,
            "time_offset": offset_minutes,
        }),
    }
}

/// The conference object as clients read it. `base` is the server's public
/// URL (`https://host:port`), used for `url` and `webclient_url`.
pub fn conference_json(c: &Conference, base: &str) -> Value {
    let o = &c.options;
    json!({
        "id": c.id.as_str(),
        "topic": c.topic,
        "description": c.description,
        "owner": c.owner,
        "type": c.mode.v3(),
        "mode": c.mode.v4(),
        "max_podiums": c.max_podiums,
        "max_participants": c.max_participants,
        "schedule": schedule_json(&c.schedule),
        "allow_guests": c.allow_guests,
        "allow_only_planned_participants": c.allow_only_planned_participants,
        "invitations": c.invitations.iter().map(|i| json!({"id": i.id, "display_name": i.display_name})).collect::<Vec<_>>(),
        "auto_invite": u8::from(c.auto_invite),
        "rights": {"guest": rights_json(c.rights.guest), "user": rights_json(c.rights.user)},
        "state": c.state.name(),
        "recording": u8::from(c.recording),
        "stream_recording_state": 0,
        "url": format!("{base}/c/{}", c.id),
        "webclient_url": format!("{base}/webrtc/{}", c.id),
        "created_at": c.created_at,
        "pin": o.pin.clone().unwrap_or_default(),
        "host_pin": o.host_pin.clone().unwrap_or_default(),
        "pin_protected": o.pin.is_some(),
        "auto_approve": o.auto_approve,
        "waiting_room_enabled": o.waiting_room,
        "on_join_mute_mic": o.mute_mic_on_entry,
        "on_join_mute_camera": o.camera_off_on_entry,
        "wait_for_host": o.wait_for_host,
        "announce_join_leave": o.announce_join_leave,
        "recording_enabled": o.recording_enabled,
        "auto_start_recording": o.auto_start_recording,
        "music_on_hold": o.music_on_hold,
        "auto_termination_enabled": o.auto_termination,
    })
}

/// Rebuilds a stored conference. The stored form is [`conference_json`]'s.
pub fn conference_from_stored(v: &Value) -> Result<Conference, String> {
    let mut patch = parse_patch(v).map_err(|e| {
        e.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let created_at = v.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    let id = patch.id.take().ok_or("stored conference without an id")?;
    let state = patch.state.take();
    let mut c = Conference::create(patch, created_at, unreachable_cid, |_| false)
        .map_err(|e| e.to_string())?;
    c.id = crate::conference::Cid::parse(&id).map_err(|e| e.to_string())?;
    c.state = state.unwrap_or(RunState::Stopped);
    Ok(c)
}

fn unreachable_cid() -> crate::conference::Cid {
    // Only used before the stored id is put back.
    crate::conference::Cid::parse("restoring").expect("literal CID")
}

/// A patch as JSON, with only the fields it sets (templates store this).
pub fn patch_json(p: &Patch) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    if let Some(v) = &p.topic {
        put("topic", json!(v));
    }
    if let Some(v) = &p.description {
        put("description", json!(v));
    }
    if let Some(v) = &p.owner {
        put("owner", json!(v));
    }
    if let Some(v) = p.mode {
        put("type", json!(v.v3()));
    }
    if let Some(v) = p.max_participants {
        put("max_participants", json!(v));
    }
    if let Some(v) = p.max_podiums {
        put("max_podiums", json!(v));
    }
    if let Some(v) = &p.schedule {
        put("schedule", schedule_json(v));
    }
    if let Some(v) = &p.invitations {
        put(
            "invitations",
            v.iter()
                .map(|i| json!({"id": i.id, "display_name": i.display_name}))
                .collect(),
        );
    }
    if let Some(v) = p.rights {
        put(
            "rights",
            json!({"guest": rights_json(v.guest), "user": rights_json(v.user)}),
        );
    }
    if let Some(v) = p.state {
        put("state", json!(v.name()));
    }
    for (k, v) in [
        ("allow_guests", p.allow_guests),
        (
            "allow_only_planned_participants",
            p.allow_only_planned_participants,
        ),
        ("auto_invite", p.auto_invite),
        ("recording", p.recording),
        ("auto_approve", p.auto_approve),
        ("waiting_room_enabled", p.waiting_room),
        ("on_join_mute_mic", p.mute_mic_on_entry),
        ("on_join_mute_camera", p.camera_off_on_entry),
        ("wait_for_host", p.wait_for_host),
        ("announce_join_leave", p.announce_join_leave),
        ("recording_enabled", p.recording_enabled),
        ("auto_start_recording", p.auto_start_recording),
        ("music_on_hold", p.music_on_hold),
        ("auto_termination_enabled", p.auto_termination),
    ] {
        if let Some(b) = v {
            put(k, json!(b));
        }
    }
    if let Some(v) = &p.pin {
        put("pin", json!(v));
    }
    if let Some(v) = &p.host_pin {
        put("host_pin", json!(v));
    }
    Value::Object(m)
}

pub fn member_json(m: &Member) -> Value {
    let (state, reason) = (
        m.place.standing().name(),
        m.place.wait_reason().map(WaitReason::name),
    );
    json!({
        "id": m.id,
        "display_name": m.display_name,
        "guest": m.guest,
        "role": m.role.name(),
        "state": state,
        "waiting_reason": reason,
        "podium": m.podium,
        "mic_muted": m.mic_muted,
        "camera_off": m.camera_off,
        "sharing": m.sharing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_round_trip_through_json() {
        let body = json!({"topic": "T", "type": 3, "max_podiums": 2, "pin": "12", "waiting_room_enabled": true,
            "schedule": {"type": -1}, "rights": {"chat_send": false}});
        let p = parse_patch(&body).unwrap();
        assert_eq!(parse_patch(&patch_json(&p)).unwrap(), p);
    }

    #[test]
    fn flat_and_nested_rights_both_parse() {
        let flat = json!({"chat_send": false, "video_rcv": true});
        let r = parse_rights(&flat).unwrap();
        assert!(!r.guest.has(Right::ChatSend) && !r.user.has(Right::ChatSend));
        let nested = json!({"guest": {"chat_send": false}, "user": {"chat_send": true}});
        let r = parse_rights(&nested).unwrap();
        assert!(!r.guest.has(Right::ChatSend) && r.user.has(Right::ChatSend));
        let e = parse_rights(&json!({"chat_sned": true})).unwrap_err();
        assert_eq!(e[0].field, "rights.chat_sned");
    }

    #[test]
    fn schedules_parse_and_name_bad_parts() {
        assert_eq!(
            parse_schedule(&json!({"type": -1})).unwrap(),
            Schedule::None
        );
        let s = parse_schedule(&json!({"type": 1, "start_time": 1798794000, "duration": 1800}))
            .unwrap();
        assert_eq!(
            s,
            Schedule::OneTime {
                start: 1798794000,
                duration: 1800,
                offset_minutes: 0
            }
        );
        let w = parse_schedule(&json!({"type": 0, "days": ["tue", "fri"], "time": "09:00", "duration": 3600, "time_offset": 180})).unwrap();
        assert_eq!(schedule_json(&w)["days"], json!([2, 5]));
        let e = parse_schedule(&json!({"type": 1, "duration": "long"})).unwrap_err();
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"schedule.start_time"), "{fields:?}");
        assert!(fields.contains(&"schedule.duration"), "{fields:?}");
        assert!(parse_schedule(&json!({"type": 7})).is_err());
        assert!(
            parse_schedule(&json!({"type": 0, "days": [1], "time": "25:00", "duration": 60}))
                .is_err()
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse_patch(&json!({
            "topic": 5, "type": 2, "allow_guests": "yes", "colour": "red", "pin": 1234
        }))
        .unwrap_err();
        let mut fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["allow_guests", "colour", "pin", "topic", "type"]);
    }

    #[test]
    fn output_round_trips_through_the_stored_form() {
        let body = json!({
            "id": "board", "topic": "Board", "owner": "ceo", "type": 4, "max_participants": 12,
            "max_podiums": 3, "schedule": {"type": 0, "days": [1, 3], "time": "10:30", "duration": 1800},
            "pin": "0042", "waiting_room_enabled": true, "rights": {"guest": {"chat_send": false}},
            "state": "running", "recording": 1
        });
        let patch = parse_patch(&body).unwrap();
        let mut c = Conference::create(patch, 7, unreachable_cid, |_| false).unwrap();
        c.state = RunState::Running;
        let out = conference_json(&c, "http://x");
        let back = conference_from_stored(&out).unwrap();
        assert_eq!(back, c);
        assert_eq!(out["mode"], "S|L Auto");
        assert_eq!(out["type"], 4);
        assert_eq!(out["url"], "http://x/c/board");
    }
}

//! `GET /api/openapi.json`: an OpenAPI 3.0 description of every route and
//! schema of the conferencing server. [`ROUTES`] is also what the tests use
//! to check that every documented route answers.

use serde_json::{Value, json};

/// How a route authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No bearer (the token endpoint).
    None,
    /// A bearer token is required.
    Bearer,
    /// Anyone; a bearer token, when given, says who (joining: a guest or a
    /// signed-in user).
    Optional,
}

/// A query parameter.
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    /// Its JSON schema, as JSON text.
    pub schema: &'static str,
}

/// One documented operation.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// The request body's schema (in `components.schemas`).
    pub request: Option<&'static str>,
    /// The success answer's schema and status.
    pub response: &'static str,
    pub ok: u16,
    pub query: &'static [Param],
    pub auth: Auth,
}

const LIST_QUERY: &[Param] = &[
    Param {
        name: "state",
        required: false,
        schema: r#"{"type": "string", "enum": ["running", "stopped"]}"#,
    },
    Param {
        name: "owner",
        required: false,
        schema: r#"{"type": "string"}"#,
    },
    Param {
        name: "page",
        required: false,
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 1000000}"#,
    },
    Param {
        name: "page_size",
        required: false,
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 1000}"#,
    },
];

const CLIENTS_QUERY: &[Param] = &[
    Param {
        name: "call_id",
        required: true,
        schema: r#"{"type": "string", "minLength": 1}"#,
    },
    Param {
        name: "case",
        required: false,
        schema: r#"{"type": "string", "enum": ["join_conference_button"]}"#,
    },
    Param {
        name: "user",
        required: true,
        schema: "USER",
    },
];

/// Every operation of the conferencing server's API.
pub const ROUTES: &[Route] = &[
    Route {
        method: "post",
        path: "/oauth2/v1/token",
        summary: "Get an access token (client_credentials, password or refresh_token grant; form-encoded)",
        request: Some("TokenRequest"),
        response: "Token",
        ok: 200,
        query: &[],
        auth: Auth::None,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences",
        summary: "List conferences (filters: state, owner, page, page_size)",
        request: None,
        response: "ConferenceList",
        ok: 200,
        query: LIST_QUERY,
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences",
        summary: "Create a conference (id generated when absent)",
        request: Some("NewConference"),
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences/{id}",
        summary: "Get a conference",
        request: None,
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "put",
        path: "/api/v3.11/conferences/{id}",
        summary: "Change a conference (only the fields given; the id may change)",
        request: Some("Conference"),
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "delete",
        path: "/api/v3.11/conferences/{id}",
        summary: "Delete a conference",
        request: None,
        response: "State",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/run",
        summary: "Start a conference",
        request: None,
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/stop",
        summary: "Stop a conference (everyone leaves)",
        request: None,
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences/{id}/participants",
        summary: "The roster as the caller may see it (the waiting room only for moderators)",
        request: None,
        response: "ParticipantList",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/participants",
        summary: "Ask to join: with a guest-link token, as the bearer's user, or as a guest with display_name and pin. 200 admitted, 202 waiting, 403 refused, 429 after too many wrong PINs",
        request: Some("JoinRequest"),
        response: "JoinReply",
        ok: 200,
        query: &[],
        auth: Auth::Optional,
    },
    Route {
        method: "put",
        path: "/api/v3.11/conferences/{id}/participants/{pid}",
        summary: "Change a participant: role, podium, waiting_room, mic_muted, camera_off",
        request: Some("ParticipantChange"),
        response: "ParticipantReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "delete",
        path: "/api/v3.11/conferences/{id}/participants/{pid}",
        summary: "Remove a participant (or leave, for one's own session)",
        request: None,
        response: "State",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/participants/{pid}/admit",
        summary: "Admit a waiting participant",
        request: None,
        response: "ParticipantReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/participants/{pid}/reject",
        summary: "Decline a join request",
        request: None,
        response: "State",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/waiting_room/admit_all",
        summary: "Admit everyone waiting (Invite all)",
        request: None,
        response: "ParticipantList",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/invite",
        summary: "Invite participants",
        request: Some("Invite"),
        response: "Invitations",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences/{id}/invitations",
        summary: "List invitations",
        request: None,
        response: "Invitations",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/conferences/{id}/invitations",
        summary: "Add invitations",
        request: Some("Invite"),
        response: "Invitations",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "delete",
        path: "/api/v3.11/conferences/{id}/invitations/{inv}",
        summary: "Remove an invitation",
        request: None,
        response: "Empty",
        ok: 204,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences/{id}/ics",
        summary: "The conference as an iCalendar (RFC 5545) event",
        request: None,
        response: "Ics",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/conferences/{id}/calendars",
        summary: "Add-to-calendar links for Google and Outlook, and the ICS URL",
        request: None,
        response: "Calendars",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/software/clients",
        summary: "Guest links for a conference (call_id, case, user=2$id*Name or $Name); valid for one minute and one join",
        request: None,
        response: "Clients",
        ok: 200,
        query: CLIENTS_QUERY,
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/templates",
        summary: "List conference templates",
        request: None,
        response: "TemplateList",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/templates",
        summary: "Save a template",
        request: Some("NewTemplate"),
        response: "TemplateReply",
        ok: 201,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "get",
        path: "/api/v3.11/templates/{tid}",
        summary: "Get a template",
        request: None,
        response: "TemplateReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "put",
        path: "/api/v3.11/templates/{tid}",
        summary: "Rename a template or change its settings",
        request: Some("Template"),
        response: "TemplateReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "delete",
        path: "/api/v3.11/templates/{tid}",
        summary: "Delete a template (it cannot be restored)",
        request: None,
        response: "Empty",
        ok: 204,
        query: &[],
        auth: Auth::Bearer,
    },
    Route {
        method: "post",
        path: "/api/v3.11/templates/{tid}/start",
        summary: "Start a running conference from a template",
        request: None,
        response: "ConferenceReply",
        ok: 200,
        query: &[],
        auth: Auth::Bearer,
    },
];

/// An object of rights, each true/false or the v3 API's 1/0.
fn bools(names: &[&str]) -> Value {
    let flag = json!({"oneOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]});
    let props: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.to_string(), flag.clone()))
        .collect();
    json!({"type": "object", "properties": props, "additionalProperties": false})
}

fn schemas() -> Value {
    let rights = bools(&[
        "chat_send",
        "chat_rcv",
        "slide_show_send",
        "slide_show_rcv",
        "white_board_send",
        "white_board_rcv",
        "file_transfer_send",
        "file_transfer_rcv",
        "desktop_sharing",
        "recording",
        "audio_send",
        "audio_rcv",
        "video_send",
        "video_rcv",
    ]);
    let flag = json!({"oneOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]});
    let duration = |max: u32| json!({"type": "integer", "minimum": 60, "maximum": max, "description": "seconds"});
    let offset = json!({"type": "integer", "minimum": -720, "maximum": 840, "description": "minutes east of UTC"});
    // "type" and "mode" both take a mode, as v3's number or v4's name;
    // given both, they agree.
    let mode = json!({
        "oneOf": [
            {"type": "integer", "enum": [0, 1, 3, 4]},
            {"type": "string", "enum": ["PxP", "OxP", "S|L", "S|L Auto"]}
        ],
        "description": "0 or PxP all on screen, 1 or OxP video lecture, 3 or S|L moderated role-based, 4 or S|L Auto smart meeting"
    });
    let same = |n: i64, name: &str| json!({"properties": {"type": {"enum": [n, name]}, "mode": {"enum": [n, name]}}});
    let agree = json!([
        {"not": {"required": ["type", "mode"]}},
        same(0, "PxP"),
        same(1, "OxP"),
        same(3, "S|L"),
        same(4, "S|L Auto")
    ]);
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
        "OAuthError": {"type": "object", "properties": {"error": {"type": "string", "enum": ["invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type", "slow_down"]}, "error_description": {"type": "string"}}, "required": ["error", "error_description"]},
        "TokenRequest": {"oneOf": [
            {"type": "object", "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "client_id": {"type": "string", "minLength": 1}, "client_secret": {"type": "string", "minLength": 1}},
                "required": ["grant_type", "client_id", "client_secret"]},
            {"type": "object", "properties": {
                "grant_type": {"type": "string", "enum": ["password"]},
                "username": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 1},
                "client_id": {"type": "string", "description": "optional; checked with client_secret when both are given"},
                "client_secret": {"type": "string"}},
                "required": ["grant_type", "username", "password"]},
            {"type": "object", "properties": {
                "grant_type": {"type": "string", "enum": ["refresh_token"]},
                "refresh_token": {"type": "string", "minLength": 1}},
                "required": ["grant_type", "refresh_token"]}
        ]},
        "Token": {"type": "object", "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_in": {"type": "integer"}, "refresh_token": {"type": "string"}, "scope": {"type": "string"}}},
        "Rights": rights,
        "Schedule": {"oneOf": [
            {"type": "object", "properties": {"type": {"type": "integer", "enum": [-1]}}, "required": ["type"], "additionalProperties": false},
            {"type": "object", "properties": {
                "type": {"type": "integer", "enum": [1]},
                "start_time": {"type": "integer", "minimum": 0, "maximum": crate::server::model::MAX_START_TIME, "description": "Unix seconds"},
                "duration": duration(crate::conference::schedule::MAX_ONE_TIME_DURATION),
                "time_offset": offset},
                "required": ["type", "start_time", "duration"], "additionalProperties": false},
            {"type": "object", "properties": {
                "type": {"type": "integer", "enum": [0]},
                "days": {"oneOf": [
                    {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1, "maximum": 7}},
                    {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^([Mm][Oo][Nn]|[Tt][Uu][Ee]|[Ww][Ee][Dd]|[Tt][Hh][Uu]|[Ff][Rr][Ii]|[Ss][Aa][Tt]|[Ss][Uu][Nn])"}}]},
                "time": {"type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$"},
                "duration": duration(crate::conference::schedule::MAX_WEEKLY_DURATION),
                "time_offset": offset},
                "required": ["type", "days", "time", "duration"], "additionalProperties": false}
        ]},
        "Invitation": {"type": "object", "properties": {"id": text(256), "display_name": {"type": "string", "maxLength": 256, "nullable": true}}, "required": ["id"]},
        "Conference": {"type": "object", "properties": {
            "id": {"oneOf": [{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}, {"type": "integer", "minimum": 0, "maximum": u64::MAX}]},
            "topic": text(crate::conference::TOPIC_MAX),
            "description": {"type": "string"},
            "owner": text(crate::conference::OWNER_MAX),
            "type": mode,
            "mode": mode,
            "max_participants": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 25},
            "max_podiums": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "in moderated and smart meetings; at most max_participants (larger values are capped)"},
            "schedule": {"$ref": "#/components/schemas/Schedule"},
            "allow_guests": flag, "allow_only_planned_participants": flag,
            "invitations": {"type": "array", "maxItems": crate::conference::INVITATIONS_MAX, "items": {"oneOf": [text(256), {"$ref": "#/components/schemas/Invitation"}]}},
            "auto_invite": flag,
            "rights": {"anyOf": [{"$ref": "#/components/schemas/Rights"}, {"type": "object", "properties": {"guest": {"$ref": "#/components/schemas/Rights"}, "user": {"$ref": "#/components/schemas/Rights"}}, "additionalProperties": false}]},
            "state": {"type": "string", "enum": ["running", "stopped"]},
            "recording": flag,
            "pin": {"type": "string", "pattern": "^[0-9]{0,20}$", "nullable": true, "description": "\"\" or null: none"},
            "host_pin": {"type": "string", "pattern": "^[0-9]{0,20}$", "nullable": true, "description": "\"\" or null: none"},
            "auto_approve": flag, "waiting_room_enabled": flag, "on_join_mute_mic": flag,
            "on_join_mute_camera": flag, "wait_for_host": flag, "announce_join_leave": flag,
            "recording_enabled": flag, "auto_start_recording": flag, "music_on_hold": flag,
            "auto_termination_enabled": flag,
            "url": {"type": "string", "readOnly": true}, "webclient_url": {"type": "string", "readOnly": true},
            "created_at": {"type": "integer", "readOnly": true}, "stream_recording_state": {"type": "integer", "readOnly": true},
            "pin_protected": {"type": "boolean", "readOnly": true},
            "waiting_room": flag, "mute_mic_on_entry": flag, "camera_off_on_entry": flag, "auto_termination": flag
        }, "additionalProperties": false, "anyOf": agree,
            "not": {"properties": {"auto_start_recording": {"enum": [true, 1]}, "recording_enabled": {"enum": [false, 0]}}, "required": ["auto_start_recording", "recording_enabled"]}},
        "NewConference": {"allOf": [{"$ref": "#/components/schemas/Conference"}, {"required": ["topic", "owner"]}]},
        "ConferenceReply": {"type": "object", "properties": {"conference": {"$ref": "#/components/schemas/Conference"}}},
        "ConferenceList": {"type": "object", "properties": {"conferences": {"type": "array", "items": {"$ref": "#/components/schemas/Conference"}}, "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"}}},
        "State": {"type": "object", "properties": {"state": {"type": "string"}, "id": {"type": "string"}}},
        "Empty": {"type": "object"},
        "Participant": {"type": "object", "properties": {
            "id": {"type": "string"}, "display_name": {"type": "string"}, "guest": {"type": "boolean"},
            "role": {"type": "string", "enum": ["owner", "moderator", "operator", "speaker", "translator", "participant"]},
            "state": {"type": "string", "enum": ["admitted", "waiting"]},
            "waiting_reason": {"type": "string", "nullable": true, "enum": ["waiting_room", "waiting_for_host", "awaiting_approval"]},
            "podium": {"type": "boolean"}, "mic_muted": {"type": "boolean"}, "camera_off": {"type": "boolean"}, "sharing": {"type": "boolean"}}},
        "ParticipantList": {"type": "object", "properties": {"participants": {"type": "array", "items": {"$ref": "#/components/schemas/Participant"}}}},
        "ParticipantReply": {"type": "object", "properties": {"participant": {"$ref": "#/components/schemas/Participant"}}},
        "ParticipantChange": {"type": "object", "properties": {"role": {"type": "string", "enum": ["owner", "moderator", "operator", "speaker", "translator", "participant"]}, "podium": {"type": "boolean"}, "waiting_room": {"type": "boolean"}, "mic_muted": {"type": "boolean"}, "camera_off": {"type": "boolean"}}, "additionalProperties": false},
        "JoinRequest": {"type": "object", "properties": {"token": {"type": "string", "description": "a guest-link token from software/clients"}, "display_name": text(128), "pin": {"type": "string"}}, "additionalProperties": false},
        "JoinReply": {"type": "object", "properties": {
            "decision": {"type": "string", "enum": ["admitted", "waiting", "refused"]},
            "reason": {"type": "string", "nullable": true, "enum": ["waiting_room", "waiting_for_host", "awaiting_approval", "not_running", "wrong_pin", "guests_not_allowed", "not_planned", "full", "rejected"]},
            "message": {"type": "string"},
            "participant": {"$ref": "#/components/schemas/Participant"},
            "session": {"type": "string", "nullable": true, "description": "bearer token for the participant's own later requests"}}},
        "Invite": {"type": "object", "properties": {"participants": {"type": "array", "minItems": 1, "items": {"oneOf": [text(256), {"$ref": "#/components/schemas/Invitation"}]}}}, "required": ["participants"]},
        "Invitations": {"type": "object", "properties": {"invitations": {"type": "array", "items": {"$ref": "#/components/schemas/Invitation"}}, "added": {"type": "array", "items": {"$ref": "#/components/schemas/Invitation"}}}},
        "Ics": {"type": "string", "description": "text/calendar"},
        "Calendars": {"type": "object", "properties": {"google": {"type": "string"}, "outlook": {"type": "string"}, "ics": {"type": "string"}}},
        "Clients": {"type": "object", "properties": {"clients": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "type": {"type": "string"}, "platform": {"type": "string"},
            "web_url": {"type": "string"}, "iframe": {"type": "string"},
            "deeplinks": {"type": "object", "properties": {"default": {"type": "string"}, "android": {"type": "string"}}}}}}}},
        "Template": {"type": "object", "properties": {
            "id": {"type": "integer", "readOnly": true},
            "name": text(crate::conference::template::NAME_MAX),
            "settings": {"allOf": [{"$ref": "#/components/schemas/Conference"}, {"not": {"required": ["id"]}}]}},
            "additionalProperties": false},
        "NewTemplate": {"allOf": [{"$ref": "#/components/schemas/Template"}, {"required": ["name"]}]},
        "TemplateReply": {"type": "object", "properties": {"template": {"$ref": "#/components/schemas/Template"}}},
        "TemplateList": {"type": "object", "properties": {"templates": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}}}}
    })
}

/// Characters no text field may hold: Unicode's control characters (Cc).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// The whitespace `str::trim` removes that is not a control character.
const SPACE: &str = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A text field as the server checks it (`conference::printable`): up to
/// `max` characters, none a control character, not only whitespace.
pub fn text(max: usize) -> Value {
    json!({
        "type": "string",
        "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*[^{SPACE}{CONTROL}][^{CONTROL}]*$"),
    })
}

/// `software/clients`'s `user`: `2$<id>*<Display Name>` or
/// `$<Display Name>` (`links::parse_user`), at most 129 characters.
fn guest_user() -> Value {
    let part =
        |extra: &str| format!("[^{extra}{CONTROL}]*[^{extra}{SPACE}{CONTROL}][^{extra}{CONTROL}]*");
    json!({
        "type": "string",
        "maxLength": crate::server::links::USER_MAX,
        "pattern": format!("^(2\\${}\\*|\\$){}$", part("*"), part("")),
    })
}

fn error_body(schema: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}})
}

/// The whole document.
pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut params = Vec::new();
        for seg in r.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        for q in r.query {
            let schema = if q.schema == "USER" {
                guest_user()
            } else {
                serde_json::from_str(q.schema).expect("query schemas are JSON")
            };
            params.push(
                json!({"name": q.name, "in": "query", "required": q.required, "schema": schema}),
            );
        }
        let ok_type = if r.response == "Ics" {
            "text/calendar"
        } else {
            "application/json"
        };
        let mut responses = serde_json::Map::new();
        let ok = if r.ok == 204 {
            json!({"description": "Done, no content"})
        } else {
            json!({"description": "OK", "content": {ok_type: {"schema": {"$ref": format!("#/components/schemas/{}", r.response)}}}})
        };
        responses.insert(r.ok.to_string(), ok);
        if r.auth == Auth::None {
            responses.insert("400".into(), json!({"description": "Bad request (OAuth 2.0 error)", "content": error_body("OAuthError")}));
            responses.insert("401".into(), json!({"description": "Unknown client or wrong secret", "content": error_body("OAuthError")}));
            responses.insert("429".into(), json!({"description": "Too many refused grants from this address (slow_down); Retry-After says when to try again", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": error_body("OAuthError")}));
        } else {
            for (code, what) in [
                ("400", "Bad request: every bad field is named"),
                ("401", "Missing, expired or wrong token"),
                ("403", "Rights forbid it"),
                ("404", "No such conference, participant or template"),
                (
                    "409",
                    "Conflicts with the current state (duplicate CID, not waiting, podium full)",
                ),
            ] {
                responses.insert(
                    code.into(),
                    json!({"description": what, "content": error_body("Error")}),
                );
            }
        }
        responses.insert(
            "413".into(),
            json!({"description": "Request body too large"}),
        );
        if r.method == "post" && r.path.ends_with("/{id}/participants") {
            responses.insert("429".into(), json!({"description": "Too many wrong PINs for this conference from this address, or from all (PIN entry paused); Retry-After says when to try again", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": error_body("Error")}));
        }
        let mut op = json!({
            "summary": r.summary,
            "parameters": params,
            "responses": responses,
        });
        if let Some(req) = r.request {
            let ctype = if r.auth == Auth::None {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            op["requestBody"] = json!({"required": true, "content": {ctype: {"schema": {"$ref": format!("#/components/schemas/{req}")}}}});
        }
        op["security"] = match r.auth {
            Auth::None => json!([]),
            Auth::Bearer => json!([{"bearer": []}]),
            Auth::Optional => json!([{}, {"bearer": []}]),
        };
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("paths entries are objects")
            .insert(r.method.to_string(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "dais conferencing server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Compatible with TrueConf Server API v3.11: routes are also served under any /api/v3.N/ prefix."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let s = spec();
        let text = s.to_string();
        let schemas = s["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
        assert_eq!(s["paths"].as_object().unwrap().len(), 19);
    }
}

//! `GET /api/openapi.json`: an OpenAPI 3.0 description of every route and
//! schema of the conferencing server. [`ROUTES`] is also what the tests use
//! to check that every documented route answers.

use serde_json::{Value, json};

/// (method, path, summary, request schema, response schema)
pub const ROUTES: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "post",
        "/oauth2/v1/token",
        "Get an access token (client_credentials, password or refresh_token grant; form-encoded)",
        Some("TokenRequest"),
        "Token",
    ),
    (
        "get",
        "/api/v3.11/conferences",
        "List conferences (filters: state, owner, page, page_size)",
        None,
        "ConferenceList",
    ),
    (
        "post",
        "/api/v3.11/conferences",
        "Create a conference (id generated when absent)",
        Some("Conference"),
        "ConferenceReply",
    ),
    (
        "get",
        "/api/v3.11/conferences/{id}",
        "Get a conference",
        None,
        "ConferenceReply",
    ),
    (
        "put",
        "/api/v3.11/conferences/{id}",
        "Change a conference (only the fields given; the id may change)",
        Some("Conference"),
        "ConferenceReply",
    ),
    (
        "delete",
        "/api/v3.11/conferences/{id}",
        "Delete a conference",
        None,
        "State",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/run",
        "Start a conference",
        None,
        "ConferenceReply",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/stop",
        "Stop a conference (everyone leaves)",
        None,
        "ConferenceReply",
    ),
    (
        "get",
        "/api/v3.11/conferences/{id}/participants",
        "The roster as the caller may see it (the waiting room only for moderators)",
        None,
        "ParticipantList",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/participants",
        "Ask to join: with a guest-link token, as the bearer's user, or as a guest with display_name and pin. 200 admitted, 202 waiting, 403 refused",
        Some("JoinRequest"),
        "JoinReply",
    ),
    (
        "put",
        "/api/v3.11/conferences/{id}/participants/{pid}",
        "Change a participant: role, podium, waiting_room, mic_muted, camera_off",
        Some("ParticipantChange"),
        "ParticipantReply",
    ),
    (
        "delete",
        "/api/v3.11/conferences/{id}/participants/{pid}",
        "Remove a participant (or leave, for one's own session)",
        None,
        "State",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/participants/{pid}/admit",
        "Admit a waiting participant",
        None,
        "ParticipantReply",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/participants/{pid}/reject",
        "Decline a join request",
        None,
        "State",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/waiting_room/admit_all",
        "Admit everyone waiting (Invite all)",
        None,
        "ParticipantList",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/invite",
        "Invite participants",
        Some("Invite"),
        "Invitations",
    ),
    (
        "get",
        "/api/v3.11/conferences/{id}/invitations",
        "List invitations",
        None,
        "Invitations",
    ),
    (
        "post",
        "/api/v3.11/conferences/{id}/invitations",
        "Add invitations",
        Some("Invite"),
        "Invitations",
    ),
    (
        "delete",
        "/api/v3.11/conferences/{id}/invitations/{inv}",
        "Remove an invitation",
        None,
        "Empty",
    ),
    (
        "get",
        "/api/v3.11/conferences/{id}/ics",
        "The conference as an iCalendar (RFC 5545) event",
        None,
        "Ics",
    ),
    (
        "get",
        "/api/v3.11/conferences/{id}/calendars",
        "Add-to-calendar links for Google and Outlook, and the ICS URL",
        None,
        "Calendars",
    ),
    (
        "get",
        "/api/v3.11/software/clients",
        "Guest links for a conference (call_id, case, user=2$id*Name or $Name); valid for one minute and one join",
        None,
        "Clients",
    ),
    (
        "get",
        "/api/v3.11/templates",
        "List conference templates",
        None,
        "TemplateList",
    ),
    (
        "post",
        "/api/v3.11/templates",
        "Save a template",
        Some("Template"),
        "TemplateReply",
    ),
    (
        "get",
        "/api/v3.11/templates/{tid}",
        "Get a template",
        None,
        "TemplateReply",
    ),
    (
        "put",
        "/api/v3.11/templates/{tid}",
        "Rename a template or change its settings",
        Some("Template"),
        "TemplateReply",
    ),
    (
        "delete",
        "/api/v3.11/templates/{tid}",
        "Delete a template (it cannot be restored)",
        None,
        "Empty",
    ),
    (
        "post",
        "/api/v3.11/templates/{tid}/start",
        "Start a running conference from a template",
        None,
        "ConferenceReply",
    ),
];

fn bools(names: &[&str]) -> Value {
    let props: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.to_string(), json!({"type": "boolean"})))
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
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
        "OAuthError": {"type": "object", "properties": {"error": {"type": "string", "enum": ["invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type"]}, "error_description": {"type": "string"}}},
        "TokenRequest": {"type": "object", "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials", "password", "refresh_token"]},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "username": {"type": "string"}, "password": {"type": "string"}, "refresh_token": {"type": "string"}},
            "required": ["grant_type"]},
        "Token": {"type": "object", "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_in": {"type": "integer"}, "refresh_token": {"type": "string"}, "scope": {"type": "string"}}},
        "Rights": rights,
        "Schedule": {"oneOf": [
            {"type": "object", "properties": {"type": {"type": "integer", "enum": [-1]}}, "required": ["type"]},
            {"type": "object", "properties": {"type": {"type": "integer", "enum": [1]}, "start_time": {"type": "integer", "description": "Unix seconds"}, "duration": {"type": "integer", "minimum": 60}, "time_offset": {"type": "integer", "description": "minutes east of UTC"}}, "required": ["type", "start_time", "duration"]},
            {"type": "object", "properties": {"type": {"type": "integer", "enum": [0]}, "days": {"type": "array", "items": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 7}, {"type": "string"}]}}, "time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "duration": {"type": "integer", "minimum": 60, "maximum": 86400}, "time_offset": {"type": "integer"}}, "required": ["type", "days", "time", "duration"]}
        ]},
        "Invitation": {"type": "object", "properties": {"id": {"type": "string"}, "display_name": {"type": "string"}}, "required": ["id"]},
        "Conference": {"type": "object", "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            "topic": {"type": "string", "minLength": 1, "maxLength": 240},
            "description": {"type": "string"},
            "owner": {"type": "string"},
            "type": {"type": "integer", "enum": [0, 1, 3, 4], "description": "0 all on screen, 1 video lecture, 3 moderated role-based, 4 smart meeting"},
            "mode": {"type": "string", "enum": ["PxP", "OxP", "S|L", "S|L Auto"]},
            "max_participants": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 25},
            "max_podiums": {"type": "integer", "minimum": 1},
            "schedule": {"$ref": "#/components/schemas/Schedule"},
            "allow_guests": flag, "allow_only_planned_participants": flag,
            "invitations": {"type": "array", "items": {"$ref": "#/components/schemas/Invitation"}},
            "auto_invite": flag,
            "rights": {"oneOf": [{"$ref": "#/components/schemas/Rights"}, {"type": "object", "properties": {"guest": {"$ref": "#/components/schemas/Rights"}, "user": {"$ref": "#/components/schemas/Rights"}}}]},
            "state": {"type": "string", "enum": ["running", "stopped"]},
            "recording": flag,
            "pin": {"type": "string", "pattern": "^[0-9]{0,20}$"},
            "host_pin": {"type": "string", "pattern": "^[0-9]{0,20}$"},
            "auto_approve": flag, "waiting_room_enabled": flag, "on_join_mute_mic": flag,
            "on_join_mute_camera": flag, "wait_for_host": flag, "announce_join_leave": flag,
            "recording_enabled": flag, "auto_start_recording": flag, "music_on_hold": flag,
            "auto_termination_enabled": flag,
            "url": {"type": "string", "readOnly": true}, "webclient_url": {"type": "string", "readOnly": true},
            "created_at": {"type": "integer", "readOnly": true}, "stream_recording_state": {"type": "integer", "readOnly": true}
        }},
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
        "ParticipantChange": {"type": "object", "properties": {"role": {"type": "string"}, "podium": {"type": "boolean"}, "waiting_room": {"type": "boolean"}, "mic_muted": {"type": "boolean"}, "camera_off": {"type": "boolean"}}, "additionalProperties": false},
        "JoinRequest": {"type": "object", "properties": {"token": {"type": "string", "description": "a guest-link token from software/clients"}, "display_name": {"type": "string"}, "pin": {"type": "string"}}, "additionalProperties": false},
        "JoinReply": {"type": "object", "properties": {
            "decision": {"type": "string", "enum": ["admitted", "waiting", "refused"]},
            "reason": {"type": "string", "nullable": true, "enum": ["waiting_room", "waiting_for_host", "awaiting_approval", "not_running", "wrong_pin", "guests_not_allowed", "not_planned", "full", "rejected"]},
            "message": {"type": "string"},
            "participant": {"$ref": "#/components/schemas/Participant"},
            "session": {"type": "string", "nullable": true, "description": "bearer token for the participant's own later requests"}}},
        "Invite": {"type": "object", "properties": {"participants": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/Invitation"}]}}}, "required": ["participants"]},
        "Invitations": {"type": "object", "properties": {"invitations": {"type": "array", "items": {"$ref": "#/components/schemas/Invitation"}}, "added": {"type": "array", "items": {"$ref": "#/components/schemas/Invitation"}}}},
        "Ics": {"type": "string", "description": "text/calendar"},
        "Calendars": {"type": "object", "properties": {"google": {"type": "string"}, "outlook": {"type": "string"}, "ics": {"type": "string"}}},
        "Clients": {"type": "object", "properties": {"clients": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "type": {"type": "string"}, "platform": {"type": "string"},
            "web_url": {"type": "string"}, "iframe": {"type": "string"},
            "deeplinks": {"type": "object", "properties": {"default": {"type": "string"}, "android": {"type": "string"}}}}}}}},
        "Template": {"type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "minLength": 1, "maxLength": 100}, "settings": {"$ref": "#/components/schemas/Conference"}}},
        "TemplateReply": {"type": "object", "properties": {"template": {"$ref": "#/components/schemas/Template"}}},
        "TemplateList": {"type": "object", "properties": {"templates": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}}}}
    })
}

/// The whole document.
pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, request, response) in ROUTES {
        let mut params = Vec::new();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        let ok_type = if *response == "Ics" {
            "text/calendar"
        } else {
            "application/json"
        };
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {ok_type: {"schema": {"$ref": format!("#/components/schemas/{response}")}}}},
                "400": {"description": "Bad request: every bad field is named", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "Missing, expired or wrong token"},
                "403": {"description": "Rights forbid it"},
                "404": {"description": "No such conference, participant or template"},
                "409": {"description": "Conflicts with the current state (duplicate CID, not waiting, podium full)"},
                "413": {"description": "Request body too large"}
            }
        });
        if let Some(req) = request {
            let ctype = if *path == "/oauth2/v1/token" {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            op["requestBody"] = json!({"required": true, "content": {ctype: {"schema": {"$ref": format!("#/components/schemas/{req}")}}}});
        }
        if *path != "/oauth2/v1/token" {
            op["security"] = json!([{"bearer": []}]);
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("paths entries are objects")
            .insert(method.to_string(), op);
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

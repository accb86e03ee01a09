//! `/conferences/{id}/participants`: who is in, joining over REST,
//! moderation, and the waiting room's admit and reject.

use super::*;
use crate::conference::Standing;

pub(super) async fn participants(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    let list = server.participants(&caller, &p.id)?;
    Ok(axum::Json(json!({
        "participants": list.iter().map(member_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// A join request: with a guest-link `token`, as the bearer's user, or as
/// an anonymous guest with `display_name` (and `pin`).
pub(super) async fn join(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<IdPath>,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, ServerError> {
    let source = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let v = json_body(&body)?;
    let Value::Object(o) = &v else {
        return Err(ServerError::invalid("body", "a JSON object"));
    };
    let mut errs = Vec::new();
    for k in o.keys() {
        if !["token", "display_name", "pin"].contains(&k.as_str()) {
            errs.push(FieldError::new(
                k.as_str(),
                "unknown field; a join takes token, display_name and pin",
            ));
        }
    }
    let text = |k: &str, errs: &mut Vec<FieldError>| match o.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.push(FieldError::new(k, "a string"));
            None
        }
    };
    let token = text("token", &mut errs);
    let name = text("display_name", &mut errs);
    let pin = text("pin", &mut errs);
    if let Some(n) = &name
        && !crate::conference::printable(n, 128)
    {
        errs.push(FieldError::new(
            "display_name",
            "1 to 128 printable characters",
        ));
    }
    if !errs.is_empty() {
        return Err(ServerError::Invalid(errs));
    }
    let req = if let Some(token) = token {
        // A locked-out PIN is refused before the single-use link is spent.
        server.pin_gate(&p.id, pin.as_deref(), true, source)?;
        let link = server.redeem_link(&p.id, &token).await?;
        JoinRequest {
            id: format!("guest:{}", link.guest_id),
            display_name: name.unwrap_or(link.display_name),
            guest: true,
            pin,
            via_link: true,
        }
    } else {
        match caller.0 {
            Some(Caller::Principal(Principal::User {
                login,
                display_name,
            })) => JoinRequest {
                id: login,
                display_name: name.unwrap_or(display_name),
                guest: false,
                pin,
                via_link: false,
            },
            Some(Caller::Principal(Principal::Room { login })) => JoinRequest {
                id: login.clone(),
                display_name: name.unwrap_or(login),
                guest: false,
                pin,
                via_link: false,
            },
            Some(Caller::Principal(Principal::Client { .. })) | Some(Caller::Session(_)) => {
                return Err(ServerError::Forbidden(
                    "API clients join people with a guest link token (token); a participant session is already in".into(),
                ));
            }
            None => {
                let display_name = name
                    .ok_or_else(|| ServerError::invalid("display_name", "required for a guest"))?;
                JoinRequest {
                    id: format!("guest:{}", crate::server::auth::random_hex(6)),
                    display_name,
                    guest: true,
                    pin,
                    via_link: false,
                }
            }
        }
    };
    let out = server.join(&p.id, req, source)?;
    let (status, decision, reason, message) = match out.decision {
        JoinDecision::Admitted { .. } => {
            let admitted = Standing::Admitted.name();
            (StatusCode::OK, admitted, None, admitted.to_string())
        }
        JoinDecision::Waiting(r) => (
            StatusCode::ACCEPTED,
            Standing::Waiting.name(),
            Some(r.name()),
            wait_message(r).to_string(),
        ),
        JoinDecision::Refused(r) => (
            StatusCode::FORBIDDEN,
            "refused",
            Some(r.code()),
            r.to_string(),
        ),
    };
    Ok((
        status,
        axum::Json(json!({
            "decision": decision,
            "reason": reason,
            "message": message,
            "participant": out.member.as_ref().map(member_json),
            "session": out.session,
        })),
    )
        .into_response())
}

pub(super) fn wait_message(r: WaitReason) -> &'static str {
    match r {
        WaitReason::WaitingRoom => "you are in the waiting room; a moderator will let you in",
        WaitReason::WaitingForHost => "waiting for the host to join",
        WaitReason::AwaitingApproval => "waiting for the owner to approve your request",
    }
}

pub(super) async fn moderate(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<PidPath>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    let v = json_body(&body)?;
    let Value::Object(o) = &v else {
        return Err(ServerError::invalid("body", "a JSON object"));
    };
    let mut steps = Vec::new();
    let mut errs = Vec::new();
    let mut mic = None;
    let mut cam = None;
    for (k, val) in o {
        match (k.as_str(), val) {
            ("role", Value::String(r)) => match Role::from_name(r) {
                Some(role) => steps.push(Moderation::Role(p.pid.clone(), role)),
                None => errs.push(FieldError::new(
                    "role",
                    "owner, moderator, operator, speaker, translator or participant",
                )),
            },
            ("podium", Value::Bool(b)) => steps.push(Moderation::Podium(p.pid.clone(), *b)),
            ("waiting_room", Value::Bool(true)) => {
                steps.push(Moderation::ToWaitingRoom(p.pid.clone()))
            }
            ("waiting_room", Value::Bool(false)) => steps.push(Moderation::Admit(p.pid.clone())),
            ("mic_muted", Value::Bool(b)) => mic = Some(*b),
            ("camera_off", Value::Bool(b)) => cam = Some(*b),
            ("role" | "podium" | "waiting_room" | "mic_muted" | "camera_off", _) => {
                errs.push(FieldError::new(
                    k.as_str(),
                    if k == "role" {
                        "a role name"
                    } else {
                        "true or false"
                    },
                ))
            }
            _ => errs.push(FieldError::new(k.as_str(), "unknown field")),
        }
    }
    if !errs.is_empty() {
        return Err(ServerError::Invalid(errs));
    }
    if mic.is_some() || cam.is_some() {
        steps.push(Moderation::Media {
            id: p.pid.clone(),
            mic_muted: mic,
            camera_off: cam,
        });
    }
    for s in steps {
        server.moderate(&caller, &p.id, s)?;
    }
    participant_reply(&server, &caller, &p.id, &p.pid)
}

pub(super) fn participant_reply(
    server: &Server,
    caller: &Caller,
    cid: &str,
    pid: &str,
) -> Result<Response, ServerError> {
    let list = server.participants(caller, cid)?;
    let m = list
        .iter()
        .find(|m| m.id == pid)
        .map(member_json)
        .ok_or_else(|| ServerError::NotFound(format!("no participant {pid} in {cid}")))?;
    Ok(axum::Json(json!({"participant": m})).into_response())
}

pub(super) async fn remove_participant(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<PidPath>,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    server.moderate(&caller, &p.id, Moderation::Remove(p.pid.clone()))?;
    Ok(axum::Json(json!({"state": "removed", "id": p.pid})).into_response())
}

pub(super) async fn admit(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<PidPath>,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    server.moderate(&caller, &p.id, Moderation::Admit(p.pid.clone()))?;
    participant_reply(&server, &caller, &p.id, &p.pid)
}

pub(super) async fn reject(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<PidPath>,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    server.moderate(&caller, &p.id, Moderation::Reject(p.pid.clone()))?;
    Ok(axum::Json(json!({"state": "rejected", "id": p.pid})).into_response())
}

pub(super) async fn admit_all(
    State(server): State<Server>,
    caller: MaybeCaller,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let caller = need_caller(caller)?;
    server.moderate(&caller, &p.id, Moderation::AdmitAll)?;
    let list = server.participants(&caller, &p.id)?;
    Ok(
        axum::Json(json!({"participants": list.iter().map(member_json).collect::<Vec<_>>()}))
            .into_response(),
    )
}

// ---- invitations -------------------------------------------------------------

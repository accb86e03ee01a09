//! The REST API's HTTP face (axum): routes under `/api/v3.11/`, accepted
//! under any `/api/v3.N/` prefix, plus `POST /oauth2/v1/token`.
//!
//! Handlers parse, authenticate and call [`Server`]; they hold no rules.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{conference_json, member_json, parse_patch, parse_patch_partial, patch_json};
use super::{Caller, Filter, Moderation, Principal, Server, ServerError, Trigger, auth, links};
use crate::conference::roster::JoinRequest;
use crate::conference::{FieldError, JoinDecision, Role, RunState, WaitReason};

mod participants;
mod templates;
use participants::*;
use templates::*;

pub const API_PREFIX: &str = "/api/v3.11";

/// All routes of the conferencing server.
pub fn router(server: Server) -> Router {
    let api = Router::new()
        .route("/conferences", get(list).post(create))
        .route(
            "/conferences/{id}",
            get(get_one).put(update).delete(delete_one),
        )
        .route("/conferences/{id}/run", post(run))
        .route("/conferences/{id}/stop", post(stop))
        .route(
            "/conferences/{id}/participants",
            get(participants).post(join),
        )
        .route(
            "/conferences/{id}/participants/{pid}",
            axum::routing::put(moderate).delete(remove_participant),
        )
        .route("/conferences/{id}/participants/{pid}/admit", post(admit))
        .route("/conferences/{id}/participants/{pid}/reject", post(reject))
        .route("/conferences/{id}/waiting_room/admit_all", post(admit_all))
        .route("/conferences/{id}/invite", post(invite))
        .route(
            "/conferences/{id}/invitations",
            get(invitations).post(invite),
        )
        .route(
            "/conferences/{id}/invitations/{inv}",
            axum::routing::delete(uninvite),
        )
        .route("/conferences/{id}/ics", get(ics))
        .route("/conferences/{id}/calendars", get(calendars))
        .route("/software/clients", get(software_clients))
        .route("/templates", get(templates).post(create_template))
        .route(
            "/templates/{tid}",
            get(get_template)
                .put(update_template)
                .delete(delete_template),
        )
        .route("/templates/{tid}/start", post(start_template))
        .layer(middleware::from_fn(version_guard));
    Router::new()
        .nest("/api/{version}", api)
        .route("/oauth2/v1/token", post(token))
        .route("/api/openapi.json", get(openapi))
        .route("/c/{id}", get(conference_page))
        .with_state(server)
}

/// Only `/api/v3.N/` paths reach the handlers.
async fn version_guard(req: Request, next: Next) -> Response {
    // Inside `nest` the URI has lost its prefix; the original still has it.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let ok = path
        .strip_prefix("/api/v3.")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|minor| {
            !minor.is_empty() && minor.len() <= 3 && minor.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        next.run(req).await
    } else {
        ServerError::NotFound(
            "unknown API version: dais speaks /api/v3.N/ (v3.11 and its siblings)".into(),
        )
        .into_response()
    }
}

// ---- authentication -----------------------------------------------------

fn bearer(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut it = v.splitn(2, ' ');
        if let (Some(scheme), Some(tok)) = (it.next(), it.next())
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Some(tok.trim().to_string());
        }
    }
    parts.uri.query().and_then(|q| {
        form_urlencoded_pairs(q)
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    })
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

/// An authenticated API principal (401 otherwise).
pub struct Auth(pub Principal);

impl FromRequestParts<Server> for Auth {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        server: &Server,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ServerError::Unauthorized(
                "an access token is required (Authorization: Bearer ... or ?access_token=)".into(),
            )
        })?;
        server
            .auth()
            .check(&token, server.now())
            .map(Auth)
            .map_err(|m| ServerError::Unauthorized(m.into()))
    }
}

/// A principal, a participant session, or nobody.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<Server> for MaybeCaller {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        server: &Server,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            return Ok(MaybeCaller(None));
        };
        if let Ok(p) = server.auth().check(&token, server.now()) {
            return Ok(MaybeCaller(Some(Caller::Principal(p))));
        }
        if server.session(&token).is_some() {
            return Ok(MaybeCaller(Some(Caller::Session(token))));
        }
        Err(ServerError::Unauthorized(
            "the access token is not valid".into(),
        ))
    }
}

fn need_caller(c: MaybeCaller) -> Result<Caller, ServerError> {
    c.0.ok_or_else(|| {
        ServerError::Unauthorized("an access token or participant session is required".into())
    })
}

// ---- helpers ------------------------------------------------------------

/// The public base URL and the host part for links: `server.public_url`,
/// else the scheme the request arrived in and the `Host` it named.
struct Links(String, String);

impl axum::extract::FromRequestParts<Server> for Links {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        server: &Server,
    ) -> Result<Self, Self::Rejection> {
        let scheme = parts
            .extensions
            .get::<dais_core::origin::ServedScheme>()
            .copied()
            .unwrap_or_default();
        let (b, host) = base(server, &parts.headers, scheme.0);
        Ok(Links(b, host))
    }
}

fn base(server: &Server, headers: &HeaderMap, scheme: &str) -> (String, String) {
    if let Some(u) = &server.config().public_url {
        let host = u
            .split("://")
            .nth(1)
            .unwrap_or(u)
            .trim_end_matches('/')
            .to_string();
        return (u.trim_end_matches('/').to_string(), host);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost")
        .to_string();
    (format!("{scheme}://{host}"), host)
}

/// A request's JSON body: every route that reads one requires it.
fn json_body(bytes: &Bytes) -> Result<Value, ServerError> {
    if bytes.is_empty() {
        return Err(ServerError::invalid("body", "required: a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ServerError::invalid(
            "body",
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

fn api_prefix(version: &str) -> String {
    format!("/api/{version}")
}

#[derive(Deserialize)]
struct IdPath {
    version: String,
    id: String,
}

#[derive(Deserialize)]
struct PidPath {
    id: String,
    pid: String,
}

// ---- OAuth ----------------------------------------------------------------

async fn token(
    State(server): State<Server>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form: HashMap<String, String> = if ctype.starts_with("application/json") {
        match serde_json::from_slice::<HashMap<String, Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                return oauth_error(
                    "invalid_request",
                    &format!("the body is not valid JSON: {e}"),
                );
            }
        }
    } else {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                return oauth_error(
                    "invalid_request",
                    &format!("the body is not form-encoded: {e}"),
                );
            }
        }
    };
    // Guessing is slowed per source and per client or user it names
    // (server::auth::guesses::TOKEN_GUESSES, SOURCE_GUESSES). Argon2 takes tens of
    // milliseconds of a core and ~19 MiB: the checks run on the blocking
    // pool, two at a time, and the lockout is looked at again once it is a
    // request's turn, so requests sent at once cannot all slip past it.
    static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let subject = auth::grant_subject(&form);
    let mono = || server.clock().mono();
    let locked = |ip| server.auth().guesses.check(ip, &subject, mono());
    if let Some(ip) = peer
        && let Err(wait) = locked(ip)
    {
        return too_many_guesses(wait);
    }
    let Ok(_turn) = CHECKS.acquire().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Some(ip) = peer
        && let Err(wait) = locked(ip)
    {
        return too_many_guesses(wait);
    }
    let now = server.now();
    let s = server.clone();
    let Ok(granted) = tokio::task::spawn_blocking(move || s.auth().grant(&form, now)).await else {
        tracing::error!("token endpoint: the grant check failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Some(ip) = peer {
        match &granted {
            Ok(_) => server.auth().guesses.granted(ip, &subject),
            Err(e) if e.error == "invalid_client" || e.error == "invalid_grant" => {
                if let Some(lock) = server.auth().guesses.refused(ip, &subject, mono()) {
                    tracing::warn!(%ip, seconds = lock.as_secs(), "token endpoint: locked out after refused grants");
                }
            }
            // A malformed request guesses nothing and clears nothing.
            Err(_) => {}
        }
    }
    match granted {
        Ok(issued) => {
            if let Err(e) = server
                .save_tokens(issued.rows.clone(), issued.revoked.clone())
                .await
            {
                return e.into_response();
            }
            (
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(json!({
                    "access_token": issued.access_token,
                    "token_type": "Bearer",
                    "expires_in": issued.expires_in,
                    "refresh_token": issued.refresh_token,
                    "scope": "",
                })),
            )
                .into_response()
        }
        Err(e) => oauth_error(e.error, &e.description),
    }
}

/// 429 with `Retry-After`, in the OAuth error shape.
fn too_many_guesses(wait: std::time::Duration) -> Response {
    // Rounded up: a client waiting that long finds the lock gone.
    let secs = wait.as_millis().div_ceil(1000).max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        axum::Json(json!({
            "error": "slow_down",
            "error_description": format!("too many refused grants from this address; try again in {secs} s"),
        })),
    )
        .into_response()
}

fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

// ---- conferences ----------------------------------------------------------

async fn list(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ServerError> {
    let mut f = Filter::default();
    let mut errs = Vec::new();
    for (k, v) in &q {
        match k.as_str() {
            "state" => match v.as_str() {
                "running" => f.state = Some(RunState::Running),
                "stopped" => f.state = Some(RunState::Stopped),
                _ => errs.push(FieldError::new("state", "\"running\" or \"stopped\"")),
            },
            "owner" => f.owner = Some(v.clone()),
            "page" | "page_id" => match v.parse::<usize>() {
                Ok(n) if (1..=Filter::MAX_PAGE).contains(&n) => f.page = n,
                _ => errs.push(FieldError::new(
                    k.as_str(),
                    format!("a page number from 1 to {}", Filter::MAX_PAGE),
                )),
            },
            "page_size" => match v.parse::<usize>() {
                Ok(n) if (1..=Filter::MAX_PAGE_SIZE).contains(&n) => f.page_size = n,
                _ => errs.push(FieldError::new(
                    "page_size",
                    format!("1 to {}", Filter::MAX_PAGE_SIZE),
                )),
            },
            "access_token" => {}
            _ => errs.push(FieldError::new(k.as_str(), "unknown query parameter")),
        }
    }
    if !errs.is_empty() {
        return Err(ServerError::Invalid(errs));
    }
    let Links(b, _) = links;
    let (page, total) = server.list(&who, &f);
    Ok(axum::Json(json!({
        "conferences": page.iter().map(|c| conference_json(c, &b)).collect::<Vec<_>>(),
        "total": total,
        "page": f.page,
        "page_size": f.page_size,
    }))
    .into_response())
}

/// Parses a conference body; when some fields do not parse, the domain
/// still checks the others so that one answer names every bad field.
fn patch_or_all_errors(
    server: &Server,
    who: &Principal,
    cid: Option<&str>,
    v: &Value,
) -> Result<crate::conference::Patch, ServerError> {
    let (patch, mut errs) = parse_patch_partial(v);
    if errs.is_empty() {
        return Ok(patch);
    }
    for e in server.check(who, cid, &patch) {
        if !errs
            .iter()
            .any(|x| x.field == e.field || x.field.starts_with(&format!("{}.", e.field)))
        {
            errs.push(e);
        }
    }
    errs.sort_by(|a, b| a.field.cmp(&b.field));
    Err(ServerError::Invalid(errs))
}

async fn create(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    body: Bytes,
) -> Result<Response, ServerError> {
    let v = json_body(&body)?;
    let patch = patch_or_all_errors(&server, &who, None, &v)?;
    let c = server.create(&who, patch).await?;
    let Links(b, _) = links;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"conference": conference_json(&c, &b)})),
    )
        .into_response())
}

async fn get_one(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.get(&who, &p.id)?;
    let Links(b, _) = links;
    Ok(axum::Json(json!({"conference": conference_json(&c, &b)})).into_response())
}

async fn update(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let v = json_body(&body)?;
    let patch = patch_or_all_errors(&server, &who, Some(&p.id), &v)?;
    let c = server.update(&who, &p.id, patch).await?;
    let Links(b, _) = links;
    Ok(axum::Json(json!({"conference": conference_json(&c, &b)})).into_response())
}

async fn delete_one(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    server.delete(&who, &p.id).await?;
    Ok(axum::Json(json!({"state": "deleted", "id": p.id})).into_response())
}

async fn run(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.set_running(&who, &p.id, true, Trigger::Api).await?;
    let Links(b, _) = links;
    Ok(
        axum::Json(json!({"state": "running", "conference": conference_json(&c, &b)}))
            .into_response(),
    )
}

async fn stop(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.set_running(&who, &p.id, false, Trigger::Api).await?;
    let Links(b, _) = links;
    Ok(
        axum::Json(json!({"state": "stopped", "conference": conference_json(&c, &b)}))
            .into_response(),
    )
}

// ---- participants ------------------------------------------------------------

fn parse_people(v: &Value) -> Result<Vec<crate::conference::Invitation>, ServerError> {
    let list = v
        .get("participants")
        .or_else(|| v.get("invitations"))
        .ok_or_else(|| {
            ServerError::invalid(
                "participants",
                "required: a list of ids or {\"id\", \"display_name\"} objects",
            )
        })?;
    let patch = parse_patch(&json!({"invitations": list})).map_err(ServerError::Invalid)?;
    let people = patch.invitations.unwrap_or_default();
    let errors: Vec<_> = people
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.check(i))
        .collect();
    if !errors.is_empty() {
        return Err(ServerError::Invalid(errors));
    }
    if people.is_empty() {
        return Err(ServerError::invalid(
            "participants",
            "at least one participant",
        ));
    }
    Ok(people)
}

async fn invite(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<IdPath>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let v = json_body(&body)?;
    let people = parse_people(&v)?;
    let added = server.invite(&who, &p.id, people).await?;
    let c = server.get(&who, &p.id)?;
    Ok(axum::Json(json!({
        "added": added.iter().map(|i| json!({"id": i.id, "display_name": i.display_name})).collect::<Vec<_>>(),
        "invitations": c.invitations.iter().map(|i| json!({"id": i.id, "display_name": i.display_name})).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn invitations(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.get(&who, &p.id)?;
    Ok(axum::Json(json!({
        "invitations": c.invitations.iter().map(|i| json!({"id": i.id, "display_name": i.display_name})).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct InvPath {
    id: String,
    inv: String,
}

async fn uninvite(
    State(server): State<Server>,
    Auth(who): Auth,
    Path(p): Path<InvPath>,
) -> Result<Response, ServerError> {
    server.uninvite(&who, &p.id, &p.inv).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- calendars -------------------------------------------------------------------

async fn ics(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.get(&who, &p.id)?;
    let Links(b, host) = links;
    let text = super::calendar::ics(&c, &b, &host, server.now()).ok_or_else(|| {
        ServerError::Conflict(format!(
            "conference {} is a virtual room: it has no time to put in a calendar",
            p.id
        ))
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.ics\"", sanitize_filename(&p.id)),
            ),
        ],
        text,
    )
        .into_response())
}

fn sanitize_filename(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn calendars(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Path(p): Path<IdPath>,
) -> Result<Response, ServerError> {
    let c = server.get(&who, &p.id)?;
    let Links(b, _) = links;
    let links = super::calendar::calendars(&c, &b, &api_prefix(&p.version)).ok_or_else(|| {
        ServerError::Conflict(format!(
            "conference {} is a virtual room: it has no time to put in a calendar",
            p.id
        ))
    })?;
    Ok(axum::Json(links).into_response())
}

// ---- guest links ---------------------------------------------------------------------

async fn software_clients(
    State(server): State<Server>,
    Auth(who): Auth,
    links: Links,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ServerError> {
    let mut errs = Vec::new();
    let cid = q.get("call_id").cloned();
    if cid.as_deref().is_none_or(str::is_empty) {
        errs.push(FieldError::new("call_id", "required: the conference ID"));
    }
    match q.get("case").map(String::as_str) {
        None | Some("join_conference_button") => {}
        Some(_) => errs.push(FieldError::new(
            "case",
            "only join_conference_button is supported",
        )),
    }
    let user = match q.get("user") {
        Some(u) => match links::parse_user(u) {
            Ok(u) => Some(u),
            Err(e) => {
                errs.push(FieldError::new("user", e.trim_start_matches("user: ")));
                None
            }
        },
        None => {
            errs.push(FieldError::new(
                "user",
                "required: 2$<id>*<Display Name> or $<Display Name>",
            ));
            None
        }
    };
    if !errs.is_empty() {
        return Err(ServerError::Invalid(errs));
    }
    let (cid, user) = (
        cid.unwrap_or_default(),
        user.expect("errors were returned above"),
    );
    let (token, link) = server.issue_link(&who, &cid, &user).await?;
    let Links(b, host) = links;
    Ok(axum::Json(links::clients_json(&b, &host, &cid, &token, &link)).into_response())
}

// ---- templates ----------------------------------------------------------------------

fn admin(who: &Principal) -> Result<(), ServerError> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(ServerError::Forbidden(
            "templates belong to the room; only API clients and the room change them".into(),
        ))
    }
}

async fn openapi() -> Response {
    axum::Json(super::openapi::spec()).into_response()
}

/// `url` points here; the conference page is the web client.
async fn conference_page(Path(id): Path<String>) -> Response {
    Redirect::to(&format!("/webrtc/{}", links::pct(&id))).into_response()
}

//! The control API on HTTP: a WebSocket at `/control/ws` (JSON requests,
//! replies and events as text frames) and `POST /control` for one request
//! at a time (`Authorization: Bearer <control or API token>`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use dais_core::origin::ServedScheme;
use serde_json::Value;

use super::session::{ControlService, Session};
use crate::command::{CommandError, ErrorCode};

/// Largest WebSocket message or POST body accepted.
pub const MAX_MESSAGE: usize = 64 * 1024;

pub fn router(svc: Arc<ControlService>) -> Router {
    Router::new()
        .route("/control/ws", get(upgrade))
        .route("/control", post(one_request))
        .with_state(svc)
}

/// Refuses a request from another site's page (see `dais_core::origin`).
pub fn foreign_page(
    headers: &HeaderMap,
    scheme: Option<Extension<ServedScheme>>,
    allowed: &[String],
) -> Option<Response> {
    let value = |h| headers.get(h).and_then(|v| v.to_str().ok());
    let e = dais_core::origin::check(
        value(header::ORIGIN),
        value(header::HOST),
        scheme.map(|s| s.0).unwrap_or_default().0,
        allowed,
    )
    .err()?;
    tracing::warn!(error = %e, "refused a request from a web page");
    Some(reply(
        StatusCode::FORBIDDEN,
        super::request::reply(
            None,
            Err(CommandError::new(ErrorCode::Forbidden, e.to_string())),
        ),
    ))
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(svc): State<Arc<ControlService>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    scheme: Option<Extension<ServedScheme>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = foreign_page(&headers, scheme, &svc.app.shared.settings.web_origins()) {
        return refused;
    }
    let permit = match svc.slot(peer.ip()) {
        Ok(slot) => slot,
        Err(full) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("too many control connections: {full}"),
            )
                .into_response();
        }
    };
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            tracing::info!(%peer, "control: WebSocket controller connected");
            serve(socket, peer, &svc).await;
            tracing::info!(%peer, "control: WebSocket controller disconnected");
        })
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    // A client that stops reading is closed, not waited on.
    tokio::time::timeout(
        super::tcp::WRITE_DEADLINE,
        socket.send(Message::Text(v.to_string().into())),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

async fn serve(mut socket: WebSocket, peer: SocketAddr, svc: &ControlService) {
    let mut session = Session::new(peer, false, svc.rate_limit, false);
    let mut state = svc.app.watch();
    session.on_state(svc, &state.borrow_and_update().clone());
    let opened = std::time::Instant::now();
    loop {
        let Some(wait) = session.read_deadline(svc, opened) else {
            let _ = send(&mut socket, &super::tcp::too_slow()).await;
            return;
        };
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let st = state.borrow_and_update().clone();
                for ev in session.on_state(svc, &st) {
                    if !send(&mut socket, &ev).await {
                        return;
                    }
                }
            }
            msg = tokio::time::timeout(wait, socket.recv()) => {
                let reply = match msg {
                    Err(_) if !session.authed(svc) => {
                        let _ = send(&mut socket, &super::tcp::too_slow()).await;
                        return;
                    }
                    Err(_) => {
                        let v = super::request::reply(None, Err(CommandError::new(ErrorCode::Unavailable, "idle timeout: closing the connection")));
                        let _ = send(&mut socket, &v).await;
                        return;
                    }
                    Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                    Ok(Some(Ok(Message::Text(t)))) => session.on_text(svc, t.as_str()).await,
                    Ok(Some(Ok(Message::Binary(_)))) => super::request::reply(
                        None,
                        Err(CommandError::new(ErrorCode::BadRequest, "binary frames are not requests; send JSON text")),
                    ),
                    Ok(Some(Ok(_))) => continue,
                };
                if !send(&mut socket, &reply).await {
                    return;
                }
                if state.has_changed().unwrap_or(false) {
                    let st = state.borrow_and_update().clone();
                    for ev in session.on_state(svc, &st) {
                        if !send(&mut socket, &ev).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

async fn one_request(
    State(svc): State<Arc<ControlService>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    scheme: Option<Extension<ServedScheme>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = foreign_page(&headers, scheme, &svc.app.shared.settings.web_origins()) {
        return refused;
    }
    // JSON only: a page elsewhere cannot send it without asking first
    // (a CORS preflight, which dais does not grant).
    // A controller that sends no Content-Type (and no Origin) is read as
    // JSON too; a browser always names one.
    let json = match headers.get(header::CONTENT_TYPE) {
        None => headers.get(header::ORIGIN).is_none(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")),
    };
    if !json {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            super::request::reply(
                None,
                Err(CommandError::new(
                    ErrorCode::BadRequest,
                    "POST /control takes Content-Type: application/json",
                )),
            ),
        );
    }
    if body.len() > MAX_MESSAGE {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let mut session = Session::new(peer, false, svc.rate_limit, true);
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        let server = &svc.app.shared.server;
        let api_ok = server
            .auth()
            .check(token, server.now())
            .is_ok_and(|p| p.is_admin());
        if api_ok || svc.gate.token_valid(token, svc.now()) {
            session.set_authed();
        } else {
            return reply(
                StatusCode::UNAUTHORIZED,
                super::request::reply(
                    None,
                    Err(CommandError::new(
                        ErrorCode::Unauthorized,
                        "the bearer token is not valid or has expired",
                    )),
                ),
            );
        }
    }
    let text = String::from_utf8_lossy(&body);
    let v = session.on_text(&svc, &text).await;
    let status = match v["error"]["code"].as_str() {
        None => StatusCode::OK,
        Some("badRequest") => StatusCode::BAD_REQUEST,
        Some("unauthorized") => StatusCode::UNAUTHORIZED,
        Some("lockedOut") | Some("rateLimited") => StatusCode::TOO_MANY_REQUESTS,
        Some("notFound") => StatusCode::NOT_FOUND,
        Some("conflict") | Some("refused") => StatusCode::CONFLICT,
        Some("unavailable") => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply(status, v)
}

fn reply(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

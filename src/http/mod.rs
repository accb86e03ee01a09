//! The HTTP listener: the appliance's own endpoints (`/healthz`, `/readyz`,
//! `/status`, `/metrics`), and the routers other modules mount on it (the
//! conferencing server's REST API, the control API, the web client).
//!
//! Invariant: handlers only read the app's published state or call
//! `App::dispatch`; none of them mutates state directly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;

use crate::app::App;

pub mod listener;
pub mod tls;

pub use listener::serve;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{setting} {addr}: cannot listen: {source}")]
    Bind {
        setting: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the listener. Separate from serving so start-up can fail early with
/// the address named, and so port 0 resolves to a real port.
pub async fn bind(setting: &'static str, addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind {
            setting,
            addr,
            source,
        })
}

/// The panel's counters, set once the panel is up (it may never be).
pub type PanelSlot = Arc<std::sync::OnceLock<Arc<crate::panel::PanelStats>>>;

/// Whether a bearer token may see the room: its state, its counters, what
/// its display and panel show. The supervisor passes one that knows the
/// server's admin API tokens and the control API's tokens.
pub type Viewers = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the appliance's own routes read: the app, the panel, and who may
/// see the room.
#[derive(Clone)]
struct Edge {
    app: App,
    panel: PanelSlot,
    viewers: Viewers,
}

/// The appliance router. `/status`, `/metrics` and the two pictures need a
/// bearer token `viewers` accepts (or, for `/metrics`,
/// `http.metrics_token`); the health probes answer anyone.
pub fn router(app: App, panel: PanelSlot, viewers: Viewers) -> Router {
    let limit = app.shared.settings.http.max_body_bytes as usize;
    let api = if app.shared.settings.server.enabled {
        crate::server::api::router(app.shared.server.clone())
    } else {
        Router::new()
    };
    let edge = Edge {
        app,
        panel,
        viewers,
    };
    let private = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/panel/screenshot.png", get(panel_screenshot))
        .route("/display/snapshot.png", get(display_snapshot))
        .route_layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            viewers_only,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(private)
        .fallback(not_found)
        .with_state(edge)
        .merge(api)
        .layer(DefaultBodyLimit::max(limit))
}

/// Refuses, with 421, every request whose `Host` is not a name dais
/// answers to (`dais_core::origin::host_known`): a page that reached dais
/// through DNS rebinding gets nothing, not even the web client. The
/// health probes answer whatever name they were sent to.
pub fn known_hosts_only(router: Router, allowed: Vec<String>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::<[String]>::from(allowed),
        known_host,
    ))
}

async fn known_host(
    State(allowed): State<Arc<[String]>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    // The machine's names are read when a request needs them, so a new
    // host name from provisioning applies without a restart.
    match dais_core::origin::host_known(host, &[], &allowed)
        .or_else(|_| dais_core::origin::host_known(host, &own_names(), &allowed))
    {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(error = %e, path, "refused a request for a name dais does not answer to");
            (
                StatusCode::MISDIRECTED_REQUEST,
                axum::Json(json!({"error": {"code": 421, "message": e.to_string()}})),
            )
                .into_response()
        }
    }
}

/// The bearer token of a request, if it sends one.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

/// Lets through only requests whose token may see the room; 401 naming
/// where to get one otherwise.
async fn viewers_only(
    State(edge): State<Edge>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let scrape = &edge.app.shared.settings.http.metrics_token;
    let allowed = bearer(req.headers()).is_some_and(|token| {
        (path == "/metrics"
            && !scrape.is_empty()
            && dais_core::conference::pin_matches(scrape.expose(), token))
            || (edge.viewers)(token)
    });
    if allowed {
        return next.run(req).await;
    }
    let message = if path == "/metrics" {
        "GET /metrics needs Authorization: Bearer with http.metrics_token, an admin API token (POST /oauth2/v1/token) or a control token (the control API's auth)"
    } else {
        "this needs Authorization: Bearer with an admin API token (POST /oauth2/v1/token) or a control token (the control API's auth)"
    };
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"code": 401, "message": message}})),
    )
        .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"dais\""),
    );
    resp
}

/// The machine's host name, and its first label when it has several.
fn own_names() -> Vec<String> {
    let full = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let full = full.trim();
    let mut names = vec![full.to_string()];
    if let Some((short, _)) = full.split_once('.') {
        names.push(short.to_string());
    }
    names
}

/// What the plain listener serves when HTTPS is on: the health probes
/// (load balancers and systemd checks need no certificate), the device CA
/// (to trust before the first HTTPS visit; compare its fingerprint with
/// the panel's), 403 for anything carrying credentials (`Authorization`,
/// the control API, the token endpoint), and for everything else a
/// redirect to the same path on HTTPS at `https_port`.
pub fn redirect_router(app: App, https_port: u16, tls: Arc<tls::Tls>) -> Router {
    let edge = Edge {
        app,
        panel: PanelSlot::default(),
        viewers: Arc::new(|_: &str| false),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(edge)
        .merge(certificate_router(tls))
        .fallback(move |req: axum::extract::Request| to_https(req, https_port))
}

/// `GET /device-ca.pem`: the CA that issued the device certificate, for
/// an organisation to trust (404 when the operator's certificate is
/// served).
pub fn certificate_router(tls: Arc<tls::Tls>) -> Router {
    Router::new().route(
        "/device-ca.pem",
        get(move || {
            let tls = tls.clone();
            async move {
                match tls.device_ca_pem() {
                    Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
                    None => (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"error": {"code": 404, "message": "this dais serves the operator's certificate (http.tls_certificate), not a device certificate: its issuer is the organisation's"}})),
                    )
                        .into_response(),
                }
            }
        }),
    )
}

/// 308 to the same path and query on HTTPS, on the host the client asked
/// for (already one dais answers to: `known_hosts_only` runs first).
async fn to_https(req: axum::extract::Request, https_port: u16) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some(name) = host_name(host) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": 400, "message": "this listener serves HTTPS links only: send Host so dais can say where"}})),
        )
            .into_response();
    };
    let authority = if https_port == 443 {
        name.to_string()
    } else {
        format!("{name}:{https_port}")
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("https://{authority}{path}");
    // A secret that came here crossed the network in the clear: refuse it
    // loudly rather than redirect, so the client that sent it is fixed
    // instead of working on (and leaking on every request).
    let p = req.uri().path();
    if req.headers().contains_key(header::AUTHORIZATION)
        || p.starts_with("/control")
        || p.starts_with("/oauth2")
    {
        tracing::warn!(
            path = p,
            "refused a request with credentials on the plain HTTP port"
        );
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": {"code": 403, "message": format!(
                "this is dais's plain HTTP port: credentials sent here crossed the network unencrypted and are refused; send them to {location} (HTTPS) and change any that were sent here"
            )}})),
        )
            .into_response();
    }
    match axum::http::HeaderValue::from_str(&location) {
        Ok(v) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, v)],
            axum::Json(json!({"error": {"code": 308, "message": format!("dais serves this over HTTPS: {location}")}})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": 400, "message": "the Host header cannot make a link"}})),
        )
            .into_response(),
    }
}

/// The name part of a `Host` value: without its port, an IPv6 literal
/// with its brackets.
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    (!name.is_empty()).then_some(name)
}

async fn healthz() -> impl IntoResponse {
    // Alive: the runtime answers. Readiness is /readyz.
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

async fn readyz(State(Edge { app, .. }): State<Edge>) -> Response {
    let st = app.state();
    let pending = st.pending();
    if pending.is_empty() {
        (StatusCode::OK, axum::Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ready": false, "waitingFor": pending})),
        )
            .into_response()
    }
}

async fn status(State(Edge { app, panel, .. }): State<Edge>) -> Response {
    let st = app.state();
    let sh = &app.shared;
    let preview = sh.media_stats.get().map(|s| {
        json!({
            "framesDisplayed": s.frames_displayed.load(Ordering::Relaxed),
            "framesToPanel": s.frames_to_panel.load(Ordering::Relaxed),
            "restarts": s.camera_restarts.load(Ordering::Relaxed),
            "micLevelDb": s.mic_level_db.lock().ok().and_then(|m| *m),
            "remoteLevelsDb": s.remote_levels_db.lock().map(|m| m.clone()).unwrap_or_default(),
            "remoteFramesDecoded": s.remote_frames_decoded.load(Ordering::Relaxed),
            "speakerLevelDb": s.speaker_level_db.lock().ok().and_then(|m| *m),
            "remoteDelayMs": s.remote_delay_ms.lock().map(|m| m.clone()).unwrap_or_default(),
            "remoteLeadMs": s.remote_lead_ms.lock().map(|m| m.clone()).unwrap_or_default(),
            "lateTracks": s.late_tracks.load(Ordering::Relaxed),
            "remoteRepair": s.repair_counts(),
            "sendVideo": s.send_video.lock().map(|m| m.clone()).unwrap_or_default(),
            "displayTiles": s.display_tiles.lock().map(|t| t.clone()).unwrap_or_default(),
        })
    });
    let panel = panel.get().map(|p| {
        json!({
            "backend": p.backend(),
            "framesRendered": p
                .counts_frames
                .load(Ordering::Relaxed)
                .then(|| p.frames_rendered.load(Ordering::Relaxed)),
            "previewFramesShown": p.preview_frames.load(Ordering::Relaxed),
            "focus": p.focus.lock().map(|f| f.clone()).unwrap_or_default(),
        })
    });
    let report = sh.store.report();
    // Where the CPU went since the last /status, busiest threads first.
    let process = match crate::process::read_threads() {
        Ok(threads) => sh
            .cpu
            .lock()
            .map(|mut w| {
                json!(w.update(
                    sh.started.elapsed(),
                    crate::process::ticks_per_second(),
                    &threads,
                    12,
                ))
            })
            .unwrap_or_default(),
        Err(e) => json!({ "error": e.to_string() }),
    };
    axum::Json(json!({
        "state": st,
        "uptimeSeconds": sh.started.elapsed().as_secs(),
        "store": {
            "path": report.path,
            "schemaVersion": report.schema_version,
            "migrationsAppliedThisStart": report.applied,
            "created": report.created,
            "boot": sh.boot,
        },
        "preview": preview,
        "panel": panel,
        "conferenceMedia": sh.sfu.stats(),
        "conferenceTracks": sh.sfu.track_stats(),
        "conferencePeers": sh.sfu.peer_stats(),
        "process": process,
    }))
    .into_response()
}

/// Prometheus text exposition of the counters a fleet dashboard watches.
async fn metrics(State(Edge { app, panel, .. }): State<Edge>) -> Response {
    let st = app.state();
    let sh = &app.shared;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    gauge(
        "dais_up",
        "1 when dais is ready.",
        "gauge",
        u64::from(st.ready()),
    );
    gauge(
        "dais_uptime_seconds",
        "Seconds since dais started.",
        "gauge",
        sh.started.elapsed().as_secs(),
    );
    if let Some(s) = sh.media_stats.get() {
        gauge(
            "dais_preview_frames_displayed_total",
            "Frames the room display sink received.",
            "counter",
            s.frames_displayed.load(Ordering::Relaxed),
        );
        gauge(
            "dais_preview_restarts_total",
            "Times the preview pipeline was rebuilt after a failure.",
            "counter",
            s.camera_restarts.load(Ordering::Relaxed),
        );
        let r = s.repair_totals();
        for (name, help, value) in [
            (
                "dais_send_video_steps_down_total",
                "Times the picture the room sends stepped down because its encoder could not keep up with the camera.",
                s.send_steps_down.load(Ordering::Relaxed),
            ),
            (
                "dais_send_video_steps_up_total",
                "Times the picture the room sends stepped back up after a calm while.",
                s.send_steps_up.load(Ordering::Relaxed),
            ),
            (
                "dais_remote_video_packets_received_total",
                "RTP packets of far-end video the room's jitter buffers passed on.",
                r.packets_received,
            ),
            (
                "dais_remote_video_packets_lost_total",
                "Far-end video packets lost for good (not even retransmitted in time).",
                r.packets_lost,
            ),
            (
                "dais_remote_video_packets_late_total",
                "Far-end video packets that arrived after their time.",
                r.packets_late,
            ),
            (
                "dais_remote_video_nacks_total",
                "Retransmissions of far-end video the room asked for (NACK).",
                r.nacks_sent,
            ),
            (
                "dais_remote_video_nacks_answered_total",
                "Asked-for retransmissions that arrived in time.",
                r.nacks_answered,
            ),
            (
                "dais_remote_video_keyframe_requests_total",
                "Keyframes the room asked of far ends after a loss (PLI).",
                r.keyframe_requests,
            ),
            (
                "dais_remote_video_freezes_total",
                "Far-end pictures that froze for more than 600 ms.",
                r.freezes,
            ),
            (
                "dais_remote_video_frozen_milliseconds_total",
                "Time far-end pictures were frozen.",
                r.frozen_ms,
            ),
        ] {
            gauge(name, help, "counter", value);
        }
    }
    let sfu = sh.sfu.stats();
    gauge(
        "dais_conference_media_peers",
        "Participants' media connections on the embedded server.",
        "gauge",
        sfu.peers as u64,
    );
    gauge(
        "dais_conference_media_received_packets_total",
        "RTP packets the embedded server received from participants.",
        "counter",
        sfu.received_packets,
    );
    gauge(
        "dais_conference_media_forwarded_packets_total",
        "RTP packets the embedded server forwarded to participants.",
        "counter",
        sfu.forwarded_packets,
    );
    gauge(
        "dais_conference_media_lost_packets_total",
        "Packets missing from participants' tracks as the embedded server received them.",
        "counter",
        sfu.lost_packets,
    );
    gauge(
        "dais_conference_media_keyframe_requests_total",
        "Keyframes the embedded server asked of participants.",
        "counter",
        sfu.keyframe_requests,
    );
    for (name, help, value) in [
        (
            "dais_conference_media_nacks_sent_total",
            "Retransmissions the embedded server asked of participants.",
            sfu.repair.nacks_sent,
        ),
        (
            "dais_conference_media_nacks_answered_total",
            "Of those, retransmissions that arrived in time.",
            sfu.repair.nacks_answered,
        ),
        (
            "dais_conference_media_retransmissions_received_total",
            "Retransmitted packets that came back from participants, in time or not.",
            sfu.repair.retransmissions_received,
        ),
        (
            "dais_conference_media_nacks_received_total",
            "Retransmissions participants asked of the embedded server.",
            sfu.repair.nacks_received,
        ),
        (
            "dais_conference_media_retransmitted_packets_total",
            "Packets the embedded server sent again.",
            sfu.repair.retransmitted,
        ),
    ] {
        gauge(name, help, "counter", value);
    }
    gauge(
        "dais_conference_media_malformed_packets_total",
        "Received RTP packets the embedded server could not parse.",
        "counter",
        sfu.malformed_packets,
    );
    if let Some(p) = panel.get() {
        gauge(
            "dais_panel_frames_rendered_total",
            "Frames the panel renderer drew.",
            "counter",
            p.frames_rendered.load(Ordering::Relaxed),
        );
    }
    gauge(
        "dais_boots_total",
        "Starts of dais on this data directory.",
        "counter",
        sh.boot.count as u64,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// The panel's last rendered frame as PNG (headless backend), for remote
/// support and tests.
async fn panel_screenshot(State(Edge { panel, .. }): State<Edge>) -> Response {
    let snap = panel
        .get()
        .and_then(|p| p.last_frame.lock().ok().and_then(|f| f.clone()));
    let Some(snap) = snap else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404, "message": "the panel has not rendered a frame in memory (it is off, starting, or on a screen)"}})),
        )
            .into_response();
    };
    match tokio::task::spawn_blocking(move || encode_png(&snap)).await {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the screenshot",
        )
            .into_response(),
    }
}

/// What the room display shows right now (appsink displays), as PNG.
async fn display_snapshot(State(Edge { app, .. }): State<Edge>) -> Response {
    let sample = app
        .shared
        .media_stats
        .get()
        .and_then(|s| s.last_display_sample.lock().ok().and_then(|f| f.clone()));
    let snap = sample.and_then(|s| {
        let info = gst_video::VideoInfo::from_caps(s.caps()?).ok()?;
        let buf = s.buffer()?;
        let map = buf.map_readable().ok()?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let o = y * stride + x * 4;
                rgb.extend_from_slice(map.get(o..o + 3)?);
            }
        }
        Some(crate::panel::Snapshot {
            width: w as u32,
            height: h as u32,
            rgb,
        })
    });
    let Some(snap) = snap else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404, "message": "the display keeps no frames in memory (it is a screen, or not started)"}})),
        )
            .into_response();
    };
    match tokio::task::spawn_blocking(move || encode_png(&snap)).await {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the snapshot",
        )
            .into_response(),
    }
}

fn encode_png(s: &crate::panel::Snapshot) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, s.width, s.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&s.rgb)?;
    Ok(out)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"code": 404, "message": "no such endpoint"}})),
    )
        .into_response()
}

//! The app: the one dispatcher and the one loop that owns the room's state.
//! The supervisor that starts and stops every service, this loop among
//! them, is outside it (`crate::supervisor`).
//!
//! Every input (panel, remote, control network, REST, links) calls
//! [`App::dispatch`]. Commands become [`AppEvent`]s on one channel; a single
//! task owns [`AppState`], applies events in order (`dispatch.rs`) and
//! publishes each new state on a `watch` channel. Nobody else mutates it.

mod dispatch;
pub mod state;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

pub use state::{Activity, AppState, Endpoints, Service, ServiceState};

use crate::command::{Command, CommandError, ErrorCode, Source};
use crate::config::Settings;
use crate::devices::Selection;
use crate::media::{MediaEvent, MediaHandle, RoomStats};
use crate::server::ServerEvent;
use crate::store::Store;

/// What a command returns. Serialised as the `result` of a control reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    AppState(Box<AppState>),
    Hardware(Option<Box<Selection>>),
    Json(serde_json::Value),
    Done,
}

/// Everything the app loop reacts to: one closed enum, matched exhaustively.
pub enum AppEvent {
    Command {
        command: Command,
        source: Source,
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    Service(Service, ServiceState),
    Endpoints(Endpoints),
    /// The HTTPS listener serves another certificate (reloaded).
    Certificate(state::Certificate),
    Hardware(Selection),
    MediaStarted(MediaHandle),
    Media(MediaEvent),
    Server(ServerEvent),
    Devices(crate::devices::monitor::Change),
    /// Something happened in the room's conference call number `.0`.
    Call(u64, crate::sfu::client::CallEvent),
    /// Join number `.0` (the call number it has if it succeeds) ended.
    Connected(
        u64,
        Box<Result<(crate::sfu::client::Call, crate::sfu::client::Joined), CommandError>>,
    ),
    /// The call flow's timer for the time `.0` (Unix seconds) fired.
    CallTimer(u64),
    Stopping,
}

/// Facts fixed for the life of the process, readable without the loop.
pub struct Shared {
    pub settings: Settings,
    pub store: Store,
    pub boot: BootInfo,
    pub started: Instant,
    pub media_stats: std::sync::OnceLock<Arc<RoomStats>>,
    /// The embedded conferencing server.
    pub server: crate::server::Server,
    /// Its live conferences' media.
    pub sfu: crate::sfu::Sfu,
    /// The process's CPU by thread, between two readings of `/status`.
    pub cpu: std::sync::Mutex<crate::process::CpuWatch>,
}

pub use crate::store::BootInfo;

/// A handle to the running app. Cheap to clone.
#[derive(Clone)]
pub struct App {
    tx: mpsc::Sender<AppEvent>,
    state: watch::Receiver<AppState>,
    pub shared: Arc<Shared>,
}

impl App {
    /// Starts the app loop.
    pub fn start(initial: AppState, shared: Shared) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let (state_tx, state_rx) = watch::channel(initial);
        let shared = Arc::new(shared);
        tokio::spawn(dispatch::run_loop(
            rx,
            tx.downgrade(),
            state_tx,
            shared.clone(),
        ));
        Self {
            tx,
            state: state_rx,
            shared,
        }
    }

    /// The one dispatcher: every input's commands come through here.
    /// A link is parsed and its commands run in order; the first failure
    /// stops the rest and is returned, naming the step.
    pub async fn dispatch(&self, command: Command, source: Source) -> Result<Reply, CommandError> {
        command.validate()?;
        if let Command::OpenLink { link } = &command {
            return self.open_link(link, source).await;
        }
        tracing::debug!(method = command.method(), %source, "command");
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(AppEvent::Command {
                command,
                source,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    async fn open_link(&self, link: &str, source: Source) -> Result<Reply, CommandError> {
        let parsed = dais_core::uri::parse(link.trim())
            .map_err(|e| CommandError::new(ErrorCode::BadRequest, format!("link: {e}")))?;
        for w in &parsed.warnings {
            tracing::warn!(%source, "{w}");
        }
        let commands = dais_core::link::commands(&parsed.link);
        let mut steps = Vec::new();
        for (i, c) in commands.into_iter().enumerate() {
            let method = c.method();
            // Boxed: a link's commands never contain another link.
            match Box::pin(self.dispatch(c, source.clone())).await {
                Ok(r) => steps.push(serde_json::json!({"method": method, "result": r})),
                Err(e) => {
                    return Err(CommandError::new(
                        e.code,
                        format!("step {} ({method}): {}", i + 1, e.message),
                    ));
                }
            }
        }
        Ok(Reply::Json(serde_json::json!({
            "steps": steps,
            "warnings": parsed.warnings,
        })))
    }

    /// Feeds a non-command event to the loop.
    pub async fn post(&self, event: AppEvent) {
        let _ = self.tx.send(event).await;
    }

    /// The current state and every later change.
    pub fn watch(&self) -> watch::Receiver<AppState> {
        self.state.clone()
    }

    pub fn state(&self) -> AppState {
        self.state.borrow().clone()
    }
}

fn stopped() -> CommandError {
    CommandError::new(ErrorCode::Unavailable, "dais is stopping")
}

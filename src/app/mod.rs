//! The app: the one dispatcher, the one loop that owns the room's state, and
//! the supervisor that starts and stops every service.
//!
//! Every input (panel, remote, control network, REST) calls
//! [`App::dispatch`]. Commands that change the room become [`AppEvent`]s on
//! one channel; a single task owns [`AppState`], applies events in order and
//! publishes each new state on a `watch` channel. Nobody else mutates it.

pub mod logging;
mod run;
pub mod state;
pub mod systemd;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

pub use run::{RunOptions, run};
pub use state::{Activity, AppState, Endpoints, Service, ServiceState};

use crate::command::{Command, CommandError, ErrorCode, Source};
use crate::config::Settings;
use crate::devices::Selection;
use crate::media::{MediaEvent, PreviewHandle, PreviewStats};
use crate::store::Store;

/// What a command returns. Serialised as the `result` of a control reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    AppState(Box<AppState>),
    Hardware(Option<Selection>),
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
    Hardware(Selection),
    PreviewStarted(PreviewHandle),
    Media(MediaEvent),
    Stopping,
}

/// Facts fixed for the life of the process, readable without the loop.
pub struct Shared {
    pub settings: Settings,
    pub store: Store,
    pub boot: BootInfo,
    pub started: Instant,
    pub preview_stats: std::sync::OnceLock<Arc<PreviewStats>>,
    pub panel_stats: std::sync::OnceLock<Arc<crate::panel::PanelStats>>,
    /// The embedded conferencing server.
    pub server: crate::server::Server,
}

/// This start of dais as the store recorded it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootInfo {
    pub id: i64,
    /// How many times dais has started on this data directory.
    pub count: i64,
    /// Whether the run before this one stopped cleanly (`None` on first start).
    pub previous_clean: Option<bool>,
}

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
        tokio::spawn(run_loop(rx, state_tx));
        Self {
            tx,
            state: state_rx,
            shared: Arc::new(shared),
        }
    }

    /// The one dispatcher: every input's commands come through here.
    pub async fn dispatch(&self, command: Command, source: Source) -> Result<Reply, CommandError> {
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

async fn run_loop(mut rx: mpsc::Receiver<AppEvent>, state: watch::Sender<AppState>) {
    let mut preview: Option<PreviewHandle> = None;
    while let Some(event) = rx.recv().await {
        match event {
            AppEvent::Command {
                command,
                source,
                reply,
            } => {
                let result = handle_command(command, &source, &state, preview.as_ref()).await;
                if let Err(e) = &result {
                    tracing::info!(%source, error = %e, "command refused");
                }
                let _ = reply.send(result);
            }
            AppEvent::Service(service, s) => {
                state.send_if_modified(|st| {
                    let before = st.clone();
                    st.set_service(service, s);
                    *st != before
                });
            }
            AppEvent::Endpoints(e) => {
                state.send_modify(|st| st.endpoints = e);
            }
            AppEvent::Hardware(sel) => {
                state.send_modify(|st| st.hardware = Some(sel));
            }
            AppEvent::PreviewStarted(handle) => preview = Some(handle),
            AppEvent::Media(MediaEvent::Preview(p)) => {
                state.send_if_modified(|st| {
                    if st.preview == p {
                        return false;
                    }
                    st.set_preview(p);
                    true
                });
            }
            AppEvent::Stopping => {
                state.send_modify(|st| st.activity = Activity::Stopping);
            }
        }
    }
}

async fn handle_command(
    command: Command,
    _source: &Source,
    state: &watch::Sender<AppState>,
    preview: Option<&PreviewHandle>,
) -> Result<Reply, CommandError> {
    match command {
        Command::GetAppState => Ok(Reply::AppState(Box::new(state.borrow().clone()))),
        Command::GetHardware => Ok(Reply::Hardware(state.borrow().hardware.clone())),
        Command::Standby => {
            let activity = state.borrow().activity;
            match activity {
                Activity::Standby => Ok(Reply::Done),
                Activity::Idle => {
                    if let Some(p) = preview {
                        p.standby().await;
                    }
                    state.send_modify(|st| st.activity = Activity::Standby);
                    Ok(Reply::Done)
                }
                Activity::Starting | Activity::Stopping => Err(CommandError::new(
                    ErrorCode::Conflict,
                    format!("cannot enter standby while {activity:?}").to_lowercase(),
                )),
            }
        }
        Command::Wake => {
            let activity = state.borrow().activity;
            match activity {
                Activity::Standby => {
                    if let Some(p) = preview {
                        p.wake().await;
                    }
                    state.send_modify(|st| st.activity = Activity::Idle);
                    Ok(Reply::Done)
                }
                Activity::Idle | Activity::Starting => Ok(Reply::Done),
                Activity::Stopping => Err(CommandError::new(
                    ErrorCode::Conflict,
                    "cannot wake while stopping",
                )),
            }
        }
    }
}

//! The touch panel: the Slint UI in `ui/`, on its own thread.
//!
//! Backends: a window on a desktop (winit, software renderer), full screen
//! on a DRM device (Slint's LinuxKMS backend), or [`headless`] rendering into
//! memory. Rust meets the UI only through the `export global` singletons of
//! `ui/api/`; one controller per feature ([`home`], [`templates`], [`settings`]) sets their
//! properties from the app's published state and turns their callbacks into
//! `Command`s for the one dispatcher.
//!
//! Invariant: the panel never changes room state itself; it dispatches a
//! command and redraws from the state the app publishes, so a change made
//! from any other input appears here too.

pub mod contacts;
mod headless;
mod home;
mod keys;
mod offscreen;
pub mod settings;
pub mod templates;
pub mod today;

pub use home::{show, show_today, wire};
pub use keys::apply as apply_key;
pub use offscreen::OffscreenPanel;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use crate::app::App;
use crate::config::{PanelBackend, PanelSettings};
use crate::media::RgbFrame;

slint::include_modules!();

#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    #[error("panel backend {backend}: {reason}")]
    Backend {
        backend: &'static str,
        reason: String,
    },
    #[error("the panel thread could not start: {0}")]
    Thread(String),
}

/// Where the panel's commands go: the app's one dispatcher on the
/// appliance, a recorder in tests.
pub type Dispatch = Arc<dyn Fn(crate::command::Command) + Send + Sync>;

/// A rendered frame of the panel (headless backend).
#[derive(Clone)]
pub struct Snapshot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// Counters readable from any thread.
#[derive(Default)]
pub struct PanelStats {
    backend: Mutex<&'static str>,
    /// Frames drawn, when the renderer reports them (see `counts_frames`).
    pub frames_rendered: AtomicU64,
    /// Whether `frames_rendered` is counted: the headless platform always
    /// counts, on a screen only renderers with rendering notifiers do.
    pub counts_frames: AtomicBool,
    pub preview_frames: AtomicU64,
    /// The room is in a conference: the panel shows the display as
    /// composed, not the camera alone (each tap skips frames the panel
    /// does not show).
    pub in_conference: AtomicBool,
    /// The control the remote's focus is on, after the last key (its
    /// accessible label; empty when none).
    pub focus: Mutex<String>,
    pub last_frame: Mutex<Option<Snapshot>>,
}

impl PanelStats {
    pub fn backend(&self) -> &'static str {
        self.backend.lock().map(|b| *b).unwrap_or("unknown")
    }
}

/// Controls the panel thread.
pub struct PanelHandle {
    weak: slint::Weak<AppWindow>,
    thread: Option<thread::JoinHandle<()>>,
    pub stats: Arc<PanelStats>,
    /// Ends the search for remotes and keyboards.
    stop: Arc<AtomicBool>,
}

impl PanelHandle {
    /// A callback that shows camera frames in the preview tile.
    pub fn preview_sink(&self) -> Arc<dyn Fn(RgbFrame) + Send + Sync> {
        home::preview_sink(self.weak.clone(), self.stats.clone())
    }

    /// A callback that shows the room display (every tile in its layout)
    /// on the conference screen.
    pub fn display_sink(&self) -> Arc<dyn Fn(RgbFrame) + Send + Sync> {
        home::display_sink(self.weak.clone(), self.stats.clone())
    }

    /// Ends the panel's event loop and joins its thread.
    pub fn quit(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = slint::invoke_from_event_loop(|| {
            let _ = slint::quit_event_loop();
        });
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("panel thread panicked");
        }
    }
}

/// Reads remotes and keyboards (built-in keymap) and applies their keys to
/// the panel on its event loop.
fn remote_and_keyboard(
    ui: &AppWindow,
    settings: &crate::config::InputSettings,
    dispatch: Dispatch,
    stats: Arc<PanelStats>,
    stop: Arc<AtomicBool>,
) {
    if !settings.enabled {
        tracing::debug!("panel: remotes and keyboards off ([input] enabled = false)");
        return;
    }
    let path = (!settings.keymap.is_empty()).then(|| std::path::PathBuf::from(&settings.keymap));
    let keymap = match crate::input::evdev::load_keymap(path.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "panel: no keymap; remotes and keyboards are ignored");
            return;
        }
    };
    let timing = crate::input::Timing {
        long: std::time::Duration::from_millis(settings.long_press_ms as u64),
        ..Default::default()
    };
    let only = settings.devices.clone();
    let exclusive = settings.exclusive;
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("dais-input-watch".into())
        .spawn(move || crate::input::evdev::watch(keymap, timing, only, exclusive, tx, stop));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "panel: cannot watch for remotes and keyboards");
        return;
    }
    let weak = ui.as_weak();
    let _ = thread::Builder::new()
        .name("dais-input-keys".into())
        .spawn(move || {
            for ev in rx {
                let d = dispatch.clone();
                let stats = stats.clone();
                let applied = weak.upgrade_in_event_loop(move |ui| {
                    keys::apply(&ui, ev, &d);
                    if let Ok(mut f) = stats.focus.lock() {
                        *f = ui.global::<FocusApi>().get_focused().to_string();
                    }
                });
                if applied.is_err() {
                    break;
                }
            }
        });
}

/// Which backend `auto` means here and now.
pub fn resolve_backend(settings: &PanelSettings) -> PanelBackend {
    match settings.backend {
        PanelBackend::Auto => {
            let has = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
            if has("DISPLAY") || has("WAYLAND_DISPLAY") {
                PanelBackend::Window
            } else {
                PanelBackend::Headless
            }
        }
        other => other,
    }
}

/// Starts the panel thread and waits until its UI exists.
pub fn start(
    settings: &PanelSettings,
    app: App,
    rt: tokio::runtime::Handle,
) -> Result<PanelHandle, PanelError> {
    let backend = resolve_backend(settings);
    let stats = Arc::new(PanelStats::default());
    let (tx, rx) = mpsc::channel();
    let settings = settings.clone();
    let thread_stats = stats.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread = thread::Builder::new()
        .name("dais-panel".into())
        .spawn(move || {
            let ui = match init(backend, &settings, &thread_stats) {
                Ok(ui) => ui,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let input = app.shared.settings.input.clone();
            let controller = home::Home::attach(&ui, app, rt, thread_stats.clone());
            remote_and_keyboard(
                &ui,
                &input,
                controller.dispatch(),
                thread_stats.clone(),
                thread_stop.clone(),
            );
            let _ = tx.send(Ok(ui.as_weak()));
            if let Err(e) = ui.show() {
                tracing::error!(error = %e, "panel: cannot show the window");
            }
            if let Err(e) = slint::run_event_loop_until_quit() {
                tracing::error!(error = %e, "panel: event loop failed");
            }
            drop(controller);
            let _ = ui.hide();
        })
        .map_err(|e| PanelError::Thread(e.to_string()))?;
    match rx.recv() {
        Ok(Ok(weak)) => Ok(PanelHandle {
            weak,
            thread: Some(thread),
            stats,
            stop,
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(PanelError::Thread(
            "panel thread ended during start-up".into(),
        )),
    }
}

fn init(
    backend: PanelBackend,
    settings: &PanelSettings,
    stats: &Arc<PanelStats>,
) -> Result<AppWindow, PanelError> {
    let name: &'static str = match backend {
        PanelBackend::Window => {
            slint::BackendSelector::new()
                .backend_name("winit".into())
                .renderer_name("software".into())
                .select()
                .map_err(|e| PanelError::Backend {
                    backend: "window",
                    reason: e.to_string(),
                })?;
            "window"
        }
        PanelBackend::Kms => {
            // SLINT_DRM_DEVICE is set by `supervisor::run` while still single-threaded.
            slint::BackendSelector::new()
                .backend_name("linuxkms".into())
                .renderer_name("software".into())
                .select()
                .map_err(|e| PanelError::Backend {
                    backend: "kms",
                    reason: e.to_string(),
                })?;
            "kms"
        }
        PanelBackend::Headless | PanelBackend::Auto | PanelBackend::Off => {
            slint::platform::set_platform(Box::new(headless::HeadlessPlatform::new(
                settings.width,
                settings.height,
                stats.clone(),
            )))
            .map_err(|e| PanelError::Backend {
                backend: "headless",
                reason: e.to_string(),
            })?;
            stats.counts_frames.store(true, Ordering::Relaxed);
            "headless"
        }
    };
    if let Ok(mut b) = stats.backend.lock() {
        *b = name;
    }
    let ui = AppWindow::new().map_err(|e| PanelError::Backend {
        backend: name,
        reason: e.to_string(),
    })?;
    if name == "window" {
        ui.window()
            .set_size(slint::PhysicalSize::new(settings.width, settings.height));
    }
    if name != "headless" {
        // The headless platform counts its own frames; on a screen, ask the
        // renderer to tell us.
        let counter = stats.clone();
        let res = ui.window().set_rendering_notifier(move |state, _| {
            if matches!(state, slint::RenderingState::AfterRendering) {
                counter.frames_rendered.fetch_add(1, Ordering::Relaxed);
            }
        });
        match res {
            Ok(()) => stats.counts_frames.store(true, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, "panel: frame counting unavailable on this renderer")
            }
        }
    }
    Ok(ui)
}

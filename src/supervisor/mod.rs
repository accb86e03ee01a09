//! The supervisor, outside the app loop: `dais run` starts every service
//! (the app loop among them), reports readiness, stops cleanly. Logging
//! (`logging.rs`) and systemd's notify and watchdog (`systemd.rs`) are its.
//!
//! Order: settings → logging → data directory lock → device selection and
//! element check → store → app loop → HTTP and control listeners → panel →
//! media engine. Ready (systemd `READY=1`, `/readyz` 200) once the store,
//! HTTP and the room pipeline are up. SIGTERM or SIGINT stops everything within
//! [`STOP_BUDGET`]: listeners closed, pipelines to `Null`, the boot marked
//! clean, the store checkpointed and closed.

pub mod logging;
pub mod systemd;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppEvent, AppState, BootInfo, Endpoints, Service, ServiceState, Shared};
use crate::command::{Command, Source};
use crate::config::{self, PanelBackend, Settings, Sources};
use crate::devices::{self, sysfs::Root};
use crate::media::{self, RoomConfig};
use crate::store::Store;
use crate::{control, http, panel};

/// How long a stop may take before dais gives up waiting and exits.
pub const STOP_BUDGET: Duration = Duration::from_millis(4500);
/// The file, in the data directory, that tells local tools where dais listens.
pub const ENDPOINTS_FILE: &str = "endpoints.json";
/// The local control socket, in the data directory (`dais open` uses it).
pub const LOCAL_SOCKET: &str = "control.sock";

/// Everything `dais run` takes from its command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub profile: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub http_listen: Option<SocketAddr>,
    /// `--https-listen`: an address, or empty for off.
    pub https_listen: Option<String>,
    pub control_listen: Option<SocketAddr>,
    /// API clients for this run only (`--api-client ID:SECRET`).
    pub api_clients: Vec<(String, String)>,
    /// The control PIN for this run (`--control-pin`), over control.pin.
    pub control_pin: Option<String>,
}

/// Loads the layered settings for `opts` and applies the command-line
/// overrides, which sit above every file.
pub fn settings_for(opts: &RunOptions) -> Result<config::Loaded, config::ConfigError> {
    let mut loaded = config::load(&Sources {
        profile: opts.profile.clone(),
        provisioned: Some(opts.data_dir.join("provisioned.toml")),
        local: opts.config.clone(),
    })?;
    if let Some(a) = opts.http_listen {
        loaded.settings.http.listen = a;
    }
    if let Some(a) = &opts.https_listen {
        loaded.settings.http.https_listen = a.clone();
    }
    if let Some(a) = opts.control_listen {
        loaded.settings.control.listen = a;
    }
    Ok(loaded)
}

/// Runs dais until a stop signal. Blocking; owns the process's runtime.
pub fn run(opts: RunOptions) -> Result<()> {
    let started = Instant::now();
    let loaded = settings_for(&opts).map_err(|e| anyhow!("{e}"))?;
    let settings = loaded.settings;
    let layers: Vec<crate::app::state::SettingsLayer> = loaded
        .layers
        .iter()
        .map(|(kind, file)| crate::app::state::SettingsLayer {
            kind: kind.to_string(),
            file: file.clone(),
        })
        .collect();
    if let Err(e) = logging::init(&settings.log.level, settings.log.format) {
        bail!("{e}");
    }
    for crate::app::state::SettingsLayer { kind, file: origin } in &layers {
        tracing::info!(layer = %kind, file = %origin, "settings layer");
    }

    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("data dir {}: cannot create it", opts.data_dir.display()))?;
    let _lock = lock_data_dir(&opts.data_dir)?;

    media::init()?;
    let selection = devices::select(&settings, &Root::default()).map_err(|errs| {
        anyhow!(
            "the hardware profile's devices are not all present:\n{}",
            errs.iter()
                .map(|e| format!("  {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let missing = media::elements::missing(&media::elements::for_selection(&selection));
    if !missing.is_empty() {
        return Err(media::MediaError::MissingElements(missing).into());
    }

    let panel_backend = panel::resolve_backend(&settings.panel);
    if panel_backend == PanelBackend::Kms
        && let Some(dev) = &settings.panel.drm_device
    {
        // Read by Slint's LinuxKMS backend. Set before any other thread
        // exists, so no concurrent reader of the environment can race it.
        // SAFETY: the process is still single-threaded here.
        unsafe { std::env::set_var("SLINT_DRM_DEVICE", dev) };
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dais-rt")
        .build()
        .context("cannot start the async runtime")?;
    let res = rt.block_on(supervise(
        opts,
        settings,
        layers,
        selection,
        panel_backend,
        started,
    ));
    rt.shutdown_timeout(Duration::from_millis(300));
    res
}

async fn supervise(
    opts: RunOptions,
    settings: Settings,
    layers: Vec<crate::app::state::SettingsLayer>,
    selection: devices::Selection,
    panel_backend: PanelBackend,
    started: Instant,
) -> Result<()> {
    let data_dir = opts.data_dir.clone();
    let store = {
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .context("store open task failed")??
    };
    let boot = record_boot(&store).await?;
    if boot.previous_clean == Some(false) {
        tracing::warn!("the previous run of dais did not stop cleanly (crash or power loss)");
    }
    tracing::info!(
        path = %store.path().display(),
        schema = store.report().schema_version,
        applied = ?store.report().applied,
        boot = boot.count,
        "store open"
    );

    let server = {
        let store = store.clone();
        let s = settings.server.clone();
        let t = settings.conference.clone();
        let extra = opts.api_clients.clone();
        tokio::task::spawn_blocking(move || open_server(store, &s, &t, extra))
            .await
            .context("server open task failed")??
    };

    // Settings changed at run time (setSettings) sit above the files.
    let room_name = store
        .runtime_settings()
        .get(crate::store::RuntimeKey::RoomName)
        .await?;

    let sfu = crate::sfu::Sfu::new(
        server.clone(),
        crate::sfu::SfuConfig {
            video_slots: settings.conference.video_slots as usize,
            audio_slots: settings.conference.audio_slots as usize,
            jitter_ms: settings.conference.jitter_ms,
            induced_loss_permille: settings.conference.induced_loss_permille,
        },
    );

    let now_unix = unix_now();
    let mut initial = AppState::new(
        room_name.unwrap_or_else(|| settings.room.name.clone()),
        settings.profile.name.clone(),
        now_unix,
    );
    initial.settings_layers = layers;
    let app = App::start(
        initial,
        Shared {
            settings: settings.clone(),
            store: store.clone(),
            boot,
            started,
            media_stats: Default::default(),
            server: server.clone(),
            sfu: sfu.clone(),
            cpu: Default::default(),
        },
    );
    app.post(AppEvent::Service(Service::Store, ServiceState::Up))
        .await;
    app.post(AppEvent::Hardware(selection.clone())).await;

    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    if settings.server.enabled {
        tasks.spawn(server.clone().scheduler(cancel.clone()));
        tasks.spawn(sfu.clone().run(cancel.clone()));
        // The rest of the app follows what the server does (the room's own
        // conference stopping, the room being admitted or removed).
        let mut events = server.subscribe();
        let app2 = app.clone();
        let cancel2 = cancel.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel2.cancelled() => return,
                    ev = events.recv() => match ev {
                        Ok(ev) => app2.post(AppEvent::Server(ev)).await,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "app: server events arrived faster than handled");
                        }
                        Err(_) => return,
                    }
                }
            }
        });
    }

    // Control: one service for every transport.
    let c = &settings.control;
    let pin = opts
        .control_pin
        .clone()
        .or_else(|| (!c.pin.is_empty()).then(|| c.pin.expose().to_string()));
    if c.enabled && c.require_auth && pin.is_none() {
        tracing::warn!(
            "control: authentication is required but no PIN is set (control.pin or --control-pin); only API tokens will be accepted"
        );
    }
    let control = Arc::new(control::session::ControlService::new(
        app.clone(),
        control::gate::Gate::new(control::gate::GateConfig {
            require_auth: c.require_auth,
            pin,
            lockout_after: c.lockout_after,
            lockout: Duration::from_secs(c.lockout_seconds as u64),
        }),
        c.max_connections as usize,
        c.max_connections_per_address as usize,
        Duration::from_secs(c.idle_timeout as u64),
        c.rate_limit,
    ));

    // HTTP, with the control API unless it has a listener of its own; with
    // HTTPS on, all of it there, and the plain listener redirecting.
    let tls = match settings.http.https() {
        Some(_) => Some(load_certificate(&settings, &data_dir).await?),
        None => None,
    };
    let listener = http::bind("http.listen", settings.http.listen).await?;
    let http_addr = listener.local_addr()?;
    let secure = match settings.http.https() {
        Some(a) => Some(http::bind("http.https_listen", a).await?),
        None => None,
    };
    let https_addr = secure.as_ref().map(|l| l.local_addr()).transpose()?;
    let served = tls.as_ref().map(|t| t.server_config());
    // Each listener's connection slots, per source address and in all.
    let h = &settings.http;
    let slots = || {
        dais_core::slots::Slots::new(
            h.max_connections_per_address as usize,
            h.max_connections as usize,
        )
    };
    let panel_slot = http::PanelSlot::default();
    // Who may see the room (/status, /metrics, the pictures): admin API
    // tokens and control tokens.
    let viewers: http::Viewers = {
        let control = control.clone();
        Arc::new(move |token: &str| {
            let server = &control.app.shared.server;
            server
                .auth()
                .check(token, server.now())
                .is_ok_and(|p| p.is_admin())
                || control.gate.token_valid(token, control.now())
        })
    };
    let mut router = http::router(app.clone(), panel_slot.clone(), viewers);
    if settings.server.enabled {
        router = router.merge(crate::sfu::ws::router(sfu.clone(), settings.web_origins()));
    }
    if let Some(t) = &tls {
        router = router.merge(http::certificate_router(t.clone()));
    }
    let hosts = settings.host_names();
    let mut control_http_addr = None;
    if c.enabled && c.http_listen.is_empty() {
        router = router.merge(control::ws::router(control.clone()));
    } else if c.enabled {
        let addr: SocketAddr = c
            .http_listen
            .parse()
            .context("control.http_listen was validated at load")?;
        let l = http::bind("control.http_listen", addr).await?;
        control_http_addr = Some(l.local_addr()?);
        tasks.spawn(http::serve(
            l,
            http::known_hosts_only(control::ws::router(control.clone()), hosts.clone()),
            cancel.clone(),
            served.clone(),
            slots(),
        ));
    }
    let router = http::known_hosts_only(router, hosts.clone());
    match (secure, &tls, https_addr) {
        (Some(secure), Some(t), Some(a)) => {
            tasks.spawn(http::serve(
                secure,
                router,
                cancel.clone(),
                served.clone(),
                slots(),
            ));
            let plain = http::redirect_router(app.clone(), a.port(), t.clone());
            tasks.spawn(http::serve(
                listener,
                http::known_hosts_only(plain, hosts),
                cancel.clone(),
                None,
                slots(),
            ));
            tasks.spawn(watch_certificate(t.clone(), app.clone(), cancel.clone()));
        }
        _ => {
            tasks.spawn(http::serve(listener, router, cancel.clone(), None, slots()));
        }
    }
    app.post(AppEvent::Service(Service::Http, ServiceState::Up))
        .await;

    // Control: the TCP line protocol and the local socket for `dais open`.
    let mut control_addr = None;
    if c.enabled {
        let listener = control::tcp::bind(c.listen).await?;
        control_addr = Some(listener.local_addr()?);
        tasks.spawn(control::tcp::serve(
            listener,
            control.clone(),
            cancel.clone(),
        ));
        app.post(AppEvent::Service(Service::Control, ServiceState::Up))
            .await;
    }
    let local = control::tcp::bind_local(&data_dir.join(LOCAL_SOCKET))?;
    tasks.spawn(control::tcp::serve_local(
        local,
        control.clone(),
        cancel.clone(),
    ));
    if let Some(a) = control_http_addr {
        tracing::info!(addr = %a, "control API (WebSocket, POST /control) on its own listener");
    }
    let endpoints = Endpoints {
        http: Some(match https_addr {
            Some(a) => format!("https://{}", display_addr(a)),
            None => format!("http://{}", display_addr(http_addr)),
        }),
        plain_http: https_addr.map(|_| format!("http://{}", display_addr(http_addr))),
        control: control_addr.map(|a| display_addr(a).to_string()),
        certificate: tls.as_ref().map(|t| t.info()),
    };
    app.post(AppEvent::Endpoints(endpoints.clone())).await;
    write_endpoints(&data_dir, http_addr, https_addr, control_addr)?;

    // Panel.
    let mut panel_handle = None;
    if panel_backend != PanelBackend::Off {
        app.post(AppEvent::Service(Service::Panel, ServiceState::Starting))
            .await;
        let mut panel_settings = settings.panel.clone();
        panel_settings.backend = panel_backend;
        let app2 = app.clone();
        let rt = tokio::runtime::Handle::current();
        let started = tokio::task::spawn_blocking(move || {
            match panel::start(&panel_settings, app2.clone(), rt.clone()) {
                Err(e) if panel_settings.backend == PanelBackend::Window => {
                    tracing::warn!(error = %e, "panel: no window, rendering headless instead");
                    panel_settings.backend = PanelBackend::Headless;
                    panel::start(&panel_settings, app2, rt)
                }
                other => other,
            }
        })
        .await
        .context("panel start task failed")?;
        match started {
            Ok(h) => {
                let _ = panel_slot.set(h.stats.clone());
                tracing::info!(backend = h.stats.backend(), "panel up");
                app.post(AppEvent::Service(Service::Panel, ServiceState::Up))
                    .await;
                panel_handle = Some(h);
            }
            Err(e) => {
                // The room still works from the control network and the API.
                tracing::error!(error = %e, "panel failed to start");
                app.post(AppEvent::Service(Service::Panel, ServiceState::Failed))
                    .await;
            }
        }
    }

    // The media engine: the room pipeline.
    let (media_tx, mut media_rx) = tokio::sync::mpsc::channel(32);
    let preview = media::spawn(
        RoomConfig {
            camera_target: selection.camera.clone(),
            camera: settings.camera.clone(),
            content_target: selection.content.clone(),
            content: settings.content.clone(),
            recordings_dir: if settings.media.recordings_dir.is_empty() {
                data_dir.join("recordings")
            } else {
                PathBuf::from(&settings.media.recordings_dir)
            },
            microphone_target: selection.microphone.clone(),
            microphone: settings.microphone.clone(),
            speaker_target: selection.speaker.clone(),
            speaker: settings.speaker.clone(),
            display_target: selection.display.clone(),
            display: settings.display.clone(),
            media: settings.media.clone(),
            panel_frames: panel_handle.as_ref().map(|p| p.preview_sink()),
            panel_display_frames: panel_handle.as_ref().map(|p| p.display_sink()),
            panel_size: (480, 270),
            panel_fps: 10,
        },
        media_tx,
    );
    let _ = app.shared.media_stats.set(preview.stats.clone());
    app.post(AppEvent::MediaStarted(preview.clone())).await;
    {
        let app = app.clone();
        tasks.spawn(async move {
            while let Some(ev) = media_rx.recv().await {
                app.post(AppEvent::Media(ev)).await;
            }
        });
    }

    // Hot-plug: devices coming and going.
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel(32);
        tasks.spawn(crate::devices::monitor::watch(tx, cancel.clone()));
        let app = app.clone();
        tasks.spawn(async move {
            while let Some(change) = rx.recv().await {
                app.post(AppEvent::Devices(change)).await;
            }
        });
    }

    // Readiness and the watchdog.
    {
        let app = app.clone();
        let cancel = cancel.clone();
        let endpoints = endpoints.clone();
        tasks.spawn(async move {
            let mut rx = app.watch();
            let ready = tokio::select! {
                _ = cancel.cancelled() => false,
                r = rx.wait_for(|s| s.ready()) => r.is_ok(),
            };
            if ready {
                let msg = format!(
                    "ready: API {}/api/v3.11/, web client {}/webrtc/, control {}",
                    endpoints.http.clone().unwrap_or_default(),
                    endpoints.http.clone().unwrap_or_default(),
                    endpoints.control.clone().unwrap_or_else(|| "off".into())
                );
                tracing::info!(
                    api = %format!("{}/api/v3.11/", endpoints.http.clone().unwrap_or_default()),
                    web_client = %format!("{}/webrtc/", endpoints.http.clone().unwrap_or_default()),
                    control = %endpoints.control.clone().unwrap_or_else(|| "off".into()),
                    "dais is ready"
                );
                if let Some(c) = &endpoints.certificate {
                    // What to trust, and how to check it is the right one.
                    tracing::info!(
                        trust = %c.file,
                        sha256 = %c.issuer_fingerprint.as_deref().filter(|_| c.source == "device").unwrap_or(&c.fingerprint),
                        "HTTPS: {}",
                        if c.source == "device" {
                            "add the device CA to the browsers' trust (or open /device-ca.pem) and compare its fingerprint with the panel's (Settings > Network)"
                        } else {
                            "serving the operator's certificate"
                        }
                    );
                }
                systemd::ready(&msg);
                crate::media::warm_up_dtls();
            }
        });
    }
    if let Some(interval) = systemd::watchdog_interval() {
        let app = app.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move { watchdog(app, interval, cancel).await });
    }

    // Wait for a stop signal.
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = why, "stopping");
    systemd::stopping();
    let stop_started = Instant::now();
    app.post(AppEvent::Stopping).await;

    let stop = async {
        cancel.cancel();
        preview.stop().await;
        if let Some(p) = panel_handle.take() {
            let _ = tokio::task::spawn_blocking(move || p.quit()).await;
        }
        while tasks.join_next().await.is_some() {}
    };
    if tokio::time::timeout(STOP_BUDGET, stop).await.is_err() {
        tracing::warn!(budget = ?STOP_BUDGET, "some services did not stop in time");
    }
    let boot_id = app.shared.boot.id;
    let store2 = store.clone();
    let closed = tokio::task::spawn_blocking(move || {
        let r = store2.boots().stopped_blocking(boot_id, unix_now() as i64);
        store2.close();
        r
    })
    .await;
    match closed {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "could not record the clean stop"),
        Err(e) => tracing::error!(error = %e, "store close task failed"),
    }
    let _ = std::fs::remove_file(data_dir.join(ENDPOINTS_FILE));
    let _ = std::fs::remove_file(data_dir.join(LOCAL_SOCKET));
    crate::media::finish_warm_up(Duration::from_secs(5));
    tracing::info!(took = ?stop_started.elapsed(), "stopped");
    Ok(())
}

/// The conferencing server with the API clients and users from settings,
/// plus any given on the command line for this run.
fn open_server(
    store: Store,
    s: &crate::config::ServerSettings,
    talk: &crate::config::ConferenceSettings,
    extra_clients: Vec<(String, String)>,
) -> Result<crate::server::Server> {
    use crate::server::auth::{ApiClient, Auth, LocalUser, Secret};
    let mut clients: Vec<ApiClient> = s
        .api_clients
        .iter()
        .map(|c| ApiClient {
            id: c.id.clone(),
            secret: Secret::Hash(c.secret_hash.expose().to_string()),
        })
        .collect();
    for (id, secret) in extra_clients {
        clients.retain(|c| c.id != id);
        clients.push(ApiClient {
            id,
            secret: Secret::Plain(secret),
        });
    }
    for c in &clients {
        if let Secret::Hash(h) = &c.secret
            && !crate::server::auth::is_phc_hash(h)
        {
            bail!(
                "server.api_clients {:?}: secret_hash is not a valid Argon2 hash",
                c.id
            );
        }
    }
    let users = s
        .users
        .iter()
        .map(|u| LocalUser {
            login: u.login.clone(),
            display_name: if u.display_name.is_empty() {
                u.login.clone()
            } else {
                u.display_name.clone()
            },
            password: Secret::Hash(u.password_hash.expose().to_string()),
        })
        .collect();
    let auth = Auth::new(clients, users, s.token_ttl as i64);
    let config = crate::server::ServerConfig {
        public_url: (!s.public_url.is_empty()).then(|| s.public_url.clone()),
        link_ttl: s.link_ttl as i64,
        room_login: s.room_login.clone(),
        talk: crate::conference::podium::TalkConfig {
            attack: Duration::from_millis(talk.smart_attack_ms as u64),
            release: Duration::from_secs(talk.smart_release_seconds as u64),
            ..Default::default()
        },
    };
    Ok(crate::server::Server::open(
        store,
        std::sync::Arc::new(crate::clock::SystemClock::default()),
        config,
        auth,
    )?)
}

/// Pings systemd only while the app loop answers, so a wedged core is
/// restarted by systemd instead of pinging forever from a healthy timer.
async fn watchdog(app: App, interval: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let alive =
            tokio::time::timeout(interval, app.dispatch(Command::GetAppState, Source::System))
                .await;
        match alive {
            Ok(Ok(_)) => systemd::watchdog_ping(),
            _ => tracing::error!("watchdog: the app loop did not answer; not pinging systemd"),
        }
    }
}

async fn record_boot(store: &Store) -> Result<BootInfo> {
    Ok(store
        .boots()
        .start(unix_now() as i64, env!("CARGO_PKG_VERSION"))
        .await?)
}

/// Holds an exclusive lock on the data directory for the life of the
/// process, so two dais never write one store.
fn lock_data_dir(dir: &Path) -> Result<File> {
    let path = dir.join("dais.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("{}: cannot open the lock file", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "data dir {}: another dais is already running on it",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow!("{}: cannot lock: {e}", path.display()))
        }
    }
}

/// Where a local tool (`dais open`, tests, scripts) finds this instance.
fn write_endpoints(
    dir: &Path,
    http: SocketAddr,
    https: Option<SocketAddr>,
    control: Option<SocketAddr>,
) -> Result<()> {
    let body = serde_json::json!({
        "pid": std::process::id(),
        "http": http.to_string(),
        "https": https.map(|a| a.to_string()),
        "control": control.map(|c| c.to_string()),
    });
    let tmp = dir.join(format!("{ENDPOINTS_FILE}.tmp"));
    std::fs::write(&tmp, body.to_string())
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(ENDPOINTS_FILE))
        .with_context(|| format!("{}: cannot write", dir.join(ENDPOINTS_FILE).display()))?;
    Ok(())
}

/// How often the HTTPS certificate's source is looked at (the operator's
/// files replaced, the room's addresses changed); SIGHUP looks at once.
pub const CERTIFICATE_CHECK: Duration = Duration::from_secs(5);

/// Loads the operator's certificate or the device certificate, and says
/// which in the log with its fingerprint.
async fn load_certificate(settings: &Settings, data_dir: &Path) -> Result<Arc<http::tls::Tls>> {
    let source = http::tls::Source::from_settings(&settings.http, data_dir);
    let extra = settings.host_names();
    let names: http::tls::Names = Arc::new(move || http::tls::own_names(&extra));
    let tls = tokio::task::spawn_blocking(move || http::tls::Tls::load(source, names))
        .await
        .context("certificate task failed")?
        .map_err(|e| anyhow!("{e}"))?;
    let info = tls.info();
    tracing::info!(
        source = %info.source,
        fingerprint = %info.fingerprint,
        issuer_fingerprint = info.issuer_fingerprint.as_deref().unwrap_or(""),
        file = %info.file,
        "HTTPS certificate (SHA-256)"
    );
    Ok(tls)
}

/// Reloads the HTTPS certificate when its files change, the room's
/// addresses change, or on SIGHUP; a failed reload keeps the one served.
async fn watch_certificate(tls: Arc<http::tls::Tls>, app: App, cancel: CancellationToken) {
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the certificate reloads on its own check only");
            None
        }
    };
    let mut tick = tokio::time::interval(CERTIFICATE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        let force = tokio::select! {
            _ = cancel.cancelled() => return,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            _ = tick.tick() => false,
        };
        let t = tls.clone();
        match tokio::task::spawn_blocking(move || t.check(force)).await {
            Ok(Ok(changed)) => {
                last_error.clear();
                if let Some(info) = changed {
                    tracing::info!(
                        source = %info.source,
                        fingerprint = %info.fingerprint,
                        "HTTPS certificate reloaded (SHA-256)"
                    );
                    app.post(AppEvent::Certificate(info)).await;
                }
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                if text != last_error {
                    tracing::error!(error = %text, "HTTPS certificate: cannot reload, still serving the previous one");
                    last_error = text;
                }
            }
            Err(e) => tracing::error!(error = %e, "HTTPS certificate check failed"),
        }
    }
}

/// `0.0.0.0:8080` is where dais listens, not where anyone can reach it:
/// show loopback for the wildcard so the printed link works on this box.
fn display_addr(a: SocketAddr) -> SocketAddr {
    if a.ip().is_unspecified() {
        let ip = if a.is_ipv4() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        };
        SocketAddr::new(ip, a.port())
    } else {
        a
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

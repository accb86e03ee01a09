//! The `dais` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use dais::config;
use dais::devices::{self, sysfs::Root};
use dais::media;
use dais::supervisor::{RunOptions, run};

#[derive(Parser)]
#[command(name = "dais", version, about = "A Linux appliance for meeting rooms")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance: media, panel, HTTP API and control listener.
    Run {
        /// Hardware profile (a settings layer), e.g. hardware/virtual.toml.
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Local overrides, the top settings layer.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where the store and runtime files live. Default: $STATE_DIRECTORY
        /// (set by systemd) or /var/lib/dais.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Overrides http.listen.
        #[arg(long, value_name = "ADDR:PORT")]
        http_listen: Option<SocketAddr>,
        /// Overrides http.https_listen: HTTPS on ADDR:PORT, or "off".
        #[arg(long, value_name = "ADDR:PORT", value_parser = parse_https_listen)]
        https_listen: Option<String>,
        /// Overrides control.listen.
        #[arg(long, value_name = "ADDR:PORT")]
        control_listen: Option<SocketAddr>,
        /// An OAuth API client for this run (repeatable): client_credentials
        /// with this id and secret.
        #[arg(long, value_name = "ID:SECRET", value_parser = parse_api_client)]
        api_client: Vec<(String, String)>,
        /// The control network's PIN for this run (over control.pin).
        #[arg(long, value_name = "PIN", value_parser = parse_pin)]
        control_pin: Option<String>,
    },
    /// Hand a trueconf: link to the running dais and print its reply.
    Open {
        link: String,
        /// The running dais's data directory (default as for `run`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List the devices the profile names and what GStreamer sees.
    Devices {
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Settings: print the defaults or check a file.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the full settings file with every default and its meaning.
    Defaults,
    /// Check a settings file (and, with --profile, the two layered).
    Check {
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
    /// Read a secret on stdin and print its Argon2 hash for settings
    /// (server.api_clients secret_hash, server.users password_hash).
    HashSecret,
}

fn parse_https_listen(s: &str) -> Result<String, String> {
    if s == "off" {
        return Ok(String::new());
    }
    s.parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| "ADDR:PORT such as 0.0.0.0:8443, or off".into())
}

fn parse_pin(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a PIN of 1 to 20 digits".into());
    }
    Ok(s.to_string())
}

fn parse_api_client(s: &str) -> Result<(String, String), String> {
    let (id, secret) = s
        .split_once(':')
        .ok_or("expected ID:SECRET, e.g. crm:Very-Long-Secret")?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Err("the id before ':' must be letters, digits, '.', '_' or '-'".into());
    }
    if secret.len() < 8 {
        return Err("the secret after ':' must be at least 8 characters".into());
    }
    Ok((id.to_string(), secret.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            // `dais devices | head`: the reader left; nothing to report.
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Before logging exists, or for CLI errors: one clear message.
            let _ = writeln!(std::io::stderr(), "dais: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|s| {
            // systemd may pass several, colon-separated; the first is ours.
            s.to_str()
                .and_then(|s| s.split(':').next())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/var/lib/dais"))
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Cmd::Run {
            profile,
            config,
            data_dir,
            http_listen,
            https_listen,
            control_listen,
            api_client,
            control_pin,
        } => {
            run(RunOptions {
                profile,
                config,
                data_dir: data_dir.unwrap_or_else(default_data_dir),
                http_listen,
                https_listen,
                control_listen,
                api_clients: api_client,
                control_pin,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Open { link, data_dir } => {
            let dir = data_dir.unwrap_or_else(default_data_dir);
            open_link(&mut out, &dir, &link)
        }
        Cmd::Devices { profile, config } => {
            let loaded = config::load(&config::Sources {
                profile,
                provisioned: None,
                local: config,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            devices_report(&mut out, &loaded.settings)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config { action } => match action {
            ConfigCmd::Defaults => {
                out.write_all(config::DEFAULTS_TOML.as_bytes())?;
                Ok(ExitCode::SUCCESS)
            }
            ConfigCmd::HashSecret => {
                let mut secret = String::new();
                std::io::stdin().read_line(&mut secret)?;
                let secret = secret.trim_end_matches(['\r', '\n']);
                if secret.is_empty() {
                    anyhow::bail!("no secret on stdin");
                }
                let hash = dais::server::auth::hash_secret(secret).map_err(anyhow::Error::msg)?;
                writeln!(out, "{hash}")?;
                Ok(ExitCode::SUCCESS)
            }
            ConfigCmd::Check { file, profile } => {
                match config::check_file(&file, profile.as_deref()) {
                    Ok(loaded) => {
                        // The keymap the settings name is part of them.
                        let keymap = &loaded.settings.input.keymap;
                        if !keymap.is_empty()
                            && let Err(e) =
                                dais::input::evdev::load_keymap(Some(std::path::Path::new(keymap)))
                        {
                            writeln!(std::io::stderr(), "input.keymap: {e}")?;
                            return Ok(ExitCode::FAILURE);
                        }
                        writeln!(out, "{}: ok", file.display())?;
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => {
                        writeln!(std::io::stderr(), "{e}")?;
                        Ok(ExitCode::FAILURE)
                    }
                }
            }
        },
        Cmd::Version => {
            writeln!(out, "dais {}", env!("CARGO_PKG_VERSION"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sends a link to the running dais over its local socket and prints the
/// reply. Exit status 0 when dais carried it out.
fn open_link(out: &mut impl Write, dir: &std::path::Path, link: &str) -> Result<ExitCode> {
    use std::io::{BufRead, BufReader};
    let path = dir.join(dais::supervisor::LOCAL_SOCKET);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).with_context(|| {
        format!(
            "{}: cannot reach a running dais (is it running with --data-dir {}?)",
            path.display(),
            dir.display()
        )
    })?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let request = serde_json::json!({"method": "openLink", "link": link});
    writeln!(stream, "{request}")?;
    let mut reader = BufReader::new(stream);
    // Skip feedback events; the reply is the first line without "event".
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            anyhow::bail!("dais closed the connection without replying");
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).context("dais replied with something that is not JSON")?;
        if v.get("event").is_some() {
            continue;
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(if v["ok"] == true {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
}

fn devices_report(out: &mut impl Write, settings: &config::Settings) -> Result<()> {
    media::init().context("GStreamer")?;
    let root = Root::default();
    writeln!(
        out,
        "Hardware profile: {} ({})",
        settings.profile.name, settings.profile.description
    )?;
    writeln!(out, "\nSelected by the profile:")?;
    let row = |out: &mut dyn Write, role: &str, r: Result<String, devices::DeviceError>| match r {
        Ok(s) => writeln!(out, "  {role:<11} {s}"),
        Err(e) => writeln!(out, "  {role:<11} MISSING: {e}"),
    };
    row(
        out,
        "camera",
        devices::select_camera(&settings.camera, &root).map(|t| t.to_string()),
    )?;
    row(
        out,
        "microphone",
        devices::select_microphone(&settings.microphone, &root).map(|t| t.to_string()),
    )?;
    row(
        out,
        "speaker",
        devices::select_speaker(&settings.speaker, &root).map(|t| t.to_string()),
    )?;
    row(
        out,
        "display",
        devices::select_display(&settings.display, &root).map(|t| t.to_string()),
    )?;

    writeln!(out, "\nGStreamer device monitor:")?;
    let seen = devices::monitor::probe();
    if seen.is_empty() {
        writeln!(out, "  (no cameras, microphones or speakers)")?;
    }
    for d in seen {
        let props: Vec<String> = d
            .properties
            .iter()
            .filter(|(k, _)| {
                [
                    "device.path",
                    "api.v4l2.path",
                    "alsa.card_name",
                    "alsa.card",
                    "device.bus_path",
                ]
                .contains(&k.as_str())
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(out, "  {:<13} {}  {}", d.class, d.name, props.join(" "))?;
    }

    writeln!(out, "\nDisplays (DRM connectors):")?;
    let connectors = devices::sysfs::drm_connectors(&root);
    if connectors.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for c in connectors {
        writeln!(
            out,
            "  {}-{}  {}  id={}  {}",
            c.card,
            c.name,
            c.status,
            c.id.map(|i| i.to_string()).unwrap_or_else(|| "?".into()),
            c.modes.first().cloned().unwrap_or_default()
        )?;
    }
    Ok(())
}

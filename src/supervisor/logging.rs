//! Logging with tracing, into journald with its fields where there is one.
//!
//! Under systemd (`JOURNAL_STREAM` set, or `log.format = "journald"`) each
//! event goes to journald's own socket with its fields as journal fields
//! (tracing-journald: `conference = 4154…` becomes `F_CONFERENCE=4154…`,
//! beside `PRIORITY`, `TARGET`, `CODE_FILE`, `CODE_LINE` and
//! `SYSLOG_IDENTIFIER=dais`), so `journalctl -u dais F_CONFERENCE=…` and
//! `journalctl -p warning` work. Should that socket be missing, each line
//! goes to stderr starting with its syslog priority (`<3>` error ... `<7>`
//! debug), without timestamp or colour. Elsewhere it is plain text.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over `level`.
/// Returns an error when `RUST_LOG` does not parse, naming it.
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = || match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?}: {e}"))
        }
        _ => EnvFilter::try_new(level).map_err(|e| format!("log.level = {level:?}: {e}")),
    };
    let journald = match format {
        LogFormat::Journald => true,
        LogFormat::Text => false,
        LogFormat::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    let mut no_socket = None;
    if journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                use tracing_subscriber::layer::SubscriberExt;
                use tracing_subscriber::util::SubscriberInitExt;
                // A second init (tests) keeps the first subscriber.
                let _ = tracing_subscriber::registry()
                    .with(filter()?)
                    .with(layer.with_syslog_identifier("dais".into()))
                    .try_init();
                return Ok(());
            }
            Err(e) => no_socket = Some(e),
        }
    }
    let filter = filter()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = if journald {
        builder
            .with_ansi(false)
            .event_format(Priority(Format::default().without_time().with_ansi(false)))
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = res;
    if let Some(e) = no_socket {
        tracing::warn!(error = %e, "journald's socket cannot be opened: logging to stderr with priorities");
    }
    Ok(())
}

/// Prefixes each event with its sd-daemon priority.
struct Priority<F>(F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::TRACE), 7);
    }
}

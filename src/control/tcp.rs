//! The TCP line protocol for room controllers.
//!
//! One request per line (a JSON object, at most [`MAX_LINE`] bytes), one JSON
//! reply per line, in order. Connections are capped, idle ones are closed,
//! and an over-long or malformed line gets an error reply without closing
//! anything else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::request;
use crate::app::App;
use crate::command::{CommandError, ErrorCode, Source};

pub const MAX_LINE: usize = 64 * 1024;
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control.listen {addr}: cannot listen: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ControlError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ControlError::Bind { addr, source })
}

/// Accepts controllers until `cancel` fires.
pub async fn serve(listener: TcpListener, app: App, cancel: CancellationToken) {
    let limit = Arc::new(Semaphore::new(
        app.shared.settings.control.max_connections as usize,
    ));
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (mut stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "control: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "control: connection refused, too many controllers");
            let reply = request::reply(
                None,
                Err(CommandError::new(
                    ErrorCode::Unavailable,
                    "too many control connections",
                )),
            );
            let _ = stream.write_all(format!("{reply}\n").as_bytes()).await;
            continue;
        };
        let app = app.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tracing::info!(%peer, "control: controller connected");
            if let Err(e) = connection(stream, peer, app, cancel).await {
                tracing::debug!(%peer, error = %e, "control: connection ended");
            }
            tracing::info!(%peer, "control: controller disconnected");
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: App,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::with_capacity(1024);
    let source = Source::Control {
        peer: peer.to_string(),
    };
    loop {
        line.clear();
        let n = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut reader, &mut line)) => match r {
                Ok(r) => r?,
                Err(_) => {
                    let _ = write.write_all(b"{\"ok\":false,\"error\":{\"code\":\"unavailable\",\"message\":\"idle timeout\"}}\n").await;
                    return Ok(());
                }
            },
        };
        let reply = match n {
            LineRead::Eof => return Ok(()),
            LineRead::TooLong => request::reply(
                None,
                Err(CommandError::new(
                    ErrorCode::BadRequest,
                    format!("line longer than {MAX_LINE} bytes"),
                )),
            ),
            LineRead::Line => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let parsed = request::parse(text);
                let outcome = match parsed.command {
                    Ok(cmd) => app.dispatch(cmd, source.clone()).await,
                    Err(e) => Err(e),
                };
                request::reply(parsed.request_id, outcome)
            }
        };
        let mut bytes = serde_json::to_vec(&reply).unwrap_or_default();
        bytes.push(b'\n');
        write.write_all(&bytes).await?;
    }
}

enum LineRead {
    Line,
    TooLong,
    Eof,
}

/// Reads up to a newline, never buffering more than [`MAX_LINE`] bytes; the
/// rest of an over-long line is discarded.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<LineRead> {
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if out.is_empty() && !too_long {
                LineRead::Eof
            } else if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if out.len() + chunk.len() > MAX_LINE {
                too_long = true;
                out.clear();
            } else {
                out.extend_from_slice(chunk);
            }
        }
        let used = found.unwrap_or(buf.len());
        reader.consume(used);
        if found.is_some() {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_the_next_line_still_reads() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\n{\"method\":\"wake\"}\n");
        let mut r = BufReader::new(&data[..]);
        let mut line = Vec::new();
        assert!(matches!(
            read_line(&mut r, &mut line).await.unwrap(),
            LineRead::TooLong
        ));
        line.clear();
        assert!(matches!(
            read_line(&mut r, &mut line).await.unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"{\"method\":\"wake\"}");
        line.clear();
        assert!(matches!(
            read_line(&mut r, &mut line).await.unwrap(),
            LineRead::Eof
        ));
    }
}

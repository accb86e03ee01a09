//! Line transports: the TCP listener for room controllers and the local
//! Unix socket that `dais open` uses. One request per line (a JSON object
//! or a `trueconf:` link, at most [`MAX_LINE`] bytes), one JSON reply per
//! line, with feedback events on their own lines between replies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use super::session::{ControlService, Session};
use crate::command::{CommandError, ErrorCode};

pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control.listen {addr}: cannot listen: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot open the local control socket: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ControlError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ControlError::Bind { addr, source })
}

/// Opens the local socket, replacing a stale one from an earlier run (the
/// data-dir lock guarantees no other dais owns it), readable and writable
/// by the owner and group only.
pub fn bind_local(path: &Path) -> Result<UnixListener, ControlError> {
    let fail = |source| ControlError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        std::fs::remove_file(path).map_err(fail)?;
    }
    let l = UnixListener::bind(path).map_err(fail)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(fail)?;
    Ok(l)
}

fn busy(why: &str) -> Vec<u8> {
    let mut v = serde_json::to_vec(&super::request::reply(
        None,
        Err(CommandError::new(
            ErrorCode::Unavailable,
            format!("too many control connections: {why}"),
        )),
    ))
    .unwrap_or_default();
    v.push(b'\n');
    v
}

/// What a connection hears when it did not authenticate in time.
pub fn too_slow() -> Value {
    super::request::reply(
        None,
        Err(CommandError::new(
            ErrorCode::Unauthorized,
            format!(
                "authenticate within {} s of connecting ({{\"method\": \"auth\", \"credentials\": \"<PIN or token>\"}}): closing the connection",
                super::session::AUTH_DEADLINE.as_secs()
            ),
        )),
    )
}

/// Accepts controllers until `cancel` fires.
pub async fn serve(listener: TcpListener, svc: Arc<ControlService>, cancel: CancellationToken) {
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
        let permit = match svc.slot(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                tracing::debug!(%peer, %full, "control: connection refused");
                // Said without waiting on a client that does not read.
                let _ = tokio::time::timeout(
                    Duration::from_millis(200),
                    stream.write_all(&busy(&full.to_string())),
                )
                .await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tracing::info!(%peer, "control: controller connected");
            let (r, w) = stream.into_split();
            let session = Session::new(peer, false, svc.rate_limit, false);
            if let Err(e) = lines(BufReader::new(r), w, session, &svc, cancel).await {
                tracing::debug!(%peer, error = %e, "control: connection ended");
            }
            tracing::info!(%peer, "control: controller disconnected");
        });
    }
}

/// Accepts `dais open` and other local tools on the Unix socket.
pub async fn serve_local(
    listener: UnixListener,
    svc: Arc<ControlService>,
    cancel: CancellationToken,
) {
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((mut stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = svc.local.clone().try_acquire_owned() else {
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                stream.write_all(&busy("the local socket's are all in use")),
            )
            .await;
            continue;
        };
        let svc = svc.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (r, w) = stream.into_split();
            let session = Session::new(local, true, svc.rate_limit, false);
            let _ = lines(BufReader::new(r), w, session, &svc, cancel).await;
        });
    }
}

/// How long a reply or event may take to be written: a client that stops
/// reading is closed, not waited on.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

async fn send(w: &mut (impl AsyncWrite + Unpin), v: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    match tokio::time::timeout(WRITE_DEADLINE, w.write_all(&bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the controller stopped reading",
        )),
    }
}

/// Serves one line-protocol connection.
async fn lines<R, W>(
    mut reader: R,
    mut writer: W,
    mut session: Session,
    svc: &ControlService,
    cancel: CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncBufRead + AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut state = svc.app.watch();
    session.on_state(svc, &state.borrow_and_update().clone());
    let mut lines = LineReader::default();
    let opened = std::time::Instant::now();
    loop {
        let Some(wait) = session.read_deadline(svc, opened) else {
            send(&mut writer, &too_slow()).await?;
            return Ok(());
        };
        let read = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            changed = state.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let st = state.borrow_and_update().clone();
                for ev in session.on_state(svc, &st) {
                    send(&mut writer, &ev).await?;
                }
                continue;
            }
            r = tokio::time::timeout(wait, lines.next(&mut reader)) => r,
        };
        let reply = match read {
            Err(_) if !session.authed(svc) => {
                send(&mut writer, &too_slow()).await?;
                return Ok(());
            }
            Err(_) => {
                let v = super::request::reply(
                    None,
                    Err(CommandError::new(
                        ErrorCode::Unavailable,
                        "idle timeout: closing the connection",
                    )),
                );
                send(&mut writer, &v).await?;
                return Ok(());
            }
            Ok(r) => match r? {
                LineRead::Eof => return Ok(()),
                LineRead::TooLong => super::request::reply(
                    None,
                    Err(CommandError::new(
                        ErrorCode::BadRequest,
                        format!("line longer than {MAX_LINE} bytes"),
                    )),
                ),
                LineRead::Line(line) => {
                    let text = String::from_utf8_lossy(&line);
                    if text.trim().is_empty() {
                        continue;
                    }
                    session.on_text(svc, &text).await
                }
            },
        };
        send(&mut writer, &reply).await?;
        // A command may have changed the state: feedback after its reply.
        if state.has_changed().unwrap_or(false) {
            let st = state.borrow_and_update().clone();
            for ev in session.on_state(svc, &st) {
                send(&mut writer, &ev).await?;
            }
        }
    }
}

enum LineRead {
    Line(Vec<u8>),
    TooLong,
    Eof,
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes; the rest
/// of an over-long line is discarded. Cancel-safe: the only await is
/// `fill_buf`, and bytes are moved into `buf` before they are consumed, so a
/// `select!` that drops [`LineReader::next`] loses nothing.
#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
    too_long: bool,
}

impl LineReader {
    async fn next<R: AsyncBufRead + Unpin>(&mut self, reader: &mut R) -> std::io::Result<LineRead> {
        loop {
            let data = reader.fill_buf().await?;
            if data.is_empty() {
                let done = if self.too_long {
                    LineRead::TooLong
                } else if self.buf.is_empty() {
                    LineRead::Eof
                } else {
                    LineRead::Line(std::mem::take(&mut self.buf))
                };
                self.too_long = false;
                self.buf.clear();
                return Ok(done);
            }
            let (chunk, found) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], Some(i + 1)),
                None => (data, None),
            };
            if !self.too_long {
                if self.buf.len() + chunk.len() > MAX_LINE {
                    self.too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = found.unwrap_or(data.len());
            reader.consume(used);
            if found.is_some() {
                let out = if self.too_long {
                    LineRead::TooLong
                } else {
                    LineRead::Line(std::mem::take(&mut self.buf))
                };
                self.too_long = false;
                return Ok(out);
            }
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
        let mut lines = LineReader::default();
        assert!(matches!(
            lines.next(&mut r).await.unwrap(),
            LineRead::TooLong
        ));
        match lines.next(&mut r).await.unwrap() {
            LineRead::Line(l) => assert_eq!(l, b"{\"method\":\"wake\"}"),
            _ => panic!("expected a line"),
        }
        assert!(matches!(lines.next(&mut r).await.unwrap(), LineRead::Eof));
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        // The line arrives in two parts; the first read is cancelled
        // between them, as a select! on a state change would do.
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = BufReader::new(server);
        let mut lines = LineReader::default();
        client.write_all(b"{\"method\":").await.unwrap();
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), lines.next(&mut reader)).await;
        assert!(cancelled.is_err(), "no full line yet");
        client.write_all(b"\"wake\"}\n").await.unwrap();
        match lines.next(&mut reader).await.unwrap() {
            LineRead::Line(l) => assert_eq!(l, b"{\"method\":\"wake\"}"),
            _ => panic!("the first half of the line was lost"),
        }
    }
}

//! Serving a router on a TCP listener, in the clear or over TLS: one
//! HTTP/1.1 connection per accepted socket (WebSocket upgrades included),
//! each request told who sent it (`ConnectInfo`) and in which scheme it
//! arrived ([`ServedScheme`]).
//!
//! Connections are counted per source address and in all
//! (`http.max_connections_per_address`, `http.max_connections`): one
//! client cannot hold every socket. Every connection has deadlines: the TLS handshake must finish within
//! [`HANDSHAKE_TIMEOUT`] and a request's head arrive within
//! [`HEADER_READ_TIMEOUT`], so a client that opens a socket and trickles
//! bytes (slowloris) is closed instead of holding it. On `cancel` the
//! listener stops accepting and every connection finishes the request in
//! flight, then closes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use dais_core::origin::ServedScheme;
use dais_core::slots::Slots;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send a request's head, from when dais starts
/// reading it (a new connection, or the next request on a kept-alive one).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves `router` on `listener` until `cancel` fires, over TLS when
/// `tls` is given, each connection holding one of `slots` (per source
/// address and in all); a connection that
/// gets none is closed at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
    tls: Option<Arc<rustls::ServerConfig>>,
    slots: Arc<Slots<IpAddr>>,
) {
    let scheme = ServedScheme(if tls.is_some() { "https" } else { "http" });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: let some
                    // connections close rather than spin.
                    tracing::warn!(error = %e, scheme = scheme.0, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match slots.take(peer.ip().to_canonical()) {
            Ok(slot) => slot,
            Err(full) => {
                tracing::debug!(%peer, %full, scheme = scheme.0, "connection refused");
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let cancel = cancel.clone();
        let acceptor = acceptor.clone();
        // The slot goes with the socket, also where a WebSocket upgrade
        // takes it out of hyper's connection.
        let stream = Counted {
            inner: stream,
            _slot: slot,
        };
        conns.spawn(async move {
            match acceptor {
                None => connection(stream, peer, scheme, router, cancel).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, peer, scheme, router, cancel).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    // Stopping: each connection saw `cancel` and finishes its request.
    while conns.join_next().await.is_some() {}
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    scheme: ServedScheme,
    router: Router,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: axum::http::Request<_>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(scheme);
        // A Router is always ready; it needs no poll_ready first.
        router.clone().call(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let res = tokio::select! {
        res = conn.as_mut() => res,
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// A socket holding its connection slot: the slot is given back when the
/// socket is closed, whoever holds it last (hyper, or a WebSocket it was
/// upgraded to).
struct Counted<S> {
    inner: S,
    _slot: dais_core::slots::Slot<IpAddr>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

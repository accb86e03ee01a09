//! The control network: room controllers, touch panels and scripts drive
//! the room through the shared [`Command`](crate::command::Command)
//! language.
//!
//! - [`uri`]: the `trueconf:` link grammar (sans-IO parser and formatter);
//!   [`link`] turns a link into commands;
//! - [`request`]: JSON requests and replies (sans-IO);
//! - [`gate`]: PIN and token authentication with lockout;
//! - [`session`]: one connection's protocol (auth, rate limit, feedback);
//! - [`tcp`]: the TCP line protocol and the local socket for `dais open`;
//! - [`ws`]: the WebSocket API and `POST /control`.
//!
//! The protocol is documented in `docs/control.md`.
//!
//! Invariant: a bad request gets an error reply on its own connection and
//! never closes another connection or touches the room.

pub mod gate;
pub mod request;
pub mod session;
pub mod tcp;
pub mod ws;

// The link grammar and a link's commands live in the core crate.
pub use dais_core::{link, uri};

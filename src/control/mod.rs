//! The control network: room controllers, touch panels and scripts drive
//! the room through the shared [`Command`](crate::command::Command)
//! language.
//!
//! [`request`] is the sans-IO half: it turns one request (a JSON object)
//! into a command and a reply back into JSON. [`tcp`] is the line-protocol
//! listener for room controllers.
//!
//! Invariant: a bad request gets an error reply on its own connection and
//! never closes another connection or touches the room.

pub mod request;
pub mod tcp;

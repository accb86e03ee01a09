//! dais: a Linux appliance for meeting rooms.
//!
//! See ARCHITECTURE.md for the code map. In short: `command` is the one
//! language every input speaks, `app` owns the room's state and runs the
//! services, `config` reads the layered settings, `devices` finds the
//! hardware a profile names, `media` builds the GStreamer pipelines,
//! `store` keeps state in SQLite, `http` and `control` are the network
//! edges, and `panel` is the Slint touch UI.

// serde_json's json! macro recurses per token; the OpenAPI document is large.
#![recursion_limit = "512"]

pub mod app;
pub mod config;
pub mod control;
pub mod devices;
pub mod http;
pub mod input;
pub mod media;
pub mod outbound;
pub mod panel;
pub mod process;
pub mod server;
pub mod sfu;
pub mod store;
pub mod supervisor;

// The sans-IO core (crates/core), under the paths the appliance has
// always used.
pub use dais_core::{call, clock, command, conference, contacts};

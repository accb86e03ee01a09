//! Remotes and keyboards: IR receivers exposed by the kernel's rc-core, USB
//! remotes and keyboards, read with evdev (`input/evdev.rs`), turned into
//! panel actions by a keymap and a repeat / long-press state machine. The
//! last two are sans-IO and live in the core crate
//! ([`dais_core::input`]), tested with synthetic event streams; the panel
//! applies the actions (`panel::keys`).

pub mod evdev;

pub use dais_core::input::*;

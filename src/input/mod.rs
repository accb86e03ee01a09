//! Remotes and keyboards: IR receivers exposed by the kernel's rc-core, USB
//! remotes and keyboards, read with evdev (`input/evdev.rs`), turned into
//! panel actions by a keymap (`keymap.rs`) and a repeat / long-press state
//! machine (`keys.rs`). The last two are sans-IO and tested with synthetic
//! event streams; the panel applies the actions (`panel::keys`).

pub mod evdev;
pub mod keymap;
pub mod keys;
pub mod uevent;

pub use keymap::{Action, Keymap};
pub use keys::{KeyEvent, Keys, Timing};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}:{line}: {what}")]
    Keymap {
        file: String,
        line: usize,
        what: String,
    },
    #[error("{path}: {reason}")]
    Device { path: String, reason: String },
}

//! Keys from remotes and keyboards, sans-IO: the keymap that turns key
//! names and scancodes into panel actions (`keymap.rs`), the repeat and
//! long-press state machine (`keys.rs`), and the kernel's uevent messages
//! that announce input devices (`uevent.rs`). Reading the devices (evdev)
//! is the appliance's part (`dais::input::evdev`).

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

//! Remote and keyboard actions on the panel: arrows move the focus through
//! the screen's controls in their order (the focus ring shows where), OK
//! presses the focused control, digits type the conference ID, and the
//! volume, mute, camera, call and hang-up keys act at once (on a ringing
//! invitation, call accepts and hang-up declines).

use slint::ComponentHandle;
use slint::platform::{Key, WindowEvent};

use super::{AppWindow, Dispatch, RoomApi};
use crate::command::Command;
use crate::input::{Action, KeyEvent};

/// Volume steps of the remote's volume keys.
const VOLUME_STEP: i32 = 5;

pub fn apply(ui: &AppWindow, ev: KeyEvent, dispatch: &Dispatch) {
    let api = ui.global::<RoomApi>();
    let home = !matches!(api.get_activity().as_str(), "conference" | "waiting");
    let ringing = home && api.get_ringing();
    match ev {
        // A ringing invitation: call answers, hang-up declines; the
        // arrows and OK reach the screen's two buttons as anywhere.
        KeyEvent::Press(Action::Call) if ringing => api.invoke_accept(),
        KeyEvent::Press(Action::HangUp) if ringing => api.invoke_decline(),
        KeyEvent::Press(Action::Digit(n)) if home && !ringing => {
            let mut s = api.get_cid_entry().to_string();
            if s.len() < 128 {
                s.push(char::from(b'0' + n));
                api.set_cid_entry(s.into());
            }
        }
        KeyEvent::Press(Action::Delete) if home && !ringing => {
            let mut s = api.get_cid_entry().to_string();
            s.pop();
            api.set_cid_entry(s.into());
        }
        KeyEvent::Press(Action::Up | Action::Left) => key(ui, Key::Backtab.into()),
        KeyEvent::Press(Action::Down | Action::Right) => key(ui, Key::Tab.into()),
        KeyEvent::Press(Action::Ok) => key(ui, Key::Return.into()),
        KeyEvent::Press(Action::Back) | KeyEvent::LongPress(Action::Back) => {
            api.set_notice("".into());
            if home {
                api.set_cid_entry("".into());
            }
        }
        KeyEvent::Press(Action::VolumeUp) | KeyEvent::Press(Action::VolumeDown) => {
            let step = if ev == KeyEvent::Press(Action::VolumeUp) {
                VOLUME_STEP
            } else {
                -VOLUME_STEP
            };
            let volume = (api.get_volume() + step).clamp(0, 100);
            api.set_volume(volume);
            dispatch(Command::SetVolume {
                volume: volume as u8,
            });
        }
        KeyEvent::Press(Action::Mute) => api.invoke_toggle_mic(),
        KeyEvent::Press(Action::Camera) => api.invoke_toggle_camera(),
        KeyEvent::Press(Action::Call) if home => {
            let cid = api.get_cid_entry();
            if !cid.is_empty() {
                api.invoke_join_cid(cid);
            }
        }
        KeyEvent::Press(Action::HangUp) if !home => dispatch(Command::HangUp),
        KeyEvent::Press(Action::Standby) => dispatch(if api.get_activity() == "standby" {
            Command::Wake
        } else {
            Command::Standby
        }),
        _ => {}
    }
}

fn key(ui: &AppWindow, text: slint::SharedString) {
    let w = ui.window();
    w.dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    w.dispatch_event(WindowEvent::KeyReleased { text });
}

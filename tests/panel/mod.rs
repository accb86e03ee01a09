//! What the panel's screen tests share: a panel wired to a command log,
//! a synthetic remote, finding and pressing controls by their accessible
//! labels, and app states to show.
#![allow(dead_code, unused_imports)]

pub use std::sync::{Arc, Mutex};

pub use dais::app::state::InConference;
pub use dais::app::{Activity, AppState};
pub use dais::command::{Command, Meeting, MeetingMode};
pub use dais::conference::Standing;
pub use dais::input::keys::{DOWN, UP};
pub use dais::input::{KeyEvent, Keys, Timing, evdev::load_keymap};
pub use dais::panel::templates::Entry;
pub use dais::panel::{
    AppWindow, Dispatch, FocusApi, MeetApi, RoomApi, TemplatesApi, apply_key, show, wire,
};
pub use dais::sfu::client::Participant;
pub use i_slint_backend_testing::ElementHandle;
pub use slint::ComponentHandle;
pub use std::time::Duration;

pub type Log = Arc<Mutex<Vec<Command>>>;

pub fn panel() -> (AppWindow, Log) {
    let (ui, log, _) = panel_with_dispatch();
    (ui, log)
}

pub fn panel_with_dispatch() -> (AppWindow, Log, Dispatch) {
    i_slint_backend_testing::init_no_event_loop();
    let ui = AppWindow::new().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    let dispatch: Dispatch = Arc::new(move |c| l.lock().unwrap().push(c));
    wire(&ui, dispatch.clone());
    (ui, log, dispatch)
}

/// A synthetic remote: taps of kernel key names, 150 ms apart, through the
/// default keymap, applied to the panel.
pub struct Remote {
    keys: Keys,
    t: Duration,
    dispatch: Dispatch,
}

impl Remote {
    pub fn new(dispatch: Dispatch) -> Self {
        Remote {
            keys: Keys::new(load_keymap(None).unwrap(), Timing::default()),
            t: Duration::ZERO,
            dispatch,
        }
    }

    pub fn tap(&mut self, ui: &AppWindow, key: &str) {
        let mut events: Vec<KeyEvent> = self.keys.feed(key, DOWN, self.t);
        self.t += Duration::from_millis(80);
        events.extend(self.keys.feed(key, UP, self.t));
        self.t += Duration::from_millis(70);
        for e in events {
            apply_key(ui, e, &self.dispatch);
        }
    }
}

pub fn find(ui: &AppWindow, label: &str) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(ui, label).next()
}

pub fn press(ui: &AppWindow, label: &str) {
    find(ui, label)
        .unwrap_or_else(|| panic!("no control labelled {label:?} on this screen"))
        .invoke_accessible_default_action();
}

pub fn idle() -> AppState {
    let mut st = AppState::new("Boardroom".into(), "virtual".into(), 0);
    st.activity = Activity::Idle;
    st
}

pub fn person(id: &str, name: &str, role: &str, state: Standing) -> Participant {
    Participant {
        id: id.into(),
        display_name: name.into(),
        role: role.into(),
        guest: id.starts_with("guest:"),
        state,
        reason: (state == Standing::Waiting).then(|| "waiting_room".into()),
        podium: false,
        mic_muted: false,
        camera_off: false,
        sharing: false,
    }
}

pub fn in_conference(role: &str) -> AppState {
    let mut st = idle();
    st.activity = Activity::Conference;
    st.conference = Some(InConference {
        cid: "4154248070".into(),
        topic: "Weekly review".into(),
        mode: "S|L".into(),
        participant_id: "room".into(),
        role: role.into(),
        state: Standing::Admitted,
        reason: None,
        server: None,
        participants: vec![
            person("room", "Boardroom", role, Standing::Admitted),
            person("ann", "Ann Smith", "speaker", Standing::Admitted),
            person("guest:9", "Gus", "participant", Standing::Waiting),
        ],
        chat: Vec::new(),
        call: false,
    });
    st
}

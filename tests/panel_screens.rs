//! The panel's screens driven like a person would: controls found by their
//! accessible labels and pressed, the commands they issue checked, and the
//! screen that follows the app's published state checked (Slint's testing
//! backend; no window).

use std::sync::{Arc, Mutex};

use dais::app::state::InConference;
use dais::app::{Activity, AppState};
use dais::command::{Command, Meeting, MeetingMode};
use dais::conference::Standing;
use dais::input::keys::{DOWN, UP};
use dais::input::{KeyEvent, Keys, Timing, evdev::load_keymap};
use dais::panel::templates::Entry;
use dais::panel::{
    AppWindow, Dispatch, FocusApi, MeetApi, RoomApi, TemplatesApi, apply_key, show, wire,
};
use dais::sfu::client::Participant;
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;
use std::time::Duration;

type Log = Arc<Mutex<Vec<Command>>>;

fn panel() -> (AppWindow, Log) {
    let (ui, log, _) = panel_with_dispatch();
    (ui, log)
}

fn panel_with_dispatch() -> (AppWindow, Log, Dispatch) {
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
struct Remote {
    keys: Keys,
    t: Duration,
    dispatch: Dispatch,
}

impl Remote {
    fn new(dispatch: Dispatch) -> Self {
        Remote {
            keys: Keys::new(load_keymap(None).unwrap(), Timing::default()),
            t: Duration::ZERO,
            dispatch,
        }
    }

    fn tap(&mut self, ui: &AppWindow, key: &str) {
        let mut events: Vec<KeyEvent> = self.keys.feed(key, DOWN, self.t);
        self.t += Duration::from_millis(80);
        events.extend(self.keys.feed(key, UP, self.t));
        self.t += Duration::from_millis(70);
        for e in events {
            apply_key(ui, e, &self.dispatch);
        }
    }
}

fn find(ui: &AppWindow, label: &str) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(ui, label).next()
}

fn press(ui: &AppWindow, label: &str) {
    find(ui, label)
        .unwrap_or_else(|| panic!("no control labelled {label:?} on this screen"))
        .invoke_accessible_default_action();
}

fn idle() -> AppState {
    let mut st = AppState::new("Boardroom".into(), "virtual".into(), 0);
    st.activity = Activity::Idle;
    st
}

fn person(id: &str, name: &str, role: &str, state: Standing) -> Participant {
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

fn in_conference(role: &str) -> AppState {
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

#[test]
fn joining_by_conference_id_from_the_keypad() {
    let (ui, log) = panel();
    show(&ui, &idle());
    for d in ["4", "1", "5", "9"] {
        press(&ui, &format!("Digit {d}"));
    }
    press(&ui, "Delete last digit");
    for d in ["4", "2", "4", "8", "0", "7", "0"] {
        press(&ui, &format!("Digit {d}"));
    }
    let entry = find(&ui, "Conference ID").unwrap();
    assert_eq!(entry.accessible_value().unwrap(), "4154248070");
    assert!(log.lock().unwrap().is_empty(), "typing issues no command");
    press(&ui, "Join conference");
    assert_eq!(
        *log.lock().unwrap(),
        vec![Command::JoinConference {
            cid: "4154248070".into(),
            server: None,
            pin: None,
            guest: None,
        }]
    );
}

#[test]
fn an_empty_keypad_joins_nothing() {
    let (ui, log) = panel();
    show(&ui, &idle());
    press(&ui, "Delete last digit");
    press(&ui, "Join conference");
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn the_conference_screen_follows_the_state_and_moderates() {
    let (ui, log) = panel();
    show(&ui, &idle());
    assert!(find(&ui, "Digit 1").is_some());
    // A conference joined from anywhere (the control network, say) takes
    // the panel to the conference screen.
    show(&ui, &in_conference("owner"));
    assert!(find(&ui, "Digit 1").is_none(), "the keypad is gone");
    for who in [
        "Participant Boardroom",
        "Participant Ann Smith",
        "Participant Gus",
    ] {
        assert!(find(&ui, who).is_some(), "{who} listed");
    }
    press(&ui, "Admit Gus");
    press(&ui, "Admit everyone waiting");
    press(&ui, "Put Ann Smith on the podium");
    press(&ui, "Send Ann Smith to the waiting room");
    assert!(
        find(&ui, "Send Boardroom to the waiting room").is_none(),
        "the room does not send itself away"
    );
    press(&ui, "Mute microphone");
    press(&ui, "Turn camera off");
    press(&ui, "Leave conference");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::Admit {
                participant_id: "guest:9".into()
            },
            Command::AdmitAll,
            Command::Podium {
                participant_id: "ann".into(),
                on: true
            },
            Command::ToWaitingRoom {
                participant_id: "ann".into()
            },
            Command::MuteMicrophone,
            Command::MuteCamera,
            Command::HangUp,
        ]
    );
    // The microphone button follows the published state, whoever muted.
    let mut st = in_conference("owner");
    st.audio.mic_muted = true;
    show(&ui, &st);
    press(&ui, "Unmute microphone");
    assert_eq!(log.lock().unwrap().last(), Some(&Command::UnmuteMicrophone));

    // Leaving (from any input) brings Home back.
    show(&ui, &idle());
    assert!(find(&ui, "Digit 1").is_some());
    assert!(find(&ui, "Participant Gus").is_none());
}

#[test]
fn a_participant_room_gets_no_moderator_controls() {
    let (ui, _) = panel();
    show(&ui, &in_conference("speaker"));
    assert!(find(&ui, "Participant Gus").is_some());
    assert!(find(&ui, "Admit Gus").is_none());
    assert!(find(&ui, "Admit everyone waiting").is_none());
    assert!(find(&ui, "Put Ann Smith on the podium").is_none());
    assert!(find(&ui, "Leave conference").is_some());
}

#[test]
fn a_remote_walks_the_focus_from_home_to_joining_by_conference_id() {
    let (ui, log, dispatch) = panel_with_dispatch();
    ui.show().unwrap();
    show(&ui, &idle());
    dais::panel::show_today(&ui, &[]);
    let mut remote = Remote::new(dispatch);
    // Digit keys type the ID; the remote's own keypad and a keyboard's
    // number row both count.
    for k in [
        "KEY_NUMERIC_4",
        "KEY_1",
        "KEY_KP5",
        "KEY_4",
        "KEY_2",
        "KEY_4",
        "KEY_8",
        "KEY_0",
        "KEY_7",
        "KEY_0",
        "KEY_9",
    ] {
        remote.tap(&ui, k);
    }
    remote.tap(&ui, "KEY_BACKSPACE");
    assert_eq!(ui.global::<RoomApi>().get_cid_entry(), "4154248070");
    assert!(log.lock().unwrap().is_empty());

    // Down walks the controls in order; the focus ring goes along.
    let mut visited = Vec::new();
    for _ in 0..40 {
        remote.tap(&ui, "KEY_DOWN");
        let f = ui.global::<FocusApi>().get_focused().to_string();
        visited.push(f.clone());
        if f == "Join conference" {
            break;
        }
    }
    // In reading order: the left column's buttons, then the keypad.
    assert_eq!(
        visited[..4],
        ["Templates", "Contacts", "Settings", "Digit 1"],
        "{visited:?}"
    );
    assert_eq!(
        visited.last().map(String::as_str),
        Some("Join conference"),
        "{visited:?}"
    );
    // Up goes back one.
    remote.tap(&ui, "KEY_UP");
    assert_eq!(ui.global::<FocusApi>().get_focused(), "Digit 0");
    remote.tap(&ui, "KEY_DOWN");
    remote.tap(&ui, "KEY_OK");
    assert_eq!(
        *log.lock().unwrap(),
        vec![Command::JoinConference {
            cid: "4154248070".into(),
            server: None,
            pin: None,
            guest: None,
        }]
    );
}

#[test]
fn volume_mute_and_hang_up_keys_act_at_once() {
    let (ui, log, dispatch) = panel_with_dispatch();
    ui.show().unwrap();
    let mut st = in_conference("owner");
    st.audio.volume = 50;
    show(&ui, &st);
    let mut remote = Remote::new(dispatch);
    remote.tap(&ui, "KEY_VOLUMEUP");
    remote.tap(&ui, "KEY_VOLUMEUP");
    remote.tap(&ui, "KEY_VOLUMEDOWN");
    remote.tap(&ui, "KEY_MUTE");
    remote.tap(&ui, "KEY_HANGUP_PHONE");
    // Digits do nothing in a conference (no keypad there).
    remote.tap(&ui, "KEY_5");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::SetVolume { volume: 55 },
            Command::SetVolume { volume: 60 },
            Command::SetVolume { volume: 55 },
            Command::MuteMicrophone,
            Command::HangUp,
        ]
    );
}

#[test]
fn meet_now_in_each_mode() {
    let (ui, log) = panel();
    show(&ui, &idle());
    // Smart meeting: the defaults, two podium places fewer, waiting room on.
    press(&ui, "Meet now");
    assert!(
        find(&ui, "Digit 1").is_none(),
        "the Meet now screen replaced Home"
    );
    press(&ui, "Fewer podium places");
    press(&ui, "Fewer podium places");
    press(&ui, "Waiting room on entry");
    assert!(find(&ui, "Podium places").is_some());
    assert_eq!(ui.global::<MeetApi>().get_max_podiums(), 2);
    press(&ui, "Start meeting");
    // Moderated: more participants.
    press(&ui, "Meet now");
    press(&ui, "Clear all settings");
    press(&ui, "Mode: Moderated role-based");
    press(&ui, "More participants");
    press(&ui, "Start meeting");
    // All on screen and lecture: no podium choice on screen, none sent.
    press(&ui, "Meet now");
    press(&ui, "Clear all settings");
    press(&ui, "Mode: All on screen");
    assert!(find(&ui, "Podium places").is_none());
    press(&ui, "Approve join requests automatically");
    press(&ui, "Start meeting");
    press(&ui, "Meet now");
    press(&ui, "Clear all settings");
    press(&ui, "Mode: Video lecture");
    assert!(find(&ui, "Podium places").is_none());
    press(&ui, "Start meeting");
    // Back leaves without starting anything.
    press(&ui, "Meet now");
    press(&ui, "Back to home");
    assert!(find(&ui, "Digit 1").is_some());

    let meet = |mode, participants, podiums, waiting, approve, mute| {
        Command::MeetNow(Meeting {
            topic: None,
            mode,
            max_participants: Some(participants),
            max_podiums: podiums,
            waiting_room: Some(waiting),
            auto_approve: Some(approve),
            mute_on_entry: Some(mute),
            pin: None,
            invite: Vec::new(),
        })
    };
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            meet(MeetingMode::Smart, 25, Some(2), true, true, true),
            meet(MeetingMode::Moderated, 26, Some(4), false, true, false),
            meet(MeetingMode::AllOnScreen, 25, None, false, false, false),
            meet(MeetingMode::VideoLecture, 25, None, false, true, false),
        ]
    );
}

#[test]
fn in_conference_the_room_sets_volume_layout_sharing_and_ends_for_all() {
    let (ui, log) = panel();
    let mut st = in_conference("owner");
    st.audio.volume = 60;
    st.layout = "speaker".into();
    show(&ui, &st);
    press(&ui, "Volume up");
    press(&ui, "Next layout");
    press(&ui, "Share content");
    // Ending for everyone asks first; Cancel keeps the conference going.
    press(&ui, "End the conference for everyone");
    assert!(
        find(&ui, "Leave conference").is_none(),
        "the question replaces the controls"
    );
    press(&ui, "Keep the conference going");
    press(&ui, "End the conference for everyone");
    press(&ui, "Confirm: end for everyone");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::SetVolume { volume: 70 },
            Command::SetLayout {
                layout: "speaker-strip".into()
            },
            Command::ShareContent { on: true },
            Command::EndConference,
        ]
    );
    // A participant room cannot end it.
    show(&ui, &in_conference("speaker"));
    assert!(find(&ui, "End the conference for everyone").is_none());
}

#[test]
fn todays_conferences_are_one_press_away() {
    use dais::panel::{show_today, today::Item};
    let (ui, log) = panel();
    show(&ui, &idle());
    show_today(
        &ui,
        &[
            Item {
                cid: "daily".into(),
                topic: "Daily stand-up".into(),
                start: None,
                running: true,
            },
            Item {
                cid: "4154248070".into(),
                topic: "Weekly review".into(),
                start: Some(1_700_000_000),
                running: false,
            },
        ],
    );
    press(&ui, "Join Weekly review");
    press(&ui, "Join Daily stand-up");
    let cids: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|c| match c {
            Command::JoinConference { cid, .. } => Some(cid.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cids, ["4154248070", "daily"]);
    show_today(&ui, &[]);
    assert!(find(&ui, "Join Weekly review").is_none());
}

#[test]
fn a_join_request_is_accepted_or_rejected() {
    let (ui, log) = panel();
    let mut st = in_conference("owner");
    if let Some(c) = st.conference.as_mut() {
        c.participants
            .push(person("guest:10", "Rita", "participant", Standing::Waiting));
        c.participants.last_mut().unwrap().reason = Some("awaiting_approval".into());
    }
    show(&ui, &st);
    // Gus sits in the waiting room (no request to decide); Rita asks.
    assert!(find(&ui, "Reject Gus").is_none());
    press(&ui, "Reject Rita");
    press(&ui, "Admit Rita");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::RejectJoinRequest {
                participant_id: "guest:10".into()
            },
            Command::Admit {
                participant_id: "guest:10".into()
            },
        ]
    );
}

/// Types `text` on the on-screen keyboard, key by key, and presses Done.
fn type_on_keyboard(ui: &AppWindow, text: &str) {
    for c in text.chars() {
        match c {
            ' ' => press(ui, "Space"),
            c if c.is_ascii_uppercase() => {
                press(ui, "Shift");
                press(ui, &format!("Key {}", c.to_ascii_lowercase()));
            }
            c => press(ui, &format!("Key {c}")),
        }
    }
    press(ui, "Done typing");
}

#[test]
fn meet_now_with_a_name_and_pin_and_saved_as_a_template() {
    let (ui, log) = panel();
    show(&ui, &idle());
    press(&ui, "Meet now");
    press(&ui, "Edit name");
    // Typing and correcting: one stray key deleted.
    type_on_keyboard(&ui, "Q3 reviewx");
    assert_eq!(ui.global::<MeetApi>().get_topic(), "Q3 reviewx");
    press(&ui, "Edit name");
    press(&ui, "Delete last character");
    press(&ui, "Done typing");
    press(&ui, "Edit pin");
    assert!(
        find(&ui, "Key q").is_none(),
        "a PIN keyboard has digits only"
    );
    type_on_keyboard(&ui, "2468");
    // Cancel keeps what was there.
    press(&ui, "Edit pin");
    press(&ui, "Key 9");
    press(&ui, "Cancel typing");
    assert_eq!(ui.global::<MeetApi>().get_pin(), "2468");
    press(&ui, "Mode: Moderated role-based");
    press(&ui, "Save as template");
    // The template's name starts as the meeting's.
    press(&ui, "Key s");
    press(&ui, "Done typing");
    press(&ui, "Start meeting");

    let meeting = Meeting {
        topic: Some("Q3 review".into()),
        mode: MeetingMode::Moderated,
        max_participants: Some(25),
        max_podiums: Some(4),
        waiting_room: Some(false),
        auto_approve: Some(true),
        mute_on_entry: Some(false),
        pin: Some("2468".into()),
        invite: Vec::new(),
    };
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::SaveTemplate {
                id: None,
                name: "Q3 reviews".into(),
                settings: meeting.clone(),
            },
            Command::MeetNow(meeting),
        ]
    );
}

fn templates() -> Vec<Entry> {
    vec![
        Entry {
            id: 7,
            name: "Board meeting".into(),
            settings: Meeting {
                max_participants: Some(12),
                max_podiums: Some(4),
                waiting_room: Some(true),
                pin: Some("1234".into()),
                ..Meeting::new(MeetingMode::Moderated)
            },
        },
        Entry {
            id: 9,
            name: "All hands".into(),
            settings: Meeting {
                max_participants: Some(200),
                ..Meeting::new(MeetingMode::VideoLecture)
            },
        },
    ]
}

#[test]
fn templates_start_edit_save_and_delete_only_after_confirmation() {
    i_slint_backend_testing::init_no_event_loop();
    let ui = AppWindow::new().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    let view = wire(&ui, Arc::new(move |c| l.lock().unwrap().push(c)));
    show(&ui, &idle());
    view.show(&ui, templates());
    press(&ui, "Templates");
    assert!(find(&ui, "Digit 1").is_none(), "Templates replaced Home");
    assert!(find(&ui, "Start Board meeting").is_some());
    assert!(find(&ui, "Start All hands").is_some());

    // Start.
    press(&ui, "Start All hands");
    assert_eq!(ui.global::<RoomApi>().get_screen(), "home");
    press(&ui, "Templates");

    // Edit: rename, change mode and size, save. What the screen does not
    // show (waiting room, PIN) is kept.
    press(&ui, "Edit Board meeting");
    assert_eq!(ui.global::<TemplatesApi>().get_edit_max_participants(), 12);
    press(&ui, "Edit name");
    for _ in 0.."meeting".len() {
        press(&ui, "Delete last character");
    }
    type_on_keyboard(&ui, "review");
    press(&ui, "Template mode: Smart meeting");
    press(&ui, "More participants");
    press(&ui, "Fewer podium places");
    press(&ui, "Save template");
    assert!(
        find(&ui, "Save template").is_none(),
        "the editor closes on save"
    );

    // An empty name is refused on the spot; the editor stays open.
    press(&ui, "New template");
    press(&ui, "Save template");
    assert!(find(&ui, "Save template").is_some());
    assert!(
        ui.global::<RoomApi>().get_notice().contains("name"),
        "{}",
        ui.global::<RoomApi>().get_notice()
    );
    press(&ui, "Cancel editing");

    // Delete asks first; keeping it sends nothing.
    press(&ui, "Delete All hands");
    assert!(find(&ui, "Confirm deletion").is_some());
    press(&ui, "Keep the template");
    assert!(find(&ui, "Confirm deletion").is_none());
    press(&ui, "Delete All hands");
    press(&ui, "Delete for good");
    assert!(find(&ui, "Confirm deletion").is_none());
    // The list follows the server: the template is gone from it.
    view.show(&ui, templates().into_iter().filter(|t| t.id != 9).collect());
    assert!(find(&ui, "Start All hands").is_none());
    assert!(find(&ui, "Start Board meeting").is_some());

    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::StartTemplate { id: 9 },
            Command::SaveTemplate {
                id: Some(7),
                name: "Board review".into(),
                settings: Meeting {
                    max_participants: Some(13),
                    max_podiums: Some(3),
                    waiting_room: Some(true),
                    pin: Some("1234".into()),
                    ..Meeting::new(MeetingMode::Smart)
                },
            },
            Command::DeleteTemplate { id: 9 },
        ]
    );
}

#[test]
fn calling_any_call_string_from_home() {
    let (ui, log) = panel();
    show(&ui, &idle());
    press(&ui, "Call someone");
    type_on_keyboard(&ui, "smith@conf.example.com");
    // A call string the grammar refuses is named, and nothing is called.
    press(&ui, "Call someone");
    type_on_keyboard(&ui, "ann@");
    let notice = find(&ui, "Notice").expect("a notice");
    let text = notice.accessible_value().unwrap_or_default();
    assert!(
        text.starts_with("Cannot call \"ann@\": at character"),
        "{text}"
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec![Command::Call {
            peer: "smith".into(),
            server: Some("conf.example.com".into())
        }]
    );
}

fn contacts() -> Vec<dais::contacts::Contact> {
    use dais::contacts::Contact;
    vec![
        Contact {
            name: "Ann Smith".into(),
            address: "ann".into(),
            local: true,
        },
        Contact {
            name: "Boardroom 2.01".into(),
            address: "room@dais-b.example".into(),
            local: false,
        },
        Contact {
            name: "Bob Jones".into(),
            address: "bob".into(),
            local: true,
        },
    ]
}

#[test]
fn calling_a_contact_and_inviting_contacts_to_meet_now() {
    let (ui, log) = panel();
    dais::panel::contacts::wire(&ui, &contacts());
    show(&ui, &idle());
    press(&ui, "Contacts");
    press(&ui, "Call Boardroom 2.01");
    press(&ui, "Back to home");
    assert!(find(&ui, "Meet now").is_some(), "back on Home");

    // Meet now: only the room's own users can be invited.
    press(&ui, "Meet now");
    press(&ui, "Add participants");
    assert!(find(&ui, "Invite Ann Smith").is_some());
    assert!(
        find(&ui, "Invite Boardroom 2.01").is_none(),
        "another dais's room"
    );
    assert!(
        find(&ui, "Call Ann Smith").is_none(),
        "choosing, not calling"
    );
    press(&ui, "Invite Ann Smith");
    press(&ui, "Invite Bob Jones");
    press(&ui, "Do not invite Bob Jones");
    press(&ui, "Done choosing");
    press(&ui, "Start meeting");
    // Clear all forgets the invitations too.
    press(&ui, "Meet now");
    assert!(find(&ui, "Add participants").is_some());
    press(&ui, "Clear all settings");
    press(&ui, "Start meeting");
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::Call {
                peer: "room".into(),
                server: Some("dais-b.example".into())
            },
            Command::MeetNow(Meeting {
                max_participants: Some(25),
                max_podiums: Some(4),
                waiting_room: Some(false),
                auto_approve: Some(true),
                mute_on_entry: Some(true),
                invite: vec!["ann".into()],
                ..Meeting::new(MeetingMode::Smart)
            }),
            Command::MeetNow(Meeting {
                max_participants: Some(25),
                max_podiums: Some(4),
                waiting_room: Some(false),
                auto_approve: Some(true),
                mute_on_entry: Some(true),
                ..Meeting::new(MeetingMode::Smart)
            }),
        ]
    );
}

fn ringing() -> AppState {
    let mut st = idle();
    st.incoming = Some(dais::app::state::Incoming {
        cid: "4154248070".into(),
        topic: "Call from Boardroom A".into(),
        from: "boardroom-a".into(),
        until: 60,
    });
    st
}

#[test]
fn an_incoming_call_is_accepted_or_declined_by_touch_or_remote() {
    let (ui, log, dispatch) = panel_with_dispatch();
    show(&ui, &idle());
    press(&ui, "Meet now");
    show(&ui, &ringing());
    // The invitation covers the screen the room was on.
    assert!(find(&ui, "Start meeting").is_none());
    let topic = find(&ui, "Incoming call").expect("the caller's conference");
    assert_eq!(topic.accessible_value().unwrap(), "Call from Boardroom A");
    press(&ui, "Decline the call");
    press(&ui, "Accept the call");
    // The remote: call accepts, hang-up declines, digits type nothing.
    let mut remote = Remote::new(dispatch);
    remote.tap(&ui, "KEY_1");
    remote.tap(&ui, "KEY_PHONE");
    remote.tap(&ui, "KEY_HANGUP_PHONE");
    assert_eq!(ui.global::<RoomApi>().get_cid_entry(), "");
    // Once answered, the room's screen is back.
    show(&ui, &idle());
    assert!(find(&ui, "Start meeting").is_some());
    let mut missed = idle();
    missed.missed_call = ringing().incoming;
    show(&ui, &missed);
    press(&ui, "Back to home");
    let m = find(&ui, "Missed call").expect("the missed call on Home");
    assert_eq!(
        m.accessible_value().unwrap(),
        "Missed call: Call from Boardroom A"
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            Command::Reject,
            Command::Accept,
            Command::Accept,
            Command::Reject
        ]
    );
}

#[test]
fn a_chat_message_typed_on_the_panel_goes_to_the_conference() {
    let (ui, log) = panel();
    show(&ui, &in_conference("owner"));
    press(&ui, "Write a chat message");
    type_on_keyboard(&ui, "Back in 5");
    // An empty message sends nothing.
    press(&ui, "Write a chat message");
    press(&ui, "Done typing");
    assert_eq!(
        *log.lock().unwrap(),
        vec![Command::SendChat {
            text: "Back in 5".into()
        }]
    );
}

#[test]
fn settings_open_only_with_the_admin_pin_and_lock_again_on_leaving() {
    use dais::panel::settings;
    let (ui, _log) = panel();
    settings::wire(&ui, "2468");
    show(&ui, &idle());
    let st = idle();
    let pages = settings::pages(
        &st,
        &dais::config::Settings::default(),
        &settings::NetworkInfo::default(),
        3_600,
    );
    settings::show(&ui, &pages);
    settings::show_meter(&ui, Some(-20.0));

    press(&ui, "Settings");
    assert!(find(&ui, "Settings page About").is_none(), "locked");
    // A wrong PIN is refused and says so; the digits are not shown.
    for k in ["1", "3", "5", "7"] {
        press(&ui, &format!("Key {k}"));
    }
    let entry = find(&ui, "Admin PIN").unwrap();
    assert_eq!(entry.accessible_value().unwrap_or_default(), "");
    press(&ui, "Done typing");
    assert!(find(&ui, "Settings page About").is_none());
    assert!(
        ui.global::<dais::panel::SettingsApi>()
            .get_pin_error()
            .contains("Wrong PIN"),
    );
    for k in ["2", "4", "6", "8"] {
        press(&ui, &format!("Key {k}"));
    }
    press(&ui, "Done typing");
    press(&ui, "Settings page About");
    let version = find(&ui, "Version").expect("the About page");
    assert!(
        version
            .accessible_value()
            .unwrap_or_default()
            .starts_with("dais ")
    );
    assert_eq!(
        find(&ui, "Uptime")
            .unwrap()
            .accessible_value()
            .unwrap_or_default(),
        "1 h 0 min"
    );
    press(&ui, "Settings page Control security");
    assert_eq!(
        find(&ui, "Controllers must authenticate")
            .unwrap()
            .accessible_value()
            .unwrap_or_default(),
        "yes (PIN or token)"
    );
    press(&ui, "Settings page Devices");
    assert_eq!(
        find(&ui, "Microphone level")
            .unwrap()
            .accessible_value()
            .unwrap_or_default(),
        "-20 dBFS"
    );
    // Leaving locks Settings again.
    press(&ui, "Back to home");
    press(&ui, "Settings");
    assert!(find(&ui, "Settings page About").is_none());
    press(&ui, "Cancel typing");
    assert!(find(&ui, "Digit 1").is_some(), "back on Home");
}

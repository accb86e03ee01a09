//! The panel's screens driven like a person would: controls found by their
//! accessible labels and pressed, the commands they issue checked, and the
//! screen that follows the app's published state checked (Slint's testing
//! backend; no window).

mod panel;

use panel::*;

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

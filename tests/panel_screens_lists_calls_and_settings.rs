//! The panel's lists, calls and settings driven like a person would (the
//! on-screen keyboard, templates, contacts, an incoming call, chat, the
//! admin PIN), with Slint's testing backend; the rest of its screens are in
//! `panel_screens.rs`.

mod panel;

use panel::*;

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

#[test]
fn the_network_page_shows_the_https_certificate_to_check() {
    use dais::panel::settings;
    let (ui, _log) = panel();
    settings::wire(&ui, "2468");
    let mut st = idle();
    st.endpoints.http = Some("https://10.0.0.5:8443".into());
    st.endpoints.certificate = Some(dais::app::state::Certificate {
        source: "device".into(),
        fingerprint: "AA:BB".into(),
        issuer_fingerprint: Some("7B:B1:29".into()),
        file: "/var/lib/dais/tls/ca.pem".into(),
        names: vec!["10.0.0.5".into()],
    });
    show(&ui, &st);
    let pages = settings::pages(
        &st,
        &dais::config::Settings::default(),
        &settings::NetworkInfo::default(),
        60,
    );
    settings::show(&ui, &pages);
    press(&ui, "Settings");
    for k in ["2", "4", "6", "8"] {
        press(&ui, &format!("Key {k}"));
    }
    press(&ui, "Done typing");
    press(&ui, "Settings page Network");
    let value = |label: &str| {
        find(&ui, label)
            .unwrap_or_else(|| panic!("{label} on the Network page"))
            .accessible_value()
            .unwrap_or_default()
    };
    assert_eq!(value("Device CA SHA-256"), "7B:B1:29");
    assert_eq!(value("Certificate SHA-256"), "AA:BB");
    assert_eq!(value("Web client"), "https://10.0.0.5:8443/webrtc/");
}

//! `dais config check` and `dais run` refuse bad settings with
//! `file:line: key: what was expected`, and a profile naming a missing
//! GStreamer element stops start-up with the element named.

mod common;

use common::{config_check as check, dais};

#[test]
fn unknown_key_is_refused_with_its_line() {
    let (ok, err) = check("[room]\nname = \"Boardroom\"\ncolour = \"blue\"\n");
    assert!(!ok);
    assert!(
        err.starts_with("local.toml:3: room.colour: unknown key"),
        "{err}"
    );
}

#[test]
fn wrong_type_is_refused_with_what_was_expected() {
    let (ok, err) = check("[control]\nenabled = \"yes\"\n");
    assert!(!ok);
    assert!(
        err.starts_with(
            "local.toml:2: control.enabled: expected true or false, got string \"yes\""
        ),
        "{err}"
    );
}

#[test]
fn out_of_range_value_is_refused_with_the_range() {
    let (ok, err) = check("[camera]\nwidth = 1280\nheight = 721\n");
    assert!(!ok);
    assert!(
        err.starts_with("local.toml:3: camera.height: an even integer from 16 to 4320, got 721"),
        "{err}"
    );
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let (ok, err) = check("[camera]\nframerate = 0\n[microphone]\nchannels = 9\n");
    assert!(!ok);
    assert!(err.contains("local.toml:2: camera.framerate"), "{err}");
    assert!(err.contains("local.toml:4: microphone.channels"), "{err}");
}

#[test]
fn the_printed_defaults_pass_the_check() {
    let out = dais(&["config", "defaults"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[camera]"));
    let (ok, err) = check(&text);
    assert!(ok, "{err}");
}

#[test]
fn shipped_profiles_pass_the_check() {
    for p in ["hardware/virtual.toml", "hardware/generic-usb.toml"] {
        let path = common::repo().join(p);
        let out = dais(&["config", "check", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn run_refuses_a_bad_local_override_before_starting_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("dais.toml");
    std::fs::write(&cfg, "[http]\nmax_body_bytes = -5\n").unwrap();
    let data = tmp.path().join("data");
    let mut start = common::Start::new(&data);
    start.config = Some(cfg);
    let out = common::run_command(&start).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dais.toml:2: http.max_body_bytes"), "{err}");
    assert!(
        !tmp.path().join("data").join("dais.db").exists(),
        "nothing may start"
    );
}

#[test]
fn a_profile_naming_a_missing_element_fails_start_up_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("odd.toml");
    std::fs::write(
        &profile,
        "[profile]\nname = \"odd\"\n[camera]\nsource = \"element\"\nelement = \"nosuchcamerasrc\"\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let mut start = common::Start::new(&data);
    start.profile = profile;
    let out = common::run_command(&start).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing GStreamer elements: nosuchcamerasrc"),
        "{err}"
    );
}

#[test]
fn a_corrupt_store_stops_start_up_and_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let junk = b"not sqlite at all".repeat(300);
    std::fs::write(data.join("dais.db"), &junk).unwrap();
    let out = common::run_command(&common::Start::new(&data))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt") && err.contains("left untouched"),
        "{err}"
    );
    assert_eq!(std::fs::read(data.join("dais.db")).unwrap(), junk);
}

#[test]
fn the_keymap_the_settings_name_is_checked_too() {
    let tmp = tempfile::tempdir().unwrap();
    let keymap = tmp.path().join("remote.toml");
    std::fs::write(&keymap, "[keys]\nKEY_OK = \"ok\"\nKEY_NOPE = \"ok\"\n").unwrap();
    let (ok, err) = check(&format!("[input]\nkeymap = \"{}\"\n", keymap.display()));
    assert!(!ok);
    let err = err.replace(keymap.to_str().unwrap(), "remote.toml");
    assert!(err.starts_with("input.keymap: remote.toml:3: "), "{err}");
    assert!(err.contains("KEY_NOPE"), "{err}");

    let (ok, err) = check("[input]\nkeymap = \"/nonexistent/remote.toml\"\n");
    assert!(!ok);
    assert!(
        err.starts_with("input.keymap: /nonexistent/remote.toml: "),
        "{err}"
    );
}

#[test]
fn a_phone_book_entry_needs_a_name_and_a_call_string() {
    let (ok, err) = check(
        "[[room.contacts]]\nname = \"Boardroom 2.01\"\naddress = \"room@dais-b.example\"\n\n[[room.contacts]]\nname = \"\"\naddress = \"ann@\"\n",
    );
    assert!(!ok);
    assert!(
        err.contains("room.contacts[1].name: a name of 1 to 64 characters"),
        "{err}"
    );
    assert!(
        err.contains("room.contacts[1].address: a call string"),
        "{err}"
    );
    assert!(!err.contains("room.contacts[0]"), "{err}");
}

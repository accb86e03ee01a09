//! Every example link of seeds 002 and 003 becomes the commands it stands
//! for (table-driven), and `dais open` hands a link to a running dais.

mod common;

use std::time::Duration;

use common::{Api, Dais, Start};
use dais::command::{Command, GuestLogin};
use dais::control::{link, uri};
use serde_json::json;

fn commands(s: &str) -> Vec<Command> {
    let parsed = uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    link::commands(&parsed.link)
}

fn login(servers: &[&str], l: &str, p: &str, encrypted: bool, force: bool) -> Command {
    Command::Login {
        servers: servers.iter().map(|s| s.to_string()).collect(),
        login: l.into(),
        password: p.into(),
        encrypted,
        force,
    }
}

fn join(cid: &str, server: Option<&str>, guest: Option<(&str, &str)>) -> Command {
    Command::JoinConference {
        cid: cid.into(),
        server: server.map(Into::into),
        pin: None,
        guest: guest.map(|(n, t)| GuestLogin {
            display_name: n.into(),
            token: t.into(),
        }),
    }
}

#[test]
fn every_seed_link_becomes_its_commands() {
    let table: Vec<(&str, Vec<Command>)> = vec![
        ("trueconf:", vec![Command::Launch]),
        (
            "trueconf:login=user&password=pswd&encrypt=1&force=1",
            vec![login(&[], "user", "pswd", true, true)],
        ),
        (
            "trueconf:h=192.168.12.123&login=user&password=pswd&encrypt=1&force=1",
            vec![login(&["192.168.12.123"], "user", "pswd", true, true)],
        ),
        (
            "trueconf:smith",
            vec![Command::Call {
                peer: "smith".into(),
                server: None,
            }],
        ),
        (
            "trueconf:smith@conf.company.com",
            vec![Command::Call {
                peer: "smith".into(),
                server: Some("conf.company.com".into()),
            }],
        ),
        (
            "trueconf:#rtsp:%2f%2fdomainn.company.com:554",
            vec![Command::OpenRtsp {
                url: "rtsp://domainn.company.com:554".into(),
            }],
        ),
        (
            "trueconf:\\c\\4154248070",
            vec![join("4154248070", None, None)],
        ),
        (
            "trueconf:\\c\\4154248070@video.example.com%vcs",
            vec![join("4154248070", Some("video.example.com"), None)],
        ),
        (
            "trueconf:smith&conftype=hotquery",
            vec![Command::CallModerator {
                user: "smith".into(),
                server: None,
            }],
        ),
        (
            "trueconf:smith&autoclose=1",
            vec![
                Command::Call {
                    peer: "smith".into(),
                    server: None,
                },
                Command::AutoClose,
            ],
        ),
        (
            "trueconf:\\c\\4154248070@video.example.com%vcs&h=truevideo.example.com&login=user&password=pswd&encrypt=1&force=1",
            vec![
                login(&["truevideo.example.com"], "user", "pswd", true, true),
                join("4154248070", Some("video.example.com"), None),
            ],
        ),
        (
            "visicall:smith",
            vec![Command::Call {
                peer: "smith".into(),
                server: None,
            }],
        ),
    ];
    for (link, want) in table {
        assert_eq!(commands(link), want, "{link}");
    }
    // The two deeplinks of seed 002 mean the same: a guest joins with a token.
    let seed =
        std::fs::read_to_string(common::repo().join("tests/data/trueconf_links.txt")).unwrap();
    let token = "$291bcfe8bfc567822b4ff133c1b668fb7*1671525797*377ee8856b0404911fdeed524854d198";
    let want = vec![
        join(
            "5016799639",
            Some("video.company.com"),
            Some(("Иван Степан", token)),
        ),
        Command::AutoClose,
    ];
    for line in seed.lines().filter(|l| l.contains("5016799639")) {
        assert_eq!(commands(line), want, "{line}");
    }
    // Every line of the seed file is covered by this test or the one above.
    for line in seed.lines().filter(|l| !l.is_empty()) {
        assert!(!commands(line).is_empty(), "{line}");
    }
}

#[test]
fn dais_open_hands_a_link_to_the_running_room() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Start::new(&data);
    s.extra = vec!["--api-client".into(), "crm:correct-horse-battery".into()];
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = Api::new(&d.http).login_client("crm", "correct-horse-battery");
    api.post(
        "/api/v3.11/conferences",
        &json!({"id": "huddle", "topic": "Huddle", "owner": "o", "state": "running"}),
    );

    let out = common::dais(&[
        "open",
        "trueconf:\\c\\huddle",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["steps"][0]["method"], "joinConference");
    // The room is in the roster.
    let (_, body) = api.get("/api/v3.11/conferences/huddle/participants");
    assert_eq!(body["participants"][0]["id"], "room", "{body}");
    assert_eq!(body["participants"][0]["display_name"], "Meeting room");

    // A bad link: an error naming the offset, exit status 1.
    let out = common::dais(&[
        "open",
        "trueconf:\\c\\bad cid",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at byte 12"),
        "{reply}"
    );

    // No dais behind the directory: a clear error.
    let out = common::dais(&[
        "open",
        "trueconf:",
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach a running dais"));
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
}

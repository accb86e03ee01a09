use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::conference::{Cid, Conference, Invitation, Patch};

fn conf(p: Patch) -> Conference {
    let mut c = Conference::create(
        Patch {
            topic: Some("t".into()),
            owner: Some("owner@srv".into()),
            allow_guests: Some(true),
            state: Some(RunState::Running),
            ..p
        },
        0,
        || Cid::parse("1000000001").unwrap(),
        |_| false,
    )
    .unwrap();
    c.state = RunState::Running;
    c
}

fn guest(id: &str) -> JoinRequest {
    JoinRequest {
        id: id.into(),
        display_name: id.to_uppercase(),
        guest: true,
        pin: None,
        via_link: false,
    }
}

fn user(id: &str) -> JoinRequest {
    JoinRequest {
        guest: false,
        ..guest(id)
    }
}

fn at(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn owner() -> Actor {
    Actor::owner()
}

#[test]
fn a_stopped_conference_refuses_everyone() {
    let mut c = conf(Patch::default());
    c.state = RunState::Stopped;
    let mut r = Roster::new();
    let (d, _) = r.request_join(&c, user("owner"), at(0));
    assert_eq!(d, JoinDecision::Refused(Refusal::NotRunning));
}

#[test]
fn pin_and_host_pin() {
    let c = conf(Patch {
        pin: Some("1234".into()),
        host_pin: Some("9999".into()),
        ..Default::default()
    });
    let mut r = Roster::new();
    let (d, ev) = r.request_join(&c, guest("g1"), at(0));
    assert_eq!(d, JoinDecision::Refused(Refusal::WrongPin));
    assert_eq!(
        ev,
        vec![Event::Refused {
            id: "g1".into(),
            reason: Refusal::WrongPin
        }]
    );
    let mut g = guest("g1");
    g.pin = Some("1234".into());
    assert_eq!(
        r.request_join(&c, g, at(0)).0,
        JoinDecision::Admitted {
            role: Role::Speaker
        }
    );
    let mut h = guest("h");
    h.pin = Some("9999".into());
    assert_eq!(
        r.request_join(&c, h, at(0)).0,
        JoinDecision::Admitted {
            role: Role::Moderator
        }
    );
    assert!(r.get("h").unwrap().host);
    // The owner needs no PIN.
    assert!(matches!(
        r.request_join(&c, user("owner"), at(0)).0,
        JoinDecision::Admitted { role: Role::Owner }
    ));
}

#[test]
fn guests_and_planned_participants() {
    let mut c = conf(Patch {
        allow_only_planned_participants: Some(true),
        invitations: Some(vec![Invitation {
            id: "alice@srv".into(),
            display_name: "Alice".into(),
        }]),
        ..Default::default()
    });
    let mut r = Roster::new();
    assert_eq!(
        r.request_join(&c, user("bob"), at(0)).0,
        JoinDecision::Refused(Refusal::NotPlanned)
    );
    assert!(matches!(
        r.request_join(&c, user("alice"), at(0)).0,
        JoinDecision::Admitted { .. }
    ));
    let mut linked = guest("g");
    linked.via_link = true;
    assert!(matches!(
        r.request_join(&c, linked, at(0)).0,
        JoinDecision::Admitted { .. }
    ));
    c.allow_guests = false;
    assert_eq!(
        r.request_join(&c, guest("g2"), at(0)).0,
        JoinDecision::Refused(Refusal::GuestsNotAllowed)
    );
}

#[test]
fn the_conference_fills_up() {
    let c = conf(Patch {
        max_participants: Some(2),
        ..Default::default()
    });
    let mut r = Roster::new();
    r.request_join(&c, guest("a"), at(0));
    r.request_join(&c, guest("b"), at(0));
    assert_eq!(
        r.request_join(&c, guest("c"), at(0)).0,
        JoinDecision::Refused(Refusal::Full)
    );
    // Rejoining from a new device is not a new place.
    assert!(matches!(
        r.request_join(&c, guest("b"), at(1)).0,
        JoinDecision::Admitted { .. }
    ));
    assert_eq!(r.len(), 2);
}

#[test]
fn wait_for_host_holds_everyone_until_the_host_comes() {
    let c = conf(Patch {
        wait_for_host: Some(true),
        host_pin: Some("77".into()),
        ..Default::default()
    });
    let mut r = Roster::new();
    assert_eq!(
        r.request_join(&c, guest("a"), at(0)).0,
        JoinDecision::Waiting(WaitReason::WaitingForHost)
    );
    assert_eq!(
        r.request_join(&c, guest("b"), at(0)).0,
        JoinDecision::Waiting(WaitReason::WaitingForHost)
    );
    let mut host = guest("host");
    host.pin = Some("77".into());
    let (d, ev) = r.request_join(&c, host, at(1));
    assert_eq!(
        d,
        JoinDecision::Admitted {
            role: Role::Moderator
        }
    );
    assert!(ev.contains(&Event::Admitted { id: "a".into() }));
    assert!(ev.contains(&Event::Admitted { id: "b".into() }));
    assert!(r.all().iter().all(|m| !m.waiting()));
}

#[test]
fn approval_is_needed_unless_automatic_or_vouched() {
    let c = conf(Patch {
        auto_approve: Some(false),
        ..Default::default()
    });
    let mut r = Roster::new();
    assert_eq!(
        r.request_join(&c, guest("a"), at(0)).0,
        JoinDecision::Waiting(WaitReason::AwaitingApproval)
    );
    let mut linked = guest("l");
    linked.via_link = true;
    assert!(matches!(
        r.request_join(&c, linked, at(0)).0,
        JoinDecision::Admitted { .. }
    ));
    let ev = r.reject(&c, owner(), "a").unwrap();
    assert_eq!(
        ev,
        vec![Event::Refused {
            id: "a".into(),
            reason: Refusal::Rejected
        }]
    );
    assert!(r.get("a").is_none());
}

#[test]
fn waiting_room_admit_one_all_and_send_back() {
    let c = conf(Patch {
        waiting_room: Some(true),
        ..Default::default()
    });
    let mut r = Roster::new();
    assert!(matches!(
        r.request_join(&c, user("owner"), at(0)).0,
        JoinDecision::Admitted { role: Role::Owner }
    ));
    for g in ["a", "b", "c"] {
        assert_eq!(
            r.request_join(&c, guest(g), at(0)).0,
            JoinDecision::Waiting(WaitReason::WaitingRoom)
        );
    }
    // Invisible to participants, visible to the owner.
    let a = r.get("a").unwrap().actor();
    assert!(r.visible_to(a).is_empty(), "a waiting member sees nobody");
    let listener = Actor {
        role: Role::Participant,
        guest: true,
        waiting: false,
    };
    assert_eq!(r.visible_to(listener).len(), 1);
    assert_eq!(r.visible_to(owner()).len(), 4);
    // Waiting members cannot chat or receive media.
    assert!(!r.may(&c, "a", Right::ChatSend));
    assert!(!r.may(&c, "a", Right::AudioRcv));

    r.admit(&c, owner(), "a", at(1)).unwrap();
    assert!(!r.get("a").unwrap().waiting());
    assert!(r.may(&c, "a", Right::AudioRcv));
    assert!(matches!(
        r.admit(&c, owner(), "a", at(1)),
        Err(RosterError::NotWaiting(_))
    ));
    let ev = r.admit_all(&c, owner(), at(2)).unwrap();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Admitted { .. }))
            .count(),
        2
    );
    r.to_waiting_room(&c, owner(), "b", at(3)).unwrap();
    let b = r.get("b").unwrap();
    assert!(b.waiting() && !b.podium);
    // A participant cannot admit.
    let a = r.get("a").unwrap().actor();
    assert!(r.admit(&c, a, "b", at(4)).is_err());
}

#[test]
fn lecture_puts_only_the_lecturer_on_the_podium() {
    let c = conf(Patch {
        mode: Some(Mode::VideoLecture),
        ..Default::default()
    });
    let mut r = Roster::new();
    r.request_join(&c, guest("early"), at(0));
    r.request_join(&c, user("owner"), at(0));
    r.request_join(&c, guest("late"), at(0));
    assert_eq!(r.podium(), vec!["owner".to_string()]);
}

#[test]
fn moderated_podium_is_the_moderators_choice() {
    let c = conf(Patch {
        mode: Some(Mode::Moderated),
        max_podiums: Some(1),
        ..Default::default()
    });
    let mut r = Roster::new();
    r.request_join(&c, user("owner"), at(0));
    r.request_join(&c, guest("a"), at(0));
    r.request_join(&c, guest("b"), at(0));
    assert!(r.podium().is_empty());
    let a = r.get("a").unwrap().actor();
    assert!(
        r.podium_set(&c, a, "a", true, at(1)).is_err(),
        "participants cannot take the podium"
    );
    r.podium_set(&c, owner(), "a", true, at(1)).unwrap();
    assert_eq!(r.get("a").unwrap().role, Role::Speaker);
    assert_eq!(
        r.podium_set(&c, owner(), "b", true, at(1)),
        Err(RosterError::PodiumFull(1))
    );
    r.podium_set(&c, owner(), "a", false, at(2)).unwrap();
    assert_eq!(r.get("a").unwrap().role, Role::Participant);
}

#[test]
fn smart_meeting_fills_the_podium_by_voice() {
    let c = conf(Patch {
        mode: Some(Mode::Smart),
        max_podiums: Some(1),
        ..Default::default()
    });
    let mut r = Roster::new();
    r.request_join(&c, guest("loud"), at(0));
    r.request_join(&c, guest("quiet"), at(0));
    // Smart meetings mute on entry: a muted microphone cannot take the podium.
    assert!(r.get("loud").unwrap().mic_muted);
    r.set_media(
        &c,
        r.get("loud").unwrap().actor(),
        "loud",
        "loud",
        Some(false),
        None,
    )
    .unwrap();
    let mut t = Duration::ZERO;
    while t < Duration::from_secs(2) {
        r.voice(&c, "loud", true, t);
        r.voice(&c, "quiet", true, t); // muted: ignored
        t += Duration::from_millis(100);
    }
    assert_eq!(r.podium(), vec!["loud".to_string()]);
    // Silence gives the place up after the release time.
    while t < Duration::from_secs(15) {
        r.voice(&c, "loud", false, t);
        t += Duration::from_millis(100);
    }
    assert!(r.podium().is_empty());
}

#[test]
fn the_owner_cannot_be_removed_even_by_a_moderator() {
    let c = conf(Patch {
        host_pin: Some("5".into()),
        ..Default::default()
    });
    let mut r = Roster::new();
    r.request_join(&c, user("owner"), at(0));
    let mut m = guest("mod");
    m.pin = Some("5".into());
    r.request_join(&c, m, at(0));
    let moderator = r.get("mod").unwrap().actor();
    assert_eq!(
        r.remove(&c, moderator, "owner"),
        Err(RosterError::Denied(Denied::Owner))
    );
    assert!(r.remove(&c, owner(), "mod").is_ok());
}

#[derive(Debug, Clone)]
enum Op {
    Join {
        who: u8,
        guest: bool,
        pin: Option<u8>,
        link: bool,
    },
    Leave(u8),
    Admit {
        actor: u8,
        who: u8,
    },
    AdmitAll {
        actor: u8,
    },
    Wait {
        actor: u8,
        who: u8,
    },
    Podium {
        actor: u8,
        who: u8,
        on: bool,
    },
    Role {
        actor: u8,
        who: u8,
        role: u8,
    },
    Remove {
        actor: u8,
        who: u8,
    },
    Voice {
        who: u8,
        active: bool,
    },
    Share {
        who: u8,
        on: bool,
    },
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0u8..8;
    prop_oneof![
        (
            who.clone(),
            any::<bool>(),
            prop::option::of(0u8..3),
            any::<bool>()
        )
            .prop_map(|(who, guest, pin, link)| Op::Join {
                who,
                guest,
                pin,
                link
            }),
        who.clone().prop_map(Op::Leave),
        (who.clone(), who.clone()).prop_map(|(actor, who)| Op::Admit { actor, who }),
        who.clone().prop_map(|actor| Op::AdmitAll { actor }),
        (who.clone(), who.clone()).prop_map(|(actor, who)| Op::Wait { actor, who }),
        (who.clone(), who.clone(), any::<bool>()).prop_map(|(actor, who, on)| Op::Podium {
            actor,
            who,
            on
        }),
        (who.clone(), who.clone(), 0u8..6).prop_map(|(actor, who, role)| Op::Role {
            actor,
            who,
            role
        }),
        (who.clone(), who.clone()).prop_map(|(actor, who)| Op::Remove { actor, who }),
        (who.clone(), any::<bool>()).prop_map(|(who, active)| Op::Voice { who, active }),
        (who.clone(), any::<bool>()).prop_map(|(who, on)| Op::Share { who, on }),
        Just(Op::Tick),
    ]
}

fn name(n: u8) -> String {
    // 0 is the owner (a user); the rest may be guests or users.
    if n == 0 {
        "owner".into()
    } else {
        format!("p{n}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn invariants_hold_under_random_events(
        mode in 0usize..4,
        max_participants in 2i64..6,
        podiums in 1i64..4,
        waiting_room in any::<bool>(),
        wait_for_host in any::<bool>(),
        auto_approve in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mode = Mode::ALL[mode];
        let c = conf(Patch {
            mode: Some(mode),
            max_participants: Some(max_participants),
            max_podiums: Some(podiums.min(max_participants)),
            waiting_room: Some(waiting_room),
            wait_for_host: Some(wait_for_host),
            auto_approve: Some(auto_approve),
            pin: Some("1".into()),
            host_pin: Some("2".into()),
            ..Default::default()
        });
        let mut r = Roster::new();
        let mut now = Duration::ZERO;
        for op in ops {
            now += Duration::from_millis(300);
            let actor_of = |r: &Roster, n: u8| r.get(&name(n)).map(|m| m.actor());
            match op {
                Op::Join { who, guest: g, pin, link } => {
                    let mut req = if g && who != 0 { guest(&name(who)) } else { user(&name(who)) };
                    req.pin = pin.map(|p| p.to_string());
                    req.via_link = link;
                    r.request_join(&c, req, now);
                }
                Op::Leave(who) => { r.leave(&name(who)); }
                Op::Admit { actor, who } => {
                    if let Some(a) = actor_of(&r, actor) { let _ = r.admit(&c, a, &name(who), now); }
                }
                Op::AdmitAll { actor } => {
                    if let Some(a) = actor_of(&r, actor) { let _ = r.admit_all(&c, a, now); }
                }
                Op::Wait { actor, who } => {
                    let owner_before = r.get("owner").map(|m| m.place);
                    if let Some(a) = actor_of(&r, actor) {
                        let guest_actor = a.guest;
                        let res = r.to_waiting_room(&c, a, &name(who), now);
                        if who == 0 && owner_before.is_some() {
                            prop_assert!(res.is_err(), "owner sent to the waiting room");
                            prop_assert_eq!(r.get("owner").map(|m| m.place), owner_before);
                        }
                        let _ = guest_actor;
                    }
                }
                Op::Podium { actor, who, on } => {
                    if let Some(a) = actor_of(&r, actor) { let _ = r.podium_set(&c, a, &name(who), on, now); }
                }
                Op::Role { actor, who, role } => {
                    if let Some(a) = actor_of(&r, actor) { let _ = r.set_role(&c, a, &name(who), Role::ALL[role as usize]); }
                }
                Op::Remove { actor, who } => {
                    let owner_was_there = r.get("owner").is_some();
                    if let Some(a) = actor_of(&r, actor) {
                        let res = r.remove(&c, a, &name(who));
                        if who == 0 && owner_was_there {
                            prop_assert!(res.is_err(), "the owner was removed by {:?}", a);
                            prop_assert!(r.get("owner").is_some());
                        }
                    }
                }
                Op::Voice { who, active } => { r.voice(&c, &name(who), active, now); }
                Op::Share { who, on } => { let _ = r.sharing(&c, &name(who), on, now); }
                Op::Tick => { r.tick(&c, now); }
            }
            prop_assert!(r.len() <= c.max_participants as usize, "over capacity");
            let on = r.all().iter().filter(|m| m.podium).count();
            prop_assert!(on <= c.max_podiums as usize, "{} on a {}-place podium", on, c.max_podiums);
            for m in r.all() {
                prop_assert!(!(m.waiting() && m.podium), "{} waits on the podium", m.id);
                prop_assert!(m.role != Role::Speaker || m.podium, "{} is a speaker off the podium", m.id);
                if m.id != "owner" {
                    prop_assert!(m.role != Role::Owner, "{} became owner", m.id);
                }
            }
        }
    }
}

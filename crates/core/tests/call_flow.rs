//! The room's call flow (`dais_core::call`) over random event sequences: the
//! rules hold whatever order commands, join results, the server's news
//! and time come in.

use std::collections::BTreeSet;

use dais_core::call::{Action, Event, Flow, Phase, Refusal, RingEnd};
use proptest::prelude::*;

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    Invited {
        cid: u8,
        answer: bool,
        secs: u8,
    },
    Answer(bool),
    Stopped(u8),
    Renamed(u8, u8),
    Join {
        cid: Option<u8>,
        remote: bool,
    },
    PlacedCall,
    /// The join under way gets in.
    JoinedCurrent {
        admitted: bool,
        call: bool,
        auto_record: bool,
    },
    /// Some join (maybe long given up) comes back.
    JoinedAny {
        attempt: u64,
        admitted: bool,
    },
    FailedCurrent,
    FailedAny(u64),
    Admission {
        admitted: bool,
        auto_record: bool,
    },
    Others(usize),
    Ended,
    RecordingRefused,
    HangUp,
    /// Seconds pass.
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u8, any::<bool>(), 1..40u8).prop_map(|(cid, answer, secs)| Op::Invited {
            cid,
            answer,
            secs
        }),
        any::<bool>().prop_map(Op::Answer),
        (0..3u8).prop_map(Op::Stopped),
        (0..3u8, 0..3u8).prop_map(|(a, b)| Op::Renamed(a, b)),
        (proptest::option::of(0..3u8), any::<bool>())
            .prop_map(|(cid, remote)| Op::Join { cid, remote }),
        Just(Op::PlacedCall),
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(admitted, call, auto_record)| {
            Op::JoinedCurrent {
                admitted,
                call,
                auto_record,
            }
        }),
        (0..6u64, any::<bool>())
            .prop_map(|(attempt, admitted)| Op::JoinedAny { attempt, admitted }),
        Just(Op::FailedCurrent),
        (0..6u64).prop_map(Op::FailedAny),
        (any::<bool>(), any::<bool>()).prop_map(|(admitted, auto_record)| Op::Admission {
            admitted,
            auto_record
        }),
        (0..3usize).prop_map(Op::Others),
        Just(Op::Ended),
        Just(Op::RecordingRefused),
        Just(Op::HangUp),
        (0..60u8).prop_map(Op::Wait),
    ]
}

fn cid(n: u8) -> String {
    format!("conf{n}")
}

/// What the actions so far add up to, as the loop would carry them out.
#[derive(Default, Debug)]
struct World {
    /// Joins and conferences the room has (started, not yet ended).
    calls: BTreeSet<u64>,
    /// The ringing invitation shown.
    ringing: Option<String>,
    rings: usize,
    ring_ends: Vec<RingEnd>,
    /// The recorder runs for the conference.
    recording: bool,
    /// Joins the loop is to start next (accepted invitations).
    to_join: Vec<String>,
}

impl World {
    fn apply(&mut self, actions: Vec<Action>) -> Result<(), TestCaseError> {
        for a in actions {
            match a {
                Action::Ring { cid, .. } => {
                    prop_assert!(self.ringing.is_none(), "two rings at once");
                    self.ringing = Some(cid);
                    self.rings += 1;
                }
                Action::RingEnded { cid, how } => {
                    prop_assert_eq!(self.ringing.take(), Some(cid), "ended a ring not rung");
                    self.ring_ends.push(how);
                }
                Action::JoinLocal { cid } => self.to_join.push(cid),
                Action::Connect { attempt } => {
                    prop_assert!(
                        self.calls.is_empty(),
                        "join {attempt} started beside {:?}",
                        self.calls
                    );
                    self.calls.insert(attempt);
                }
                Action::CancelJoin { attempt, .. }
                | Action::Leave { attempt, .. }
                | Action::JoinEnded { attempt } => {
                    prop_assert!(self.calls.remove(&attempt), "ended {attempt}, not running");
                    prop_assert!(!self.recording, "left with the recorder running");
                }
                Action::Entered { attempt, .. } => {
                    prop_assert!(self.calls.contains(&attempt))
                }
                Action::StartRecording { .. } => {
                    prop_assert!(!self.recording, "started the recorder twice");
                    self.recording = true;
                }
                Action::StopRecording => {
                    prop_assert!(self.recording, "stopped a recorder not started");
                    self.recording = false;
                }
            }
        }
        Ok(())
    }

    /// The world and the flow agree.
    fn check(&self, flow: &Flow) -> Result<(), TestCaseError> {
        prop_assert!(self.calls.len() <= 1, "two calls at once: {:?}", self.calls);
        match flow.phase() {
            Phase::Idle | Phase::Ringing(_) => prop_assert!(self.calls.is_empty()),
            Phase::Connecting(c) => {
                prop_assert_eq!(self.calls.iter().next(), Some(&c.attempt))
            }
            Phase::Present(p) => prop_assert_eq!(self.calls.iter().next(), Some(&p.attempt)),
        }
        prop_assert_eq!(
            self.ringing.is_some(),
            matches!(flow.phase(), Phase::Ringing(_))
        );
        if self.recording {
            prop_assert!(
                matches!(flow.phase(), Phase::Present(p) if p.remote.is_none()),
                "recording outside the room's conference: {:?}",
                flow.phase()
            );
        }
        prop_assert_eq!(self.recording, flow.auto_recording());
        prop_assert_eq!(
            self.rings,
            self.ring_ends.len() + self.ringing.iter().count()
        );
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut flow = Flow::new();
    let mut world = World::default();
    let mut now = 1_000u64;
    for op in ops {
        let current = match flow.phase() {
            Phase::Connecting(c) => c.attempt,
            _ => 0,
        };
        let event = match op {
            Op::Wait(s) => {
                now += u64::from(s);
                let actions = flow.handle_timeout(now);
                world.apply(actions)?;
                world.check(&flow)?;
                if let Some(t) = flow.poll_timeout() {
                    prop_assert!(t > now, "a timeout due now was left");
                }
                continue;
            }
            Op::Invited {
                cid: c,
                answer,
                secs,
            } => Event::Invited {
                cid: cid(c),
                answer,
                ring_seconds: secs.into(),
            },
            Op::Answer(accept) => Event::Answer { accept },
            Op::Stopped(c) => Event::Stopped { cid: cid(c) },
            Op::Renamed(a, b) => {
                // The loop renames the invitation it shows too.
                if world.ringing == Some(cid(a)) {
                    world.ringing = Some(cid(b));
                }
                Event::Renamed {
                    from: cid(a),
                    to: cid(b),
                }
            }
            Op::Join { cid: c, remote } => Event::Join {
                cid: c.map(cid),
                remote: remote.then(|| "far.example".to_string()),
            },
            Op::PlacedCall => Event::PlacedCall,
            Op::JoinedCurrent {
                admitted,
                call,
                auto_record,
            } => Event::Joined {
                attempt: current,
                cid: cid(0),
                admitted,
                call,
                auto_record,
            },
            Op::JoinedAny { attempt, admitted } => Event::Joined {
                attempt,
                cid: cid(1),
                admitted,
                call: false,
                auto_record: true,
            },
            Op::FailedCurrent => Event::JoinFailed { attempt: current },
            Op::FailedAny(attempt) => Event::JoinFailed { attempt },
            Op::Admission {
                admitted,
                auto_record,
            } => Event::Admission {
                admitted,
                auto_record,
            },
            Op::Others(n) => Event::Others(n),
            Op::Ended => Event::Ended,
            Op::RecordingRefused => {
                // The loop says so only after the flow asked to record.
                if !flow.auto_recording() {
                    continue;
                }
                world.recording = false;
                Event::RecordingGone
            }
            Op::HangUp => Event::HangUp,
        };
        let hang_up = event == Event::HangUp;
        let before = flow.phase().clone();
        let was_idle = before == Phase::Idle;
        match flow.handle(now, event.clone()) {
            Ok(actions) => world.apply(actions)?,
            Err(Refusal::NotInCall) => prop_assert!(hang_up && was_idle),
            Err(Refusal::Stale(a)) => {
                prop_assert!(!matches!(&before, Phase::Connecting(c) if c.attempt == a))
            }
            Err(Refusal::NotRinging) => prop_assert!(world.ringing.is_none()),
            Err(Refusal::Busy) => prop_assert!(!was_idle),
        }
        // The loop joins what an invitation asked for at once.
        for c in std::mem::take(&mut world.to_join) {
            let actions = flow
                .handle(
                    now,
                    Event::Join {
                        cid: Some(c),
                        remote: None,
                    },
                )
                .map_err(|e| TestCaseError::fail(format!("join refused: {e}")))?;
            world.apply(actions)?;
        }
        world.check(&flow)?;
        if hang_up {
            prop_assert_eq!(flow.phase(), &Phase::Idle, "a hang-up left {:?}", event);
            prop_assert!(world.calls.is_empty() && world.ringing.is_none());
            prop_assert!(!world.recording);
        }
    }
    // Left alone, a ringing invitation ends as missed.
    let ringing = world.ringing.is_some();
    world.apply(flow.handle_timeout(u64::MAX))?;
    world.check(&flow)?;
    prop_assert!(world.ringing.is_none());
    if ringing {
        prop_assert_eq!(world.ring_ends.last(), Some(&RingEnd::Missed));
    }
    // And a hang-up leaves the room idle, whatever it was doing.
    let _ = flow.handle(now, Event::HangUp).map(|a| world.apply(a));
    world.check(&flow)?;
    prop_assert_eq!(flow.phase(), &Phase::Idle);
    prop_assert!(!world.recording && world.calls.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_call_flow_keeps_its_rules_over_any_history(ops in proptest::collection::vec(op(), 0..60)) {
        run(ops)?;
    }
}

fn actions(flow: &mut Flow, now: u64, e: Event) -> Vec<Action> {
    flow.handle(now, e).expect("accepted")
}

#[test]
fn a_call_ends_for_the_room_once_the_other_side_has_been_and_gone() {
    let mut f = Flow::new();
    assert_eq!(
        actions(
            &mut f,
            0,
            Event::Join {
                cid: Some("c".into()),
                remote: None
            }
        ),
        vec![Action::Connect { attempt: 1 }]
    );
    actions(&mut f, 0, Event::PlacedCall);
    actions(
        &mut f,
        0,
        Event::Joined {
            attempt: 1,
            cid: "c".into(),
            admitted: true,
            call: false,
            auto_record: true,
        },
    );
    assert!(f.auto_recording());
    // Nobody else yet: the room waits for the callee.
    assert_eq!(actions(&mut f, 1, Event::Others(0)), vec![]);
    assert_eq!(actions(&mut f, 2, Event::Others(1)), vec![]);
    assert_eq!(
        actions(&mut f, 3, Event::Others(0)),
        vec![
            Action::StopRecording,
            Action::Leave {
                attempt: 1,
                remote: false,
                hang_up: true
            }
        ]
    );
    assert_eq!(f.phase(), &Phase::Idle);
}

#[test]
fn an_unanswered_invitation_is_missed_when_its_time_is_up_and_not_before() {
    let mut f = Flow::new();
    let a = actions(
        &mut f,
        100,
        Event::Invited {
            cid: "c".into(),
            answer: false,
            ring_seconds: 30,
        },
    );
    assert_eq!(
        a,
        vec![Action::Ring {
            cid: "c".into(),
            until: 130
        }]
    );
    assert_eq!(f.poll_timeout(), Some(130));
    assert_eq!(f.handle_timeout(129), vec![]);
    // Busy ringing: a second invitation is not rung over the first.
    assert_eq!(
        f.handle(
            110,
            Event::Invited {
                cid: "d".into(),
                answer: false,
                ring_seconds: 30
            }
        ),
        Err(Refusal::Busy)
    );
    assert_eq!(
        f.handle_timeout(130),
        vec![Action::RingEnded {
            cid: "c".into(),
            how: RingEnd::Missed
        }]
    );
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn hanging_up_while_ringing_declines_and_while_joining_gives_the_join_up() {
    let mut f = Flow::new();
    actions(
        &mut f,
        0,
        Event::Invited {
            cid: "c".into(),
            answer: false,
            ring_seconds: 30,
        },
    );
    assert_eq!(
        actions(&mut f, 1, Event::HangUp),
        vec![Action::RingEnded {
            cid: "c".into(),
            how: RingEnd::Declined
        }]
    );
    actions(
        &mut f,
        2,
        Event::Join {
            cid: None,
            remote: Some("far".into()),
        },
    );
    assert_eq!(
        actions(&mut f, 3, Event::HangUp),
        vec![Action::CancelJoin {
            attempt: 1,
            why: "hung up before the join completed"
        }]
    );
    assert_eq!(f.handle(4, Event::HangUp), Err(Refusal::NotInCall));
    // The given-up join coming back is stale: the loop leaves it.
    assert_eq!(
        f.handle(
            5,
            Event::Joined {
                attempt: 1,
                cid: "x".into(),
                admitted: true,
                call: false,
                auto_record: false
            }
        ),
        Err(Refusal::Stale(1))
    );
}

//! The room's call flow, without IO: ringing for an invitation, joining a
//! conference (here or on another dais), being in it, leaving it, and the
//! recording a conference starts by itself.
//!
//! The app loop feeds [`Flow::handle`] what happened (a command, a join's
//! result, the server's news) with the time, and carries out the
//! [`Action`]s it gets back: spawning the join, leaving the call, ringing
//! the panel, starting the recorder. Nothing here waits, reads a clock or
//! touches the network, so the rules are tested over random event
//! sequences (`tests/call_flow.rs`):
//! - the room never has two calls (joins or conferences) at once;
//! - a ringing invitation always ends, as accepted, declined or missed;
//! - a recording the conference started stops when the room leaves it;
//! - a hang-up always leaves the room idle.

/// Where the room is in its call flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Not ringing, joining or in a conference.
    #[default]
    Idle,
    /// An invitation rings until it is answered or `until` passes.
    Ringing(Ring),
    /// A join's network steps run (attempt number `attempt`).
    Connecting(Connecting),
    /// In a conference, admitted or in its waiting room.
    Present(Present),
}

/// A ringing invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    pub cid: String,
    /// When it counts as missed (seconds, the clock the loop passes in).
    pub until: u64,
}

/// A join under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connecting {
    pub attempt: u64,
    /// The conference, where it is known before the join (a call placed on
    /// another dais learns it there).
    pub cid: Option<String>,
    /// The other dais it is on, if not this one.
    pub remote: Option<String>,
    /// The room placed this call.
    pub call: bool,
}

/// The conference the room is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// The join that got it there: its call's number.
    pub attempt: u64,
    pub cid: String,
    pub remote: Option<String>,
    /// A call (two parties, it ends by itself): the room leaves once the
    /// other side has been and gone.
    pub call: bool,
    /// Admitted (else in the waiting room).
    pub admitted: bool,
    /// The other side of a call has been in it.
    pub peer_seen: bool,
}

/// How a ringing invitation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingEnd {
    /// Accepted: the room joins.
    Accepted,
    /// Declined, or the room joined something else meanwhile: the caller
    /// hears so (a call ends).
    Declined,
    /// Not answered in time: shown as a missed call, and a call ends.
    Missed,
    /// The inviting conference stopped or went (the caller gave up):
    /// shown as a missed call; there is nothing left to end.
    Withdrawn,
}

/// What happened, as the loop tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A conference on this dais invites the room. `answer`: the room joins
    /// by itself (`conference.answer_invitations`); else it rings for
    /// `ring_seconds`.
    Invited {
        cid: String,
        answer: bool,
        ring_seconds: u32,
    },
    /// Someone in the room answered the ringing.
    Answer { accept: bool },
    /// The conference `cid` stopped or was deleted on this dais.
    Stopped { cid: String },
    /// Conference `from` on this dais has a new CID.
    Renamed { from: String, to: String },
    /// The room was asked to join (a command, or an accepted invitation).
    Join {
        cid: Option<String>,
        remote: Option<String>,
    },
    /// The join or conference under way is a call the room placed.
    PlacedCall,
    /// Join `attempt` got in.
    Joined {
        attempt: u64,
        cid: String,
        admitted: bool,
        /// The conference is a call (two parties, ends by itself).
        call: bool,
        /// The conference records by itself once the room is admitted.
        auto_record: bool,
    },
    /// Join `attempt` failed.
    JoinFailed { attempt: u64 },
    /// The room was admitted (`true`) or sent to the waiting room.
    Admission { admitted: bool, auto_record: bool },
    /// How many others are admitted in the conference now.
    Others(usize),
    /// The conference ended for the room (stopped, or the room removed).
    Ended,
    /// The conference's recording is not running: the recorder would not
    /// start (busy or failed), or someone stopped it by hand.
    RecordingGone,
    /// Hang up: leave the conference, give up the join, decline the ring.
    HangUp,
}

/// What the loop is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show the ringing invitation; call [`Flow::handle_timeout`] at `until`.
    Ring { cid: String, until: u64 },
    /// The ringing invitation ended.
    RingEnded { cid: String, how: RingEnd },
    /// Join `cid` on this dais (an accepted or auto-answered invitation):
    /// the loop works out the target and comes back with [`Event::Join`].
    JoinLocal { cid: String },
    /// Start join number `attempt` (its network steps run as a task).
    Connect { attempt: u64 },
    /// Give up join `attempt`; whoever waits for it hears `why`.
    CancelJoin { attempt: u64, why: &'static str },
    /// Leave the conference of join `attempt`. `hang_up`: tell the
    /// server (else it is already over for the room).
    Leave {
        attempt: u64,
        remote: bool,
        hang_up: bool,
    },
    /// Join `attempt` ended without getting in: the room is idle.
    JoinEnded { attempt: u64 },
    /// Join `attempt` got in: the room is in conference `cid`.
    Entered { attempt: u64, cid: String },
    /// Start recording conference `cid` (it asked for auto-start).
    StartRecording { cid: String },
    /// Stop the recording the conference started.
    StopRecording,
}

/// Why an input did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the room is not in a call or conference")]
    NotInCall,
    #[error("there is no incoming call")]
    NotRinging,
    #[error("the room is busy; the invitation is not rung")]
    Busy,
    /// A join that was given up came back: the loop leaves what it joined.
    #[error("join {0} was given up")]
    Stale(u64),
}

/// The room's call flow. See the module docs.
#[derive(Debug, Default)]
pub struct Flow {
    phase: Phase,
    /// Joins started so far: the next one's number is one more.
    attempts: u64,
    /// The recorder runs because the conference asked for it.
    auto_recording: bool,
}

impl Flow {
    pub fn new() -> Flow {
        Flow::default()
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The join under way, if any.
    pub fn connecting(&self) -> Option<&Connecting> {
        match &self.phase {
            Phase::Connecting(c) => Some(c),
            _ => None,
        }
    }

    /// The conference the room is in, if any.
    pub fn present(&self) -> Option<&Present> {
        match &self.phase {
            Phase::Present(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the recorder runs for the conference (not by hand).
    pub fn auto_recording(&self) -> bool {
        self.auto_recording
    }

    /// When [`Flow::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.phase {
            Phase::Ringing(r) => Some(r.until),
            _ => None,
        }
    }

    /// Time passed: an invitation rung long enough is missed.
    pub fn handle_timeout(&mut self, now: u64) -> Vec<Action> {
        match &self.phase {
            Phase::Ringing(r) if now >= r.until => {
                let cid = r.cid.clone();
                self.phase = Phase::Idle;
                vec![Action::RingEnded {
                    cid,
                    how: RingEnd::Missed,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Applies `event`, which happened at `now` (seconds).
    pub fn handle(&mut self, now: u64, event: Event) -> Result<Vec<Action>, Refusal> {
        let mut out = Vec::new();
        match event {
            Event::Invited {
                cid,
                answer,
                ring_seconds,
            } => {
                if self.phase != Phase::Idle {
                    return Err(Refusal::Busy);
                }
                if answer {
                    out.push(Action::JoinLocal { cid });
                } else {
                    let until = now.saturating_add(u64::from(ring_seconds));
                    self.phase = Phase::Ringing(Ring {
                        cid: cid.clone(),
                        until,
                    });
                    out.push(Action::Ring { cid, until });
                }
            }
            Event::Answer { accept } => {
                let Phase::Ringing(r) = &self.phase else {
                    return Err(Refusal::NotRinging);
                };
                let cid = r.cid.clone();
                self.phase = Phase::Idle;
                if accept {
                    out.push(Action::RingEnded {
                        cid: cid.clone(),
                        how: RingEnd::Accepted,
                    });
                    out.push(Action::JoinLocal { cid });
                } else {
                    out.push(Action::RingEnded {
                        cid,
                        how: RingEnd::Declined,
                    });
                }
            }
            Event::Stopped { cid } => match &self.phase {
                Phase::Ringing(r) if r.cid == cid => {
                    self.phase = Phase::Idle;
                    out.push(Action::RingEnded {
                        cid,
                        how: RingEnd::Withdrawn,
                    });
                }
                Phase::Present(p) if p.remote.is_none() && p.cid == cid => {
                    self.leave(false, &mut out);
                }
                _ => {}
            },
            Event::Renamed { from, to } => match &mut self.phase {
                Phase::Present(p) if p.remote.is_none() && p.cid == from => p.cid = to,
                Phase::Connecting(c) if c.remote.is_none() && c.cid.as_ref() == Some(&from) => {
                    c.cid = Some(to)
                }
                Phase::Ringing(r) if r.cid == from => r.cid = to,
                _ => {}
            },
            Event::Join { cid, remote } => {
                self.end_all("the room was asked to join another conference", &mut out);
                self.attempts += 1;
                let attempt = self.attempts;
                self.phase = Phase::Connecting(Connecting {
                    attempt,
                    cid,
                    remote,
                    call: false,
                });
                out.push(Action::Connect { attempt });
            }
            Event::PlacedCall => match &mut self.phase {
                Phase::Connecting(c) => c.call = true,
                Phase::Present(p) => p.call = true,
                _ => {}
            },
            Event::Joined {
                attempt,
                cid,
                admitted,
                call,
                auto_record,
            } => {
                let Phase::Connecting(c) = &self.phase else {
                    return Err(Refusal::Stale(attempt));
                };
                if c.attempt != attempt {
                    return Err(Refusal::Stale(attempt));
                }
                let p = Present {
                    attempt,
                    cid: cid.clone(),
                    remote: c.remote.clone(),
                    call: call || c.call,
                    admitted,
                    peer_seen: false,
                };
                let local = p.remote.is_none();
                self.phase = Phase::Present(p);
                out.push(Action::Entered { attempt, cid });
                if admitted && local && auto_record {
                    self.start_recording(&mut out);
                }
            }
            Event::JoinFailed { attempt } => match &self.phase {
                Phase::Connecting(c) if c.attempt == attempt => {
                    self.phase = Phase::Idle;
                    out.push(Action::JoinEnded { attempt });
                }
                _ => return Err(Refusal::Stale(attempt)),
            },
            Event::Admission {
                admitted,
                auto_record,
            } => {
                if let Phase::Present(p) = &mut self.phase {
                    let now_admitted = admitted && !p.admitted;
                    p.admitted = admitted;
                    if now_admitted && p.remote.is_none() && auto_record {
                        self.start_recording(&mut out);
                    }
                }
            }
            Event::Others(n) => {
                if let Phase::Present(p) = &mut self.phase
                    && p.call
                {
                    if n > 0 {
                        p.peer_seen = true;
                    } else if p.peer_seen {
                        // The other side hung up: so does the room.
                        self.leave(true, &mut out);
                    }
                }
            }
            Event::Ended => {
                if self.present().is_some() {
                    self.leave(false, &mut out);
                }
            }
            Event::RecordingGone => self.auto_recording = false,
            Event::HangUp => match &self.phase {
                Phase::Idle => return Err(Refusal::NotInCall),
                Phase::Ringing(_) => return self.handle(now, Event::Answer { accept: false }),
                _ => self.end_all("hung up before the join completed", &mut out),
            },
        }
        Ok(out)
    }

    /// Ends whatever the room is in, joining or ringing for: it is idle.
    fn end_all(&mut self, why: &'static str, out: &mut Vec<Action>) {
        match std::mem::take(&mut self.phase) {
            Phase::Idle => {}
            Phase::Ringing(r) => out.push(Action::RingEnded {
                cid: r.cid,
                how: RingEnd::Declined,
            }),
            Phase::Connecting(c) => out.push(Action::CancelJoin {
                attempt: c.attempt,
                why,
            }),
            p @ Phase::Present(_) => {
                self.phase = p;
                self.leave(true, out);
            }
        }
    }

    /// Leaves the conference the room is in (`hang_up`: telling the
    /// server), stopping the recording it started.
    fn leave(&mut self, hang_up: bool, out: &mut Vec<Action>) {
        let Phase::Present(p) = std::mem::take(&mut self.phase) else {
            return;
        };
        if std::mem::take(&mut self.auto_recording) {
            out.push(Action::StopRecording);
        }
        out.push(Action::Leave {
            attempt: p.attempt,
            remote: p.remote.is_some(),
            hang_up,
        });
    }

    fn start_recording(&mut self, out: &mut Vec<Action>) {
        if self.auto_recording {
            return;
        }
        if let Phase::Present(p) = &self.phase {
            self.auto_recording = true;
            out.push(Action::StartRecording { cid: p.cid.clone() });
        }
    }
}

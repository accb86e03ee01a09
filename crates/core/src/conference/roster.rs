//! Who is in a running conference: the join-request state machine, the
//! waiting room, the podium and the moderator actions.
//!
//! A join request passes, in order: the conference running, PIN / host PIN,
//! guests allowed, planned participants only, capacity, wait for host, the
//! owner's approval (unless automatic) and the waiting room, and ends
//! admitted, waiting (with the reason) or refused (with the reason).
//!
//! Invariants, checked by property tests at the bottom:
//! - never more members than `max_participants` (waiting ones included);
//! - never more podium places than `max_podiums`;
//! - a waiting member never holds a podium place;
//! - the owner is never removed or sent to the waiting room.

use std::collections::BTreeMap;
use std::time::Duration;

use super::podium::{Change, SmartPodium, TalkConfig};
use super::rights::{self, Action, Actor, Denied, Right, Role};
use super::{Conference, Mode, RunState};

mod member;

pub use member::*;

/// Something that happened, for the edges (signalling, announcements,
/// the panel) to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Joined { id: String, place: Place },
    Admitted { id: String },
    Waiting { id: String, reason: WaitReason },
    Left { id: String },
    Removed { id: String },
    Refused { id: String, reason: Refusal },
    Podium { id: String, on: bool },
    Role { id: String, role: Role },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("no participant {0} in this conference")]
    NoSuchMember(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("{0} is not waiting")]
    NotWaiting(String),
    #[error("all {0} podium places are taken")]
    PodiumFull(u32),
    #[error("the podium is managed by voice activity in a smart meeting")]
    SmartPodium,
}

/// The members of one running conference.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    members: BTreeMap<String, Member>,
    next_seq: u64,
    smart: SmartPodium,
}

impl Roster {
    pub fn new() -> Self {
        Self::with_talk(TalkConfig::default())
    }

    pub fn with_talk(config: TalkConfig) -> Self {
        Self {
            members: BTreeMap::new(),
            next_seq: 0,
            smart: SmartPodium::new(config),
        }
    }

    /// The talk-detection thresholds this roster was made with.
    pub fn talk(&self) -> TalkConfig {
        self.smart.config
    }

    pub fn get(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member, in order of arrival.
    pub fn all(&self) -> Vec<&Member> {
        let mut v: Vec<_> = self.members.values().collect();
        v.sort_by_key(|m| m.seq);
        v
    }

    /// What `viewer` may see: waiting members only for those who manage
    /// participants; nothing at all for someone who waits.
    pub fn visible_to(&self, viewer: Actor) -> Vec<&Member> {
        if viewer.waiting {
            return Vec::new();
        }
        let see_waiting = viewer.role.manages_participants();
        self.all()
            .into_iter()
            .filter(|m| see_waiting || !m.waiting())
            .collect()
    }

    pub fn podium(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|m| m.podium)
            .map(|m| m.id.clone())
            .collect()
    }

    fn admitted_ids(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|m| !m.waiting())
            .map(|m| m.id.clone())
            .collect()
    }

    fn host_present(&self) -> bool {
        self.members.values().any(|m| m.host && !m.waiting())
    }

    /// Handles a join request. A member with the same id is replaced (the
    /// same person joining from a new device).
    pub fn request_join(
        &mut self,
        conf: &Conference,
        req: JoinRequest,
        now: Duration,
    ) -> (JoinDecision, Vec<Event>) {
        let mut events = Vec::new();
        let refuse = |reason: Refusal, events: &mut Vec<Event>| {
            events.push(Event::Refused {
                id: req.id.clone(),
                reason,
            });
            (JoinDecision::Refused(reason), std::mem::take(events))
        };
        if conf.state != RunState::Running {
            return refuse(Refusal::NotRunning, &mut events);
        }
        let is_owner = !req.guest && conf.is_owner(&req.id);
        let invited = !req.guest && conf.is_invited(&req.id);
        let opts = &conf.options;
        let given = req.pin.as_deref().unwrap_or("");
        let host_by_pin = opts
            .host_pin
            .as_deref()
            .is_some_and(|h| super::pin_matches(h, given));
        if !is_owner && !host_by_pin {
            let pin_ok = match opts.pin.as_deref() {
                Some(pin) => super::pin_matches(pin, given),
                None => given.is_empty() || opts.host_pin.is_none(),
            };
            if !pin_ok {
                return refuse(Refusal::WrongPin, &mut events);
            }
        }
        if req.guest && !conf.allow_guests {
            return refuse(Refusal::GuestsNotAllowed, &mut events);
        }
        if conf.allow_only_planned_participants && !is_owner && !invited && !req.via_link {
            return refuse(Refusal::NotPlanned, &mut events);
        }
        let rejoining = self.members.contains_key(&req.id);
        if !rejoining && self.members.len() >= conf.max_participants as usize {
            return refuse(Refusal::Full, &mut events);
        }
        if let Some(old) = self.members.remove(&req.id) {
            self.smart.forget(&old.id);
            events.push(Event::Left { id: old.id });
        }

        let host = is_owner || host_by_pin;
        let role = if is_owner {
            Role::Owner
        } else if host_by_pin {
            Role::Moderator
        } else {
            Role::Participant
        };
        let vouched = is_owner || host || invited || req.via_link;
        self.next_seq += 1;
        let member = Member {
            id: req.id.clone(),
            display_name: req.display_name.clone(),
            guest: req.guest,
            role,
            place: Place::Waiting(WaitReason::AwaitingApproval),
            podium: false,
            host,
            vouched,
            mic_muted: false,
            camera_off: false,
            sharing: false,
            seq: self.next_seq,
        };
        self.members.insert(req.id.clone(), member);
        let place = self.decide_place(conf, &req.id);
        events.push(Event::Joined {
            id: req.id.clone(),
            place,
        });
        self.place(conf, &req.id, place, now, &mut events, false);
        // A host arriving releases everyone held for the host.
        if host && place == Place::Admitted {
            let held: Vec<String> = self
                .all()
                .into_iter()
                .filter(|m| m.place == Place::Waiting(WaitReason::WaitingForHost))
                .map(|m| m.id.clone())
                .collect();
            for id in held {
                let place = self.decide_place(conf, &id);
                self.place(conf, &id, place, now, &mut events, true);
            }
        }
        let decision = match place {
            Place::Admitted => JoinDecision::Admitted {
                role: self.members[&req.id].role,
            },
            Place::Waiting(r) => JoinDecision::Waiting(r),
        };
        (decision, events)
    }

    /// The post-capacity steps: wait for host, approval, waiting room.
    fn decide_place(&self, conf: &Conference, id: &str) -> Place {
        let Some(m) = self.members.get(id) else {
            return Place::Waiting(WaitReason::AwaitingApproval);
        };
        let opts = &conf.options;
        if m.host {
            Place::Admitted
        } else if opts.wait_for_host && !self.host_present() {
            Place::Waiting(WaitReason::WaitingForHost)
        } else if !opts.auto_approve && !m.vouched {
            Place::Waiting(WaitReason::AwaitingApproval)
        } else if opts.waiting_room && !m.role.is_moderator() {
            Place::Waiting(WaitReason::WaitingRoom)
        } else {
            Place::Admitted
        }
    }

    /// Moves a member to `place`, applying entry options and podium rules.
    /// `announce` adds the Admitted/Waiting event (a first placement is
    /// announced by `Joined` instead).
    fn place(
        &mut self,
        conf: &Conference,
        id: &str,
        place: Place,
        now: Duration,
        events: &mut Vec<Event>,
        announce: bool,
    ) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        let was = if announce {
            m.place
        } else {
            Place::Waiting(WaitReason::AwaitingApproval)
        };
        let first = !announce;
        m.place = place;
        match place {
            Place::Waiting(reason) => {
                if m.podium {
                    m.podium = false;
                    events.push(Event::Podium {
                        id: id.to_string(),
                        on: false,
                    });
                    if m.role == Role::Speaker {
                        m.role = Role::Participant;
                    }
                }
                m.sharing = false;
                self.smart.forget(id);
                if announce && was != place {
                    events.push(Event::Waiting {
                        id: id.to_string(),
                        reason,
                    });
                }
            }
            Place::Admitted => {
                if first || was != Place::Admitted {
                    if !m.host {
                        m.mic_muted = conf.options.mute_mic_on_entry;
                        m.camera_off = conf.options.camera_off_on_entry;
                    }
                    if announce {
                        events.push(Event::Admitted { id: id.to_string() });
                    }
                    self.auto_podium(conf, id, now, events);
                }
            }
        }
    }

    /// Podium on admission: everyone in all-on-screen, the lecturer in a
    /// lecture; moderated and smart meetings start off the podium.
    fn auto_podium(&mut self, conf: &Conference, id: &str, now: Duration, events: &mut Vec<Event>) {
        let used = self.members.values().filter(|m| m.podium).count() as u32;
        let Some(m) = self.members.get(id) else {
            return;
        };
        let wants = match conf.mode {
            Mode::AllOnScreen => true,
            Mode::VideoLecture => m.host && used == 0,
            Mode::Moderated | Mode::Smart => false,
        };
        if wants && used < conf.max_podiums {
            self.set_podium(id, true, now, events);
        }
    }

    fn set_podium(&mut self, id: &str, on: bool, now: Duration, events: &mut Vec<Event>) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        if m.podium == on {
            return;
        }
        m.podium = on;
        let mut role_change = None;
        if on && m.role == Role::Participant {
            m.role = Role::Speaker;
            role_change = Some(Role::Speaker);
        } else if !on && m.role == Role::Speaker {
            m.role = Role::Participant;
            role_change = Some(Role::Participant);
        }
        self.smart.placed(id, on, now);
        events.push(Event::Podium {
            id: id.to_string(),
            on,
        });
        if let Some(role) = role_change {
            events.push(Event::Role {
                id: id.to_string(),
                role,
            });
        }
    }

    fn target(&self, id: &str) -> Result<&Member, RosterError> {
        self.members
            .get(id)
            .ok_or_else(|| RosterError::NoSuchMember(id.to_string()))
    }

    /// Admits a waiting member (from the waiting room, an approval request
    /// or a wait for the host).
    pub fn admit(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
        now: Duration,
    ) -> Result<Vec<Event>, RosterError> {
        rights::check(actor, Action::Admit, None, &conf.rights)?;
        let m = self.target(id)?;
        if !m.waiting() {
            return Err(RosterError::NotWaiting(id.to_string()));
        }
        let mut events = Vec::new();
        self.place(conf, id, Place::Admitted, now, &mut events, true);
        Ok(events)
    }

    /// Admits everyone in the waiting room ("Invite all").
    pub fn admit_all(
        &mut self,
        conf: &Conference,
        actor: Actor,
        now: Duration,
    ) -> Result<Vec<Event>, RosterError> {
        rights::check(actor, Action::AdmitAll, None, &conf.rights)?;
        let waiting: Vec<String> = self
            .all()
            .into_iter()
            .filter(|m| m.waiting())
            .map(|m| m.id.clone())
            .collect();
        let mut events = Vec::new();
        for id in waiting {
            self.place(conf, &id, Place::Admitted, now, &mut events, true);
        }
        Ok(events)
    }

    /// Declines a join request: the member leaves with `Rejected`.
    pub fn reject(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
    ) -> Result<Vec<Event>, RosterError> {
        rights::check(actor, Action::Admit, None, &conf.rights)?;
        let m = self.target(id)?;
        if !m.waiting() {
            return Err(RosterError::NotWaiting(id.to_string()));
        }
        self.members.remove(id);
        self.smart.forget(id);
        Ok(vec![Event::Refused {
            id: id.to_string(),
            reason: Refusal::Rejected,
        }])
    }

    /// "Put in the waiting room".
    pub fn to_waiting_room(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
        now: Duration,
    ) -> Result<Vec<Event>, RosterError> {
        let target = self.target(id)?.role;
        rights::check(actor, Action::SendToWaitingRoom, Some(target), &conf.rights)?;
        let mut events = Vec::new();
        self.place(
            conf,
            id,
            Place::Waiting(WaitReason::WaitingRoom),
            now,
            &mut events,
            true,
        );
        Ok(events)
    }

    /// Puts a member on or off the podium (moderated meetings, and lectures
    /// where a moderator changes the lecturer).
    pub fn podium_set(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
        on: bool,
        now: Duration,
    ) -> Result<Vec<Event>, RosterError> {
        let action = if on {
            Action::PodiumInvite
        } else {
            Action::PodiumRemove
        };
        rights::check(actor, action, None, &conf.rights)?;
        if conf.mode == Mode::Smart && on {
            return Err(RosterError::SmartPodium);
        }
        let m = self.target(id)?;
        if m.waiting() {
            return Err(RosterError::Denied(Denied::Waiting));
        }
        let used = self.members.values().filter(|m| m.podium).count() as u32;
        if on && !m.podium && used >= conf.max_podiums {
            return Err(RosterError::PodiumFull(conf.max_podiums));
        }
        let mut events = Vec::new();
        self.set_podium(id, on, now, &mut events);
        Ok(events)
    }

    pub fn set_role(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
        role: Role,
    ) -> Result<Vec<Event>, RosterError> {
        let target = self.target(id)?.role;
        rights::check(actor, Action::ChangeRole(role), Some(target), &conf.rights)?;
        let m = self
            .members
            .get_mut(id)
            .expect("target() checked the member exists");
        // Speaker means "on the podium"; the podium decides it.
        let role = match role {
            Role::Speaker if !m.podium => Role::Participant,
            Role::Participant if m.podium => Role::Speaker,
            r => r,
        };
        if m.role == role {
            return Ok(Vec::new());
        }
        m.role = role;
        m.host = m.host || role.is_moderator();
        Ok(vec![Event::Role {
            id: id.to_string(),
            role,
        }])
    }

    /// Removes a member on a moderator's order.
    pub fn remove(
        &mut self,
        conf: &Conference,
        actor: Actor,
        id: &str,
    ) -> Result<Vec<Event>, RosterError> {
        let target = self.target(id)?.role;
        rights::check(actor, Action::Remove, Some(target), &conf.rights)?;
        self.members.remove(id);
        self.smart.forget(id);
        Ok(vec![Event::Removed { id: id.to_string() }])
    }

    /// A member leaves of their own accord.
    pub fn leave(&mut self, id: &str) -> Vec<Event> {
        match self.members.remove(id) {
            Some(_) => {
                self.smart.forget(id);
                vec![Event::Left { id: id.to_string() }]
            }
            None => Vec::new(),
        }
    }

    /// Mute or unmute a member's microphone or camera. Members change their
    /// own; managers may mute (but not unmute) others.
    pub fn set_media(
        &mut self,
        conf: &Conference,
        actor: Actor,
        actor_id: &str,
        id: &str,
        mic_muted: Option<bool>,
        camera_off: Option<bool>,
    ) -> Result<(), RosterError> {
        let own = actor_id == id;
        if !own {
            rights::check(actor, Action::PodiumRemove, None, &conf.rights)?;
            if mic_muted == Some(false) || camera_off == Some(false) {
                return Err(RosterError::Denied(Denied::Role(actor.role)));
            }
        } else if actor.waiting {
            return Err(RosterError::Denied(Denied::Waiting));
        }
        let m = self
            .members
            .get_mut(id)
            .ok_or_else(|| RosterError::NoSuchMember(id.to_string()))?;
        if let Some(v) = mic_muted {
            m.mic_muted = v;
        }
        if let Some(v) = camera_off {
            m.camera_off = v;
        }
        Ok(())
    }

    /// May `from` send `right`'s media or messages now?
    pub fn may(&self, conf: &Conference, id: &str, right: Right) -> bool {
        let Some(m) = self.members.get(id) else {
            return false;
        };
        rights::check(m.actor(), Action::Use(right), None, &conf.rights).is_ok()
    }

    /// A voice-activity report (smart meetings).
    pub fn voice(
        &mut self,
        conf: &Conference,
        id: &str,
        active: bool,
        now: Duration,
    ) -> Vec<Event> {
        if conf.mode != Mode::Smart {
            return Vec::new();
        }
        match self.members.get(id) {
            Some(m) if !m.waiting() && !m.mic_muted => self.smart.voice(id, active, now),
            Some(_) => self.smart.voice(id, false, now),
            None => return Vec::new(),
        }
        self.tick(conf, now)
    }

    /// Content sharing starts or stops.
    pub fn sharing(
        &mut self,
        conf: &Conference,
        id: &str,
        on: bool,
        now: Duration,
    ) -> Result<Vec<Event>, RosterError> {
        let m = self.target(id)?;
        if on {
            rights::check(
                m.actor(),
                Action::Use(Right::DesktopSharing),
                None,
                &conf.rights,
            )?;
        }
        if let Some(m) = self.members.get_mut(id) {
            m.sharing = on;
        }
        self.smart.sharing(id, on);
        Ok(self.tick(conf, now))
    }

    /// Re-evaluates the smart podium; call on a timer so silence releases
    /// places even when nobody speaks.
    pub fn tick(&mut self, conf: &Conference, now: Duration) -> Vec<Event> {
        if conf.mode != Mode::Smart {
            return Vec::new();
        }
        let podium = self.podium();
        let eligible = self.admitted_ids();
        let changes = self
            .smart
            .decide(&podium, &eligible, conf.max_podiums as usize, now);
        let mut events = Vec::new();
        for c in changes {
            match c {
                Change::Up(id) => self.set_podium(&id, true, now, &mut events),
                Change::Down(id) => self.set_podium(&id, false, now, &mut events),
            }
        }
        events
    }

    /// Applies a conference change (mode, sizes) to the members present:
    /// podium places over the new limit are released, newest first.
    pub fn conference_changed(&mut self, conf: &Conference, now: Duration) -> Vec<Event> {
        let mut events = Vec::new();
        let mut on: Vec<(u64, String)> = self
            .members
            .values()
            .filter(|m| m.podium)
            .map(|m| (m.seq, m.id.clone()))
            .collect();
        on.sort();
        while on.len() > conf.max_podiums as usize {
            let (_, id) = on.pop().expect("len > max_podiums >= 0");
            self.set_podium(&id, false, now, &mut events);
        }
        events
    }
}

#[cfg(test)]
mod tests;

//! Roles, rights and the matrix every action is checked against.
//!
//! Two layers decide what someone may do:
//! - the conference's **rights** (per guest and per user: may they send
//!   audio, receive video, chat, share, record...), set by the owner;
//! - the participant's **role** (owner, moderator, operator, speaker,
//!   translator, participant), which grants the moderation actions.
//!
//! A participant in the waiting room has neither: they can do nothing but
//! wait (seed 001).

use std::fmt;

/// A conference right, named as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    ChatSend,
    ChatRcv,
    SlideShowSend,
    SlideShowRcv,
    WhiteBoardSend,
    WhiteBoardRcv,
    FileTransferSend,
    FileTransferRcv,
    DesktopSharing,
    Recording,
    AudioSend,
    AudioRcv,
    VideoSend,
    VideoRcv,
}

impl Right {
    pub const ALL: [Right; 14] = [
        Right::ChatSend,
        Right::ChatRcv,
        Right::SlideShowSend,
        Right::SlideShowRcv,
        Right::WhiteBoardSend,
        Right::WhiteBoardRcv,
        Right::FileTransferSend,
        Right::FileTransferRcv,
        Right::DesktopSharing,
        Right::Recording,
        Right::AudioSend,
        Right::AudioRcv,
        Right::VideoSend,
        Right::VideoRcv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Right::ChatSend => "chat_send",
            Right::ChatRcv => "chat_rcv",
            Right::SlideShowSend => "slide_show_send",
            Right::SlideShowRcv => "slide_show_rcv",
            Right::WhiteBoardSend => "white_board_send",
            Right::WhiteBoardRcv => "white_board_rcv",
            Right::FileTransferSend => "file_transfer_send",
            Right::FileTransferRcv => "file_transfer_rcv",
            Right::DesktopSharing => "desktop_sharing",
            Right::Recording => "recording",
            Right::AudioSend => "audio_send",
            Right::AudioRcv => "audio_rcv",
            Right::VideoSend => "video_send",
            Right::VideoRcv => "video_rcv",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights(u16);

impl Rights {
    pub fn all() -> Self {
        Self(Right::ALL.iter().fold(0, |acc, r| acc | r.bit()))
    }

    pub fn none() -> Self {
        Self(0)
    }

    pub fn has(self, r: Right) -> bool {
        self.0 & r.bit() != 0
    }

    pub fn set(&mut self, r: Right, on: bool) {
        if on {
            self.0 |= r.bit();
        } else {
            self.0 &= !r.bit();
        }
    }

    pub fn with(mut self, r: Right, on: bool) -> Self {
        self.set(r, on);
        self
    }
}

impl Default for Rights {
    fn default() -> Self {
        Self::all()
    }
}

/// Rights for guests and for users; the API accepts one flat object for
/// both or `{"guest": {...}, "user": {...}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RightsSet {
    pub guest: Rights,
    pub user: Rights,
}

impl RightsSet {
    pub fn for_kind(&self, guest: bool) -> Rights {
        if guest { self.guest } else { self.user }
    }
}

/// A participant's role in a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A listener.
    Participant,
    /// Interprets between languages; a participant with an extra channel.
    Translator,
    /// On the podium: seen and heard by everyone.
    Speaker,
    /// Manages participants (admit, podium) but not the conference itself.
    Operator,
    /// Runs the conference: everything but removing or demoting the owner.
    Moderator,
    Owner,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Moderator,
        Role::Operator,
        Role::Speaker,
        Role::Translator,
        Role::Participant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Moderator => "moderator",
            Role::Operator => "operator",
            Role::Speaker => "speaker",
            Role::Translator => "translator",
            Role::Participant => "participant",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            // "listener" is what the seeds call a plain participant.
            "listener" => Some(Role::Participant),
            _ => Self::ALL.into_iter().find(|r| r.name() == s),
        }
    }

    /// Owner and moderators count as moderators (seed 001: "any moderator
    /// (including the owner)").
    pub fn is_moderator(self) -> bool {
        matches!(self, Role::Owner | Role::Moderator)
    }

    /// May manage other participants (admit, waiting room, podium).
    pub fn manages_participants(self) -> bool {
        matches!(self, Role::Owner | Role::Moderator | Role::Operator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something a participant (or an API client acting for the owner) asks to
/// do in a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Admit,
    AdmitAll,
    SendToWaitingRoom,
    PodiumInvite,
    PodiumRemove,
    ChangeRole(Role),
    Remove,
    EditConference,
    ChangeCid,
    Stop,
    StartRecording,
    /// Use a right (send audio, receive chat, ...).
    Use(Right),
    SeeRoster,
    SeeWaitingRoom,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("participants in the waiting room cannot do this")]
    Waiting,
    #[error("the {0} role may not do this")]
    Role(Role),
    #[error("the conference's rights do not allow {0} for {1}")]
    Right(&'static str, &'static str),
    #[error("the owner cannot be removed, sent to the waiting room or demoted")]
    Owner,
    #[error("only the owner may make moderators or owners")]
    OwnerOnly,
}

/// Who is acting, as the matrix sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub role: Role,
    pub guest: bool,
    pub waiting: bool,
}

impl Actor {
    /// An API client or the room itself acting with the owner's authority.
    pub fn owner() -> Self {
        Self {
            role: Role::Owner,
            guest: false,
            waiting: false,
        }
    }
}

/// The matrix. `target_role` is the role of the participant acted on, when
/// there is one.
pub fn check(
    actor: Actor,
    action: Action,
    target_role: Option<Role>,
    rights: &RightsSet,
) -> Result<(), Denied> {
    if actor.waiting {
        return Err(Denied::Waiting);
    }
    let touches_owner = target_role == Some(Role::Owner);
    match action {
        Action::Use(right) => {
            // Moderators can always record and share; others need the right.
            if actor.role.is_moderator()
                && matches!(right, Right::Recording | Right::DesktopSharing)
            {
                return Ok(());
            }
            if rights.for_kind(actor.guest).has(right) {
                Ok(())
            } else {
                Err(Denied::Right(
                    right.name(),
                    if actor.guest { "guests" } else { "users" },
                ))
            }
        }
        Action::SeeRoster => Ok(()),
        Action::SeeWaitingRoom
        | Action::Admit
        | Action::AdmitAll
        | Action::PodiumInvite
        | Action::PodiumRemove => {
            if actor.role.manages_participants() {
                Ok(())
            } else {
                Err(Denied::Role(actor.role))
            }
        }
        Action::SendToWaitingRoom | Action::Remove => {
            if touches_owner {
                Err(Denied::Owner)
            } else if actor.role.manages_participants() {
                // Operators may not act on moderators.
                if actor.role == Role::Operator && target_role.is_some_and(Role::is_moderator) {
                    Err(Denied::Role(actor.role))
                } else {
                    Ok(())
                }
            } else {
                Err(Denied::Role(actor.role))
            }
        }
        Action::ChangeRole(new) => {
            if touches_owner {
                return Err(Denied::Owner);
            }
            if !actor.role.is_moderator() {
                return Err(Denied::Role(actor.role));
            }
            if matches!(new, Role::Owner | Role::Moderator) && actor.role != Role::Owner {
                return Err(Denied::OwnerOnly);
            }
            if new == Role::Owner {
                // Ownership is a property of the conference, not a role to hand out.
                return Err(Denied::OwnerOnly);
            }
            Ok(())
        }
        Action::EditConference | Action::ChangeCid | Action::Stop | Action::StartRecording => {
            if actor.role.is_moderator() {
                Ok(())
            } else {
                Err(Denied::Role(actor.role))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, guest: bool) -> Actor {
        Actor {
            role,
            guest,
            waiting: false,
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Right::ALL {
            assert_eq!(Right::from_name(r.name()), Some(r));
        }
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
        assert_eq!(Role::from_name("listener"), Some(Role::Participant));
    }

    #[test]
    fn waiting_participants_can_do_nothing() {
        let rs = RightsSet::default();
        let waiting = Actor {
            role: Role::Participant,
            guest: true,
            waiting: true,
        };
        for a in [
            Action::Use(Right::ChatSend),
            Action::Use(Right::AudioRcv),
            Action::Use(Right::VideoSend),
            Action::SeeRoster,
            Action::PodiumInvite,
        ] {
            assert_eq!(check(waiting, a, None, &rs), Err(Denied::Waiting));
        }
    }

    #[test]
    fn the_owner_is_never_removed() {
        let rs = RightsSet::default();
        for role in Role::ALL {
            for guest in [false, true] {
                let r = check(actor(role, guest), Action::Remove, Some(Role::Owner), &rs);
                assert!(r.is_err(), "{role} removed the owner");
                let r = check(
                    actor(role, guest),
                    Action::SendToWaitingRoom,
                    Some(Role::Owner),
                    &rs,
                );
                assert!(r.is_err());
            }
        }
    }

    #[test]
    fn only_managers_admit_and_only_the_owner_makes_moderators() {
        let rs = RightsSet::default();
        assert!(check(actor(Role::Operator, false), Action::Admit, None, &rs).is_ok());
        assert_eq!(
            check(actor(Role::Speaker, false), Action::Admit, None, &rs),
            Err(Denied::Role(Role::Speaker))
        );
        assert_eq!(
            check(
                actor(Role::Moderator, false),
                Action::ChangeRole(Role::Moderator),
                Some(Role::Participant),
                &rs
            ),
            Err(Denied::OwnerOnly)
        );
        assert!(
            check(
                actor(Role::Owner, false),
                Action::ChangeRole(Role::Moderator),
                Some(Role::Participant),
                &rs
            )
            .is_ok()
        );
        assert!(
            check(
                actor(Role::Operator, false),
                Action::Remove,
                Some(Role::Moderator),
                &rs
            )
            .is_err()
        );
    }

    #[test]
    fn rights_differ_for_guests_and_users() {
        let rs = RightsSet {
            guest: Rights::all().with(Right::ChatSend, false),
            user: Rights::all(),
        };
        assert_eq!(
            check(
                actor(Role::Participant, true),
                Action::Use(Right::ChatSend),
                None,
                &rs
            ),
            Err(Denied::Right("chat_send", "guests"))
        );
        assert!(
            check(
                actor(Role::Participant, false),
                Action::Use(Right::ChatSend),
                None,
                &rs
            )
            .is_ok()
        );
    }
}

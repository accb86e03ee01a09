//! Who asks to join and who is in: the request, the decision, a member's
//! place (admitted, or waiting and why) and what a refusal says.

use super::*;

/// Why someone waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The conference puts participants in the waiting room on entry.
    WaitingRoom,
    /// Wait for host: nobody with host rights is in yet.
    WaitingForHost,
    /// The owner has not approved the join request yet.
    AwaitingApproval,
}

impl WaitReason {
    pub fn name(self) -> &'static str {
        match self {
            WaitReason::WaitingRoom => "waiting_room",
            WaitReason::WaitingForHost => "waiting_for_host",
            WaitReason::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// Why a join request was refused. The message is what a client shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the conference is not running")]
    NotRunning,
    #[error("wrong PIN")]
    WrongPin,
    #[error("this conference does not admit guests")]
    GuestsNotAllowed,
    #[error("only invited participants may join this conference")]
    NotPlanned,
    #[error("the conference is full")]
    Full,
    #[error("the owner declined the request to join")]
    Rejected,
}

impl Refusal {
    pub const ALL: [Refusal; 6] = [
        Refusal::NotRunning,
        Refusal::WrongPin,
        Refusal::GuestsNotAllowed,
        Refusal::NotPlanned,
        Refusal::Full,
        Refusal::Rejected,
    ];

    /// The refusal a [`Refusal::code`] names.
    pub fn from_code(code: &str) -> Option<Refusal> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotRunning => "not_running",
            Refusal::WrongPin => "wrong_pin",
            Refusal::GuestsNotAllowed => "guests_not_allowed",
            Refusal::NotPlanned => "not_planned",
            Refusal::Full => "full",
            Refusal::Rejected => "rejected",
        }
    }
}

/// Who asks to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// A user's login, or a guest id (chosen by the link's `2$id*Name`
    /// form or generated); unique in the roster.
    pub id: String,
    pub display_name: String,
    pub guest: bool,
    pub pin: Option<String>,
    /// Came with a guest link from `software/clients`: the API that made the
    /// link vouched for them, as an invitation would.
    pub via_link: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinDecision {
    Admitted { role: Role },
    Waiting(WaitReason),
    Refused(Refusal),
}

/// Where a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Admitted,
    Waiting(WaitReason),
}

impl Place {
    pub fn standing(self) -> Standing {
        match self {
            Place::Admitted => Standing::Admitted,
            Place::Waiting(_) => Standing::Waiting,
        }
    }

    /// Why the member waits, when they do.
    pub fn wait_reason(self) -> Option<WaitReason> {
        match self {
            Place::Admitted => None,
            Place::Waiting(r) => Some(r),
        }
    }
}

/// Whether a member is in the conference or in its waiting room, as the
/// signalling, the REST API and the room's own state spell it
/// (`admitted`, `waiting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Admitted,
    Waiting,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Admitted => "admitted",
            Standing::Waiting => "waiting",
        }
    }
}

impl std::fmt::Display for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub display_name: String,
    pub guest: bool,
    pub role: Role,
    pub place: Place,
    pub podium: bool,
    /// Joined with the host PIN, or owns or moderates the conference.
    pub host: bool,
    /// Invited, planned or came by link: skips the owner's approval.
    pub vouched: bool,
    pub mic_muted: bool,
    pub camera_off: bool,
    pub sharing: bool,
    /// Order of arrival.
    pub seq: u64,
}

impl Member {
    pub fn waiting(&self) -> bool {
        matches!(self.place, Place::Waiting(_))
    }

    pub fn actor(&self) -> Actor {
        Actor {
            role: self.role,
            guest: self.guest,
            waiting: self.waiting(),
        }
    }
}

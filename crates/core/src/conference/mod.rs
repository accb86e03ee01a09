//! The conference domain: what a conference is and the rules it obeys.
//!
//! Sans-IO: no sockets, clocks, files or async. Time comes in as an
//! argument (Unix seconds for calendars, a monotonic `Duration` for the
//! roster's talk detection) and randomness as a closure. The REST API, the
//! panel and signalling all change conferences through these functions, so
//! every input obeys the same rules.
//!
//! - [`Conference`]: the stored object, created and changed only through
//!   [`Conference::create`] and [`Conference::apply`], which validate a
//!   [`Patch`] and report every bad field at once;
//! - [`cid`], [`mode`], [`schedule`], [`rights`]: the parts;
//! - [`roster`]: who is in a running conference, the waiting room, the
//!   podium, and the join-request state machine;
//! - [`podium`]: smart-meeting talk detection with hysteresis;
//! - [`template`]: saved conference settings.

pub mod cid;
pub mod mode;
pub mod podium;
pub mod rights;
pub mod roster;
pub mod schedule;
pub mod template;

pub use cid::{Cid, CidError};
pub use mode::Mode;
pub use rights::{Action, Actor, Denied, Right, Rights, RightsSet, Role};
pub use roster::{JoinDecision, Refusal, Roster, Standing, WaitReason};
pub use schedule::{Days, Schedule};

/// Limits from the seeds.
pub const TOPIC_MAX: usize = 240;
impl Invitation {
    /// What is wrong with entry `i` of an invitation list, if anything.
    pub fn check(&self, i: usize) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !printable(&self.id, 256) {
            errors.push(FieldError::new(
                format!("invitations[{i}].id"),
                "1 to 256 printable characters",
            ));
        }
        if self.display_name.chars().count() > 256 {
            errors.push(FieldError::new(
                format!("invitations[{i}].display_name"),
                "at most 256 characters",
            ));
        }
        errors
    }
}

/// Why a host PIN was refused: it is the conference's PIN.
pub const HOST_PIN_SAME: &str = "must differ from pin";
/// The longest owner login.
pub const OWNER_MAX: usize = 256;

/// Whether `s` is acceptable text for a name, topic or login: at most
/// `max` characters, none a control character, not only whitespace. The
/// OpenAPI document states the same rule as a pattern
/// (`server::openapi::text`).
/// Whether a PIN someone gave equals the stored one, in time that depends
/// on the lengths only, not on how much of the PIN was right.
pub fn pin_matches(stored: &str, given: &str) -> bool {
    let (a, b) = (stored.as_bytes(), given.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

pub fn printable(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}
pub const DESCRIPTION_MAX: usize = 4000;
/// The longest chat message, in characters.
pub const CHAT_MAX: usize = 2000;
pub const MIN_PARTICIPANTS: i64 = 2;
pub const MAX_PARTICIPANTS: i64 = 1000;
pub const DEFAULT_PARTICIPANTS: u32 = 25;
pub const PIN_MAX: usize = 20;
pub const INVITATIONS_MAX: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Stopped,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
        }
    }
}

/// Someone planned into a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// A user login or TrueConf ID (`user@server`), or a call string.
    pub id: String,
    pub display_name: String,
}

/// The room options of seeds 000 and 004.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Admit join requests without the owner's approval.
    pub auto_approve: bool,
    /// Put everyone but moderators in the waiting room on entry.
    pub waiting_room: bool,
    pub mute_mic_on_entry: bool,
    pub camera_off_on_entry: bool,
    pub pin: Option<String>,
    pub host_pin: Option<String>,
    /// Hold participants until a host (owner, moderator or host-PIN holder) is in.
    pub wait_for_host: bool,
    pub announce_join_leave: bool,
    pub recording_enabled: bool,
    pub auto_start_recording: bool,
    pub music_on_hold: bool,
    /// Stop the conference when the last participant leaves.
    pub auto_termination: bool,
}

impl Options {
    pub fn defaults_for(mode: Mode) -> Self {
        Self {
            auto_approve: true,
            waiting_room: false,
            mute_mic_on_entry: mode.mutes_on_entry_by_default(),
            camera_off_on_entry: false,
            pin: None,
            host_pin: None,
            wait_for_host: false,
            announce_join_leave: false,
            recording_enabled: false,
            auto_start_recording: false,
            music_on_hold: false,
            auto_termination: false,
        }
    }
}

/// A conference as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    pub id: Cid,
    pub topic: String,
    pub description: String,
    pub owner: String,
    pub mode: Mode,
    pub max_participants: u32,
    pub max_podiums: u32,
    pub schedule: Schedule,
    pub allow_guests: bool,
    pub allow_only_planned_participants: bool,
    pub invitations: Vec<Invitation>,
    pub auto_invite: bool,
    pub rights: RightsSet,
    pub state: RunState,
    /// Record the conference when it runs (v3 `recording`).
    pub recording: bool,
    pub options: Options,
    pub created_at: i64,
}

/// A change to a conference: every field optional. Numbers arrive as `i64`
/// so that range errors are reported here, with the rule that was broken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub id: Option<String>,
    pub topic: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub mode: Option<Mode>,
    pub max_participants: Option<i64>,
    pub max_podiums: Option<i64>,
    pub schedule: Option<Schedule>,
    pub allow_guests: Option<bool>,
    pub allow_only_planned_participants: Option<bool>,
    pub invitations: Option<Vec<Invitation>>,
    pub auto_invite: Option<bool>,
    pub rights: Option<RightsSet>,
    pub state: Option<RunState>,
    pub recording: Option<bool>,
    pub auto_approve: Option<bool>,
    pub waiting_room: Option<bool>,
    pub mute_mic_on_entry: Option<bool>,
    pub camera_off_on_entry: Option<bool>,
    /// `Some("")` clears the PIN.
    pub pin: Option<String>,
    pub host_pin: Option<String>,
    pub wait_for_host: Option<bool>,
    pub announce_join_leave: Option<bool>,
    pub recording_enabled: Option<bool>,
    pub auto_start_recording: Option<bool>,
    pub music_on_hold: Option<bool>,
    pub auto_termination: Option<bool>,
}

/// One bad field, named as the API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every bad field of one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct FieldErrors(pub Vec<FieldError>);

impl Conference {
    /// Creates a conference from a patch. `new_cid` generates an ID when the
    /// patch has none; `taken` says whether a CID is already in use.
    pub fn create(
        patch: Patch,
        now: i64,
        new_cid: impl FnOnce() -> Cid,
        taken: impl Fn(&Cid) -> bool,
    ) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        if patch.topic.is_none() {
            errors.push(FieldError::new("topic", "required: 1 to 240 characters"));
        }
        if patch.owner.is_none() {
            errors.push(FieldError::new("owner", "required: the owner's login"));
        }
        let id = match &patch.id {
            Some(raw) => match Cid::parse(raw) {
                Ok(cid) if taken(&cid) => {
                    errors.push(FieldError::new(
                        "id",
                        format!("conference {cid} already exists"),
                    ));
                    None
                }
                Ok(cid) => Some(cid),
                Err(e) => {
                    errors.push(FieldError::new("id", e.to_string()));
                    None
                }
            },
            None => None,
        };
        let mode = patch.mode.unwrap_or(Mode::AllOnScreen);
        let mut conf = Conference {
            id: id
                .clone()
                .unwrap_or_else(|| Cid::parse("pending").expect("a literal valid CID")),
            topic: String::new(),
            description: String::new(),
            owner: String::new(),
            mode,
            max_participants: DEFAULT_PARTICIPANTS,
            max_podiums: mode.fixed_podiums(DEFAULT_PARTICIPANTS).unwrap_or(4),
            schedule: Schedule::None,
            allow_guests: false,
            allow_only_planned_participants: false,
            invitations: Vec::new(),
            auto_invite: false,
            rights: RightsSet::default(),
            state: RunState::Stopped,
            recording: false,
            options: Options::defaults_for(mode),
            created_at: now,
        };
        let mut patch = patch;
        patch.id = None;
        if let Err(FieldErrors(more)) = conf.apply(patch, &|_| false) {
            errors.extend(more);
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            errors.dedup();
            return Err(FieldErrors(errors));
        }
        conf.id = id.unwrap_or_else(new_cid);
        Ok(conf)
    }

    /// Validates a patch and applies it, all or nothing. `taken` says
    /// whether another conference uses a CID (for renames).
    pub fn apply(&mut self, patch: Patch, taken: &dyn Fn(&Cid) -> bool) -> Result<(), FieldErrors> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut err = |f: &str, m: String| errors.push(FieldError::new(f, m));

        if let Some(raw) = &patch.id {
            match Cid::parse(raw) {
                Ok(cid) if cid != self.id && taken(&cid) => {
                    err("id", format!("conference {cid} already exists"))
                }
                Ok(cid) => next.id = cid,
                Err(e) => err("id", e.to_string()),
            }
        }
        if let Some(t) = &patch.topic {
            if !printable(t, TOPIC_MAX) {
                err(
                    "topic",
                    format!(
                        "1 to {TOPIC_MAX} printable characters, got {}",
                        t.chars().count()
                    ),
                );
            } else {
                next.topic = t.trim().to_string();
            }
        }
        if let Some(d) = &patch.description {
            if d.chars().count() > DESCRIPTION_MAX {
                err(
                    "description",
                    format!("at most {DESCRIPTION_MAX} characters"),
                );
            } else {
                next.description = d.clone();
            }
        }
        if let Some(o) = &patch.owner {
            if !printable(o, OWNER_MAX) {
                err(
                    "owner",
                    format!("a login of 1 to {OWNER_MAX} printable characters"),
                );
            } else {
                next.owner = o.trim().to_string();
            }
        }
        let mode_changed = patch.mode.is_some_and(|m| m != self.mode);
        if let Some(m) = patch.mode {
            next.mode = m;
            if mode_changed && patch.mute_mic_on_entry.is_none() {
                next.options.mute_mic_on_entry = m.mutes_on_entry_by_default();
            }
        }
        if let Some(n) = patch.max_participants {
            if (MIN_PARTICIPANTS..=MAX_PARTICIPANTS).contains(&n) {
                next.max_participants = n as u32;
            } else {
                err(
                    "max_participants",
                    format!("an integer from {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS}, got {n}"),
                );
            }
        }
        let podiums = patch.max_podiums.filter(|p| {
            let ok = (1..=MAX_PARTICIPANTS).contains(p);
            if !ok {
                err(
                    "max_podiums",
                    format!("an integer from 1 to {MAX_PARTICIPANTS}, got {p}"),
                );
            }
            ok
        });
        match next.mode.fixed_podiums(next.max_participants) {
            // The mode decides; a client's value is not an error (v3
            // clients send max_podiums for every mode).
            Some(fixed) => next.max_podiums = fixed,
            None => {
                if let Some(p) = podiums {
                    // No more podium places than people.
                    next.max_podiums = (p as u32).min(next.max_participants);
                } else if next.max_podiums > next.max_participants || mode_changed {
                    next.max_podiums = next.max_participants.min(4);
                }
            }
        }
        if let Some(s) = &patch.schedule {
            match validate_schedule(s) {
                Ok(()) => next.schedule = s.clone(),
                Err(m) => err("schedule", m),
            }
        }
        if let Some(b) = patch.allow_guests {
            next.allow_guests = b;
        }
        if let Some(b) = patch.allow_only_planned_participants {
            next.allow_only_planned_participants = b;
        }
        if let Some(list) = &patch.invitations {
            if list.len() > INVITATIONS_MAX {
                err("invitations", format!("at most {INVITATIONS_MAX} entries"));
            }
            for (i, inv) in list.iter().enumerate() {
                for e in inv.check(i) {
                    err(&e.field, e.message);
                }
            }
            next.invitations = list.clone();
        }
        if let Some(b) = patch.auto_invite {
            next.auto_invite = b;
        }
        if let Some(r) = patch.rights {
            next.rights = r;
        }
        if let Some(s) = patch.state {
            next.state = s;
        }
        if let Some(b) = patch.recording {
            next.recording = b;
        }
        let o = &mut next.options;
        for (value, slot) in [
            (patch.auto_approve, &mut o.auto_approve),
            (patch.waiting_room, &mut o.waiting_room),
            (patch.mute_mic_on_entry, &mut o.mute_mic_on_entry),
            (patch.camera_off_on_entry, &mut o.camera_off_on_entry),
            (patch.wait_for_host, &mut o.wait_for_host),
            (patch.announce_join_leave, &mut o.announce_join_leave),
            (patch.recording_enabled, &mut o.recording_enabled),
            (patch.auto_start_recording, &mut o.auto_start_recording),
            (patch.music_on_hold, &mut o.music_on_hold),
            (patch.auto_termination, &mut o.auto_termination),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
        for (field, value, slot) in [
            ("pin", &patch.pin, &mut o.pin),
            ("host_pin", &patch.host_pin, &mut o.host_pin),
        ] {
            if let Some(p) = value {
                if p.is_empty() {
                    *slot = None;
                } else if p.len() > PIN_MAX || !p.bytes().all(|b| b.is_ascii_digit()) {
                    err(field, format!("1 to {PIN_MAX} digits, or \"\" for none"));
                } else {
                    *slot = Some(p.clone());
                }
            }
        }
        if o.pin.is_some() && o.pin == o.host_pin {
            err("host_pin", HOST_PIN_SAME.into());
        }
        // Automatic recording needs recording: asking for it turns recording
        // on, and turning recording off turns it off. Only both at once in
        // contradiction is an error.
        match (patch.auto_start_recording, patch.recording_enabled) {
            (Some(true), Some(false)) => {
                err("auto_start_recording", "needs recording_enabled".into())
            }
            (Some(true), None) => o.recording_enabled = true,
            (None, Some(false)) => o.auto_start_recording = false,
            _ => {}
        }
        if !errors.is_empty() {
            return Err(FieldErrors(errors));
        }
        *self = next;
        Ok(())
    }

    /// Whether `login` owns this conference. Owners are written as a login
    /// or a TrueConf ID (`login@server`); either matches.
    pub fn is_owner(&self, login: &str) -> bool {
        let base = |s: &str| s.split('@').next().unwrap_or(s).to_ascii_lowercase();
        !login.is_empty() && base(&self.owner) == base(login)
    }

    /// Whether `login` is in the invitation list.
    pub fn is_invited(&self, login: &str) -> bool {
        let base = |s: &str| s.split('@').next().unwrap_or(s).to_ascii_lowercase();
        self.invitations.iter().any(|i| base(&i.id) == base(login))
    }
}

fn validate_schedule(s: &Schedule) -> Result<(), String> {
    match *s {
        Schedule::None => Ok(()),
        Schedule::OneTime {
            start,
            duration,
            offset_minutes,
        } => {
            if start < 0 {
                return Err("start_time: a Unix time in seconds".into());
            }
            if !(60..=schedule::MAX_ONE_TIME_DURATION).contains(&duration) {
                return Err(format!(
                    "duration: 60 to {} seconds, got {duration}",
                    schedule::MAX_ONE_TIME_DURATION
                ));
            }
            check_offset(offset_minutes)
        }
        Schedule::Weekly {
            days,
            start_minute,
            duration,
            offset_minutes,
        } => {
            if days.is_empty() {
                return Err("days: at least one day of the week".into());
            }
            if start_minute >= 24 * 60 {
                return Err("time: a time of day from 00:00 to 23:59".into());
            }
            if !(60..=schedule::MAX_WEEKLY_DURATION).contains(&duration) {
                return Err(format!(
                    "duration: 60 to {} seconds, got {duration}",
                    schedule::MAX_WEEKLY_DURATION
                ));
            }
            check_offset(offset_minutes)
        }
    }
}

fn check_offset(m: i32) -> Result<(), String> {
    if (-12 * 60..=14 * 60).contains(&m) {
        Ok(())
    } else {
        Err(format!(
            "time_offset: -720 to 840 minutes from UTC, got {m}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_match_only_when_equal() {
        assert!(pin_matches("1234", "1234"));
        assert!(pin_matches("", ""));
        for given in ["1235", "123", "12345", "", "1234\0", "0234"] {
            assert!(!pin_matches("1234", given), "{given:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn pin_matches_is_equality(a in "[0-9]{0,8}", b in "[0-9]{0,8}") {
            proptest::prop_assert_eq!(pin_matches(&a, &b), a == b);
            proptest::prop_assert!(pin_matches(&a, &a.clone()));
        }
    }

    fn base() -> Patch {
        Patch {
            topic: Some("Weekly sync".into()),
            owner: Some("user1@server.name".into()),
            ..Default::default()
        }
    }

    fn create(p: Patch) -> Result<Conference, FieldErrors> {
        Conference::create(
            p,
            1_700_000_000,
            || Cid::parse("1234567890").unwrap(),
            |_| false,
        )
    }

    #[test]
    fn defaults_follow_the_seeds() {
        let c = create(base()).unwrap();
        assert_eq!(c.id.as_str(), "1234567890");
        assert_eq!(c.max_participants, 25);
        assert_eq!(c.mode, Mode::AllOnScreen);
        assert_eq!(c.max_podiums, 25);
        assert_eq!(c.state, RunState::Stopped);
        assert_eq!(c.schedule, Schedule::None);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let p = Patch {
            id: Some("bad id!".into()),
            topic: Some("".into()),
            max_participants: Some(1),
            pin: Some("12ab".into()),
            ..base()
        };
        let e = create(p).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["id", "max_participants", "pin", "topic"]);
        assert!(e.to_string().contains("position 3"), "{e}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let e = create(Patch::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["owner", "topic"]);
    }

    #[test]
    fn podiums_follow_the_mode() {
        let c = create(Patch {
            mode: Some(Mode::VideoLecture),
            max_podiums: Some(9),
            ..base()
        })
        .unwrap();
        assert_eq!(c.max_podiums, 1);
        let c = create(Patch {
            mode: Some(Mode::Smart),
            max_participants: Some(10),
            max_podiums: Some(6),
            ..base()
        })
        .unwrap();
        assert_eq!(c.max_podiums, 6);
        assert!(c.options.mute_mic_on_entry, "smart meetings mute on entry");
        // More podium places than people: as many as people.
        let c = create(Patch {
            mode: Some(Mode::Moderated),
            max_participants: Some(10),
            max_podiums: Some(11),
            ..base()
        })
        .unwrap();
        assert_eq!(c.max_podiums, 10);
        // Out of range is refused in every mode, even where the mode decides.
        for mode in [Mode::Moderated, Mode::VideoLecture] {
            let e = create(Patch {
                mode: Some(mode),
                max_podiums: Some(0),
                ..base()
            })
            .unwrap_err();
            assert_eq!(e.0[0].field, "max_podiums");
        }
    }

    #[test]
    fn a_failed_patch_changes_nothing() {
        let mut c = create(base()).unwrap();
        let before = c.clone();
        let r = c.apply(
            Patch {
                topic: Some("New name".into()),
                max_participants: Some(5000),
                ..Default::default()
            },
            &|_| false,
        );
        assert!(r.is_err());
        assert_eq!(c, before);
    }

    #[test]
    fn cid_can_change_but_not_to_a_taken_one() {
        let mut c = create(base()).unwrap();
        let taken = |x: &Cid| x.as_str() == "other";
        assert!(
            c.apply(
                Patch {
                    id: Some("other".into()),
                    ..Default::default()
                },
                &taken
            )
            .is_err()
        );
        c.apply(
            Patch {
                id: Some("board_room".into()),
                ..Default::default()
            },
            &taken,
        )
        .unwrap();
        assert_eq!(c.id.as_str(), "board_room");
    }

    #[test]
    fn pins_are_digits_and_differ() {
        let e = create(Patch {
            pin: Some("1234".into()),
            host_pin: Some("1234".into()),
            ..base()
        })
        .unwrap_err();
        assert_eq!(e.0[0].field, "host_pin");
        let e = create(Patch {
            pin: Some("1".repeat(21)),
            ..base()
        })
        .unwrap_err();
        assert_eq!(e.0[0].field, "pin");
        let mut c = create(Patch {
            pin: Some("0042".into()),
            ..base()
        })
        .unwrap();
        assert_eq!(c.options.pin.as_deref(), Some("0042"));
        c.apply(
            Patch {
                pin: Some(String::new()),
                ..Default::default()
            },
            &|_| false,
        )
        .unwrap();
        assert_eq!(c.options.pin, None);
    }

    #[test]
    fn owners_match_by_login() {
        let c = create(base()).unwrap();
        assert!(c.is_owner("user1"));
        assert!(c.is_owner("USER1@other"));
        assert!(!c.is_owner("user2"));
        assert!(!c.is_owner(""));
    }
}

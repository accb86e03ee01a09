//! Conference modes, by the v3 API's integer `type` and the v4 API's names.

use std::fmt;

/// How media flows in a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Everyone is a speaker: all see and hear all.
    AllOnScreen,
    /// One lecturer speaks to everyone and sees and hears everyone.
    VideoLecture,
    /// Speakers are chosen by a moderator.
    Moderated,
    /// Speakers are chosen by voice activity and content sharing.
    Smart,
}

impl Mode {
    pub const ALL: [Mode; 4] = [
        Mode::AllOnScreen,
        Mode::VideoLecture,
        Mode::Moderated,
        Mode::Smart,
    ];

    /// The v3 `type` integer: 0 all on screen, 1 video lecture, 3 moderated
    /// role-based, 4 smart meeting (a dais extension).
    pub fn v3(self) -> i64 {
        match self {
            Mode::AllOnScreen => 0,
            Mode::VideoLecture => 1,
            Mode::Moderated => 3,
            Mode::Smart => 4,
        }
    }

    pub fn from_v3(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.v3() == n)
    }

    /// The v4 name.
    pub fn v4(self) -> &'static str {
        match self {
            Mode::AllOnScreen => "PxP",
            Mode::VideoLecture => "OxP",
            Mode::Moderated => "S|L",
            Mode::Smart => "S|L Auto",
        }
    }

    pub fn from_v4(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.v4() == s)
    }

    /// What people call it on the panel.
    pub fn label(self) -> &'static str {
        match self {
            Mode::AllOnScreen => "All on screen",
            Mode::VideoLecture => "Video lecture",
            Mode::Moderated => "Moderated role-based",
            Mode::Smart => "Smart meeting",
        }
    }

    /// Whether the owner may choose the number of podium places.
    pub fn podium_selectable(self) -> bool {
        matches!(self, Mode::Moderated | Mode::Smart)
    }

    /// The podium size this mode implies, or `None` when it is selectable.
    pub fn fixed_podiums(self, max_participants: u32) -> Option<u32> {
        match self {
            Mode::AllOnScreen => Some(max_participants),
            Mode::VideoLecture => Some(1),
            Mode::Moderated | Mode::Smart => None,
        }
    }

    /// Smart meetings mute microphones on entry unless told otherwise.
    pub fn mutes_on_entry_by_default(self) -> bool {
        self == Mode::Smart
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_round_trip() {
        for m in Mode::ALL {
            assert_eq!(Mode::from_v3(m.v3()), Some(m));
            assert_eq!(Mode::from_v4(m.v4()), Some(m));
        }
        assert_eq!(Mode::from_v3(2), None);
        assert_eq!(Mode::from_v4("pxp"), None);
    }

    #[test]
    fn podium_rules_follow_the_mode() {
        assert_eq!(Mode::AllOnScreen.fixed_podiums(25), Some(25));
        assert_eq!(Mode::VideoLecture.fixed_podiums(25), Some(1));
        assert_eq!(Mode::Smart.fixed_podiums(25), None);
        assert!(Mode::Moderated.podium_selectable());
        assert!(Mode::Smart.mutes_on_entry_by_default());
        assert!(!Mode::Moderated.mutes_on_entry_by_default());
    }
}

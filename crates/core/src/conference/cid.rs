//! Conference IDs (CIDs).
//!
//! Generated CIDs are 10 decimal digits, unique among existing conferences.
//! Custom CIDs use Latin letters, digits, `_` and `-`, 1 to 128 characters.
//! Randomness is passed in, so generation is deterministic under test.

use std::fmt;

pub const MAX_LEN: usize = 128;
pub const GENERATED_LEN: usize = 10;

/// A valid conference ID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid(String);

/// Why a string is not a CID. The message names the first bad position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    #[error("a conference ID must not be empty")]
    Empty,
    #[error("a conference ID has at most {MAX_LEN} characters, this one has {0}")]
    TooLong(usize),
    #[error(
        "a conference ID may hold only Latin letters, digits, '_' and '-'; {found:?} at position {position} is not allowed"
    )]
    BadChar { position: usize, found: char },
}

impl Cid {
    pub fn parse(s: &str) -> Result<Self, CidError> {
        if s.is_empty() {
            return Err(CidError::Empty);
        }
        let n = s.chars().count();
        if n > MAX_LEN {
            return Err(CidError::TooLong(n));
        }
        if let Some((position, found)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(CidError::BadChar { position, found });
        }
        Ok(Self(s.to_string()))
    }

    /// Draws 10-digit CIDs from `random` until one is not `taken`.
    /// The first digit is never 0, so the CID reads as a number everywhere.
    pub fn generate(mut random: impl FnMut() -> u64, taken: impl Fn(&Cid) -> bool) -> Self {
        loop {
            let n = 1_000_000_000 + random() % 9_000_000_000;
            let cid = Self(n.to_string());
            if !taken(&cid) {
                return cid;
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this CID has the generated form (10 digits).
    pub fn is_numeric(&self) -> bool {
        self.0.len() == GENERATED_LEN && self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_examples_are_valid() {
        for s in [
            "4154248070",
            "Conference_ID",
            "0987654321",
            "team-sync_2",
            "a",
        ] {
            assert!(Cid::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn bad_cids_name_the_position() {
        assert_eq!(Cid::parse(""), Err(CidError::Empty));
        assert_eq!(
            Cid::parse("room 1"),
            Err(CidError::BadChar {
                position: 4,
                found: ' '
            })
        );
        assert!(matches!(
            Cid::parse("комната"),
            Err(CidError::BadChar { position: 0, .. })
        ));
        assert_eq!(Cid::parse(&"x".repeat(129)), Err(CidError::TooLong(129)));
        assert!(Cid::parse(&"x".repeat(128)).is_ok());
        assert!(Cid::parse("a/b").is_err());
        assert!(Cid::parse("a%23vcs").is_err());
    }

    #[test]
    fn generation_skips_taken_ids() {
        let mut draws = [5u64, 5, 7].into_iter();
        let first = Cid::generate(|| 5, |_| false);
        let cid = Cid::generate(|| draws.next().unwrap(), |c| c == &first);
        assert_ne!(cid, first);
        assert!(cid.is_numeric());
    }

    proptest! {
        #[test]
        fn generated_cids_are_ten_digits(r in any::<u64>()) {
            let c = Cid::generate(|| r, |_| false);
            prop_assert!(c.is_numeric());
            prop_assert!(Cid::parse(c.as_str()).is_ok());
        }

        #[test]
        fn parse_never_panics_and_accepts_only_the_alphabet(s in ".{0,140}") {
            if let Ok(c) = Cid::parse(&s) {
                prop_assert!(c.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
                prop_assert!(!c.as_str().is_empty() && c.as_str().len() <= MAX_LEN);
            }
        }
    }
}

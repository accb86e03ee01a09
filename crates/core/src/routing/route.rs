//! Who receives whom: the forwarding plan of one conference, from its mode,
//! its members and who spoke last. Pure functions; the router applies the
//! plan to slots.
//!
//! The rules (seed 001):
//! - all on screen: everyone sees and hears everyone;
//! - video lecture: the lecturer (on the podium) is seen and heard by all,
//!   and sees and hears everyone;
//! - moderated role-based and smart meeting: only podium members are seen
//!   and heard (a moderator or voice activity fills the podium);
//! - content being shared is seen by everyone, in every mode;
//! - a member in the waiting room sends and receives nothing;
//! - nobody receives their own media; muted microphones and cameras that
//!   are off send nothing, and neither do members without the `audio_send`
//!   / `video_send` right; members without `audio_rcv` / `video_rcv`
//!   receive none.
//!
//! A receiver has a fixed number of video and audio slots; when more
//! sources qualify, the most recent speakers win (then the earliest
//! arrivals), and a source keeps its slot while it stays chosen.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::conference::Mode;

/// One member as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    pub admitted: bool,
    pub podium: bool,
    pub mic_muted: bool,
    pub camera_off: bool,
    pub sharing: bool,
    pub may_send_audio: bool,
    pub may_send_video: bool,
    pub may_receive_audio: bool,
    pub may_receive_video: bool,
    /// When voice was last heard from them.
    pub last_voice: Option<Duration>,
    /// Order of arrival.
    pub seq: u64,
}

/// Slots per receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub video: usize,
    pub audio: usize,
}

/// What one receiver gets, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    pub video: Vec<String>,
    pub audio: Vec<String>,
    /// Whose shared content (one at a time: of several sharers, the one
    /// who arrived last).
    pub content: Option<String>,
}

/// Members whose media is forwarded at all, by mode.
fn senders(mode: Mode, parties: &[Party]) -> Vec<&Party> {
    parties
        .iter()
        .filter(|p| p.admitted)
        .filter(|p| match mode {
            Mode::AllOnScreen => true,
            // The lecturer is heard by all; the others reach the lecturer
            // only (handled per receiver below).
            Mode::VideoLecture => true,
            Mode::Moderated | Mode::Smart => p.podium,
        })
        .collect()
}

/// Most recent speakers first, then order of arrival.
fn rank(list: &mut [&Party]) {
    list.sort_by(|a, b| b.last_voice.cmp(&a.last_voice).then(a.seq.cmp(&b.seq)));
}

/// The plan: for each admitted member, what it receives.
pub fn plan(mode: Mode, parties: &[Party], limits: Limits) -> BTreeMap<String, Feed> {
    let sending = senders(mode, parties);
    let lecturers: HashSet<&str> = if mode == Mode::VideoLecture {
        parties
            .iter()
            .filter(|p| p.admitted && p.podium)
            .map(|p| p.id.as_str())
            .collect()
    } else {
        HashSet::new()
    };
    // One sharer's content, if they may send video at all.
    let content = parties
        .iter()
        .filter(|p| p.admitted && p.sharing && p.may_send_video)
        .max_by_key(|p| p.seq)
        .map(|p| p.id.clone());

    let mut out = BTreeMap::new();
    for r in parties.iter().filter(|p| p.admitted) {
        let visible = |s: &&Party| {
            s.id != r.id
                && (mode != Mode::VideoLecture
                    || lecturers.contains(s.id.as_str())
                    || lecturers.contains(r.id.as_str()))
        };
        let mut video: Vec<&Party> = sending
            .iter()
            .copied()
            .filter(visible)
            .filter(|s| s.may_send_video && !s.camera_off)
            .collect();
        let mut audio: Vec<&Party> = sending
            .iter()
            .copied()
            .filter(visible)
            .filter(|s| s.may_send_audio && !s.mic_muted)
            .collect();
        rank(&mut video);
        rank(&mut audio);
        let feed = Feed {
            video: if r.may_receive_video {
                video
                    .iter()
                    .take(limits.video)
                    .map(|p| p.id.clone())
                    .collect()
            } else {
                Vec::new()
            },
            audio: if r.may_receive_audio {
                audio
                    .iter()
                    .take(limits.audio)
                    .map(|p| p.id.clone())
                    .collect()
            } else {
                Vec::new()
            },
            content: content
                .clone()
                .filter(|c| c != &r.id && r.may_receive_video),
        };
        out.insert(r.id.clone(), feed);
    }
    out
}

/// Places `wanted` sources into `slots`, keeping every source that stays
/// wanted in the slot it already has, filling free slots in `wanted`'s
/// order and emptying the slots of sources no longer wanted.
pub fn assign(slots: &[Option<String>], wanted: &[String]) -> Vec<Option<String>> {
    let keep: HashSet<&String> = wanted.iter().take(slots.len()).collect();
    let mut out: Vec<Option<String>> = slots
        .iter()
        .map(|s| s.as_ref().filter(|id| keep.contains(id)).cloned())
        .collect();
    let placed: HashSet<String> = out.iter().flatten().cloned().collect();
    let mut rest = wanted
        .iter()
        .take(slots.len())
        .filter(|w| !placed.contains(*w));
    for slot in out.iter_mut() {
        if slot.is_none() {
            *slot = rest.next().cloned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn party(id: &str, seq: u64) -> Party {
        Party {
            id: id.into(),
            admitted: true,
            podium: false,
            mic_muted: false,
            camera_off: false,
            sharing: false,
            may_send_audio: true,
            may_send_video: true,
            may_receive_audio: true,
            may_receive_video: true,
            last_voice: None,
            seq,
        }
    }

    const L: Limits = Limits { video: 9, audio: 3 };

    #[test]
    fn all_on_screen_everyone_sees_everyone_else() {
        let ps = vec![party("a", 1), party("b", 2), party("c", 3)];
        let p = plan(Mode::AllOnScreen, &ps, L);
        assert_eq!(p["a"].video, ["b", "c"]);
        assert_eq!(p["b"].video, ["a", "c"]);
        assert_eq!(p["c"].audio, ["a", "b"]);
    }

    #[test]
    fn in_a_lecture_only_the_lecturer_is_seen_and_the_lecturer_sees_all() {
        let mut ps = vec![party("teacher", 1), party("s1", 2), party("s2", 3)];
        ps[0].podium = true;
        let p = plan(Mode::VideoLecture, &ps, L);
        assert_eq!(p["s1"].video, ["teacher"]);
        assert_eq!(p["s1"].audio, ["teacher"]);
        assert_eq!(p["s2"].video, ["teacher"]);
        assert_eq!(p["teacher"].video, ["s1", "s2"]);
        assert_eq!(p["teacher"].audio, ["s1", "s2"]);
    }

    #[test]
    fn moderated_and_smart_forward_only_the_podium() {
        for mode in [Mode::Moderated, Mode::Smart] {
            let mut ps = vec![party("mod", 1), party("x", 2), party("y", 3)];
            ps[1].podium = true;
            let p = plan(mode, &ps, L);
            assert_eq!(p["mod"].video, ["x"]);
            assert_eq!(p["y"].audio, ["x"]);
            assert!(p["x"].video.is_empty());
        }
    }

    #[test]
    fn the_waiting_room_sends_and_receives_nothing() {
        let mut ps = vec![party("a", 1), party("w", 2)];
        ps[1].admitted = false;
        let p = plan(Mode::AllOnScreen, &ps, L);
        assert!(!p.contains_key("w"));
        assert!(p["a"].video.is_empty() && p["a"].audio.is_empty());
    }

    #[test]
    fn mute_camera_off_and_rights_hold_on_the_media_path() {
        let mut ps = vec![party("a", 1), party("b", 2), party("c", 3), party("d", 4)];
        ps[1].mic_muted = true;
        ps[2].camera_off = true;
        ps[3].may_send_audio = false;
        ps[3].may_send_video = false;
        let p = plan(Mode::AllOnScreen, &ps, L);
        assert_eq!(p["a"].video, ["b"]);
        assert_eq!(p["a"].audio, ["c"]);
        ps[0].may_receive_video = false;
        let p = plan(Mode::AllOnScreen, &ps, L);
        assert!(p["a"].video.is_empty());
    }

    #[test]
    fn recent_speakers_take_the_limited_slots() {
        let mut ps: Vec<Party> = (0..6).map(|i| party(&format!("p{i}"), i)).collect();
        ps[4].last_voice = Some(Duration::from_secs(10));
        ps[5].last_voice = Some(Duration::from_secs(20));
        let p = plan(Mode::AllOnScreen, &ps, Limits { video: 2, audio: 2 });
        assert_eq!(p["p0"].audio, ["p5", "p4"]);
        assert_eq!(p["p0"].video, ["p5", "p4"]);
    }

    #[test]
    fn content_goes_to_everyone_else() {
        let mut ps = vec![party("a", 1), party("b", 2), party("c", 3)];
        ps[1].sharing = true;
        let p = plan(Mode::Moderated, &ps, L);
        assert_eq!(p["a"].content.as_deref(), Some("b"));
        assert_eq!(p["c"].content.as_deref(), Some("b"));
        assert_eq!(p["b"].content, None);
    }

    #[test]
    fn sources_keep_their_slots() {
        let slots = vec![Some("a".to_string()), Some("b".into()), None];
        let out = assign(&slots, &["c".into(), "b".into(), "d".into()]);
        assert_eq!(out, [Some("c".into()), Some("b".into()), Some("d".into())]);
        let out = assign(&out, &["d".into(), "b".into()]);
        assert_eq!(out, [None, Some("b".into()), Some("d".into())]);
    }

    proptest! {
        #[test]
        fn assignment_places_each_wanted_source_once_and_keeps_survivors(
            before in proptest::collection::vec(proptest::option::of(0u8..8), 1..6),
            wanted in proptest::collection::vec(0u8..8, 0..10),
        ) {
            let mut seen = HashSet::new();
            let slots: Vec<Option<String>> = before.iter().map(|s| s.filter(|v| seen.insert(*v)).map(|v| v.to_string())).collect();
            let mut uniq = HashSet::new();
            let wanted: Vec<String> = wanted.into_iter().filter(|w| uniq.insert(*w)).map(|w| w.to_string()).collect();
            let out = assign(&slots, &wanted);
            prop_assert_eq!(out.len(), slots.len());
            let placed: Vec<&String> = out.iter().flatten().collect();
            let set: HashSet<&String> = placed.iter().copied().collect();
            prop_assert_eq!(set.len(), placed.len(), "no source twice");
            let top: HashSet<&String> = wanted.iter().take(slots.len()).collect();
            prop_assert_eq!(&set, &top, "exactly the top wanted sources");
            for (b, a) in slots.iter().zip(&out) {
                if let Some(b) = b && top.contains(b) {
                    prop_assert_eq!(Some(b), a.as_ref(), "a survivor keeps its slot");
                }
            }
        }

        #[test]
        fn nobody_receives_themselves_or_the_waiting(
            members in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()), 1..12),
            mode in 0usize..4,
        ) {
            let mode = [Mode::AllOnScreen, Mode::VideoLecture, Mode::Moderated, Mode::Smart][mode];
            let ps: Vec<Party> = members.iter().enumerate().map(|(i, (adm, pod, mute, share))| {
                let mut p = party(&format!("m{i}"), i as u64);
                p.admitted = *adm; p.podium = *pod && *adm; p.mic_muted = *mute; p.sharing = *share;
                p
            }).collect();
            let plan = plan(mode, &ps, L);
            let waiting: HashSet<&str> = ps.iter().filter(|p| !p.admitted).map(|p| p.id.as_str()).collect();
            for (r, f) in &plan {
                prop_assert!(!waiting.contains(r.as_str()));
                for s in f.video.iter().chain(&f.audio).chain(f.content.iter()) {
                    prop_assert!(s != r);
                    prop_assert!(!waiting.contains(s.as_str()));
                }
                prop_assert!(f.video.len() <= L.video && f.audio.len() <= L.audio);
            }
        }
    }
}

//! Speaker and microphone volume and mute through the ALSA mixer.
//!
//! Which mixer element is "the speaker" differs by device (a USB
//! speakerphone has `PCM`, a laptop codec `Master`, `Speaker` and `PCM`);
//! [`pick`] chooses, and the tests check the choice against recorded
//! `amixer scontents` of real cards. [`AlsaMixer`] is the real mixer (the
//! alsa crate).

use serde::Serialize;

use super::DeviceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    Playback,
    Capture,
}

/// One simple mixer element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Element {
    pub name: String,
    pub index: u32,
    pub playback_range: Option<(i64, i64)>,
    pub playback_switch: bool,
    pub capture_range: Option<(i64, i64)>,
    pub capture_switch: bool,
}

/// What the room needs from a sound card's mixer.
pub trait Mixer {
    fn elements(&self) -> Result<Vec<Element>, DeviceError>;
    /// Raw volume of an element (the first channel).
    fn volume(&self, name: &str, dir: Direction) -> Result<i64, DeviceError>;
    fn set_volume(&self, name: &str, dir: Direction, raw: i64) -> Result<(), DeviceError>;
    /// `true` when the element's switch is on (sound passes).
    fn switch(&self, name: &str, dir: Direction) -> Result<bool, DeviceError>;
    fn set_switch(&self, name: &str, dir: Direction, on: bool) -> Result<(), DeviceError>;
}

const PLAYBACK_PREFERENCE: [&str; 6] = [
    "Master",
    "Speaker",
    "PCM",
    "Headset",
    "Headphone",
    "Playback",
];
const CAPTURE_PREFERENCE: [&str; 5] = ["Mic", "Capture", "Headset", "Microphone", "Internal Mic"];

/// The element that sets this direction's volume: the first of the usual
/// names that has a volume, else any element that has one.
pub fn pick(elements: &[Element], dir: Direction) -> Option<&Element> {
    let has = |e: &Element| match dir {
        Direction::Playback => e.playback_range.is_some(),
        Direction::Capture => e.capture_range.is_some(),
    };
    let prefs: &[&str] = match dir {
        Direction::Playback => &PLAYBACK_PREFERENCE,
        Direction::Capture => &CAPTURE_PREFERENCE,
    };
    prefs
        .iter()
        .find_map(|p| elements.iter().find(|e| e.name == *p && has(e)))
        .or_else(|| {
            elements
                .iter()
                .find(|e| has(e) && !e.name.contains("Boost"))
        })
}

fn range(e: &Element, dir: Direction) -> (i64, i64) {
    match dir {
        Direction::Playback => e.playback_range.unwrap_or((0, 0)),
        Direction::Capture => e.capture_range.unwrap_or((0, 0)),
    }
}

fn none(dir: Direction) -> DeviceError {
    DeviceError::NotFound {
        key: if dir == Direction::Playback {
            "speaker"
        } else {
            "microphone"
        },
        value: "mixer".into(),
        problem: "the sound card has no volume control for this".into(),
    }
}

/// Sets volume 0 to 100 on the chosen element.
pub fn set_percent(m: &dyn Mixer, dir: Direction, percent: u8) -> Result<(), DeviceError> {
    let els = m.elements()?;
    let e = pick(&els, dir).ok_or_else(|| none(dir))?;
    let (lo, hi) = range(e, dir);
    let raw = lo + ((hi - lo) as f64 * percent.min(100) as f64 / 100.0).round() as i64;
    m.set_volume(&e.name, dir, raw)
}

/// The volume 0 to 100 of the chosen element.
pub fn percent(m: &dyn Mixer, dir: Direction) -> Result<u8, DeviceError> {
    let els = m.elements()?;
    let e = pick(&els, dir).ok_or_else(|| none(dir))?;
    let (lo, hi) = range(e, dir);
    let raw = m.volume(&e.name, dir)?;
    if hi <= lo {
        return Ok(0);
    }
    Ok((((raw - lo) as f64 / (hi - lo) as f64) * 100.0)
        .round()
        .clamp(0.0, 100.0) as u8)
}

/// Mutes or unmutes with the element's switch when it has one.
pub fn set_muted(m: &dyn Mixer, dir: Direction, muted: bool) -> Result<(), DeviceError> {
    let els = m.elements()?;
    let has_switch = |e: &&Element| match dir {
        Direction::Playback => e.playback_switch,
        Direction::Capture => e.capture_switch,
    };
    let e = pick(&els, dir)
        .filter(has_switch)
        .or_else(|| els.iter().find(has_switch))
        .ok_or_else(|| none(dir))?;
    m.set_switch(&e.name, dir, !muted)
}

/// Words in the names of playback switches that route an input into the
/// output mix (a microphone or line-in on the speaker would howl) or make
/// noises of their own: never switched on by dais.
const NOT_OUTPUTS: [&str; 10] = [
    "Mic", "Line", "Beep", "Loopback", "Capture", "CD", "Aux", "Phone", "Video", "Input",
];

/// The playback switches that carry the room's sound out: every element
/// with a playback switch but those that feed an input or a beep in.
pub fn output_switches(elements: &[Element]) -> Vec<&Element> {
    elements
        .iter()
        .filter(|e| e.playback_switch)
        .filter(|e| !NOT_OUTPUTS.iter().any(|w| e.name.contains(w)))
        .collect()
}

/// Turns every output switch on (codecs often come up muted, and the
/// chain from the DAC to the jack may have several). Returns how many.
pub fn unmute_outputs(m: &dyn Mixer) -> Result<usize, DeviceError> {
    let els = m.elements()?;
    let outs = output_switches(&els);
    for e in &outs {
        m.set_switch(&e.name, Direction::Playback, true)?;
    }
    Ok(outs.len())
}

/// The ALSA card name for a PCM such as `plughw:CARD=Speakerphone,DEV=0`.
pub fn card_of(pcm: &str) -> Option<String> {
    let rest = pcm.split_once("CARD=")?.1;
    let card = rest.split(',').next()?;
    (!card.is_empty()).then(|| format!("hw:CARD={card}"))
}

/// An ALSA card's mixer.
pub struct AlsaMixer {
    mixer: alsa::mixer::Mixer,
    card: String,
}

impl AlsaMixer {
    /// Opens `hw:CARD=<id>`.
    pub fn open(card: &str) -> Result<Self, DeviceError> {
        let mixer = alsa::mixer::Mixer::new(card, false).map_err(|e| DeviceError::NotFound {
            key: "speaker.card",
            value: card.into(),
            problem: format!("cannot open the mixer: {e}"),
        })?;
        Ok(Self {
            mixer,
            card: card.into(),
        })
    }

    fn selem(&self, name: &str) -> Result<alsa::mixer::Selem<'_>, DeviceError> {
        self.mixer
            .find_selem(&alsa::mixer::SelemId::new(name, 0))
            .ok_or_else(|| DeviceError::NotFound {
                key: "mixer",
                value: format!("{} {name}", self.card),
                problem: "no such mixer element".into(),
            })
    }

    fn err(&self, e: alsa::Error) -> DeviceError {
        DeviceError::NotFound {
            key: "mixer",
            value: self.card.clone(),
            problem: e.to_string(),
        }
    }
}

impl Mixer for AlsaMixer {
    fn elements(&self) -> Result<Vec<Element>, DeviceError> {
        let mut out = Vec::new();
        for elem in self.mixer.iter() {
            let Some(s) = alsa::mixer::Selem::new(elem) else {
                continue;
            };
            let id = s.get_id();
            out.push(Element {
                name: id.get_name().unwrap_or("").to_string(),
                index: id.get_index(),
                playback_range: s
                    .has_playback_volume()
                    .then(|| s.get_playback_volume_range()),
                playback_switch: s.has_playback_switch(),
                capture_range: s.has_capture_volume().then(|| s.get_capture_volume_range()),
                capture_switch: s.has_capture_switch(),
            });
        }
        Ok(out)
    }

    fn volume(&self, name: &str, dir: Direction) -> Result<i64, DeviceError> {
        let s = self.selem(name)?;
        let ch = alsa::mixer::SelemChannelId::mono();
        match dir {
            Direction::Playback => s.get_playback_volume(ch),
            Direction::Capture => s.get_capture_volume(ch),
        }
        .map_err(|e| self.err(e))
    }

    fn set_volume(&self, name: &str, dir: Direction, raw: i64) -> Result<(), DeviceError> {
        let s = self.selem(name)?;
        match dir {
            Direction::Playback => s.set_playback_volume_all(raw),
            Direction::Capture => s.set_capture_volume_all(raw),
        }
        .map_err(|e| self.err(e))
    }

    fn switch(&self, name: &str, dir: Direction) -> Result<bool, DeviceError> {
        let s = self.selem(name)?;
        let ch = alsa::mixer::SelemChannelId::mono();
        match dir {
            Direction::Playback => s.get_playback_switch(ch),
            Direction::Capture => s.get_capture_switch(ch),
        }
        .map(|v| v != 0)
        .map_err(|e| self.err(e))
    }

    fn set_switch(&self, name: &str, dir: Direction, on: bool) -> Result<(), DeviceError> {
        let s = self.selem(name)?;
        match dir {
            Direction::Playback => s.set_playback_switch_all(i32::from(on)),
            Direction::Capture => s.set_capture_switch_all(i32::from(on)),
        }
        .map_err(|e| self.err(e))
    }
}

/// Reads `amixer scontents` output: recorded mixers of real cards, with
/// each element's current raw values, for tests and field diagnostics.
pub fn parse_amixer(text: &str) -> Vec<(Element, Option<i64>, Option<bool>)> {
    let mut out: Vec<(Element, Option<i64>, Option<bool>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Simple mixer control '") {
            let Some((name, idx)) = rest.rsplit_once("',") else {
                continue;
            };
            out.push((
                Element {
                    name: name.to_string(),
                    index: idx.trim().parse().unwrap_or(0),
                    playback_range: None,
                    playback_switch: false,
                    capture_range: None,
                    capture_switch: false,
                },
                None,
                None,
            ));
            continue;
        }
        let Some((e, value, switch)) = out.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(caps) = t.strip_prefix("Capabilities:") {
            let caps: Vec<&str> = caps.split_whitespace().collect();
            e.playback_switch = caps.iter().any(|c| c.starts_with("pswitch"));
            e.capture_switch = caps.iter().any(|c| c.starts_with("cswitch"));
            e.playback_range = caps
                .iter()
                .any(|c| c.starts_with("pvolume"))
                .then_some((0, 0));
            e.capture_range = caps
                .iter()
                .any(|c| c.starts_with("cvolume"))
                .then_some((0, 0));
        } else if let Some(l) = t.strip_prefix("Limits:") {
            let nums: Vec<i64> = l
                .split(|c: char| !c.is_ascii_digit() && c != '-')
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [lo, hi] = nums[..] {
                if e.playback_range.is_some() {
                    e.playback_range = Some((lo, hi));
                }
                if e.capture_range.is_some() {
                    e.capture_range = Some((lo, hi));
                }
            }
        } else if (t.starts_with("Mono:") || t.starts_with("Front Left:")) && value.is_none() {
            let after = t.split_once(':').map(|x| x.1).unwrap_or("");
            *value = after.split_whitespace().find_map(|w| w.parse::<i64>().ok());
            if after.contains("[on]") {
                *switch = Some(true);
            } else if after.contains("[off]") {
                *switch = Some(false);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A mixer replaying recorded `amixer scontents`.
    struct Recorded {
        els: Vec<Element>,
        vol: RefCell<HashMap<String, i64>>,
        sw: RefCell<HashMap<String, bool>>,
    }

    impl Recorded {
        fn new(text: &str) -> Self {
            let p = parse_amixer(text);
            Self {
                els: p.iter().map(|(e, _, _)| e.clone()).collect(),
                vol: RefCell::new(
                    p.iter()
                        .filter_map(|(e, v, _)| v.map(|v| (e.name.clone(), v)))
                        .collect(),
                ),
                sw: RefCell::new(
                    p.iter()
                        .filter_map(|(e, _, s)| s.map(|s| (e.name.clone(), s)))
                        .collect(),
                ),
            }
        }
    }

    impl Mixer for Recorded {
        fn elements(&self) -> Result<Vec<Element>, DeviceError> {
            Ok(self.els.clone())
        }
        fn volume(&self, name: &str, _: Direction) -> Result<i64, DeviceError> {
            Ok(self.vol.borrow()[name])
        }
        fn set_volume(&self, name: &str, dir: Direction, raw: i64) -> Result<(), DeviceError> {
            let e = self.els.iter().find(|e| e.name == name).unwrap();
            let (lo, hi) = range(e, dir);
            assert!((lo..=hi).contains(&raw), "{name}: {raw} outside {lo}..{hi}");
            self.vol.borrow_mut().insert(name.into(), raw);
            Ok(())
        }
        fn switch(&self, name: &str, _: Direction) -> Result<bool, DeviceError> {
            Ok(self.sw.borrow()[name])
        }
        fn set_switch(&self, name: &str, _: Direction, on: bool) -> Result<(), DeviceError> {
            self.sw.borrow_mut().insert(name.into(), on);
            Ok(())
        }
    }

    const JABRA: &str = include_str!("../../tests/data/alsa/jabra-speak-510.txt");
    const PCH: &str = include_str!("../../tests/data/alsa/hda-intel-pch.txt");

    #[test]
    fn outputs_are_unmuted_and_inputs_into_the_mix_are_left_alone() {
        // The laptop codec, plus the analog loop-through and beep controls
        // many desktop codecs have.
        let text = format!(
            "{PCH}Simple mixer control 'Mic',0\n  Capabilities: pvolume pswitch\n  Playback channels: Front Left - Front Right\n  Limits: Playback 0 - 31\n  Front Left: Playback 0 [0%] [off]\n  Front Right: Playback 0 [0%] [off]\nSimple mixer control 'Beep',0\n  Capabilities: pvolume pvolume-joined pswitch pswitch-joined\n  Playback channels: Mono\n  Limits: Playback 0 - 7\n  Mono: Playback 0 [0%] [off]\n"
        );
        let m = Recorded::new(&text);
        assert!(m.els.iter().any(|e| e.name == "Mic" && e.playback_switch));
        for e in &m.els {
            if e.playback_switch {
                m.set_switch(&e.name, Direction::Playback, false).unwrap();
            }
        }
        let n = unmute_outputs(&m).unwrap();
        let sw = m.sw.borrow();
        assert!(n >= 2, "{sw:?}");
        for name in ["Master", "Speaker", "Headphone"] {
            if sw.contains_key(name) {
                assert!(sw[name], "{name} still muted: {sw:?}");
            }
        }
        assert!(
            !sw["Mic"] && !sw["Beep"],
            "an input or beep switched on: {sw:?}"
        );
    }

    #[test]
    fn the_right_element_is_picked_on_each_card() {
        let j = Recorded::new(JABRA);
        assert_eq!(pick(&j.els, Direction::Playback).unwrap().name, "PCM");
        assert_eq!(pick(&j.els, Direction::Capture).unwrap().name, "Mic");
        let p = Recorded::new(PCH);
        assert_eq!(pick(&p.els, Direction::Playback).unwrap().name, "Master");
        assert_eq!(pick(&p.els, Direction::Capture).unwrap().name, "Capture");
    }

    #[test]
    fn volume_maps_onto_the_raw_range_and_reads_back() {
        let j = Recorded::new(JABRA);
        assert_eq!(percent(&j, Direction::Playback).unwrap(), 55);
        set_percent(&j, Direction::Playback, 100).unwrap();
        assert_eq!(j.vol.borrow()["PCM"], 11);
        set_percent(&j, Direction::Playback, 30).unwrap();
        assert_eq!(j.vol.borrow()["PCM"], 3);
        assert_eq!(percent(&j, Direction::Playback).unwrap(), 27);
        set_percent(&j, Direction::Capture, 0).unwrap();
        assert_eq!(j.vol.borrow()["Mic"], 0);
    }

    #[test]
    fn mute_uses_the_switch() {
        let j = Recorded::new(JABRA);
        set_muted(&j, Direction::Capture, true).unwrap();
        assert!(!j.sw.borrow()["Mic"]);
        set_muted(&j, Direction::Playback, true).unwrap();
        assert!(!j.sw.borrow()["PCM"]);
        // PCM on the laptop has no switch: Master's is used.
        let p = Recorded::new(PCH);
        set_muted(&p, Direction::Playback, true).unwrap();
        assert!(!p.sw.borrow()["Master"]);
    }

    #[test]
    fn card_names_come_from_pcm_names() {
        assert_eq!(
            card_of("plughw:CARD=Speakerphone,DEV=0").as_deref(),
            Some("hw:CARD=Speakerphone")
        );
        assert_eq!(card_of("null"), None);
    }
}

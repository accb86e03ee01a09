//! Devices: finding the camera, microphone, speaker and display a hardware
//! profile names, and listing what the machine has.
//!
//! Selection ([`select`]) turns the profile's stable identifiers into
//! concrete targets the media engine builds pipelines for; it reads sysfs and
//! procfs through [`sysfs::Root`] so it is tested against recorded trees.
//! [`monitor`] asks GStreamer's device monitor what it sees.
//!
//! Invariant: pipelines are built from [`Selection`], never from device
//! names written in code.

pub mod camera;
pub mod drm;
pub mod mixer;
pub mod monitor;
pub mod sysfs;

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{
    AudioSinkKind, AudioSourceKind, CameraSettings, DisplaySettings, DisplaySinkKind,
    MicrophoneSettings, Settings, SpeakerSettings, VideoSourceKind, parse_usb_id,
};
use sysfs::Root;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    #[error("{key} = {value:?}: {problem}")]
    NotFound {
        key: &'static str,
        value: String,
        problem: String,
    },
}

/// What the camera pipeline reads from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CameraTarget {
    Test { pattern: String },
    V4l2 { device: PathBuf, name: String },
    Element { factory: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MicrophoneTarget {
    Test {
        wave: String,
        frequency_hz: f64,
    },
    Alsa {
        device: String,
        card: Option<String>,
    },
    Element {
        factory: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SpeakerTarget {
    Alsa {
        device: String,
        card: Option<String>,
    },
    Fake,
    Element {
        factory: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DisplayTarget {
    Appsink,
    Kms {
        drm_device: Option<PathBuf>,
        connector: String,
        connector_id: Option<u32>,
    },
    Window,
    Fake,
    Element {
        factory: String,
    },
}

/// The devices a profile selected, and how each was found (for `dais
/// devices`, `getHardware` and the panel's settings screen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub camera: CameraTarget,
    /// The second video source, when the profile has one.
    pub content: Option<CameraTarget>,
    pub microphone: MicrophoneTarget,
    pub speaker: SpeakerTarget,
    pub display: DisplayTarget,
}

impl std::fmt::Display for CameraTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraTarget::Test { pattern } => {
                write!(f, "test pattern \"{pattern}\" (videotestsrc)")
            }
            CameraTarget::V4l2 { device, name } => {
                write!(f, "{} \"{name}\" (v4l2src)", device.display())
            }
            CameraTarget::Element { factory } => write!(f, "GStreamer element {factory}"),
        }
    }
}

impl std::fmt::Display for MicrophoneTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MicrophoneTarget::Test { wave, frequency_hz } => {
                write!(f, "test tone {wave} {frequency_hz} Hz (audiotestsrc)")
            }
            MicrophoneTarget::Alsa { device, card } => match card {
                Some(c) => write!(f, "ALSA {device} \"{c}\" (alsasrc)"),
                None => write!(f, "ALSA {device} (alsasrc)"),
            },
            MicrophoneTarget::Element { factory } => write!(f, "GStreamer element {factory}"),
        }
    }
}

impl std::fmt::Display for SpeakerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpeakerTarget::Alsa { device, card } => match card {
                Some(c) => write!(f, "ALSA {device} \"{c}\" (alsasink)"),
                None => write!(f, "ALSA {device} (alsasink)"),
            },
            SpeakerTarget::Fake => f.write_str("discarded (fakesink)"),
            SpeakerTarget::Element { factory } => write!(f, "GStreamer element {factory}"),
        }
    }
}

impl std::fmt::Display for DisplayTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisplayTarget::Appsink => f.write_str("in memory, for the panel and tests (appsink)"),
            DisplayTarget::Kms {
                drm_device,
                connector,
                connector_id,
            } => {
                write!(f, "{connector}")?;
                if let Some(id) = connector_id {
                    write!(f, " (connector {id})")?;
                }
                if let Some(d) = drm_device {
                    write!(f, " on {}", d.display())?;
                }
                f.write_str(" (kmssink)")
            }
            DisplayTarget::Window => f.write_str("a desktop window (ximagesink)"),
            DisplayTarget::Fake => f.write_str("discarded (fakesink)"),
            DisplayTarget::Element { factory } => write!(f, "GStreamer element {factory}"),
        }
    }
}

/// Resolves every device the settings name. All problems are returned.
pub fn select(settings: &Settings, root: &Root) -> Result<Selection, Vec<DeviceError>> {
    let camera = select_camera(&settings.camera, root);
    let content: Result<Option<CameraTarget>, DeviceError> = match settings.content.source {
        VideoSourceKind::None => Ok(None),
        // A content device that is missing must not stop the room.
        _ => Ok(select_camera(&settings.content, root)
            .map_err(|e| {
                tracing::warn!(error = %e, "content source not present; sharing is off");
            })
            .ok()),
    };
    let microphone = select_microphone(&settings.microphone, root);
    let speaker = select_speaker(&settings.speaker, root);
    let display = select_display(&settings.display, root);
    match (camera, content, microphone, speaker, display) {
        (Ok(camera), Ok(content), Ok(microphone), Ok(speaker), Ok(display)) => Ok(Selection {
            camera,
            content,
            microphone,
            speaker,
            display,
        }),
        (c, _, m, s, d) => Err([c.err(), m.err(), s.err(), d.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

pub fn select_camera(c: &CameraSettings, root: &Root) -> Result<CameraTarget, DeviceError> {
    match c.source {
        VideoSourceKind::None => Err(DeviceError::NotFound {
            key: "camera.source",
            value: "none".into(),
            problem: "no video source configured".into(),
        }),
        VideoSourceKind::Test => Ok(CameraTarget::Test {
            pattern: c.pattern.clone(),
        }),
        VideoSourceKind::Element => Ok(CameraTarget::Element {
            factory: c.element.clone().unwrap_or_default(),
        }),
        VideoSourceKind::V4l2 => {
            let nodes = sysfs::v4l2_nodes(root);
            let name_of = |dev: &PathBuf| {
                nodes
                    .iter()
                    .find(|n| &n.dev == dev)
                    .map(|n| n.name.clone())
                    .unwrap_or_default()
            };
            if let Some(path) = &c.device {
                let dev = sysfs::resolve_dev_path(root, path).ok_or(DeviceError::NotFound {
                    key: "camera.device",
                    value: path.clone(),
                    problem: "no such device (is the camera plugged in?)".into(),
                })?;
                return Ok(CameraTarget::V4l2 {
                    name: name_of(&dev),
                    device: dev,
                });
            }
            if let Some(id) = &c.usb_id {
                let want = parse_usb_id(id);
                let node = nodes
                    .iter()
                    .find(|n| n.index == 0 && n.usb_id.is_some() && n.usb_id == want)
                    .ok_or(DeviceError::NotFound {
                        key: "camera.usb_id",
                        value: id.clone(),
                        problem: format!(
                            "no V4L2 camera with this USB id; present: {}",
                            describe_nodes(&nodes)
                        ),
                    })?;
                return Ok(CameraTarget::V4l2 {
                    device: node.dev.clone(),
                    name: node.name.clone(),
                });
            }
            let name = c.name.clone().unwrap_or_default();
            let lname = name.to_lowercase();
            let node = nodes
                .iter()
                .find(|n| n.index == 0 && n.name.to_lowercase().contains(&lname))
                .ok_or(DeviceError::NotFound {
                    key: "camera.name",
                    value: name.clone(),
                    problem: format!(
                        "no V4L2 camera with this name; present: {}",
                        describe_nodes(&nodes)
                    ),
                })?;
            Ok(CameraTarget::V4l2 {
                device: node.dev.clone(),
                name: node.name.clone(),
            })
        }
    }
}

fn describe_nodes(nodes: &[sysfs::V4l2Node]) -> String {
    let list: Vec<_> = nodes
        .iter()
        .filter(|n| n.index == 0)
        .map(|n| match n.usb_id {
            Some((v, p)) => format!("{} \"{}\" {v:04x}:{p:04x}", n.dev.display(), n.name),
            None => format!("{} \"{}\"", n.dev.display(), n.name),
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Picks an ALSA PCM from `device`, `usb_id` or `card`, in that order.
fn select_alsa(
    section: &'static str,
    card: &Option<String>,
    usb_id: &Option<String>,
    device: &Option<String>,
    root: &Root,
) -> Result<(String, Option<String>), DeviceError> {
    if let Some(d) = device {
        return Ok((d.clone(), None));
    }
    let cards = sysfs::alsa_cards(root);
    let present = || {
        if cards.is_empty() {
            "none".to_string()
        } else {
            cards
                .iter()
                .map(|c| format!("{} ({})", c.id, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let found = if let Some(id) = usb_id {
        let want = parse_usb_id(id);
        cards
            .iter()
            .find(|c| c.usb_id.is_some() && c.usb_id == want)
            .ok_or_else(|| DeviceError::NotFound {
                key: if section == "microphone" {
                    "microphone.usb_id"
                } else {
                    "speaker.usb_id"
                },
                value: id.clone(),
                problem: format!("no ALSA card with this USB id; present: {}", present()),
            })?
    } else {
        let want = card.clone().unwrap_or_default();
        cards
            .iter()
            .find(|c| c.id == want)
            .or_else(|| {
                let w = want.to_lowercase();
                cards.iter().find(|c| c.name.to_lowercase().contains(&w))
            })
            .ok_or_else(|| DeviceError::NotFound {
                key: if section == "microphone" {
                    "microphone.card"
                } else {
                    "speaker.card"
                },
                value: want.clone(),
                problem: format!("no ALSA card with this id or name; present: {}", present()),
            })?
    };
    // plughw converts rate and format, so a 44.1 kHz device still works.
    Ok((
        format!("plughw:CARD={},DEV=0", found.id),
        Some(found.name.clone()),
    ))
}

pub fn select_microphone(
    m: &MicrophoneSettings,
    root: &Root,
) -> Result<MicrophoneTarget, DeviceError> {
    match m.source {
        AudioSourceKind::Test => Ok(MicrophoneTarget::Test {
            wave: m.wave.clone(),
            frequency_hz: m.frequency_hz,
        }),
        AudioSourceKind::Element => Ok(MicrophoneTarget::Element {
            factory: m.element.clone().unwrap_or_default(),
        }),
        AudioSourceKind::Alsa => {
            let (device, card) = select_alsa("microphone", &m.card, &m.usb_id, &m.device, root)?;
            Ok(MicrophoneTarget::Alsa { device, card })
        }
    }
}

pub fn select_speaker(s: &SpeakerSettings, root: &Root) -> Result<SpeakerTarget, DeviceError> {
    match s.sink {
        AudioSinkKind::Fake => Ok(SpeakerTarget::Fake),
        AudioSinkKind::Element => Ok(SpeakerTarget::Element {
            factory: s.element.clone().unwrap_or_default(),
        }),
        AudioSinkKind::Alsa => {
            let (device, card) = select_alsa("speaker", &s.card, &s.usb_id, &s.device, root)?;
            Ok(SpeakerTarget::Alsa { device, card })
        }
    }
}

pub fn select_display(d: &DisplaySettings, root: &Root) -> Result<DisplayTarget, DeviceError> {
    match d.sink {
        DisplaySinkKind::Appsink => Ok(DisplayTarget::Appsink),
        DisplaySinkKind::Window => Ok(DisplayTarget::Window),
        DisplaySinkKind::Fake => Ok(DisplayTarget::Fake),
        DisplaySinkKind::Element => Ok(DisplayTarget::Element {
            factory: d.element.clone().unwrap_or_default(),
        }),
        DisplaySinkKind::Kms => {
            let connector = d.connector.clone().unwrap_or_default();
            let drm_device = match &d.drm_device {
                Some(p) => Some(
                    sysfs::resolve_dev_path(root, p).ok_or(DeviceError::NotFound {
                        key: "display.drm_device",
                        value: p.clone(),
                        problem: "no such DRM device".into(),
                    })?,
                ),
                None => None,
            };
            // The card the connector must be on, when the device is named.
            let card = drm_device
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|f| f.to_string_lossy().to_string());
            let connectors = sysfs::drm_connectors(root);
            let found = connectors
                .iter()
                .find(|c| c.name == connector && card.as_ref().is_none_or(|k| &c.card == k))
                .ok_or_else(|| DeviceError::NotFound {
                    key: "display.connector",
                    value: connector.clone(),
                    problem: format!(
                        "no such DRM connector; present: {}",
                        if connectors.is_empty() {
                            "none".to_string()
                        } else {
                            connectors
                                .iter()
                                .map(|c| format!("{}-{} ({})", c.card, c.name, c.status))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                })?;
            Ok(DisplayTarget::Kms {
                drm_device: drm_device
                    .or_else(|| Some(PathBuf::from("/dev/dri").join(&found.card))),
                connector,
                connector_id: found.id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = t.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        t
    }

    #[test]
    fn virtual_profile_needs_no_hardware() {
        let t = root_with(&[]);
        let mut s = Settings::default();
        s.speaker.sink = AudioSinkKind::Alsa;
        s.speaker.device = Some("null".into());
        let sel = select(&s, &Root(t.path().into())).unwrap();
        assert_eq!(
            sel.camera,
            CameraTarget::Test {
                pattern: "smpte".into()
            }
        );
        assert_eq!(
            sel.speaker,
            SpeakerTarget::Alsa {
                device: "null".into(),
                card: None
            }
        );
    }

    #[test]
    fn alsa_card_by_usb_id_and_by_name() {
        let t = root_with(&[
            (
                "proc/asound/cards",
                " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n 1 [Speakerphone   ]: USB-Audio - Jabra SPEAK 510 USB\n",
            ),
            ("proc/asound/card1/usbid", "0b0e:0412\n"),
        ]);
        let root = Root(t.path().into());
        let mut m = MicrophoneSettings {
            source: AudioSourceKind::Alsa,
            usb_id: Some("0b0e:0412".into()),
            ..Default::default()
        };
        assert_eq!(
            select_microphone(&m, &root).unwrap(),
            MicrophoneTarget::Alsa {
                device: "plughw:CARD=Speakerphone,DEV=0".into(),
                card: Some("Jabra SPEAK 510 USB".into())
            }
        );
        m.usb_id = None;
        m.card = Some("jabra".into());
        assert!(matches!(
            select_microphone(&m, &root).unwrap(),
            MicrophoneTarget::Alsa { .. }
        ));
        m.card = Some("Poly".into());
        let e = select_microphone(&m, &root).unwrap_err();
        assert!(e.to_string().contains("microphone.card"), "{e}");
        assert!(e.to_string().contains("Speakerphone (Jabra"), "{e}");
    }

    #[test]
    fn missing_camera_names_the_key_and_what_is_present() {
        let t = root_with(&[]);
        let c = CameraSettings {
            source: VideoSourceKind::V4l2,
            usb_id: Some("046d:085e".into()),
            ..Default::default()
        };
        let e = select_camera(&c, &Root(t.path().into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "camera.usb_id = \"046d:085e\": no V4L2 camera with this USB id; present: none"
        );
    }

    #[test]
    fn kms_connector_resolves_to_its_id() {
        let t = root_with(&[
            ("sys/class/drm/card0-HDMI-A-1/status", "connected"),
            ("sys/class/drm/card0-HDMI-A-1/connector_id", "42"),
        ]);
        let d = DisplaySettings {
            sink: DisplaySinkKind::Kms,
            connector: Some("HDMI-A-1".into()),
            ..Default::default()
        };
        assert_eq!(
            select_display(&d, &Root(t.path().into())).unwrap(),
            DisplayTarget::Kms {
                drm_device: Some(PathBuf::from("/dev/dri/card0")),
                connector: "HDMI-A-1".into(),
                connector_id: Some(42)
            }
        );
    }
}

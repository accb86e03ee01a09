//! Camera control: pan, tilt, zoom, focus and exposure through V4L2
//! controls, and presets 1 to 35 as room systems offer them.
//!
//! The logic talks to a [`CameraControl`]; [`V4lCamera`] is the real one
//! (the v4l crate on `/dev/video*`), and the tests use recorded control
//! lists of real cameras.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DeviceError;

/// V4L2 control ids (linux/v4l2-controls.h).
pub mod cid {
    pub const EXPOSURE_AUTO: u32 = 0x009a_0901;
    pub const EXPOSURE_ABSOLUTE: u32 = 0x009a_0902;
    pub const PAN_ABSOLUTE: u32 = 0x009a_0908;
    pub const TILT_ABSOLUTE: u32 = 0x009a_0909;
    pub const FOCUS_ABSOLUTE: u32 = 0x009a_090a;
    pub const FOCUS_AUTO: u32 = 0x009a_090c;
    pub const ZOOM_ABSOLUTE: u32 = 0x009a_090d;
}

/// The controls a preset remembers, in the order they are restored
/// (automatic modes before the values they govern).
pub const PRESET_CONTROLS: [u32; 7] = [
    cid::FOCUS_AUTO,
    cid::EXPOSURE_AUTO,
    cid::PAN_ABSOLUTE,
    cid::TILT_ABSOLUTE,
    cid::ZOOM_ABSOLUTE,
    cid::FOCUS_ABSOLUTE,
    cid::EXPOSURE_ABSOLUTE,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ControlKind {
    Integer,
    Boolean,
    Menu,
    Button,
    Other,
}

/// One control as the camera describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlInfo {
    pub id: u32,
    pub name: String,
    pub kind: ControlKind,
    pub min: i64,
    pub max: i64,
    pub step: u64,
    pub default: i64,
    /// Currently without effect (e.g. focus while autofocus is on).
    pub inactive: bool,
}

/// What the room needs from a camera's controls.
pub trait CameraControl {
    fn controls(&self) -> Result<Vec<ControlInfo>, DeviceError>;
    fn get(&self, id: u32) -> Result<i64, DeviceError>;
    fn set(&self, id: u32, value: i64) -> Result<(), DeviceError>;
}

/// A stored preset: control id → value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Preset(pub BTreeMap<u32, i64>);

pub const PRESETS: std::ops::RangeInclusive<u8> = 1..=35;

/// Whether the camera can pan, tilt or zoom at all.
pub fn has_ptz(controls: &[ControlInfo]) -> bool {
    controls
        .iter()
        .any(|c| [cid::PAN_ABSOLUTE, cid::TILT_ABSOLUTE, cid::ZOOM_ABSOLUTE].contains(&c.id))
}

fn snap(c: &ControlInfo, v: i64) -> i64 {
    let v = v.clamp(c.min, c.max);
    let step = c.step.max(1) as i64;
    let snapped = c.min + ((v - c.min) + step / 2) / step * step;
    snapped.clamp(c.min, c.max)
}

/// A control's name as a key: lower case, words joined by `_`
/// ("Focus, Absolute" and `focus_absolute` are the same key).
pub fn control_key(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// The control `key` names: its id (decimal or `0x...`) or its name in
/// any spelling [`control_key`] accepts.
pub fn find_control<'a>(controls: &'a [ControlInfo], key: &str) -> Option<&'a ControlInfo> {
    let key = key.trim();
    let id = key
        .strip_prefix("0x")
        .map(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| key.parse().ok());
    let name = control_key(key);
    controls
        .iter()
        .find(|c| Some(c.id) == id || control_key(&c.name) == name)
}

/// Whether `value` is one the control takes; the message says what it takes.
pub fn check_value(c: &ControlInfo, value: i64) -> Result<(), String> {
    match c.kind {
        ControlKind::Button => Err(format!("{} is a button, not a value", c.name)),
        ControlKind::Other => Err(format!("{} is not a number control", c.name)),
        _ if value < c.min || value > c.max => Err(format!(
            "{} takes {} to {}, got {value}",
            c.name, c.min, c.max
        )),
        _ if c.step > 1 && (value - c.min) % c.step as i64 != 0 => Err(format!(
            "{} moves in steps of {} from {}, got {value}",
            c.name, c.step, c.min
        )),
        _ => Ok(()),
    }
}

/// Moves pan, tilt and zoom by fractions of their range (-1.0 to 1.0).
/// Axes the camera lacks are skipped; asking only for those is an error.
pub fn move_relative(
    cam: &dyn CameraControl,
    pan: f32,
    tilt: f32,
    zoom: f32,
) -> Result<(), DeviceError> {
    let controls = cam.controls()?;
    let mut moved = false;
    let mut missing = Vec::new();
    for (id, delta, name) in [
        (cid::PAN_ABSOLUTE, pan, "pan"),
        (cid::TILT_ABSOLUTE, tilt, "tilt"),
        (cid::ZOOM_ABSOLUTE, zoom, "zoom"),
    ] {
        if delta == 0.0 {
            continue;
        }
        let Some(c) = controls.iter().find(|c| c.id == id) else {
            missing.push(name);
            continue;
        };
        let cur = cam.get(id)?;
        let range = (c.max - c.min) as f64;
        let mut target = snap(c, cur + (delta as f64 * range).round() as i64);
        // A move must move: at least one step in the asked direction.
        if target == cur && cur != if delta > 0.0 { c.max } else { c.min } {
            target = snap(c, cur + c.step.max(1) as i64 * delta.signum() as i64);
        }
        cam.set(id, target)?;
        moved = true;
    }
    if !moved && !missing.is_empty() {
        return Err(DeviceError::NotFound {
            key: "camera",
            value: missing.join(", "),
            problem: "this camera has no such control".into(),
        });
    }
    Ok(())
}

/// Captures the camera's position and settings for a preset.
pub fn capture(cam: &dyn CameraControl) -> Result<Preset, DeviceError> {
    let controls = cam.controls()?;
    let mut p = BTreeMap::new();
    for id in PRESET_CONTROLS {
        if controls.iter().any(|c| c.id == id) {
            p.insert(id, cam.get(id)?);
        }
    }
    if p.is_empty() {
        return Err(DeviceError::NotFound {
            key: "camera",
            value: "presets".into(),
            problem: "this camera has no pan, tilt, zoom, focus or exposure controls to store"
                .into(),
        });
    }
    Ok(Preset(p))
}

/// Restores a preset: automatic modes first, then the values.
pub fn recall(cam: &dyn CameraControl, preset: &Preset) -> Result<(), DeviceError> {
    let controls = cam.controls()?;
    for id in PRESET_CONTROLS {
        if let (Some(v), Some(c)) = (preset.0.get(&id), controls.iter().find(|c| c.id == id)) {
            // Values an automatic mode governs are set only when it is off.
            let governed_by = match id {
                cid::FOCUS_ABSOLUTE => Some(cid::FOCUS_AUTO),
                cid::EXPOSURE_ABSOLUTE => Some(cid::EXPOSURE_AUTO),
                _ => None,
            };
            let auto_on = governed_by.and_then(|a| preset.0.get(&a)).is_some_and(|a| {
                if id == cid::EXPOSURE_ABSOLUTE {
                    *a != 1
                } else {
                    *a != 0
                }
            });
            if !auto_on {
                cam.set(id, snap(c, *v))?;
            }
        }
    }
    Ok(())
}

/// A V4L2 camera through the v4l crate.
pub struct V4lCamera {
    dev: v4l::Device,
    path: String,
}

impl V4lCamera {
    pub fn open(path: &Path) -> Result<Self, DeviceError> {
        let p = path.display().to_string();
        let dev = v4l::Device::with_path(path).map_err(|e| io_err(&p, e))?;
        Ok(Self { dev, path: p })
    }
}

fn io_err(path: &str, e: std::io::Error) -> DeviceError {
    DeviceError::NotFound {
        key: "camera.device",
        value: path.into(),
        problem: e.to_string(),
    }
}

/// The v4l crate panics on control descriptions it cannot decode; a camera
/// must never take dais down, so such a panic becomes an error.
fn guarded<T>(path: &str, f: impl FnOnce() -> std::io::Result<T>) -> Result<T, DeviceError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| io_err(path, e)),
        Err(_) => Err(DeviceError::NotFound {
            key: "camera.device",
            value: path.into(),
            problem: "the camera reported a control dais cannot read".into(),
        }),
    }
}

impl CameraControl for V4lCamera {
    fn controls(&self) -> Result<Vec<ControlInfo>, DeviceError> {
        let list = guarded(&self.path, || self.dev.query_controls())?;
        Ok(list
            .into_iter()
            .filter(|d| d.typ != v4l::control::Type::CtrlClass)
            .map(|d| ControlInfo {
                id: d.id,
                kind: match d.typ {
                    v4l::control::Type::Integer | v4l::control::Type::Integer64 => {
                        ControlKind::Integer
                    }
                    v4l::control::Type::Boolean => ControlKind::Boolean,
                    v4l::control::Type::Menu | v4l::control::Type::IntegerMenu => ControlKind::Menu,
                    v4l::control::Type::Button => ControlKind::Button,
                    _ => ControlKind::Other,
                },
                name: d.name,
                min: d.minimum,
                max: d.maximum,
                step: d.step,
                default: d.default,
                inactive: d.flags.contains(v4l::control::Flags::INACTIVE),
            })
            .collect())
    }

    fn get(&self, id: u32) -> Result<i64, DeviceError> {
        let c = guarded(&self.path, || self.dev.control(id))?;
        Ok(match c.value {
            v4l::control::Value::Integer(v) => v,
            v4l::control::Value::Boolean(b) => i64::from(b),
            _ => 0,
        })
    }

    fn set(&self, id: u32, value: i64) -> Result<(), DeviceError> {
        let is_bool = self
            .controls()?
            .iter()
            .any(|c| c.id == id && c.kind == ControlKind::Boolean);
        let value = if is_bool {
            v4l::control::Value::Boolean(value != 0)
        } else {
            v4l::control::Value::Integer(value)
        };
        guarded(&self.path, || {
            self.dev.set_control(v4l::Control { id, value })
        })
    }
}

/// Reads `v4l2-ctl --list-ctrls` output: recorded control lists of real
/// cameras, for tests and for diagnostics pasted from the field.
pub fn parse_v4l2_ctl(text: &str) -> Vec<(ControlInfo, i64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((head, tail)) = line.split_once(':') else {
            continue;
        };
        let mut h = head.split_whitespace();
        let (Some(name), Some(id), Some(kind)) = (h.next(), h.next(), h.next()) else {
            continue;
        };
        let Some(id) = id
            .strip_prefix("0x")
            .and_then(|x| u32::from_str_radix(x, 16).ok())
        else {
            continue;
        };
        let mut f = BTreeMap::new();
        let mut inactive = false;
        for kv in tail.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                if k == "flags" {
                    inactive = v.contains("inactive");
                } else if let Ok(n) = v.parse::<i64>() {
                    f.insert(k, n);
                }
            }
        }
        let kind = match kind.trim_matches(|c| c == '(' || c == ')') {
            "int" | "int64" => ControlKind::Integer,
            "bool" => ControlKind::Boolean,
            "menu" | "intmenu" => ControlKind::Menu,
            "button" => ControlKind::Button,
            _ => ControlKind::Other,
        };
        let (min, max) = match kind {
            ControlKind::Boolean => (0, 1),
            _ => (
                f.get("min").copied().unwrap_or(0),
                f.get("max").copied().unwrap_or(0),
            ),
        };
        out.push((
            ControlInfo {
                id,
                name: name.to_string(),
                kind,
                min,
                max,
                step: f.get("step").copied().unwrap_or(1).max(1) as u64,
                default: f.get("default").copied().unwrap_or(0),
                inactive,
            },
            f.get("value").copied().unwrap_or(0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A camera replaying a recorded control list.
    struct Recorded {
        controls: Vec<ControlInfo>,
        values: RefCell<BTreeMap<u32, i64>>,
    }

    impl Recorded {
        fn new(text: &str) -> Self {
            let parsed = parse_v4l2_ctl(text);
            Self {
                controls: parsed.iter().map(|(c, _)| c.clone()).collect(),
                values: RefCell::new(parsed.iter().map(|(c, v)| (c.id, *v)).collect()),
            }
        }
    }

    impl CameraControl for Recorded {
        fn controls(&self) -> Result<Vec<ControlInfo>, DeviceError> {
            Ok(self.controls.clone())
        }
        fn get(&self, id: u32) -> Result<i64, DeviceError> {
            self.values
                .borrow()
                .get(&id)
                .copied()
                .ok_or(DeviceError::NotFound {
                    key: "camera",
                    value: format!("{id:#x}"),
                    problem: "no such control".into(),
                })
        }
        fn set(&self, id: u32, value: i64) -> Result<(), DeviceError> {
            let c = self
                .controls
                .iter()
                .find(|c| c.id == id)
                .expect("set only existing controls");
            assert!(
                value >= c.min && value <= c.max,
                "{} out of range: {value}",
                c.name
            );
            assert_eq!(
                (value - c.min) % c.step as i64,
                0,
                "{} off its step: {value}",
                c.name
            );
            self.values.borrow_mut().insert(id, value);
            Ok(())
        }
    }

    const PTZ: &str = include_str!("../../tests/data/v4l2/logitech-ptz-pro-2.txt");
    const WEBCAM: &str = include_str!("../../tests/data/v4l2/laptop-webcam.txt");

    #[test]
    fn controls_are_found_by_id_or_any_spelling_of_their_name() {
        let list: Vec<ControlInfo> = parse_v4l2_ctl(PTZ).into_iter().map(|(c, _)| c).collect();
        let pan = find_control(&list, "pan_absolute").unwrap();
        assert_eq!(pan.id, cid::PAN_ABSOLUTE);
        assert_eq!(find_control(&list, "Pan, Absolute").unwrap().id, pan.id);
        assert_eq!(
            find_control(&list, &format!("{:#x}", pan.id)).unwrap().id,
            pan.id
        );
        assert_eq!(find_control(&list, &pan.id.to_string()).unwrap().id, pan.id);
        assert!(find_control(&list, "warp_drive").is_none());
        assert_eq!(
            control_key("  White Balance Temperature, Auto "),
            "white_balance_temperature_auto"
        );
    }

    #[test]
    fn values_outside_a_controls_range_or_step_are_named() {
        let list: Vec<ControlInfo> = parse_v4l2_ctl(PTZ).into_iter().map(|(c, _)| c).collect();
        let pan = find_control(&list, "pan_absolute").unwrap();
        assert_eq!(check_value(pan, 7200), Ok(()));
        assert_eq!(
            check_value(pan, 40000).unwrap_err(),
            "pan_absolute takes -36000 to 36000, got 40000"
        );
        assert_eq!(
            check_value(pan, 100).unwrap_err(),
            "pan_absolute moves in steps of 3600 from -36000, got 100"
        );
    }

    #[test]
    fn recorded_lists_parse() {
        let c = parse_v4l2_ctl(PTZ);
        assert_eq!(c.len(), 17);
        let pan = c.iter().find(|(c, _)| c.id == cid::PAN_ABSOLUTE).unwrap();
        assert_eq!((pan.0.min, pan.0.max, pan.0.step), (-36000, 36000, 3600));
        assert!(
            c.iter()
                .find(|(c, _)| c.name == "focus_absolute")
                .unwrap()
                .0
                .inactive
        );
        assert!(has_ptz(
            &c.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()
        ));
        assert!(!has_ptz(
            &parse_v4l2_ctl(WEBCAM)
                .into_iter()
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
        ));
    }

    #[test]
    fn moves_snap_to_steps_and_stop_at_the_ends() {
        let cam = Recorded::new(PTZ);
        move_relative(&cam, 0.1, 0.0, 0.0).unwrap();
        assert_eq!(
            cam.get(cid::PAN_ABSOLUTE).unwrap(),
            7200,
            "10% of 72000 snapped to 3600 steps"
        );
        move_relative(&cam, 0.0, -1.0, 0.5).unwrap();
        assert_eq!(cam.get(cid::TILT_ABSOLUTE).unwrap(), -36000);
        assert_eq!(cam.get(cid::ZOOM_ABSOLUTE).unwrap(), 550);
        // A tiny move still moves one step.
        move_relative(&cam, 0.001, 0.0, 0.0).unwrap();
        assert_eq!(cam.get(cid::PAN_ABSOLUTE).unwrap(), 10800);
    }

    #[test]
    fn presets_capture_and_recall_the_position() {
        let cam = Recorded::new(PTZ);
        move_relative(&cam, 0.25, 0.1, 0.3).unwrap();
        let p = capture(&cam).unwrap();
        move_relative(&cam, -1.0, -1.0, -1.0).unwrap();
        recall(&cam, &p).unwrap();
        for id in [cid::PAN_ABSOLUTE, cid::TILT_ABSOLUTE, cid::ZOOM_ABSOLUTE] {
            assert_eq!(cam.get(id).unwrap(), p.0[&id]);
        }
        // Autofocus is on in the preset: the focus value is left to it.
        assert_eq!(p.0[&cid::FOCUS_AUTO], 1);
    }

    #[test]
    fn a_webcam_without_ptz_says_so() {
        let cam = Recorded::new(WEBCAM);
        let e = move_relative(&cam, 0.1, 0.0, 0.0).unwrap_err();
        assert!(e.to_string().contains("pan"), "{e}");
        // Exposure is still worth a preset.
        assert!(capture(&cam).unwrap().0.contains_key(&cid::EXPOSURE_AUTO));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_v4l2_ctl("nonsense\n: :\nname 0xzz (int) : min=1").is_empty());
    }
}

//! Keymaps: which key does what (`hardware/keymaps/*.toml`). Sans-IO: key
//! names are strings here; the evdev edge checks that they exist.

use std::collections::HashMap;

use super::InputError;

/// What a key asks the panel to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Up,
    Down,
    Left,
    Right,
    Ok,
    Back,
    Delete,
    Digit(u8),
    VolumeUp,
    VolumeDown,
    Mute,
    Camera,
    Call,
    HangUp,
    Standby,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "up" => Action::Up,
            "down" => Action::Down,
            "left" => Action::Left,
            "right" => Action::Right,
            "ok" => Action::Ok,
            "back" => Action::Back,
            "delete" => Action::Delete,
            "volume-up" => Action::VolumeUp,
            "volume-down" => Action::VolumeDown,
            "mute" => Action::Mute,
            "camera" => Action::Camera,
            "call" => Action::Call,
            "hang-up" => Action::HangUp,
            "standby" => Action::Standby,
            d => {
                let n = d.strip_prefix("digit-")?;
                let n: u8 = n.parse().ok().filter(|n| *n <= 9)?;
                if n.to_string() != d["digit-".len()..] {
                    return None;
                }
                Action::Digit(n)
            }
        })
    }

    /// Held down, the key repeats (moving through a list, volume).
    pub fn repeats(self) -> bool {
        matches!(
            self,
            Action::Up
                | Action::Down
                | Action::Left
                | Action::Right
                | Action::VolumeUp
                | Action::VolumeDown
                | Action::Delete
        )
    }

    /// Held down, the key means something else (`Back`: home; `Delete`:
    /// clear everything typed).
    pub fn has_long_press(self) -> bool {
        matches!(self, Action::Back)
    }
}

/// A parsed keymap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keymap {
    keys: HashMap<String, Action>,
    scancodes: HashMap<u32, String>,
}

/// The keymap dais ships (`hardware/keymaps/default.toml`).
pub const DEFAULT: &str = include_str!("../../../../hardware/keymaps/default.toml");

impl Keymap {
    /// Parses `text` (from `file`). `is_key` says whether a key name exists
    /// (the evdev edge knows the kernel's names). Errors name the line.
    pub fn parse(
        text: &str,
        file: &str,
        is_key: impl Fn(&str) -> bool,
    ) -> Result<Keymap, InputError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            keys: HashMap<String, toml::Spanned<String>>,
            #[serde(default)]
            scancodes: HashMap<toml::Spanned<String>, toml::Spanned<String>>,
        }
        let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let bad = |offset: usize, what: String| InputError::Keymap {
            file: file.to_string(),
            line: line(offset),
            what,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            bad(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_string(),
            )
        })?;
        let mut map = Keymap::default();
        let mut keys: Vec<_> = raw.keys.into_iter().collect();
        keys.sort_by_key(|(_, v)| v.span().start);
        for (name, action) in keys {
            let at = action.span().start;
            if !is_key(&name) {
                return Err(bad(at, format!("{name}: not a Linux input key name")));
            }
            let a = Action::parse(action.get_ref()).ok_or_else(|| {
                bad(
                    at,
                    format!(
                        "{name}: unknown action {:?} (up, down, left, right, ok, back, delete, digit-0 … digit-9, volume-up, volume-down, mute, camera, call, hang-up, standby)",
                        action.get_ref()
                    ),
                )
            })?;
            map.keys.insert(name, a);
        }
        for (code, key) in raw.scancodes {
            let at = code.span().start;
            let c = code.get_ref();
            let n = c
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| c.parse().ok())
                .ok_or_else(|| {
                    bad(
                        at,
                        format!("{c}: a scancode is a number (0x800f0422 or 42)"),
                    )
                })?;
            if !map.keys.contains_key(key.get_ref()) {
                return Err(bad(
                    key.span().start,
                    format!("{}: not a key of this keymap's [keys]", key.get_ref()),
                ));
            }
            map.scancodes.insert(n, key.into_inner());
        }
        Ok(map)
    }

    pub fn action(&self, key: &str) -> Option<Action> {
        self.keys.get(key).copied()
    }

    /// The key a raw remote scancode stands for.
    pub fn scancode(&self, code: u32) -> Option<&str> {
        self.scancodes.get(&code).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_key(name: &str) -> bool {
        name.starts_with("KEY_")
    }

    #[test]
    fn the_default_keymap_parses() {
        let m = Keymap::parse(DEFAULT, "default.toml", any_key).unwrap();
        assert_eq!(m.action("KEY_OK"), Some(Action::Ok));
        assert_eq!(m.action("KEY_NUMERIC_7"), Some(Action::Digit(7)));
        assert_eq!(m.action("KEY_VOLUMEUP"), Some(Action::VolumeUp));
        assert_eq!(m.action("KEY_HANGUP_PHONE"), Some(Action::HangUp));
        assert!(m.len() > 40);
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let e = Keymap::parse(
            "[keys]\nKEY_UP = \"up\"\nKEY_OK = \"press\"\n",
            "r.toml",
            any_key,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("r.toml:3:"), "{e}");
        assert!(e.contains("unknown action \"press\""), "{e}");
        let e = Keymap::parse("[keys]\n\nBUTTON_X = \"ok\"\n", "r.toml", any_key)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.toml:3:") && e.contains("BUTTON_X"), "{e}");
        let e = Keymap::parse("[keys]\nKEY_1 = \"digit-10\"\n", "r.toml", any_key).unwrap_err();
        assert!(e.to_string().contains("digit-10"), "{e}");
        let e = Keymap::parse("[keyz]\n", "r.toml", any_key).unwrap_err();
        assert!(e.to_string().starts_with("r.toml:1:"), "{e}");
        let e = Keymap::parse(
            "[keys]\nKEY_OK = \"ok\"\n[scancodes]\n\"0xzz\" = \"KEY_OK\"\n",
            "r.toml",
            any_key,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("r.toml:4:"), "{e}");
        let e = Keymap::parse(
            "[keys]\nKEY_OK = \"ok\"\n[scancodes]\n\"0x10\" = \"KEY_UP\"\n",
            "r.toml",
            any_key,
        )
        .unwrap_err();
        assert!(e.to_string().contains("KEY_UP"), "{e}");
    }

    #[test]
    fn scancodes_name_keys() {
        let m = Keymap::parse(
            "[keys]\nKEY_OK = \"ok\"\n[scancodes]\n\"0x800f0422\" = \"KEY_OK\"\n\"7\" = \"KEY_OK\"\n",
            "r.toml",
            any_key,
        )
        .unwrap();
        assert_eq!(m.scancode(0x800f_0422), Some("KEY_OK"));
        assert_eq!(m.scancode(7), Some("KEY_OK"));
        assert_eq!(m.scancode(8), None);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_with_a_line(text in "\\PC{0,200}") {
            if let Err(e) = Keymap::parse(&text, "p.toml", any_key) {
                let s = e.to_string();
                proptest::prop_assert!(s.starts_with("p.toml:"), "{}", s);
            }
        }
    }
}

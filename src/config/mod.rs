//! Settings: one TOML schema with documented defaults, read in layers.
//!
//! Built-in defaults < hardware profile < provisioned settings < local
//! overrides. Every problem is reported as `file:line: key: what was expected`
//! and nothing is started on settings that fail a check.
//!
//! Invariant: [`Settings`] values handed to the rest of dais have passed
//! [`Settings::validate`]; code downstream may rely on the ranges it checks.

mod load;
mod schema;
mod secret;
mod validate;

use std::path::{Path, PathBuf};

pub use load::{ConfigError, Layer, LayerKind, Loaded, Problem, merge};
pub use schema::*;
pub use secret::Secret;
pub use validate::{Invalid, TEST_PATTERNS, TEST_WAVES, parse_usb_id};

/// The commented settings file that `dais config defaults` prints. A unit
/// test keeps it equal to `Settings::default()` key for key.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// Where each layer comes from. Missing optional files are skipped; a named
/// file that is missing is an error.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub profile: Option<PathBuf>,
    pub provisioned: Option<PathBuf>,
    pub local: Option<PathBuf>,
}

/// Reads every layer that exists and merges them.
pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    let mut read = |kind, path: &Option<PathBuf>, required: bool| {
        let Some(path) = path else { return };
        if !required && !path.exists() {
            return;
        }
        match Layer::read(kind, path) {
            Ok(l) => layers.push(l),
            Err(ConfigError::Invalid(p)) => problems.extend(p),
            Err(e @ ConfigError::Read { .. }) => problems.push(Problem {
                file: path.display().to_string(),
                line: None,
                key: "file".into(),
                expected: e.to_string(),
            }),
        }
    };
    read(LayerKind::Profile, &sources.profile, true);
    read(LayerKind::Provisioned, &sources.provisioned, false);
    read(LayerKind::Local, &sources.local, true);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    merge(layers)
}

/// Checks one file as `dais config check` does: on its own over the
/// defaults, and over the given profile when there is one.
pub fn check_file(file: &Path, profile: Option<&Path>) -> Result<Loaded, ConfigError> {
    let mut layers = Vec::new();
    if let Some(p) = profile {
        layers.push(Layer::read(LayerKind::Profile, p)?);
    }
    let kind = if profile.is_some() {
        LayerKind::Local
    } else {
        LayerKind::Profile
    };
    layers.push(Layer::read(kind, file)?);
    merge(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_defaults_parse_to_the_defaults() {
        let layer = Layer::parse(LayerKind::Local, "defaults.toml", DEFAULTS_TOML)
            .unwrap_or_else(|e| panic!("defaults.toml does not parse: {e}"));
        let loaded = merge(vec![layer]).unwrap();
        assert_eq!(loaded.settings, Settings::default());
    }

    #[test]
    fn commented_defaults_document_every_key() {
        // Every key the schema serialises must appear in the file, so nobody
        // adds a setting without documenting it.
        let defaults = toml::Value::try_from(Settings::default()).unwrap();
        let documented: toml::Table = toml::from_str(DEFAULTS_TOML).unwrap();
        let mut missing = Vec::new();
        walk(&defaults, &toml::Value::Table(documented), "", &mut missing);
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");

        fn walk(want: &toml::Value, have: &toml::Value, prefix: &str, out: &mut Vec<String>) {
            if let (toml::Value::Table(w), toml::Value::Table(h)) = (want, have) {
                for (k, v) in w {
                    let key = format!("{prefix}{k}");
                    match h.get(k) {
                        Some(hv) => walk(v, hv, &format!("{key}."), out),
                        None => out.push(key),
                    }
                }
            }
        }
    }

    #[test]
    fn optional_keys_are_documented_as_comments() {
        for key in [
            "device",
            "usb_id",
            "element",
            "card",
            "connector",
            "drm_device",
        ] {
            assert!(
                DEFAULTS_TOML.contains(&format!("# {key} = ")),
                "optional key {key} is not shown in defaults.toml"
            );
        }
    }
}

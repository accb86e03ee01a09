//! Reading settings files, layering them, and pointing at the line of every
//! problem.
//!
//! Each layer is checked on its own first (syntax, unknown keys, types), so an
//! error names the file that holds it. The layers are then merged (later ones
//! win, tables merge key by key, arrays are replaced whole) and the result is
//! range-checked; a range problem is reported against the highest layer that
//! set the key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::schema::Settings;

/// Where a layer sits in the stack, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LayerKind {
    Profile,
    Provisioned,
    Local,
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LayerKind::Profile => "hardware profile",
            LayerKind::Provisioned => "provisioned settings",
            LayerKind::Local => "local overrides",
        })
    }
}

/// One settings file, read and checked.
#[derive(Debug, Clone)]
pub struct Layer {
    pub kind: LayerKind,
    pub origin: String,
    source: String,
    table: toml::Table,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.key, self.expected),
            None => write!(f, "{}: {}: {}", self.file, self.key, self.expected),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read settings: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::Read { .. } => &[],
        }
    }
}

impl Layer {
    /// Reads and checks a settings file.
    pub fn read(kind: LayerKind, path: &Path) -> Result<Self, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(kind, &path.display().to_string(), &source)
    }

    /// Checks settings text: syntax, unknown keys, types and, on its own over
    /// the defaults, ranges.
    pub fn parse(kind: LayerKind, origin: &str, source: &str) -> Result<Self, ConfigError> {
        let problem = |line: Option<usize>, key: &str, expected: String| Problem {
            file: origin.to_string(),
            line,
            key: key.to_string(),
            expected,
        };

        let doc = match DeTable::parse(source) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.span().map(|s| line_of(source, s.start));
                return Err(ConfigError::Invalid(vec![problem(
                    line,
                    "syntax",
                    e.message().trim().to_string(),
                )]));
            }
        };

        let mut unknown = Vec::new();
        let result: Result<Settings, _> = {
            let de = toml::de::Deserializer::from(doc.clone());
            let mut track = serde_path_to_error::Track::new();
            let de = serde_path_to_error::Deserializer::new(de, &mut track);
            let res = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
            res.map_err(|e| (e, track.path().to_string()))
        };

        let mut problems = Vec::new();
        match result {
            Ok(_) => {}
            Err((e, path)) => {
                let line = locate(&doc, source, &path)
                    .or_else(|| e.span().map(|s| line_of(source, s.start)));
                problems.push(problem(line, &path, expected_from(e.message())));
            }
        }
        for path in unknown {
            let line = locate(&doc, source, &path);
            problems.push(problem(
                line,
                &path,
                "unknown key (`dais config defaults` lists every key)".into(),
            ));
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(ConfigError::Invalid(problems));
        }

        let table: toml::Table = toml::from_str(source).map_err(|e| {
            ConfigError::Invalid(vec![problem(
                e.span().map(|s| line_of(source, s.start)),
                "syntax",
                e.message().to_string(),
            )])
        })?;
        Ok(Self {
            kind,
            origin: origin.to_string(),
            source: source.to_string(),
            table,
        })
    }

    /// The line in this layer that sets `key`, if it does.
    fn line_of_key(&self, key: &str) -> Option<usize> {
        let doc = DeTable::parse(&self.source).ok()?;
        locate(&doc, &self.source, key)
    }

    fn sets(&self, key: &str) -> bool {
        let mut cur = &self.table;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            match cur.get(part) {
                Some(toml::Value::Table(t)) if parts.peek().is_some() => cur = t,
                Some(_) => return parts.peek().is_none(),
                None => return false,
            }
        }
        false
    }
}

/// The layered settings and where they came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub layers: Vec<(LayerKind, String)>,
}

/// Merges layers over the built-in defaults and validates the result.
pub fn merge(mut layers: Vec<Layer>) -> Result<Loaded, ConfigError> {
    layers.sort_by_key(|l| l.kind);
    let mut merged = toml::Table::new();
    for layer in &layers {
        merge_table(&mut merged, &layer.table);
    }
    let settings = Settings::deserialize(toml::Value::Table(merged)).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            file: "settings".into(),
            line: None,
            key: "settings".into(),
            expected: e.to_string(),
        }])
    })?;
    let invalid = settings.validate();
    if !invalid.is_empty() {
        let problems = invalid
            .into_iter()
            .map(|inv| {
                let holder = layers.iter().rev().find(|l| l.sets(&inv.key));
                match holder {
                    Some(l) => Problem {
                        file: l.origin.clone(),
                        line: l.line_of_key(&inv.key),
                        key: inv.key,
                        expected: inv.expected,
                    },
                    None => Problem {
                        file: "built-in defaults".into(),
                        line: None,
                        key: inv.key,
                        expected: inv.expected,
                    },
                }
            })
            .collect();
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Loaded {
        settings,
        layers: layers.iter().map(|l| (l.kind, l.origin.clone())).collect(),
    })
}

fn merge_table(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(dst)), toml::Value::Table(src)) => merge_table(dst, src),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// 1-based line of a byte offset.
fn line_of(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    source.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line of a dotted key path in a parsed document. Path segments
/// that serde reports for sequences (`devices[2]` or `devices.2`) are followed
/// into arrays.
fn locate(doc: &toml::Spanned<DeTable<'_>>, source: &str, path: &str) -> Option<usize> {
    let mut table = doc.get_ref();
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut line = None;
    for seg in split_path(path) {
        if let Some(v) = value {
            match v.get_ref() {
                DeValue::Table(t) => table = t,
                DeValue::Array(a) => {
                    let idx: usize = seg.parse().ok()?;
                    let item = a.get(idx)?;
                    line = Some(line_of(source, item.span().start));
                    value = Some(item);
                    continue;
                }
                _ => return line,
            }
        }
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == seg)?;
        line = Some(line_of(source, k.span().start));
        value = Some(v);
    }
    line
}

fn split_path(path: &str) -> Vec<String> {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty() && *s != "?")
        .map(str::to_string)
        .collect()
}

/// serde's messages say "invalid type: string \"x\", expected u32"; keep the
/// part a person needs and say it the same way for every key.
fn expected_from(message: &str) -> String {
    let msg = message.trim();
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((got, want)) = rest.split_once(", expected ")
    {
        return format!("expected {}, got {}", friendly(want), got);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ")
        && let Some((got, want)) = rest.split_once(", expected ")
    {
        return format!("expected {want}, got {got}");
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ")
        && let Some((got, want)) = rest.split_once(", expected ")
    {
        return format!("expected {}, got {}", friendly(want), got);
    }
    msg.to_string()
}

fn friendly(serde_type: &str) -> String {
    match serde_type {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str) -> Vec<String> {
        match Layer::parse(LayerKind::Local, "local.toml", src) {
            Ok(layer) => match merge(vec![layer]) {
                Ok(_) => vec![],
                Err(e) => e.problems().iter().map(ToString::to_string).collect(),
            },
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let p = problems("[room]\nname = \"A\"\n\n[http]\nlisen = \"0.0.0.0:80\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("local.toml:5: http.lisen: unknown key"),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_section_is_named() {
        let p = problems("[rooom]\nname = \"A\"\n");
        assert!(
            p[0].starts_with("local.toml:1: rooom: unknown key"),
            "{p:?}"
        );
    }

    #[test]
    fn wrong_type_is_named_with_what_was_expected() {
        let p = problems("[camera]\nwidth = \"wide\"\n");
        assert_eq!(
            p,
            ["local.toml:2: camera.width: expected a non-negative integer, got string \"wide\""]
        );
    }

    #[test]
    fn bad_enum_lists_the_choices() {
        let p = problems("[display]\nsink = \"hdmi\"\n");
        assert!(
            p[0].starts_with("local.toml:2: display.sink: expected"),
            "{p:?}"
        );
        assert!(p[0].contains("`kms`"), "{p:?}");
    }

    #[test]
    fn out_of_range_is_reported_in_the_file_that_set_it() {
        let p = problems("[room]\nname = \"A\"\n[camera]\n\nframerate = 500\n");
        assert_eq!(
            p,
            ["local.toml:5: camera.framerate: an integer from 1 to 120, got 500"]
        );
    }

    #[test]
    fn bad_address_says_what_is_expected() {
        let p = problems("[http]\nlisten = \"localhost\"\n");
        assert!(
            p[0].starts_with("local.toml:2: http.listen: expected ADDR:PORT"),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let p = problems("[room]\nname = \"unterminated\n");
        assert!(p[0].starts_with("local.toml:2: syntax:"), "{p:?}");
    }

    #[test]
    fn later_layers_win_and_tables_merge() {
        let profile = Layer::parse(
            LayerKind::Profile,
            "p.toml",
            "[camera]\nwidth = 640\nheight = 480\n",
        )
        .unwrap();
        let local = Layer::parse(LayerKind::Local, "l.toml", "[camera]\nwidth = 800\n").unwrap();
        let loaded = merge(vec![local, profile]).unwrap();
        assert_eq!(loaded.settings.camera.width, 800);
        assert_eq!(loaded.settings.camera.height, 480);
        assert_eq!(loaded.layers[0].0, LayerKind::Profile);
    }

    #[test]
    fn array_element_errors_point_into_the_array() {
        let p = problems("[input]\ndevices = [\n  \"a\",\n  5,\n]\n");
        assert!(p[0].starts_with("local.toml:4: input.devices"), "{p:?}");
    }
}

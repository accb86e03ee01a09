//! A setting that must never be shown: a PIN, a password or secret hash,
//! another server's client secret.

use serde::{Deserialize, Serialize, Serializer};

/// What a set secret shows instead of itself.
pub const SHOWN: &str = "(set)";

/// A secret setting. It is read from TOML like any string, but serialises
/// and debug-prints only as `"(set)"` (or `""` when empty), so it cannot
/// reach `getSettings`, `/status` or a log line by accident;
/// [`Secret::expose`] is the one way to its value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the code that checks or sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What is shown of it: `"(set)"`, or `""` when none is set.
    fn shown(&self) -> &'static str {
        if self.0.is_empty() { "" } else { SHOWN }
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({:?})", self.shown())
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A settings section someone adds later, with a secret in it.
    #[derive(Debug, Serialize, Deserialize)]
    struct NewSection {
        name: String,
        token: Secret,
        spare: Secret,
    }

    #[test]
    fn a_new_secret_field_is_read_but_never_shown() {
        let s: NewSection =
            toml::from_str("name = \"lobby\"\ntoken = \"hunter2-hunter2\"\nspare = \"\"").unwrap();
        assert_eq!(s.token.expose(), "hunter2-hunter2");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"name":"lobby","token":"(set)","spare":""}"#);
        let toml = toml::to_string(&s).unwrap();
        let debug = format!("{s:?}");
        let display = format!("{}", s.token);
        for shown in [&json, &toml, &debug, &display] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        // What a log line carries of it, through tracing's fields.
        let logged = format!("{:?} {}", s.token, s.token);
        assert!(!logged.contains("hunter2"), "{logged}");
    }

    #[test]
    fn secrets_compare_by_value() {
        assert_eq!(Secret::from("1234"), Secret::new("1234".to_string()));
        assert_ne!(Secret::from("1234"), Secret::from("4321"));
        assert!(Secret::default().is_empty());
    }
}

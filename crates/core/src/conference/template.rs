//! Conference templates: saved settings to start conferences from.
//!
//! A template is a name and a [`Patch`] of conference settings (mode,
//! sizes, room options, participants). Starting a template creates a new
//! conference from that patch. A deleted template is gone; there is no
//! undo, and callers confirm before deleting.

use super::{Cid, Conference, FieldError, FieldErrors, Patch, RunState};

pub const NAME_MAX: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    pub name: String,
    pub settings: Patch,
}

impl Template {
    /// Checks a template's name and settings. The settings must be able to
    /// make a conference (the owner is filled in when it is started).
    pub fn validate(name: &str, settings: &Patch) -> Result<(), FieldErrors> {
        let mut errors = Vec::new();
        if !super::printable(name, NAME_MAX) {
            errors.push(FieldError::new(
                "name",
                format!("1 to {NAME_MAX} printable characters"),
            ));
        }
        if settings.id.is_some() {
            errors.push(FieldError::new(
                "settings.id",
                "a template cannot fix a conference ID; each start gets a new one",
            ));
        }
        let probe = Patch {
            topic: Some(settings.topic.clone().unwrap_or_else(|| "template".into())),
            owner: Some("template-owner".into()),
            ..settings.clone()
        };
        if let Err(FieldErrors(more)) = Conference::create(
            probe,
            0,
            || Cid::parse("1000000000").expect("literal CID"),
            |_| false,
        ) {
            errors.extend(
                more.into_iter()
                    .map(|e| FieldError::new(format!("settings.{}", e.field), e.message)),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// The patch that starts a running conference from this template.
    pub fn start_patch(&self, owner: &str) -> Patch {
        Patch {
            topic: Some(
                self.settings
                    .topic
                    .clone()
                    .unwrap_or_else(|| self.name.clone()),
            ),
            owner: Some(owner.to_string()),
            state: Some(RunState::Running),
            ..self.settings.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::Mode;

    #[test]
    fn templates_are_validated_like_conferences() {
        assert!(
            Template::validate(
                "Board",
                &Patch {
                    mode: Some(Mode::Smart),
                    ..Default::default()
                }
            )
            .is_ok()
        );
        let e = Template::validate(
            "",
            &Patch {
                max_participants: Some(1),
                ..Default::default()
            },
        )
        .unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "settings.max_participants"]);
    }

    #[test]
    fn starting_a_template_makes_a_running_conference_named_after_it() {
        let t = Template {
            id: 1,
            name: "Stand-up".into(),
            settings: Patch {
                mode: Some(Mode::Moderated),
                ..Default::default()
            },
        };
        let c = Conference::create(
            t.start_patch("alice"),
            0,
            || Cid::parse("1000000002").unwrap(),
            |_| false,
        )
        .unwrap();
        assert_eq!(c.topic, "Stand-up");
        assert_eq!(c.state, RunState::Running);
        assert_eq!(c.mode, Mode::Moderated);
        assert_eq!(c.owner, "alice");
    }
}

//! The Templates screen's controller and the mode names the Meet now and
//! Templates forms share.
//!
//! The list comes from the room's server (refreshed by the clock, so a
//! template saved over REST shows up within a second); every change is a
//! command: `startTemplate`, `saveTemplate`, `deleteTemplate`.

use std::cell::RefCell;
use std::rc::Rc;

use slint::{ComponentHandle, Model, ModelRc, VecModel};

use super::{AppWindow, Dispatch, RoomApi, TemplateItem, TemplatesApi};
use crate::command::{Command, Meeting, MeetingMode};

/// The panel's modes, in the order its forms show them (`Modes.names`).
pub const MODES: [(MeetingMode, &str); 4] = [
    (MeetingMode::Smart, "Smart meeting"),
    (MeetingMode::Moderated, "Moderated role-based"),
    (MeetingMode::AllOnScreen, "All on screen"),
    (MeetingMode::VideoLecture, "Video lecture"),
];

pub fn mode_of(index: i32) -> MeetingMode {
    usize::try_from(index)
        .ok()
        .and_then(|i| MODES.get(i))
        .map_or(MeetingMode::Smart, |m| m.0)
}

pub fn mode_index(mode: MeetingMode) -> i32 {
    MODES.iter().position(|m| m.0 == mode).unwrap_or(0) as i32
}

/// Whether the podium size is the organiser's choice in `mode` (all on
/// screen puts everyone on it, a lecture has one lecturer).
pub fn podiums_selectable(mode: MeetingMode) -> bool {
    matches!(mode, MeetingMode::Smart | MeetingMode::Moderated)
}

/// A template as the panel lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub name: String,
    pub settings: Meeting,
}

/// What the list shows now: the editor keeps the settings the screen does
/// not edit (entry rules, PIN) when it saves.
#[derive(Clone, Default)]
pub struct TemplatesView {
    shown: Rc<RefCell<Vec<Entry>>>,
}

impl TemplatesView {
    /// Shows `entries` (sorted by name) unless they are what is shown.
    pub fn show(&self, ui: &AppWindow, mut entries: Vec<Entry>) {
        entries.sort_by_key(|e| e.name.to_lowercase());
        if *self.shown.borrow() == entries {
            return;
        }
        let rows: Vec<TemplateItem> = entries.iter().map(item).collect();
        let api = ui.global::<TemplatesApi>();
        if api.get_templates().row_count() != rows.len()
            || api.get_templates().iter().zip(&rows).any(|(a, b)| a != *b)
        {
            api.set_templates(ModelRc::new(VecModel::from(rows)));
        }
        *self.shown.borrow_mut() = entries;
    }

    fn settings_of(&self, id: i64) -> Option<Meeting> {
        self.shown
            .borrow()
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.settings.clone())
    }
}

fn item(e: &Entry) -> TemplateItem {
    let s = &e.settings;
    let participants = s.max_participants.unwrap_or(25);
    let podiums = s.max_podiums.unwrap_or(participants.min(4));
    let mode = mode_index(s.mode);
    let mut summary = format!("{} · {participants} people", MODES[mode as usize].1);
    if podiums_selectable(s.mode) {
        summary.push_str(&format!(" · {podiums} on the podium"));
    }
    if s.pin.as_deref().is_some_and(|p| !p.is_empty()) {
        summary.push_str(" · PIN");
    }
    TemplateItem {
        id: e.id as i32,
        name: e.name.as_str().into(),
        mode,
        max_participants: participants as i32,
        max_podiums: podiums as i32,
        summary: summary.into(),
    }
}

/// Turns the Templates screen's callbacks into commands.
pub fn wire(ui: &AppWindow, dispatch: Dispatch) -> TemplatesView {
    let view = TemplatesView::default();
    let api = ui.global::<TemplatesApi>();
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_start(move |id| {
        d(Command::StartTemplate { id: id.into() });
        // When the conference ends the room comes back to Home.
        if let Some(ui) = weak.upgrade() {
            ui.global::<RoomApi>().set_screen("home".into());
        }
    });
    let d = dispatch.clone();
    api.on_delete(move |id| d(Command::DeleteTemplate { id: id.into() }));
    let d = dispatch;
    let weak = ui.as_weak();
    let shown = view.clone();
    api.on_save(move || {
        let Some(ui) = weak.upgrade() else { return };
        let t = ui.global::<TemplatesApi>();
        let name = t.get_edit_name().trim().to_string();
        let max = crate::conference::template::NAME_MAX;
        if name.is_empty() || name.chars().count() > max {
            // The editor stays open with what was typed.
            ui.global::<RoomApi>()
                .set_notice(format!("A template needs a name of 1 to {max} characters.").into());
            return;
        }
        let id = i64::from(t.get_edit_id());
        let id = (id >= 0).then_some(id);
        let mode = mode_of(t.get_edit_mode());
        let participants = t.get_edit_max_participants().clamp(2, 1000);
        let settings = Meeting {
            mode,
            max_participants: Some(participants as u32),
            max_podiums: podiums_selectable(mode)
                .then(|| t.get_edit_max_podiums().clamp(1, participants) as u32),
            // What the screen does not edit stays as it was.
            ..id.and_then(|id| shown.settings_of(id))
                .unwrap_or_else(|| Meeting::new(mode))
        };
        d(Command::SaveTemplate { id, name, settings });
        t.set_editing(false);
    });
    view
}

/// The room's templates on its server.
pub fn from_server(server: &crate::server::Server) -> Vec<Entry> {
    server
        .templates()
        .into_iter()
        .map(|t| Entry {
            id: t.id,
            name: t.name.clone(),
            settings: Meeting::from_patch(&t.settings),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_indices_round_trip_and_bad_indices_fall_back_to_smart() {
        for (i, (m, _)) in MODES.iter().enumerate() {
            assert_eq!(mode_of(i as i32), *m);
            assert_eq!(mode_index(*m), i as i32);
        }
        assert_eq!(mode_of(-1), MeetingMode::Smart);
        assert_eq!(mode_of(9), MeetingMode::Smart);
    }
}

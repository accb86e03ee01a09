//! The Contacts screen: the room's phone book and its server's users, to
//! call (from Home) or to invite to Meet now (users of this dais only:
//! invitations ring endpoints on the server that holds the meeting).

use slint::{ComponentHandle, Model, ModelRc, VecModel};

use super::{AppWindow, ContactItem, ContactsApi};
use crate::contacts::Contact;

/// Fills the list (contacts come from the settings, fixed for the run) and
/// handles choosing whom Meet now invites.
pub fn wire(ui: &AppWindow, contacts: &[Contact]) {
    let api = ui.global::<ContactsApi>();
    let rows: Vec<ContactItem> = contacts
        .iter()
        .map(|c| ContactItem {
            name: c.name.as_str().into(),
            address: c.address.as_str().into(),
            local: c.local,
            invited: false,
        })
        .collect();
    api.set_contacts(ModelRc::new(VecModel::from(rows)));
    api.set_invited_count(0);
    api.set_picking(false);
    let weak = ui.as_weak();
    api.on_toggle_invite(move |address| {
        let Some(ui) = weak.upgrade() else { return };
        let api = ui.global::<ContactsApi>();
        let model = api.get_contacts();
        for i in 0..model.row_count() {
            if let Some(mut row) = model.row_data(i)
                && row.address == address
                && row.local
            {
                row.invited = !row.invited;
                model.set_row_data(i, row);
            }
        }
        api.set_invited_count(invited(&ui).len() as i32);
    });
}

/// The logins Meet now invites.
pub fn invited(ui: &AppWindow) -> Vec<String> {
    ui.global::<ContactsApi>()
        .get_contacts()
        .iter()
        .filter(|c| c.local && c.invited)
        .map(|c| c.address.to_string())
        .collect()
}

/// Meet now's "Clear all": nobody invited.
pub fn clear(ui: &AppWindow) {
    let api = ui.global::<ContactsApi>();
    let model = api.get_contacts();
    for i in 0..model.row_count() {
        if let Some(mut row) = model.row_data(i)
            && row.invited
        {
            row.invited = false;
            model.set_row_data(i, row);
        }
    }
    api.set_invited_count(0);
}

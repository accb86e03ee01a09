//! The room's contacts: its phone book (`[[room.contacts]]`) and the users
//! of its own server, as one list sorted by name. Sans-IO.

use serde::Serialize;

/// Someone the room can call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub name: String,
    /// The call string: `login` on this dais, `user@server`, or a
    /// conference (`\c\CID@server`).
    pub address: String,
    /// A user of the room's own server: they can be invited to the
    /// room's meetings.
    pub local: bool,
}

/// A phone book entry as the settings hold it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// A user of the room's own server.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
}

/// The phone book first (its names win), then the server's users it does
/// not already list; sorted by name, case aside.
pub fn list(phone_book: &[Entry<'_>], users: &[User<'_>]) -> Vec<Contact> {
    let mut out: Vec<Contact> = Vec::new();
    let mut add = |c: Contact| {
        if !out
            .iter()
            .any(|o| o.address.eq_ignore_ascii_case(&c.address))
        {
            out.push(c);
        }
    };
    for c in phone_book {
        let address = c.address.trim().to_string();
        let local = users.iter().any(|u| u.login.eq_ignore_ascii_case(&address));
        add(Contact {
            name: c.name.trim().to_string(),
            address,
            local,
        });
    }
    for u in users {
        add(Contact {
            name: if u.display_name.trim().is_empty() {
                u.login.to_string()
            } else {
                u.display_name.trim().to_string()
            },
            address: u.login.to_string(),
            local: true,
        });
    }
    out.sort_by_key(|c| c.name.to_lowercase());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user<'a>(login: &'a str, display_name: &'a str) -> User<'a> {
        User {
            login,
            display_name,
        }
    }

    fn entry<'a>(name: &'a str, address: &'a str) -> Entry<'a> {
        Entry { name, address }
    }

    #[test]
    fn the_phone_book_and_the_servers_users_make_one_sorted_list() {
        let list = list(
            &[
                entry("Boardroom 2.01", "room@dais-b.example"),
                entry("Ann (desk)", "ANN"),
            ],
            &[user("ann", "Ann Smith"), user("bob", "")],
        );
        assert_eq!(
            list,
            vec![
                Contact {
                    name: "Ann (desk)".into(),
                    address: "ANN".into(),
                    local: true
                },
                Contact {
                    name: "Boardroom 2.01".into(),
                    address: "room@dais-b.example".into(),
                    local: false
                },
                Contact {
                    name: "bob".into(),
                    address: "bob".into(),
                    local: true
                },
            ]
        );
    }
}

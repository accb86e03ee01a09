//! From a parsed `trueconf:` link to the commands it stands for.
//!
//! A link may hold several commands (sign in on one server, then join a
//! conference on another); they come out in the order they must run.

use crate::command::{Command, GuestLogin};
use crate::uri::{Key, Link, Target};

/// What a guest login looks like in a link: `*guest*` then the name.
pub const GUEST_PREFIX: &str = "*guest*";

/// The commands of a link, in order.
pub fn commands(link: &Link) -> Vec<Command> {
    let mut out = Vec::new();
    let login = link.param(Key::Login);
    let guest = match (link.flag(Key::Templogin), login) {
        (true, Some(l)) => l.strip_prefix(GUEST_PREFIX).map(|name| GuestLogin {
            display_name: name.to_string(),
            token: link.param(Key::Password).unwrap_or_default().to_string(),
        }),
        _ => None,
    };
    // A guest login travels with the join it is for; any other login is a
    // sign-in of its own, run first.
    if let (Some(login), None) = (login, &guest) {
        out.push(Command::Login {
            servers: link.servers(),
            login: login.to_string(),
            password: link.param(Key::Password).unwrap_or_default().to_string(),
            encrypted: link.flag(Key::Encrypt),
            force: link.flag(Key::Force),
        });
    }
    match &link.target {
        None if out.is_empty() => out.push(Command::Launch),
        None => {}
        Some(Target::Call { peer, server }) => {
            if link.param(Key::Conftype) == Some("hotquery") {
                out.push(Command::CallModerator {
                    user: peer.clone(),
                    server: server.clone(),
                });
            } else {
                out.push(Command::Call {
                    peer: peer.clone(),
                    server: server.clone(),
                });
            }
        }
        Some(Target::Conference { cid, server, .. }) => {
            // With a guest login the conference's server is where the
            // link came from; `h` lists addresses of that same server.
            out.push(Command::JoinConference {
                cid: cid.clone(),
                server: server.clone(),
                pin: None,
                guest,
            });
        }
        Some(Target::Rtsp { url }) => out.push(Command::OpenRtsp { url: url.clone() }),
    }
    if link.flag(Key::Autoclose) {
        out.push(Command::AutoClose);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::parse;

    fn cmds(s: &str) -> Vec<Command> {
        commands(&parse(s).unwrap().link)
    }

    #[test]
    fn combined_link_signs_in_then_joins() {
        let c = cmds(
            "trueconf:\\c\\4154248070@video.example.com%vcs&h=truevideo.example.com&login=user&password=pswd&encrypt=1&force=1",
        );
        assert_eq!(c.len(), 2);
        assert!(
            matches!(&c[0], Command::Login { servers, login, encrypted: true, force: true, .. } if servers == &["truevideo.example.com"] && login == "user")
        );
        assert!(
            matches!(&c[1], Command::JoinConference { cid, server: Some(s), guest: None, .. } if cid == "4154248070" && s == "video.example.com")
        );
    }

    #[test]
    fn guest_logins_ride_with_the_join() {
        let c = cmds(
            "trueconf:\\c\\0987654321@video.company.com%23vcs&h=video.company.com&force=1&templogin=1&login=*guest*Ian%20Taylor&password=$2ab*1*cd&encrypt=0&autoclose=1",
        );
        assert_eq!(c.len(), 2);
        match &c[0] {
            Command::JoinConference { guest: Some(g), .. } => {
                assert_eq!(g.display_name, "Ian Taylor");
                assert_eq!(g.token, "$2ab*1*cd");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c[1], Command::AutoClose);
    }
}

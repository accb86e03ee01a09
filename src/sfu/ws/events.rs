//! What a participant's connection does when the server moves: the
//! conference stopping or deleted, the participant removed, refused or
//! replaced, others joining and leaving (announcements), chat, and their
//! own place and role changing.

use super::*;

/// Follows the server. `Some(reason)`: the participant's time is over.
pub(super) async fn server_event(
    conn: &mut Conn,
    socket: &mut WebSocket,
    ev: ServerEvent,
) -> Option<Exit> {
    let cid = conn.cid();
    let mine = |c: &str| cid.as_deref() == Some(c);
    match ev {
        ServerEvent::Stopped { cid: c, .. } if mine(&c) => {
            let _ = send(
                socket,
                &ServerMsg::Ended {
                    reason: EndReason::ConferenceEnded,
                    message: "the conference has ended".into(),
                },
            )
            .await;
            Some(Exit::Ended)
        }
        ServerEvent::Deleted { cid: c } if mine(&c) || cid.is_none() => {
            let _ = send(
                socket,
                &ServerMsg::Ended {
                    reason: EndReason::ConferenceEnded,
                    message: "the conference was deleted".into(),
                },
            )
            .await;
            Some(Exit::Ended)
        }
        ServerEvent::Roster { cid: c, event } if mine(&c) => {
            conn.roster_dirty = true;
            match &event {
                roster::Event::Removed { id } if *id == conn.me => {
                    let _ = send(
                        socket,
                        &ServerMsg::Ended {
                            reason: EndReason::Removed,
                            message: "a moderator removed you from the conference".into(),
                        },
                    )
                    .await;
                    return Some(Exit::Removed);
                }
                roster::Event::Refused { id, reason } if *id == conn.me => {
                    let _ = send(
                        socket,
                        &ServerMsg::Ended {
                            reason: EndReason::Refused(*reason),
                            message: reason.to_string(),
                        },
                    )
                    .await;
                    return Some(Exit::Refused);
                }
                roster::Event::Left { id } if *id == conn.me => return Some(Exit::Replaced),
                roster::Event::Joined { id, place }
                    if *id != conn.me && *place == Place::Admitted && announce(conn) =>
                {
                    let name = display_name(conn, id);
                    send(
                        socket,
                        &ServerMsg::Announce {
                            event: Announced::Joined,
                            id: id.clone(),
                            display_name: name,
                        },
                    )
                    .await;
                }
                roster::Event::Left { id } | roster::Event::Removed { id }
                    if *id != conn.me && announce(conn) =>
                {
                    let _ = send(
                        socket,
                        &ServerMsg::Announce {
                            event: Announced::Left,
                            id: id.clone(),
                            display_name: String::new(),
                        },
                    )
                    .await;
                }
                _ => {}
            }
            // Place or role of this participant may have changed.
            conn.sync_peer();
            if !conn.send_state(socket).await {
                return Some(Exit::Gone);
            }
            None
        }
        ServerEvent::Media { cid: c, .. } if mine(&c) => {
            conn.roster_dirty = true;
            None
        }
        ServerEvent::Chat { cid: c, message } if mine(&c) => {
            let allowed = conn
                .member()
                .is_some_and(|(conf, me, _)| !me.waiting() && may(&conf, &me, Right::ChatRcv));
            if allowed && !send(socket, &ServerMsg::Chat { message }).await {
                return Some(Exit::Gone);
            }
            None
        }
        ServerEvent::Updated { cid: c } if mine(&c) => {
            conn.sync_peer();
            None
        }
        _ => None,
    }
}

fn announce(conn: &Conn) -> bool {
    conn.member()
        .is_some_and(|(conf, me, _)| conf.options.announce_join_leave && !me.waiting())
}

fn display_name(conn: &Conn, id: &str) -> String {
    conn.member()
        .and_then(|(_, _, all)| all.into_iter().find(|m| m.id == id))
        .map(|m| m.display_name)
        .unwrap_or_default()
}

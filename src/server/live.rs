//! A running conference's people: joins and their sessions, the roster
//! as each caller may see it, moderation, voice and sharing, and chat.

use super::*;

impl Server {
    /// Refuses, with [`ServerError::PinLocked`], a join that would try
    /// `pin` while its source (or, for a guest, the conference) is locked
    /// out for wrong PINs ([`pins`]). Callers that spend something before
    /// joining (a single-use guest link) ask this first.
    pub fn pin_gate(
        &self,
        cid: &str,
        pin: Option<&str>,
        guest: bool,
        source: Option<std::net::IpAddr>,
    ) -> Result<(), ServerError> {
        match source {
            Some(src) if pin.is_some_and(|p| !p.is_empty()) => self
                .inner
                .pins
                .may_try(src, cid, guest, self.inner.clock.mono())
                .map_err(ServerError::PinLocked),
            _ => Ok(()),
        }
    }

    /// A join request from `source` (the peer's address; `None` when it is
    /// not known, as in-process). Unless refused, the outcome carries the
    /// member and a session token for the participant's later requests.
    /// A join that tries a PIN passes [`Self::pin_gate`] first, and a
    /// wrong one counts against its source (and, for a guest, the
    /// conference).
    pub fn join(
        &self,
        cid: &str,
        req: JoinRequest,
        source: Option<std::net::IpAddr>,
    ) -> Result<JoinOutcome, ServerError> {
        let now = self.inner.clock.mono();
        self.pin_gate(cid, req.pin.as_deref(), req.guest, source)?;
        // Only a join that tries a PIN is counted: nobody else is guessing.
        let guess = source.filter(|_| req.pin.as_deref().is_some_and(|p| !p.is_empty()));
        let guest = req.guest;
        let given = req.pin.clone().unwrap_or_default();
        let (decision, events, key, member, strongest) = {
            let mut book = self.write();
            let e = book
                .get_mut(cid)
                .ok_or_else(|| ServerError::not_found(cid))?;
            let conf = e.conf.clone();
            let id = req.id.clone();
            // Whether the PIN given is the conference's strongest: its
            // host PIN, or its PIN when it has none. Only that clears the
            // source's count, so someone who knows the PIN cannot reset
            // it between guesses at the host PIN.
            let strongest = match (&conf.options.host_pin, &conf.options.pin) {
                (Some(h), _) => crate::conference::pin_matches(h, &given),
                (None, Some(p)) => crate::conference::pin_matches(p, &given),
                (None, None) => false,
            };
            let (decision, events) = e.roster.request_join(&conf, req, now);
            let member = e.roster.get(&id).cloned();
            (decision, events, e.key, member, strongest)
        };
        if let Some(src) = guess {
            match decision {
                JoinDecision::Refused(crate::conference::Refusal::WrongPin) => {
                    if let Some(l) = self.inner.pins.wrong(src, cid, guest, now) {
                        tracing::warn!(conference = %cid, source = %src, "{l}");
                    }
                }
                JoinDecision::Refused(_) => {}
                _ if strongest => self.inner.pins.right(src, cid),
                _ => {}
            }
        }
        for ev in events {
            self.emit(ServerEvent::Roster {
                cid: cid.to_string(),
                event: ev,
            });
        }
        let member = match decision {
            JoinDecision::Refused(_) => None,
            _ => member,
        };
        let session = member.as_ref().map(|m| {
            let token = auth::random_hex(24);
            if let Ok(mut s) = self.inner.sessions.write() {
                // One session per member: a rejoin replaces the old one.
                s.retain(|_, v| !(v.key == key && v.member == m.id));
                s.insert(
                    auth::token_hash(&token),
                    Session {
                        key,
                        member: m.id.clone(),
                    },
                );
            }
            token
        });
        Ok(JoinOutcome {
            decision,
            session,
            member,
        })
    }

    pub fn session(&self, token: &str) -> Option<Session> {
        self.inner
            .sessions
            .read()
            .ok()?
            .get(&auth::token_hash(token))
            .cloned()
    }

    pub(super) fn drop_sessions(&self, key: u64) {
        if let Ok(mut s) = self.inner.sessions.write() {
            s.retain(|_, v| v.key != key);
        }
    }

    /// The roster as `caller` may see it.
    pub fn participants(&self, caller: &Caller, cid: &str) -> Result<Vec<Member>, ServerError> {
        let book = self.read();
        let e = book.get(cid).ok_or_else(|| ServerError::not_found(cid))?;
        let actor = self.actor(caller, e)?;
        Ok(e.roster.visible_to(actor).into_iter().cloned().collect())
    }

    /// How the roster sees a caller.
    pub(super) fn actor(&self, caller: &Caller, e: &Entry) -> Result<Actor, ServerError> {
        match caller {
            Caller::Principal(p) if Self::may_manage(p, &e.conf) => Ok(Actor::owner()),
            Caller::Principal(p) => {
                let login = p.login().unwrap_or_default();
                match e.roster.get(login) {
                    Some(m) => Ok(m.actor()),
                    None if e.conf.is_invited(login) => Ok(Actor {
                        role: Role::Participant,
                        guest: false,
                        waiting: false,
                    }),
                    None => Err(ServerError::Forbidden(format!(
                        "you are not a participant of conference {}",
                        e.conf.id
                    ))),
                }
            }
            Caller::Session(token) => {
                let s = self
                    .session(token)
                    .filter(|s| s.key == e.key)
                    .ok_or_else(|| {
                        ServerError::Unauthorized(
                            "the participant session is not valid for this conference".into(),
                        )
                    })?;
                e.roster.get(&s.member).map(|m| m.actor()).ok_or_else(|| {
                    ServerError::Unauthorized("you are no longer in this conference".into())
                })
            }
        }
    }

    /// The member id a caller acts as, if any (for self-service actions).
    pub(super) fn caller_member(&self, caller: &Caller, e: &Entry) -> Option<String> {
        match caller {
            Caller::Session(t) => self.session(t).filter(|s| s.key == e.key).map(|s| s.member),
            Caller::Principal(p) => p.login().map(str::to_string),
        }
    }

    /// Runs a moderation step on a roster and announces its events.
    pub fn moderate(
        &self,
        caller: &Caller,
        cid: &str,
        step: Moderation,
    ) -> Result<(), ServerError> {
        let now = self.inner.clock.mono();
        let mut media_changed = None;
        let events = {
            let mut book = self.write();
            let key = book
                .key_of(cid)
                .ok_or_else(|| ServerError::not_found(cid))?;
            let (actor, me) = {
                let e = book
                    .by_key(key)
                    .ok_or_else(|| ServerError::not_found(cid))?;
                (self.actor(caller, e)?, self.caller_member(caller, e))
            };
            let e = book
                .by_key_mut(key)
                .ok_or_else(|| ServerError::not_found(cid))?;
            let conf = e.conf.clone();
            let r = &mut e.roster;
            match step {
                Moderation::Admit(id) => r.admit(&conf, actor, &id, now)?,
                Moderation::AdmitAll => r.admit_all(&conf, actor, now)?,
                Moderation::Reject(id) => r.reject(&conf, actor, &id)?,
                Moderation::ToWaitingRoom(id) => r.to_waiting_room(&conf, actor, &id, now)?,
                Moderation::Podium(id, on) => r.podium_set(&conf, actor, &id, on, now)?,
                Moderation::Role(id, role) => r.set_role(&conf, actor, &id, role)?,
                Moderation::Remove(id) => {
                    if me.as_deref() == Some(id.as_str()) {
                        r.leave(&id)
                    } else {
                        r.remove(&conf, actor, &id)?
                    }
                }
                Moderation::Media {
                    id,
                    mic_muted,
                    camera_off,
                } => {
                    r.set_media(
                        &conf,
                        actor,
                        me.as_deref().unwrap_or_default(),
                        &id,
                        mic_muted,
                        camera_off,
                    )?;
                    media_changed = Some(id);
                    Vec::new()
                }
            }
        };
        if let Some(id) = media_changed {
            self.emit(ServerEvent::Media {
                cid: cid.to_string(),
                id,
            });
        }
        let mut someone_left = false;
        for ev in events {
            if let roster::Event::Removed { id }
            | roster::Event::Left { id }
            | roster::Event::Refused { id, .. } = &ev
            {
                someone_left = true;
                if let Ok(mut s) = self.inner.sessions.write() {
                    s.retain(|_, v| &v.member != id);
                }
            }
            self.emit(ServerEvent::Roster {
                cid: cid.to_string(),
                event: ev,
            });
        }
        if someone_left {
            self.terminate_if_empty(cid);
        }
        Ok(())
    }

    /// Stops a conference with `auto_termination` once nobody is left in
    /// it (a call ends when both sides have hung up).
    pub(super) fn terminate_if_empty(&self, cid: &str) {
        fn empty(server: &Server, cid: &str) -> bool {
            server.read().get(cid).is_some_and(|e| {
                e.conf.options.auto_termination
                    && e.conf.state == RunState::Running
                    && e.roster.is_empty()
            })
        }
        if !empty(self, cid) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%cid, "emptied conference not stopped: no runtime");
            return;
        };
        let server = self.clone();
        let cid = cid.to_string();
        rt.spawn(async move {
            let room = Principal::Room {
                login: server.inner.config.room_login.clone(),
            };
            // Someone may have come back in meanwhile.
            if !empty(&server, &cid) {
                return;
            }
            match server
                .set_running(&room, &cid, false, Trigger::Emptied)
                .await
            {
                Ok(_) => tracing::info!(%cid, "the last participant left: conference stopped"),
                Err(e) => tracing::warn!(%cid, error = %e, "could not stop the emptied conference"),
            }
        });
    }

    // ---- live media -------------------------------------------------------------

    /// The conference and its members, for media routing.
    pub fn snapshot(&self, cid: &str) -> Option<(Conference, Vec<Member>)> {
        let book = self.read();
        let e = book.get(cid)?;
        Some((
            e.conf.clone(),
            e.roster.all().into_iter().cloned().collect(),
        ))
    }

    /// The stable key of a conference (survives CID changes).
    pub fn key_of(&self, cid: &str) -> Option<u64> {
        self.read().key_of(cid)
    }

    /// The current CID of the conference with `key`.
    pub fn cid_of(&self, key: u64) -> Option<String> {
        self.read().by_key(key).map(|e| e.conf.id.to_string())
    }

    pub(super) fn announce_all(&self, cid: &str, events: Vec<roster::Event>) {
        for ev in events {
            self.emit(ServerEvent::Roster {
                cid: cid.to_string(),
                event: ev,
            });
        }
    }

    /// A voice-activity report from the media router (smart meetings fill
    /// the podium from these).
    pub fn voice(&self, cid: &str, id: &str, active: bool) {
        let now = self.inner.clock.mono();
        let events = {
            let mut book = self.write();
            let Some(e) = book.get_mut(cid) else { return };
            let conf = e.conf.clone();
            e.roster.voice(&conf, id, active, now)
        };
        self.announce_all(cid, events);
    }

    /// Re-evaluates the smart podium (silence releases places).
    pub fn tick(&self, cid: &str) {
        let now = self.inner.clock.mono();
        let events = {
            let mut book = self.write();
            let Some(e) = book.get_mut(cid) else { return };
            let conf = e.conf.clone();
            e.roster.tick(&conf, now)
        };
        self.announce_all(cid, events);
    }

    /// A member starts or stops sharing content (`desktop_sharing` right).
    pub fn sharing(&self, cid: &str, id: &str, on: bool) -> Result<(), ServerError> {
        let now = self.inner.clock.mono();
        let events = {
            let mut book = self.write();
            let e = book
                .get_mut(cid)
                .ok_or_else(|| ServerError::not_found(cid))?;
            let conf = e.conf.clone();
            e.roster.sharing(&conf, id, on, now)?
        };
        self.announce_all(cid, events);
        self.emit(ServerEvent::Media {
            cid: cid.to_string(),
            id: id.to_string(),
        });
        Ok(())
    }

    // ---- chat -------------------------------------------------------------------

    /// Posts a chat message as member `from` (who must be admitted and hold
    /// the `chat_send` right). Stored before it is announced.
    pub async fn chat_post(
        &self,
        cid: &str,
        from: &str,
        text: &str,
    ) -> Result<persist::ChatMessage, ServerError> {
        let text = text.trim();
        let n = text.chars().count();
        if n == 0 || n > CHAT_MAX {
            return Err(ServerError::Invalid(vec![
                crate::conference::FieldError::new(
                    "text",
                    format!("1 to {CHAT_MAX} characters, got {n}"),
                ),
            ]));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            return Err(ServerError::Invalid(vec![
                crate::conference::FieldError::new(
                    "text",
                    format!("no control characters, got U+{:04X}", c as u32),
                ),
            ]));
        }
        let (cid, name) = {
            let book = self.read();
            let e = book.get(cid).ok_or_else(|| ServerError::not_found(cid))?;
            let m = e.roster.get(from).ok_or_else(|| {
                ServerError::Forbidden(format!("{from} is not in conference {cid}"))
            })?;
            if m.waiting() {
                return Err(ServerError::Forbidden(
                    "participants in the waiting room cannot use the chat".into(),
                ));
            }
            if !e
                .roster
                .may(&e.conf, from, crate::conference::Right::ChatSend)
            {
                return Err(ServerError::Forbidden(format!(
                    "{from} may not send chat messages in conference {cid} (chat_send)"
                )));
            }
            (e.conf.id.to_string(), m.display_name.clone())
        };
        let at = self.now();
        let (c, f, d, t) = (
            cid.clone(),
            from.to_string(),
            name.clone(),
            text.to_string(),
        );
        let id = self
            .inner
            .store
            .write(move |tx| persist::add_chat(tx, &c, &f, &d, &t, at))
            .await?;
        let message = persist::ChatMessage {
            id,
            from: from.to_string(),
            display_name: name,
            text: text.to_string(),
            at,
        };
        self.emit(ServerEvent::Chat {
            cid,
            message: message.clone(),
        });
        Ok(message)
    }

    /// The conference's recent chat, oldest first.
    pub async fn chat_history(&self, cid: &str) -> Result<Vec<persist::ChatMessage>, ServerError> {
        let c = cid.to_string();
        Ok(self
            .inner
            .store
            .read(move |conn| persist::chat_history(conn, &c, CHAT_HISTORY))
            .await?)
    }

    // ---- invitations and guest links -----------------------------------------
}

//! Invitations and calls: ringing for an invitation and answering it,
//! joining by itself when the room answers invitations, and placing a
//! call to someone here or on another dais.

use super::*;

impl Loop {
    /// A conference on this dais invites the room: it joins when it is
    /// free (idle or in standby, which it leaves) and answering is on,
    /// else it rings.
    pub(in crate::app::dispatch) async fn invited(&mut self, cid: String, ids: Vec<String>) {
        let me = self.room_id();
        if !ids.iter().any(|i| i == &me) {
            return;
        }
        if matches!(
            self.state.borrow().activity,
            Activity::Starting | Activity::Stopping
        ) || self.shared.server.get(&self.room(), &cid).is_err()
        {
            return;
        }
        let c = &self.shared.settings.conference;
        let event = Event::Invited {
            cid: cid.clone(),
            answer: c.answer_invitations,
            ring_seconds: c.ring_seconds,
        };
        match self.flow(event).await {
            Err(e) => tracing::info!(conference = %cid, "invited, not answered: {e}"),
            Ok(FollowUp {
                join: Some(cid), ..
            }) => {
                // Waking is what joining needs (the join wakes the room).
                match self.join(cid.clone(), None, None, None).await {
                    Ok(_) => tracing::info!(conference = %cid, "joining on invitation"),
                    Err(e) => {
                        tracing::warn!(conference = %cid, error = %e.message, "could not join on invitation")
                    }
                }
            }
            Ok(_) => {}
        }
    }

    /// Calls someone: a conference of two ("all on screen", ended when
    /// both sides have left) with them invited, so their endpoint rings,
    /// hosted by their dais. A user of this dais is called here; `peer` on
    /// another dais (`server`) through that dais's API with the room's
    /// credentials for it (`[conference.servers]`).
    pub(in crate::app::dispatch) async fn call(
        &mut self,
        peer: String,
        server: Option<String>,
    ) -> Result<Reply, CommandError> {
        let peer = peer.trim().to_string();
        if peer.is_empty() {
            return Err(err(ErrorCode::BadRequest, "peer: whom to call is empty"));
        }
        let name = self.state.borrow().room_name.clone();
        let topic = format!("Call from {name}");
        let reply = match server.filter(|s| !self.is_local(s)) {
            Some(host) => {
                let entry = self.remote_server(&host)?;
                self.connect(Reach::Call { entry, peer, topic }, None, Some(host))
                    .await?
                    .reply()
            }
            None => {
                if peer.eq_ignore_ascii_case(&self.room_id()) {
                    return Err(err(
                        ErrorCode::BadRequest,
                        format!("peer: {peer} is this room"),
                    ));
                }
                let user = self.local_user(&peer).ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!(
                                "{peer} is not a user of this dais; a user of another server is called as user@server"
                            ),
                        )
                    })?;
                let mut patch = Meeting::new(crate::command::MeetingMode::AllOnScreen).to_patch();
                patch.topic = Some(topic);
                patch.max_participants = Some(2);
                patch.invitations = Some(vec![crate::conference::Invitation {
                    id: user.login.clone(),
                    display_name: user.display_name.clone(),
                }]);
                patch.auto_invite = Some(true);
                patch.auto_termination = Some(true);
                self.start_own(patch).await?
            }
        };
        let _ = self.flow(Event::PlacedCall).await;
        self.state.send_modify(|st| {
            if let Some(c) = st.conference.as_mut() {
                c.call = true;
            }
        });
        Ok(reply)
    }

    /// Rings the room for an invitation: the panel wakes and shows it
    /// until it is answered or `until` passes.
    pub(super) fn ring(&mut self, cid: String, until: u64) {
        let (topic, from) = match self.shared.server.get(&self.room(), &cid) {
            Ok(conf) => (conf.topic.clone(), conf.owner.clone()),
            Err(_) => (String::new(), String::new()),
        };
        self.state.send_modify(|st| {
            if st.activity == Activity::Standby {
                st.activity = Activity::Idle;
            }
            st.incoming = Some(crate::app::state::Incoming {
                cid: cid.clone(),
                topic,
                from,
                until,
            });
        });
        tracing::info!(conference = %cid, "invitation ringing");
        let app = self.events.clone();
        let wait = until.saturating_sub(self.now());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            if let Some(app) = app.upgrade() {
                let _ = app.send(AppEvent::CallTimer(until)).await;
            }
        });
    }

    /// The ringing invitation ended: answered, declined, missed or
    /// withdrawn by its caller.
    pub(super) async fn ring_ended(&mut self, cid: String, how: RingEnd) {
        tracing::info!(conference = %cid, ?how, "invitation no longer ringing");
        self.state.send_modify(|st| {
            let inc = st.incoming.take();
            st.missed_call = match how {
                RingEnd::Missed | RingEnd::Withdrawn => inc,
                RingEnd::Accepted | RingEnd::Declined => None,
            };
        });
        if matches!(how, RingEnd::Declined | RingEnd::Missed) {
            self.end_unanswered_call(&cid).await;
        }
    }

    /// A call the room declined or missed ends, so the caller is not left
    /// waiting in it; other conferences go on without the room.
    async fn end_unanswered_call(&self, cid: &str) {
        let server = &self.shared.server;
        if server.get(&self.room(), cid).is_ok_and(|c| is_call(&c))
            && let Err(e) = server
                .set_running(&self.room(), cid, false, crate::server::Trigger::Room)
                .await
        {
            tracing::warn!(conference = %cid, error = %e, "could not end the unanswered call");
        }
    }

    /// Answers the ringing invitation.
    pub(in crate::app::dispatch) async fn answer(
        &mut self,
        accept: bool,
    ) -> Result<Reply, CommandError> {
        let cid = match self.flow.phase() {
            crate::call::Phase::Ringing(r) => r.cid.clone(),
            _ => String::new(),
        };
        let next = self
            .flow(Event::Answer { accept })
            .await
            .map_err(|e| err(ErrorCode::Conflict, e.to_string()))?;
        match next.join {
            Some(cid) => self.join(cid, None, None, None).await.map(Joining::reply),
            None => Ok(Reply::Json(json!({"cid": cid, "state": "rejected"}))),
        }
    }
}

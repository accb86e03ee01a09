//! Who is asked to a conference: invitations (and the auto-invite when it
//! starts) and guest links, issued and redeemed.

use super::*;

impl Server {
    /// Adds people to a conference's invitations (planned participants).
    /// Returns the ones that were new.
    pub async fn invite(
        &self,
        who: &Principal,
        cid: &str,
        people: Vec<crate::conference::Invitation>,
    ) -> Result<Vec<crate::conference::Invitation>, ServerError> {
        let _w = self.inner.writes.lock().await;
        let people_ids: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
        let (old, next, added) = {
            let book = self.read();
            let e = Self::managed(&book, who, cid, "invite to conference")?;
            let mut list = e.conf.invitations.clone();
            let mut added = Vec::new();
            for p in people {
                if !e.conf.is_invited(&p.id)
                    && !added
                        .iter()
                        .any(|a: &crate::conference::Invitation| owner_matches(&a.id, &p.id))
                {
                    added.push(p.clone());
                    list.push(p);
                }
            }
            let mut next = e.conf.clone();
            next.apply(
                Patch {
                    invitations: Some(list),
                    ..Default::default()
                },
                &|_| false,
            )
            .map_err(ServerError::from)?;
            (e.conf.clone(), next, added)
        };
        let running = old.state == RunState::Running;
        let ids: Vec<String> = people_ids;
        if !added.is_empty() {
            self.commit_change(&old, next, Trigger::Api).await?;
        }
        // Inviting again into a running conference calls again.
        if running && !ids.is_empty() {
            self.emit(ServerEvent::Invited {
                cid: cid.to_string(),
                ids,
            });
        }
        Ok(added)
    }

    /// A conference that starts with `auto_invite` calls its invitees.
    pub(super) fn auto_invite(&self, conf: &Conference) {
        if conf.auto_invite && !conf.invitations.is_empty() {
            self.emit(ServerEvent::Invited {
                cid: conf.id.to_string(),
                ids: conf.invitations.iter().map(|i| i.id.clone()).collect(),
            });
        }
    }

    pub async fn uninvite(&self, who: &Principal, cid: &str, id: &str) -> Result<(), ServerError> {
        let _w = self.inner.writes.lock().await;
        let (old, next) = {
            let book = self.read();
            let e = Self::managed(&book, who, cid, "change invitations of conference")?;
            let before = e.conf.invitations.len();
            let list: Vec<_> = e
                .conf
                .invitations
                .iter()
                .filter(|i| !owner_matches(&i.id, id))
                .cloned()
                .collect();
            if list.len() == before {
                return Err(ServerError::NotFound(format!(
                    "{id} is not invited to conference {cid}"
                )));
            }
            let mut next = e.conf.clone();
            next.invitations = list;
            (e.conf.clone(), next)
        };
        self.commit_change(&old, next, Trigger::Api).await?;
        Ok(())
    }

    /// Makes a one-minute, single-use guest link for a conference.
    pub async fn issue_link(
        &self,
        who: &Principal,
        cid: &str,
        user: &links::GuestUser,
    ) -> Result<(String, links::GuestLink), ServerError> {
        {
            let book = self.read();
            Self::managed(&book, who, cid, "make guest links for conference")?;
        }
        let now = self.now();
        let (token, link) = links::issue(cid, user, now, self.inner.config.link_ttl);
        let stored = link.clone();
        self.inner
            .store
            .write(move |tx| persist::save_link(tx, &stored, now))
            .await?;
        self.write().links.insert(link.hash.clone(), link.clone());
        Ok((token, link))
    }

    /// Spends a guest link: valid, unused, unexpired, for this conference,
    /// and the conference is running (so a too-early click does not burn it).
    pub async fn redeem_link(
        &self,
        cid: &str,
        token: &str,
    ) -> Result<links::GuestLink, ServerError> {
        let now = self.now();
        let hash = auth::token_hash(token);
        let link = {
            let book = self.read();
            let link = links::check(book.links.get(&hash), cid, now)
                .map_err(|e| ServerError::Unauthorized(e.to_string()))?
                .clone();
            let running = book
                .get(cid)
                .is_some_and(|e| e.conf.state == RunState::Running);
            if !running {
                return Err(ServerError::Conflict(format!(
                    "conference {cid} is not running yet; the link stays valid until it expires"
                )));
            }
            link
        };
        let h = hash.clone();
        let fresh = self
            .inner
            .store
            .write(move |tx| persist::use_link(tx, &h))
            .await?;
        if !fresh {
            return Err(ServerError::Unauthorized(
                links::LinkError::Used.to_string(),
            ));
        }
        if let Some(l) = self.write().links.get_mut(&hash) {
            l.used = true;
        }
        Ok(link)
    }

    // ---- templates ------------------------------------------------------------
}

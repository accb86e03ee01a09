//! The embedded conferencing server: conferences, rosters, templates and
//! guest links, persisted in the store and served over a REST API that
//! TrueConf Server API v3.11 clients can use unchanged.
//!
//! [`Server`] is the service layer every input uses (REST handlers in
//! [`api`], the control network and the panel through `Command`s). It keeps
//! the conference book in memory for fast reads and writes every change
//! through to SQLite before it becomes visible. Mutations are serialised by
//! one async lock, so the order in the store is the order in memory.
//!
//! Invariants:
//! - all rules live in `crate::conference`; this module only looks things
//!   up, checks who is asking, persists and announces;
//! - a change is visible only after it is stored; a failed store write
//!   leaves memory unchanged.

pub mod api;
pub mod auth;
mod book;
pub mod calendar;
pub mod error;
mod invitations;
pub mod links;
mod live;
pub mod model;
pub mod openapi;
pub mod persist;
pub mod pins;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, broadcast};

pub use auth::{Auth, Principal};
pub use book::{Entry, Filter};
pub use error::ServerError;

use crate::clock::Clock;
use crate::conference::roster::{self, JoinRequest, Member};
use crate::conference::{
    Actor, Cid, Conference, JoinDecision, Patch, Role, Roster, RunState, template::Template,
};
use crate::store::Store;

/// Settings the server runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The public base URL for links (`https://room.example.com`); when
    /// `None`, links are built from the request's `Host`.
    pub public_url: Option<String>,
    /// Guest links expire after this many seconds (the seeds: one minute).
    pub link_ttl: i64,
    /// The login the room uses as owner of conferences it starts.
    pub room_login: String,
    /// Smart-meeting talk detection.
    pub talk: crate::conference::podium::TalkConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            link_ttl: 60,
            room_login: "room".into(),
            talk: Default::default(),
        }
    }
}

/// What started or stopped a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Api,
    Schedule,
    Room,
    /// The last participant left a conference with `auto_termination`.
    Emptied,
}

/// Everything the server announces to the rest of dais.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Created {
        cid: String,
    },
    Updated {
        cid: String,
    },
    Renamed {
        from: String,
        to: String,
    },
    Deleted {
        cid: String,
    },
    Started {
        cid: String,
        by: Trigger,
    },
    Stopped {
        cid: String,
        by: Trigger,
    },
    Roster {
        cid: String,
        event: roster::Event,
    },
    /// A chat message was posted (and stored).
    Chat {
        cid: String,
        message: persist::ChatMessage,
    },
    /// A member's microphone, camera or sharing changed.
    Media {
        cid: String,
        id: String,
    },
    /// People were invited into a running conference (by the API, or by
    /// `auto_invite` when it started): their endpoints should join.
    Invited {
        cid: String,
        ids: Vec<String>,
    },
}

pub use crate::conference::CHAT_MAX;
/// How many earlier messages a participant gets on joining.
pub const CHAT_HISTORY: usize = 200;

/// A participant's own session, from a REST or signalling join.
#[derive(Debug, Clone)]
pub struct Session {
    pub key: u64,
    pub member: String,
}

#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    auth: Auth,
    book: RwLock<book::Book>,
    writes: Mutex<()>,
    events: broadcast::Sender<ServerEvent>,
    wake: Notify,
    sessions: RwLock<HashMap<String, Session>>,
    pins: pins::PinGuesses,
}

/// Who acts on a roster: a principal, or a participant by session.
#[derive(Debug, Clone)]
pub enum Caller {
    Principal(Principal),
    Session(String),
}

impl Server {
    /// Loads the server's state from the store. Blocking: call at start-up.
    pub fn open(
        store: Store,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
        auth: Auth,
    ) -> Result<Self, ServerError> {
        let loaded = persist::load(&store)?;
        let now = clock.unix();
        let gone = auth.restore(loaded.tokens, now);
        if !gone.is_empty() {
            tracing::info!(
                tokens = gone.len(),
                "ended the tokens of API clients and users no longer in the settings"
            );
            store.write_blocking(move |tx| {
                for hash in &gone {
                    persist::delete_token(tx, hash)?;
                }
                Ok(())
            })?;
        }
        let mut book = book::Book::default();
        book.talk = config.talk;
        for c in loaded.conferences {
            book.insert(c);
        }
        for t in loaded.templates {
            book.templates.insert(t.id, t);
        }
        for l in loaded.links {
            book.links.insert(l.hash.clone(), l);
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                auth,
                book: RwLock::new(book),
                writes: Mutex::new(()),
                events,
                wake: Notify::new(),
                sessions: RwLock::new(HashMap::new()),
                pins: pins::PinGuesses::default(),
            }),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.unix()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, e: ServerEvent) {
        let _ = self.inner.events.send(e);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, book::Book> {
        // A poisoned lock means a panic mid-update elsewhere; the book is
        // plain data, so reading on is the most useful choice.
        self.inner
            .book
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, book::Book> {
        self.inner
            .book
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Persists issued tokens, and deletes those a grant spent (in one
    /// transaction: a used refresh token never comes back after a restart).
    pub async fn save_tokens(
        &self,
        rows: Vec<auth::TokenRow>,
        revoked: Vec<String>,
    ) -> Result<(), ServerError> {
        let now = self.now();
        self.inner
            .store
            .write(move |tx| {
                persist::save_tokens(tx, &rows, now)?;
                for hash in &revoked {
                    persist::delete_token(tx, hash)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    // ---- conferences ------------------------------------------------------

    fn may_see(who: &Principal, c: &Conference) -> bool {
        who.is_admin()
            || who
                .login()
                .is_some_and(|l| c.is_owner(l) || c.is_invited(l))
    }

    fn may_manage(who: &Principal, c: &Conference) -> bool {
        who.is_admin() || who.login().is_some_and(|l| c.is_owner(l))
    }

    /// Conference `cid` in `book`, if `who` may manage it (its owner or an
    /// admin); else not found, or forbidden to `what` it.
    fn managed<'b>(
        book: &'b book::Book,
        who: &Principal,
        cid: &str,
        what: &str,
    ) -> Result<&'b book::Entry, ServerError> {
        let e = book.get(cid).ok_or_else(|| ServerError::not_found(cid))?;
        if Self::may_manage(who, &e.conf) {
            Ok(e)
        } else {
            Err(ServerError::Forbidden(format!(
                "only the owner may {what} {cid}"
            )))
        }
    }

    pub fn list(&self, who: &Principal, filter: &Filter) -> (Vec<Conference>, usize) {
        let book = self.read();
        let all: Vec<Conference> = book
            .conferences()
            .filter(|c| Self::may_see(who, c) && filter.matches(c))
            .cloned()
            .collect();
        let total = all.len();
        let page = all
            .into_iter()
            .skip(filter.offset())
            .take(filter.page_size)
            .collect();
        (page, total)
    }

    pub fn get(&self, who: &Principal, cid: &str) -> Result<Conference, ServerError> {
        let book = self.read();
        let c = book.get(cid).ok_or_else(|| ServerError::not_found(cid))?;
        if !Self::may_see(who, &c.conf) {
            return Err(ServerError::Forbidden(format!(
                "you are neither the owner of conference {cid} nor invited to it"
            )));
        }
        Ok(c.conf.clone())
    }

    /// The domain's complaints about a patch, without applying it: for a
    /// new conference (`cid` `None`) or a change to `cid`. Used to report
    /// every bad field when some fields could not even be parsed.
    pub fn check(
        &self,
        who: &Principal,
        cid: Option<&str>,
        patch: &Patch,
    ) -> Vec<crate::conference::FieldError> {
        let book = self.read();
        let mut patch = patch.clone();
        match cid.and_then(|c| book.get(c)) {
            Some(e) => {
                let mut c = e.conf.clone();
                c.apply(patch, &|x| {
                    book.get(x.as_str()).is_some_and(|o| o.conf.id != e.conf.id)
                })
                .err()
                .map(|e| e.0)
                .unwrap_or_default()
            }
            None => {
                if patch.owner.is_none() {
                    patch.owner = who.login().map(str::to_string);
                }
                Conference::create(
                    patch,
                    0,
                    || Cid::parse("0000000000").expect("literal CID"),
                    |c| book.get(c.as_str()).is_some(),
                )
                .err()
                .map(|e| e.0)
                .unwrap_or_default()
            }
        }
    }

    pub async fn create(
        &self,
        who: &Principal,
        mut patch: Patch,
    ) -> Result<Conference, ServerError> {
        match (&patch.owner, who.login()) {
            (None, Some(me)) => patch.owner = Some(me.to_string()),
            (Some(o), Some(me)) if !who.is_admin() && !owner_matches(o, me) => {
                return Err(ServerError::Forbidden(
                    "users create conferences they own; only API clients may name another owner"
                        .into(),
                ));
            }
            _ => {}
        }
        let _w = self.inner.writes.lock().await;
        let now = self.now();
        let conf = {
            let book = self.read();
            Conference::create(
                patch,
                now,
                || Cid::generate(random_u64, |c| book.get(c.as_str()).is_some()),
                |c| book.get(c.as_str()).is_some(),
            )
            .map_err(ServerError::from)?
        };
        let row = persist::ConferenceRow::of(&conf);
        self.inner
            .store
            .write(move |tx| persist::upsert_conference(tx, &row, None))
            .await?;
        let running = conf.state == RunState::Running;
        let cid = conf.id.to_string();
        self.write().insert(conf.clone());
        self.emit(ServerEvent::Created { cid: cid.clone() });
        if running {
            self.emit(ServerEvent::Started {
                cid,
                by: Trigger::Api,
            });
            self.auto_invite(&conf);
        }
        // Only scheduled conferences concern the scheduler; waking it for a
        // virtual room would cost a scan of every conference per create.
        if conf.schedule != crate::conference::Schedule::None {
            self.inner.wake.notify_one();
        }
        Ok(conf)
    }

    pub async fn update(
        &self,
        who: &Principal,
        cid: &str,
        patch: Patch,
    ) -> Result<Conference, ServerError> {
        let _w = self.inner.writes.lock().await;
        let (old, updated) = {
            let book = self.read();
            let e = Self::managed(&book, who, cid, "change conference")?;
            if patch
                .owner
                .as_deref()
                .is_some_and(|o| !owner_matches(o, &e.conf.owner))
                && !who.is_admin()
            {
                return Err(ServerError::Forbidden(
                    "only API clients may change the owner".into(),
                ));
            }
            let mut next = e.conf.clone();
            next.apply(patch, &|c| {
                book.get(c.as_str())
                    .is_some_and(|other| other.conf.id != e.conf.id)
            })
            .map_err(ServerError::from)?;
            (e.conf.clone(), next)
        };
        self.commit_change(&old, updated, Trigger::Api).await
    }

    /// Stores a changed conference and installs it, announcing what changed.
    async fn commit_change(
        &self,
        old: &Conference,
        new: Conference,
        by: Trigger,
    ) -> Result<Conference, ServerError> {
        let row = persist::ConferenceRow::of(&new);
        let renamed_from = (old.id != new.id).then(|| old.id.to_string());
        let from = renamed_from.clone();
        self.inner
            .store
            .write(move |tx| persist::upsert_conference(tx, &row, from.as_deref()))
            .await?;
        let now = self.inner.clock.mono();
        let mut events = Vec::new();
        {
            let mut book = self.write();
            if let Some(from) = &renamed_from {
                book.rename(from, new.id.as_str());
            }
            if let Some(e) = book.get_mut(new.id.as_str()) {
                let key = e.key;
                e.conf = new.clone();
                if new.state == RunState::Stopped && old.state == RunState::Running {
                    events.extend(e.roster_clear());
                } else if new.state == RunState::Running {
                    events.extend(e.roster.conference_changed(&new, now));
                }
                book.reindex(key);
            }
        }
        let cid = new.id.to_string();
        if let Some(from) = renamed_from {
            self.emit(ServerEvent::Renamed {
                from,
                to: cid.clone(),
            });
        }
        self.emit(ServerEvent::Updated { cid: cid.clone() });
        match (old.state, new.state) {
            (RunState::Stopped, RunState::Running) => {
                self.emit(ServerEvent::Started {
                    cid: cid.clone(),
                    by,
                });
                self.auto_invite(&new);
            }
            (RunState::Running, RunState::Stopped) => self.emit(ServerEvent::Stopped {
                cid: cid.clone(),
                by,
            }),
            _ => {}
        }
        for e in events {
            self.emit(ServerEvent::Roster {
                cid: cid.clone(),
                event: e,
            });
        }
        if new.schedule != old.schedule || new.schedule != crate::conference::Schedule::None {
            self.inner.wake.notify_one();
        }
        Ok(new)
    }

    pub async fn delete(&self, who: &Principal, cid: &str) -> Result<(), ServerError> {
        let _w = self.inner.writes.lock().await;
        {
            let book = self.read();
            Self::managed(&book, who, cid, "delete conference")?;
        }
        let id = cid.to_string();
        self.inner
            .store
            .write(move |tx| persist::delete_conference(tx, &id))
            .await?;
        let removed = self.write().remove(cid);
        if let Some(e) = removed {
            self.drop_sessions(e.key);
            if e.conf.state == RunState::Running {
                self.emit(ServerEvent::Stopped {
                    cid: cid.to_string(),
                    by: Trigger::Api,
                });
            }
        }
        self.emit(ServerEvent::Deleted {
            cid: cid.to_string(),
        });
        Ok(())
    }

    /// Starts or stops a conference. `manual` calls override the schedule
    /// until its next transition.
    pub async fn set_running(
        &self,
        who: &Principal,
        cid: &str,
        running: bool,
        by: Trigger,
    ) -> Result<Conference, ServerError> {
        let _w = self.inner.writes.lock().await;
        let (old, next) = {
            let book = self.read();
            let e = Self::managed(&book, who, cid, "run or stop conference")?;
            let mut next = e.conf.clone();
            next.state = if running {
                RunState::Running
            } else {
                RunState::Stopped
            };
            (e.conf.clone(), next)
        };
        if by != Trigger::Schedule {
            let now = self.now();
            if let Some(e) = self.write().get_mut(cid) {
                e.schedule_override_until = old.schedule.next_transition(now);
            }
        }
        if old.state == next.state {
            return Ok(old);
        }
        self.commit_change(&old, next, by).await
    }

    /// Starts and stops scheduled conferences whose time has come. Returns
    /// the CIDs it changed. Called by the scheduler task every second and
    /// after any change.
    pub async fn run_schedules(&self) -> Vec<String> {
        let now = self.now();
        let due: Vec<(String, bool)> = {
            let book = self.read();
            book.scheduled()
                .filter(|e| e.schedule_override_until.is_none_or(|until| now >= until))
                .filter_map(|e| {
                    let want = e.conf.schedule.wants_running(now)?;
                    let is = e.conf.state == RunState::Running;
                    (want != is).then(|| (e.conf.id.to_string(), want))
                })
                .collect()
        };
        let mut changed = Vec::new();
        for (cid, want) in due {
            let room = Principal::Room {
                login: self.inner.config.room_login.clone(),
            };
            match self.set_running(&room, &cid, want, Trigger::Schedule).await {
                Ok(_) => {
                    tracing::info!(%cid, running = want, "schedule: conference {}", if want { "started" } else { "stopped" });
                    changed.push(cid);
                }
                Err(e) => {
                    tracing::warn!(%cid, error = %e, "schedule: could not change the conference")
                }
            }
        }
        if !changed.is_empty() {
            let now = self.now();
            let mut book = self.write();
            for cid in &changed {
                if let Some(e) = book.get_mut(cid) {
                    e.schedule_override_until = None;
                    let _ = now;
                }
            }
        }
        changed
    }

    /// The scheduler: evaluates schedules every second and whenever a
    /// conference changes, until `cancel` fires.
    pub async fn scheduler(self, cancel: tokio_util::sync::CancellationToken) {
        loop {
            self.run_schedules().await;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    // ---- rosters ------------------------------------------------------------

    pub fn templates(&self) -> Vec<Template> {
        self.read().templates.values().cloned().collect()
    }

    pub async fn save_template(
        &self,
        id: Option<i64>,
        name: String,
        settings: Patch,
    ) -> Result<Template, ServerError> {
        Template::validate(&name, &settings).map_err(ServerError::from)?;
        let _w = self.inner.writes.lock().await;
        if let Some(id) = id
            && !self.read().templates.contains_key(&id)
        {
            return Err(ServerError::NotFound(format!("no template {id}")));
        }
        let body = model::patch_json(&settings).to_string();
        let now = self.now();
        let n = name.trim().to_string();
        let stored_id = self
            .inner
            .store
            .write(move |tx| persist::save_template(tx, id, &n, &body, now))
            .await?;
        let t = Template {
            id: stored_id,
            name: name.trim().to_string(),
            settings,
        };
        self.write().templates.insert(stored_id, t.clone());
        Ok(t)
    }

    pub async fn delete_template(&self, id: i64) -> Result<(), ServerError> {
        let _w = self.inner.writes.lock().await;
        if !self.read().templates.contains_key(&id) {
            return Err(ServerError::NotFound(format!("no template {id}")));
        }
        self.inner
            .store
            .write(move |tx| persist::delete_template(tx, id))
            .await?;
        self.write().templates.remove(&id);
        Ok(())
    }

    pub async fn start_template(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Conference, ServerError> {
        let t = self
            .read()
            .templates
            .get(&id)
            .cloned()
            .ok_or_else(|| ServerError::NotFound(format!("no template {id}")))?;
        let owner = who
            .login()
            .unwrap_or(&self.inner.config.room_login)
            .to_string();
        self.create(who, t.start_patch(&owner)).await
    }
}

/// What a join request came to.
#[derive(Debug, Clone)]
pub struct JoinOutcome {
    pub decision: JoinDecision,
    /// The participant's session token (not for refusals).
    pub session: Option<String>,
    pub member: Option<Member>,
}

/// A moderation step, as the REST API and the panel ask for it.
#[derive(Debug, Clone)]
pub enum Moderation {
    Admit(String),
    AdmitAll,
    Reject(String),
    ToWaitingRoom(String),
    Podium(String, bool),
    Role(String, Role),
    Remove(String),
    Media {
        id: String,
        mic_muted: Option<bool>,
        camera_off: Option<bool>,
    },
}

fn owner_matches(a: &str, b: &str) -> bool {
    let base = |s: &str| s.split('@').next().unwrap_or(s).to_ascii_lowercase();
    base(a) == base(b)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the kernel's random source is available");
    u64::from_le_bytes(b)
}

impl Entry {
    /// Everyone leaves (the conference stopped).
    fn roster_clear(&mut self) -> Vec<roster::Event> {
        let ids: Vec<String> = self.roster.all().iter().map(|m| m.id.clone()).collect();
        let mut events = Vec::new();
        for id in ids {
            events.extend(self.roster.leave(&id));
        }
        self.roster = Roster::with_talk(self.roster.talk());
        events
    }
}

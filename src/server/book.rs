//! The in-memory conference book: every conference with its live roster,
//! the templates and the guest links. Plain data; `Server` guards it.

use std::collections::{BTreeMap, HashMap};

use crate::conference::template::Template;
use crate::conference::{Conference, Roster, RunState};

use super::links::GuestLink;

/// One conference and what is live about it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// A stable handle that survives CID changes (sessions point at it).
    pub key: u64,
    pub conf: Conference,
    pub roster: Roster,
    /// A person started or stopped this scheduled conference by hand: the
    /// schedule leaves it alone until this time (its next transition).
    pub schedule_override_until: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Book {
    by_key: HashMap<u64, Entry>,
    by_cid: BTreeMap<String, u64>,
    next_key: u64,
    /// Keys of conferences with a schedule: the scheduler's working set.
    scheduled: std::collections::BTreeSet<u64>,
    pub templates: BTreeMap<i64, Template>,
    pub links: HashMap<String, GuestLink>,
    /// Smart-meeting talk detection for every roster.
    pub talk: crate::conference::podium::TalkConfig,
}

impl Book {
    pub fn insert(&mut self, conf: Conference) {
        self.next_key += 1;
        let key = self.next_key;
        self.by_cid.insert(conf.id.to_string(), key);
        if conf.schedule != crate::conference::Schedule::None {
            self.scheduled.insert(key);
        }
        self.by_key.insert(
            key,
            Entry {
                key,
                conf,
                roster: Roster::with_talk(self.talk),
                schedule_override_until: None,
            },
        );
    }

    pub fn key_of(&self, cid: &str) -> Option<u64> {
        self.by_cid.get(cid).copied()
    }

    pub fn get(&self, cid: &str) -> Option<&Entry> {
        self.by_key.get(&self.key_of(cid)?)
    }

    pub fn get_mut(&mut self, cid: &str) -> Option<&mut Entry> {
        let key = self.key_of(cid)?;
        self.by_key.get_mut(&key)
    }

    pub fn by_key(&self, key: u64) -> Option<&Entry> {
        self.by_key.get(&key)
    }

    pub fn by_key_mut(&mut self, key: u64) -> Option<&mut Entry> {
        self.by_key.get_mut(&key)
    }

    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(key) = self.by_cid.remove(from) {
            self.by_cid.insert(to.to_string(), key);
        }
    }

    pub fn remove(&mut self, cid: &str) -> Option<Entry> {
        let key = self.by_cid.remove(cid)?;
        self.scheduled.remove(&key);
        self.by_key.remove(&key)
    }

    /// Call after a conference's schedule may have changed.
    pub fn reindex(&mut self, key: u64) {
        match self.by_key.get(&key) {
            Some(e) if e.conf.schedule != crate::conference::Schedule::None => {
                self.scheduled.insert(key);
            }
            _ => {
                self.scheduled.remove(&key);
            }
        }
    }

    /// Conferences with a schedule.
    pub fn scheduled(&self) -> impl Iterator<Item = &Entry> {
        self.scheduled.iter().filter_map(|k| self.by_key.get(k))
    }

    /// Conferences in CID order.
    pub fn conferences(&self) -> impl Iterator<Item = &Conference> {
        self.by_cid
            .values()
            .filter_map(|k| self.by_key.get(k))
            .map(|e| &e.conf)
    }
}

/// `GET /conferences` filters and paging.
#[derive(Debug, Clone)]
pub struct Filter {
    pub state: Option<RunState>,
    pub owner: Option<String>,
    /// 1-based.
    pub page: usize,
    pub page_size: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            state: None,
            owner: None,
            page: 1,
            page_size: 100,
        }
    }
}

impl Filter {
    pub const MAX_PAGE_SIZE: usize = 1000;
    /// The highest page number a list may ask for.
    pub const MAX_PAGE: usize = 1_000_000;

    pub fn matches(&self, c: &Conference) -> bool {
        self.state.is_none_or(|s| s == c.state) && self.owner.as_ref().is_none_or(|o| c.is_owner(o))
    }

    pub fn offset(&self) -> usize {
        (self.page.max(1) - 1).saturating_mul(self.page_size)
    }
}

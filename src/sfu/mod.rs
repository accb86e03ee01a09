//! Media routing for conferences on the room's own server: one WebRTC
//! peer per participant, forwarding each speaker's audio and video to the
//! participants allowed to receive it (a selective forwarding unit), and
//! the participants' signalling over a WebSocket.
//!
//! - [`rtp`]: RTP packets, header extensions, audio levels, VP8 keyframes
//!   (sans-IO, fuzzed);
//! - [`loss`]: packets missing from a participant's track, as the server
//!   received it (sans-IO);
//! - [`slot`]: one forwarded track whose source changes, with steady
//!   numbering and keyframe gating (sans-IO);
//! - [`route`]: who receives whom, by mode, rights and voice activity
//!   (sans-IO);
//! - [`signal`]: the signalling messages (sans-IO; `docs/signalling.md`);
//! - [`tone`]: join/leave tones and music on hold as samples (sans-IO);
//! - [`peer`]: a participant's webrtcbin on the server;
//! - [`meeting`]: one conference's pipeline, slots and forwarding;
//! - [`sounds`]: the conference's own encoded audio;
//! - [`ws`]: the WebSocket endpoint participants connect to;
//! - [`client`]: the other end of it, for the room itself (on this server
//!   or another dais).

pub mod client;
pub mod meeting;
pub mod peer;
pub mod signal;
pub mod sounds;
pub mod ws;

// The sans-IO parts live in the core crate.
pub use dais_core::routing::{loss, route, rtp, slot};
pub use dais_core::tone;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::conference::roster::{self, Place};
use crate::server::{Server, ServerEvent};
use meeting::{Counters, Meeting};
use peer::{Peer, PeerEvent};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SfuError {
    #[error("no running conference {0}")]
    NotRunning(String),
    #[error("media: {0}")]
    Media(String),
}

/// How conferences route media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SfuConfig {
    /// Video tiles each participant receives at most.
    pub video_slots: usize,
    /// Speakers each participant hears at once.
    pub audio_slots: usize,
    /// How long a peer's jitter buffers wait for a missing packet, asking
    /// for it again, before giving it up (ms).
    pub jitter_ms: u32,
    /// Packets dropped on purpose in and out of each participant's
    /// connection, per thousand ([`loss::induced_drop`]); 0 in service.
    pub induced_loss_permille: u32,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            video_slots: 9,
            audio_slots: 3,
            jitter_ms: 150,
            induced_loss_permille: 0,
        }
    }
}

/// Totals for `/metrics` and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SfuStats {
    pub conferences: usize,
    pub peers: usize,
    pub received_packets: u64,
    pub forwarded_packets: u64,
    pub held_packets: u64,
    pub malformed_packets: u64,
    /// Packets missing from participants' tracks (left ones included).
    pub lost_packets: u64,
    /// Keyframes asked of participants.
    pub keyframe_requests: u64,
    /// Retransmissions asked and made on participants' connections, both
    /// ways (closed ones included).
    #[serde(flatten)]
    pub repair: peer::PeerRepair,
}

/// The conferences' media. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

struct Inner {
    server: Server,
    config: SfuConfig,
    meetings: Mutex<HashMap<u64, Arc<Meeting>>>,
    counters: Arc<Counters>,
}

impl Sfu {
    pub fn new(server: Server, config: SfuConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                server,
                config,
                meetings: Mutex::new(HashMap::new()),
                counters: Arc::new(Counters::default()),
            }),
        }
    }

    pub fn server(&self) -> &Server {
        &self.inner.server
    }

    fn meetings(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Meeting>>> {
        self.inner
            .meetings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Gives `member` of conference `cid` a media peer; its offer and
    /// everything else it has to say arrive on `events`.
    pub fn attach(
        &self,
        cid: &str,
        member: &str,
        listen_only: bool,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Result<Arc<Peer>, SfuError> {
        let key = self
            .inner
            .server
            .key_of(cid)
            .ok_or_else(|| SfuError::NotRunning(cid.to_string()))?;
        // The map stays locked while the peer is added, so that the tick
        // never closes a meeting between its creation and its first peer.
        let (meeting, peer) = {
            let mut m = self.meetings();
            let meeting = match m.get(&key) {
                Some(x) => x.clone(),
                None => {
                    let x = Meeting::new(
                        key,
                        self.inner.server.clone(),
                        self.inner.config,
                        self.inner.counters.clone(),
                    )?;
                    m.insert(key, x.clone());
                    x
                }
            };
            let peer = meeting.attach(member, listen_only, events)?;
            (meeting, peer)
        };
        meeting.tick();
        Ok(peer)
    }

    /// Takes `member`'s peer out of conference `cid`.
    pub fn detach(&self, cid: &str, member: &str) {
        let Some(key) = self.inner.server.key_of(cid) else {
            return;
        };
        let m = self.meetings().get(&key).cloned();
        if let Some(m) = m {
            m.detach(member);
        }
    }

    /// Asks for fresh keyframes on everything `member` receives (its
    /// page was hidden, or its decoder restarted).
    pub fn refresh(&self, cid: &str, member: &str) {
        let Some(key) = self.inner.server.key_of(cid) else {
            return;
        };
        let m = self.meetings().get(&key).cloned();
        if let Some(m) = m {
            m.refresh(member);
        }
    }

    fn close(&self, key: u64) {
        let m = self.meetings().remove(&key);
        if let Some(m) = m {
            m.close();
            tracing::info!(conference = key, "conference media closed");
        }
    }

    pub fn stats(&self) -> SfuStats {
        let m = self.meetings();
        let c = &self.inner.counters;
        SfuStats {
            conferences: m.len(),
            peers: m.values().map(|x| x.peers()).sum(),
            received_packets: c.received.load(Ordering::Relaxed),
            forwarded_packets: c.forwarded.load(Ordering::Relaxed),
            held_packets: c.held.load(Ordering::Relaxed),
            malformed_packets: c.malformed.load(Ordering::Relaxed),
            lost_packets: c.lost_gone.load(Ordering::Relaxed)
                + m.values()
                    .flat_map(|x| x.track_stats())
                    .map(|t| t.loss.packets_lost)
                    .sum::<u64>(),
            keyframe_requests: c.keyframe_requests.load(Ordering::Relaxed),
            repair: {
                let mut r = c.repair_gone.lock().map(|g| *g).unwrap_or_default();
                for m in m.values() {
                    for p in m.peer_repairs() {
                        r.add(&p.repair);
                    }
                }
                r
            },
        }
    }

    /// Every participant's tracks as the server received them.
    pub fn track_stats(&self) -> Vec<meeting::TrackStat> {
        self.meetings()
            .values()
            .flat_map(|m| m.track_stats())
            .collect()
    }

    /// Every participant's connection's repairs (NACKs both ways).
    pub fn peer_stats(&self) -> Vec<meeting::PeerStat> {
        self.meetings()
            .values()
            .flat_map(|m| m.peer_repairs())
            .collect()
    }

    /// Ticks every conference's router and follows the server: tones on
    /// arrivals and departures, media closed when a conference stops.
    pub async fn run(self, cancel: CancellationToken) {
        let mut events = self.inner.server.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    // Empty meetings leave the map under its lock (see attach).
                    let (empty, busy): (Vec<Arc<Meeting>>, Vec<Arc<Meeting>>) = {
                        let mut map = self.meetings();
                        let (empty, busy) = map.values().cloned().partition(|m| m.peers() == 0);
                        for m in &empty {
                            let m: &Arc<Meeting> = m;
                            map.remove(&m.key);
                        }
                        (empty, busy)
                    };
                    for m in empty {
                        m.close();
                        tracing::info!(conference = m.key, "conference media closed");
                    }
                    for m in busy {
                        m.tick();
                    }
                }
                ev = events.recv() => match ev {
                    Ok(ev) => self.server_event(ev),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "conference media fell behind the server's events");
                    }
                    Err(_) => break,
                },
            }
        }
        let keys: Vec<u64> = self.meetings().keys().copied().collect();
        for k in keys {
            self.close(k);
        }
    }

    fn server_event(&self, ev: ServerEvent) {
        match ev {
            ServerEvent::Stopped { cid, .. } | ServerEvent::Deleted { cid } => {
                if let Some(key) = self.inner.server.key_of(&cid) {
                    self.close(key);
                } else {
                    // Deleted: the key is gone; close what has no conference.
                    let stale: Vec<u64> = self
                        .meetings()
                        .keys()
                        .copied()
                        .filter(|k| self.inner.server.cid_of(*k).is_none())
                        .collect();
                    for k in stale {
                        self.close(k);
                    }
                }
            }
            ServerEvent::Roster { cid, event } => {
                let joined = match event {
                    roster::Event::Joined {
                        place: Place::Admitted,
                        ..
                    }
                    | roster::Event::Admitted { .. } => Some(true),
                    roster::Event::Left { .. } | roster::Event::Removed { .. } => Some(false),
                    _ => None,
                };
                if let Some(joined) = joined
                    && let Some(key) = self.inner.server.key_of(&cid)
                    && let Some(m) = self.meetings().get(&key).cloned()
                {
                    m.announce(joined);
                    m.tick();
                }
            }
            ServerEvent::Media { cid, .. } => {
                if let Some(key) = self.inner.server.key_of(&cid)
                    && let Some(m) = self.meetings().get(&key).cloned()
                {
                    m.tick();
                }
            }
            _ => {}
        }
    }
}

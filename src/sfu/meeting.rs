//! One running conference's media: a GStreamer pipeline holding a peer per
//! participant, every participant's receive slots, and the forwarding.
//!
//! Packets are forwarded on the GStreamer thread that received them: the
//! router looks up which slots take the sender's track, rewrites the packet
//! for each (under one lock) and pushes the copies after releasing it. The
//! plan (who receives whom) is recomputed ten times a second from the
//! roster and the voice activity, so moderator actions, the smart podium
//! and mutes take effect within 100 ms.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use gst::prelude::*;
use tokio::sync::mpsc;

use super::loss::{SeqLoss, TrackLoss};
use super::peer::{AUDIO_LEVEL_EXT, Hub, OutKind, Peer, PeerEvent, PeerRepair, Shape, Track};
use super::route::{self, Limits, Party};
use super::signal::TrackInfo;
use super::slot::{Forward, Kind, Slot};
use super::sounds::SoundSource;
use super::tone::Sound;
use super::{SfuConfig, SfuError, rtp};
use crate::conference::rights::{self, Action};
use crate::conference::roster::{Member, Place, WaitReason};
use crate::conference::{Conference, Right};
use crate::server::Server;

/// Louder than this (-dBov) counts as voice.
const LOUD_DBOV: u8 = 50;
/// Voice heard within this long counts as speaking now.
const VOICE_HOLD: Duration = Duration::from_millis(300);
/// At most one keyframe request per source track this often.
const PLI_INTERVAL: Duration = Duration::from_millis(250);

pub const MUSIC: &str = "#music";
pub const ANNOUNCE: &str = "#announce";

/// Counters for `/metrics` and the benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    /// Not forwarded because the receiver was not negotiated yet.
    pub held: AtomicU64,
    pub malformed: AtomicU64,
    /// Keyframes asked of participants (after the throttle).
    pub keyframe_requests: AtomicU64,
    /// Packets missing from the tracks of participants who have left.
    pub lost_gone: AtomicU64,
    /// The repairs of connections that have closed.
    pub repair_gone: Mutex<PeerRepair>,
}

/// One participant's source tracks as the server received them.
#[derive(Debug, Default)]
struct Received {
    loss: [SeqLoss; 3],
    keyframe_requests: [u64; 3],
}

/// Where a participant's track is counted in [`Received`].
fn slot_of(track: Track) -> Option<usize> {
    match track {
        Track::Audio => Some(0),
        Track::Video => Some(1),
        Track::Content => Some(2),
        Track::Server => None,
    }
}

const TRACK_NAMES: [&str; 3] = ["audio", "video", "content"];

/// A participant's track on the server: what arrived, what was missing,
/// what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackStat {
    pub conference: u64,
    pub member: String,
    pub track: &'static str,
    #[serde(flatten)]
    pub loss: TrackLoss,
}

/// A participant's connection's repairs, for `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerStat {
    pub conference: u64,
    pub member: String,
    #[serde(flatten)]
    pub repair: PeerRepair,
}

struct Sub {
    peer: Arc<Peer>,
    slots: Vec<Slot>,
    events: mpsc::UnboundedSender<PeerEvent>,
    tracks: Vec<TrackInfo>,
}

#[derive(Default)]
struct Voice {
    last_loud: Option<Duration>,
    reported: Option<bool>,
}

#[derive(Default)]
struct State {
    subs: HashMap<String, Sub>,
    /// Source track → the slots it feeds.
    index: HashMap<(String, Track), Vec<(String, usize)>>,
    voice: HashMap<String, Voice>,
    last_pli: HashMap<(String, Track), Duration>,
    /// Each participant's tracks as received, by member.
    received: HashMap<String, Received>,
}

pub struct Meeting {
    pub key: u64,
    server: Server,
    config: SfuConfig,
    pipeline: gst::Pipeline,
    epoch: Instant,
    state: Mutex<State>,
    music: Mutex<Option<SoundSource>>,
    announce: Mutex<Option<SoundSource>>,
    next_peer: AtomicU64,
    ticks: AtomicU64,
    pub counters: Arc<Counters>,
    this: Weak<Meeting>,
}

fn may(conf: &Conference, m: &Member, right: Right) -> bool {
    rights::check(m.actor(), Action::Use(right), None, &conf.rights).is_ok()
}

impl Meeting {
    pub fn new(
        key: u64,
        server: Server,
        config: SfuConfig,
        counters: Arc<Counters>,
    ) -> Result<Arc<Self>, SfuError> {
        crate::media::init().map_err(|e| SfuError::Media(e.to_string()))?;
        let pipeline = gst::Pipeline::with_name(&format!("conference-{key}"));
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            SfuError::Media(format!("conference {key}: the pipeline did not start"))
        })?;
        Ok(Arc::new_cyclic(|this| Meeting {
            key,
            server,
            config,
            pipeline,
            epoch: Instant::now(),
            state: Mutex::new(State::default()),
            music: Mutex::new(None),
            announce: Mutex::new(None),
            next_peer: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            counters,
            this: this.clone(),
        }))
    }

    fn hub(&self) -> Weak<dyn Hub> {
        let w: Weak<Meeting> = self.this.clone();
        w
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `member`'s peer (replacing an earlier one); its offer follows
    /// on `events`.
    pub fn attach(
        &self,
        member: &str,
        listen_only: bool,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Result<Arc<Peer>, SfuError> {
        self.detach(member);
        let shape = Shape {
            audio: self.config.audio_slots,
            video: self.config.video_slots,
            listen_only,
        };
        let n = self.next_peer.fetch_add(1, Ordering::Relaxed);
        let peer = Peer::new(
            &self.pipeline,
            n,
            member,
            shape,
            self.hub(),
            events.clone(),
            self.config,
        )
        .map_err(|e| SfuError::Media(e.to_string()))?;
        let slots = peer
            .outs
            .iter()
            .map(|o| {
                let kind = match o.kind {
                    OutKind::Server | OutKind::Audio => Kind::Audio,
                    OutKind::Video | OutKind::Content => Kind::Video,
                };
                let pt = match kind {
                    Kind::Audio => super::peer::OPUS_PT,
                    Kind::Video => super::peer::VP8_PT,
                };
                Slot::new(kind, o.ssrc, pt)
            })
            .collect();
        self.lock().subs.insert(
            member.to_string(),
            Sub {
                peer: peer.clone(),
                slots,
                events,
                tracks: Vec::new(),
            },
        );
        tracing::info!(conference = self.key, %member, listen_only, "media peer attached");
        Ok(peer)
    }

    /// Removes `member`'s peer; the others stop receiving it at once.
    pub fn detach(&self, member: &str) {
        let old = {
            let mut st = self.lock();
            let old = st.subs.remove(member);
            st.voice.remove(member);
            if let Some(r) = st.received.remove(member) {
                let lost: u64 = r.loss.iter().map(SeqLoss::lost).sum();
                self.counters.lost_gone.fetch_add(lost, Ordering::Relaxed);
            }
            for targets in st.index.values_mut() {
                targets.retain(|(s, _)| s != member);
            }
            st.index.retain(|(src, _), _| src != member);
            for sub in st.subs.values_mut() {
                for slot in &mut sub.slots {
                    if slot.source() == Some(member) {
                        slot.assign(None, Duration::ZERO);
                    }
                }
            }
            old
        };
        if let Some(sub) = old {
            self.keep_repairs(&sub.peer);
            sub.peer.close();
            tracing::info!(conference = self.key, %member, "media peer detached");
        }
    }

    /// Each participant's tracks as the server received them.
    pub fn track_stats(&self) -> Vec<TrackStat> {
        let st = self.lock();
        let mut out = vec![];
        for (member, r) in &st.received {
            for (i, name) in TRACK_NAMES.iter().enumerate() {
                if r.loss[i].received() == 0 {
                    continue;
                }
                out.push(TrackStat {
                    conference: self.key,
                    member: member.clone(),
                    track: name,
                    loss: TrackLoss {
                        packets_received: r.loss[i].received(),
                        packets_lost: r.loss[i].lost(),
                        keyframe_requests: r.keyframe_requests[i],
                    },
                });
            }
        }
        out.sort_by(|a, b| (&a.member, a.track).cmp(&(&b.member, b.track)));
        out
    }

    /// Adds a closing connection's repairs to the totals of those gone,
    /// so that `/metrics` never goes down.
    fn keep_repairs(&self, peer: &Peer) {
        let r = peer.repair();
        if let Ok(mut g) = self.counters.repair_gone.lock() {
            g.add(&r);
        }
    }

    /// Each participant's connection's repairs, by member.
    pub fn peer_repairs(&self) -> Vec<PeerStat> {
        let peers: Vec<(String, Arc<Peer>)> = self
            .lock()
            .subs
            .iter()
            .map(|(m, s)| (m.clone(), s.peer.clone()))
            .collect();
        let mut out: Vec<PeerStat> = peers
            .into_iter()
            .map(|(member, peer)| PeerStat {
                conference: self.key,
                member,
                repair: peer.repair(),
            })
            .collect();
        out.sort_by(|a, b| a.member.cmp(&b.member));
        out
    }

    pub fn peers(&self) -> usize {
        self.lock().subs.len()
    }

    /// Plays the join or leave tone to everyone (when the conference
    /// announces arrivals).
    pub fn announce(&self, joined: bool) {
        if let Ok(a) = self.announce.lock()
            && let Some(a) = a.as_ref()
        {
            a.play(if joined { Sound::Join } else { Sound::Leave });
        }
    }

    fn request_keyframe(&self, member: &str, track: Track, now: Duration) {
        let peer = {
            let mut st = self.lock();
            let key = (member.to_string(), track);
            if st
                .last_pli
                .get(&key)
                .is_some_and(|t| now.saturating_sub(*t) < PLI_INTERVAL)
            {
                return;
            }
            st.last_pli.insert(key, now);
            if let (Some(r), Some(i)) = (st.received.get_mut(member), slot_of(track)) {
                r.keyframe_requests[i] += 1;
            }
            st.subs.get(member).map(|s| s.peer.clone())
        };
        if let Some(p) = peer {
            self.counters
                .keyframe_requests
                .fetch_add(1, Ordering::Relaxed);
            p.request_keyframe(track);
        }
    }

    /// Starts or stops the sound sources the conference's options need.
    fn sounds(&self, conf: &Conference) {
        let want_music = conf.options.music_on_hold;
        let want_announce = conf.options.announce_join_leave;
        for (slot, want, name, looping) in [
            (&self.music, want_music, MUSIC, Some(Sound::Music)),
            (&self.announce, want_announce, ANNOUNCE, None),
        ] {
            let Ok(mut s) = slot.lock() else { continue };
            if want && s.is_none() {
                match SoundSource::start(name, looping, self.hub()) {
                    Ok(src) => *s = Some(src),
                    Err(e) => tracing::warn!(error = %e, "conference sounds unavailable"),
                }
            } else if !want {
                *s = None;
            }
        }
    }

    /// Recomputes who receives whom and applies it; reports voice activity;
    /// repeats keyframe requests. Called every 100 ms.
    pub fn tick(&self) {
        let n = self.ticks.fetch_add(1, Ordering::Relaxed);
        let Some(cid) = self.server.cid_of(self.key) else {
            return;
        };
        let Some((conf, members)) = self.server.snapshot(&cid) else {
            return;
        };
        let now = self.epoch.elapsed();
        self.sounds(&conf);

        // Voice activity to the roster (the smart podium), on change and
        // every half second.
        let reports: Vec<(String, bool)> = {
            let mut st = self.lock();
            st.voice
                .iter_mut()
                .filter_map(|(id, v)| {
                    let active = v
                        .last_loud
                        .is_some_and(|t| now.saturating_sub(t) <= VOICE_HOLD);
                    // A talker is reported on every tick (100 ms, inside the
                    // detector's 400 ms gap, so the streak holds); silence
                    // on change and every half second.
                    let due = active || v.reported != Some(active) || n.is_multiple_of(5);
                    v.reported = Some(active);
                    due.then(|| (id.clone(), active))
                })
                .collect()
        };
        for (id, active) in reports {
            tracing::trace!(member = %id, active, "voice activity");
            self.server.voice(&cid, &id, active);
        }
        if n.is_multiple_of(5) {
            self.server.tick(&cid);
        }

        let last_voice: HashMap<String, Duration> = {
            let st = self.lock();
            st.voice
                .iter()
                .filter_map(|(k, v)| v.last_loud.map(|t| (k.clone(), t)))
                .collect()
        };
        let parties: Vec<Party> = members
            .iter()
            .map(|m| Party {
                id: m.id.clone(),
                admitted: !m.waiting(),
                podium: m.podium,
                mic_muted: m.mic_muted,
                camera_off: m.camera_off,
                sharing: m.sharing,
                may_send_audio: may(&conf, m, Right::AudioSend),
                may_send_video: may(&conf, m, Right::VideoSend),
                may_receive_audio: may(&conf, m, Right::AudioRcv),
                may_receive_video: may(&conf, m, Right::VideoRcv),
                last_voice: last_voice.get(&m.id).copied(),
                seq: m.seq,
            })
            .collect();
        let plan = route::plan(
            conf.mode,
            &parties,
            Limits {
                video: self.config.video_slots,
                audio: self.config.audio_slots,
            },
        );
        let admitted = parties.iter().filter(|p| p.admitted).count();
        let names: HashMap<&str, &str> = members
            .iter()
            .map(|m| (m.id.as_str(), m.display_name.as_str()))
            .collect();
        let held_for_host: Vec<&str> = members
            .iter()
            .filter(|m| m.place == Place::Waiting(WaitReason::WaitingForHost))
            .map(|m| m.id.as_str())
            .collect();
        let have_music = self.music.lock().map(|m| m.is_some()).unwrap_or(false);
        let have_announce = self.announce.lock().map(|m| m.is_some()).unwrap_or(false);

        let mut keyframes: Vec<(String, Track)> = Vec::new();
        let mut notify: Vec<(mpsc::UnboundedSender<PeerEvent>, Vec<TrackInfo>)> = Vec::new();
        {
            let mut st = self.lock();
            let mut changed = false;
            for (id, sub) in st.subs.iter_mut() {
                let feed = plan.get(id).cloned().unwrap_or_default();
                let kinds: Vec<OutKind> = sub.peer.outs.iter().map(|o| o.kind).collect();
                // Per kind, keep sources in their slots.
                for kind in [OutKind::Audio, OutKind::Video] {
                    let idx: Vec<usize> = (0..kinds.len()).filter(|i| kinds[*i] == kind).collect();
                    let current: Vec<Option<String>> = idx
                        .iter()
                        .map(|i| sub.slots[*i].source().map(str::to_string))
                        .collect();
                    let wanted = if kind == OutKind::Audio {
                        &feed.audio
                    } else {
                        &feed.video
                    };
                    let next = route::assign(&current, wanted);
                    for (i, src) in idx.iter().zip(next) {
                        if sub.slots[*i].source() != src.as_deref() {
                            changed = true;
                            if sub.slots[*i].assign(src.as_deref(), now)
                                && let Some(s) = src
                            {
                                keyframes.push((s, kind.track()));
                            }
                        }
                    }
                }
                let server_src = if held_for_host.contains(&id.as_str())
                    || (admitted <= 1 && plan.contains_key(id))
                {
                    have_music.then_some(MUSIC)
                } else if plan.contains_key(id) && have_announce {
                    Some(ANNOUNCE)
                } else {
                    None
                };
                for (i, kind) in kinds.iter().enumerate() {
                    let want = match kind {
                        OutKind::Content => feed.content.as_deref(),
                        OutKind::Server => server_src,
                        _ => continue,
                    };
                    if sub.slots[i].source() != want {
                        changed = true;
                        if sub.slots[i].assign(want, now)
                            && let Some(s) = want
                        {
                            keyframes.push((s.to_string(), Track::Content));
                        }
                    }
                }
                // Repeat requests for slots still waiting for a keyframe.
                for (i, kind) in kinds.iter().enumerate() {
                    if matches!(kind, OutKind::Video | OutKind::Content)
                        && sub.slots[i].keyframe_due(now)
                        && let Some(s) = sub.slots[i].source()
                    {
                        keyframes.push((s.to_string(), kind.track()));
                    }
                }
                // The track map, when it changed and the mids are known.
                let tracks: Vec<TrackInfo> = sub
                    .peer
                    .outs
                    .iter()
                    .zip(&sub.slots)
                    .filter_map(|(o, s)| {
                        Some(TrackInfo {
                            mid: o.mid()?,
                            kind: o.kind.name(),
                            participant: s
                                .source()
                                .filter(|x| !x.starts_with('#'))
                                .map(str::to_string),
                            display_name: s
                                .source()
                                .and_then(|x| names.get(x))
                                .map(|x| x.to_string()),
                        })
                    })
                    .collect();
                if tracks != sub.tracks && !tracks.is_empty() {
                    sub.tracks = tracks.clone();
                    notify.push((sub.events.clone(), tracks));
                }
            }
            if changed {
                let mut index: HashMap<(String, Track), Vec<(String, usize)>> = HashMap::new();
                for (id, sub) in &st.subs {
                    for (i, (o, s)) in sub.peer.outs.iter().zip(&sub.slots).enumerate() {
                        if let Some(src) = s.source() {
                            index
                                .entry((src.to_string(), o.kind.track()))
                                .or_default()
                                .push((id.clone(), i));
                        }
                    }
                }
                st.index = index;
            }
        }
        for (tx, tracks) in notify {
            let _ = tx.send(PeerEvent::Tracks(tracks));
        }
        for (src, track) in keyframes {
            self.request_keyframe(&src, track, now);
        }
    }

    /// Keyframes for every video `member` receives.
    pub fn refresh(&self, member: &str) {
        let wanted: Vec<(String, Track)> = {
            let st = self.lock();
            st.subs
                .get(member)
                .map(|s| {
                    s.peer
                        .outs
                        .iter()
                        .zip(&s.slots)
                        .filter(|(o, _)| matches!(o.kind, OutKind::Video | OutKind::Content))
                        .filter_map(|(o, sl)| Some((sl.source()?.to_string(), o.kind.track())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let now = self.epoch.elapsed();
        for (src, track) in wanted {
            self.request_keyframe(&src, track, now);
        }
    }

    /// Stops everything: peers leave, the pipeline reaches `Null`.
    pub fn close(&self) {
        let subs: Vec<Sub> = {
            let mut st = self.lock();
            st.index.clear();
            st.subs.drain().map(|(_, s)| s).collect()
        };
        for s in subs {
            self.keep_repairs(&s.peer);
            s.peer.close();
        }
        if let Ok(mut m) = self.music.lock() {
            *m = None;
        }
        if let Ok(mut a) = self.announce.lock() {
            *a = None;
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Hub for Meeting {
    fn inbound(&self, member: &str, track: Track, buf: &gst::BufferRef) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let Ok(map) = buf.map_readable() else {
            return;
        };
        let Ok(h) = rtp::parse(&map) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let now = self.epoch.elapsed();
        let mut sends: Vec<(Arc<Peer>, usize, Vec<u8>)> = Vec::new();
        let mut skipped = 0;
        let mut watched = false;
        {
            let mut st = self.lock();
            if let Some(i) = slot_of(track) {
                skipped =
                    st.received.entry(member.to_string()).or_default().loss[i].on_packet(h.seq);
            }
            if track == Track::Audio {
                let loud = rtp::audio_level(&map, &h, AUDIO_LEVEL_EXT)
                    .is_some_and(|l| l.dbov <= LOUD_DBOV);
                let v = st.voice.entry(member.to_string()).or_default();
                if loud {
                    v.last_loud = Some(now);
                }
            }
            let State { subs, index, .. } = &mut *st;
            if let Some(targets) = index.get(&(member.to_string(), track)) {
                watched = !targets.is_empty();
                for (sub, i) in targets {
                    let Some(s) = subs.get_mut(sub) else { continue };
                    if !s.peer.outs[*i].ready() {
                        self.counters.held.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Forward::Send(bytes) = s.slots[*i].forward(member, &map, &h, now) {
                        sends.push((s.peer.clone(), *i, bytes));
                    }
                }
            }
        }
        for (peer, i, bytes) in sends {
            peer.outs[i].push(bytes, peer.now());
            self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        }
        // A picture packet the server's jitter buffer gave up on (asked
        // for again in vain), of a track someone receives: every receiver
        // misses it and the server has nothing to send again, so the
        // publisher is asked for a keyframe at once (throttled). A browser
        // left to find out itself waits up to 3 s before it asks.
        if skipped > 0 && watched && track != Track::Audio {
            self.request_keyframe(member, track, now);
        }
    }

    fn wants_keyframe(&self, member: &str, out: usize) {
        let target = {
            let st = self.lock();
            st.subs.get(member).and_then(|s| {
                let kind = s.peer.outs.get(out)?.kind;
                let src = s.slots.get(out)?.receiver_wants_keyframe()?.to_string();
                Some((src, kind.track()))
            })
        };
        if let Some((src, track)) = target {
            self.request_keyframe(&src, track, self.epoch.elapsed());
        }
    }
}

impl Drop for Meeting {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

//! A session's receivers: each far-end track from webrtcbin's pad through
//! a depayloader that waits for a keyframe after a loss, a decoder that
//! drops corrupted frames, and catch-up, into the room's mixer or display
//! ([`crate::media::repair`] counts what it repaired).

use super::*;

impl Session {
    /// Plays a received stream: video onto the display, audio into the mix.
    pub(super) fn receive(&self, pad: &gst::Pad) -> Result<(), MediaError> {
        let inner = &self.inner;
        let caps = pad
            .current_caps()
            .ok_or_else(|| MediaError::link("received pad without caps"))?;
        let s = caps
            .structure(0)
            .ok_or_else(|| MediaError::link("received caps"))?;
        let media = s.get::<&str>("media").unwrap_or("");
        let encoding = s
            .get::<&str>("encoding-name")
            .unwrap_or("")
            .to_ascii_uppercase();
        let n = inner.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}/{}", inner.id, pad.name());
        let (chain, kind): (Vec<gst::Element>, TrackKind) = match (media, encoding.as_str()) {
            ("video", "VP8") => (
                vec![
                    repairing_depayloader("rtpvp8depay", n)?,
                    vp8_colours(clean_decoder("vp8dec", n)?),
                ],
                TrackKind::Video,
            ),
            ("video", "H264") => (
                vec![
                    repairing_depayloader("rtph264depay", n)?,
                    make("h264parse", &format!("rparse{n}"))?,
                    clean_decoder("avdec_h264", n)?,
                ],
                TrackKind::Video,
            ),
            ("audio", "OPUS") => (
                vec![
                    make("rtpopusdepay", &format!("rdepay{n}"))?,
                    make("opusdec", &format!("rdec{n}"))?,
                ],
                TrackKind::Audio,
            ),
            _ => {
                // Not something the room can play: drop it cleanly.
                let sink = make("fakesink", &format!("rdrop{n}"))?;
                inner.bin.add(&sink).map_err(|_| MediaError::link("drop"))?;
                let _ = sink.sync_state_with_parent();
                link_pads(
                    &Some(pad.clone()),
                    &sink
                        .static_pad("sink")
                        .ok_or_else(|| MediaError::link("drop"))?,
                    "drop",
                )?;
                return Ok(());
            }
        };
        let mut chain = chain;
        // The decoder is last so far.
        let decoder = chain.last().cloned();
        if kind == TrackKind::Video {
            // Decoding gets a thread of its own, after sound: without this
            // queue it ran in the jitter buffer's thread at full priority.
            let q = make("queue", &format!("rdq{n}"))?;
            inner.room.threads.picture(&q);
            chain.insert(0, q);
        }
        let mut crop = None;
        let room_pad = match kind {
            TrackKind::Video => {
                chain.push(make("videoconvert", &format!("rconv{n}"))?);
                let caps = make("capsfilter", &format!("rcaps{n}"))?;
                caps.set_property(
                    "caps",
                    gst::Caps::builder("video/x-raw")
                        .field("format", "RGBA")
                        .build(),
                );
                chain.push(caps);
                // Before the queue: where buffers arrive stays the
                // queue's sink pad for the catch-up.
                let c = inner.room.tile_crop(&format!("rcrop{n}"))?;
                chain.push(c.clone());
                crop = Some(c);
                let q = make("queue", &format!("rq{n}"))?;
                q.set_property_from_str("leaky", "downstream");
                q.set_property("max-size-buffers", 3u32);
                inner.room.threads.picture(&q);
                chain.push(q);
                inner.room.compositor_pad()
            }
            TrackKind::Audio => {
                chain.push(make("audioconvert", &format!("rconv{n}"))?);
                chain.push(make("audioresample", &format!("rres{n}"))?);
                let caps = make("capsfilter", &format!("rcaps{n}"))?;
                caps.set_property("caps", audio_caps());
                chain.push(caps);
                let level = make("level", &format!("level-{n}"))?;
                level.set_property("interval", 100_000_000u64);
                chain.push(level);
                // Holds a late track's delay (up to the catch-up's
                // limit) without pushing back on the decoder: a full
                // queue would stall the jitter buffer and make the track
                // look early where its lateness is measured.
                let q = make("queue", &format!("rq{n}"))?;
                q.set_property("max-size-buffers", 0u32);
                q.set_property("max-size-bytes", 0u32);
                q.set_property(
                    "max-size-time",
                    u64::try_from(crate::media::catchup::MAX_DELAY).unwrap_or(0) + 1_000_000_000,
                );
                chain.push(q);
                inner.room.mixer_pad()
            }
        }
        .ok_or_else(|| MediaError::link("room input"))?;
        let refs: Vec<&gst::Element> = chain.iter().collect();
        inner
            .bin
            .add_many(refs.iter().copied())
            .map_err(|_| MediaError::link("receiver"))?;
        gst::Element::link_many(refs.iter().copied()).map_err(|_| MediaError::link("receiver"))?;
        let last = chain.last().ok_or_else(|| MediaError::link("receiver"))?;
        let ghost = gst::GhostPad::builder_with_target(
            &last
                .static_pad("src")
                .ok_or_else(|| MediaError::link("receiver"))?,
        )
        .map_err(|_| MediaError::link("receiver"))?
        .name(format!("out{n}"))
        .build();
        ghost.set_active(true).ok();
        inner
            .bin
            .add_pad(&ghost)
            .map_err(|_| MediaError::link("receiver"))?;
        ghost
            .link(&room_pad)
            .map_err(|_| MediaError::link("session → room"))?;
        if let (Some(arrive), Some(out)) = (last.static_pad("sink"), last.static_pad("src")) {
            inner
                .room
                .catch_up(&arrive, &out, &id, matches!(kind, TrackKind::Audio));
        }
        for e in &chain {
            let _ = e.sync_state_with_parent();
        }
        // The branch's first pad (a video track's decode queue, else the
        // depayloader) answers caps queries with the depayloader's
        // template. webrtcbin asks its receive pads what they accept
        // whenever it builds an offer or answer, and rejects the m-line
        // when the answer is empty. Left alone, that query travels through
        // the decoder into the compositor or mixer, whose answer depends
        // on whatever else is linked there at that moment. Nothing after
        // the depayloader limits what it can play (it decodes and
        // converts), so its template is the true answer.
        let first_sink = chain[0]
            .static_pad("sink")
            .ok_or_else(|| MediaError::link("receiver"))?;
        let depay_caps = chain[usize::from(kind == TrackKind::Video)]
            .static_pad("sink")
            .map(|p| p.pad_template_caps())
            .ok_or_else(|| MediaError::link("receiver"))?;
        answer_caps_queries(&first_sink, move |_| depay_caps.clone());
        link_pads(&Some(pad.clone()), &first_sink, "webrtcbin → depayloader")?;

        let stats = Arc::downgrade(&inner.room.stats);
        match kind {
            TrackKind::Video => {
                // Keep each track's latest picture for tests and the panel.
                let tid = id.clone();
                room_pad.add_probe(gst::PadProbeType::BUFFER, move |p, info| {
                    if let (Some(st), Some(gst::PadProbeData::Buffer(buf))) =
                        (stats.upgrade(), info.data.as_ref())
                        && let Some(caps) = p.current_caps()
                        && let Ok(mut frames) = st.remote_frames.lock()
                    {
                        st.remote_frames_decoded.fetch_add(1, Ordering::Relaxed);
                        frames.insert(
                            tid.clone(),
                            gst::Sample::builder().buffer(buf).caps(&caps).build(),
                        );
                    }
                    gst::PadProbeReturn::Ok
                });
                let repair = Arc::new(TrackRepair::default());
                if let Some(depay_sink) = chain.get(1).and_then(|d| d.static_pad("sink")) {
                    repair.attach(&depay_sink, &room_pad, pad);
                }
                if let Ok(mut m) = inner.room.stats.remote_repair.lock() {
                    m.insert(id.clone(), repair);
                }
                if let Some(c) = &crop {
                    inner.room.add_tile(
                        Tile {
                            id: id.clone(),
                            local: false,
                            content: false,
                        },
                        room_pad.clone(),
                        c.clone(),
                    );
                }
                // A new decoder needs a keyframe now, not at the next interval.
                if let Some(dec_sink) = decoder.as_ref().and_then(|d| d.static_pad("sink")) {
                    let ev = gst_video::UpstreamForceKeyUnitEvent::builder()
                        .all_headers(true)
                        .build();
                    dec_sink.push_event(ev);
                }
            }
            TrackKind::Audio => {
                inner.room.register_level(&format!("level-{n}"), &id);
            }
        }
        inner
            .recvs
            .lock()
            .map_err(|_| MediaError::link("receiver"))?
            .push(RecvBranch {
                id: id.clone(),
                room_pad,
                kind,
                source: pad.clone(),
                content: false,
                crop,
            });
        let _ = inner.events.send(SessionEvent::RemoteTrack { id, kind });
        Ok(())
    }
}

/// A video depayloader that, after a packet lost for good, passes nothing
/// until the next keyframe and asks the sender for one at once
/// ([`crate::media::repair`]).
pub(super) fn repairing_depayloader(factory: &str, n: u32) -> Result<gst::Element, MediaError> {
    let d = make(factory, &format!("rdepay{n}"))?;
    d.set_property("wait-for-keyframe", true);
    d.set_property("request-keyframe", true);
    Ok(d)
}

/// A video decoder that drops a frame it finds corrupted instead of
/// showing it.
pub(super) fn clean_decoder(factory: &str, n: u32) -> Result<gst::Element, MediaError> {
    let d = make(factory, &format!("rdec{n}"))?;
    d.set_property("discard-corrupted-frames", true);
    Ok(d)
}

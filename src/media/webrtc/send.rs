//! A session's senders: the room's camera, content and microphone,
//! each a branch from a room tee through a leaky queue, converters and an
//! encoder into webrtcbin; the camera's picture stepped to what its
//! encoder keeps up with ([`crate::media::adapt`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::{
    AUDIO_LEVEL_ID, AUDIO_LEVEL_URI, ContentIn, SendBranch, Session, SessionOptions,
    answer_caps_queries, link_pads, random_ssrc,
};
use crate::config::VideoCodec;
use crate::media::MediaError;
use crate::media::adapt::SendScale;
use crate::media::build::make;

impl Session {
    pub(super) fn video_branch(
        &self,
        tee: Option<&gst::Element>,
        opts: &SessionOptions,
    ) -> Result<(), MediaError> {
        let n = self.inner.next.fetch_add(1, Ordering::SeqCst);
        let q = make("queue", &format!("vq{n}"))?;
        q.set_property_from_str("leaky", "downstream");
        q.set_property("max-size-buffers", 2u32);
        // Encoding runs in this queue's thread (and libvpx's threads it
        // starts): pictures the far ends see, after sound and before the
        // room's own display.
        self.inner.room.threads.sending(&q);
        let conv = make("videoconvert", &format!("vconv{n}"))?;
        let scale = make("videoscale", &format!("vscale{n}"))?;
        let rate = make("videorate", &format!("vrate{n}"))?;
        rate.set_property("drop-only", true);
        let caps = make("capsfilter", &format!("vcaps{n}"))?;
        caps.set_property("caps", send_caps(opts.width, opts.height, opts.framerate));
        if opts.adapt_size && tee.is_some_and(|t| t == &self.inner.room.vtee) {
            self.adapt_to_encoder(&q, &caps, opts);
        }
        let ssrc = random_ssrc();
        let (enc, pay, rtp_caps) = match opts.codec {
            VideoCodec::Vp8 => {
                let enc = make("vp8enc", &format!("venc{n}"))?;
                enc.set_property("deadline", 1i64);
                enc.set_property("cpu-used", 8i32);
                enc.set_property("threads", 2i32);
                enc.set_property("lag-in-frames", 0i32);
                enc.set_property_from_str("end-usage", "cbr");
                enc.set_property("target-bitrate", (opts.video_kbps * 1000) as i32);
                enc.set_property("keyframe-max-dist", (opts.framerate * 10) as i32);
                enc.set_property_from_str("error-resilient", "default");
                let pay = make("rtpvp8pay", &format!("vpay{n}"))?;
                pay.set_property("pt", 96u32);
                pay.set_property("ssrc", ssrc);
                pay.set_property_from_str("picture-id-mode", "15-bit");
                (enc, pay, "VP8")
            }
            VideoCodec::H264 => {
                let enc = make("x264enc", &format!("venc{n}"))?;
                enc.set_property_from_str("tune", "zerolatency");
                enc.set_property_from_str("speed-preset", "ultrafast");
                enc.set_property("bitrate", opts.video_kbps);
                enc.set_property("key-int-max", opts.framerate * 10);
                let pay = make("rtph264pay", &format!("vpay{n}"))?;
                pay.set_property("pt", 102u32);
                pay.set_property("ssrc", ssrc);
                pay.set_property("config-interval", -1i32);
                pay.set_property_from_str("aggregate-mode", "zero-latency");
                (enc, pay, "H264")
            }
        };
        // Keyframe requests come in bursts after a loss (the far end's
        // depayloader and decoder both ask, and ask again while they
        // wait): one keyframe answers them all for this long, as the
        // conference server does (PLI_INTERVAL), instead of a string of
        // expensive keyframes on a machine already short of CPU.
        enc.set_property("min-force-key-unit-interval", KEYFRAME_INTERVAL.nseconds());
        let pcaps = make("capsfilter", &format!("vrtp{n}"))?;
        let mut b = gst::Caps::builder("application/x-rtp")
            .field("media", "video")
            .field("encoding-name", rtp_caps)
            .field(
                "payload",
                if opts.codec == VideoCodec::H264 {
                    102i32
                } else {
                    96i32
                },
            )
            .field("ssrc", ssrc)
            .field("clock-rate", 90_000i32)
            .field("rtcp-fb-nack", true)
            .field("rtcp-fb-nack-pli", true)
            .field("rtcp-fb-ccm-fir", true);
        if opts.codec == VideoCodec::H264 {
            b = b
                .field("packetization-mode", "1")
                .field("profile-level-id", "42e01f");
        }
        pcaps.set_property("caps", b.build());
        let mut chain = vec![q, conv, scale, rate, caps, enc.clone()];
        if opts.codec == VideoCodec::H264 {
            // Constrained baseline: what every WebRTC peer decodes.
            let prof = make("capsfilter", &format!("vprof{n}"))?;
            prof.set_property(
                "caps",
                gst::Caps::builder("video/x-h264")
                    .field("profile", "constrained-baseline")
                    .field("stream-format", "byte-stream")
                    .build(),
            );
            chain.push(prof);
        }
        chain.extend([pay, pcaps]);
        self.attach_sender(tee, &chain, enc)
    }

    /// The camera's picture steps down when the encoder behind `q` cannot
    /// keep up, and back up after a calm while ([`super::adapt`]): frames
    /// are counted into the queue and out of it, the size set on `caps`.
    fn adapt_to_encoder(&self, q: &gst::Element, caps: &gst::Element, opts: &SessionOptions) {
        let scale = Arc::new(Mutex::new(SendScale::new((opts.width, opts.height))));
        let stats = Arc::downgrade(&self.inner.room.stats);
        let key = self.inner.id.clone();
        if let (Ok(mut m), Ok(s)) = (self.inner.room.stats.send_video.lock(), scale.lock()) {
            m.insert(key.clone(), s.counts());
        }
        let (Some(sink), Some(src)) = (q.static_pad("sink"), q.static_pad("src")) else {
            return;
        };
        let filter = caps.downgrade();
        let framerate = opts.framerate;
        // The camera's size, as its caps reach the queue: steps are taken
        // from it when it is smaller than the configured size.
        let sized = scale.clone();
        let resize = caps.downgrade();
        sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Some(st) = c.caps().structure(0)
                && let (Ok(w), Ok(h)) = (st.get::<i32>("width"), st.get::<i32>("height"))
                && let Ok(mut s) = sized.lock()
                && let Some((w, h)) = s.picture((w.max(0) as u32, h.max(0) as u32))
                && let Some(f) = resize.upgrade()
            {
                f.set_property("caps", send_caps(w, h, framerate));
            }
            gst::PadProbeReturn::Ok
        });
        let counting = scale.clone();
        sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let Ok(mut s) = counting.lock() else {
                return gst::PadProbeReturn::Ok;
            };
            let before = s.counts();
            let change = s.offered(std::time::Instant::now());
            let after = s.counts();
            if after != before
                && let Some(st) = stats.upgrade()
            {
                if let Ok(mut m) = st.send_video.lock()
                    && let Some(v) = m.get_mut(&key)
                {
                    *v = after;
                }
                st.send_steps_down
                    .fetch_add(after.steps_down - before.steps_down, Ordering::Relaxed);
                st.send_steps_up
                    .fetch_add(after.steps_up - before.steps_up, Ordering::Relaxed);
            }
            if let Some((w, h)) = change
                && let Some(f) = filter.upgrade()
            {
                tracing::info!(session = %key, width = w, height = h,
                    configured_width = after.configured_width, configured_height = after.configured_height,
                    "media: the sent picture steps to a size the encoder keeps up with");
                f.set_property("caps", send_caps(w, h, framerate));
            }
            gst::PadProbeReturn::Ok
        });
        src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if let Ok(mut s) = scale.lock() {
                s.taken();
            }
            gst::PadProbeReturn::Ok
        });
    }

    pub(super) fn add_audio(&self, opts: &SessionOptions) -> Result<(), MediaError> {
        let n = self.inner.next.fetch_add(1, Ordering::SeqCst);
        let q = make("queue", &format!("aq{n}"))?;
        q.set_property_from_str("leaky", "downstream");
        let conv = make("audioconvert", &format!("aconv{n}"))?;
        let res = make("audioresample", &format!("ares{n}"))?;
        let enc = make("opusenc", &format!("aenc{n}"))?;
        enc.set_property("bitrate", (opts.audio_kbps * 1000) as i32);
        enc.set_property_from_str("audio-type", "voice");
        let ssrc = random_ssrc();
        let pay = make("rtpopuspay", &format!("apay{n}"))?;
        pay.set_property("pt", 111u32);
        pay.set_property("ssrc", ssrc);
        let mut chain = vec![q, conv, res];
        if opts.audio_level {
            // The level meter stamps each buffer with its level; the
            // payloader writes it as the RFC 6464 header extension.
            let level = make("level", &format!("alevel{n}"))?;
            level.set_property("audio-level-meta", true);
            level.set_property("post-messages", false);
            chain.push(level);
            let ext =
                gst_rtp::RTPHeaderExtension::create_from_uri(AUDIO_LEVEL_URI).ok_or_else(|| {
                    MediaError::Element {
                        element: "rtphdrextclientaudiolevel".into(),
                    }
                })?;
            gst_rtp::prelude::RTPHeaderExtensionExt::set_id(&ext, AUDIO_LEVEL_ID);
            pay.emit_by_name::<()>("add-extension", &[&ext]);
        }
        let pcaps = make("capsfilter", &format!("artp{n}"))?;
        pcaps.set_property(
            "caps",
            gst::Caps::builder("application/x-rtp")
                .field("media", "audio")
                .field("encoding-name", "OPUS")
                .field("payload", 111i32)
                .field("ssrc", ssrc)
                .field("clock-rate", 48_000i32)
                .build(),
        );
        let tee = self.inner.room.atee.clone();
        chain.extend([enc.clone(), pay, pcaps]);
        self.attach_sender(Some(&tee), &chain, enc)
    }

    /// Links `chain` from a room tee into a new webrtcbin sink pad.
    fn attach_sender(
        &self,
        tee: Option<&gst::Element>,
        chain: &[gst::Element],
        encoder: gst::Element,
    ) -> Result<(), MediaError> {
        let inner = &self.inner;
        let refs: Vec<&gst::Element> = chain.iter().collect();
        inner
            .bin
            .add_many(refs.iter().copied())
            .map_err(|_| MediaError::link("sender"))?;
        gst::Element::link_many(refs.iter().copied()).map_err(|_| MediaError::link("sender"))?;
        let last = chain.last().ok_or_else(|| MediaError::link("sender"))?;
        let wpad = inner
            .webrtc
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::link("webrtcbin sink"))?;
        link_pads(&last.static_pad("src"), &wpad, "sender → webrtcbin")?;
        if let Some(t) = wpad.property::<Option<gst::glib::Object>>("transceiver") {
            // NACK on video: a lost packet is asked for again. Sound is
            // not held back for retransmissions: a lost packet of it is
            // concealed by the decoder.
            let video = last
                .find_property("caps")
                .map(|_| last.property::<gst::Caps>("caps"))
                .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("media").ok()))
                .is_some_and(|m| m == "video");
            t.set_property("do-nack", video);
            // Codec and SSRC are fixed up front, so a description made
            // before the encoder's first buffer still matches this
            // transceiver (otherwise webrtcbin answers with a receive-only
            // one and this side never sends) and still names the SSRC
            // (otherwise the far end cannot tell audio from video in the
            // bundle and plays both through the first m-line).
            if let Some(caps) = last
                .find_property("caps")
                .map(|_| last.property::<gst::Caps>("caps"))
            {
                t.set_property("codec-preferences", &caps);
            }
        }
        // Into the bin from the room's tee through a ghost pad.
        let first = chain.first().ok_or_else(|| MediaError::link("sender"))?;
        let target = first
            .static_pad("sink")
            .ok_or_else(|| MediaError::link("sender"))?;
        let ghost = gst::GhostPad::builder_with_target(&target)
            .map_err(|_| MediaError::link("sender"))?
            .name(format!("in{}", inner.next.fetch_add(1, Ordering::SeqCst)))
            .build();
        ghost.set_active(true).ok();
        inner
            .bin
            .add_pad(&ghost)
            .map_err(|_| MediaError::link("sender"))?;
        // The branch runs before the tee feeds it (see `Session::new`).
        for e in chain.iter().rev() {
            let _ = e.sync_state_with_parent();
        }
        let Some(tee) = tee else {
            // The content track: linked when sharing starts.
            *inner
                .content_in
                .lock()
                .map_err(|_| MediaError::link("content"))? = Some(ContentIn {
                ghost,
                tee_pad: None,
            });
            return Ok(());
        };
        let tee_pad = tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| MediaError::link("tee"))?;
        // The branch converts whatever raw media the tee carries, so it
        // answers caps queries itself, and the link skips the caps check:
        // left to run, both intersect everything the camera could give
        // (a V4L2 device lists dozens of formats and sizes) with everything
        // the converters could make, which took 28 s of an emulated CPU
        // on the critical path of every join.
        accept_any_raw(&target);
        tee_pad
            .link_full(&ghost, gst::PadLinkCheck::HIERARCHY)
            .map_err(|e| MediaError::link(&format!("tee → session ({e:?})")))?;
        inner
            .sends
            .lock()
            .map_err(|_| MediaError::link("sender"))?
            .push(SendBranch { tee_pad, encoder });
        Ok(())
    }
}

/// The shortest time between two keyframes made on request.
const KEYFRAME_INTERVAL: gst::ClockTime = gst::ClockTime::from_mseconds(250);

/// The raw picture a sender encodes: at its own shape within
/// `width`x`height`, at `framerate` at most (a slower camera is sent as it
/// comes: videorate only drops frames, never invents them), BT.601.
pub(super) fn send_caps(width: u32, height: u32, framerate: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        // A box the picture fits in at its own shape (square pixels, as
        // every far end shows them), never larger than it comes: a 4:3
        // camera went out stretched to 16:9 at the configured size.
        .field("width", gst::IntRange::new(16, (width as i32).max(16)))
        .field("height", gst::IntRange::new(16, (height as i32).max(16)))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        // What VP8 decoders assume (browsers and `vp8dec` as relabelled
        // in `webrtc.rs`); GStreamer would pick BT.709 from 720 lines up.
        // x264 writes it into the stream.
        .field("colorimetry", "bt601")
        .field(
            "framerate",
            gst::FractionRange::new(
                gst::Fraction::new(1, 1),
                gst::Fraction::new(framerate.max(1) as i32, 1),
            ),
        )
        .build()
}

/// Answers caps queries on the sink of a branch that converts what it gets
/// (a sender's queue before videoconvert/audioconvert): any raw media of
/// the kind the tee carries, within the query's filter.
fn accept_any_raw(pad: &gst::Pad) {
    answer_caps_queries(pad, |_| {
        let mut raw = gst::Caps::new_empty_simple("video/x-raw");
        raw.merge(gst::Caps::new_empty_simple("audio/x-raw"));
        raw
    });
}

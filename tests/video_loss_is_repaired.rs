//! A far end's video that loses packets on the way to the room is repaired:
//! the room negotiates NACK on every video track it receives (the
//! receive-only ones too), and a packet lost for good brings a keyframe
//! request to the sender, after which the room shows the sender's picture
//! again; `/status`'s figures count the loss and the request.

#[path = "common/media.rs"]
mod media;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dais::config::VideoCodec;
use dais::media::webrtc::{SessionEvent, Signal};
use gst::prelude::*;
use media::*;

const RED: (u8, u8, u8) = (255, 0, 0);

/// The first element in `e`'s room pipeline whose name starts with
/// `prefix`.
fn element(e: &Engine, prefix: &str) -> Option<gst::Element> {
    find_element(e, named(prefix))
}

#[test]
fn a_receive_only_video_track_negotiates_nack() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    // B sends sound only: its video transceiver is made by A's offer and
    // only receives.
    let mut ob = options("b", false, VideoCodec::Vp8);
    ob.send_video = false;
    let (sa, mut ra) = a
        .handle
        .session(options("a", true, VideoCodec::Vp8))
        .unwrap();
    let (sb, mut rb) = b.handle.session(ob).unwrap();
    let answers = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let sb = sb.clone();
        rt.spawn(async move {
            while let Some(ev) = ra.recv().await {
                if let SessionEvent::Signal(s) = ev {
                    let _ = sb.handle(s);
                }
            }
        });
    }
    {
        let sa = sa.clone();
        let answers = answers.clone();
        rt.spawn(async move {
            while let Some(ev) = rb.recv().await {
                if let SessionEvent::Signal(s) = ev {
                    if let Signal::Answer { sdp } = &s {
                        answers.lock().unwrap().push(sdp.clone());
                    }
                    let _ = sa.handle(s);
                }
            }
        });
    }
    // The first answer may come before any track (to an empty offer).
    let answer = wait(Duration::from_secs(30), "B's answer with video", || {
        answers
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.contains("\nm=video"))
            .cloned()
    });
    let video = answer
        .split("\nm=")
        .find(|m| m.starts_with("video"))
        .unwrap_or_else(|| panic!("no video m-line in B's answer:\n{answer}"));
    assert!(
        video.contains("a=recvonly"),
        "B's video is receive-only:\n{video}"
    );
    assert!(
        video.contains("a=rtcp-fb:96 nack\r") && video.contains("a=rtcp-fb:96 nack pli"),
        "B's answer asks for NACK and PLI on its receive-only video:\n{video}"
    );
    // Sound is concealed, not retransmitted.
    let audio = answer
        .split("\nm=")
        .find(|m| m.starts_with("audio"))
        .unwrap_or_else(|| panic!("no audio m-line in B's answer:\n{answer}"));
    assert!(!audio.contains(" nack\r"), "no NACK on B's sound:\n{audio}");
    // And B shows A's picture.
    wait(
        Duration::from_secs(30),
        "B to decode A's red camera",
        || remote_frame(&b).filter(|f| near(center(f), RED, 40)),
    );
    sa.close();
    sb.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

#[test]
fn a_video_packet_lost_for_good_brings_a_keyframe_request_and_the_picture_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = engine(&rt, config("red", 440.0));
    let b = engine(&rt, config("blue", 660.0));
    let c = call(&rt, &a, &b, VideoCodec::Vp8);
    wait(
        Duration::from_secs(30),
        "B to decode A's red camera",
        || remote_frame(&b).filter(|f| near(center(f), RED, 40)),
    );
    // A's encoder hears of every keyframe request that reaches it.
    let enc = wait(Duration::from_secs(10), "A's video encoder", || {
        element(&a, "venc")
    });
    let asked = Arc::new(AtomicU64::new(0));
    let seen = asked.clone();
    enc.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = info.data.as_ref()
                && gst_video::ForceKeyUnitEvent::is(ev)
            {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            gst::PadProbeReturn::Ok
        });
    let before = asked.load(Ordering::SeqCst);
    // What B decodes after a gap in A's packets: the first frame its
    // depayloader passes after a gap must be a keyframe (a delta frame
    // would be decoded against a picture B never had: blocks of garbage).
    let depay = wait(Duration::from_secs(10), "B's video depayloader", || {
        let room = b.handle.room()?;
        let mut it = room.pipeline.iterate_recurse();
        while let Ok(Some(el)) = it.next() {
            if el.factory().is_some_and(|f| f.name() == "rtpvp8depay") {
                return Some(el);
            }
        }
        None
    });
    let gap = Arc::new(AtomicBool::new(false));
    let last_seq = Arc::new(Mutex::new(None::<u16>));
    let after_gap = Arc::new(Mutex::new(Vec::<bool>::new()));
    {
        let (gap, last_seq) = (gap.clone(), last_seq.clone());
        depay.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut seqs = vec![];
                match info.data.as_ref() {
                    Some(gst::PadProbeData::Buffer(b)) => seqs.push(b.clone()),
                    Some(gst::PadProbeData::BufferList(l)) => seqs.extend(l.iter_owned()),
                    _ => {}
                }
                for buf in seqs {
                    let Ok(rtp) = gst_rtp::RTPBuffer::from_buffer_readable(&buf) else {
                        continue;
                    };
                    let seq = rtp.seq();
                    let mut last = last_seq.lock().unwrap();
                    if let Some(l) = *last
                        && seq != l.wrapping_add(1)
                        && seq.wrapping_sub(l) < 0x8000
                    {
                        gap.store(true, Ordering::SeqCst);
                    }
                    if last.is_none_or(|l| seq.wrapping_sub(l) < 0x8000) {
                        *last = Some(seq);
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    {
        let (gap, after_gap) = (gap.clone(), after_gap.clone());
        depay
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                    && gap.swap(false, Ordering::SeqCst)
                {
                    let key = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    after_gap.lock().unwrap().push(key);
                }
                gst::PadProbeReturn::Ok
            });
    }
    // One packet of A's video dropped before webrtcbin: it was never sent,
    // so no retransmission can bring it; only a keyframe repairs the
    // picture.
    let pay = element(&a, "vpay").expect("A's payloader");
    let count = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (n, d) = (count.clone(), dropped.clone());
    pay.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            match info.data.as_mut() {
                Some(gst::PadProbeData::Buffer(_)) if n.fetch_add(1, Ordering::SeqCst) == 30 => {
                    d.store(true, Ordering::SeqCst);
                    return gst::PadProbeReturn::Drop;
                }
                // A frame's packets come as one list: the 30th packet is
                // taken out of its list.
                Some(gst::PadProbeData::BufferList(list)) => {
                    let first = n.fetch_add(list.len() as u64, Ordering::SeqCst);
                    if first <= 30 && 30 < first + list.len() as u64 {
                        list.make_mut()
                            .remove((30 - first) as usize..(31 - first) as usize);
                        d.store(true, Ordering::SeqCst);
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    wait(Duration::from_secs(30), "the packet dropped", || {
        dropped.load(Ordering::SeqCst).then_some(())
    });
    // B gives the packet up for lost and asks for a keyframe ...
    let counts = wait(Duration::from_secs(30), "B to count the loss", || {
        let c = b.handle.stats.repair_counts();
        c.values()
            .find(|c| c.packets_lost >= 1 && c.keyframe_requests >= 1)
            .cloned()
    });
    assert!(counts.packets_received > 0, "{counts:?}");
    // ... which reaches A's encoder ...
    wait(
        Duration::from_secs(30),
        "A's encoder asked for a keyframe",
        || (asked.load(Ordering::SeqCst) > before).then_some(()),
    );
    // ... and B shows A's picture again: fresh frames, A's colour.
    let decoded = b.handle.stats.remote_frames_decoded.load(Ordering::SeqCst);
    wait(
        Duration::from_secs(30),
        "B to show A's picture again",
        || {
            (b.handle.stats.remote_frames_decoded.load(Ordering::SeqCst) > decoded + 5)
                .then(|| remote_frame(&b))
                .flatten()
                .filter(|f| near(center(f), RED, 40))
        },
    );
    // Nothing decoded from a broken chain: after every gap, a keyframe
    // first.
    let firsts = after_gap.lock().unwrap().clone();
    assert!(!firsts.is_empty(), "B saw no gap in A's packets");
    assert!(
        firsts.iter().all(|key| *key),
        "frames B passed to its decoder first after each gap (true = keyframe): {firsts:?}"
    );
    // The totals /metrics reads include this track.
    let totals = b.handle.stats.repair_totals();
    assert!(
        totals.packets_lost >= 1 && totals.keyframe_requests >= 1,
        "{totals:?}"
    );
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

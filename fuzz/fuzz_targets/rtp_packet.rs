//! Fuzzes the router's RTP reading: no packet may panic the parser or a
//! forwarding slot, and every packet that parses must survive a rewrite
//! with its payload unchanged.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

use dais_core::routing::{rtp, slot};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = rtp::parse(data) else {
        return;
    };
    for id in 0..16 {
        let _ = rtp::audio_level(data, &h, id);
    }
    let body = &data[h.payload.0..h.payload.1];
    let _ = rtp::vp8(body);
    let w = rtp::Rewrite {
        ssrc: 7,
        seq: h.seq ^ 0x5555,
        timestamp: h.timestamp ^ 0xaaaa_aaaa,
        payload_type: 96,
    };
    let out = rtp::rewrite(data, &h, w);
    let o = rtp::parse(&out).expect("a rewritten packet parses");
    assert_eq!(&out[o.payload.0..o.payload.1], body);
    // Through a video slot and an audio slot.
    for kind in [slot::Kind::Video, slot::Kind::Audio] {
        let mut s = slot::Slot::new(kind, 1, 96);
        s.assign(Some("x"), Duration::ZERO);
        let _ = s.forward("x", data, &h, Duration::from_millis(5));
        let _ = s.forward("x", data, &h, Duration::from_millis(10));
    }
});

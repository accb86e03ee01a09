//! RTP packets as the router sees them (RFC 3550): the fixed header, the
//! header extension block (RFC 8285 one- and two-byte forms), the audio
//! level extension (RFC 6464) and the VP8 payload descriptor (RFC 7741).
//!
//! Packets come from the network: every length is checked, and a bad
//! packet is an [`RtpError`] naming the byte where it goes wrong.
//! Property-tested below and fuzzed by `fuzz/fuzz_targets/rtp_packet.rs`.

use thiserror::Error;

/// Why a packet was not understood. `at` is the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("byte {at}: the packet ends there, {need} bytes are needed")]
    Short { at: usize, need: usize },
    #[error("byte 0: RTP version {0}, expected 2")]
    Version(u8),
    #[error("byte {at}: padding of {pad} bytes is longer than the payload")]
    Padding { at: usize, pad: usize },
}

/// The parts of a packet the router reads or rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// CSRC count.
    pub csrcs: u8,
    /// The extension block (profile word included), if any.
    pub extension: Option<(usize, usize)>,
    /// Where the payload starts and ends (padding excluded).
    pub payload: (usize, usize),
    /// Padding bytes at the end.
    pub padding: usize,
}

fn need(buf: &[u8], at: usize, n: usize) -> Result<(), RtpError> {
    if buf.len() < at + n {
        Err(RtpError::Short { at, need: n })
    } else {
        Ok(())
    }
}

/// Parses the header of `buf`.
pub fn parse(buf: &[u8]) -> Result<Header, RtpError> {
    need(buf, 0, 12)?;
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let has_padding = buf[0] & 0x20 != 0;
    let has_ext = buf[0] & 0x10 != 0;
    let csrcs = buf[0] & 0x0f;
    let mut at = 12 + 4 * csrcs as usize;
    need(buf, 12, 4 * csrcs as usize)?;
    let extension = if has_ext {
        need(buf, at, 4)?;
        let words = u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize;
        need(buf, at + 4, 4 * words)?;
        let ext = (at, at + 4 + 4 * words);
        at = ext.1;
        Some(ext)
    } else {
        None
    };
    let padding = if has_padding {
        let pad = *buf.last().unwrap_or(&0) as usize;
        if pad == 0 || at + pad > buf.len() {
            return Err(RtpError::Padding {
                at: buf.len().saturating_sub(1),
                pad,
            });
        }
        pad
    } else {
        0
    };
    Ok(Header {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7f,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        csrcs,
        extension,
        payload: (at, buf.len() - padding),
        padding,
    })
}

/// The data of header extension `id`, in either RFC 8285 form.
pub fn extension<'a>(buf: &'a [u8], h: &Header, id: u8) -> Option<&'a [u8]> {
    let (start, end) = h.extension?;
    let profile = u16::from_be_bytes([buf[start], buf[start + 1]]);
    let data = &buf[start + 4..end];
    let mut i = 0;
    if profile == 0xBEDE {
        // One-byte form: ID (4 bits), length - 1 (4 bits).
        while i < data.len() {
            let b = data[i];
            if b == 0 {
                i += 1; // padding
                continue;
            }
            let eid = b >> 4;
            if eid == 15 {
                return None; // reserved: stop
            }
            let len = (b & 0x0f) as usize + 1;
            let from = i + 1;
            if from + len > data.len() {
                return None;
            }
            if eid == id {
                return Some(&data[from..from + len]);
            }
            i = from + len;
        }
    } else if profile & 0xfff0 == 0x1000 {
        // Two-byte form: ID (8 bits), length (8 bits).
        while i < data.len() {
            let eid = data[i];
            if eid == 0 {
                i += 1;
                continue;
            }
            if i + 1 >= data.len() {
                return None;
            }
            let len = data[i + 1] as usize;
            let from = i + 2;
            if from + len > data.len() {
                return None;
            }
            if eid == id {
                return Some(&data[from..from + len]);
            }
            i = from + len;
        }
    }
    None
}

/// The client-to-mixer audio level (RFC 6464).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// The sender's voice-activity flag.
    pub voice: bool,
    /// Level in -dBov: 0 is the loudest, 127 silence.
    pub dbov: u8,
}

pub fn audio_level(buf: &[u8], h: &Header, id: u8) -> Option<AudioLevel> {
    let d = extension(buf, h, id)?;
    let b = *d.first()?;
    Some(AudioLevel {
        voice: b & 0x80 != 0,
        dbov: b & 0x7f,
    })
}

/// What to write into a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub payload_type: u8,
}

/// A copy of `buf` with new SSRC, sequence number, timestamp and payload
/// type, without header extensions (their ids were negotiated with the
/// sender, not with the receiver) and without CSRCs.
pub fn rewrite(buf: &[u8], h: &Header, w: Rewrite) -> Vec<u8> {
    let body = &buf[h.payload.0..];
    let mut out = Vec::with_capacity(12 + body.len());
    // Version 2, padding kept, no extension, no CSRC.
    out.push(0x80 | if h.padding > 0 { 0x20 } else { 0 });
    out.push((if h.marker { 0x80 } else { 0 }) | (w.payload_type & 0x7f));
    out.extend_from_slice(&w.seq.to_be_bytes());
    out.extend_from_slice(&w.timestamp.to_be_bytes());
    out.extend_from_slice(&w.ssrc.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The VP8 payload descriptor's facts the router needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8 {
    /// The packet starts a frame (S bit, partition 0).
    pub frame_start: bool,
    /// ... and that frame is a keyframe.
    pub keyframe: bool,
}

/// Reads the VP8 payload descriptor at the start of an RTP payload.
pub fn vp8(payload: &[u8]) -> Option<Vp8> {
    let b0 = *payload.first()?;
    let x = b0 & 0x80 != 0;
    let s = b0 & 0x10 != 0;
    let pid = b0 & 0x07;
    let mut i = 1;
    if x {
        let b1 = *payload.get(i)?;
        i += 1;
        if b1 & 0x80 != 0 {
            // Picture ID: 7 or 15 bits.
            let p = *payload.get(i)?;
            i += if p & 0x80 != 0 { 2 } else { 1 };
        }
        if b1 & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if b1 & 0x30 != 0 {
            i += 1; // TID / KEYIDX
        }
    }
    let frame_start = s && pid == 0;
    let keyframe = frame_start && payload.get(i).is_some_and(|h| h & 0x01 == 0);
    Some(Vp8 {
        frame_start,
        keyframe,
    })
}

#[cfg(test)]
pub(crate) fn packet(
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    ext: &[(u8, &[u8])],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = vec![0x80, pt & 0x7f];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    if !ext.is_empty() {
        b[0] |= 0x10;
        let mut data = Vec::new();
        for (id, d) in ext {
            data.push((id << 4) | (d.len() as u8 - 1));
            data.extend_from_slice(d);
        }
        while data.len() % 4 != 0 {
            data.push(0);
        }
        b.extend_from_slice(&0xBEDEu16.to_be_bytes());
        b.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
        b.extend_from_slice(&data);
    }
    b.extend_from_slice(payload);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_fixed_header() {
        let p = packet(96, 65535, 0xdead_beef, 42, &[], &[1, 2, 3]);
        let h = parse(&p).unwrap();
        assert_eq!(
            (h.payload_type, h.seq, h.timestamp, h.ssrc),
            (96, 65535, 0xdead_beef, 42)
        );
        assert_eq!(&p[h.payload.0..h.payload.1], &[1, 2, 3]);
        assert!(!h.marker);
    }

    #[test]
    fn finds_the_audio_level_among_other_extensions() {
        let p = packet(
            111,
            1,
            960,
            7,
            &[(3, &[9, 9, 9]), (1, &[0x80 | 30])],
            &[0xfc],
        );
        let h = parse(&p).unwrap();
        assert_eq!(
            audio_level(&p, &h, 1),
            Some(AudioLevel {
                voice: true,
                dbov: 30
            })
        );
        assert_eq!(extension(&p, &h, 3), Some(&[9u8, 9, 9][..]));
        assert_eq!(audio_level(&p, &h, 2), None);
    }

    #[test]
    fn two_byte_extensions_are_read_too() {
        let mut p = packet(111, 1, 960, 7, &[], &[0xfc]);
        p[0] |= 0x10;
        let ext = [0x10u8, 0x00, 0x00, 0x01, 5, 1, 0x7f, 0];
        p.splice(12..12, ext);
        let h = parse(&p).unwrap();
        assert_eq!(
            audio_level(&p, &h, 5),
            Some(AudioLevel {
                voice: false,
                dbov: 127
            })
        );
    }

    #[test]
    fn a_rewrite_drops_extensions_and_keeps_the_payload() {
        let p = packet(100, 10, 1000, 7, &[(1, &[0x85])], &[0x10, 0, 0x9d, 1, 2]);
        let h = parse(&p).unwrap();
        let out = rewrite(
            &p,
            &h,
            Rewrite {
                ssrc: 99,
                seq: 5,
                timestamp: 77,
                payload_type: 96,
            },
        );
        let o = parse(&out).unwrap();
        assert_eq!(
            (o.ssrc, o.seq, o.timestamp, o.payload_type),
            (99, 5, 77, 96)
        );
        assert_eq!(o.extension, None);
        assert_eq!(&out[o.payload.0..], &[0x10, 0, 0x9d, 1, 2]);
    }

    #[test]
    fn bad_packets_name_the_byte() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::Short { at: 0, need: 12 }));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version(1)));
        // Extension header says 10 words but the packet ends.
        let mut p = packet(96, 1, 1, 1, &[], &[]);
        p[0] |= 0x10;
        p.extend_from_slice(&[0xBE, 0xDE, 0, 10]);
        assert_eq!(parse(&p), Err(RtpError::Short { at: 16, need: 40 }));
        let mut p = packet(96, 1, 1, 1, &[], &[1]);
        p[0] |= 0x20;
        p.push(9);
        assert!(matches!(parse(&p), Err(RtpError::Padding { pad: 9, .. })));
    }

    #[test]
    fn vp8_keyframes_are_recognised() {
        // S=1, PID=0, no extension; payload header P bit 0: keyframe.
        assert_eq!(
            vp8(&[0x10, 0x00]),
            Some(Vp8 {
                frame_start: true,
                keyframe: true
            })
        );
        assert_eq!(
            vp8(&[0x10, 0x01]),
            Some(Vp8 {
                frame_start: true,
                keyframe: false
            })
        );
        // A continuation packet.
        assert_eq!(
            vp8(&[0x00, 0x00]),
            Some(Vp8 {
                frame_start: false,
                keyframe: false
            })
        );
        // X with a 15-bit picture id, as browsers send.
        assert_eq!(
            vp8(&[0x90, 0x80, 0x81, 0x23, 0x00]),
            Some(Vp8 {
                frame_start: true,
                keyframe: true
            })
        );
        // X, picture id, TL0PICIDX and TID: keyframe byte after all three.
        assert_eq!(
            vp8(&[0x90, 0xe0, 0x12, 0x05, 0x20, 0x01]),
            Some(Vp8 {
                frame_start: true,
                keyframe: false
            })
        );
        assert_eq!(vp8(&[0x90, 0x80]), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200), id in 0u8..16) {
            if let Ok(h) = parse(&bytes) {
                prop_assert!(h.payload.0 <= h.payload.1 && h.payload.1 <= bytes.len());
                let _ = audio_level(&bytes, &h, id);
                let _ = vp8(&bytes[h.payload.0..h.payload.1]);
                let out = rewrite(&bytes, &h, Rewrite { ssrc: 1, seq: 2, timestamp: 3, payload_type: 96 });
                let o = parse(&out).unwrap();
                prop_assert_eq!(&out[o.payload.0..o.payload.1], &bytes[h.payload.0..h.payload.1]);
            }
        }

        #[test]
        fn rewritten_headers_read_back(seq in any::<u16>(), ts in any::<u32>(), ssrc in any::<u32>(), pt in 0u8..128, marker in any::<bool>()) {
            let mut p = packet(100, 1, 1, 1, &[(1, &[0x90])], &[1, 2, 3]);
            if marker { p[1] |= 0x80; }
            let h = parse(&p).unwrap();
            let out = rewrite(&p, &h, Rewrite { ssrc, seq, timestamp: ts, payload_type: pt });
            let o = parse(&out).unwrap();
            prop_assert_eq!((o.ssrc, o.seq, o.timestamp, o.payload_type, o.marker), (ssrc, seq, ts, pt, marker));
        }
    }
}

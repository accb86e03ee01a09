//! The room's test card: a known picture that says which frame it is.
//!
//! A camera of pattern `testcard` sends it (an installer sees at a glance
//! whether the far end's picture moves, freezes or breaks up; tests compare
//! what arrives with what was sent). Each frame shows, from the top:
//!
//! - a band of [`BITS`] blocks, the frame's number in 16 bits and an 8-bit
//!   check ([`check`]), white for 1 and black for 0, readable after any
//!   codec ([`read_counter`]);
//! - a grey checkerboard with a white block that moves [`STEP`] pixels a
//!   frame (a picture decoded from a broken reference smears it);
//! - a band of six colour patches at 75% (red, green, blue, cyan, magenta,
//!   yellow), for colours carried through decode and display.
//!
//! [`draw`] makes frame `n` at any size in RGBA; [`psnr`] compares what
//! arrived with it. All of it is plain arithmetic (sans-IO).

/// Blocks in the counter band: 16 bits of frame number, 8 of check.
pub const BITS: u32 = 24;
/// How far the moving block goes each frame (pixels).
pub const STEP: u32 = 4;
/// The colour patches of the bottom band, left to right (RGB, 75%).
pub const PATCHES: [(u8, u8, u8); 6] = [
    (191, 0, 0),
    (0, 191, 0),
    (0, 0, 191),
    (0, 191, 191),
    (191, 0, 191),
    (191, 191, 0),
];
const LIGHT: u8 = 180;
const DARK: u8 = 70;
const ON: u8 = 235;
const OFF: u8 = 16;

/// The check written beside a frame number.
pub fn check(n: u16) -> u8 {
    let [hi, lo] = n.to_be_bytes();
    hi ^ lo.rotate_left(3) ^ 0xA5
}

/// The height of the counter band, the colour band's top and the moving
/// block's size for a `w`×`h` card.
fn bands(h: u32) -> (u32, u32, u32) {
    let top = (h / 8).max(2);
    let bottom = h - (h / 6).max(2);
    let block = (h / 5).max(2);
    (top, bottom, block)
}

/// Whether `len` bytes hold a `w`×`h` RGBA picture (at least a block per
/// bit wide and 8 rows high) with rows
/// `stride` bytes apart (and the card's arithmetic cannot overflow).
fn fits(len: usize, w: u32, h: u32, stride: u32) -> bool {
    w >= BITS
        && h >= 8
        && w <= 1 << 14
        && h <= 1 << 14
        && u64::from(stride) >= u64::from(w) * 4
        && len as u64 >= u64::from(stride) * u64::from(h)
}

/// Frame `n` of the card, `w`×`h`, RGBA, rows packed (empty when the
/// card does not fit that size).
pub fn draw(n: u32, w: u32, h: u32) -> Vec<u8> {
    if !fits(usize::MAX, w, h, w.saturating_mul(4)) {
        return vec![];
    }
    let mut out = vec![0u8; w as usize * h as usize * 4];
    draw_into(n, w, h, w * 4, &mut out);
    out
}

/// Draws frame `n` into `buf`, RGBA with rows `stride` bytes apart. Does
/// nothing when `buf` is too small for that.
pub fn draw_into(n: u32, w: u32, h: u32, stride: u32, buf: &mut [u8]) {
    if !fits(buf.len(), w, h, stride) {
        return;
    }
    let (top, bottom, block) = bands(h);
    let counter = n as u16;
    let word = (u32::from(counter) << 8) | u32::from(check(counter));
    let travel = w.saturating_sub(block).max(1);
    let bx = (n.wrapping_mul(STEP)) % travel;
    let by = (top + bottom) / 2 - block / 2;
    let square = (h / 6).max(1);
    for y in 0..h {
        let at = y as usize * stride as usize;
        let row = &mut buf[at..at + w as usize * 4];
        for x in 0..w {
            let rgb = if y < top {
                let bit = (x * BITS / w).min(BITS - 1);
                let v = if word >> (BITS - 1 - bit) & 1 == 1 {
                    ON
                } else {
                    OFF
                };
                (v, v, v)
            } else if y >= bottom {
                PATCHES[((x * PATCHES.len() as u32 / w) as usize).min(PATCHES.len() - 1)]
            } else if (bx..bx + block).contains(&x) && (by..by + block).contains(&y) {
                (ON, ON, ON)
            } else {
                let v = if ((x / square) + (y / square)).is_multiple_of(2) {
                    LIGHT
                } else {
                    DARK
                };
                (v, v, v)
            };
            let p = x as usize * 4;
            row[p..p + 4].copy_from_slice(&[rgb.0, rgb.1, rgb.2, 255]);
        }
    }
}

/// The frame number a `w`×`h` RGBA picture of the card shows (rows
/// `stride` bytes apart), if its counter band reads and its check matches.
pub fn read_counter(rgba: &[u8], w: u32, h: u32, stride: u32) -> Option<u16> {
    if !fits(rgba.len(), w, h, stride) {
        return None;
    }
    let (top, _, _) = bands(h);
    let y = top / 2;
    let mut word = 0u32;
    for bit in 0..BITS {
        // The middle of the block, three pixels wide where it can be.
        let x0 = (2 * bit + 1) * w / (2 * BITS);
        let mut sum = 0u32;
        let mut n = 0u32;
        for x in x0.saturating_sub(1)..=(x0 + 1).min(w - 1) {
            let p = y as usize * stride as usize + x as usize * 4;
            sum += u32::from(rgba[p]) + u32::from(rgba[p + 1]) + u32::from(rgba[p + 2]);
            n += 3;
        }
        word = word << 1 | u32::from(sum / n > 128);
    }
    let counter = (word >> 8) as u16;
    (check(counter) == (word & 0xFF) as u8).then_some(counter)
}

/// Peak signal-to-noise ratio of `got` against `want` over R, G and B, in
/// dB (both `w`×`h` RGBA, `got`'s rows `stride` bytes apart, `want`'s
/// packed). Identical pictures give infinity; a size mismatch gives 0.
pub fn psnr(got: &[u8], stride: u32, want: &[u8], w: u32, h: u32) -> f64 {
    if !fits(got.len(), w, h, stride) || want.len() as u64 != u64::from(w) * u64::from(h) * 4 {
        return 0.0;
    }
    let mut se = 0f64;
    for y in 0..h {
        let (w4, at) = (w as usize * 4, y as usize * stride as usize);
        let g = &got[at..at + w4];
        let r = &want[y as usize * w4..(y as usize + 1) * w4];
        for (a, b) in g.chunks_exact(4).zip(r.chunks_exact(4)) {
            for c in 0..3 {
                let d = f64::from(a[c]) - f64::from(b[c]);
                se += d * d;
            }
        }
    }
    let mse = se / (f64::from(w) * f64::from(h) * 3.0);
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_number_reads_back_from_its_card() {
        for (w, h) in [(320, 240), (640, 360), (1280, 720), (48, 36)] {
            for n in [0u32, 1, 2, 255, 256, 4095, 65_535, 65_536 + 7] {
                let card = draw(n, w, h);
                assert_eq!(
                    read_counter(&card, w, h, w * 4),
                    Some(n as u16),
                    "{w}x{h} frame {n}"
                );
            }
        }
    }

    #[test]
    fn a_card_compares_perfectly_with_itself_and_not_with_its_neighbour() {
        let a = draw(10, 320, 240);
        assert_eq!(psnr(&a, 320 * 4, &a, 320, 240), f64::INFINITY);
        let b = draw(11, 320, 240);
        let p = psnr(&b, 320 * 4, &a, 320, 240);
        assert!(
            p < 30.0,
            "the next frame (block moved, counter changed) is {p} dB"
        );
    }

    #[test]
    fn a_flipped_bit_fails_the_check() {
        let mut card = draw(1234, 320, 240);
        // Paint the first counter block white: bit 15 of 1234 is 0.
        for y in 0..20 {
            for x in 0..13 {
                let p = ((y * 320 + x) * 4) as usize;
                card[p..p + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        assert_eq!(read_counter(&card, 320, 240, 320 * 4), None);
    }

    #[test]
    fn bad_sizes_are_refused_not_panicked_on() {
        assert_eq!(read_counter(&[], 320, 240, 1280), None);
        assert_eq!(read_counter(&[0; 16], 2, 2, 8), None);
        assert_eq!(psnr(&[0; 16], 8, &[0; 12], 2, 2), 0.0);
        let mut small = vec![0u8; 10];
        draw_into(3, 320, 240, 1280, &mut small);
        assert_eq!(small, vec![0u8; 10]);
        assert!(draw(5, 0, 0).is_empty());
    }

    #[test]
    fn noise_within_a_codec_s_error_keeps_the_counter_readable() {
        let mut card = draw(777, 320, 240);
        for (i, v) in card.iter_mut().enumerate() {
            // ±40 of deterministic noise on every channel.
            let d = ((i as u32).wrapping_mul(2_654_435_761) >> 24) as i32 % 81 - 40;
            *v = (i32::from(*v) + d).clamp(0, 255) as u8;
        }
        assert_eq!(read_counter(&card, 320, 240, 320 * 4), Some(777));
    }

    proptest::proptest! {
        /// Any bytes at any size: reading never panics, and whatever it
        /// reads passes the check.
        #[test]
        fn any_picture_reads_or_refuses(w in 0u32..64, h in 0u32..64, extra in 0u32..16,
                                        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..20_000)) {
            if let Some(n) = read_counter(&bytes, w, h, w * 4 + extra) {
                let word = u32::from(n) << 8 | u32::from(check(n));
                proptest::prop_assert!(word >> 8 == u32::from(n));
            }
            let _ = psnr(&bytes, w * 4 + extra, &bytes, w, h);
        }
    }
}

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

/// How far the colour patches of a `w`×`h` RGBA picture of the card
/// (rows `stride` bytes apart) are from [`PATCHES`]: the largest
/// difference on any channel of any patch, each patch's colour the mean
/// of the middle half of it. A picture decoded with the wrong colour
/// matrix or range is off by 15 or more; a good decode by a few. `None`
/// when the card does not fit the size.
pub fn patch_error(rgba: &[u8], w: u32, h: u32, stride: u32) -> Option<u8> {
    if !fits(rgba.len(), w, h, stride) {
        return None;
    }
    let (_, bottom, _) = bands(h);
    let band = h - bottom;
    let (y0, y1) = (bottom + band / 4, bottom + band - band / 4);
    let mut worst = 0u8;
    for (i, want) in PATCHES.iter().enumerate() {
        let (left, right) = (i as u32 * w / 6, (i as u32 + 1) * w / 6);
        let quarter = (right - left) / 4;
        let (x0, x1) = (left + quarter, right - quarter);
        let (mut sum, mut n) = ([0u64; 3], 0u64);
        for y in y0..y1.max(y0 + 1) {
            for x in x0..x1.max(x0 + 1) {
                let p = y as usize * stride as usize + x as usize * 4;
                for c in 0..3 {
                    sum[c] += u64::from(rgba[p + c]);
                }
                n += 1;
            }
        }
        for (c, v) in [want.0, want.1, want.2].into_iter().enumerate() {
            let mean = ((sum[c] + n / 2) / n) as i32;
            worst = worst.max((mean - i32::from(v)).unsigned_abs().min(255) as u8);
        }
    }
    Some(worst)
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

/// What a picture of the card reads back as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadBack {
    /// The frame number its counter says.
    pub frame: u16,
    /// Compared with that frame as it was sent ([`psnr`], [`ssim`]).
    pub psnr: f64,
    pub ssim: f64,
    /// How far its colour patches are off ([`patch_error`]).
    pub colour_error: u8,
}

impl ReadBack {
    /// Whether the picture is that frame, whole and at its colours:
    /// within 30 dB of it, or, for a picture softened by scaling,
    /// structurally the same (SSIM 0.9) and still within 25 dB; and its
    /// colour patches within [`COLOUR_TOLERANCE`].
    pub fn whole(&self) -> bool {
        (self.psnr >= 30.0 || (self.ssim >= 0.9 && self.psnr >= 25.0))
            && self.colour_error <= COLOUR_TOLERANCE
    }
}

/// The most a colour patch may be off after a lossy codec and scaling
/// (BT.601 read as BT.709 puts the red patch 17 off).
pub const COLOUR_TOLERANCE: u8 = 10;

impl ReadBack {}

/// What a picture of the card reads back as: the frame number it says,
/// compared with that frame as it was sent (`sent`: width and height),
/// brought to the picture's size `w`×`h` when the sender or the display
/// scaled it. `rgba`'s rows are `stride` bytes apart. `None` when the
/// counter does not read.
pub fn read_back(rgba: &[u8], w: u32, h: u32, stride: u32, sent: (u32, u32)) -> Option<ReadBack> {
    let n = read_counter(rgba, w, h, stride)?;
    let mut want = draw(u32::from(n), sent.0, sent.1);
    if (w, h) != sent {
        want = resample(&want, sent.0, sent.1, sent.0 * 4, w, h);
    }
    Some(ReadBack {
        frame: n,
        psnr: psnr(rgba, stride, &want, w, h),
        ssim: ssim(rgba, stride, &want, w, h),
        colour_error: patch_error(rgba, w, h, stride).unwrap_or(u8::MAX),
    })
}

/// Structural similarity of `got` against `want` (both `w`×`h` RGBA,
/// `got`'s rows `stride` bytes apart, `want`'s packed), on their luma, the
/// mean over 8×8 windows 4 pixels apart: 1 for the same picture, near 0
/// for an unrelated one. It forgives the softening of a picture scaled up
/// and down again, which PSNR counts as error, but not blocks, smears or a
/// wrong frame. A size mismatch, or a picture under 8×8, gives 0.
pub fn ssim(got: &[u8], stride: u32, want: &[u8], w: u32, h: u32) -> f64 {
    let packed = u64::from(w) * u64::from(h) * 4;
    if w < 8
        || h < 8
        || u64::from(stride) < u64::from(w) * 4
        || (got.len() as u64) < u64::from(stride) * u64::from(h)
        || want.len() as u64 != packed
    {
        return 0.0;
    }
    let luma =
        |px: &[u8]| 0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut sum, mut windows) = (0.0, 0u32);
    for y0 in (0..=h - 8).step_by(4) {
        for x0 in (0..=w - 8).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + 8 {
                for x in x0..x0 + 8 {
                    let (y, x) = (y as usize, x as usize);
                    let a = luma(&got[y * stride as usize + x * 4..]);
                    let b = luma(&want[(y * w as usize + x) * 4..]);
                    sa += a;
                    sb += b;
                    saa += a * a;
                    sbb += b * b;
                    sab += a * b;
                }
            }
            let n = 64.0;
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    sum / f64::from(windows)
}

/// `src` (`w`×`h` RGBA, rows `stride` bytes apart) at `to_w`×`to_h`,
/// packed: each new pixel the average of the old pixels it covers (areas,
/// not points, so that a picture shown larger and read back smaller is
/// compared fairly with the card as it was sent). Empty when either size
/// is empty or `src` is too short.
pub fn resample(src: &[u8], w: u32, h: u32, stride: u32, to_w: u32, to_h: u32) -> Vec<u8> {
    let enough = u64::from(stride) >= u64::from(w) * 4
        && src.len() as u64 >= u64::from(stride) * u64::from(h);
    if w == 0 || h == 0 || to_w == 0 || to_h == 0 || !enough || to_w > 1 << 14 || to_h > 1 << 14 {
        return vec![];
    }
    // One axis at a time, in fixed point: weights in 1/to_w (1/to_h) of
    // an old pixel.
    fn spans(from: u32, to: u32) -> Vec<Vec<(usize, u64)>> {
        (0..to)
            .map(|i| {
                // The new pixel covers [i*from, (i+1)*from) in units of
                // 1/to of an old pixel.
                let (a, b) = (
                    u64::from(i) * u64::from(from),
                    u64::from(i + 1) * u64::from(from),
                );
                let mut out = vec![];
                let mut x = a / u64::from(to);
                while x * u64::from(to) < b {
                    let lo = a.max(x * u64::from(to));
                    let hi = b.min((x + 1) * u64::from(to));
                    if hi > lo {
                        out.push((x as usize, hi - lo));
                    }
                    x += 1;
                }
                out
            })
            .collect()
    }
    let (xs, ys) = (spans(w, to_w), spans(h, to_h));
    let mut out = vec![0u8; to_w as usize * to_h as usize * 4];
    let total = u64::from(w) * u64::from(h);
    for (ty, yspan) in ys.iter().enumerate() {
        for (tx, xspan) in xs.iter().enumerate() {
            let mut acc = [0u64; 4];
            for &(y, wy) in yspan {
                let row = y * stride as usize;
                for &(x, wx) in xspan {
                    let p = row + x * 4;
                    for c in 0..4 {
                        acc[c] += u64::from(src[p + c]) * wy * wx;
                    }
                }
            }
            let o = (ty * to_w as usize + tx) * 4;
            for c in 0..4 {
                out[o + c] = ((acc[c] + total / 2) / total) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssim_is_one_for_the_same_card_and_low_for_the_next_or_a_smear() {
        let a = draw(10, 320, 240);
        assert!((ssim(&a, 320 * 4, &a, 320, 240) - 1.0).abs() < 1e-9);
        // The next frame: the moving block and the counter differ.
        let b = draw(11, 320, 240);
        let next = ssim(&b, 320 * 4, &a, 320, 240);
        assert!(next < 0.99, "{next}");
        // Blocks of 16x16 averaged, as a decoder with a broken reference
        // shows: structure gone.
        let mut blocky = a.clone();
        for by in 0..15 {
            for bx in 0..20 {
                let mut acc = [0u32; 3];
                for y in by * 16..by * 16 + 16 {
                    for x in bx * 16..bx * 16 + 16 {
                        for c in 0..3 {
                            acc[c] += u32::from(a[(y * 320 + x) * 4 + c]);
                        }
                    }
                }
                for y in by * 16..by * 16 + 16 {
                    for x in bx * 16..bx * 16 + 16 {
                        for c in 0..3 {
                            blocky[(y * 320 + x) * 4 + c] = (acc[c] / 256) as u8;
                        }
                    }
                }
            }
        }
        let smeared = ssim(&blocky, 320 * 4, &a, 320, 240);
        assert!(smeared < 0.8, "{smeared}");
        assert_eq!(ssim(&a, 320 * 4, &a[..16], 320, 240), 0.0);
        assert_eq!(ssim(&a[..16], 4, &a[..16], 1, 1), 0.0);
    }

    #[test]
    fn the_colour_patches_read_back_and_a_shift_is_seen() {
        let a = draw(3, 320, 240);
        assert_eq!(patch_error(&a, 320, 240, 320 * 4), Some(0));
        let mut off = a.clone();
        for px in off.chunks_exact_mut(4) {
            px[1] = px[1].saturating_sub(12);
        }
        assert_eq!(patch_error(&off, 320, 240, 320 * 4), Some(12));
        assert_eq!(patch_error(&a[..8], 320, 240, 320 * 4), None);
        let r = read_back(&off, 320, 240, 320 * 4, (320, 240)).unwrap();
        assert!(!r.whole(), "{r:?}");
        assert!(
            read_back(&a, 320, 240, 320 * 4, (320, 240))
                .unwrap()
                .whole()
        );
    }

    #[test]
    fn a_card_shown_twice_as_large_reads_back_as_it_was() {
        let card = draw(77, 320, 240);
        // Each pixel doubled both ways, as a display twice the size shows
        // it without smoothing.
        let mut big = vec![0u8; 640 * 480 * 4];
        for y in 0..480usize {
            for x in 0..640usize {
                let s = ((y / 2) * 320 + x / 2) * 4;
                big[(y * 640 + x) * 4..][..4].copy_from_slice(&card[s..s + 4]);
            }
        }
        let back = resample(&big, 640, 480, 640 * 4, 320, 240);
        assert_eq!(psnr(&back, 320 * 4, &card, 320, 240), f64::INFINITY);
        assert_eq!(read_counter(&back, 320, 240, 320 * 4), Some(77));
        // The same size is the same picture; a third of it is the average.
        assert_eq!(resample(&card, 320, 240, 320 * 4, 320, 240), card);
        let grey = [10u8, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255];
        assert_eq!(resample(&grey, 3, 1, 12, 1, 1), vec![40, 50, 60, 255]);
        assert!(resample(&grey, 3, 1, 12, 0, 1).is_empty());
        assert!(resample(&grey, 3, 2, 12, 1, 1).is_empty());
    }

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

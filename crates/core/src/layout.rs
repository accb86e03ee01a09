//! Where each picture goes on the room display: pure geometry, no
//! GStreamer. The compositor applies the rectangles this computes.

use serde::{Deserialize, Serialize};

/// The room display's layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One speaker full screen.
    Speaker,
    /// Everyone in an even grid.
    #[default]
    Grid,
    /// The speaker large, the others in a strip below.
    SpeakerStrip,
    /// The far end full screen, the room's own picture small in a corner.
    Pip,
}

impl Layout {
    pub const ALL: [Layout; 4] = [
        Layout::Speaker,
        Layout::Grid,
        Layout::SpeakerStrip,
        Layout::Pip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Speaker => "speaker",
            Layout::Grid => "grid",
            Layout::SpeakerStrip => "speaker-strip",
            Layout::Pip => "pip",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// A rectangle on the display, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn center(&self) -> (i32, i32) {
        (self.x + self.w / 2, self.y + self.h / 2)
    }
}

/// One picture to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub id: String,
    /// The room's own camera.
    pub local: bool,
    /// Shared content takes the speaker's place when present.
    pub content: bool,
}

/// A placed picture: where, and in which order (higher on top). A tile
/// not shown has no placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub id: String,
    pub rect: Rect,
    pub zorder: u32,
}

/// Places `tiles` (in speaking order: the current speaker first) on a
/// `w`×`h` display. Remote pictures and content come before the room's
/// own; with nobody else the room's own picture fills the screen.
pub fn place(layout: Layout, tiles: &[Tile], w: i32, h: i32) -> Vec<Placement> {
    let full = Rect { x: 0, y: 0, w, h };
    let mut remote: Vec<&Tile> = tiles.iter().filter(|t| !t.local).collect();
    // Content first: it is what everyone should see.
    remote.sort_by_key(|t| !t.content);
    let local = tiles.iter().find(|t| t.local);
    let put = |t: &Tile, rect: Rect, z: u32| Placement {
        id: t.id.clone(),
        rect,
        zorder: z,
    };
    if remote.is_empty() {
        return local.map(|l| vec![put(l, full, 1)]).unwrap_or_default();
    }
    match layout {
        Layout::Speaker => vec![put(remote[0], full, 1)],
        Layout::Pip => {
            let mut out = vec![put(remote[0], full, 1)];
            if let Some(l) = local {
                let pw = (w / 4).max(2);
                let ph = (h / 4).max(2);
                // The margin follows the shorter side, so the inset stays
                // on screen on very wide or very tall displays.
                let margin = (w.min(h) / 40).min(w - pw).min(h - ph).max(0);
                out.push(put(
                    l,
                    Rect {
                        x: w - pw - margin,
                        y: h - ph - margin,
                        w: pw,
                        h: ph,
                    },
                    2,
                ));
            }
            out
        }
        Layout::Grid => {
            let mut all: Vec<&Tile> = remote.clone();
            if let Some(l) = local {
                all.push(l);
            }
            grid(&all, full)
                .into_iter()
                .map(|(t, r)| put(t, r, 1))
                .collect()
        }
        Layout::SpeakerStrip => {
            let others: Vec<&Tile> = remote[1..].iter().copied().chain(local).collect();
            if others.is_empty() {
                return vec![put(remote[0], full, 1)];
            }
            let strip_h = h / 4;
            let mut out = vec![put(
                remote[0],
                Rect {
                    x: 0,
                    y: 0,
                    w,
                    h: h - strip_h,
                },
                1,
            )];
            // The strip holds up to five thumbnails, left to right.
            let n = others.len().min(5) as i32;
            let tw = w / n.max(4);
            let x0 = (w - tw * n) / 2;
            for (i, t) in others.iter().take(5).enumerate() {
                out.push(put(
                    t,
                    Rect {
                        x: x0 + tw * i as i32,
                        y: h - strip_h,
                        w: tw,
                        h: strip_h,
                    },
                    2,
                ));
            }
            out
        }
    }
}

/// How a picture fills a tile of another shape. Never stretched: a face
/// keeps its proportions whatever the grid does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// The whole picture, centred, with bars where the tile is wider or
    /// taller than it.
    #[default]
    Letterbox,
    /// The tile filled, the picture's middle kept and its edges cut.
    /// Shared content is always letterboxed: a slide must not lose its
    /// edges.
    Crop,
}

impl Fit {
    pub const ALL: [Fit; 2] = [Fit::Letterbox, Fit::Crop];

    pub fn name(self) -> &'static str {
        match self {
            Fit::Letterbox => "letterbox",
            Fit::Crop => "crop",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// A picture's size in pixels and the shape of its pixels (the
/// pixel-aspect-ratio of its caps; 1/1 for square pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    pub width: i32,
    pub height: i32,
    pub par_n: i32,
    pub par_d: i32,
}

/// What of a picture is shown in a tile, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fitted {
    /// Where on the display the picture is drawn (inside the tile).
    pub dst: Rect,
    /// Pixels cut from each edge of the picture before it is scaled:
    /// left, right, top, bottom.
    pub crop: [i32; 4],
}

/// Fits `pic` into `tile` without changing its proportions. A picture of
/// unusable size (zero, negative) fills the tile as it is.
pub fn fit(pic: Picture, tile: Rect, how: Fit) -> Fitted {
    let whole = Fitted {
        dst: tile,
        crop: [0; 4],
    };
    if pic.width <= 0
        || pic.height <= 0
        || pic.par_n <= 0
        || pic.par_d <= 0
        || tile.w <= 0
        || tile.h <= 0
    {
        return whole;
    }
    // The picture's shape on a display: width * par_n : height * par_d.
    let (pw, ph) = (
        i64::from(pic.width) * i64::from(pic.par_n),
        i64::from(pic.height) * i64::from(pic.par_d),
    );
    let (tw, th) = (i64::from(tile.w), i64::from(tile.h));
    // pw/ph against tw/th, without division.
    let wider = pw * th > tw * ph;
    match how {
        Fit::Letterbox => {
            let (w, h) = if wider {
                (tw, (tw * ph + pw / 2) / pw)
            } else {
                ((th * pw + ph / 2) / ph, th)
            };
            let (w, h) = (w.clamp(1, tw) as i32, h.clamp(1, th) as i32);
            Fitted {
                dst: Rect {
                    x: tile.x + (tile.w - w) / 2,
                    y: tile.y + (tile.h - h) / 2,
                    w,
                    h,
                },
                crop: [0; 4],
            }
        }
        Fit::Crop => {
            let (cw, chh) = (i64::from(pic.width), i64::from(pic.height));
            if wider {
                // Keep the height; the width that has the tile's shape,
                // in the picture's own pixels.
                let keep =
                    ((chh * tw * i64::from(pic.par_d)) / (th * i64::from(pic.par_n))).clamp(1, cw);
                let cut = (cw - keep) as i32;
                Fitted {
                    dst: tile,
                    crop: [cut / 2, cut - cut / 2, 0, 0],
                }
            } else {
                let keep =
                    ((cw * th * i64::from(pic.par_n)) / (tw * i64::from(pic.par_d))).clamp(1, chh);
                let cut = (chh - keep) as i32;
                Fitted {
                    dst: tile,
                    crop: [0, 0, cut / 2, cut - cut / 2],
                }
            }
        }
    }
}

/// An even grid: columns = ceil(sqrt(n)), rows as needed, the last row
/// centred.
fn grid<'a>(tiles: &[&'a Tile], area: Rect) -> Vec<(&'a Tile, Rect)> {
    let n = tiles.len() as i32;
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as i32;
    let rows = (n + cols - 1) / cols;
    let cw = area.w / cols;
    let ch = area.h / rows;
    let mut out = Vec::with_capacity(tiles.len());
    for (i, t) in tiles.iter().enumerate() {
        let i = i as i32;
        let row = i / cols;
        let col = i % cols;
        let in_row = if row == rows - 1 {
            n - row * cols
        } else {
            cols
        };
        let x0 = area.x + (area.w - in_row * cw) / 2;
        out.push((
            *t,
            Rect {
                x: x0 + col * cw,
                y: area.y + row * ch,
                w: cw,
                h: ch,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tiles(remote: usize, local: bool) -> Vec<Tile> {
        let mut v: Vec<Tile> = (0..remote)
            .map(|i| Tile {
                id: format!("r{i}"),
                local: false,
                content: false,
            })
            .collect();
        if local {
            v.push(Tile {
                id: "self".into(),
                local: true,
                content: false,
            });
        }
        v
    }

    #[test]
    fn four_tiles_fill_the_four_quadrants() {
        let p = place(Layout::Grid, &tiles(3, true), 1280, 720);
        let rects: Vec<Rect> = p.iter().map(|p| p.rect).collect();
        assert_eq!(
            rects,
            [
                Rect {
                    x: 0,
                    y: 0,
                    w: 640,
                    h: 360
                },
                Rect {
                    x: 640,
                    y: 0,
                    w: 640,
                    h: 360
                },
                Rect {
                    x: 0,
                    y: 360,
                    w: 640,
                    h: 360
                },
                Rect {
                    x: 640,
                    y: 360,
                    w: 640,
                    h: 360
                },
            ]
        );
        assert_eq!(p[3].id, "self");
    }

    #[test]
    fn alone_the_room_sees_itself() {
        for l in Layout::ALL {
            let p = place(l, &tiles(0, true), 1920, 1080);
            assert_eq!(p.len(), 1);
            assert_eq!(
                p[0].rect,
                Rect {
                    x: 0,
                    y: 0,
                    w: 1920,
                    h: 1080
                }
            );
        }
    }

    #[test]
    fn pip_puts_the_room_in_a_corner_on_top() {
        let p = place(Layout::Pip, &tiles(1, true), 1280, 720);
        assert_eq!(p[0].rect.w, 1280);
        assert_eq!(p[1].id, "self");
        assert!(p[1].zorder > p[0].zorder);
        assert!(p[1].rect.x > 640 && p[1].rect.y > 360);
    }

    #[test]
    fn content_takes_the_speaker_place() {
        let mut t = tiles(2, true);
        t.push(Tile {
            id: "slides".into(),
            local: false,
            content: true,
        });
        let p = place(Layout::SpeakerStrip, &t, 1280, 720);
        assert_eq!(p[0].id, "slides");
        assert_eq!(p[0].rect.h, 720 - 180);
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn names_round_trip() {
        for l in Layout::ALL {
            assert_eq!(Layout::from_name(l.name()), Some(l));
        }
    }

    const HD: Picture = Picture {
        width: 1280,
        height: 720,
        par_n: 1,
        par_d: 1,
    };
    const HALF: Rect = Rect {
        x: 640,
        y: 0,
        w: 640,
        h: 720,
    };

    /// The two-tile grid of the defect: a 16:9 camera in a 640x720 tile.
    #[test]
    fn a_wide_picture_in_a_tall_tile_is_never_squeezed() {
        let f = fit(HD, HALF, Fit::Letterbox);
        assert_eq!(
            f.dst,
            Rect {
                x: 640,
                y: 180,
                w: 640,
                h: 360
            }
        );
        assert_eq!(f.crop, [0; 4]);
        let f = fit(HD, HALF, Fit::Crop);
        assert_eq!(f.dst, HALF);
        // The middle 640x720 of the picture: 8:9 like the tile.
        assert_eq!(f.crop, [320, 320, 0, 0]);
    }

    #[test]
    fn a_tall_picture_in_a_wide_tile_keeps_its_shape() {
        let portrait = Picture {
            width: 720,
            height: 1280,
            par_n: 1,
            par_d: 1,
        };
        let tile = Rect {
            x: 0,
            y: 0,
            w: 1280,
            h: 720,
        };
        let f = fit(portrait, tile, Fit::Letterbox);
        assert_eq!(
            f.dst,
            Rect {
                x: 437,
                y: 0,
                w: 405,
                h: 720
            }
        );
        assert_eq!(fit(portrait, tile, Fit::Crop).crop, [0, 0, 437, 438]);
    }

    /// Anamorphic pixels (PAL DV's 16:15 here) count: a 720x576 picture
    /// is 768 square pixels wide.
    #[test]
    fn the_pixel_shape_counts() {
        let dv = Picture {
            width: 720,
            height: 576,
            par_n: 16,
            par_d: 15,
        };
        let tile = Rect {
            x: 0,
            y: 0,
            w: 768,
            h: 576,
        };
        assert_eq!(fit(dv, tile, Fit::Letterbox).dst, tile);
        assert_eq!(fit(dv, tile, Fit::Crop).crop, [0; 4]);
    }

    #[test]
    fn an_unusable_size_fills_the_tile() {
        let none = Picture {
            width: 0,
            height: 720,
            par_n: 1,
            par_d: 1,
        };
        assert_eq!(
            fit(none, HALF, Fit::Crop),
            Fitted {
                dst: HALF,
                crop: [0; 4]
            }
        );
        assert_eq!(Fit::from_name("crop"), Some(Fit::Crop));
        assert_eq!(Fit::from_name("stretch"), None);
    }

    proptest! {
        /// Letterboxed, the whole picture is inside the tile at its own
        /// shape (to a pixel's rounding); cropped, the tile is full and
        /// what is kept of the picture has the tile's shape.
        #[test]
        fn fitting_keeps_the_shape(
            w in 1i32..5000, h in 1i32..5000, par_n in 1i32..40, par_d in 1i32..40,
            tx in 0i32..2000, ty in 0i32..2000, tw in 1i32..4000, th in 1i32..4000,
        ) {
            let pic = Picture { width: w, height: h, par_n, par_d };
            let tile = Rect { x: tx, y: ty, w: tw, h: th };
            let l = fit(pic, tile, Fit::Letterbox);
            prop_assert!(l.dst.w >= 1 && l.dst.h >= 1);
            prop_assert!(l.dst.x >= tile.x && l.dst.y >= tile.y);
            prop_assert!(l.dst.x + l.dst.w <= tile.x + tile.w && l.dst.y + l.dst.h <= tile.y + tile.h);
            prop_assert!(l.dst.w == tile.w || l.dst.h == tile.h);
            let (pw, ph) = (f64::from(w) * f64::from(par_n), f64::from(h) * f64::from(par_d));
            // Off by at most one pixel on the side that was computed.
            let err = (f64::from(l.dst.w) * ph - f64::from(l.dst.h) * pw).abs();
            prop_assert!(err <= pw.max(ph), "letterbox {:?} for {:?}", l, pic);
            let c = fit(pic, tile, Fit::Crop);
            prop_assert_eq!(c.dst, tile);
            prop_assert!(c.crop.iter().all(|v| *v >= 0));
            let kw = w - c.crop[0] - c.crop[1];
            let kh = h - c.crop[2] - c.crop[3];
            prop_assert!(kw >= 1 && kh >= 1);
            prop_assert!((c.crop[0] - c.crop[1]).abs() <= 1 && (c.crop[2] - c.crop[3]).abs() <= 1);
            let (kpw, kph) = (f64::from(kw) * f64::from(par_n), f64::from(kh) * f64::from(par_d));
            let err = (kpw * f64::from(th) - kph * f64::from(tw)).abs();
            // One picture pixel of rounding, in the tile's units.
            let unit = f64::from(tw.max(th)) * f64::from(par_n.max(par_d));
            prop_assert!(err <= unit, "crop {:?} for {:?} in {:?}", c, pic, tile);
        }

        #[test]
        fn placements_stay_on_screen_and_grid_tiles_never_overlap(
            n in 0usize..20, local in any::<bool>(), w in 64i32..4000, h in 64i32..3000, l in 0usize..4,
        ) {
            let p = place(Layout::ALL[l], &tiles(n, local), w, h);
            for a in &p {
                prop_assert!(a.rect.x >= 0 && a.rect.y >= 0 && a.rect.w > 0 && a.rect.h > 0);
                prop_assert!(a.rect.x + a.rect.w <= w && a.rect.y + a.rect.h <= h);
            }
            if Layout::ALL[l] == Layout::Grid {
                for (i, a) in p.iter().enumerate() {
                    for b in &p[i + 1..] {
                        let overlap = a.rect.x < b.rect.x + b.rect.w && b.rect.x < a.rect.x + a.rect.w
                            && a.rect.y < b.rect.y + b.rect.h && b.rect.y < a.rect.y + a.rect.h;
                        prop_assert!(!overlap, "{:?} overlaps {:?}", a, b);
                    }
                }
                prop_assert_eq!(p.len(), n + usize::from(local));
            }
        }
    }
}

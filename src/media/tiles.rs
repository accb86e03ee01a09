//! The pictures on the room display: which compositor pad and crop each
//! tile has, the size of the pictures that reach it, and putting them
//! where the layout says at their own shape (letterboxed or cut to fit,
//! never stretched). The geometry is [`super::layout`]'s; this applies it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::MediaError;
use super::build::make;
use super::layout::{Fit, Fitted, Layout, Picture, Placement, Tile, fit, place};

pub(super) struct Tiles {
    pub(super) layout: Layout,
    /// How pictures fill tiles of another shape (content: always
    /// letterboxed).
    pub(super) fit: Fit,
    /// The display's size.
    pub(super) width: i32,
    pub(super) height: i32,
    /// Standby: nothing on the display.
    pub(super) blank: bool,
    /// In speaking order; the room's own picture is "self".
    pub(super) entries: Vec<TileEntry>,
    /// The size of the pictures arriving at each crop, by the crop's
    /// (unique) name.
    pub(super) pictures: HashMap<String, Picture>,
    /// Where [`Tiles::apply`] last put each picture, for `/status`.
    pub(super) shown: Arc<Mutex<Vec<ShownTile>>>,
}

/// A picture as the room display shows it: whose, where, and what of it.
/// A room controller reads who is on screen where; a test reads a
/// picture back out of a snapshot of the display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShownTile {
    /// `self` for the room's camera, else the far-end track or source id.
    pub id: String,
    pub content: bool,
    /// Where the picture is drawn on the display (inside its tile).
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    /// The size of the picture that arrives, before any crop; `None`
    /// until its first picture.
    pub picture_width: Option<i32>,
    pub picture_height: Option<i32>,
    /// Pixels of that picture cut off to fill the tile: left, right, top,
    /// bottom.
    pub crop: [i32; 4],
}

/// A picture on the display: its compositor pad, and the `videocrop` in
/// front of it that cuts it to its tile's shape when the fit is crop.
pub(super) struct TileEntry {
    pub(super) tile: Tile,
    pub(super) pad: gst::Pad,
    pub(super) crop: gst::Element,
}

/// Names each tile's crop apart, across calls and sources.
static CROPS: AtomicU64 = AtomicU64::new(0);

/// A `videocrop` with a name of its own.
pub(super) fn new_crop(prefix: &str) -> Result<gst::Element, MediaError> {
    make(
        "videocrop",
        &format!("{prefix}-crop{}", CROPS.fetch_add(1, Ordering::Relaxed)),
    )
}

/// Keeps `tiles` told of the size of the pictures that reach `crop`, and
/// fits them again when it changes (a browser lowers its resolution under
/// load, a camera is swapped).
pub(super) fn watch_picture(tiles: &Arc<Mutex<Tiles>>, crop: &gst::Element) {
    let Some(pad) = crop.static_pad("sink") else {
        return;
    };
    let tiles = Arc::downgrade(tiles);
    let name = crop.name().to_string();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(ev)) = &info.data
            && let gst::EventView::Caps(c) = ev.view()
            && let Some(pic) = picture_of(c.caps())
            && let Some(t) = tiles.upgrade()
            && let Ok(mut t) = t.lock()
            && t.pictures.get(&name) != Some(&pic)
        {
            t.pictures.insert(name.clone(), pic);
            // The crop is set before the caps go on, so the first
            // picture of the new size is already cut to fit.
            t.apply();
        }
        gst::PadProbeReturn::Ok
    });
}

/// A picture's size from its caps.
pub(super) fn picture_of(caps: &gst::CapsRef) -> Option<Picture> {
    let s = caps.structure(0)?;
    let par = s
        .get::<gst::Fraction>("pixel-aspect-ratio")
        .unwrap_or_else(|_| gst::Fraction::new(1, 1));
    Some(Picture {
        width: s.get::<i32>("width").ok()?,
        height: s.get::<i32>("height").ok()?,
        par_n: par.numer(),
        par_d: par.denom(),
    })
}

impl Tiles {
    /// Puts every picture where the layout says, at its own shape: the
    /// compositor pad's rectangle, and the crop in front of it.
    pub(super) fn apply(&self) {
        let placed = if self.blank {
            Vec::new()
        } else {
            self.placements()
        };
        let mut shown = Vec::with_capacity(placed.len());
        for e in &self.entries {
            let Some(p) = placed.iter().find(|p| p.id == e.tile.id) else {
                e.pad.set_property("alpha", 0.0f64);
                continue;
            };
            let how = if e.tile.content {
                Fit::Letterbox
            } else {
                self.fit
            };
            let picture = self.pictures.get(e.crop.name().as_str());
            let f = match picture {
                Some(pic) => fit(*pic, p.rect, how),
                None => Fitted {
                    dst: p.rect,
                    crop: [0; 4],
                },
            };
            shown.push(ShownTile {
                id: e.tile.id.clone(),
                content: e.tile.content,
                x: f.dst.x,
                y: f.dst.y,
                width: f.dst.w,
                height: f.dst.h,
                picture_width: picture.map(|p| p.width),
                picture_height: picture.map(|p| p.height),
                crop: f.crop,
            });
            for (name, v) in ["left", "right", "top", "bottom"].into_iter().zip(f.crop) {
                if e.crop.property::<i32>(name) != v {
                    e.crop.set_property(name, v);
                }
            }
            e.pad.set_property("xpos", f.dst.x);
            e.pad.set_property("ypos", f.dst.y);
            e.pad.set_property("width", f.dst.w);
            e.pad.set_property("height", f.dst.h);
            e.pad.set_property("zorder", p.zorder);
            e.pad.set_property("alpha", 1.0f64);
        }
        if let Ok(mut s) = self.shown.lock() {
            *s = shown;
        }
    }
}

impl Tiles {
    /// Where each shown tile goes, in order.
    pub(super) fn placements(&self) -> Vec<Placement> {
        let tiles: Vec<Tile> = self.entries.iter().map(|e| e.tile.clone()).collect();
        place(self.layout, &tiles, self.width, self.height)
    }
}

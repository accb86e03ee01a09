//! The room's display: its layout, blanking, the tiles on the compositor
//! (added, removed, the speaker's brought forward) and how each picture
//! fits its tile.

use super::*;

impl Room {
    pub fn layout(&self) -> Layout {
        self.tiles.lock().map(|t| t.layout).unwrap_or_default()
    }

    /// Blanks the display (standby) or shows the tiles again.
    pub fn set_blank(&self, blank: bool) {
        if let Ok(mut t) = self.tiles.lock() {
            t.blank = blank;
        }
        self.relayout();
    }

    pub fn set_layout(&self, layout: Layout) {
        if let Ok(mut t) = self.tiles.lock() {
            t.layout = layout;
        }
        self.relayout();
    }

    /// A `videocrop` for a picture on its way to the display: put it
    /// last before the picture's compositor pad, and hand both to
    /// [`Room::add_tile`]. The room follows the size of the pictures
    /// that pass it and cuts them to their tile's shape when the fit is
    /// crop.
    pub fn tile_crop(&self, prefix: &str) -> Result<gst::Element, MediaError> {
        let crop = new_crop(prefix)?;
        watch_picture(&self.tiles, &crop);
        Ok(crop)
    }

    /// Adds a picture to the display (a remote participant, content,
    /// RTSP): its compositor pad and the crop in front of it
    /// ([`Room::tile_crop`]).
    pub fn add_tile(&self, tile: Tile, pad: gst::Pad, crop: gst::Element) {
        if let Ok(mut t) = self.tiles.lock() {
            t.entries.retain(|e| e.tile.id != tile.id);
            // Pictures that passed before the crop was watched.
            if let Some(pic) = crop
                .static_pad("sink")
                .and_then(|p| p.current_caps())
                .and_then(|c| picture_of(&c))
            {
                t.pictures.entry(crop.name().to_string()).or_insert(pic);
            }
            t.entries.push(TileEntry { tile, pad, crop });
        }
        self.relayout();
    }

    pub fn remove_tile(&self, id: &str) -> Option<gst::Pad> {
        let pad = self.tiles.lock().ok().and_then(|mut t| {
            let i = t.entries.iter().position(|e| e.tile.id == id)?;
            let e = t.entries.remove(i);
            t.pictures.remove(e.crop.name().as_str());
            Some(e.pad)
        });
        // Off screen at once: the pad may stay on the compositor.
        if let Some(p) = &pad {
            p.set_property("alpha", 0.0f64);
        }
        self.relayout();
        pad
    }

    /// Whether tile `id` is on the display.
    pub fn has_tile(&self, id: &str) -> bool {
        self.tiles
            .lock()
            .map(|t| t.entries.iter().any(|e| e.tile.id == id))
            .unwrap_or(false)
    }

    /// Moves a tile to the front of the speaking order.
    pub fn speaker(&self, id: &str) {
        if let Ok(mut t) = self.tiles.lock()
            && let Some(i) = t.entries.iter().position(|e| e.tile.id == id)
        {
            let e = t.entries.remove(i);
            t.entries.insert(0, e);
        }
        self.relayout();
    }

    /// Applies the layout to the compositor's pads and the crops.
    pub fn relayout(&self) {
        if let Ok(t) = self.tiles.lock() {
            t.apply();
        }
    }

    /// How pictures fill tiles of another shape.
    pub fn fit(&self) -> Fit {
        self.tiles.lock().map(|t| t.fit).unwrap_or_default()
    }

    pub fn set_fit(&self, fit: Fit) {
        if let Ok(mut t) = self.tiles.lock() {
            t.fit = fit;
        }
        self.relayout();
    }

    /// The tiles on the display, in order, with where they are.
    pub fn placements(&self) -> Vec<crate::media::layout::Placement> {
        self.tiles
            .lock()
            .map(|t| t.placements())
            .unwrap_or_default()
    }
}

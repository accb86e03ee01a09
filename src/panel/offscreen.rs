//! The panel rendered off-screen on the calling thread, on demand: for the
//! screenshot tests and the frame-time benchmark. The software renderer is
//! the appliance's own, so the pixels are the ones a screen would show.

use std::rc::Rc;
use std::time::Duration;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, PlatformError, Rgb8Pixel};

use super::{AppWindow, PanelError, Snapshot};

struct Offscreen {
    window: Rc<MinimalSoftwareWindow>,
    start: std::time::Instant,
}

impl Platform for Offscreen {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The panel's window, drawn when asked.
pub struct OffscreenPanel {
    pub ui: AppWindow,
    window: Rc<MinimalSoftwareWindow>,
    buffer: Vec<Rgb8Pixel>,
}

impl OffscreenPanel {
    /// Sets this thread's Slint platform (once per thread) and creates the
    /// panel at `width`×`height`.
    pub fn new(width: u32, height: u32) -> Result<Self, PanelError> {
        // Every frame is drawn whole, as a first frame on a screen would be.
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        slint::platform::set_platform(Box::new(Offscreen {
            window: window.clone(),
            start: std::time::Instant::now(),
        }))
        .map_err(|e| PanelError::Backend {
            backend: "offscreen",
            reason: e.to_string(),
        })?;
        let ui = AppWindow::new().map_err(|e| PanelError::Backend {
            backend: "offscreen",
            reason: e.to_string(),
        })?;
        ui.show().map_err(|e| PanelError::Backend {
            backend: "offscreen",
            reason: e.to_string(),
        })?;
        let mut p = OffscreenPanel {
            ui,
            window,
            buffer: Vec::new(),
        };
        p.resize(width, height);
        Ok(p)
    }

    pub fn resize(&mut self, width: u32, height: u32) {
        self.window.set_size(PhysicalSize::new(width, height));
        self.buffer = vec![Rgb8Pixel::new(0, 0, 0); (width * height) as usize];
    }

    /// Draws the current state and returns the frame.
    pub fn render(&mut self) -> Snapshot {
        slint::platform::update_timers_and_animations();
        let size = self.window.size();
        let (w, h) = (size.width as usize, size.height as usize);
        self.window.request_redraw();
        let buffer = &mut self.buffer;
        self.window.draw_if_needed(|renderer| {
            renderer.render(buffer, w);
        });
        Snapshot {
            width: w as u32,
            height: h as u32,
            rgb: self.buffer.iter().flat_map(|p| [p.r, p.g, p.b]).collect(),
        }
    }
}

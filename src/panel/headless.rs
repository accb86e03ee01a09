//! A Slint platform that renders with the software renderer into memory.
//!
//! Used when the room has no screen for the panel (`make run` without a
//! display, servers, tests): the UI runs exactly as it would on a screen,
//! timers and animations included, and the last frame is kept for
//! screenshots.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{EventLoopProxy, Platform, WindowAdapter};
use slint::{PhysicalSize, PlatformError, Rgb8Pixel};

use super::PanelStats;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    quit: bool,
}

/// Wakes the headless loop from other threads.
#[derive(Clone, Default)]
struct Waker(Arc<(Mutex<Queue>, Condvar)>);

impl EventLoopProxy for Waker {
    fn quit_event_loop(&self) -> Result<(), slint::EventLoopError> {
        let (lock, cv) = &*self.0;
        lock.lock()
            .map_err(|_| slint::EventLoopError::EventLoopTerminated)?
            .quit = true;
        cv.notify_one();
        Ok(())
    }

    fn invoke_from_event_loop(&self, event: Job) -> Result<(), slint::EventLoopError> {
        let (lock, cv) = &*self.0;
        lock.lock()
            .map_err(|_| slint::EventLoopError::EventLoopTerminated)?
            .jobs
            .push_back(event);
        cv.notify_one();
        Ok(())
    }
}

pub struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
    size: PhysicalSize,
    start: Instant,
    waker: Waker,
    stats: Arc<PanelStats>,
}

impl HeadlessPlatform {
    pub fn new(width: u32, height: u32, stats: Arc<PanelStats>) -> Self {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::ReusedBuffer);
        let size = PhysicalSize::new(width, height);
        window.set_size(size);
        Self {
            window,
            size,
            start: Instant::now(),
            waker: Waker::default(),
            stats,
        }
    }
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }

    fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
        Some(Box::new(self.waker.clone()))
    }

    fn run_event_loop(&self) -> Result<(), PlatformError> {
        let (w, h) = (self.size.width as usize, self.size.height as usize);
        let mut buffer = vec![Rgb8Pixel::new(0, 0, 0); w * h];
        let (lock, cv) = &*self.waker.0;
        loop {
            slint::platform::update_timers_and_animations();
            let jobs: Vec<Job> = {
                let mut q = lock
                    .lock()
                    .map_err(|_| PlatformError::Other("panel queue poisoned".into()))?;
                if q.quit {
                    q.quit = false;
                    return Ok(());
                }
                q.jobs.drain(..).collect()
            };
            for job in jobs {
                job();
            }
            let drew = self.window.draw_if_needed(|renderer| {
                renderer.render(&mut buffer, w);
            });
            if drew {
                self.stats.frames_rendered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.stats.last_frame.lock() {
                    *last = Some(super::Snapshot {
                        width: w as u32,
                        height: h as u32,
                        rgb: buffer.iter().flat_map(|p| [p.r, p.g, p.b]).collect(),
                    });
                }
            }
            if self.window.has_active_animations() {
                // Animations want frames; ~60 Hz is what a screen would give.
                std::thread::sleep(Duration::from_millis(16));
                continue;
            }
            let wait = slint::platform::duration_until_next_timer_update()
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            let q = lock
                .lock()
                .map_err(|_| PlatformError::Other("panel queue poisoned".into()))?;
            if q.jobs.is_empty() && !q.quit {
                let _ = cv.wait_timeout(q, wait);
            }
        }
    }
}

//! Sound before pictures when the CPU is short.
//!
//! On a machine that cannot do everything in real time (a starved room
//! box, an emulated guest) every GStreamer thread got an equal share, and
//! the far end's sound came seconds late for the speaker mix while a video
//! decoder or encoder took the CPU it needed. A late picture is a picture
//! shown late; late sound is silence. So the threads that only move
//! pictures run at a lower priority than everything else: the microphone,
//! the network, the jitter buffers, the speaker mix and the sound card
//! keep their full share. Among pictures, what the far ends see of the
//! room (the camera and the encoders, [`SENDING_NICE`]) comes before what
//! the room shows itself (the decoders, the compositor, the display, the
//! panel, [`PICTURE_NICE`]): measured on the emulated room with its host
//! busy, at an equal priority the encoder got almost nothing and the far
//! end saw the room's picture move once in 10 s or not at all; one step
//! higher, it sent a moving picture and the sound still played.
//!
//! An element that starts picture threads is marked with
//! [`ThreadRoles::picture`] or [`ThreadRoles::sending`] where it is built (a bin marks every thread
//! inside it). The room's bus sync handler hands each stream-status
//! `Enter` message to [`ThreadRoles::on_message`], which runs in the new
//! thread itself, before it does any work. Threads that libvpx or x264
//! start from a picture thread inherit its priority.

use gst::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The nice value of a thread that only moves pictures: at 10 the kernel
/// gives a normal thread about nine times its share when both want a core.
pub const PICTURE_NICE: i32 = 10;
/// The nice value of the camera's and the encoders' threads: what the far
/// ends see of the room comes after sound and before the room's own display.
pub const SENDING_NICE: i32 = 5;

/// Elements whose threads move pictures only.
#[derive(Debug)]
pub struct ThreadRoles {
    picture: Mutex<Vec<gst::glib::WeakRef<gst::Element>>>,
    sending: Mutex<Vec<gst::glib::WeakRef<gst::Element>>>,
    /// The process's nice value: every other thread runs at it.
    base: i32,
    /// A thread could not be given back its priority (reported once).
    cannot_restore: AtomicBool,
}

impl Default for ThreadRoles {
    fn default() -> Self {
        Self {
            picture: Mutex::new(vec![]),
            sending: Mutex::new(vec![]),
            base: process_nice(),
            cannot_restore: AtomicBool::new(false),
        }
    }
}

impl ThreadRoles {
    /// Marks `element` (and, for a bin, everything inside it) as moving
    /// pictures only.
    pub fn picture(&self, element: &impl IsA<gst::Element>) {
        if let Ok(mut v) = self.picture.lock() {
            v.retain(|w| w.upgrade().is_some());
            v.push(element.upcast_ref::<gst::Element>().downgrade());
        }
    }

    /// Marks `element` as moving the pictures the room sends.
    pub fn sending(&self, element: &impl IsA<gst::Element>) {
        if let Ok(mut v) = self.sending.lock() {
            v.retain(|w| w.upgrade().is_some());
            v.push(element.upcast_ref::<gst::Element>().downgrade());
        }
    }

    /// Whether the thread `owner` starts moves pictures only: `owner` or
    /// one of the bins around it is marked.
    pub fn is_picture(&self, owner: &gst::Element) -> bool {
        Self::marked(&self.picture, owner)
    }

    fn marked(list: &Mutex<Vec<gst::glib::WeakRef<gst::Element>>>, owner: &gst::Element) -> bool {
        let Ok(marked) = list.lock() else {
            return false;
        };
        let mut at: Option<gst::Object> = Some(owner.clone().upcast());
        while let Some(o) = at {
            if marked.iter().any(|w| {
                w.upgrade()
                    .is_some_and(|e| e.upcast_ref::<gst::Object>() == &o)
            }) {
                return true;
            }
            at = o.parent();
        }
        false
    }

    /// Called from the bus's sync handler, in the thread that posted
    /// `msg`: a thread that has just started its task takes the priority
    /// of what it moves. Returns the thread's nice value when it changed.
    pub fn on_message(&self, msg: &gst::Message) -> Option<i32> {
        let gst::MessageView::StreamStatus(s) = msg.view() else {
            return None;
        };
        let (kind, owner) = s.get();
        if kind != gst::StreamStatusType::Enter {
            return None;
        }
        let picture = self.is_picture(&owner);
        let want = if Self::marked(&self.sending, &owner) {
            self.base.max(SENDING_NICE)
        } else if picture {
            self.base.max(PICTURE_NICE)
        } else {
            self.base
        };
        match self.enter_at(want) {
            Ok(Some(nice)) => {
                tracing::debug!(owner = %owner.name(), nice, "media: thread priority set");
                Some(nice)
            }
            Ok(None) => None,
            Err(e) => {
                if !self.cannot_restore.swap(true, Ordering::Relaxed) {
                    tracing::warn!(owner = %owner.name(), picture, error = %e,
                        "media: cannot set a streaming thread's priority (LimitNICE in the service lets dais give a pooled thread its priority back)");
                }
                None
            }
        }
    }

    /// Gives the calling thread the priority of a picture thread or of
    /// any other. GStreamer's threads come from a pool, so a thread that
    /// moved pictures before may now start a sound task: it gets the
    /// process's priority back.
    #[cfg(test)]
    fn enter(&self, picture: bool) -> std::io::Result<Option<i32>> {
        self.enter_at(if picture {
            self.base.max(PICTURE_NICE)
        } else {
            self.base
        })
    }

    fn enter_at(&self, want: i32) -> std::io::Result<Option<i32>> {
        if this_thread_nice() == want {
            return Ok(None);
        }
        set_this_thread(want)?;
        Ok(Some(want))
    }
}

/// Sets the calling thread's nice value (on Linux a thread's own; raising
/// it needs no privilege, lowering it again needs RLIMIT_NICE).
fn set_this_thread(nice: i32) -> std::io::Result<()> {
    // SAFETY: gettid has no preconditions; setpriority only reads its
    // integer arguments.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The process's nice value (its main thread's).
fn process_nice() -> i32 {
    // SAFETY: getpid has no preconditions; getpriority reads its integer
    // arguments and returns the value (-1 is also a valid value, and an
    // error cannot happen for our own pid).
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t) }
}

/// This thread's nice value.
fn this_thread_nice() -> i32 {
    // SAFETY: as above; getpriority returns the value (for our own thread
    // it cannot fail).
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_inside_a_marked_bin_is_a_picture_thread_and_one_outside_is_not() {
        gst::init().unwrap();
        let roles = ThreadRoles::default();
        let bin = gst::Bin::with_name("camera");
        let inside = gst::ElementFactory::make("queue").build().unwrap();
        bin.add(&inside).unwrap();
        let outside = gst::ElementFactory::make("queue").build().unwrap();
        roles.picture(&bin);
        assert!(roles.is_picture(&inside));
        assert!(roles.is_picture(bin.upcast_ref()));
        assert!(!roles.is_picture(&outside));
        roles.picture(&outside);
        assert!(roles.is_picture(&outside));
        drop(bin);
        // A dropped element's mark goes with it.
        roles.picture(&outside);
        assert_eq!(roles.picture.lock().unwrap().len(), 2);
    }

    /// A real pipeline: the queue marked as a picture thread runs at
    /// [`PICTURE_NICE`], the one marked as sending at [`SENDING_NICE`],
    /// the other queue's thread keeps the process's.
    #[test]
    fn a_marked_queue_streams_at_the_lower_priority_and_the_other_does_not() {
        gst::init().unwrap();
        let roles = std::sync::Arc::new(ThreadRoles::default());
        let pipeline = gst::Pipeline::new();
        let mut seen: Vec<std::sync::mpsc::Receiver<i32>> = vec![];
        for (name, role) in [("pictures", 2), ("sound", 0), ("sending", 1)] {
            let src = gst::ElementFactory::make("fakesrc")
                .property("num-buffers", 50i32)
                .build()
                .unwrap();
            let q = gst::ElementFactory::make("queue")
                .name(name)
                .build()
                .unwrap();
            let sink = gst::ElementFactory::make("fakesink")
                .property("signal-handoffs", true)
                .build()
                .unwrap();
            let (tx, rx) = std::sync::mpsc::sync_channel(64);
            sink.connect("handoff", false, move |_| {
                let _ = tx.try_send(this_thread_nice());
                None
            });
            pipeline.add_many([&src, &q, &sink]).unwrap();
            gst::Element::link_many([&src, &q, &sink]).unwrap();
            match role {
                2 => roles.picture(&q),
                1 => roles.sending(&q),
                _ => {}
            }
            seen.push(rx);
        }
        let bus = pipeline.bus().unwrap();
        let r = roles.clone();
        bus.set_sync_handler(move |_, msg| {
            r.on_message(msg);
            gst::BusSyncReply::Pass
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let base = this_thread_nice();
        let deadline = std::time::Duration::from_secs(30);
        let pictures = seen[0]
            .recv_timeout(deadline)
            .expect("the picture queue streams");
        let sound = seen[1]
            .recv_timeout(deadline)
            .expect("the sound queue streams");
        let sending = seen[2]
            .recv_timeout(deadline)
            .expect("the sending queue streams");
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(pictures, base.max(PICTURE_NICE));
        assert_eq!(sound, base);
        assert_eq!(sending, base.max(SENDING_NICE));
    }

    /// A pooled thread that moved pictures and now starts a sound task
    /// gets the process's priority back.
    #[test]
    fn a_pooled_picture_thread_that_starts_a_sound_task_gets_its_priority_back() {
        let roles = ThreadRoles::default();
        let base = roles.base;
        let (nice_as_picture, nice_as_sound) = std::thread::spawn(move || {
            roles.enter(true).unwrap();
            let p = this_thread_nice();
            roles.enter(false).unwrap();
            (p, this_thread_nice())
        })
        .join()
        .unwrap();
        assert_eq!(nice_as_picture, base.max(PICTURE_NICE));
        assert_eq!(nice_as_sound, base);
    }
}

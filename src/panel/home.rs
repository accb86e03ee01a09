//! The Home screen's controller: room name, clock, status, camera preview,
//! and how to reach the room.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use slint::{ComponentHandle, Model, ModelRc, SharedPixelBuffer, VecModel};

use super::{AppWindow, Endpoint, PanelStats, RoomApi};
use crate::app::{Activity, App, AppState};
use crate::command::{Command, Source};
use crate::media::{PreviewState, RgbFrame};

/// Lives as long as the UI; dropping it stops the clock and the state feed.
pub struct Home {
    _clock: slint::Timer,
    feed: tokio::task::JoinHandle<()>,
}

impl Drop for Home {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

impl Home {
    pub fn attach(ui: &AppWindow, app: App, rt: tokio::runtime::Handle) -> Self {
        let api = ui.global::<RoomApi>();

        let dispatch = |command: Command| {
            let app = app.clone();
            let rt = rt.clone();
            move || {
                let app = app.clone();
                let command = command.clone();
                rt.spawn(async move {
                    if let Err(e) = app.dispatch(command, Source::Panel).await {
                        tracing::warn!(error = %e, "panel command refused");
                    }
                });
            }
        };
        api.on_standby(dispatch(Command::Standby));
        api.on_wake(dispatch(Command::Wake));

        let clock = slint::Timer::default();
        let weak = ui.as_weak();
        let tick = move || {
            if let Some(ui) = weak.upgrade() {
                let (time, date) = clock_text();
                let api = ui.global::<RoomApi>();
                api.set_clock(time.into());
                api.set_date(date.into());
            }
        };
        tick();
        clock.start(
            slint::TimerMode::Repeated,
            std::time::Duration::from_secs(1),
            tick,
        );

        show_state(&api, &app.state());
        let mut rx = app.watch();
        let weak = ui.as_weak();
        let feed = rt.spawn(async move {
            while rx.changed().await.is_ok() {
                let st = rx.borrow_and_update().clone();
                let ok = weak.upgrade_in_event_loop(move |ui| {
                    show_state(&ui.global::<RoomApi>(), &st);
                });
                if ok.is_err() {
                    break;
                }
            }
        });
        Self {
            _clock: clock,
            feed,
        }
    }
}

fn clock_text() -> (String, String) {
    let now = jiff::Zoned::now();
    (
        now.strftime("%H:%M").to_string(),
        now.strftime("%A, %-d %B").to_string(),
    )
}

fn show_state(api: &RoomApi<'_>, st: &AppState) {
    api.set_room_name(st.room_name.as_str().into());
    api.set_profile(st.profile.as_str().into());
    let activity = match st.activity {
        Activity::Starting => "starting",
        Activity::Idle => "idle",
        Activity::Standby => "standby",
        Activity::Conference => "conference",
        Activity::Waiting => "waiting",
        Activity::Stopping => "stopping",
    };
    api.set_activity(activity.into());
    let status = match (&st.activity, &st.preview) {
        (Activity::Stopping, _) => "Shutting down".to_string(),
        (Activity::Standby, _) => "Standby: camera and display off".to_string(),
        (Activity::Conference, _) => match &st.conference {
            Some(c) => format!("In conference {} ({})", c.topic, c.cid),
            None => "In a conference".to_string(),
        },
        (Activity::Waiting, _) => match &st.conference {
            Some(c) => format!(
                "Waiting to join {}: {}",
                c.cid,
                c.reason.as_deref().unwrap_or("waiting").replace('_', " ")
            ),
            None => "Waiting to join".to_string(),
        },
        (_, PreviewState::Failed { error, .. }) => format!("Camera problem: {error}"),
        (Activity::Starting, _) => format!("Starting: waiting for {}", st.pending().join(", ")),
        (Activity::Idle, _) => "Ready".to_string(),
    };
    api.set_status_text(status.into());
    let (live, note) = match &st.preview {
        PreviewState::Playing => (true, ""),
        PreviewState::Starting => (false, "Camera starting"),
        PreviewState::Standby if st.camera.muted => (false, "Camera off (privacy)"),
        PreviewState::Standby => (false, "Camera off (standby)"),
        PreviewState::Failed { .. } => (false, "Camera unavailable, retrying"),
        PreviewState::Stopped => (false, "Camera stopped"),
    };
    api.set_preview_live(live);
    api.set_preview_note(note.into());

    let mut eps = Vec::new();
    if let Some(http) = &st.endpoints.http {
        eps.push(Endpoint {
            label: "REST API".into(),
            address: format!("{http}/api/v3.11/").into(),
        });
        eps.push(Endpoint {
            label: "Web client".into(),
            address: format!("{http}/webrtc/").into(),
        });
    }
    if let Some(control) = &st.endpoints.control {
        eps.push(Endpoint {
            label: "Room control".into(),
            address: control.as_str().into(),
        });
    }
    let current = api.get_endpoints();
    let same =
        current.row_count() == eps.len() && current.iter().zip(eps.iter()).all(|(a, b)| a == *b);
    if !same {
        api.set_endpoints(ModelRc::new(VecModel::from(eps)));
    }
}

/// Hands camera frames to the preview tile. Runs on a GStreamer thread: the
/// pixel copy happens there, only the swap happens on the UI thread.
pub fn preview_sink(
    weak: slint::Weak<AppWindow>,
    stats: Arc<PanelStats>,
) -> Arc<dyn Fn(RgbFrame) + Send + Sync> {
    Arc::new(move |frame: RgbFrame| {
        let buf = SharedPixelBuffer::<slint::Rgb8Pixel>::clone_from_slice(
            &frame.data,
            frame.width,
            frame.height,
        );
        let stats = stats.clone();
        let _ = weak.upgrade_in_event_loop(move |ui| {
            ui.global::<RoomApi>()
                .set_preview(slint::Image::from_rgb8(buf));
            stats.preview_frames.fetch_add(1, Ordering::Relaxed);
        });
    })
}

//! The Home and in-conference screens' controller: room name, clock,
//! status, camera preview, how to reach the room, joining by conference ID,
//! and the conference the room is in (people, waiting room, podium, the
//! room's own microphone and camera).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use slint::{ComponentHandle, Model, ModelRc, SharedPixelBuffer, VecModel};

use super::templates::{self, TemplatesView};
use super::{
    AppWindow, ChatLine, Dispatch, Endpoint, MeetApi, PanelStats, Person, RoomApi, TodayItem,
};
use crate::app::{Activity, App, AppState};
use crate::command::{Command, Meeting, Source};
use crate::conference::Standing;
use crate::media::{PreviewState, RgbFrame};

/// Lives as long as the UI; dropping it stops the clock and the state feed.
pub struct Home {
    _clock: slint::Timer,
    _meter: std::rc::Rc<slint::Timer>,
    feed: tokio::task::JoinHandle<()>,
    dispatch: Dispatch,
}

impl Drop for Home {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

impl Home {
    pub fn attach(
        ui: &AppWindow,
        app: App,
        rt: tokio::runtime::Handle,
        panel_stats: Arc<super::PanelStats>,
    ) -> Self {
        let weak = ui.as_weak();
        let dispatcher = app.clone();
        let handle = rt.clone();
        let dispatch: Dispatch = Arc::new(move |command: Command| {
            let app = dispatcher.clone();
            let weak = weak.clone();
            handle.spawn(async move {
                let joining = matches!(command, Command::JoinConference { .. });
                let saved = match &command {
                    Command::SaveTemplate { name, .. } => Some(name.clone()),
                    _ => None,
                };
                let notice = match app.dispatch(command, Source::Panel).await {
                    Ok(_) => saved
                        .map(|n| format!("Saved template “{n}”."))
                        .unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(error = %e, "panel command refused");
                        e.message
                    }
                };
                let _ = weak.upgrade_in_event_loop(move |ui| {
                    let api = ui.global::<RoomApi>();
                    if joining && notice.is_empty() {
                        api.set_cid_entry("".into());
                    }
                    api.set_notice(notice.into());
                });
            });
        });
        let templates = wire(ui, dispatch.clone());
        super::settings::wire(ui, app.shared.settings.panel.admin_pin.expose());
        let s = &app.shared.settings;
        super::contacts::wire(ui, &s.contacts());

        // The microphone meter moves ten times a second while Settings are
        // on screen; the clock's tick starts and stops it.
        let meter = std::rc::Rc::new(slint::Timer::default());
        let meter_on = {
            let weak = ui.as_weak();
            let stats = app.shared.clone();
            let meter = std::rc::Rc::downgrade(&meter);
            move |on: bool| {
                let Some(meter) = meter.upgrade() else { return };
                if !on {
                    meter.stop();
                    return;
                }
                if meter.running() {
                    return;
                }
                let (weak, stats) = (weak.clone(), stats.clone());
                meter.start(
                    slint::TimerMode::Repeated,
                    std::time::Duration::from_millis(100),
                    move || {
                        let Some(ui) = weak.upgrade() else { return };
                        let db = stats
                            .media_stats
                            .get()
                            .and_then(|s| s.mic_level_db.lock().ok().and_then(|l| *l));
                        super::settings::show_meter(&ui, db);
                    },
                );
            }
        };

        let clock = slint::Timer::default();
        let weak = ui.as_weak();
        let server = app.shared.server.clone();
        let shared = app.shared.clone();
        let state = app.watch();
        let mut network = super::settings::NetworkInfo::default();
        let mut seconds = 0u32;
        let mut tick = move || {
            if let Some(ui) = weak.upgrade() {
                let (time, date) = clock_text();
                let api = ui.global::<RoomApi>();
                api.set_clock(time.into());
                api.set_date(date.into());
                // Today's conferences, every 15 s (and at once).
                if seconds.is_multiple_of(15) {
                    show_today(&ui, &todays_conferences(&server));
                }
                // Templates change from REST too: each second, cheaply.
                templates.show(&ui, templates::from_server(&server));
                // Settings, while they are on screen: uptime, meter, network.
                let on_settings = ui.global::<RoomApi>().get_screen() == "settings";
                meter_on(on_settings);
                if on_settings {
                    if seconds.is_multiple_of(5) || network.interfaces.is_empty() {
                        network = super::settings::NetworkInfo::read();
                    }
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let pages =
                        super::settings::pages(&state.borrow(), &shared.settings, &network, now);
                    super::settings::show(&ui, &pages);
                }
                seconds = seconds.wrapping_add(1);
            }
        };
        tick();
        clock.start(
            slint::TimerMode::Repeated,
            std::time::Duration::from_secs(1),
            tick,
        );

        show(ui, &app.state());
        let mut rx = app.watch();
        let weak = ui.as_weak();
        let feed = rt.spawn(async move {
            while rx.changed().await.is_ok() {
                let st = rx.borrow_and_update().clone();
                panel_stats.in_conference.store(
                    matches!(st.activity, Activity::Conference | Activity::Waiting),
                    Ordering::Relaxed,
                );
                let ok = weak.upgrade_in_event_loop(move |ui| show(&ui, &st));
                if ok.is_err() {
                    break;
                }
            }
        });
        Self {
            _clock: clock,
            _meter: meter,
            feed,
            dispatch,
        }
    }

    /// Where this panel's commands go (the remote's keys use it too).
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }
}

/// Turns the UI's callbacks into commands for `dispatch`. The UI keeps no
/// room state of its own: toggles read what the app last published. The
/// returned view shows the room's templates.
pub fn wire(ui: &AppWindow, dispatch: Dispatch) -> TemplatesView {
    let view = templates::wire(ui, dispatch.clone());
    let api = ui.global::<RoomApi>();
    let send = |c: Command| {
        let d = dispatch.clone();
        move || d(c.clone())
    };
    api.on_standby(send(Command::Standby));
    api.on_wake(send(Command::Wake));
    api.on_leave(send(Command::HangUp));
    api.on_accept(send(Command::Accept));
    api.on_decline(send(Command::Reject));
    api.on_admit_all(send(Command::AdmitAll));
    let d = dispatch.clone();
    api.on_join_cid(move |cid| {
        let cid = cid.trim().to_string();
        if !cid.is_empty() {
            d(Command::JoinConference {
                cid,
                server: None,
                pin: None,
                guest: None,
            });
        }
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_call(move |text| match call_string(&text) {
        Ok(Some(c)) => d(c),
        Ok(None) => {}
        Err(e) => {
            if let Some(ui) = weak.upgrade() {
                ui.global::<RoomApi>().set_notice(e.into());
            }
        }
    });
    let d = dispatch.clone();
    api.on_send_chat(move |text| {
        let text = text.trim().to_string();
        if !text.is_empty() {
            d(Command::SendChat { text });
        }
    });
    let d = dispatch.clone();
    api.on_to_waiting_room(move |id| {
        d(Command::ToWaitingRoom {
            participant_id: id.to_string(),
        })
    });
    api.on_mask(|s| "●".repeat(s.chars().count()).into());
    api.on_trim_last(|s| {
        let mut s = s.to_string();
        s.pop();
        s.into()
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_toggle_mic(move || {
        let Some(ui) = weak.upgrade() else { return };
        d(if ui.global::<RoomApi>().get_mic_muted() {
            Command::UnmuteMicrophone
        } else {
            Command::MuteMicrophone
        });
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_toggle_camera(move || {
        let Some(ui) = weak.upgrade() else { return };
        d(if ui.global::<RoomApi>().get_camera_off() {
            Command::UnmuteCamera
        } else {
            Command::MuteCamera
        });
    });
    let d = dispatch.clone();
    api.on_admit(move |id| {
        d(Command::Admit {
            participant_id: id.to_string(),
        })
    });
    let d = dispatch.clone();
    api.on_reject(move |id| {
        d(Command::RejectJoinRequest {
            participant_id: id.to_string(),
        })
    });
    let d = dispatch.clone();
    api.on_podium(move |id, on| {
        d(Command::Podium {
            participant_id: id.to_string(),
            on,
        })
    });

    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_volume_step(move |step| {
        let Some(ui) = weak.upgrade() else { return };
        let api = ui.global::<RoomApi>();
        let volume = (api.get_volume() + step).clamp(0, 100);
        api.set_volume(volume);
        d(Command::SetVolume {
            volume: volume as u8,
        });
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_next_layout(move || {
        let Some(ui) = weak.upgrade() else { return };
        let now = ui.global::<RoomApi>().get_layout();
        let i = LAYOUTS.iter().position(|l| *l == now.as_str()).unwrap_or(0);
        d(Command::SetLayout {
            layout: LAYOUTS[(i + 1) % LAYOUTS.len()].to_string(),
        });
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    api.on_toggle_share(move || {
        let Some(ui) = weak.upgrade() else { return };
        d(Command::ShareContent {
            on: !ui.global::<RoomApi>().get_sharing(),
        });
    });
    api.on_end_for_all(send(Command::EndConference));

    let meet = ui.global::<MeetApi>();
    let weak = ui.as_weak();
    meet.on_clear_all(move || {
        if let Some(ui) = weak.upgrade() {
            clear_meet(&ui.global::<MeetApi>());
            super::contacts::clear(&ui);
        }
    });
    let d = dispatch.clone();
    let weak = ui.as_weak();
    meet.on_start(move || {
        let Some(ui) = weak.upgrade() else { return };
        d(Command::MeetNow(meeting_form(&ui)));
        // The conference screen follows when the room is in.
        ui.global::<RoomApi>().set_screen("home".into());
    });
    let d = dispatch;
    let weak = ui.as_weak();
    meet.on_save_as_template(move |name| {
        let Some(ui) = weak.upgrade() else { return };
        let name = name.trim().to_string();
        if name.is_empty() {
            return;
        }
        d(Command::SaveTemplate {
            id: None,
            name,
            settings: meeting_form(&ui),
        });
    });
    view
}

/// The Meet now form as a meeting to start or keep.
fn meeting_form(ui: &AppWindow) -> Meeting {
    let m = ui.global::<MeetApi>();
    let mode = templates::mode_of(m.get_mode());
    let participants = m.get_max_participants().clamp(2, 1000);
    let topic = m.get_topic().trim().to_string();
    let pin = m.get_pin().to_string();
    Meeting {
        topic: (!topic.is_empty()).then_some(topic),
        mode,
        max_participants: Some(participants as u32),
        max_podiums: templates::podiums_selectable(mode)
            .then(|| m.get_max_podiums().clamp(1, participants) as u32),
        waiting_room: Some(m.get_waiting_room()),
        auto_approve: Some(m.get_auto_approve()),
        mute_on_entry: Some(m.get_mute_on_entry()),
        pin: (!pin.is_empty()).then_some(pin),
        invite: super::contacts::invited(ui),
    }
}

/// The display layouts, in the order the Layout button steps through.
const LAYOUTS: [&str; 4] = ["grid", "speaker", "speaker-strip", "pip"];

/// The Meet now form's defaults (what "Clear all" restores).
fn clear_meet(m: &MeetApi<'_>) {
    m.set_topic("".into());
    m.set_pin("".into());
    m.set_mode(0);
    m.set_max_participants(25);
    m.set_max_podiums(4);
    m.set_waiting_room(false);
    m.set_auto_approve(true);
    m.set_mute_on_entry(true);
}

/// Shows `st` on every screen.
pub fn show(ui: &AppWindow, st: &AppState) {
    let api = ui.global::<RoomApi>();
    show_state(&api, st);
    show_conference(&api, st);
}

fn show_conference(api: &RoomApi<'_>, st: &AppState) {
    api.set_mic_muted(st.audio.mic_muted);
    api.set_volume(st.audio.volume as i32);
    api.set_layout(st.layout.as_str().into());
    api.set_sharing(st.sharing);
    api.set_camera_off(st.camera.muted);
    let Some(c) = &st.conference else {
        if let Some(to) = &st.connecting {
            api.set_conference_topic("Connecting…".into());
            api.set_conference_cid(to.as_str().into());
        }
        // The next conference starts without the last one's picture.
        api.set_display_live(false);
        if api.get_participants().row_count() > 0 {
            api.set_participants(ModelRc::new(VecModel::from(Vec::<Person>::new())));
        }
        api.set_waiting_count(0);
        return;
    };
    api.set_conference_topic(c.topic.as_str().into());
    api.set_conference_cid(c.cid.as_str().into());
    api.set_conference_mode(c.mode.as_str().into());
    api.set_manages(matches!(
        c.role.as_str(),
        "owner" | "moderator" | "operator"
    ));
    api.set_can_end(c.server.is_none() && matches!(c.role.as_str(), "owner" | "moderator"));
    let chat: Vec<ChatLine> = c
        .chat
        .iter()
        .rev()
        .take(20)
        .rev()
        .map(|m| ChatLine {
            from: m.display_name.as_str().into(),
            text: m.text.as_str().into(),
        })
        .collect();
    let current = api.get_chat();
    if current.row_count() != chat.len() || current.iter().zip(chat.iter()).any(|(a, b)| a != *b) {
        api.set_chat(ModelRc::new(VecModel::from(chat)));
    }
    // Waiting people first (they need a decision), then the room, then
    // everyone else in roster order.
    let mut people: Vec<Person> = c
        .participants
        .iter()
        .map(|p| Person {
            id: p.id.as_str().into(),
            name: p.display_name.as_str().into(),
            role: p.role.as_str().into(),
            waiting: p.state == Standing::Waiting,
            asking: p.state == Standing::Waiting
                && p.reason.as_deref() == Some("awaiting_approval"),
            podium: p.podium,
            muted: p.mic_muted,
            me: p.id == c.participant_id,
        })
        .collect();
    people.sort_by_key(|p| (!p.waiting, !p.me));
    api.set_waiting_count(people.iter().filter(|p| p.waiting).count() as i32);
    let current = api.get_participants();
    let same = current.row_count() == people.len()
        && current.iter().zip(people.iter()).all(|(a, b)| a == *b);
    if !same {
        api.set_participants(ModelRc::new(VecModel::from(people)));
    }
}

/// What the Call field's text asks for: a user (`ann`), a user of another
/// server (`ann@dais.example`), a conference (`\\c\\CID@server`) or a whole
/// `trueconf:` link. `None` for blank text; the parser's error (with the
/// position) for text that is none of these.
pub fn call_string(text: &str) -> Result<Option<Command>, String> {
    use crate::control::uri::{self, Target};
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let lower = text.to_ascii_lowercase();
    if ["trueconf:", "visicall:", "intent:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        return Ok(Some(Command::OpenLink {
            link: text.to_string(),
        }));
    }
    let parsed = uri::parse(&format!("trueconf:{text}")).map_err(|e| {
        format!(
            "Cannot call \"{text}\": at character {}: expected {}",
            char_at(text, e.offset.saturating_sub(9)),
            e.expected
        )
    })?;
    Ok(match parsed.link.target {
        Some(Target::Call { peer, server }) => Some(Command::Call { peer, server }),
        Some(Target::Conference { cid, server, .. }) => Some(Command::JoinConference {
            cid,
            server,
            pin: None,
            guest: None,
        }),
        _ => Some(Command::OpenLink {
            link: format!("trueconf:{text}"),
        }),
    })
}

/// The 1-based character at byte `offset` of `text` (an offset inside a
/// character counts as that character).
fn char_at(text: &str, offset: usize) -> usize {
    if offset >= text.len() {
        return text.chars().count() + 1;
    }
    text.char_indices()
        .take_while(|(i, _)| *i <= offset)
        .count()
        .max(1)
}

/// The conferences on this dais running now or starting today (local time).
fn todays_conferences(server: &crate::server::Server) -> Vec<super::today::Item> {
    let (confs, _) = server.list(
        &crate::server::auth::Principal::appliance(),
        &Default::default(),
    );
    let now = jiff::Zoned::now();
    let from = now
        .start_of_day()
        .map(|d| d.timestamp().as_second())
        .unwrap_or(0);
    super::today::today(&confs, from, from + 86_400, 3)
}

/// Shows the "Today" list on Home.
pub fn show_today(ui: &AppWindow, items: &[super::today::Item]) {
    let tz = jiff::tz::TimeZone::system();
    let rows: Vec<TodayItem> = items
        .iter()
        .map(|i| TodayItem {
            cid: i.cid.as_str().into(),
            topic: i.topic.as_str().into(),
            when: match (i.running, i.start) {
                (true, _) | (false, None) => "Now".into(),
                (false, Some(s)) => jiff::Timestamp::from_second(s)
                    .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M").to_string())
                    .unwrap_or_default()
                    .into(),
            },
        })
        .collect();
    let api = ui.global::<RoomApi>();
    let current = api.get_today();
    if current.row_count() != rows.len() || current.iter().zip(rows.iter()).any(|(a, b)| a != *b) {
        api.set_today(ModelRc::new(VecModel::from(rows)));
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
        Activity::Connecting => "connecting",
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
        (Activity::Connecting, _) => format!(
            "Connecting to {}",
            st.connecting.as_deref().unwrap_or("the conference")
        ),
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
    api.set_ringing(st.incoming.is_some());
    if let Some(inc) = &st.incoming {
        api.set_incoming_topic(inc.topic.as_str().into());
        api.set_incoming_from(inc.from.as_str().into());
    }
    api.set_missed_call(
        st.missed_call
            .as_ref()
            .map(|m| format!("Missed call: {}", m.topic))
            .unwrap_or_default()
            .into(),
    );

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
        if stats.in_conference.load(Ordering::Relaxed) {
            return;
        }
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

/// Hands the room display's frames (the far end, content and self-view in
/// the chosen layout) to the conference screen, while there is one.
pub fn display_sink(
    weak: slint::Weak<AppWindow>,
    stats: Arc<PanelStats>,
) -> Arc<dyn Fn(RgbFrame) + Send + Sync> {
    Arc::new(move |frame: RgbFrame| {
        if !stats.in_conference.load(Ordering::Relaxed) {
            return;
        }
        let buf = SharedPixelBuffer::<slint::Rgb8Pixel>::clone_from_slice(
            &frame.data,
            frame.width,
            frame.height,
        );
        let _ = weak.upgrade_in_event_loop(move |ui| {
            let api = ui.global::<RoomApi>();
            api.set_display(slint::Image::from_rgb8(buf));
            api.set_display_live(true);
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_strings_become_the_command_they_name() {
        assert_eq!(call_string("  "), Ok(None));
        assert_eq!(
            call_string("ann"),
            Ok(Some(Command::Call {
                peer: "ann".into(),
                server: None
            }))
        );
        assert_eq!(
            call_string("room@dais-b.example:8080"),
            Ok(Some(Command::Call {
                peer: "room".into(),
                server: Some("dais-b.example:8080".into())
            }))
        );
        assert!(matches!(
            call_string("\\c\\4154248070@dais-b.example"),
            Ok(Some(Command::JoinConference { cid, server: Some(s), .. }))
                if cid == "4154248070" && s == "dais-b.example"
        ));
        assert_eq!(
            call_string("trueconf:ann"),
            Ok(Some(Command::OpenLink {
                link: "trueconf:ann".into()
            }))
        );
    }

    #[test]
    fn positions_count_characters_and_never_split_one() {
        assert_eq!(char_at("ann%zz", 3), 4);
        assert_eq!(char_at("ann@", 4), 5);
        // Byte 2 is inside "ä": it is the second character.
        assert_eq!(char_at("bäm", 2), 2);
        assert_eq!(char_at("bäm", 3), 3);
        assert_eq!(char_at("", 0), 1);
        // Any text at all: never a panic.
        for t in ["ü@", "日本@x%", "@@"] {
            for o in 0..12 {
                let _ = char_at(t, o);
            }
            let _ = call_string(t);
        }
    }

    #[test]
    fn a_bad_call_string_names_the_character() {
        let e = call_string("ann@").unwrap_err();
        assert!(e.starts_with("Cannot call \"ann@\": at character "), "{e}");
        let e = call_string("ann%zz").unwrap_err();
        assert!(e.contains("at character 4"), "{e}");
    }
}

//! Building the room pipeline, one part at a time: the video in (camera or
//! slate), the audio in (microphone or silence, processing, the meter),
//! the display out (compositor, self-view, what reaches the display), the
//! speaker out (the mix, volume, echo probe) and the panel's taps.
//! [`Room::build`] puts the parts together; each part adds its elements to
//! the pipeline, links them and hands back the handles the room keeps.

use super::*;

/// Camera or slate through a selector into the video tee.
struct VideoIn {
    vsel: gst::Element,
    vsel_camera: gst::Pad,
    vsel_slate: gst::Pad,
    camera: gst::Bin,
    slate: gst::Bin,
    vtee: gst::Element,
}

fn video_in(
    pipeline: &gst::Pipeline,
    config: &RoomConfig,
    threads: &ThreadRoles,
) -> Result<VideoIn, MediaError> {
    let cam = &config.camera;
    let vsel = selector("video-select")?;
    let camera = build::camera_source(&config.camera_target, cam, "camera")?;
    threads.sending(&camera);
    let slate = slate(cam)?;
    threads.picture(&slate);
    let vtee = make("tee", "video-tee")?;
    vtee.set_property("allow-not-linked", true);
    pipeline
        .add_many([camera.upcast_ref(), slate.upcast_ref(), &vsel, &vtee])
        .map_err(|_| MediaError::link("video in"))?;
    let vsel_camera = request(&vsel, "selector")?;
    let vsel_slate = request(&vsel, "selector")?;
    link_pads(&camera.static_pad("src"), &vsel_camera, "camera → selector")?;
    link_pads(&slate.static_pad("src"), &vsel_slate, "slate → selector")?;
    vsel.link(&vtee)
        .map_err(|_| MediaError::link("selector → tee"))?;
    vsel.set_property("active-pad", &vsel_camera);
    // The slate idles until it is needed.
    slate.set_locked_state(true);
    Ok(VideoIn {
        vsel,
        vsel_camera,
        vsel_slate,
        camera,
        slate,
        vtee,
    })
}

/// Microphone or silence through a selector, then mute, processing and
/// the audio tee, with the level meter on the tee.
struct AudioIn {
    asel: gst::Element,
    asel_mic: gst::Pad,
    asel_silence: gst::Pad,
    mic: gst::Bin,
    mic_volume: gst::Element,
    atee: gst::Element,
}

/// Whether the microphone runs through webrtcdsp (and the speaker through
/// its echo probe).
fn dsp_on(media: &MediaSettings) -> bool {
    media.echo_cancellation || media.noise_suppression || media.gain_control
}

fn audio_in(pipeline: &gst::Pipeline, config: &RoomConfig) -> Result<AudioIn, MediaError> {
    let asel = selector("audio-select")?;
    let mic = microphone_bin(&config.microphone_target, &config.microphone, "microphone")?;
    let quiet = silence("mic-silence")?;
    let mic_volume = make("volume", "mic-volume")?;
    let mut chain = vec![mic_volume.clone()];
    if dsp_on(&config.media) {
        let dsp = make("webrtcdsp", "mic-dsp")?;
        dsp.set_property("probe", "echo-probe");
        dsp.set_property("echo-cancel", config.media.echo_cancellation);
        dsp.set_property("noise-suppression", config.media.noise_suppression);
        dsp.set_property("gain-control", config.media.gain_control);
        chain.push(dsp);
    }
    let atee = make("tee", "audio-tee")?;
    atee.set_property("allow-not-linked", true);
    chain.push(atee.clone());
    pipeline
        .add_many([mic.upcast_ref(), quiet.upcast_ref(), &asel])
        .map_err(|_| MediaError::link("audio in"))?;
    let refs: Vec<&gst::Element> = chain.iter().collect();
    add_link(pipeline, &refs, "microphone chain")?;
    let asel_mic = request(&asel, "selector")?;
    let asel_silence = request(&asel, "selector")?;
    link_pads(&mic.static_pad("src"), &asel_mic, "microphone → selector")?;
    link_pads(
        &quiet.static_pad("src"),
        &asel_silence,
        "silence → selector",
    )?;
    asel.link(&mic_volume)
        .map_err(|_| MediaError::link("selector → volume"))?;
    asel.set_property("active-pad", &asel_mic);
    meter(pipeline, &atee)?;
    Ok(AudioIn {
        asel,
        asel_mic,
        asel_silence,
        mic,
        mic_volume,
        atee,
    })
}

/// The microphone meter: a leaky queue, `mic-level`, a fakesink.
fn meter(pipeline: &gst::Pipeline, atee: &gst::Element) -> Result<(), MediaError> {
    let mq = make("queue", "meter-queue")?;
    mq.set_property_from_str("leaky", "downstream");
    let level = make("level", "mic-level")?;
    level.set_property("interval", 100_000_000u64);
    let msink = make("fakesink", "meter-sink")?;
    msink.set_property("sync", false);
    msink.set_property("async", false);
    add_link(pipeline, &[&mq, &level, &msink], "meter")?;
    atee.link(&mq).map_err(|_| MediaError::link("tee → meter"))
}

/// Compositor → caps → display tee → queue → convert → display sink, with
/// the self-view as the compositor's first tile.
struct DisplayOut {
    compositor: gst::Element,
    display_tee: gst::Element,
    sink: build::DisplaySink,
    self_pad: gst::Pad,
    self_crop: gst::Element,
}

fn display_out(
    pipeline: &gst::Pipeline,
    config: &RoomConfig,
    threads: &ThreadRoles,
    vtee: &gst::Element,
) -> Result<DisplayOut, MediaError> {
    let d = &config.display;
    let compositor = make("compositor", "compositor")?;
    threads.picture(&compositor);
    compositor.set_property_from_str("background", "black");
    let ccaps = make("capsfilter", "compositor-caps")?;
    ccaps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "RGBA")
            .field("width", d.width as i32)
            .field("height", d.height as i32)
            .field("framerate", gst::Fraction::new(d.framerate as i32, 1))
            .build(),
    );
    let display_tee = make("tee", "display-tee")?;
    display_tee.set_property("allow-not-linked", true);
    let dq = make("queue", "display-queue")?;
    threads.picture(&dq);
    let dconv = make("videoconvert", "display-convert")?;
    let sink = build::display_sink(&config.display_target, d, "display")?;
    add_link(
        pipeline,
        &[
            &compositor,
            &ccaps,
            &display_tee,
            &dq,
            &dconv,
            &sink.element,
        ],
        "display",
    )?;
    // Self-view into the compositor.
    let sq = make("queue", "selfview-queue")?;
    threads.picture(&sq);
    sq.set_property_from_str("leaky", "downstream");
    sq.set_property("max-size-buffers", 2u32);
    pipeline
        .add(&sq)
        .map_err(|_| MediaError::link("self-view"))?;
    vtee.link(&sq)
        .map_err(|_| MediaError::link("tee → self-view"))?;
    let self_crop = new_crop("selfview")?;
    pipeline
        .add(&self_crop)
        .map_err(|_| MediaError::link("self-view"))?;
    sq.link(&self_crop)
        .map_err(|_| MediaError::link("self-view → crop"))?;
    let self_pad = request(&compositor, "compositor")?;
    link_pads(
        &self_crop.static_pad("src"),
        &self_pad,
        "self-view → compositor",
    )?;
    Ok(DisplayOut {
        compositor,
        display_tee,
        sink,
        self_pad,
        self_crop,
    })
}

/// Counts what reaches the display, and keeps its last picture when the
/// display is an appsink (`/display/snapshot.png`).
fn watch_display(sink: &build::DisplaySink, stats: &Arc<RoomStats>) {
    if let Some(pad) = sink.element.static_pad("sink") {
        let st = stats.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            st.frames_displayed.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    if let Some(app) = &sink.appsink {
        let st = Arc::downgrade(stats);
        app.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(st) = st.upgrade()
                        && let Ok(mut last) = st.last_display_sample.lock()
                    {
                        *last = Some(sample);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
}

/// Silence + far-end audio → mixer → tee → volume → level → convert →
/// echo probe → speaker.
struct SpeakerOut {
    audiomixer: gst::Element,
    speaker_volume: gst::Element,
    mix_tee: gst::Element,
}

fn speaker_out(pipeline: &gst::Pipeline, config: &RoomConfig) -> Result<SpeakerOut, MediaError> {
    let audiomixer = make("audiomixer", "audiomixer")?;
    // The far end's audio arrives through jitter buffers and decoders:
    // on a slow machine the mix must wait longer than they report, or
    // it drops the audio as late.
    audiomixer.set_property(
        "latency",
        u64::from(config.media.speaker_latency_ms) * 1_000_000,
    );
    let mix_silence = silence("mix-silence")?;
    pipeline
        .add(&mix_silence)
        .map_err(|_| MediaError::link("mixer"))?;
    let speaker_volume = make("volume", "speaker-volume")?;
    let mix_tee = make("tee", "mix-tee")?;
    mix_tee.set_property("allow-not-linked", true);
    let sconv = make("audioconvert", "speaker-convert")?;
    let sres = make("audioresample", "speaker-resample")?;
    let scaps = make("capsfilter", "speaker-caps")?;
    scaps.set_property("caps", audio_caps());
    // What the room hears, after its volume (silent when muted).
    let speaker_level = make("level", "speaker-level")?;
    speaker_level.set_property("interval", 100_000_000u64);
    let mut chain = vec![
        audiomixer.clone(),
        mix_tee.clone(),
        speaker_volume.clone(),
        speaker_level,
        sconv,
        sres,
        scaps,
    ];
    if dsp_on(&config.media) {
        chain.push(make("webrtcechoprobe", "echo-probe")?);
    }
    chain.push(make("audioconvert", "speaker-out-convert")?);
    chain.push(build::speaker_sink(
        &config.speaker_target,
        &config.speaker,
        "speaker",
    )?);
    let refs: Vec<&gst::Element> = chain.iter().collect();
    add_link(pipeline, &refs, "speaker")?;
    let mixpad = request(&audiomixer, "mixer")?;
    link_pads(&mix_silence.static_pad("src"), &mixpad, "silence → mixer")?;
    Ok(SpeakerOut {
        audiomixer,
        speaker_volume,
        mix_tee,
    })
}

impl Room {
    /// Builds the room pipeline (not yet playing).
    pub fn build(config: RoomConfig, stats: Arc<RoomStats>) -> Result<Arc<Room>, MediaError> {
        let pipeline = gst::Pipeline::with_name("room");
        // The room runs on the system's monotonic clock, never on a sound
        // card's. Left to choose, GStreamer takes the most upstream clock
        // provider, the microphone: the far end's audio and video are then
        // timed by the microphone's crystal, and the speaker, another card,
        // drifts against it. On a busy machine a timer-driven capture clock
        // falls behind real time by seconds; the speaker then found every
        // sample already late and played silence through the whole call.
        // Every card slaves to the system clock instead (alsasrc/alsasink
        // skew slaving), and network media is timed by real time.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        // Every message passes here in the thread that posts it: a new
        // streaming thread takes its priority before it does any work
        // (sound before pictures), then the message goes on to the
        // engine's watch.
        let threads = Arc::new(ThreadRoles::default());
        let (messages_tx, messages) = mpsc::unbounded_channel();
        if let Some(bus) = pipeline.bus() {
            let roles = threads.clone();
            bus.set_sync_handler(move |_, msg| {
                roles.on_message(msg);
                let _ = messages_tx.send(msg.clone());
                gst::BusSyncReply::Drop
            });
        }

        let video = video_in(&pipeline, &config, &threads)?;
        let audio = audio_in(&pipeline, &config)?;
        let display = display_out(&pipeline, &config, &threads, &video.vtee)?;
        watch_display(&display.sink, &stats);
        let speaker = speaker_out(&pipeline, &config)?;

        // The panel's camera tile, and the display as the panel's
        // conference picture.
        for (prefix, tee, cb) in [
            ("panel", &video.vtee, &config.panel_frames),
            (
                "panel-display",
                &display.display_tee,
                &config.panel_display_frames,
            ),
        ] {
            if let Some(cb) = cb {
                let q = build_panel_tap(
                    &pipeline,
                    tee,
                    prefix,
                    cb.clone(),
                    config.panel_size,
                    config.panel_fps,
                    &stats,
                )?;
                threads.picture(&q);
            }
        }

        let d = &config.display;
        let tiles = Arc::new(Mutex::new(Tiles {
            layout: Layout::from_name(&config.media.layout).unwrap_or_default(),
            fit: Fit::from_name(&config.media.tile_fit).unwrap_or_default(),
            width: d.width as i32,
            height: d.height as i32,
            blank: false,
            entries: vec![TileEntry {
                tile: Tile {
                    id: "self".into(),
                    local: true,
                    content: false,
                },
                pad: display.self_pad,
                crop: display.self_crop.clone(),
            }],
            pictures: HashMap::new(),
            shown: stats.display_tiles.clone(),
        }));
        watch_picture(&tiles, &display.self_crop);
        let active = (config.camera_target.clone(), config.camera.clone());
        let speaker_position = output_position(&speaker.audiomixer)?;
        let display_position = output_position(&display.compositor)?;
        let room = Arc::new(Room {
            pipeline,
            config,
            stats,
            vsel: video.vsel,
            vsel_camera: video.vsel_camera,
            vsel_slate: video.vsel_slate,
            slate: video.slate,
            camera_bin: Mutex::new(Some(video.camera)),
            active_camera: Mutex::new(active),
            vtee: video.vtee,
            asel: audio.asel,
            asel_mic: audio.asel_mic,
            asel_silence: audio.asel_silence,
            mic_bin: Mutex::new(Some(audio.mic)),
            mic_volume: audio.mic_volume,
            atee: audio.atee,
            compositor: display.compositor,
            audiomixer: speaker.audiomixer,
            speaker_volume: speaker.speaker_volume,
            display_tee: display.display_tee,
            mix_tee: speaker.mix_tee,
            tiles,
            levels: Mutex::new(HashMap::new()),
            speaker_position,
            display_position,
            sources: Mutex::new(HashMap::new()),
            threads,
            messages: Mutex::new(Some(messages)),
            _keep_alive: display.sink.keep_alive,
        });
        room.relayout();
        Ok(room)
    }
}

/// An input-selector that does not sync its streams.
fn selector(name: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make("input-selector")
        .name(name)
        .property("sync-streams", false)
        .build()
        .map_err(|_| MediaError::Element {
            element: "input-selector".into(),
        })
}

/// A new request pad on `element`'s `sink_%u` template.
fn request(element: &gst::Element, what: &str) -> Result<gst::Pad, MediaError> {
    element
        .request_pad_simple("sink_%u")
        .ok_or_else(|| MediaError::link(what))
}

pub(super) fn video_caps(w: u32, h: u32, fps: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(fps as i32, 1))
        .build()
}

pub(crate) fn audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", AUDIO_RATE)
        .field("channels", 1i32)
        .field("layout", "interleaved")
        .build()
}

pub(super) fn add_link(
    bin: &impl IsA<gst::Bin>,
    chain: &[&gst::Element],
    what: &str,
) -> Result<(), MediaError> {
    bin.as_ref()
        .add_many(chain.iter().copied())
        .map_err(|_| MediaError::link(what))?;
    gst::Element::link_many(chain.iter().copied()).map_err(|_| MediaError::link(what))
}

/// A bin with one `src` ghost pad from the last element of `chain`.
pub fn bin_of(name: &str, chain: &[gst::Element]) -> Result<gst::Bin, MediaError> {
    let bin = gst::Bin::builder().name(name).build();
    let refs: Vec<&gst::Element> = chain.iter().collect();
    add_link(&bin, &refs, name)?;
    let last = chain.last().ok_or_else(|| MediaError::link(name))?;
    let pad = last
        .static_pad("src")
        .ok_or_else(|| MediaError::link(name))?;
    let ghost = gst::GhostPad::with_target(&pad).map_err(|_| MediaError::link(name))?;
    ghost.set_active(true).ok();
    bin.add_pad(&ghost).map_err(|_| MediaError::link(name))?;
    Ok(bin)
}

/// The slate: a flat colour with a line of text, at the camera's size.
fn slate(cfg: &CameraSettings) -> Result<gst::Bin, MediaError> {
    let src = make("videotestsrc", "slate-src")?;
    src.set_property("is-live", true);
    src.set_property_from_str("pattern", "solid-color");
    let (r, g, b) = SLATE_RGB;
    src.set_property(
        "foreground-color",
        0xff00_0000u32 | (r as u32) << 16 | (g as u32) << 8 | b as u32,
    );
    let caps = make("capsfilter", "slate-caps")?;
    caps.set_property("caps", video_caps(cfg.width, cfg.height, cfg.framerate));
    let text = make("textoverlay", "slate-text")?;
    text.set_property("text", "Camera off");
    text.set_property_from_str("valignment", "bottom");
    text.set_property_from_str("halignment", "center");
    text.set_property("font-desc", "Sans 24");
    text.set_property("shaded-background", false);
    let conv = make("videoconvert", "slate-convert")?;
    bin_of("slate", &[src, caps, text, conv])
}

/// The microphone as a bin giving processed-format audio.
pub(crate) fn microphone_bin(
    target: &MicrophoneTarget,
    cfg: &MicrophoneSettings,
    name: &str,
) -> Result<gst::Bin, MediaError> {
    let src = match target {
        MicrophoneTarget::Test { wave, frequency_hz } => {
            let s = make("audiotestsrc", "mic-src")?;
            s.set_property("is-live", true);
            s.set_property_from_str("wave", wave);
            s.set_property("freq", *frequency_hz);
            s.set_property("volume", 0.3f64);
            s
        }
        MicrophoneTarget::Alsa { device, .. } => {
            let s = make("alsasrc", "mic-src")?;
            s.set_property("device", device);
            s
        }
        MicrophoneTarget::Element { factory } => make(factory, "mic-src")?,
    };
    let _ = cfg;
    let conv = make("audioconvert", "mic-convert")?;
    let res = make("audioresample", "mic-resample")?;
    let caps = make("capsfilter", "mic-caps")?;
    caps.set_property("caps", audio_caps());
    bin_of(name, &[src, conv, res, caps])
}

fn silence(name: &str) -> Result<gst::Bin, MediaError> {
    let s = make("audiotestsrc", &format!("{name}-src"))?;
    s.set_property("is-live", true);
    s.set_property_from_str("wave", "silence");
    // 10 ms buffers, as webrtcdsp processes them.
    s.set_property("samplesperbuffer", AUDIO_RATE / 100);
    let caps = make("capsfilter", &format!("{name}-caps"))?;
    caps.set_property("caps", audio_caps());
    bin_of(name, &[s, caps])
}

/// The running time of `pts` in the segment `pad` carries, without the
/// pad's own offset.
pub(super) fn running_time(pad: &gst::Pad, pts: gst::ClockTime) -> Option<u64> {
    let ev = pad.sticky_event::<gst::event::Segment>(0)?;
    let seg = ev.segment().downcast_ref::<gst::ClockTime>()?;
    seg.to_running_time(pts).map(|t| t.nseconds())
}

/// Follows how far an aggregator (the speaker mix, the display) has
/// produced output, as a running time in ns.
fn output_position(aggregator: &gst::Element) -> Result<Arc<AtomicU64>, MediaError> {
    let src = aggregator
        .static_pad("src")
        .ok_or_else(|| MediaError::link("mixer output"))?;
    let position = Arc::new(AtomicU64::new(0));
    let pos = position.clone();
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
            && let Some(pts) = buf.pts()
            && let Some(rt) = running_time(pad, pts + buf.duration().unwrap_or_default())
        {
            pos.store(rt, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(position)
}

/// A small, slow copy of `tee`'s video for the panel (elements named
/// `<prefix>-...`, the appsink `<prefix>`). Returns the queue whose thread
/// runs it.
fn build_panel_tap(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    prefix: &str,
    cb: FrameCallback,
    (w, h): (u32, u32),
    fps: u32,
    stats: &Arc<RoomStats>,
) -> Result<gst::Element, MediaError> {
    let q = make("queue", &format!("{prefix}-queue"))?;
    q.set_property_from_str("leaky", "downstream");
    q.set_property("max-size-buffers", 2u32);
    let rate = make("videorate", &format!("{prefix}-rate"))?;
    rate.set_property("drop-only", true);
    let scale = make("videoscale", &format!("{prefix}-scale"))?;
    let conv = make("videoconvert", &format!("{prefix}-convert"))?;
    let appsink = gst_app::AppSink::builder()
        .name(prefix)
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .field("width", w as i32)
                .field("height", h as i32)
                .field("framerate", gst::Fraction::new(fps as i32, 1))
                .build(),
        )
        .max_buffers(1)
        .drop(true)
        .sync(false)
        .build();
    add_link(
        pipeline,
        &[&q, &rate, &scale, &conv, appsink.upcast_ref()],
        "panel tile",
    )?;
    tee.link(&q)
        .map_err(|_| MediaError::link(&format!("tee → {prefix}")))?;
    let st = Arc::downgrade(stats);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = rgb_frame(&sample) {
                    cb(frame);
                    if let Some(st) = st.upgrade() {
                        st.frames_to_panel.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(q)
}

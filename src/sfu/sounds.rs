//! The conference's own audio streams: music on hold and the join/leave
//! tones, encoded once per conference and forwarded like any participant's
//! audio. Each is a small pipeline (samples from [`super::tone`] → Opus →
//! RTP) paced to real time by its sink.

use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;

use super::peer::{Hub, Track};
use super::tone::{self, Sound};
use crate::media::MediaError;

/// Samples per 20 ms packet.
const CHUNK: usize = (tone::RATE / 50) as usize;

#[derive(Debug, Default)]
struct Play {
    /// What plays now and where in it.
    sound: Option<(Sound, usize)>,
}

/// One encoded sound stream, fed to the hub as source `name`.
pub struct SoundSource {
    pipeline: gst::Pipeline,
    play: Arc<Mutex<Play>>,
    looping: bool,
}

impl SoundSource {
    /// `looping`: plays `sound` for ever (music); otherwise silent until
    /// [`SoundSource::play`].
    pub fn start(
        name: &str,
        looping: Option<Sound>,
        hub: Weak<dyn Hub>,
    ) -> Result<Self, MediaError> {
        let pipeline = gst::Pipeline::with_name(&format!("sound-{}", name.trim_start_matches('#')));
        let caps = gst::Caps::builder("audio/x-raw")
            .field("format", "S16LE")
            .field("layout", "interleaved")
            .field("rate", tone::RATE as i32)
            .field("channels", 1i32)
            .build();
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .max_bytes((CHUNK * 2 * 4) as u64)
            .build();
        let enc = crate::media::build::make("opusenc", "enc")?;
        enc.set_property("bitrate", 32_000i32);
        let pay = crate::media::build::make("rtpopuspay", "pay")?;
        pay.set_property("pt", super::peer::OPUS_PT as u32);
        let sink = gst_app::AppSink::builder().sync(true).build();
        pipeline
            .add_many([src.upcast_ref(), &enc, &pay, sink.upcast_ref()])
            .map_err(|_| MediaError::link("sound"))?;
        gst::Element::link_many([src.upcast_ref(), &enc, &pay, sink.upcast_ref()])
            .map_err(|_| MediaError::link("sound"))?;

        let play = Arc::new(Mutex::new(Play {
            sound: looping.map(|s| (s, 0)),
        }));
        let p = play.clone();
        let mut n: u64 = 0;
        src.set_callbacks(
            gst_app::AppSrcCallbacks::builder()
                .need_data(move |src, _| {
                    let mut samples = vec![0i16; CHUNK];
                    if let Ok(mut p) = p.lock()
                        && let Some((sound, pos)) = p.sound
                    {
                        tone::fill(sound, pos, &mut samples);
                        let next = pos + CHUNK;
                        p.sound = if sound == Sound::Music || next < sound.len() {
                            Some((sound, next))
                        } else {
                            None
                        };
                    }
                    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                    let mut buf = gst::Buffer::from_mut_slice(bytes);
                    if let Some(b) = buf.get_mut() {
                        b.set_pts(gst::ClockTime::from_mseconds(20 * n));
                        b.set_duration(gst::ClockTime::from_mseconds(20));
                    }
                    n += 1;
                    let _ = src.push_buffer(buf);
                })
                .build(),
        );
        let source = name.to_string();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let (Some(h), Some(b)) = (hub.upgrade(), sample.buffer()) {
                        h.inbound(&source, Track::Server, b);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::State {
                pipeline: pipeline.name().to_string(),
                state: "PLAYING".into(),
                reason: "the sound source did not start".into(),
            })?;
        Ok(Self {
            pipeline,
            play,
            looping: looping.is_some(),
        })
    }

    /// Plays a tone now (replacing one still playing).
    pub fn play(&self, sound: Sound) {
        if self.looping {
            return;
        }
        if let Ok(mut p) = self.play.lock() {
            p.sound = Some((sound, 0));
        }
    }
}

impl Drop for SoundSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

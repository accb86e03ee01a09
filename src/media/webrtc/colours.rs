//! The colours of the pictures a call carries. VP8 has one colour space,
//! BT.601 (RFC 6386), and browsers read it so; GStreamer labels untagged
//! video by its size instead. What the room sends is made BT.601
//! (`send.rs`, `send_caps`) and what it decodes is labelled so here.

use gst::prelude::*;

/// VP8 pictures are BT.601 (RFC 6386 has no other colour space), but
/// `vp8dec` labels what it decodes by its size as GStreamer guesses for
/// untagged video: BT.709 from 720 lines up. A browser's 720p camera then
/// showed with the wrong colours (a flat green (0,131,0) as (0,73,0)).
/// The decoder's caps are relabelled BT.601 on their way out.
pub(super) fn vp8_colours(dec: gst::Element) -> gst::Element {
    if let Some(pad) = dec.static_pad("src") {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &mut info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Some(s) = c.caps().structure(0)
                && s.get::<&str>("colorimetry").ok() != Some("bt601")
            {
                let mut caps = c.caps_owned();
                caps.make_mut().set("colorimetry", "bt601");
                *ev = gst::event::Caps::new(&caps);
            }
            gst::PadProbeReturn::Ok
        });
    }
    dec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::build::make;
    use crate::media::testcard;
    use crate::media::webrtc::send;

    /// Frames of the 720p test card as a camera gives them (`camera`
    /// caps), converted to `encode` caps, through `vp8enc`, RTP and back
    /// through `vp8dec` (relabelled BT.601 when `relabel`, as the room
    /// decodes and as browsers read VP8): how far the worst frame's colour
    /// patches are off.
    fn through_vp8(camera: gst::Caps, encode: gst::Caps, relabel: bool) -> u8 {
        gst::init().unwrap();
        let (w, h) = (1280u32, 720u32);
        let pipeline = gst::Pipeline::new();
        let src = gst_app::AppSrc::builder()
            .caps(
                &gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, w, h)
                    .fps(gst::Fraction::new(15, 1))
                    .build()
                    .unwrap()
                    .to_caps()
                    .unwrap(),
            )
            .format(gst::Format::Time)
            .build();
        let cam_conv = make("videoconvert", "cam-conv").unwrap();
        let cam = make("capsfilter", "cam").unwrap();
        cam.set_property("caps", camera);
        let conv = make("videoconvert", "conv").unwrap();
        let caps = make("capsfilter", "caps").unwrap();
        caps.set_property("caps", encode);
        let enc = make("vp8enc", "enc").unwrap();
        enc.set_property("deadline", 1i64);
        enc.set_property("target-bitrate", 8_000_000i32);
        // Through RTP, as on a call: the caps the decoder gets say nothing
        // of colours.
        let pay = make("rtpvp8pay", "pay").unwrap();
        let depay = make("rtpvp8depay", "depay").unwrap();
        let mut dec = make("vp8dec", "dec").unwrap();
        if relabel {
            dec = vp8_colours(dec);
        }
        let back = make("videoconvert", "back").unwrap();
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", "RGBA")
                    .build(),
            )
            .sync(false)
            .build();
        let all = [
            src.upcast_ref(),
            &cam_conv,
            &cam,
            &conv,
            &caps,
            &enc,
            &pay,
            &depay,
            &dec,
            &back,
            sink.upcast_ref(),
        ];
        pipeline.add_many(all).unwrap();
        gst::Element::link_many(all).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        for n in 0..5u32 {
            let mut buf = gst::Buffer::from_mut_slice(testcard::draw(n, w, h));
            buf.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(u64::from(n) * 66));
            src.push_buffer(buf).unwrap();
        }
        src.end_of_stream().unwrap();
        let mut worst = 0;
        let mut frames = 0;
        while let Ok(s) = sink.pull_sample() {
            let info = gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
            let map = s.buffer().unwrap().map_readable().unwrap();
            let r = testcard::read_back(map.as_slice(), w, h, info.stride()[0] as u32, (w, h))
                .expect("the counter reads");
            assert!(r.psnr >= 30.0, "{r:?}");
            worst = worst.max(r.colour_error);
            frames += 1;
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(frames, 5);
        worst
    }

    fn i420(colorimetry: &str) -> gst::Caps {
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("colorimetry", colorimetry)
            .build()
    }

    /// A browser's 720p camera arrives in BT.601, which `vp8dec` would
    /// label BT.709 by its size: the room shows it at its colours.
    #[test]
    fn a_browsers_720p_picture_keeps_its_colours() {
        gst::init().unwrap();
        let shown = through_vp8(i420("bt601"), i420("bt601"), true);
        assert!(
            shown <= testcard::COLOUR_TOLERANCE,
            "the room shows a browser's 720p card's colours {shown} off"
        );
        let unlabelled = through_vp8(i420("bt601"), i420("bt601"), false);
        assert!(
            unlabelled > testcard::COLOUR_TOLERANCE,
            "as vp8dec labels it, {unlabelled} off"
        );
    }

    /// What the room sends of a 720p camera in BT.709 is BT.601, as a
    /// browser reads VP8.
    #[test]
    fn the_rooms_720p_picture_reaches_a_browser_at_its_colours() {
        gst::init().unwrap();
        let seen = through_vp8(i420("bt709"), send::send_caps(1280, 720, 15), true);
        assert!(
            seen <= testcard::COLOUR_TOLERANCE,
            "a browser sees the room's 720p card's colours {seen} off"
        );
    }
}

//! Media engine figures, on two rooms in this process calling each other
//! over WebRTC on loopback at 720p30 (release build):
//!
//! - CPU seconds per second of the call (both rooms sending, receiving
//!   and composing), and per room;
//! - capture-to-display latency: a frame counter is painted into each
//!   camera frame as 16 black/white blocks right after capture, and read
//!   back from the far room's display sink; median and p95;
//! - time from session start to the first decoded remote frame.

#[path = "../tests/common/media.rs"]
mod media;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dais::config::VideoCodec;
use dais::media::layout::Layout;
use gst::prelude::*;
use gst_video::prelude::*;
use media::*;

const BITS: u32 = 16;
const BLOCK: u32 = 32;

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn hd_options(id: &str, offerer: bool) -> dais::media::webrtc::SessionOptions {
    dais::media::webrtc::SessionOptions {
        width: 1280,
        height: 720,
        framerate: 30,
        video_kbps: 1500,
        // The figures are for 720p: a saturated machine would otherwise
        // send a smaller picture (media::adapt) and measure that.
        adapt_size: false,
        ..options(id, offerer, VideoCodec::Vp8)
    }
}

fn hd_call(rt: &tokio::runtime::Runtime, a: &Engine, b: &Engine) -> Call {
    call_with(rt, a, b, hd_options("a", true), hd_options("b", false))
}

fn hd(pattern: &str, freq: f64) -> dais::media::RoomConfig {
    let mut c = config(pattern, freq);
    c.camera.width = 1280;
    c.camera.height = 720;
    c.camera.framerate = 30;
    c.display.width = 1280;
    c.display.height = 720;
    c.display.framerate = 30;
    c.media.send_width = 1280;
    c.media.send_height = 720;
    c.media.send_framerate = 30;
    c.media.video_bitrate_kbps = 1500;
    c.content.width = 1280;
    c.content.height = 720;
    c
}

/// Paints `n` into the top-left of a frame as BITS blocks (Y plane or RGB).
fn paint(frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>, n: u32) {
    let fmt = frame.format();
    let rgb = matches!(
        fmt,
        gst_video::VideoFormat::Rgba
            | gst_video::VideoFormat::Rgbx
            | gst_video::VideoFormat::Bgra
            | gst_video::VideoFormat::Bgrx
    );
    let bpp = if rgb { 4 } else { 1 };
    let stride = frame.plane_stride()[0] as usize;
    let Ok(data) = frame.plane_data_mut(0) else {
        return;
    };
    for bit in 0..BITS {
        let on = n >> bit & 1 == 1;
        let v = if on { 235u8 } else { 16u8 };
        for y in 0..BLOCK {
            for x in 0..BLOCK {
                let px = (bit * BLOCK + x) as usize;
                let o = y as usize * stride + px * bpp;
                for c in 0..bpp.min(3) {
                    if let Some(p) = data.get_mut(o + c) {
                        *p = v;
                    }
                }
            }
        }
    }
}

/// Reads the counter back from an RGBx/RGBA frame.
fn read(map: &[u8], stride: usize) -> u32 {
    let mut n = 0;
    for bit in 0..BITS {
        let x = (bit * BLOCK + BLOCK / 2) as usize;
        let y = (BLOCK / 2) as usize;
        if map.get(y * stride + x * 4).copied().unwrap_or(0) > 128 {
            n |= 1 << bit;
        }
    }
    n
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"media".contains(&a))
    {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!(
        "Media engine (release, two rooms in one process, WebRTC on loopback, 720p30 VP8 + Opus)"
    );

    // Time to first decoded remote frame, over fresh calls.
    let mut firsts = Vec::new();
    for i in 0..5 {
        let a = engine(&rt, hd("smpte", 440.0));
        let b = engine(&rt, hd("ball", 660.0));
        let t0 = Instant::now();
        let c = hd_call(&rt, &a, &b);
        wait(Duration::from_secs(30), "first frame", || remote_frame(&b));
        firsts.push(t0.elapsed());
        c.a.close();
        c.b.close();
        rt.block_on(a.handle.stop());
        rt.block_on(b.handle.stop());
        let _ = i;
    }
    firsts.sort();
    println!(
        "  session start -> first decoded remote frame   median {:>6.0} ms   min {:>6.0} ms   max {:>6.0} ms  (5 calls)",
        firsts[2].as_secs_f64() * 1e3,
        firsts[0].as_secs_f64() * 1e3,
        firsts[4].as_secs_f64() * 1e3
    );

    // A steady call: CPU and latency.
    let a = engine(&rt, hd("smpte", 440.0));
    let b = engine(&rt, hd("ball", 660.0));
    rt.block_on(b.handle.layout(Layout::Speaker));
    let sent: Arc<Mutex<HashMap<u32, Instant>>> = Arc::default();
    let counter = Arc::new(std::sync::atomic::AtomicU32::new(1));
    // Stamp right after capture: the selector's output is the camera.
    let sel = a
        .handle
        .room()
        .unwrap()
        .pipeline
        .by_name("video-select")
        .unwrap();
    let s2 = sent.clone();
    let c2 = counter.clone();
    sel.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(caps) = pad.current_caps() else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
                return gst::PadProbeReturn::Ok;
            };
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_mut() {
                let n = c2.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff;
                let buf = buf.make_mut();
                if let Ok(mut f) = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &vinfo) {
                    paint(&mut f, n);
                    s2.lock().unwrap().insert(n, Instant::now());
                }
            }
            gst::PadProbeReturn::Ok
        });
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let l2 = lat.clone();
    let s3 = sent.clone();
    let last = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let display = b
        .handle
        .room()
        .unwrap()
        .pipeline
        .by_name("display")
        .unwrap();
    display
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(caps) = pad.current_caps() else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
                return gst::PadProbeReturn::Ok;
            };
            if let Some(gst::PadProbeData::Buffer(buf)) = info.data.as_ref()
                && let Ok(map) = buf.map_readable()
            {
                let n = read(&map, vinfo.stride()[0] as usize);
                if n != 0
                    && n != last.swap(n, std::sync::atomic::Ordering::Relaxed)
                    && let Some(t) = s3.lock().unwrap().remove(&n)
                {
                    l2.lock().unwrap().push(t.elapsed());
                }
            }
            gst::PadProbeReturn::Ok
        });
    let c = hd_call(&rt, &a, &b);
    wait(Duration::from_secs(30), "the call", || remote_frame(&b));
    // Count the remote frames B decodes, to report the received rate.
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bpipe = b.handle.room().unwrap().pipeline.clone();
    let encoded = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let apipe = a.handle.room().unwrap().pipeline.clone();
    for e in apipe.iterate_recurse().into_iter().flatten() {
        if e.factory().is_some_and(|f| f.name() == "vp8enc") {
            let r = encoded.clone();
            e.static_pad("src")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
        }
    }
    for e in bpipe.iterate_recurse().into_iter().flatten() {
        if e.factory().is_some_and(|f| f.name() == "vp8dec") {
            let r = received.clone();
            e.static_pad("src")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    lat.lock().unwrap().clear();
    received.store(0, std::sync::atomic::Ordering::Relaxed);
    encoded.store(0, std::sync::atomic::Ordering::Relaxed);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    println!(
        "  CPU for the whole two-way call   {:>5.2} CPU-s/s   ({:.2} per room; {} cores)",
        cpu / wall,
        cpu / wall / 2.0,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "  video frames per second          {:>5.1} encoded, {:>5.1} decoded at the far end (camera at 30)",
        encoded.load(std::sync::atomic::Ordering::Relaxed) as f64 / wall,
        received.load(std::sync::atomic::Ordering::Relaxed) as f64 / wall
    );
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    if l.is_empty() {
        println!("  capture-to-display latency      no stamped frame was read back");
    } else {
        println!(
            "  capture-to-display latency      median {:>6.1} ms   p95 {:>6.1} ms   ({} frames)",
            l[l.len() / 2].as_secs_f64() * 1e3,
            l[(l.len() * 95 / 100).min(l.len() - 1)].as_secs_f64() * 1e3,
            l.len()
        );
    }
    c.a.close();
    c.b.close();
    rt.block_on(a.handle.stop());
    rt.block_on(b.handle.stop());
}

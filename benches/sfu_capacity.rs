//! The embedded server's capacity: N participants in one all-on-screen
//! conference on the release `dais`, each a webrtcbin in this process
//! sending pre-encoded 720p30 VP8 (a moving zone plate, about 1.4 Mbit/s)
//! and Opus from memory,
//! so the generator never encodes. For N = 4, 8, 16, 32, ... until the
//! 2-core machine saturates, prints the server's CPU, the packets it
//! received and forwarded per second, and the loss seen by the receivers.
//! The generator shares the machine's two cores with the server, so the
//! saturation point is the machine's, and the generator's CPU is printed
//! beside the server's. `DAIS_BENCH_JITTER_MS` sets the server's
//! `[conference] jitter_ms` for a run; `DAIS_BENCH_STEPS=4,8` picks the sizes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{Api, Dais, Start};
use gst::prelude::*;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const WARM_UP: Duration = Duration::from_secs(6);
const MEASURE: Duration = Duration::from_secs(10);
const STEPS: &[usize] = &[4, 8, 16, 32, 48];

/// Pre-encoded media, looped by every participant.
struct Clip {
    video: Vec<gst::Buffer>,
    video_caps: gst::Caps,
    audio: Vec<gst::Buffer>,
    audio_caps: gst::Caps,
}

fn encode(desc: &str) -> (Vec<gst::Buffer>, gst::Caps) {
    let p = gst::parse::launch(&format!("{desc} ! appsink name=out sync=false"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = p
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    let mut caps = None;
    while let Ok(s) = sink.pull_sample() {
        caps = s.caps_owned();
        out.push(s.buffer_owned().unwrap());
    }
    p.set_state(gst::State::Null).unwrap();
    (out, caps.unwrap())
}

fn clip() -> Clip {
    let (video, video_caps) = encode(
        "videotestsrc pattern=zone-plate kx2=20 ky2=20 kt=1 num-buffers=90 ! video/x-raw,width=1280,height=720,framerate=30/1 \
         ! vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=1500000 keyframe-max-dist=30 lag-in-frames=0",
    );
    let (audio, audio_caps) = encode(
        "audiotestsrc wave=sine num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 \
         ! opusenc frame-size=20 bitrate=32000",
    );
    Clip {
        video,
        video_caps,
        audio,
        audio_caps,
    }
}

/// One generated participant: its webrtcbin, sources and counters.
struct Party {
    webrtc: gst::Element,
    vsrc: gst_app::AppSrc,
    asrc: gst_app::AppSrc,
    connected: Arc<AtomicBool>,
}

fn party(
    pipeline: &gst::Pipeline,
    n: usize,
    clip: &Clip,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    candidates: mpsc::Sender<(u32, String)>,
) -> Party {
    let webrtc = gst::ElementFactory::make("webrtcbin")
        .name(format!("w{n}"))
        .build()
        .unwrap();
    webrtc.set_property_from_str("bundle-policy", "max-bundle");
    let vsrc = gst_app::AppSrc::builder()
        .caps(&clip.video_caps)
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .build();
    let asrc = gst_app::AppSrc::builder()
        .caps(&clip.audio_caps)
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .build();
    let vpay = gst::ElementFactory::make("rtpvp8pay")
        .property("pt", 96u32)
        .build()
        .unwrap();
    vpay.set_property_from_str("picture-id-mode", "15-bit");
    let apay = gst::ElementFactory::make("rtpopuspay")
        .property("pt", 111u32)
        .build()
        .unwrap();
    let vq = gst::ElementFactory::make("queue").build().unwrap();
    let aq = gst::ElementFactory::make("queue").build().unwrap();
    pipeline
        .add_many([
            &webrtc,
            vsrc.upcast_ref(),
            &vq,
            &vpay,
            asrc.upcast_ref(),
            &aq,
            &apay,
        ])
        .unwrap();
    gst::Element::link_many([vsrc.upcast_ref(), &vq, &vpay]).unwrap();
    gst::Element::link_many([asrc.upcast_ref(), &aq, &apay]).unwrap();
    let ssrc = |k: u32| 0x1000_0000 + (n as u32) * 16 + k;
    for (pay, caps) in [
        (
            &apay,
            gst::Caps::builder("application/x-rtp")
                .field("media", "audio")
                .field("encoding-name", "OPUS")
                .field("payload", 111i32)
                .field("clock-rate", 48_000i32)
                .field("ssrc", ssrc(1))
                .build(),
        ),
        (
            &vpay,
            gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("encoding-name", "VP8")
                .field("payload", 96i32)
                .field("clock-rate", 90_000i32)
                .field("ssrc", ssrc(2))
                .build(),
        ),
    ] {
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()
            .unwrap();
        pipeline.add(&filter).unwrap();
        pay.link(&filter).unwrap();
        let sent = sent.clone();
        filter
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                sent.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        let sink = webrtc.request_pad_simple("sink_%u").unwrap();
        filter.static_pad("src").unwrap().link(&sink).unwrap();
        let t = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
        t.set_property("codec-preferences", &caps);
    }
    webrtc.connect("on-ice-candidate", false, move |args| {
        let mline = args[1].get::<u32>().unwrap();
        let cand = args[2].get::<String>().unwrap();
        let _ = candidates.send((mline, cand));
        None
    });
    let pl = pipeline.clone();
    webrtc.connect_pad_added(move |_, pad| {
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .unwrap();
        pl.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        let r = received.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            r.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        let _ = pad.link(&sink.static_pad("sink").unwrap());
    });
    let connected = Arc::new(AtomicBool::new(false));
    let c = connected.clone();
    webrtc.connect_notify(Some("connection-state"), move |w, _| {
        let s = w.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
        c.store(
            s == gst_webrtc::WebRTCPeerConnectionState::Connected,
            Ordering::Relaxed,
        );
    });
    for e in [
        &webrtc,
        vsrc.upcast_ref(),
        &vq,
        &vpay,
        asrc.upcast_ref(),
        &aq,
        &apay,
    ] {
        e.sync_state_with_parent().unwrap();
    }
    for e in pipeline.children() {
        let _ = e.sync_state_with_parent();
    }
    Party {
        webrtc,
        vsrc,
        asrc,
        connected,
    }
}

/// Joins over signalling and answers the server's offers, in its own thread.
fn signal(http: &str, cid: &str, n: usize, p: &Party, cands: mpsc::Receiver<(u32, String)>) {
    let addr = http.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).unwrap();
    let (mut ws, _): (WebSocket<TcpStream>, _) =
        tungstenite::client(format!("ws://{addr}/webrtc/signalling/ws"), stream).unwrap();
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    ws.send(Message::text(
        json!({"type": "join", "cid": cid, "displayName": format!("Load {n}")}).to_string(),
    ))
    .unwrap();
    let webrtc = p.webrtc.clone();
    std::thread::spawn(move || {
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("offer") => {
                            let sdp = gst_sdp::SDPMessage::parse_buffer(
                                v["sdp"].as_str().unwrap().as_bytes(),
                            )
                            .unwrap();
                            let offer = gst_webrtc::WebRTCSessionDescription::new(
                                gst_webrtc::WebRTCSDPType::Offer,
                                sdp,
                            );
                            let pr = gst::Promise::new();
                            webrtc.emit_by_name::<()>(
                                "set-remote-description",
                                &[&offer, &Some(pr.clone())],
                            );
                            let _ = pr.wait();
                            let pr = gst::Promise::new();
                            webrtc.emit_by_name::<()>(
                                "create-answer",
                                &[&None::<gst::Structure>, &pr],
                            );
                            pr.wait();
                            let answer = pr
                                .get_reply()
                                .unwrap()
                                .value("answer")
                                .unwrap()
                                .get::<gst_webrtc::WebRTCSessionDescription>()
                                .unwrap();
                            webrtc.emit_by_name::<()>(
                                "set-local-description",
                                &[&answer, &None::<gst::Promise>],
                            );
                            let text = answer.sdp().as_text().unwrap();
                            ws.send(Message::text(
                                json!({"type": "answer", "sdp": text}).to_string(),
                            ))
                            .unwrap();
                        }
                        Some("candidate") => {
                            let c = v["candidate"].as_str().unwrap_or("");
                            if !c.is_empty() {
                                webrtc.emit_by_name::<()>(
                                    "add-ice-candidate",
                                    &[&(v["mline"].as_u64().unwrap_or(0) as u32), &c],
                                );
                            }
                        }
                        Some("refused") | Some("ended") => panic!("participant {n}: {v}"),
                        _ => {}
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
            while let Ok((mline, candidate)) = cands.try_recv() {
                let _ = ws.send(Message::text(
                    json!({"type": "candidate", "mline": mline, "candidate": candidate})
                        .to_string(),
                ));
            }
        }
    });
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// UDP datagrams the kernel dropped because a socket's receive buffer was
/// full (IPv4 and IPv6), machine-wide.
fn socket_drops() -> u64 {
    let v4 = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = v4.lines().filter(|l| l.starts_with("Udp:"));
    let v4 = match (lines.next(), lines.next()) {
        (Some(h), Some(v)) => h
            .split_whitespace()
            .zip(v.split_whitespace())
            .find(|(k, _)| *k == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    let v6 = std::fs::read_to_string("/proc/net/snmp6")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Udp6RcvbufErrors"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0u64);
    v4 + v6
}

fn media(d: &Dais) -> Value {
    d.status()["conferenceMedia"].clone()
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"sfu_capacity".contains(&a))
    {
        return;
    }
    gst::init().unwrap();
    let clip = Arc::new(clip());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    // SAFETY: set before any thread of ours reads the environment.
    unsafe { std::env::set_var("DAIS_TEST_LOG", "warn") };
    let mut s = Start::new(&data);
    s.extra = vec!["--api-client".into(), "bench:bench-secret-1".into()];
    if let Ok(jitter) = std::env::var("DAIS_BENCH_JITTER_MS") {
        let cfg = tmp.path().join("bench.toml");
        std::fs::write(&cfg, format!("[conference]\njitter_ms = {jitter}\n")).unwrap();
        s.config = Some(cfg);
    }
    let mut d = Dais::start(s);
    d.wait_ready();
    let api = Api::new(&d.http).login_client("bench", "bench-secret-1");
    let (_, r) = api.post(
        "/api/v3.11/conferences",
        &json!({"topic": "Load", "owner": "chair", "type": 0, "max_participants": 100,
                "allow_guests": true}),
    );
    let cid = r["conference"]["id"].as_str().unwrap().to_string();
    api.post(&format!("/api/v3.11/conferences/{cid}/run"), &json!({}));

    let pipeline = gst::Pipeline::new();
    pipeline.set_state(gst::State::Playing).unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let parties: Arc<Mutex<Vec<Party>>> = Arc::new(Mutex::new(Vec::new()));

    // The feeder: every participant sends the same clip, in real time.
    let feed = parties.clone();
    let fclip = clip.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        let (mut vi, mut ai) = (0usize, 0usize);
        loop {
            let t = start.elapsed();
            let due_v = (t.as_millis() / 33) as usize;
            let due_a = (t.as_millis() / 20) as usize;
            let ps = feed.lock().unwrap();
            while vi < due_v {
                let b = &fclip.video[vi % fclip.video.len()];
                for p in ps.iter() {
                    let _ = p.vsrc.push_buffer(b.copy());
                }
                vi += 1;
            }
            while ai < due_a {
                let b = &fclip.audio[ai % fclip.audio.len()];
                for p in ps.iter() {
                    let _ = p.asrc.push_buffer(b.copy());
                }
                ai += 1;
            }
            drop(ps);
            std::thread::sleep(Duration::from_millis(5));
        }
    });

    println!(
        "SFU capacity, one all-on-screen conference, 720p30 VP8 + Opus 32 kbit/s per participant \
         (video slots 9, audio slots 3), {} s per step after {} s warm-up:",
        MEASURE.as_secs(),
        WARM_UP.as_secs()
    );
    let bits: usize = clip.video.iter().map(|b| b.size()).sum::<usize>() * 8;
    println!(
        "  (the clip: {} frames of 720p VP8, {:.2} Mbit/s; loss up = sent by the generator but not received \
         by the server, loss down = forwarded by the server but not received by the generator)",
        clip.video.len(),
        bits as f64 / (clip.video.len() as f64 / 30.0) / 1e6
    );
    let rmem = std::fs::read_to_string("/proc/sys/net/core/rmem_default").unwrap_or_default();
    println!(
        "  (sock drops/s = datagrams the kernel dropped on full receive buffers, machine-wide; \
         net.core.rmem_default here is {} bytes, systemd/dais.sysctl.conf raises it on the appliance)",
        rmem.trim()
    );
    println!(
        "{:>4} {:>10} {:>10} {:>10} {:>11} {:>11} {:>8} {:>9} {:>10} {:>12}",
        "N",
        "server CPU",
        "sent/s",
        "server in/s",
        "forwarded/s",
        "delivered/s",
        "loss up",
        "loss down",
        "gen. CPU",
        "sock drops/s"
    );
    let me = std::process::id();
    let mut last_fwd = 0.0;
    // DAIS_BENCH_STEPS="4,8" runs only those sizes.
    let steps: Vec<usize> = std::env::var("DAIS_BENCH_STEPS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            // `cargo test --all-targets` only checks that the bench runs.
            if std::env::args().any(|a| a == "--bench") {
                STEPS.to_vec()
            } else {
                vec![4]
            }
        });
    for &n in &steps {
        let have = parties.lock().unwrap().len();
        for i in have..n {
            let (tx, rx) = mpsc::channel();
            let p = party(&pipeline, i, &clip, sent.clone(), received.clone(), tx);
            signal(&d.http, &cid, i, &p, rx);
            parties.lock().unwrap().push(p);
        }
        let t0 = Instant::now();
        while parties
            .lock()
            .unwrap()
            .iter()
            .any(|p| !p.connected.load(Ordering::Relaxed))
        {
            if t0.elapsed() > Duration::from_secs(60) {
                println!("{n:>4}  participants did not all connect: saturated");
                d.terminate(Duration::from_secs(5));
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(WARM_UP);
        let k0 = socket_drops();
        let (c0, g0, m0, r0, s0) = (
            cpu_seconds(d.child.id()),
            cpu_seconds(me),
            media(&d),
            received.load(Ordering::Relaxed),
            sent.load(Ordering::Relaxed),
        );
        let t = Instant::now();
        std::thread::sleep(MEASURE);
        let secs = t.elapsed().as_secs_f64();
        let k1 = socket_drops();
        let (c1, g1, m1, r1, s1) = (
            cpu_seconds(d.child.id()),
            cpu_seconds(me),
            media(&d),
            received.load(Ordering::Relaxed),
            sent.load(Ordering::Relaxed),
        );
        let delta =
            |k: &str| (m1[k].as_u64().unwrap_or(0) - m0[k].as_u64().unwrap_or(0)) as f64 / secs;
        let fwd = delta("forwardedPackets");
        let inn = delta("receivedPackets");
        let out = (s1 - s0) as f64 / secs;
        let got = (r1 - r0) as f64 / secs;
        let pct = |part: f64, whole: f64| {
            if whole > 0.0 {
                (1.0 - part / whole).max(0.0) * 100.0
            } else {
                0.0
            }
        };
        let (up, down) = (pct(inn, out), pct(got, fwd));
        let cpu = (c1 - c0) / secs * 100.0;
        let gen_cpu = (g1 - g0) / secs * 100.0;
        let drops = (k1 - k0) as f64 / secs;
        println!(
            "{n:>4} {:>9.0}% {:>10.0} {:>10.0} {:>11.0} {:>11.0} {:>7.2}% {:>8.2}% {:>9.0}% {:>12.0}",
            cpu, out, inn, fwd, got, up, down, gen_cpu, drops
        );
        if up > 5.0 || down > 5.0 || cpu + gen_cpu > 185.0 || fwd < last_fwd {
            println!(
                "saturated at N = {n}: the 2 cores are busy (server + generator {:.0}%) or loss passed 5%",
                cpu + gen_cpu
            );
            break;
        }
        last_fwd = fwd;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    d.terminate(Duration::from_secs(5));
}

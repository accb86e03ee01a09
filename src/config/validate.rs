//! Range and cross-field checks of the settings ([`Settings::validate`]):
//! every problem at once, each naming its key, so an installer sees them
//! all in one pass.

use super::*;

mod listeners;

/// One key whose value is out of range or inconsistent with another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key path, e.g. `camera.framerate`.
    pub key: String,
    /// What was expected, e.g. `an integer from 1 to 60, got 200`.
    pub expected: String,
}

impl Settings {
    /// Range and cross-field checks. Returns every problem, not the first.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut bad = |key: &str, expected: String| {
            out.push(Invalid {
                key: key.into(),
                expected,
            })
        };

        if self.room.name.trim().is_empty() || self.room.name.chars().count() > 64 {
            bad("room.name", "a name of 1 to 64 characters".into());
        }
        for (i, c) in self.room.contacts.iter().enumerate() {
            if c.name.trim().is_empty() || c.name.chars().count() > 64 {
                bad(
                    &format!("room.contacts[{i}].name"),
                    "a name of 1 to 64 characters".into(),
                );
            }
            let target = dais_core::uri::parse(&format!("trueconf:{}", c.address.trim()))
                .ok()
                .and_then(|p| p.link.target);
            if c.address.trim().is_empty()
                || !matches!(
                    target,
                    Some(
                        dais_core::uri::Target::Call { .. }
                            | dais_core::uri::Target::Conference { .. }
                    )
                )
            {
                bad(
                    &format!("room.contacts[{i}].address"),
                    format!(
                        "a call string (user, user@server or \\c\\CID@server), got {:?}",
                        c.address
                    ),
                );
            }
        }
        listeners::check(self, &mut bad);

        check_video_size(
            &mut bad,
            "camera",
            self.camera.width,
            self.camera.height,
            self.camera.framerate,
        );
        check_video_size(
            &mut bad,
            "display",
            self.display.width,
            self.display.height,
            self.display.framerate,
        );
        match self.camera.source {
            VideoSourceKind::Test => {
                if !TEST_PATTERNS.contains(&self.camera.pattern.as_str()) {
                    bad(
                        "camera.pattern",
                        format!("one of {}", TEST_PATTERNS.join(", ")),
                    );
                }
            }
            VideoSourceKind::V4l2 => {
                if self.camera.device.is_none()
                    && self.camera.usb_id.is_none()
                    && self.camera.name.is_none()
                {
                    bad(
                        "camera.device",
                        "a device path, usb_id or name to select the V4L2 camera".into(),
                    );
                }
            }
            VideoSourceKind::Element => need_element(&mut bad, "camera", &self.camera.element),
            VideoSourceKind::None => bad(
                "camera.source",
                "test, v4l2 or element: the room needs a camera (\"none\" is for [content])".into(),
            ),
        }
        match self.content.source {
            VideoSourceKind::Test if !TEST_PATTERNS.contains(&self.content.pattern.as_str()) => {
                bad(
                    "content.pattern",
                    format!("one of {}", TEST_PATTERNS.join(", ")),
                )
            }
            VideoSourceKind::V4l2
                if self.content.device.is_none()
                    && self.content.usb_id.is_none()
                    && self.content.name.is_none() =>
            {
                bad(
                    "content.device",
                    "a device path, usb_id or name to select the V4L2 capture device".into(),
                )
            }
            VideoSourceKind::Element => need_element(&mut bad, "content", &self.content.element),
            _ => {}
        }
        if self.content.source != VideoSourceKind::None {
            check_video_size(
                &mut bad,
                "content",
                self.content.width,
                self.content.height,
                self.content.framerate,
            );
        }
        if let Some(id) = &self.camera.usb_id {
            check_usb_id(&mut bad, "camera.usb_id", id);
        }

        match self.microphone.source {
            AudioSourceKind::Test => {
                if !TEST_WAVES.contains(&self.microphone.wave.as_str()) {
                    bad(
                        "microphone.wave",
                        format!("one of {}", TEST_WAVES.join(", ")),
                    );
                }
                if !(20.0..=20_000.0).contains(&self.microphone.frequency_hz) {
                    bad(
                        "microphone.frequency_hz",
                        format!(
                            "a frequency from 20 to 20000 Hz, got {}",
                            self.microphone.frequency_hz
                        ),
                    );
                }
            }
            AudioSourceKind::Alsa => need_alsa_selector(
                &mut bad,
                "microphone",
                &self.microphone.card,
                &self.microphone.usb_id,
                &self.microphone.device,
            ),
            AudioSourceKind::Element => {
                need_element(&mut bad, "microphone", &self.microphone.element)
            }
        }
        if let Some(id) = &self.microphone.usb_id {
            check_usb_id(&mut bad, "microphone.usb_id", id);
        }
        if ![8_000, 16_000, 24_000, 32_000, 44_100, 48_000].contains(&self.microphone.rate) {
            bad(
                "microphone.rate",
                format!(
                    "one of 8000, 16000, 24000, 32000, 44100, 48000, got {}",
                    self.microphone.rate
                ),
            );
        }
        if !(1..=2).contains(&self.microphone.channels) {
            bad(
                "microphone.channels",
                format!("1 or 2, got {}", self.microphone.channels),
            );
        }

        match self.speaker.sink {
            AudioSinkKind::Alsa => need_alsa_selector(
                &mut bad,
                "speaker",
                &self.speaker.card,
                &self.speaker.usb_id,
                &self.speaker.device,
            ),
            AudioSinkKind::Fake => {}
            AudioSinkKind::Element => need_element(&mut bad, "speaker", &self.speaker.element),
        }
        if let Some(id) = &self.speaker.usb_id {
            check_usb_id(&mut bad, "speaker.usb_id", id);
        }
        if !(20..=2000).contains(&self.speaker.buffer_ms) {
            bad(
                "speaker.buffer_ms",
                format!("20 to 2000, got {}", self.speaker.buffer_ms),
            );
        }
        if !(1..=100).contains(&self.speaker.period_ms)
            || self.speaker.period_ms.saturating_mul(2) > self.speaker.buffer_ms
        {
            bad(
                "speaker.period_ms",
                format!(
                    "1 to 100 and at most half of speaker.buffer_ms ({}), got {}",
                    self.speaker.buffer_ms, self.speaker.period_ms
                ),
            );
        }

        if self.speaker.deadline_ms > 1000 {
            bad(
                "speaker.deadline_ms",
                format!("0 to 1000, got {}", self.speaker.deadline_ms),
            );
        }

        if self.display.sink == DisplaySinkKind::Element {
            need_element(&mut bad, "display", &self.display.element);
        }
        if self.display.sink == DisplaySinkKind::Kms && self.display.connector.is_none() {
            bad(
                "display.connector",
                "a connector name such as HDMI-A-1 when display.sink = \"kms\"".into(),
            );
        }

        if !(320..=7680).contains(&self.panel.width) || !(240..=4320).contains(&self.panel.height) {
            bad(
                "panel.width",
                format!(
                    "a panel size from 320x240 to 7680x4320, got {}x{}",
                    self.panel.width, self.panel.height
                ),
            );
        }
        if !(100..=10_000).contains(&self.input.long_press_ms) {
            bad(
                "input.long_press_ms",
                format!(
                    "an integer from 100 to 10000, got {}",
                    self.input.long_press_ms
                ),
            );
        }
        let m = &self.media;
        check_video_size(
            &mut bad,
            "media",
            m.send_width,
            m.send_height,
            m.send_framerate,
        );
        if !(50..=20_000).contains(&m.video_bitrate_kbps) {
            bad(
                "media.video_bitrate_kbps",
                format!("50 to 20000, got {}", m.video_bitrate_kbps),
            );
        }
        if !(6..=510).contains(&m.audio_bitrate_kbps) {
            bad(
                "media.audio_bitrate_kbps",
                format!("6 to 510 (Opus), got {}", m.audio_bitrate_kbps),
            );
        }
        if !["speaker", "grid", "speaker-strip", "pip"].contains(&m.layout.as_str()) {
            bad(
                "media.layout",
                format!("speaker, grid, speaker-strip or pip, got {:?}", m.layout),
            );
        }
        if !["letterbox", "crop"].contains(&m.tile_fit.as_str()) {
            bad(
                "media.tile_fit",
                format!("letterbox or crop, got {:?}", m.tile_fit),
            );
        }
        if m.speaker_latency_ms > 2000 {
            bad(
                "media.speaker_latency_ms",
                format!("0 to 2000, got {}", m.speaker_latency_ms),
            );
        }
        if !(10..=86_400).contains(&m.recording_segment_seconds) {
            bad(
                "media.recording_segment_seconds",
                format!("10 to 86400, got {}", m.recording_segment_seconds),
            );
        }
        let sv = &self.server;
        let url_ok = sv.public_url.is_empty()
            || sv.public_url.starts_with("http://")
            || sv.public_url.starts_with("https://");
        if !url_ok {
            bad(
                "server.public_url",
                format!(
                    "an http:// or https:// URL, or \"\", got {:?}",
                    sv.public_url
                ),
            );
        }
        if !(60..=31_536_000).contains(&sv.token_ttl) {
            bad(
                "server.token_ttl",
                format!("60 to 31536000 seconds, got {}", sv.token_ttl),
            );
        }
        let cs = &self.conference;
        if !(1..=25).contains(&cs.video_slots) {
            bad(
                "conference.video_slots",
                format!("1 to 25, got {}", cs.video_slots),
            );
        }
        if !(1..=8).contains(&cs.audio_slots) {
            bad(
                "conference.audio_slots",
                format!("1 to 8, got {}", cs.audio_slots),
            );
        }
        if cs.jitter_ms > 1000 {
            bad(
                "conference.jitter_ms",
                format!("0 to 1000, got {}", cs.jitter_ms),
            );
        }
        if cs.induced_loss_permille > 200 {
            bad(
                "conference.induced_loss_permille",
                format!("0 to 200, got {}", cs.induced_loss_permille),
            );
        }
        if !(100..=10_000).contains(&cs.smart_attack_ms) {
            bad(
                "conference.smart_attack_ms",
                format!("100 to 10000, got {}", cs.smart_attack_ms),
            );
        }
        if !(5..=600).contains(&cs.ring_seconds) {
            bad(
                "conference.ring_seconds",
                format!("5 to 600, got {}", cs.ring_seconds),
            );
        }
        if !(2..=600).contains(&cs.smart_release_seconds) {
            bad(
                "conference.smart_release_seconds",
                format!("2 to 600, got {}", cs.smart_release_seconds),
            );
        }
        for (i, r) in cs.servers.iter().enumerate() {
            let host_ok = !r.host.is_empty()
                && r.host.len() <= 253
                && r.host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
            if !host_ok {
                bad(
                    &format!("conference.servers[{i}].host"),
                    format!(
                        "a host name or address with an optional :port, got {:?}",
                        r.host
                    ),
                );
            }
            if !matches!(r.scheme.as_str(), "" | "http" | "https") {
                bad(
                    &format!("conference.servers[{i}].scheme"),
                    format!("\"http\" or \"https\", got {:?}", r.scheme),
                );
            }
            if !is_login(&r.client_id) {
                bad(
                    &format!("conference.servers[{i}].client_id"),
                    "letters, digits, '.', '_' or '-'".into(),
                );
            }
            if r.client_secret.is_empty() {
                bad(
                    &format!("conference.servers[{i}].client_secret"),
                    "the secret that server's API client was given".into(),
                );
            }
            if !r.fingerprint.is_empty() && dais_core::fingerprint::parse(&r.fingerprint).is_none()
            {
                bad(
                    &format!("conference.servers[{i}].fingerprint"),
                    format!(
                        "a SHA-256 fingerprint: 32 bytes in hex, with or without colons (\"7B:B1:29:…\"), got {:?}",
                        r.fingerprint
                    ),
                );
            }
            if !r.fingerprint.is_empty() && !r.ca.is_empty() {
                bad(
                    &format!("conference.servers[{i}].ca"),
                    "one way to trust that server: fingerprint or ca, not both".into(),
                );
            }
            for (key, set) in [("fingerprint", &r.fingerprint), ("ca", &r.ca)] {
                if !set.is_empty() && r.scheme != "https" {
                    bad(
                        &format!("conference.servers[{i}].{key}"),
                        "only with scheme = \"https\" (it says how that server's certificate is trusted)".into(),
                    );
                }
            }
        }
        if !(10..=86_400).contains(&sv.link_ttl) {
            bad(
                "server.link_ttl",
                format!("10 to 86400 seconds, got {}", sv.link_ttl),
            );
        }
        if !is_login(&sv.room_login) {
            bad(
                "server.room_login",
                "a login of letters, digits, '.', '_' or '-'".into(),
            );
        }
        for (i, c) in sv.api_clients.iter().enumerate() {
            if !is_login(&c.id) {
                bad(
                    &format!("server.api_clients[{i}].id"),
                    "letters, digits, '.', '_' or '-'".into(),
                );
            }
            if sv.api_clients[..i].iter().any(|o| o.id == c.id) {
                bad(
                    &format!("server.api_clients[{i}].id"),
                    format!("a unique id; {:?} is used twice", c.id),
                );
            }
            if !c.secret_hash.expose().starts_with("$argon2") {
                bad(
                    &format!("server.api_clients[{i}].secret_hash"),
                    "an Argon2 hash from `dais config hash-secret`".into(),
                );
            }
        }
        for (i, u) in sv.users.iter().enumerate() {
            if !is_login(&u.login) {
                bad(
                    &format!("server.users[{i}].login"),
                    "letters, digits, '.', '_' or '-'".into(),
                );
            }
            if sv.users[..i]
                .iter()
                .any(|o| o.login.eq_ignore_ascii_case(&u.login))
            {
                bad(
                    &format!("server.users[{i}].login"),
                    format!("a unique login; {:?} is used twice", u.login),
                );
            }
            if !u.password_hash.expose().starts_with("$argon2") {
                bad(
                    &format!("server.users[{i}].password_hash"),
                    "an Argon2 hash from `dais config hash-secret`".into(),
                );
            }
        }
        if let Err(e) = tracing_filter_ok(&self.log.level) {
            bad(
                "log.level",
                format!("a tracing filter such as \"info\" ({e})"),
            );
        }
        out
    }
}

/// videotestsrc patterns a profile may name, and dais's own test card
/// (`testcard`: a frame counter, a moving block and colour patches).
pub const TEST_PATTERNS: &[&str] = &[
    "testcard",
    "smpte",
    "snow",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "checkers-1",
    "checkers-2",
    "checkers-4",
    "checkers-8",
    "circular",
    "blink",
    "smpte75",
    "zone-plate",
    "gamut",
    "chroma-zone-plate",
    "solid-color",
    "ball",
    "smpte100",
    "bar",
    "pinwheel",
    "spokes",
    "gradient",
    "colors",
];

/// audiotestsrc waves a profile may name.
pub const TEST_WAVES: &[&str] = &[
    "sine",
    "square",
    "saw",
    "triangle",
    "silence",
    "white-noise",
    "pink-noise",
    "sine-table",
    "ticks",
    "gaussian-noise",
    "red-noise",
    "blue-noise",
    "violet-noise",
];

fn check_video_size(
    bad: &mut impl FnMut(&str, String),
    section: &str,
    width: u32,
    height: u32,
    framerate: u32,
) {
    // The media section names its keys send_width, send_height, send_framerate.
    let p = if section == "media" { "send_" } else { "" };
    if !(16..=7680).contains(&width) || !width.is_multiple_of(2) {
        bad(
            &format!("{section}.{p}width"),
            format!("an even integer from 16 to 7680, got {width}"),
        );
    }
    if !(16..=4320).contains(&height) || !height.is_multiple_of(2) {
        bad(
            &format!("{section}.{p}height"),
            format!("an even integer from 16 to 4320, got {height}"),
        );
    }
    if !(1..=120).contains(&framerate) {
        bad(
            &format!("{section}.{p}framerate"),
            format!("an integer from 1 to 120, got {framerate}"),
        );
    }
}

fn need_element(bad: &mut impl FnMut(&str, String), section: &str, element: &Option<String>) {
    match element {
        Some(e) if is_element_name(e) => {}
        Some(e) => bad(
            &format!("{section}.element"),
            format!("a GStreamer element factory name (letters, digits, -, _), got {e:?}"),
        ),
        None => bad(
            &format!("{section}.element"),
            format!("an element name when {section} uses \"element\""),
        ),
    }
}

fn is_element_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn need_alsa_selector(
    bad: &mut impl FnMut(&str, String),
    section: &str,
    card: &Option<String>,
    usb_id: &Option<String>,
    device: &Option<String>,
) {
    if card.is_none() && usb_id.is_none() && device.is_none() {
        bad(
            &format!("{section}.card"),
            "an ALSA card name, usb_id or device to select the ALSA device".into(),
        );
    }
}

fn check_usb_id(bad: &mut impl FnMut(&str, String), key: &str, id: &str) {
    if parse_usb_id(id).is_none() {
        bad(
            key,
            format!("a USB id as vendor:product in hex, such as 046d:085e, got {id:?}"),
        );
    }
}

/// Parses `vvvv:pppp` (hex) into vendor and product ids.
pub fn parse_usb_id(id: &str) -> Option<(u16, u16)> {
    let (v, p) = id.split_once(':')?;
    if v.len() != 4 || p.len() != 4 {
        return None;
    }
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

fn is_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
}

fn tracing_filter_ok(level: &str) -> Result<(), String> {
    if level.trim().is_empty() {
        return Err("empty".into());
    }
    // Accept the directive grammar: target=level pairs or bare levels.
    for directive in level.split(',') {
        let lvl = directive.rsplit('=').next().unwrap_or("").trim();
        let known = ["trace", "debug", "info", "warn", "error", "off"];
        if !known.contains(&lvl.to_ascii_lowercase().as_str()) {
            return Err(format!("unknown level {lvl:?} in {directive:?}"));
        }
        if let Some((target, _)) = directive.split_once('=')
            && (target.trim().is_empty()
                || !target
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:-".contains(c)))
        {
            return Err(format!("bad target {target:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Settings::default().validate(), vec![]);
    }

    #[test]
    fn out_of_range_values_are_named() {
        let mut s = Settings::default();
        s.camera.framerate = 500;
        s.microphone.rate = 12_345;
        s.speaker.deadline_ms = 5000;
        s.media.tile_fit = "stretch".into();
        s.conference.induced_loss_permille = 201;
        let keys: Vec<_> = s.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "camera.framerate",
                "microphone.rate",
                "speaker.deadline_ms",
                "media.tile_fit",
                "conference.induced_loss_permille"
            ]
        );
    }

    #[test]
    fn v4l2_camera_needs_a_selector() {
        let mut s = Settings::default();
        s.camera.source = VideoSourceKind::V4l2;
        assert_eq!(s.validate()[0].key, "camera.device");
        s.camera.usb_id = Some("046d:085e".into());
        assert_eq!(s.validate(), vec![]);
        s.camera.usb_id = Some("46d:85e".into());
        assert_eq!(s.validate()[0].key, "camera.usb_id");
    }

    #[test]
    fn usb_ids_parse() {
        assert_eq!(parse_usb_id("046d:085e"), Some((0x046d, 0x085e)));
        assert_eq!(parse_usb_id("046d085e"), None);
        assert_eq!(parse_usb_id("zzzz:0000"), None);
    }

    #[test]
    fn log_filters_are_checked() {
        assert!(tracing_filter_ok("info").is_ok());
        assert!(tracing_filter_ok("dais=debug,warn").is_ok());
        assert!(tracing_filter_ok("loud").is_err());
        assert!(tracing_filter_ok("=info").is_err());
    }
}

//! The conference's own sounds: the join and leave tones (seed 004,
//! "play a tone when participants join or leave") and music on hold
//! ("play music while participants wait"), as 48 kHz mono samples.
//! Pure functions of the sample index: nothing here keeps time.

pub const RATE: u32 = 48_000;

/// A note: frequency and length.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Note {
    hz: f32,
    ms: u32,
}

const fn n(hz: f32, ms: u32) -> Note {
    Note { hz, ms }
}

/// A rising pair for a join, a falling pair for a leave.
const JOIN: [Note; 2] = [n(659.25, 140), n(987.77, 220)];
const LEAVE: [Note; 2] = [n(987.77, 140), n(659.25, 220)];

/// A slow, soft arpeggio in C major and A minor, looped.
const MUSIC: [Note; 16] = [
    n(261.63, 375),
    n(329.63, 375),
    n(392.00, 375),
    n(523.25, 375),
    n(392.00, 375),
    n(329.63, 375),
    n(261.63, 375),
    n(196.00, 375),
    n(220.00, 375),
    n(261.63, 375),
    n(329.63, 375),
    n(440.00, 375),
    n(329.63, 375),
    n(261.63, 375),
    n(220.00, 375),
    n(164.81, 375),
];

/// Which sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    Join,
    Leave,
    Music,
}

impl Sound {
    fn notes(self) -> &'static [Note] {
        match self {
            Sound::Join => &JOIN,
            Sound::Leave => &LEAVE,
            Sound::Music => &MUSIC,
        }
    }

    fn gain(self) -> f32 {
        match self {
            Sound::Join | Sound::Leave => 0.25,
            Sound::Music => 0.12,
        }
    }

    /// Length in samples (music: one loop).
    pub fn len(self) -> usize {
        self.notes()
            .iter()
            .map(|n| (n.ms * RATE / 1000) as usize)
            .sum()
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Sample `i` (music loops; tones are silent after their end).
    pub fn sample(self, i: usize) -> f32 {
        let len = self.len();
        let i = if self == Sound::Music { i % len } else { i };
        if i >= len {
            return 0.0;
        }
        let mut start = 0usize;
        for note in self.notes() {
            let l = (note.ms * RATE / 1000) as usize;
            if i < start + l {
                let k = i - start;
                let t = k as f32 / RATE as f32;
                // A short attack and a longer release: no clicks.
                let attack = (k as f32 / (0.01 * RATE as f32)).min(1.0);
                let release = ((l - k) as f32 / (0.06 * RATE as f32)).min(1.0);
                let env = attack * release;
                let w = 2.0 * std::f32::consts::PI * note.hz * t;
                // A little second harmonic makes it bell-like.
                return self.gain() * env * (w.sin() + 0.3 * (2.0 * w).sin()) / 1.3;
            }
            start += l;
        }
        0.0
    }
}

/// Fills `out` with signed 16-bit samples of `sound` from sample `from`.
pub fn fill(sound: Sound, from: usize, out: &mut [i16]) {
    for (k, o) in out.iter_mut().enumerate() {
        *o = (sound.sample(from + k) * i16::MAX as f32) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(s: Sound, from: usize, n: usize) -> f32 {
        let mut buf = vec![0i16; n];
        fill(s, from, &mut buf);
        (buf.iter().map(|x| (*x as f32).powi(2)).sum::<f32>() / n as f32).sqrt()
    }

    /// Zero crossings per second: twice the frequency of a clean tone.
    fn pitch(s: Sound, from: usize, n: usize) -> f32 {
        let mut buf = vec![0i16; n];
        fill(s, from, &mut buf);
        let z = buf.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        z as f32 * RATE as f32 / n as f32 / 2.0
    }

    #[test]
    fn tones_are_audible_short_and_end_in_silence() {
        for s in [Sound::Join, Sound::Leave] {
            assert!(s.len() < RATE as usize / 2, "under half a second");
            assert!(rms(s, 0, s.len()) > 2000.0);
            assert_eq!(rms(s, s.len(), 4800), 0.0);
        }
    }

    #[test]
    fn join_rises_and_leave_falls() {
        let first = 2400..(2400 + 2400);
        let second = 9000..(9000 + 2400);
        let j1 = pitch(Sound::Join, first.start, first.len());
        let j2 = pitch(Sound::Join, second.start, second.len());
        assert!(j2 > j1 * 1.3, "{j1} -> {j2}");
        let l1 = pitch(Sound::Leave, first.start, first.len());
        let l2 = pitch(Sound::Leave, second.start, second.len());
        assert!(l2 < l1 / 1.3, "{l1} -> {l2}");
    }

    #[test]
    fn music_loops_and_stays_soft() {
        let len = Sound::Music.len();
        assert_eq!(Sound::Music.sample(123), Sound::Music.sample(len + 123));
        let r = rms(Sound::Music, 0, len);
        assert!(r > 500.0 && r < 5000.0, "{r}");
        let peak = (0..len)
            .map(|i| Sound::Music.sample(i).abs())
            .fold(0.0, f32::max);
        assert!(peak < 0.2);
    }
}

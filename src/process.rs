//! dais's own process: which of its threads use the CPU, at what priority.
//!
//! `/status` names the busiest threads since the last time it was asked,
//! so that a room that stutters on a slow machine says where its CPU went
//! (a decoder, the panel, the speaker mix) and whether the threads that
//! move pictures run after the sound path ([`crate::media::threads`]).
//!
//! [`parse_stat`] reads one line of `/proc/<pid>/task/<tid>/stat` and
//! [`CpuWatch`] turns two readings into cores used; both are sans-IO.
//! [`read_threads`] is the edge that reads `/proc/self/task`.

use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcessError {
    #[error("{path}: {reason}")]
    Stat { path: String, reason: String },
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
}

/// One thread, as one reading of its stat line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSample {
    pub tid: u32,
    /// The thread's name (at most 15 bytes; GStreamer names its streaming
    /// threads after the pad whose task they run, `element:pad`).
    pub name: String,
    pub nice: i32,
    /// User plus system time, in clock ticks.
    pub ticks: u64,
}

/// Parses a `stat` line. `path` names the file in errors.
pub fn parse_stat(path: &str, text: &str) -> Result<ThreadSample, ProcessError> {
    let bad = |reason: String| ProcessError::Stat {
        path: path.to_string(),
        reason,
    };
    let open = text
        .find('(')
        .ok_or_else(|| bad("no '(' before the thread's name (field 2)".into()))?;
    // The name may itself hold ')' and spaces: it ends at the last ')'.
    let close = text
        .rfind(')')
        .filter(|c| *c > open)
        .ok_or_else(|| bad("no ')' after the thread's name (field 2)".into()))?;
    let tid = text[..open].trim().parse::<u32>().map_err(|_| {
        bad(format!(
            "field 1 (tid) is not a number: {:?}",
            text[..open].trim()
        ))
    })?;
    let name = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // Fields are numbered from 1 as in proc(5); `rest[0]` is field 3.
    let field = |n: usize, what: &str| -> Result<&str, ProcessError> {
        rest.get(n - 3)
            .copied()
            .ok_or_else(|| bad(format!("field {n} ({what}) is missing")))
    };
    let number = |n: usize, what: &str| -> Result<u64, ProcessError> {
        let s = field(n, what)?;
        s.parse()
            .map_err(|_| bad(format!("field {n} ({what}) is not a number: {s:?}")))
    };
    let utime = number(14, "utime")?;
    let stime = number(15, "stime")?;
    let nice_s = field(19, "nice")?;
    let nice = nice_s
        .parse::<i32>()
        .map_err(|_| bad(format!("field 19 (nice) is not a number: {nice_s:?}")))?;
    Ok(ThreadSample {
        tid,
        name,
        nice,
        ticks: utime.saturating_add(stime),
    })
}

/// A thread's share of the CPU over a stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadCpu {
    pub tid: u32,
    pub name: String,
    pub nice: i32,
    /// Cores used (1.0 is one core all the time).
    pub cores: f64,
}

/// What the process used between two readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuReport {
    /// How long the stretch was (ms).
    pub over_ms: u64,
    /// Cores the whole process used.
    pub cores: f64,
    /// The busiest threads, busiest first.
    pub threads: Vec<ThreadCpu>,
}

/// Turns readings of the process's threads into cores used.
#[derive(Debug, Default)]
pub struct CpuWatch {
    last: Option<(Duration, HashMap<u32, u64>)>,
}

impl CpuWatch {
    /// A reading at `now` (any monotonic time) with `hz` ticks a second.
    /// Reports on the stretch since the last reading (since the process's
    /// threads began, for the first), its `top` busiest threads.
    pub fn update(
        &mut self,
        now: Duration,
        hz: u64,
        threads: &[ThreadSample],
        top: usize,
    ) -> CpuReport {
        let (since, before) = match self.last.take() {
            Some((t, m)) => (now.saturating_sub(t), m),
            // No earlier reading: everything the threads have used so far.
            None => (now, HashMap::new()),
        };
        let secs = since.as_secs_f64().max(1e-3);
        let hz = hz.max(1) as f64;
        let mut out: Vec<ThreadCpu> = threads
            .iter()
            .map(|t| {
                let used = t
                    .ticks
                    .saturating_sub(before.get(&t.tid).copied().unwrap_or(0));
                ThreadCpu {
                    tid: t.tid,
                    name: t.name.clone(),
                    nice: t.nice,
                    cores: used as f64 / hz / secs,
                }
            })
            .collect();
        let cores = out.iter().map(|t| t.cores).sum();
        out.sort_by(|a, b| b.cores.total_cmp(&a.cores).then(a.tid.cmp(&b.tid)));
        out.truncate(top);
        self.last = Some((now, threads.iter().map(|t| (t.tid, t.ticks)).collect()));
        CpuReport {
            over_ms: u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
            cores,
            threads: out,
        }
    }
}

/// Reads every thread of this process. A thread that ends while it is
/// read is left out.
pub fn read_threads() -> Result<Vec<ThreadSample>, ProcessError> {
    let dir = "/proc/self/task";
    let entries = std::fs::read_dir(dir).map_err(|e| ProcessError::Read {
        path: dir.into(),
        reason: e.to_string(),
    })?;
    let mut out = vec![];
    for e in entries.flatten() {
        let path = e.path().join("stat");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        out.push(parse_stat(&path.display().to_string(), &text)?);
    }
    Ok(out)
}

/// Clock ticks a second (`_SC_CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "4242 (rdq7:src) S 1 1 1 0 -1 4194624 1 0 0 0 350 25 0 0 30 10 9 0 100 0 0";

    #[test]
    fn a_stat_line_gives_name_nice_and_ticks() {
        let t = parse_stat("stat", LINE).unwrap();
        assert_eq!(
            t,
            ThreadSample {
                tid: 4242,
                name: "rdq7:src".into(),
                nice: 10,
                ticks: 375
            }
        );
    }

    #[test]
    fn a_name_with_parentheses_and_spaces_ends_at_the_last_parenthesis() {
        let t = parse_stat("stat", &LINE.replace("(rdq7:src)", "(a) b (c)")).unwrap();
        assert_eq!(t.name, "a) b (c");
        assert_eq!(t.ticks, 375);
    }

    #[test]
    fn a_short_or_broken_line_names_the_field() {
        let e = parse_stat("/proc/self/task/1/stat", "1 (x) S 1 2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/proc/self/task/1/stat: field 14 (utime) is missing"
        );
        let e = parse_stat("stat", &LINE.replace(" 350 ", " x ")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "stat: field 14 (utime) is not a number: \"x\""
        );
        let e = parse_stat("stat", "x (y) S").unwrap_err();
        assert_eq!(e.to_string(), "stat: field 1 (tid) is not a number: \"x\"");
        let e = parse_stat("stat", "no name here").unwrap_err();
        assert!(e.to_string().contains("field 2"), "{e}");
    }

    #[test]
    fn cores_are_ticks_over_the_stretch_busiest_first() {
        let mut w = CpuWatch::default();
        let t = |tid, ticks| ThreadSample {
            tid,
            name: format!("t{tid}"),
            nice: 0,
            ticks,
        };
        w.update(Duration::from_secs(10), 100, &[t(1, 100), t(2, 100)], 5);
        // Two seconds later: thread 1 used 1.5 s, thread 2 0.2 s, and
        // thread 3 is new with 0.4 s.
        let r = w.update(
            Duration::from_secs(12),
            100,
            &[t(1, 250), t(2, 120), t(3, 40)],
            2,
        );
        assert_eq!(r.over_ms, 2000);
        assert!((r.cores - 1.05).abs() < 1e-9, "{}", r.cores);
        let names: Vec<_> = r.threads.iter().map(|t| (t.tid, t.cores)).collect();
        assert_eq!(names, vec![(1, 0.75), (3, 0.2)]);
    }

    #[test]
    fn this_process_reads_and_its_busy_thread_shows() {
        let mut w = CpuWatch::default();
        let start = std::time::Instant::now();
        w.update(
            start.elapsed(),
            ticks_per_second(),
            &read_threads().unwrap(),
            50,
        );
        let (spun_tx, spun_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let spin = std::thread::Builder::new()
            .name("spin-test".into())
            .spawn(move || {
                // Spins until it has used 300 ms of CPU (however long
                // that takes on a busy machine), then waits to be read.
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while thread_ticks() < 30 && t.elapsed() < Duration::from_secs(60) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                let _ = spun_tx.send(());
                let _ = done_rx.recv_timeout(Duration::from_secs(60));
            })
            .unwrap();
        spun_rx.recv_timeout(Duration::from_secs(90)).unwrap();
        let r = w.update(
            start.elapsed(),
            ticks_per_second(),
            &read_threads().unwrap(),
            50,
        );
        let _ = done_tx.send(());
        spin.join().unwrap();
        let spun = r.threads.iter().find(|t| t.name == "spin-test");
        assert!(
            spun.is_some_and(|t| t.cores > 0.0),
            "the spinning thread is not among {:?}",
            r.threads
        );
    }

    /// The calling thread's CPU ticks.
    fn thread_ticks() -> u64 {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let path = format!("/proc/self/task/{tid}/stat");
        parse_stat(&path, &std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .ticks
    }

    proptest::proptest! {
        /// Whatever a stat file holds, reading it does not panic, and a
        /// line that parses gives back the tid it starts with.
        #[test]
        fn any_stat_text_is_read_or_refused_without_panic(text in "\\PC{0,200}") {
            if let Ok(t) = parse_stat("stat", &text) {
                let quoted = format!("({})", t.name);
                proptest::prop_assert!(text.contains(&quoted));
            }
        }

        #[test]
        fn any_thread_name_round_trips(name in "[^\\x00]{0,15}", ticks in 0u64..1_000_000, nice in -20i32..20) {
            let line = format!("7 ({name}) R 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 {nice} 1 0 1 0 0");
            let t = parse_stat("stat", &line).unwrap();
            proptest::prop_assert_eq!(t.name, name);
            proptest::prop_assert_eq!(t.ticks, ticks);
            proptest::prop_assert_eq!(t.nice, nice);
        }
    }
}

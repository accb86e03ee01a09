//! Home's "Today" list: the conferences on the room's own server that run
//! now or start today, soonest first.

use crate::conference::{Conference, RunState};

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub cid: String,
    pub topic: String,
    /// Unix seconds of today's start; `None`: running now, unscheduled.
    pub start: Option<i64>,
    pub running: bool,
}

/// The conferences running now or starting in `[from, to)` (today, in the
/// room's time zone), at most `limit`, running ones first, then by start.
pub fn today(confs: &[Conference], from: i64, to: i64, limit: usize) -> Vec<Item> {
    let mut items: Vec<Item> = confs
        .iter()
        .filter_map(|c| {
            let start = c.schedule.occurrences(from, to, 1).first().map(|o| o.0);
            let running = c.state == RunState::Running;
            (running || start.is_some()).then(|| Item {
                cid: c.id.to_string(),
                topic: c.topic.clone(),
                start,
                running,
            })
        })
        .collect();
    items.sort_by(|a, b| {
        b.running
            .cmp(&a.running)
            .then(a.start.cmp(&b.start))
            .then(a.topic.cmp(&b.topic))
    });
    items.truncate(limit);
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::schedule::Schedule;

    fn conf(cid: &str, schedule: Schedule, running: bool) -> Conference {
        let mut patch = crate::conference::Patch {
            topic: Some(format!("Topic {cid}")),
            owner: Some("room".into()),
            ..Default::default()
        };
        patch.id = Some(cid.into());
        let mut c = Conference::create(patch, 0, || unreachable!(), |_| false).unwrap();
        c.schedule = schedule;
        c.state = if running {
            RunState::Running
        } else {
            RunState::Stopped
        };
        c
    }

    #[test]
    fn running_first_then_todays_starts_in_order() {
        let day = 20_000 * 86_400; // a midnight, UTC
        let at = |h: i64| day + h * 3600;
        let once = |h| Schedule::OneTime {
            start: at(h),
            duration: 3600,
            offset_minutes: 0,
        };
        let confs = vec![
            conf("late", once(16), false),
            conf("early", once(9), false),
            conf("tomorrow", once(24 + 9), false),
            conf("yesterday", once(-15), false),
            conf("room-now", Schedule::None, true),
            conf("idle", Schedule::None, false),
        ];
        let items = today(&confs, day, day + 86_400, 10);
        let cids: Vec<&str> = items.iter().map(|i| i.cid.as_str()).collect();
        assert_eq!(cids, ["room-now", "early", "late"]);
        assert_eq!(items[1].start, Some(at(9)));
        assert_eq!(today(&confs, day, day + 86_400, 2).len(), 2);
    }
}

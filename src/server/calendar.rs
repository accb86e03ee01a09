//! Calendar entries for scheduled conferences: RFC 5545 iCalendar text
//! (with an RRULE for weekly ones) and "add to calendar" links for Google
//! and Outlook.

use crate::conference::{Conference, Schedule};

use super::links::pct;

const DAY: i64 = 86_400;
const BYDAY: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// The first occurrence of a conference's schedule, stable across calls:
/// the first start at or after the conference was created. `None` for a
/// virtual room.
pub fn first_occurrence(c: &Conference) -> Option<(i64, i64)> {
    match c.schedule {
        Schedule::None => None,
        Schedule::OneTime {
            start, duration, ..
        } => Some((start, start + duration as i64)),
        Schedule::Weekly { .. } => {
            let s = c
                .schedule
                .window_at(c.created_at)
                .map(|w| w.0)
                .or_else(|| c.schedule.next_start_after(c.created_at - 1))?;
            Some((s, s + c.schedule.duration() as i64))
        }
    }
}

fn utc(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".into())
}

/// The RRULE for a weekly schedule, with weekdays as they fall in UTC
/// (DTSTART is in UTC, so BYDAY must be too).
pub fn rrule(c: &Conference) -> Option<String> {
    let Schedule::Weekly {
        days,
        start_minute,
        offset_minutes,
        ..
    } = c.schedule
    else {
        return None;
    };
    // How many days the UTC start lies from the local day: -1, 0 or +1.
    let shift = (start_minute as i64 * 60 - offset_minutes as i64 * 60).div_euclid(DAY);
    let mut byday: Vec<(i64, &str)> = days
        .iso()
        .into_iter()
        .map(|d| {
            let i = (d as i64 - 1 + shift).rem_euclid(7);
            (i, BYDAY[i as usize])
        })
        .collect();
    byday.sort();
    byday.dedup();
    Some(format!(
        "FREQ=WEEKLY;BYDAY={}",
        byday.iter().map(|(_, d)| *d).collect::<Vec<_>>().join(",")
    ))
}

/// Escapes TEXT values (RFC 5545 §3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets without splitting a UTF-8 character.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += n;
    }
    out.push_str("\r\n");
}

/// The iCalendar text for a conference, or `None` for a virtual room.
pub fn ics(c: &Conference, base: &str, host: &str, now: i64) -> Option<String> {
    let (start, end) = first_occurrence(c)?;
    let join = format!("{base}/webrtc/{}", pct(c.id.as_str()));
    let mut description = c.description.clone();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "Join in a browser: {join}\nConference ID: {}",
        c.id
    ));
    if c.options.pin.is_some() {
        description.push_str("\nA PIN is required to join.");
    }
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//dais//conference server//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}@{}", c.id, host),
        format!("DTSTAMP:{}", utc(now)),
        format!("DTSTART:{}", utc(start)),
        format!("DTEND:{}", utc(end)),
    ];
    if let Some(r) = rrule(c) {
        lines.push(format!("RRULE:{r}"));
    }
    lines.push(format!("SUMMARY:{}", text(&c.topic)));
    lines.push(format!("DESCRIPTION:{}", text(&description)));
    lines.push(format!("LOCATION:{}", text(&join)));
    lines.push(format!("URL:{join}"));
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for l in lines {
        fold(&l, &mut out);
    }
    Some(out)
}

/// Links that open Google Calendar or Outlook with the event filled in,
/// plus the ICS URL.
pub fn calendars(c: &Conference, base: &str, api_prefix: &str) -> Option<serde_json::Value> {
    let (start, end) = first_occurrence(c)?;
    let join = format!("{base}/webrtc/{}", pct(c.id.as_str()));
    let details = format!("{}\n\nJoin: {join}", c.description)
        .trim()
        .to_string();
    let mut google = format!(
        "https://calendar.google.com/calendar/render?action=TEMPLATE&text={}&dates={}/{}&details={}&location={}",
        pct(&c.topic),
        utc(start),
        utc(end),
        pct(&details),
        pct(&join)
    );
    if let Some(r) = rrule(c) {
        google.push_str(&format!("&recur={}", pct(&format!("RRULE:{r}"))));
    }
    let iso = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let outlook = format!(
        "https://outlook.office.com/calendar/0/deeplink/compose?path=%2Fcalendar%2Faction%2Fcompose&rru=addevent&subject={}&startdt={}&enddt={}&body={}&location={}",
        pct(&c.topic),
        pct(&iso(start)),
        pct(&iso(end)),
        pct(&details),
        pct(&join)
    );
    Some(serde_json::json!({
        "google": google,
        "outlook": outlook,
        "ics": format!("{base}{api_prefix}/conferences/{}/ics", pct(c.id.as_str())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::{Cid, Days, Patch};

    fn conf(schedule: Schedule) -> Conference {
        Conference::create(
            Patch {
                topic: Some("Consultation; Dr. Smith, room 4".into()),
                owner: Some("doc".into()),
                schedule: Some(schedule),
                ..Default::default()
            },
            1_798_000_000,
            || Cid::parse("0987654321").unwrap(),
            |_| false,
        )
        .unwrap()
    }

    #[test]
    fn one_time_event_from_the_seed() {
        let c = conf(Schedule::OneTime {
            start: 1_798_794_000,
            duration: 1800,
            offset_minutes: 180,
        });
        let ics = ics(
            &c,
            "https://video.company.com",
            "video.company.com",
            1_798_000_000,
        )
        .unwrap();
        assert!(ics.contains("DTSTART:20270101T090000Z\r\n"), "{ics}");
        assert!(ics.contains("DTEND:20270101T093000Z\r\n"));
        assert!(ics.contains("SUMMARY:Consultation\\; Dr. Smith\\, room 4\r\n"));
        assert!(!ics.contains("RRULE"));
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "unfolded line: {line}");
        }
    }

    #[test]
    fn weekly_byday_follows_utc() {
        // Tuesday and Friday at 01:30 Moscow time are Monday and Thursday in UTC.
        let c = conf(Schedule::Weekly {
            days: Days::from_iso(&[2, 5]).unwrap(),
            start_minute: 90,
            duration: 3600,
            offset_minutes: 180,
        });
        assert_eq!(rrule(&c).unwrap(), "FREQ=WEEKLY;BYDAY=MO,TH");
        let c = conf(Schedule::Weekly {
            days: Days::from_iso(&[2, 5]).unwrap(),
            start_minute: 9 * 60,
            duration: 3600,
            offset_minutes: 180,
        });
        assert_eq!(rrule(&c).unwrap(), "FREQ=WEEKLY;BYDAY=TU,FR");
    }

    #[test]
    fn virtual_rooms_have_no_calendar_entry() {
        let c = conf(Schedule::None);
        assert!(ics(&c, "x", "x", 0).is_none());
        assert!(calendars(&c, "x", "/api/v3.11").is_none());
    }

    #[test]
    fn long_utf8_lines_fold_on_character_boundaries() {
        let mut out = String::new();
        fold(&format!("SUMMARY:{}", "Совещание ".repeat(20)), &mut out);
        for l in out.split("\r\n") {
            assert!(l.len() <= 75);
        }
        let unfolded = out.replace("\r\n ", "");
        assert!(unfolded.starts_with("SUMMARY:Совещание"));
    }
}

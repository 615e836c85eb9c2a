//! Backup schedules: a CronJob's `schedule` and `timeZone`, checked as Kubernetes checks
//! them, and the times they name. One implementation for the CRD's pattern, the CLI's
//! checks, the status command's "next run" and the test cluster's CronJob controller.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The time zone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "Etc/UTC";

/// One field of a standard (5-field) cron expression as Kubernetes' parser takes it:
/// `*`, `?`, a number or a three-letter name (`5`, `MON`, `JAN`), a range (`1-5`), each with an optional step
/// (`*/15`), in a comma-separated list.
const FIELD: &str = r"(\*|\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?(,(\*|\?|([0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?)(/[0-9]+)?)*";

/// The CRD's pattern of `spec.backup_schedule`: five fields or one of the descriptors.
/// Ranges of values (a minute of 75) are checked by [`Schedule::parse`].
pub fn schedule_pattern() -> String {
    format!(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|{FIELD}( +{FIELD}){{4}})$")
}

/// The CRD's pattern of `spec.backup_timezone`: an IANA name such as `Europe/Moscow`.
pub const TIMEZONE_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";

/// Why a schedule cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(
        "spec.backup_schedule {0:?} is not a cron expression ({1}); use five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\", or @daily, @hourly, @weekly, @monthly"
    )]
    Expression(String, String),
    #[error(
        "spec.backup_timezone {0:?} is not a time zone of the IANA database; use a name such as \"Etc/UTC\" or \"Europe/Moscow\""
    )]
    TimeZone(String),
}

/// A checked schedule: when backups run, in which time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

impl Schedule {
    /// Check `expression` in `timezone` (the default when `None`) as Kubernetes would.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let refuse = |why: String| ScheduleError::Expression(expression.into(), why);
        if !has_kubernetes_shape(expression) {
            return Err(refuse("unknown syntax".into()));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| refuse(e.to_string()))?;
        let name = timezone.unwrap_or(DEFAULT_TIMEZONE);
        // "Local" is the node's zone, which Kubernetes refuses: the time must not depend
        // on where the controller runs.
        if name.eq_ignore_ascii_case("local") {
            return Err(ScheduleError::TimeZone(name.into()));
        }
        let zone = jiff::tz::db()
            .get(name)
            .map_err(|_| ScheduleError::TimeZone(name.into()))?;
        Ok(Schedule { cron, zone })
    }

    /// The first scheduled time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp())
    }
}

/// Whether `expression` has the shape of [`schedule_pattern`] (what the API server's
/// pattern check allows): a descriptor, or five fields of numbers, three-letter names,
/// `*`, `?`, ranges, steps and lists. croner alone would also take `L`, `W` and `#`,
/// which Kubernetes' parser refuses.
fn has_kubernetes_shape(expression: &str) -> bool {
    const DESCRIPTORS: &[&str] = &[
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if expression.starts_with('@') {
        return DESCRIPTORS.contains(&expression);
    }
    let fields: Vec<&str> = expression.split(' ').filter(|f| !f.is_empty()).collect();
    fields.len() == 5
        && !expression.starts_with(' ')
        && !expression.ends_with(' ')
        && fields.iter().all(|f| {
            f.split(',').all(|part| {
                let (range, step) = part.split_once('/').unwrap_or((part, "1"));
                !step.is_empty()
                    && step.bytes().all(|b| b.is_ascii_digit())
                    && (range == "*"
                        || range == "?"
                        || range
                            .split_once('-')
                            .map_or_else(|| word(range), |(low, high)| word(low) && word(high)))
            })
        })
}

/// A number, or a month or weekday name (`JAN`, `MON`).
fn word(text: &str) -> bool {
    let all = |test: fn(&u8) -> bool| !text.is_empty() && text.bytes().all(|b| test(&b));
    all(u8::is_ascii_digit) || (text.len() == 3 && all(u8::is_ascii_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn kubernetes_expressions_parse_and_name_their_next_run() {
        let daily = Schedule::parse("0 3 * * *", None).expect("valid");
        assert_eq!(
            daily.next_after(at("2026-12-05T10:15:00Z")),
            Some(at("2026-12-06T03:00:00Z"))
        );
        let every_minute = Schedule::parse("* * * * *", None).expect("valid");
        // Strictly after: a run due at this very minute is not "next".
        assert_eq!(
            every_minute.next_after(at("2026-12-05T10:15:00Z")),
            Some(at("2026-12-05T10:16:00Z"))
        );
        let weekdays = Schedule::parse("30 2 * * MON-FRI", Some("Europe/Moscow")).expect("valid");
        // Saturday 5 December: the next weekday is Monday, 02:30 in Moscow (UTC+3).
        assert_eq!(
            weekdays.next_after(at("2026-12-05T10:00:00Z")),
            Some(at("2026-12-06T23:30:00Z"))
        );
        for ok in [
            "@daily",
            "@hourly",
            "*/15 * * * *",
            "0 0 1,15 * ?",
            "0 22 * JAN-MAR 0",
        ] {
            Schedule::parse(ok, None).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn what_kubernetes_refuses_is_refused_with_the_reason() {
        for bad in [
            "",
            "0 3 * *",
            "0 3 * * * *",
            "75 3 * * *",
            "0 25 * * *",
            "@every 1h",
            "@reboot",
            "0 3 L * *",
            "0 3 * * 1#2",
            "0 3 * * FRIDAY",
            "TZ=UTC 0 3 * * *",
            " 0 3 * * *",
        ] {
            let error = Schedule::parse(bad, None).expect_err(bad);
            assert!(
                matches!(error, ScheduleError::Expression(..)),
                "{bad}: {error}"
            );
            assert!(error.to_string().contains("e.g. \"0 3 * * *\""), "{error}");
        }
        for zone in ["Mars/Olympus", "Local", "UTC+3"] {
            assert_eq!(
                Schedule::parse("0 3 * * *", Some(zone)).expect_err(zone),
                ScheduleError::TimeZone(zone.into())
            );
        }
        Schedule::parse("0 3 * * *", Some("Etc/UTC")).expect("the default zone");
    }
}

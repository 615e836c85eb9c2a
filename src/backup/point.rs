//! The point a restore replays the archived binary log up to (`restore --to` and
//! `--to-position`), as the user writes it and as the restore script reads it.
//!
//! Pure: the clock is passed in.

use std::fmt;

use jiff::Timestamp;

/// A point in the instance's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestorePoint {
    /// Everything logged before this second (UTC); the events of the second itself and
    /// later are not applied (`--stop-datetime`).
    Time(Timestamp),
    /// Everything logged before this position of this binlog file (`--stop-position`).
    Position { file: String, pos: u64 },
}

/// Why a point cannot be restored to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    #[error(
        "{0:?} is not an RFC 3339 time: write it as 2026-12-05T10:15:00Z or 2026-12-05T13:15:00+03:00"
    )]
    BadTime(String),
    #[error(
        "{0:?} is not a binlog position: write it as FILE:POS, e.g. binlog.000042:1234 (mysqlbinlog prints positions as `# at POS`)"
    )]
    BadPosition(String),
    #[error("{0} is in the future: nothing is logged after now ({1})")]
    Future(String, String),
}

impl RestorePoint {
    /// `--to`: an RFC 3339 time with a zone or offset, not after `now`. Fractions of a
    /// second are dropped: the binary log records whole seconds.
    pub fn time(input: &str, now: Timestamp) -> Result<Self, PointError> {
        let at: Timestamp = input
            .trim()
            .parse()
            .map_err(|_| PointError::BadTime(input.to_string()))?;
        let at = Timestamp::from_second(at.as_second())
            .map_err(|_| PointError::BadTime(input.to_string()))?;
        if at > now {
            return Err(PointError::Future(
                utc_rfc3339(at),
                utc_rfc3339(Timestamp::from_second(now.as_second()).unwrap_or(now)),
            ));
        }
        Ok(RestorePoint::Time(at))
    }

    /// `--to-position`: `FILE:POS`, FILE a binlog name as `SHOW BINARY LOGS` lists it.
    pub fn position(input: &str) -> Result<Self, PointError> {
        let bad = || PointError::BadPosition(input.to_string());
        let (file, pos) = input.trim().rsplit_once(':').ok_or_else(bad)?;
        let (base, seq) = file.rsplit_once('.').ok_or_else(bad)?;
        let name_ok = !base.is_empty()
            && !base.starts_with('.')
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let seq_ok = !seq.is_empty() && seq.chars().all(|c| c.is_ascii_digit());
        if !name_ok || !seq_ok {
            return Err(bad());
        }
        let pos = pos.parse().map_err(|_| bad())?;
        Ok(RestorePoint::Position {
            file: file.to_string(),
            pos,
        })
    }

    /// The script's environment: `TARGET_TIME` (UTC `YYYY-MM-DD HH:MM:SS`, what
    /// `mysqlbinlog --stop-datetime` reads under `TZ=UTC0`) with `TARGET_EPOCH`, or
    /// `TARGET_POSITION`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        use super::scripts::{ENV_TARGET_EPOCH, ENV_TARGET_POSITION, ENV_TARGET_TIME};
        match self {
            RestorePoint::Time(at) => vec![
                (
                    ENV_TARGET_TIME,
                    at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                ),
                (ENV_TARGET_EPOCH, at.as_second().to_string()),
            ],
            RestorePoint::Position { file, pos } => {
                vec![(ENV_TARGET_POSITION, format!("{file}:{pos}"))]
            }
        }
    }
}

/// RFC 3339 in UTC, to the second: how the restore script and `status` write times.
pub fn utc_rfc3339(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl fmt::Display for RestorePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestorePoint::Time(at) => f.write_str(&utc_rfc3339(*at)),
            RestorePoint::Position { file, pos } => write!(f, "{file}:{pos}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-05T12:00:00Z".parse().expect("time")
    }

    #[test]
    fn a_time_with_an_offset_becomes_utc_whole_seconds() {
        let point = RestorePoint::time("2026-12-05T13:15:00.750+03:00", now()).expect("time");
        assert_eq!(point.to_string(), "2026-12-05T10:15:00Z");
        assert_eq!(
            point.env(),
            [
                ("TARGET_TIME", "2026-12-05 10:15:00".to_string()),
                ("TARGET_EPOCH", "1796465700".to_string()),
            ]
        );
    }

    #[test]
    fn a_time_without_a_zone_or_in_the_future_is_refused() {
        for input in [
            "2026-12-05 10:15:00",
            "2026-12-05T10:15:00",
            "yesterday",
            "",
        ] {
            assert_eq!(
                RestorePoint::time(input, now()),
                Err(PointError::BadTime(input.to_string())),
                "{input}"
            );
        }
        let future = RestorePoint::time("2026-12-05T12:00:01Z", now()).expect_err("future");
        assert_eq!(
            future.to_string(),
            "2026-12-05T12:00:01Z is in the future: nothing is logged after now (2026-12-05T12:00:00Z)"
        );
        assert!(RestorePoint::time("2026-12-05T12:00:00Z", now()).is_ok());
    }

    #[test]
    fn positions_are_a_binlog_name_and_a_number() {
        assert_eq!(
            RestorePoint::position("binlog.000042:1234"),
            Ok(RestorePoint::Position {
                file: "binlog.000042".into(),
                pos: 1234
            })
        );
        assert_eq!(
            RestorePoint::position("binlog.000042:1234")
                .expect("position")
                .env(),
            [("TARGET_POSITION", "binlog.000042:1234".to_string())]
        );
        for input in [
            "binlog.000042",
            "binlog:12",
            "binlog.x1:12",
            ".000001:4",
            "../binlog.000001:4",
            "bin log.000001:4",
            "binlog.000001:-4",
            "binlog.000001:",
            "binlog.000001:4;rm",
        ] {
            assert_eq!(
                RestorePoint::position(input),
                Err(PointError::BadPosition(input.to_string())),
                "{input}"
            );
        }
    }
}

//! The text views of `status`, rendered from the reports alone: kubectl's borderless
//! tables, and colour (phase, section headings) only when stdout is a terminal.

use std::io::IsTerminal;

use comfy_table::{Cell, Color, Table, presets};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use super::report::{
    EventReport, InstanceReport, PointInTimeReport, ScheduleReport, StatusReport, parse_time,
};

/// How cells are decorated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty (no-color.org).
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colour: std::io::stdout().is_terminal() && !no_color,
        }
    }

    #[cfg(test)]
    pub const PLAIN: Self = Self { colour: false };

    fn bold(self, text: &str) -> String {
        if self.colour {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn phase(self, phase: &str) -> String {
        if !self.colour {
            return phase.to_string();
        }
        let code = match phase_colour(phase) {
            Color::Green => 32,
            Color::Red => 31,
            _ => 33,
        };
        format!("\x1b[{code}m{phase}\x1b[0m")
    }

    fn phase_cell(self, phase: &str) -> Cell {
        let cell = Cell::new(phase);
        if self.colour {
            cell.fg(phase_colour(phase))
        } else {
            cell
        }
    }
}

/// Ready green, Failed red, everything on its way somewhere yellow.
fn phase_colour(phase: &str) -> Color {
    match phase {
        "Ready" => Color::Green,
        "Failed" => Color::Red,
        _ => Color::Yellow,
    }
}

/// What an absent value looks like in a table (as kubectl prints it).
const NONE: &str = "<none>";

fn or_none(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or(NONE).to_string()
}

/// The instances as kubectl prints a list: upper-case headers, columns three spaces apart;
/// `wide` adds image, storage class, last backup and message.
pub fn instances(
    items: &[InstanceReport],
    with_namespace: bool,
    wide: bool,
    now: Timestamp,
    style: Style,
) -> String {
    let mut header = Vec::new();
    if with_namespace {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "PHASE", "DATABASE", "STORAGE", "AGE"]);
    if wide {
        header.extend(["IMAGE", "STORAGE CLASS", "LAST BACKUP", "MESSAGE"]);
    }
    let rows = items.iter().map(|m| {
        let mut row = Vec::new();
        if with_namespace {
            row.push(Cell::new(&m.namespace));
        }
        row.extend([
            Cell::new(&m.name),
            style.phase_cell(&m.phase),
            Cell::new(&m.database),
            Cell::new(&m.storage_size),
            Cell::new(age(parse_time(m.creation_timestamp.as_deref()), now)),
        ]);
        if wide {
            row.extend([
                Cell::new(&m.image),
                Cell::new(or_none(m.storage_class.as_deref())),
                Cell::new(or_none(m.last_backup.as_deref())),
                Cell::new(or_none(m.message.as_deref())),
            ]);
        }
        row
    });
    table(&header, rows, style)
}

/// A borderless table (kubectl's look), trailing blanks trimmed, cells on one line.
fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>, style: Style) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    if style.colour {
        table.enforce_styling().style_text_only();
    } else {
        table.force_no_tty();
    }
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 3 }));
    }
    // NOTHING draws its (absent) left border as a blank column: drop it.
    table
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table of plain strings.
fn text_table<R: IntoIterator<Item = String>>(
    header: &[&str],
    rows: impl IntoIterator<Item = R>,
    style: Style,
) -> String {
    table(
        header,
        rows.into_iter()
            .map(|r| r.into_iter().map(|c| Cell::new(one_line(&c))).collect()),
        style,
    )
}

/// The detail view of `status NAME`; `wide` shows full checksums and more columns.
pub fn detail(report: &StatusReport, now: Timestamp, wide: bool, style: Style) -> String {
    let m = &report.instance;
    let mut out = String::new();
    let mut field = |label: &str, value: String| {
        out.push_str(&format!(
            "{:<20}{}\n",
            format!("{label}:"),
            one_line(&value)
        ));
    };
    field("Name", m.name.clone());
    field("Namespace", m.namespace.clone());
    field("Phase", style.phase(&m.phase));
    field("Message", or_none(m.message.as_deref()));
    field("Image", m.image.clone());
    field("Running image", or_none(m.running_image.as_deref()));
    field("Database", m.database.clone());
    field(
        "Storage",
        match &m.storage_class {
            Some(class) => format!("{}, storage class {class}", m.storage_size),
            None => format!("{}, hostPath volume (no storage class)", m.storage_size),
        },
    );
    field(
        "Password",
        match m.password.source.as_str() {
            "inline" => format!(
                "inline in the spec, kept in Secret {} (key {:?})",
                m.password.secret, m.password.key
            ),
            _ => format!(
                "from Secret {} (key {:?})",
                m.password.secret, m.password.key
            ),
        },
    );
    field("Backup retention", m.backup_retention.to_string());
    field("Last backup", or_none(m.last_backup.as_deref()));
    if let Some(schedule) = &report.schedule {
        for (label, value) in schedule_fields(schedule, now) {
            field(label, value);
        }
    }
    if let Some(pitr) = &report.point_in_time {
        field("Point in time", point_in_time_field(pitr));
    }
    field("Last restore", or_none(m.last_restore.as_deref()));
    field(
        "Generation",
        match (m.generation, m.observed_generation) {
            (Some(g), Some(o)) if o >= g => format!("{g}, observed {o}"),
            (Some(g), Some(o)) => {
                format!("{g}, observed {o} (the operator has not caught up with the spec)")
            }
            (Some(g), None) => format!("{g}, not observed yet"),
            (None, Some(o)) => format!("observed {o}"),
            (None, None) => "<unknown>".into(),
        },
    );
    field("Age", age(parse_time(m.creation_timestamp.as_deref()), now));
    if let Some(t) = &m.deletion_timestamp {
        field(
            "Deleting",
            format!("requested {} ago", age(parse_time(Some(t)), now)),
        );
    }

    let mut section = |title: &str, body: Option<String>| {
        out.push('\n');
        out.push_str(&style.bold(&format!("{title}:")));
        out.push('\n');
        match body {
            Some(table) => out.push_str(&indent(&table)),
            None => out.push_str("  <none>\n"),
        }
    };
    let nonempty = |n: usize, render: &dyn Fn() -> String| (n > 0).then(render);

    section(
        "Children",
        nonempty(report.children.len(), &|| {
            text_table(
                &["KIND", "NAME", "STATE"],
                report
                    .children
                    .iter()
                    .map(|c| [c.kind.clone(), c.name.clone(), c.state.clone()]),
                style,
            )
        }),
    );
    section(
        "Volumes",
        nonempty(report.volumes.len(), &|| {
            text_table(
                &["KIND", "NAME", "PURPOSE", "STATE"],
                report.volumes.iter().map(|v| {
                    [
                        v.kind.clone(),
                        v.name.clone(),
                        v.purpose.clone(),
                        v.state.clone(),
                    ]
                }),
                style,
            )
        }),
    );
    section(
        "Backups",
        nonempty(report.backups.len(), &|| {
            let mut header = vec!["NAME", "SIZE", "AGE", "VERIFIED", "SHA256"];
            if wide {
                header.push("DATABASE");
            }
            text_table(
                &header,
                report.backups.iter().map(|b| {
                    let mut row = vec![
                        b.name.clone(),
                        format!("{} B", b.size),
                        age(b.created.parse().ok(), now),
                        if b.verified { "yes" } else { "no" }.to_string(),
                        if wide {
                            b.sha256.clone()
                        } else {
                            b.sha256.chars().take(12).collect()
                        },
                    ];
                    if wide {
                        row.push(b.database.clone());
                    }
                    row
                }),
                style,
            )
        }),
    );
    section(
        "Jobs",
        nonempty(report.jobs.len(), &|| {
            let mut header = vec!["NAME", "PURPOSE", "STATE", "REASON", "AGE"];
            if wide {
                header.push("COMPLETED");
            }
            header.push("MESSAGE");
            text_table(
                &header,
                report.jobs.iter().map(|j| {
                    let mut row = vec![
                        j.name.clone(),
                        j.purpose.clone(),
                        j.state.clone(),
                        or_none(j.reason.as_deref()),
                        age_or_none(j.start_time.as_deref(), now),
                    ];
                    if wide {
                        row.push(age_or_none(j.completion_time.as_deref(), now));
                    }
                    row.push(or_none(j.message.as_deref()));
                    row
                }),
                style,
            )
        }),
    );
    section(
        "Conditions",
        nonempty(report.conditions.len(), &|| {
            text_table(
                &["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
                report.conditions.iter().map(|c| condition_row(c, now)),
                style,
            )
        }),
    );
    section(
        "Events",
        nonempty(report.events.len(), &|| {
            let mut header = vec!["TYPE", "REASON", "AGE"];
            if wide {
                header.push("FROM");
            }
            header.push("MESSAGE");
            text_table(
                &header,
                report.events.iter().map(|e| event_row(e, now, wide)),
                style,
            )
        }),
    );
    if !report.errors.is_empty() {
        out.push('\n');
        out.push_str(&style.bold("Errors:"));
        out.push('\n');
        for e in &report.errors {
            out.push_str(&format!("  {}: {}\n", e.about, one_line(&e.message)));
        }
    }
    out
}

fn condition_row(c: &Condition, now: Timestamp) -> [String; 5] {
    [
        c.type_.clone(),
        c.status.clone(),
        or_none(Some(&c.reason)),
        age(Some(c.last_transition_time.0), now),
        or_none(Some(&c.message)),
    ]
}

fn event_row(e: &EventReport, now: Timestamp, wide: bool) -> Vec<String> {
    let last = age(parse_time(e.last_timestamp.as_deref()), now);
    let when = if e.count > 1 {
        match parse_time(e.first_timestamp.as_deref()) {
            Some(first) => format!("{last} (x{} over {})", e.count, age(Some(first), now)),
            None => format!("{last} (x{})", e.count),
        }
    } else {
        last
    };
    let mut row = vec![
        or_none(e.type_.as_deref()),
        or_none(e.reason.as_deref()),
        when,
    ];
    if wide {
        row.push(or_none(e.source.as_deref()));
    }
    row.push(or_none(e.message.as_deref()));
    row
}

/// "Point in time": the window `restore --to` can reach.
fn point_in_time_field(p: &PointInTimeReport) -> String {
    let every = format!("the binary log is archived every {}s", p.flush_seconds);
    match (&p.restorable_from, &p.archived_until, &p.as_of) {
        (Some(from), Some(until), Some(as_of)) => format!(
            "restorable from {from} to {until} (the archive as backup {as_of} saw it; {every}, and a restore closes the current file itself)"
        ),
        (Some(from), _, _) => format!("restorable from {from} ({every})"),
        (None, _, _) => format!(
            "no backup with a binlog position yet: take one (`kubectl mysql backup NAME`) to start the window; {every}"
        ),
    }
}

/// "Backup schedule", "Next backup" and "Last scheduled" of the detail view.
fn schedule_fields(s: &ScheduleReport, now: Timestamp) -> Vec<(&'static str, String)> {
    let keeper = match s.cron_job_exists {
        Some(true) => format!("CronJob {}", s.cron_job),
        Some(false) => format!("CronJob {} not made yet", s.cron_job),
        None => format!("CronJob {} could not be read", s.cron_job),
    };
    let next = match (&s.next_run, s.suspended) {
        (_, true) => "none: suspended (the instance is being deleted)".to_string(),
        (Some(at), false) => match parse_time(Some(at)) {
            Some(t) if t > now => format!("{at} (in {})", human_duration((t - now).get_seconds())),
            _ => at.clone(),
        },
        (None, false) => "<unknown>".into(),
    };
    let last = match &s.last_run {
        None => "<none yet>".to_string(),
        Some(run) => {
            let when = run
                .completion_time
                .as_deref()
                .or(run.start_time.as_deref())
                .map(|t| format!(", {} ago", age(parse_time(Some(t)), now)))
                .unwrap_or_default();
            match (run.state.as_str(), &s.last_backup) {
                ("succeeded", Some(backup)) => {
                    format!("{} succeeded{when}: backup {backup}", run.name)
                }
                ("failed", _) => format!(
                    "{} failed{when}: {}",
                    run.name,
                    run.message
                        .as_deref()
                        .or(run.reason.as_deref())
                        .unwrap_or("see its pod's log")
                ),
                (state, _) => format!("{} {state}{when}", run.name),
            }
        }
    };
    vec![
        (
            "Backup schedule",
            format!("{} ({}), {keeper}", s.schedule, s.time_zone),
        ),
        ("Next backup", next),
        ("Last scheduled", last),
    ]
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn age_or_none(time: Option<&str>, now: Timestamp) -> String {
    match parse_time(time) {
        Some(t) => age(Some(t), now),
        None => NONE.into(),
    }
}

/// Time since `then`, as kubectl prints ages (apimachinery's `HumanDuration`).
pub fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(then) => human_duration(now.as_second() - then.as_second()),
        None => "<unknown>".into(),
    }
}

fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::super::report::{ChildReport, ErrorReport, JobReport, ScheduleReport};
    use super::*;
    use crate::backup::BackupEntry;
    use crate::crd::MySQL;
    use serde_json::json;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (5, "5s"),
            (119, "119s"),
            (180, "3m"),
            (185, "3m5s"),
            (45 * 60, "45m"),
            (2 * 3600, "120m"),
            (5 * 3600 + 60 * 7, "5h7m"),
            (30 * 3600, "30h"),
            (4 * 86400, "4d"),
            (4 * 86400 + 3 * 3600, "4d3h"),
            (100 * 86400, "100d"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(human_duration(seconds), shown, "{seconds}s");
        }
    }

    fn mysql(namespace: &str, name: &str, status: serde_json::Value) -> InstanceReport {
        let m: MySQL = serde_json::from_value(json!({
            "apiVersion": "otus.homework/v1", "kind": "MySQL",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 2},
            "spec": {"image": "mysql:8.4", "database": "shop", "password": "s3cret-Pa55",
                     "storage_size": "1Gi"},
            "status": status,
        }))
        .expect("a MySQL");
        InstanceReport::of(&m)
    }

    #[test]
    fn table_is_kubectl_shaped() {
        let now: Timestamp = "2024-01-01T00:03:00Z".parse().expect("time");
        let items = [
            mysql("a", "one", json!({"phase": "Ready"})),
            mysql("b", "two", json!(null)),
        ];
        let shown = instances(&items, false, false, now, Style::PLAIN);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "NAME   PHASE     DATABASE   STORAGE   AGE");
        assert_eq!(lines[1], "one    Ready     shop       1Gi       3m");
        assert_eq!(lines[2], "two    Pending   shop       1Gi       3m");
        let all = instances(&items, true, false, now, Style::PLAIN);
        assert!(all.starts_with("NAMESPACE   NAME"), "{all}");
        let wide = instances(&items, false, true, now, Style::PLAIN);
        let lines: Vec<&str> = wide.lines().collect();
        assert_eq!(
            lines[0],
            "NAME   PHASE     DATABASE   STORAGE   AGE   IMAGE       STORAGE CLASS   LAST BACKUP   MESSAGE"
        );
        assert_eq!(
            lines[1],
            "one    Ready     shop       1Gi       3m    mysql:8.4   <none>          <none>        <none>"
        );
    }

    fn report() -> StatusReport {
        StatusReport {
            instance: mysql(
                "a",
                "one",
                json!({"phase": "Failed", "observedGeneration": 1, "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Converged",
                    "message": "all children in place", "lastTransitionTime": "2024-01-01T00:59:00Z"}]}),
            ),
            children: vec![ChildReport::new(
                "Secret",
                "one-credentials",
                Ok(Some("present".into())),
            )],
            volumes: Vec::new(),
            backups: vec![BackupEntry {
                name: "20240101T000000Z.sql.gz".into(),
                size: 2048,
                sha256: "ab".repeat(32),
                verified: true,
                database: "shop".into(),
                created: "2024-01-01T00:00:00Z".into(),
                binlog: None,
            }],
            jobs: vec![JobReport::unknown("backup", "backup-one-job")],
            schedule: None,
            point_in_time: None,
            conditions: serde_json::from_value(json!([{
                "type": "Ready", "status": "True", "reason": "Converged",
                "message": "all children in place", "lastTransitionTime": "2024-01-01T00:59:00Z"}]))
            .expect("conditions"),
            events: Vec::new(),
            errors: vec![ErrorReport {
                about: "Events".into(),
                reason: "Forbidden".into(),
                message: "forbidden".into(),
            }],
        }
    }

    #[test]
    fn the_schedule_says_when_it_runs_next_and_how_the_last_run_ended() {
        let now: Timestamp = "2026-12-05T10:15:00Z".parse().expect("time");
        let mut run = JobReport::unknown("scheduled backup", "backup-one-cron-29420100");
        run.state = "succeeded".into();
        run.completion_time = Some("2026-12-05T10:00:30Z".into());
        let mut schedule = ScheduleReport {
            schedule: "0 3 * * *".into(),
            time_zone: "Europe/Moscow".into(),
            cron_job: "backup-one-cron".into(),
            cron_job_exists: Some(true),
            suspended: false,
            next_run: Some("2026-12-06T00:00:00Z".into()),
            last_run: Some(run.clone()),
            last_backup: Some("20261205T100001Z.sql.gz".into()),
        };
        let mut report = report();
        report.schedule = Some(schedule.clone());
        let shown = detail(&report, now, false, Style::PLAIN);
        for line in [
            "Backup schedule:    0 3 * * * (Europe/Moscow), CronJob backup-one-cron",
            "Next backup:        2026-12-06T00:00:00Z (in 13h)",
            "Last scheduled:     backup-one-cron-29420100 succeeded, 14m ago: backup 20261205T100001Z.sql.gz",
        ] {
            assert!(shown.contains(line), "{line:?} in\n{shown}");
        }
        run.state = "failed".into();
        run.message = Some("the backup volume is busy".into());
        schedule.last_run = Some(run);
        schedule.last_backup = None;
        schedule.suspended = true;
        let [_, next, last] = schedule_fields(&schedule, now).try_into().expect("three");
        assert_eq!(next.1, "none: suspended (the instance is being deleted)");
        assert_eq!(
            last.1,
            "backup-one-cron-29420100 failed, 14m ago: the backup volume is busy"
        );
    }

    #[test]
    fn detail_never_shows_the_password() {
        let now: Timestamp = "2024-01-01T01:00:00Z".parse().expect("time");
        let shown = detail(&report(), now, false, Style::PLAIN);
        assert!(!shown.contains("s3cret-Pa55"), "{shown}");
        assert!(
            shown.contains("Generation:         2, observed 1 (the operator has not caught up"),
            "{shown}"
        );
        assert!(
            shown.contains("Ready   True     Converged   60s   all children in place"),
            "{shown}"
        );
        assert!(
            shown.contains("20240101T000000Z.sql.gz   2048 B   60m   yes        abababababab\n"),
            "{shown}"
        );
        assert!(shown.contains("Volumes:\n  <none>\n"), "{shown}");
        assert!(shown.contains("Errors:\n  Events: forbidden\n"), "{shown}");
        let wide = detail(&report(), now, true, Style::PLAIN);
        assert!(wide.contains(&"ab".repeat(32)), "{wide}");
    }

    /// Escape sequences removed: what a terminal shows.
    fn strip_escapes(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn colour_only_when_asked_and_never_out_of_line() {
        let now: Timestamp = "2024-01-01T01:00:00Z".parse().expect("time");
        let items = [
            mysql("a", "one", json!({"phase": "Ready"})),
            mysql("a", "two", json!({"phase": "Failed"})),
        ];
        let coloured = Style { colour: true };
        for wide in [false, true] {
            let plain = instances(&items, true, wide, now, Style::PLAIN);
            assert!(!plain.contains('\x1b'), "{plain:?}");
            let shown = instances(&items, true, wide, now, coloured);
            // comfy-table's colours (crossterm) honour NO_COLOR themselves.
            if std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
                assert!(shown.contains('\x1b'), "{shown:?}");
            }
            assert_eq!(strip_escapes(&shown), plain, "the columns stay aligned");

            let plain = detail(&report(), now, wide, Style::PLAIN);
            assert!(!plain.contains('\x1b'), "{plain:?}");
            let shown = detail(&report(), now, wide, coloured);
            assert!(shown.contains("\x1b[31mFailed\x1b[0m"), "{shown:?}");
            assert!(shown.contains("\x1b[1mBackups:\x1b[0m"), "{shown:?}");
            assert_eq!(strip_escapes(&shown), plain);
        }
    }

    #[test]
    fn the_point_in_time_window_says_what_restore_to_can_reach() {
        let mut pitr = PointInTimeReport {
            flush_seconds: 300,
            restorable_from: None,
            archived_until: None,
            archived_files: None,
            as_of: None,
        };
        assert!(
            point_in_time_field(&pitr).starts_with("no backup with a binlog position yet"),
            "{}",
            point_in_time_field(&pitr)
        );
        pitr.restorable_from = Some("2026-12-01T03:00:00Z".into());
        pitr.archived_until = Some("2026-12-05T10:40:00Z".into());
        pitr.archived_files = Some(42);
        pitr.as_of = Some("20261205T104000Z.sql.gz".into());
        assert_eq!(
            point_in_time_field(&pitr),
            "restorable from 2026-12-01T03:00:00Z to 2026-12-05T10:40:00Z (the archive as backup 20261205T104000Z.sql.gz saw it; the binary log is archived every 300s, and a restore closes the current file itself)"
        );
    }
}

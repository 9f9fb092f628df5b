//! Schedules (docs/language.md, "Schedules"): `trigger.schedule` and
//! Station's `type: cron` start state, both compiled to one [`Schedule`],
//! and the next tick of a schedule after a given instant. Pure: the
//! instant is an argument, never the clock.
//!
//! A cron expression has five fields (minute hour day-of-month month
//! day-of-week) or six with seconds first, read by `croner` (POSIX/Vixie
//! semantics: Sunday is 0 or 7, day-of-month and day-of-week are OR-ed when
//! both are restricted). Time zones are IANA names (`chrono-tz`), `UTC` by
//! default. Across daylight-saving changes a wall time that does not exist
//! fires at the first instant after the gap, and a wall time that occurs
//! twice fires once, at its first occurrence.

use super::diag::Diagnostics;
use super::states::join;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The time zone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// The context key a scheduled run (and a manual start of a workflow whose
/// start state is `type: cron`) carries its fire time in.
pub const TRIGGERED_AT_KEY: &str = "_cronTriggeredAt";

/// A compiled schedule: when runs start by themselves, and with what input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The cron expression as written (five or six fields).
    pub cron: String,
    /// IANA time zone the expression's wall times are read in.
    pub timezone: String,
    /// `false` stores the workflow without firing it (a cron state's `enabled`).
    pub enabled: bool,
    /// The run input of each firing (a cron state's `input`; `{}` otherwise).
    pub input: Value,
    /// The `type: cron` state it came from; `None` for `trigger.schedule`.
    /// A manual start of such a workflow skips the state and sets
    /// `ctx._cronTriggeredAt` to the start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Schedule {
    /// The first tick strictly after `after`, or `None` when the expression
    /// never matches again (within the parser's search horizon).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = parse_cron(&self.cron).ok()?;
        let zone = parse_timezone(&self.timezone).ok()?;
        next_tick(&cron, zone, after)
    }

    /// The run input of a firing at `tick`: the schedule's input with
    /// `_cronTriggeredAt` set to the tick (RFC 3339, UTC).
    pub fn run_input(&self, tick: DateTime<Utc>) -> Value {
        let mut input = match &self.input {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        input.insert(TRIGGERED_AT_KEY.to_owned(), Value::String(tick_text(tick)));
        Value::Object(input)
    }

    /// The dedupe key of the run a tick starts: `cron:<tick RFC 3339>`.
    pub fn dedupe_key(tick: DateTime<Utc>) -> String {
        format!("cron:{}", tick_text(tick))
    }
}

/// A manual start of a workflow whose start state is `type: cron` skips
/// that state and sets `ctx._cronTriggeredAt` to the start time (unless
/// the input already carries one, as a scheduled run's does).
pub fn stamp_manual_start(schedule: Option<&Schedule>, ctx: &mut Value, now: DateTime<Utc>) {
    if schedule.is_none_or(|s| s.state.is_none()) {
        return;
    }
    if let Value::Object(ctx) = ctx {
        ctx.entry(TRIGGERED_AT_KEY)
            .or_insert_with(|| Value::String(crate::wire::time::format(now)));
    }
}

/// A tick as text: RFC 3339 in UTC, with milliseconds only when it has them.
pub fn tick_text(tick: DateTime<Utc>) -> String {
    tick.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses a cron expression: five fields, or six with seconds first.
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    let fields = expression.split_whitespace().count();
    if !(fields == 5 || fields == 6) {
        return Err(format!(
            "cron expression `{expression}` has {fields} field(s); expected five (minute hour day-of-month month day-of-week) or six with seconds first"
        ));
    }
    Cron::new(expression)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("cron expression `{expression}` is not valid: {e}"))
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone `{name}` (expected an IANA name such as `Europe/Paris` or `UTC`)"
        )
    })
}

/// The first tick of `cron` in `zone` strictly after `after`.
fn next_tick(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&zone);
    let found = cron.find_next_occurrence(&local, false).ok()?;
    let found_utc = found.with_timezone(&Utc);
    if found_utc > after {
        return Some(found_utc);
    }
    // `after` lies in the second pass of a repeated wall-clock hour, and the
    // parser mapped the next wall time to its first (earlier) instant: take
    // the same wall time's second instant, which lies ahead.
    zone.from_local_datetime(&found.naive_local())
        .latest()
        .map(|later| later.with_timezone(&Utc))
        .filter(|later| *later > after)
}

/// A fixed instant to test that an expression fires at all (compiling
/// reads no clock).
fn reference_instant() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default() // 2000-01-01T00:00:00Z
}

/// Checks `cron` (at `cron_path`) and `timezone` (at `zone_path`); reports
/// what is wrong and returns whether both are good.
fn check(
    cron: &str,
    cron_path: &str,
    timezone: &str,
    zone_path: &str,
    diagnostics: &mut Diagnostics,
) -> bool {
    let zone = match parse_timezone(timezone) {
        Ok(zone) => Some(zone),
        Err(message) => {
            diagnostics.error("UNKNOWN_TIMEZONE", zone_path, message);
            None
        }
    };
    let parsed = match parse_cron(cron) {
        Ok(parsed) => parsed,
        Err(message) => {
            diagnostics.error("INVALID_CRON", cron_path, message);
            return false;
        }
    };
    if next_tick(&parsed, zone.unwrap_or(Tz::UTC), reference_instant()).is_none() {
        diagnostics.error(
            "INVALID_CRON",
            cron_path,
            format!("cron expression `{cron}` never fires"),
        );
        return false;
    }
    zone.is_some()
}

/// A string field of `object` at `path`, or an `INVALID_TYPE` error.
fn text_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Option<String>> {
    match object.get(key) {
        None => Some(None),
        Some(Value::String(text)) => Some(Some(text.clone())),
        Some(other) => {
            diagnostics.error(
                "INVALID_TYPE",
                join(path, key),
                format!("`{key}` must be a string, not {other}"),
            );
            None
        }
    }
}

/// `trigger: {schedule, timezone?}` (with or without `signal`).
pub fn from_trigger(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<Schedule> {
    let object = value?.as_object()?;
    object.get("schedule")?;
    let cron = text_field(object, "schedule", "trigger", diagnostics)??;
    let timezone = text_field(object, "timezone", "trigger", diagnostics)?
        .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
    check(
        &cron,
        "trigger.schedule",
        &timezone,
        "trigger.timezone",
        diagnostics,
    )
    .then(|| Schedule {
        cron,
        timezone,
        enabled: true,
        input: Value::Object(Map::new()),
        state: None,
    })
}

/// The fields a `type: cron` state reads besides the common ones.
pub const CRON_STATE_FIELDS: &[&str] = &["cron", "timezone", "enabled"];

/// A `type: cron` state at `path` named `name`: its schedule. Its `next` is
/// read by the caller (it becomes the workflow's start).
pub fn from_cron_state(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Schedule> {
    let Some(cron) = text_field(object, "cron", path, diagnostics)? else {
        diagnostics.error(
            "MISSING_FIELD",
            join(path, "cron"),
            "a `type: cron` state needs `cron`: five fields, or six with seconds first",
        );
        return None;
    };
    let timezone = text_field(object, "timezone", path, diagnostics)?
        .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
    let enabled = match object.get("enabled") {
        None => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(other) => {
            diagnostics.error(
                "INVALID_TYPE",
                join(path, "enabled"),
                format!("`enabled` must be true or false, not {other}"),
            );
            return None;
        }
    };
    let input = match object.get("input") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(input @ Value::Object(_)) => input.clone(),
        Some(other) => {
            diagnostics.error(
                "INVALID_TYPE",
                join(path, "input"),
                format!("a cron state's `input` (the run input) must be a mapping, not {other}"),
            );
            return None;
        }
    };
    let good = check(
        &cron,
        &join(path, "cron"),
        &timezone,
        &join(path, "timezone"),
        diagnostics,
    );
    good.then(|| Schedule {
        cron,
        timezone,
        enabled,
        input,
        state: Some(name.to_owned()),
    })
}

#[cfg(test)]
mod tests;

//! Logging: structured `tracing` to stderr, filtered by `JUNCTION_LOG` (an
//! `EnvFilter` directive such as `info` or `junction=debug`), written as
//! text (the default) or, with `JUNCTION_LOG_FORMAT=json`, as one JSON
//! object per line: `timestamp` (RFC 3339), `level`, `message`, `target`,
//! then the fields of the enclosing spans (outermost first) and of the event
//! itself as top-level keys, so `run_id`, `step_id`, `attempt` and
//! `worker_id` of a step's span appear on every line logged inside it.

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written (`JUNCTION_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `text` (or unset) and `json`; anything else is refused with its value.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(format!(
                "JUNCTION_LOG_FORMAT must be `text` or `json`, not {other:?}"
            )),
        }
    }
}

/// The `tracing` spans exported as OpenTelemetry spans when export is on
/// (the worker's, PROTOCOL §9); every other span stays in the logs only.
pub const EXPORTED_SPANS: &[&str] = &["StepExecute", "AgentExecute"];

/// Installs the global subscriber: the log lines, and with `tracing` on,
/// the bridge that exports [`EXPORTED_SPANS`] whatever `JUNCTION_LOG` says.
/// Safe to call once per process. An unknown `JUNCTION_LOG_FORMAT` logs
/// text and says so.
pub fn init(default_directive: &str, tracing: &crate::otel::Tracing) {
    let filter = EnvFilter::try_from_env("JUNCTION_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_directive));
    let requested = std::env::var("JUNCTION_LOG_FORMAT").ok();
    let format = LogFormat::parse(requested.as_deref());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        Ok(LogFormat::Json) => lines
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .boxed(),
        Ok(LogFormat::Text) | Err(_) => lines.with_target(false).boxed(),
    };
    let spans = tracing.tracer().map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter_fn(|meta| {
                meta.is_span() && EXPORTED_SPANS.contains(&meta.name())
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(spans)
        .try_init();
    if let Err(message) = format {
        tracing::warn!("{message}; logging as text");
    }
}

/// One JSON object per event; span fields recorded as JSON by [`JsonFields`].
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Utc::now()
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().to_lowercase().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&fields.fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        line.entry("message").or_insert_with(|| "".into());
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer, one per event.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn span_and_event_fields_are_top_level_keys() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("step", run_id = "r1", step_id = "s1", attempt = 2u32);
            let _entered = span.enter();
            tracing::info!(
                executor = "agent.run",
                duration_ms = 12u64,
                status = "SUCCEEDED",
                "step ended"
            );
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["message"], "step ended");
        assert_eq!(line["level"], "info");
        assert_eq!(line["run_id"], "r1");
        assert_eq!(line["step_id"], "s1");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["executor"], "agent.run");
        assert_eq!(line["duration_ms"], 12);
        assert_eq!(line["status"], "SUCCEEDED");
        assert!(
            line["target"]
                .as_str()
                .is_some_and(|t| t.contains("telemetry"))
        );
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }

    #[test]
    fn display_fields_are_strings_and_inner_spans_win() {
        let lines = lines_of(|| {
            let outer = tracing::info_span!("outer", run_id = "outer", worker_id = "w1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner", run_id = "inner");
            let _inner = inner.enter();
            let error = std::io::Error::other("disk on fire");
            tracing::warn!(%error, "could not");
        });
        let line = &lines[0];
        assert_eq!(line["run_id"], "inner");
        assert_eq!(line["worker_id"], "w1");
        assert_eq!(line["error"], "disk on fire");
        assert_eq!(line["level"], "warn");
    }

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("text")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("json")), Ok(LogFormat::Json));
        let refused = LogFormat::parse(Some("yaml")).expect_err("refused");
        assert!(refused.contains("\"yaml\""), "{refused}");
    }
}

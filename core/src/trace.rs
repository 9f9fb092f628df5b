//! The trace identity of a run (PROTOCOL §9): W3C `traceparent` values, and
//! the span ids every process derives from a run's own ids.
//!
//! One run is one trace. Its root span (`WorkflowRun`) and the span of each
//! state it enters (`StateTransition`) outlive any one process, so their ids
//! are not drawn at random but derived: the root's from the run id, a
//! state's from its step id (already unique per run and per visit). Any
//! coordinator, after any restart, names the same spans, and a worker hangs
//! its `StepExecute` under the state span its task names, so the only thing
//! stored is the run's trace id (and the caller's span, when a signal
//! brought one). Pure: no clock, no randomness.

use std::fmt;

/// A 16-byte trace id; never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id; never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// From 32 hex digits (lower or upper case); `None` if malformed or zero.
    pub fn parse(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        decode_hex(hex, &mut bytes)?;
        (bytes != [0; 16]).then_some(Self(bytes))
    }
}

impl SpanId {
    /// From 16 hex digits; `None` if malformed or zero.
    pub fn parse(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 8];
        decode_hex(hex, &mut bytes)?;
        (bytes != [0; 8]).then_some(Self(bytes))
    }

    /// The span id derived from `parts` (FNV-1a over the parts, each
    /// followed by a separator byte): stable across processes and versions.
    pub fn derive(parts: &[&str]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Self(hash.max(1).to_be_bytes())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// A span as a `traceparent` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

impl SpanContext {
    /// Reads a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`). A
    /// later version is read by its first four fields, as the W3C spec
    /// asks; version `ff`, zero ids and malformed values are `None`.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let mut fields = traceparent.trim().split('-');
        let version = fields.next()?;
        let (trace_id, span_id, flags) = (fields.next()?, fields.next()?, fields.next()?);
        let mut version_byte = [0u8; 1];
        decode_hex(version, &mut version_byte)?;
        if version_byte[0] == 0xff || (version_byte[0] == 0 && fields.next().is_some()) {
            return None;
        }
        let mut flag_byte = [0u8; 1];
        decode_hex(flags, &mut flag_byte)?;
        Some(Self {
            trace_id: TraceId::parse(trace_id)?,
            span_id: SpanId::parse(span_id)?,
            sampled: flag_byte[0] & 1 == 1,
        })
    }

    /// The `traceparent` header value naming this span.
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }
}

/// The trace of one run: its id, the span its root hangs under (the span
/// of the signal or request that started it, if it named one), and the ids
/// of its root and state spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTrace {
    pub trace_id: TraceId,
    /// The root span's id, derived from the run id.
    pub root: SpanId,
    /// The caller's span, parent of the root.
    pub parent: Option<SpanId>,
}

impl RunTrace {
    /// The trace of run `run_id`: the caller's trace when `parent` names
    /// one, else `fresh` (the id a new trace gets).
    pub fn new(run_id: &str, fresh: TraceId, parent: Option<SpanContext>) -> Self {
        Self {
            trace_id: parent.map_or(fresh, |p| p.trace_id),
            root: SpanId::derive(&["run", run_id]),
            parent: parent.map(|p| p.span_id),
        }
    }

    /// The trace of a stored run: its trace id and the caller's span (hex
    /// as stored). `None` when the trace id is missing or unreadable.
    pub fn stored(run_id: &str, trace_id: Option<&str>, parent: Option<&str>) -> Option<Self> {
        Some(Self {
            trace_id: TraceId::parse(trace_id?)?,
            root: SpanId::derive(&["run", run_id]),
            parent: parent.and_then(SpanId::parse),
        })
    }

    /// The span of the state entered as step `step_id`.
    pub fn state_span(&self, step_id: &str) -> SpanId {
        SpanId::derive(&["state", step_id])
    }

    /// A span of this trace, as a context to propagate. Every run is
    /// recorded (the caller's sampled flag is not kept), so its messages
    /// say the same before and after any restart.
    pub fn context(&self, span_id: SpanId) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id,
            sampled: true,
        }
    }

    /// The `traceparent` of a message the run's coordinator produced: the
    /// state span of `step_id`, or the root span for a run-level message.
    pub fn traceparent_for(&self, step_id: Option<&str>) -> String {
        let span = step_id.map_or(self.root, |step| self.state_span(step));
        self.context(span).traceparent()
    }
}

fn decode_hex(hex: &str, out: &mut [u8]) -> Option<()> {
    let digits = hex.as_bytes();
    if digits.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = (high * 16 + low) as u8;
    }
    Some(())
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_and_writes_back_unchanged() {
        let context = SpanContext::parse(SAMPLE).expect("valid");
        assert!(context.sampled);
        assert_eq!(
            context.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.traceparent(), SAMPLE);
    }

    #[test]
    fn malformed_and_zero_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanContext::parse(bad), None, "{bad:?}");
        }
        // A later version may append fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what";
        assert_eq!(SpanContext::parse(later).map(|c| c.sampled), Some(false));
    }

    #[test]
    fn a_run_joins_its_callers_trace_and_derives_its_spans() {
        let caller = SpanContext::parse(SAMPLE).expect("valid");
        let fresh = TraceId([7; 16]);
        let joined = RunTrace::new("run-1", fresh, Some(caller));
        assert_eq!(joined.trace_id, caller.trace_id);
        assert_eq!(joined.parent, Some(caller.span_id));
        let own = RunTrace::new("run-1", fresh, None);
        assert_eq!(own.trace_id, fresh);
        assert_eq!(
            own.root, joined.root,
            "the root span depends on the run only"
        );
        assert_ne!(own.state_span("a"), own.state_span("b"));
        assert_ne!(own.state_span("a"), own.root);
        let stored = RunTrace::stored("run-1", Some(&fresh.to_string()), None).expect("stored");
        assert_eq!(
            stored.traceparent_for(Some("a")),
            own.traceparent_for(Some("a"))
        );
        assert_eq!(
            own.traceparent_for(None),
            format!("00-{fresh}-{}-01", own.root)
        );
    }
}

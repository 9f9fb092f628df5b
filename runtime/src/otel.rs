//! OpenTelemetry trace export (PROTOCOL §9), configured by the standard
//! `OTEL_*` variables only: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf`, the default), `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`
//! (read by the SDK), `OTEL_TRACES_EXPORTER=none` and `OTEL_SDK_DISABLED`.
//! With no endpoint nothing is set up: no exporter thread, no span is
//! built, and the code that would build one checks [`Tracing::enabled`].
//!
//! Spans that outlive a process (a run's `WorkflowRun` and `StateTransition`
//! spans) carry ids derived from the run (see `junction_core::trace`), so
//! they are built with [`Tracing::export_span`]: the ids go through the
//! provider's id generator for that one span ([`FixedIds`]), and the span
//! itself goes through the SDK's batch processor like any other.

use junction_core::trace::{
    SpanContext as RunSpanContext, SpanId as RunSpanId, TraceId as RunTraceId,
};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Trace export could not be set up from the `OTEL_*` variables.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0:?} is not supported by this build; use http/protobuf")]
    Protocol(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// The process's tracer, or nothing when export is off. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
    tracer: Option<SdkTracer>,
}

/// One span whose ids and times are given, not drawn.
#[derive(Debug, Clone)]
pub struct FixedSpan {
    pub name: &'static str,
    pub kind: SpanKind,
    pub trace_id: RunTraceId,
    pub span_id: RunSpanId,
    /// The parent span, in the same trace; `None`: a root.
    pub parent: Option<RunSpanId>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
}

impl Tracing {
    /// Export as the environment says; `default_service` names the process
    /// when `OTEL_SERVICE_NAME` is unset.
    pub fn from_env(default_service: &str) -> Result<Self, OtelError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint =
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or(var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        if endpoint.is_none() || disabled {
            return Ok(Self::default());
        }
        let protocol =
            var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or(var("OTEL_EXPORTER_OTLP_PROTOCOL"));
        if let Some(protocol) = protocol.filter(|p| p != "http/protobuf") {
            return Err(OtelError::Protocol(protocol));
        }
        // The exporter's HTTP client uses rustls without a built-in crypto
        // provider (the workspace builds reqwest with `rustls-no-provider`,
        // so that aws-lc is never built): ring is the process's provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| OtelError::Exporter(e.to_string()))?;
        let mut resource = Resource::builder();
        if var("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(default_service.to_owned());
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_id_generator(FixedIds)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("junction");
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Self {
            provider: Some(provider),
            tracer: Some(tracer),
        })
    }

    /// Whether spans are exported at all.
    pub fn enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// The SDK tracer, for the `tracing` bridge.
    pub fn tracer(&self) -> Option<SdkTracer> {
        self.tracer.clone()
    }

    /// Queues `span` for export, with its own ids and times.
    pub fn export_span(&self, span: FixedSpan) {
        let Some(tracer) = &self.tracer else {
            return;
        };
        let trace_id = TraceId::from_bytes(span.trace_id.0);
        let parent = match span.parent {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(parent.0),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let builder = tracer
            .span_builder(span.name)
            .with_kind(span.kind)
            .with_start_time(span.start)
            .with_attributes(span.attributes);
        let mut started = FIXED.with(|fixed| {
            fixed.set(Some((span.trace_id.0, span.span_id.0)));
            let started = builder.start_with_context(tracer, &parent);
            fixed.set(None);
            started
        });
        opentelemetry::trace::Span::end_with_timestamp(&mut started, span.end);
    }

    /// Flushes what is queued and stops the exporter (staged shutdown).
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider {
            if let Err(error) = provider.force_flush() {
                tracing::warn!(%error, "could not flush the last spans");
            }
            if let Err(error) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
                tracing::warn!(%error, "trace exporter did not stop cleanly");
            }
        }
    }
}

/// A span context from `junction_core`'s form.
pub fn remote_context(context: &RunSpanContext) -> Context {
    let flags = if context.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_bytes(context.trace_id.0),
        SpanId::from_bytes(context.span_id.0),
        flags,
        true,
        TraceState::default(),
    ))
}

/// The span `context` holds, in `junction_core`'s form (`None` when it
/// holds no valid span, e.g. with export off).
pub fn span_of(context: &Context) -> Option<RunSpanContext> {
    let span = context.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(RunSpanContext {
        trace_id: RunTraceId(sc.trace_id().to_bytes()),
        span_id: RunSpanId(sc.span_id().to_bytes()),
        sampled: sc.is_sampled(),
    })
}

/// Set once a provider exists: the process exports spans.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports spans. Code that builds spans only for
/// export (the worker's `StepExecute` and `AgentExecute`) skips them
/// otherwise: a span costs its fields' formatting even unexported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

thread_local! {
    /// Ids for the span being built on this thread by [`Tracing::export_span`].
    static FIXED: Cell<Option<([u8; 16], [u8; 8])>> = const { Cell::new(None) };
}

/// Random ids, except for a span [`Tracing::export_span`] builds: the SDK
/// draws its ids from the provider's generator while building it, on the
/// calling thread.
#[derive(Debug)]
struct FixedIds;

impl IdGenerator for FixedIds {
    fn new_trace_id(&self) -> TraceId {
        match FIXED.with(Cell::get) {
            Some((trace, _)) => TraceId::from_bytes(trace),
            None => RandomIdGenerator::default().new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match FIXED.with(Cell::get) {
            Some((_, span)) => SpanId::from_bytes(span),
            None => RandomIdGenerator::default().new_span_id(),
        }
    }
}

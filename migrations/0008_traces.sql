-- One trace per run (PROTOCOL §9). A run keeps its trace id, 32 lowercase
-- hex digits, and the span of the signal or request that started it (16
-- hex digits, NULL when none was named); every other span id of the run is
-- derived from the run's ids. An outbox row keeps the `traceparent` of the
-- span that produced its message, so a message the relay re-sends after a
-- crash joins the trace like the original would have. Rows written before
-- this migration have neither and are published without the header.
ALTER TABLE runs ADD COLUMN trace_id text, ADD COLUMN trace_parent text;
ALTER TABLE outbox ADD COLUMN traceparent text;

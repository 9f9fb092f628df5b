//! Message shapes that cross the wire (PROTOCOL §2–§5). Pure data, no I/O.

pub mod agent;

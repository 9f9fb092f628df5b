//! Messaging over NATS JetStream: names, stream and consumer setup, publishing.

pub mod subjects;

pub use subjects::Subjects;

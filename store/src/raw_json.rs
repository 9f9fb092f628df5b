//! JSON already serialized, sent to a `jsonb` (or `json`) column as it is.
//! The run snapshot is serialized once per transition: straight from the
//! engine's types to text, hashed to tell whether it changed, and written
//! without being built as a `serde_json::Value` first.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use std::hash::{Hash, Hasher};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// Serialized JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// Serializes `value`.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(Self)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash of the text, to tell whether a snapshot changed.
    pub fn hash(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut hasher);
        hasher.finish()
    }

    /// [`Self::hash`] of a value's serialization.
    pub fn hash_value(value: &serde_json::Value) -> u64 {
        Self(value.to_string()).hash()
    }
}

impl ToSql for RawJson {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // jsonb's binary format: a version byte, then the text.
            out.put_u8(1);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }

    to_sql_checked!();
}

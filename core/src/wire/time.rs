//! Timestamps on the wire: RFC 3339 UTC with milliseconds and `Z` (PROTOCOL §8.9).

use chrono::{DateTime, SecondsFormat, Utc};

pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn millis_and_z() {
        let at =
            chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid timestamp");
        assert_eq!(super::format(at), "2023-11-14T22:13:20.123Z");
    }
}

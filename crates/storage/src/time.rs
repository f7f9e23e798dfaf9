//! How timestamps are stored.
//!
//! PostgreSQL stores a timestamp as `timestamptz`, with microsecond precision, exactly what
//! [`Timestamp`] holds.
//!
//! SQLite has no date type. Left to itself, sqlx would write a `DateTime<Utc>` as RFC 3339 text
//! with 0, 3, 6 or 9 fractional digits depending on the value, which makes the text's order a
//! matter of luck. This crate writes fixed-width text instead, always six fractional digits and a
//! `Z`: `2026-01-31T09:05:00.000000Z`. Text order is then time order (for years 0 to 9999), so
//! `ORDER BY` and comparisons on timestamp columns work, and the text reads back, through sqlx's
//! RFC 3339 parser, as the very value that was written.

use sea_orm::{Value, Values};
use wastatus_domain::Timestamp;

/// The SQLite text format: fixed width, UTC, microseconds.
const SQLITE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The text that stands for `at` in a SQLite database.
pub(crate) fn sqlite_text(at: &Timestamp) -> String {
    at.format(SQLITE_FORMAT).to_string()
}

/// Rewrites the timestamps among the values bound to a SQLite statement as [`sqlite_text`].
pub(crate) fn encode_for_sqlite(values: &mut Values) {
    for value in &mut values.0 {
        if let Value::ChronoDateTimeUtc(at) = value {
            *value = Value::String(at.as_ref().map(sqlite_text));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    fn at(secs: i64, micros: u32) -> Timestamp {
        DateTime::from_timestamp(secs, micros * 1000).expect("a valid instant")
    }

    #[test]
    fn the_sqlite_text_has_a_fixed_width() {
        let whole = Utc.with_ymd_and_hms(2026, 1, 31, 9, 5, 0).single().expect("a valid instant");
        assert_eq!(sqlite_text(&whole), "2026-01-31T09:05:00.000000Z");
        let micros = whole + chrono::Duration::microseconds(1);
        assert_eq!(sqlite_text(&micros), "2026-01-31T09:05:00.000001Z");
    }

    #[test]
    fn the_sqlite_text_sorts_like_the_instants() {
        let mut instants =
            vec![at(1_800_000_000, 0), at(1_800_000_000, 1), at(1_800_000_000, 100_000), at(1_800_000_000, 999_999)];
        instants.extend([at(1_800_000_001, 0), at(0, 0), at(1_000_000_000, 500_000), at(-1, 999_999)]);
        let mut by_text = instants.clone();
        by_text.sort_by_key(sqlite_text);
        instants.sort();
        assert_eq!(by_text, instants);
    }

    #[test]
    fn the_sqlite_text_parses_back_to_the_same_instant() {
        let value = at(1_800_000_000, 123_456);
        let parsed = DateTime::parse_from_rfc3339(&sqlite_text(&value)).expect("RFC 3339");
        assert_eq!(parsed.with_timezone(&Utc), value);
    }

    #[test]
    fn only_timestamps_are_rewritten() {
        let value = at(1_800_000_000, 42);
        let mut values =
            Values(vec![Value::ChronoDateTimeUtc(Some(value)), Value::ChronoDateTimeUtc(None), Value::BigInt(Some(7))]);
        encode_for_sqlite(&mut values);
        assert_eq!(
            values.0,
            vec![
                Value::String(Some("2027-01-15T08:00:00.000042Z".to_owned())),
                Value::String(None),
                Value::BigInt(Some(7)),
            ]
        );
    }
}

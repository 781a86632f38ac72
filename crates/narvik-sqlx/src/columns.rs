//! Column values: session data as JSON text, times as database timestamps,
//! and the mapping of driver errors onto narvik's [`Error`].

use narvik_core::{Error, SessionId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The `data` column's JSON text for a session's data.
pub(crate) fn encode_data<D: Serialize>(id: SessionId, data: &D) -> Result<String, Error> {
    serde_json::to_string(data).map_err(|e| Error::data(id, e))
}

/// A session's data from the `data` column's JSON text. A row whose data
/// does not fit `D` is [`Error::Data`] naming the session.
pub(crate) fn decode_data<D: DeserializeOwned>(id: SessionId, json: &str) -> Result<D, Error> {
    serde_json::from_str(json).map_err(|e| Error::data(id, e))
}

/// A session id read back from the `id` column.
pub(crate) fn decode_id(hex: &str) -> Result<SessionId, Error> {
    // CHAR(64) columns pad shorter values with spaces on PostgreSQL; a valid
    // id is never shorter, so the padding only matters for a foreign row,
    // which is refused either way.
    SessionId::parse(hex.trim_end())
        .map_err(|e| Error::store("read session id column: not a narvik session id", e))
}

/// Maps a failed insert: a unique-key violation is a duplicate session id
/// (the primary key is the only unique key), anything else a store error.
pub(crate) fn insert_error(id: SessionId, err: sqlx::Error) -> Error {
    let duplicate = err
        .as_database_error()
        .is_some_and(|db| matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation));
    if duplicate {
        Error::DuplicateSessionId(id)
    } else {
        Error::store("save session", err)
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use native_time::{from_datetime, to_datetime};

/// PostgreSQL and MySQL store times in native timestamp columns at
/// millisecond precision; these convert narvik's unix milliseconds.
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod native_time {
    use narvik_core::{Error, Timestamp};
    use sqlx::types::time::OffsetDateTime;

    const NANOS_PER_MILLI: i128 = 1_000_000;

    /// A UTC date-time for `t`. Fails for times outside years -9999 to
    /// 9999, which no database column here can hold anyway.
    pub(crate) fn to_datetime(t: Timestamp, column: &'static str) -> Result<OffsetDateTime, Error> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_unix_millis()) * NANOS_PER_MILLI)
            .map_err(|e| Error::store(column, e))
    }

    /// Unix milliseconds of a date-time read back (floored, though the
    /// columns hold whole milliseconds).
    pub(crate) fn from_datetime(dt: OffsetDateTime) -> Result<Timestamp, Error> {
        let millis = dt.unix_timestamp_nanos().div_euclid(NANOS_PER_MILLI);
        i64::try_from(millis)
            .map(Timestamp::from_unix_millis)
            .map_err(|e| Error::store("read timestamp column", e))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn millisecond_times_round_trip() {
            for ms in [0, 1, -1, 1_764_000_000_123, -1_500, 253_402_300_799_999] {
                let t = Timestamp::from_unix_millis(ms);
                let dt = to_datetime(t, "t").expect("in range");
                assert_eq!(from_datetime(dt).expect("fits"), t);
            }
        }

        #[test]
        fn out_of_range_times_are_errors_not_panics() {
            assert!(to_datetime(Timestamp::from_unix_millis(i64::MAX), "t").is_err());
            assert!(to_datetime(Timestamp::from_unix_millis(i64::MIN), "t").is_err());
        }
    }
}

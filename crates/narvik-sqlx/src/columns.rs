//! Column values: a session from its row (data as JSON text, times in the
//! dialect's time type), ids read back, and the mapping of driver errors
//! onto narvik's [`Error`].

use narvik_core::store::json::decode_data;
use std::time::Duration;

use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::de::DeserializeOwned;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::bound::Bound;
use crate::dialect::Dialect;

pub(crate) use narvik_core::store::json::encode_data;

/// A session from its row: `created_at`, `expires_at`, `data` (the
/// data's JSON text) and the lifecycle's columns, with the id and user id
/// the caller already has.
pub(crate) fn session_from_row<DB, D>(
    id: SessionId,
    user_id: String,
    row: &DB::Row,
) -> Result<Session<D>, Error>
where
    DB: Dialect,
    D: DeserializeOwned,
    for<'r> &'r str: Decode<'r, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
{
    let created_at: DB::Time = row
        .try_get("created_at")
        .map_err(|e| Error::store("read created_at column", e))?;
    let expires_at: DB::Time = row
        .try_get("expires_at")
        .map_err(|e| Error::store("read expires_at column", e))?;
    let data: &str = row.try_get("data").map_err(|e| Error::data(id, e))?;
    let mut session = Session::new(
        id,
        user_id,
        DB::from_time(created_at)?,
        DB::from_time(expires_at)?,
        decode_data(id, data)?,
    );
    let length_ms: Option<i64> = row
        .try_get("length_ms")
        .map_err(|e| Error::store("read length_ms column", e))?;
    session.length = length_ms.map(length_from_millis).transpose()?;
    session.persistent = row
        .try_get("persistent")
        .map_err(|e| Error::store("read persistent column", e))?;
    session.last_active_at = optional_time::<DB>(row, "last_active_at")?;
    session.reauthenticated_at = optional_time::<DB>(row, "reauthenticated_at")?;
    session.rotated_at = optional_time::<DB>(row, "rotated_at")?;
    Ok(session)
}

/// A nullable time column.
fn optional_time<DB: Dialect>(
    row: &DB::Row,
    column: &'static str,
) -> Result<Option<Timestamp>, Error>
where
    for<'r> &'r str: ColumnIndex<DB::Row>,
{
    let t: Option<DB::Time> = row
        .try_get(column)
        .map_err(|e| Error::store("read a lifecycle time column", e))?;
    t.map(DB::from_time).transpose()
}

/// A session's own length in the `length_ms` column.
///
/// # Errors
///
/// [`Error::Store`] for a length of more than `i64::MAX` milliseconds.
pub(crate) fn length_to_millis(length: Duration) -> Result<i64, Error> {
    i64::try_from(length.as_millis())
        .map_err(|e| Error::store("save session: length out of range", e))
}

/// A length read back from `length_ms`; a negative one is not a length.
fn length_from_millis(ms: i64) -> Result<Duration, Error> {
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|e| Error::store("read length_ms column: negative", e))
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
/// (the primary key is the only unique key), anything else the store
/// error of the call `bound`.
pub(crate) fn insert_error<DB: Dialect>(id: SessionId, bound: Bound, err: sqlx::Error) -> Error {
    let duplicate = err
        .as_database_error()
        .is_some_and(|db| matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation));
    if duplicate {
        Error::DuplicateSessionId(id)
    } else {
        bound.error::<DB, _>(err)
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

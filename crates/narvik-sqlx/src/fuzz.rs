//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! row decoder's column conversions, which are private to the crate,
//! reached as they are. The data column goes through
//! [`narvik_core::store::json::decode_data`], which is public. Not part of
//! the API: hidden, unstable, and absent unless the feature is on.

use narvik_core::{Error, SessionId, Timestamp};
use sqlx::types::time::OffsetDateTime;

use crate::columns;

/// A session id from the `id` column's text.
///
/// # Errors
///
/// [`Error::Store`] for text that is not a narvik session id.
pub fn decode_id(hex: &str) -> Result<SessionId, Error> {
    columns::decode_id(hex)
}

/// A time as PostgreSQL's and MySQL's timestamp columns take it.
///
/// # Errors
///
/// [`Error::Store`] for a time the columns cannot hold.
pub fn to_datetime(t: Timestamp) -> Result<OffsetDateTime, Error> {
    columns::to_datetime(t, "fuzz")
}

/// A time read back from PostgreSQL's and MySQL's timestamp columns.
///
/// # Errors
///
/// [`Error::Store`] for a time outside narvik's range.
pub fn from_datetime(dt: OffsetDateTime) -> Result<Timestamp, Error> {
    columns::from_datetime(dt)
}

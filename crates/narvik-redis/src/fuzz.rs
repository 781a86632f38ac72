//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! store's session value codec, which is private to the crate, reached as
//! it is. Not part of the API: hidden, unstable, and absent unless the
//! feature is on.

use narvik_core::{Error, Session, SessionId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::value;

/// Session `id` from a value as `GET` returns it (what every read does).
///
/// # Errors
///
/// [`Error::Data`] for a value narvik-redis did not write.
pub fn decode_session<D: DeserializeOwned>(
    id: &SessionId,
    value: &[u8],
) -> Result<Session<D>, Error> {
    value::decode_session(id, value)
}

/// The owner a value names (what a delete or a purge reads).
///
/// # Errors
///
/// [`Error::Data`] for a value narvik-redis did not write.
pub fn decode_owner(id: &SessionId, value: &[u8]) -> Result<String, Error> {
    value::decode_owner(id, value)
}

/// The value a save writes, with its expiry in ms (the key's `PXAT`).
///
/// # Errors
///
/// [`Error::Data`] if the session's data does not serialize.
pub fn encode_session<D: Serialize>(session: &Session<D>) -> Result<(i64, Vec<u8>), Error> {
    value::encode_session(session)
}

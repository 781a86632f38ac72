//! Session data as its own JSON text, for stores that keep it that way
//! (the SQL stores' `data` column), with one reading rule for every such
//! store. (The Redis store keeps data inside a value of its own layout,
//! which no TypeScript service writes.)
//!
//! TypeScript Narvik keeps a session's additional fields as a JSON object
//! (the SQL callbacks in narvik-sqlx's README store them in `data`), and a
//! session without any as `{}`; narvik writes `D = ()` as `null`.
//! So that either service reads the other's sessions from a shared table,
//! [`decode_data`] reads `{}` as "no data" wherever JSON `null` is (as
//! `()`, `None`, or a unit struct), and a type that holds nothing (`()`,
//! unit structs) reads any object, since there is nothing in it to keep:
//! a Rust service that declares no data accepts sessions a TypeScript
//! service wrote with fields it does not use. Any other mismatch stays an
//! [`Error::Data`].
//!
//! ```
//! use narvik_core::SessionId;
//! use narvik_core::store::json::decode_data;
//!
//! let id = SessionId::parse(&"0".repeat(64))?;
//! let () = decode_data::<()>(id, "{}")?;
//! let () = decode_data::<()>(id, r#"{"userAgent":"Firefox"}"#)?;
//! assert_eq!(decode_data::<Option<String>>(id, "{}")?, None);
//! assert!(decode_data::<String>(id, "{}").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, SessionId};

/// The JSON text of session `id`'s data.
///
/// # Errors
///
/// [`Error::Data`] naming the session if `D`'s `Serialize` fails (a map
/// with non-string keys, a custom impl's error).
pub fn encode_data<D: Serialize>(id: SessionId, data: &D) -> Result<String, Error> {
    serde_json::to_string(data).map_err(|e| Error::data(id, e))
}

/// Session `id`'s data from its JSON text, reading `{}` as `null` for
/// types that accept `null`, and any object as `null` for types that hold
/// nothing (see the [module docs](self)).
///
/// # Errors
///
/// [`Error::Data`] naming the session if the text is not JSON, or not JSON
/// of `D` under the rules above. The source is the decoder's error for the
/// text as written, which may quote the data: log it through
/// [`Error::redacted`].
pub fn decode_data<D: DeserializeOwned>(id: SessionId, json: &str) -> Result<D, Error> {
    let error = match serde_json::from_str(json) {
        Ok(data) => return Ok(data),
        Err(error) => error,
    };
    let holds_nothing = std::mem::size_of::<D>() == 0;
    if ((holds_nothing && is_object(json)) || is_empty_object(json))
        && let Ok(data) = serde_json::from_str("null")
    {
        return Ok(data);
    }
    Err(Error::data(id, error))
}

/// True for a JSON object with no members, however spaced (`{}`, `{ }`),
/// with JSON's whitespace only (RFC 8259 2): `{\u{c}}` is not JSON.
fn is_empty_object(json: &str) -> bool {
    const WS: [char; 4] = [' ', '\t', '\n', '\r'];
    json.trim_matches(WS)
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|inner| inner.trim_matches(WS).is_empty())
}

/// True for text that is a whole JSON object.
fn is_object(json: &str) -> bool {
    json.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SessionId {
        SessionId::parse(&"ab".repeat(32)).expect("valid id")
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Marker;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Device {
        #[serde(rename = "userAgent")]
        user_agent: String,
    }

    #[test]
    fn unit_reads_null_and_any_object() {
        for json in [
            "null",
            "{}",
            " { } ",
            r#"{"userAgent":"Firefox","n":[1,2]}"#,
        ] {
            decode_data::<()>(id(), json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(
                decode_data::<Marker>(id(), json).ok(),
                Some(Marker),
                "{json}"
            );
        }
    }

    #[test]
    fn unit_still_refuses_what_is_not_an_object() {
        for json in ["[]", "1", "\"x\"", "{", "{} {}", "not json", ""] {
            match decode_data::<()>(id(), json) {
                Err(Error::Data { id: named, .. }) => assert_eq!(named, id()),
                other => panic!("{json:?}: expected Error::Data, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_object_is_none_and_a_full_one_is_not_swallowed() {
        assert_eq!(decode_data::<Option<Device>>(id(), "{}").ok(), Some(None));
        assert_eq!(
            decode_data::<Option<Device>>(id(), r#"{"userAgent":"Firefox"}"#).ok(),
            Some(Some(Device {
                user_agent: "Firefox".into()
            }))
        );
        // An object that does not fit is an error, not None.
        assert!(decode_data::<Option<Device>>(id(), r#"{"other":1}"#).is_err());
        assert!(decode_data::<Device>(id(), "{}").is_err());
    }

    /// Found by the `redis_value` and `sql_row` fuzz targets: serde_json's
    /// default float parser is off by one in the last place for some
    /// floats, so data read back differed from data written (the workspace
    /// turns on its `float_roundtrip`).
    #[test]
    fn floats_read_back_exactly() {
        for x in [
            3.333_333_333_333_332_7e49_f64,
            4.444_444_444_444_443_6e38,
            0.1,
            5e-324,
        ] {
            let json = encode_data(id(), &x).expect("encode");
            let back: f64 = decode_data(id(), &json).expect("decode");
            assert_eq!(back.to_bits(), x.to_bits(), "{x:e} written as {json}");
        }
    }

    /// Found by the `sql_row` fuzz target: braces around whitespace that
    /// JSON does not allow were read as an empty object.
    #[test]
    fn braces_around_non_json_whitespace_are_not_json() {
        for json in ["{\u{c}}", "{\u{a0}}", "\u{b}{}", "{}\u{2003}"] {
            assert!(
                decode_data::<Option<String>>(id(), json).is_err(),
                "{json:?}"
            );
            assert!(
                decode_data::<serde_json::Value>(id(), json).is_err(),
                "{json:?}"
            );
        }
        assert_eq!(
            decode_data::<Option<String>>(id(), " {\t\r\n} ").ok(),
            Some(None)
        );
    }

    #[test]
    fn what_narvik_writes_reads_back() {
        let json = encode_data(id(), &()).expect("encode");
        assert_eq!(json, "null");
        decode_data::<()>(id(), &json).expect("decode");
    }
}

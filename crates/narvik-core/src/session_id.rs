//! Session ids: what the store keys on.
//!
//! The id is the SHA-256 of the token's UTF-8 bytes, written as 64
//! lower-case hex characters (Narvik's scheme). It is not a secret in the
//! way the token is: knowing an id does not let anyone present a session,
//! because presenting it as a token hashes it again to a different id.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use data_encoding::HEXLOWER;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;

/// Bytes in a session id's digest.
pub const SESSION_ID_BYTES: usize = 32;

/// Characters in a session id's hex form.
pub const SESSION_ID_LEN: usize = 64;

/// The id of a session: SHA-256 of its token.
///
/// Held as the 32-byte digest, shown (`Display`, `Serialize`) as 64
/// lower-case hex characters, which is what SQL and Redis stores write.
/// Equality is constant-time (`subtle`), so comparing an id from a store
/// with the one derived from a request reveals nothing through timing.
///
/// ```
/// use narvik_core::SessionId;
///
/// let id = SessionId::from_token("testSessionToken");
/// assert_eq!(
///     id.to_string(),
///     "1626809001a7ba6bfac95ff81333a03ea5e5b95f28fe13fd9216a8e0a78a5e0c"
/// );
/// assert_eq!(id.to_string().parse::<SessionId>()?, id);
/// # Ok::<(), narvik_core::Error>(())
/// ```
#[derive(Clone, Copy, Eq)]
pub struct SessionId([u8; SESSION_ID_BYTES]);

impl SessionId {
    /// Derives the id of a token: SHA-256 over its UTF-8 bytes.
    ///
    /// Any string hashes; [`crate::Narvik::validate_session`] refuses
    /// malformed tokens before it gets here.
    #[must_use]
    pub fn from_token(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Wraps a raw 32-byte digest.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; SESSION_ID_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw 32-byte digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; SESSION_ID_BYTES] {
        &self.0
    }

    /// Parses the 64-character lower-case hex form, as stores write it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSessionId`] for anything that is not exactly 64
    /// characters of `0-9a-f` (upper case included: ids are written lower
    /// case everywhere, so an upper-case one did not come from a store that
    /// follows the scheme).
    pub fn parse(hex: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        if hex.len() != SESSION_ID_LEN {
            return Err(Error::InvalidSessionId);
        }
        HEXLOWER
            .decode_mut(hex.as_bytes(), &mut bytes)
            .map_err(|_| Error::InvalidSessionId)?;
        Ok(Self(bytes))
    }

    /// Writes the hex form into a stack buffer, without allocating.
    ///
    /// ```
    /// let id = narvik_core::SessionId::from_token("");
    /// let mut buf = [0u8; 64];
    /// assert!(id.encode_hex(&mut buf).starts_with("e3b0c442"));
    /// ```
    pub fn encode_hex<'b>(&self, buf: &'b mut [u8; SESSION_ID_LEN]) -> &'b str {
        HEXLOWER.encode_mut(&self.0, buf);
        // HEXLOWER writes only ASCII digits and a-f.
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

/// Constant-time equality of two byte strings of one length, eight bytes
/// at a time: `subtle` compares each word without branching, and words
/// take an eighth of the steps bytes would.
pub(crate) fn ct_eq<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut equal = a_rest.ct_eq(b_rest);
    for (a, b) in a_words.iter().zip(b_words) {
        equal &= u64::from_ne_bytes(*a).ct_eq(&u64::from_ne_bytes(*b));
    }
    equal.into()
}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SESSION_ID_LEN];
        f.write_str(self.encode_hex(&mut buf))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; SESSION_ID_LEN];
        serializer.serialize_str(self.encode_hex(&mut buf))
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&hex).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn word_wise_equality_sees_every_byte() {
        let a = [0x5au8; 32];
        assert!(super::ct_eq(&a, &a));
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!super::ct_eq(&a, &b), "byte {i} bit {bit}");
            }
        }
        let (c, mut d) = ([1u8; 13], [1u8; 13]);
        assert!(super::ct_eq(&c, &d));
        d[12] = 0;
        assert!(!super::ct_eq(&c, &d), "the bytes after the last word count");
    }

    use proptest::prelude::*;

    use super::*;
    use crate::Token;

    #[test]
    fn narvik_test_vectors() {
        assert_eq!(
            SessionId::from_token("testSessionToken").to_string(),
            "1626809001a7ba6bfac95ff81333a03ea5e5b95f28fe13fd9216a8e0a78a5e0c"
        );
        assert_eq!(
            SessionId::from_token("aaaqeayeaudaocajbifqydiob4ibceqt").to_string(),
            "5f904dfb6d84f01623c06ca84ff134338df4eb98405ea621ef7dbdd7c1e622db"
        );
        assert_eq!(
            SessionId::from_token("").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_refuses_upper_case_wrong_length_and_non_hex() {
        let good = SessionId::from_token("x").to_string();
        assert!(SessionId::parse(&good).is_ok());
        assert!(SessionId::parse(&good.to_uppercase()).is_err());
        assert!(SessionId::parse(&good[..63]).is_err());
        assert!(SessionId::parse(&format!("{good}0")).is_err());
        assert!(SessionId::parse(&format!("{}g", &good[..63])).is_err());
        assert!(SessionId::parse("").is_err());
    }

    #[test]
    fn an_id_presented_as_a_token_hashes_to_a_different_id() {
        let token = Token::generate().expect("os rng");
        let id = token.session_id().to_string();
        assert!(Token::parse(&id).is_none(), "a 64-char id is never a token");
        assert_ne!(SessionId::from_token(&id), token.session_id());
    }

    #[test]
    fn serde_round_trips_as_hex_string() {
        let id = SessionId::from_token("abc");
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).expect("parse"), id);
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn id_is_deterministic_64_lower_hex(token in ".*") {
            let a = SessionId::from_token(&token).to_string();
            let b = SessionId::from_token(&token).to_string();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), 64);
            prop_assert!(a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        }
    }
}

//! Session tokens: what the client holds.
//!
//! A token is 20 bytes from the operating system's CSPRNG, written in
//! lower-case base32 without padding: 32 characters of `a-z2-7`, 160 bits.
//! This is Narvik's scheme byte for byte, so a token minted by the
//! TypeScript library validates here and the other way round.
//!
//! The store never sees a token: it keys on [`SessionId`], the SHA-256 of
//! the token (see [`crate::SessionId::from_token`]).

use std::fmt;

use data_encoding::BASE32_NOPAD;
use subtle::ConstantTimeEq;

use crate::{Error, SessionId};

/// Random bytes in a token (160 bits).
pub const TOKEN_BYTES: usize = 20;

/// Characters in an encoded token.
pub const TOKEN_LEN: usize = 32;

/// A session token: the secret the client presents on every request.
///
/// `Debug` never shows the value, so a token cannot leak into logs through
/// `{:?}`; use [`Token::as_str`] where the value is really needed (the
/// cookie, the bearer header).
///
/// ```
/// let token = narvik_core::Token::generate()?;
/// assert_eq!(token.as_str().len(), 32);
/// assert_eq!(format!("{token:?}"), "Token(<redacted>)");
/// # Ok::<(), narvik_core::Error>(())
/// ```
///
/// Two tokens compare equal in constant time (`subtle`), so an app that
/// compares a presented token with a stored one leaks nothing through
/// timing; narvik itself only ever compares the ids derived from them.
#[derive(Clone, Eq)]
pub struct Token(String);

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        // Unequal lengths are unequal at once; every token is 32 bytes.
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Token {
    /// Mints a new token from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the operating system cannot supply random
    /// bytes (for example a sandbox that blocks `getrandom(2)`).
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(Error::Random)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Encodes 20 bytes the way Narvik does. Only for test vectors and for
    /// callers that bring their own randomness; [`Token::generate`] is the
    /// normal way to get a token.
    ///
    /// ```
    /// let bytes: [u8; 20] = std::array::from_fn(|i| i as u8);
    /// let token = narvik_core::Token::from_bytes(&bytes);
    /// assert_eq!(token.as_str(), "aaaqeayeaudaocajbifqydiob4ibceqt");
    /// ```
    #[must_use]
    pub fn from_bytes(bytes: &[u8; TOKEN_BYTES]) -> Self {
        let mut encoded = BASE32_NOPAD.encode(bytes);
        encoded.make_ascii_lowercase();
        Self(encoded)
    }

    /// Accepts a string only if it could be a token minted by narvik or
    /// Narvik: exactly 32 characters of `a-z2-7`. Anything else (empty,
    /// too long, upper case, whitespace, `;`) is `None`.
    ///
    /// ```
    /// assert!(narvik_core::Token::parse("aaaqeayeaudaocajbifqydiob4ibceqt").is_some());
    /// assert!(narvik_core::Token::parse("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT").is_none());
    /// assert!(narvik_core::Token::parse("").is_none());
    /// ```
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        is_well_formed(value).then(|| Self(value.to_owned()))
    }

    /// The token as sent to the client.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The session id this token stands for.
    #[must_use]
    pub fn session_id(&self) -> SessionId {
        SessionId::from_token(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// True if `value` has the shape of a token: 32 bytes, each in `a-z2-7`.
///
/// Checked before any hashing or store call so that garbage (including
/// megabyte-long headers) costs one length comparison.
pub(crate) fn is_well_formed(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn equality_sees_every_character_and_the_length() {
        let token = super::Token::generate().expect("os rng");
        assert_eq!(token, token.clone());
        let text = token.as_str();
        for i in 0..text.len() {
            let mut other = text.as_bytes().to_vec();
            other[i] = if other[i] == b'a' { b'b' } else { b'a' };
            let other = String::from_utf8(other).expect("ascii");
            let other = super::Token::parse(&other).expect("token-shaped");
            assert_ne!(token, other, "differs at {i}");
        }
        assert_ne!(token, super::Token(text[..31].to_owned()));
    }

    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_tokens_are_32_chars_of_the_base32_alphabet() {
        let token = Token::generate().expect("os rng");
        assert_eq!(token.as_str().len(), TOKEN_LEN);
        assert!(is_well_formed(token.as_str()), "{}", token.as_str());
    }

    #[test]
    fn ten_thousand_tokens_are_distinct_and_well_formed() {
        let tokens: HashSet<String> = (0..10_000)
            .map(|_| Token::generate().expect("os rng").as_str().to_owned())
            .collect();
        assert_eq!(tokens.len(), 10_000);
        assert!(tokens.iter().all(|t| is_well_formed(t)));
    }

    /// 160 bits fill the 32 characters exactly (5 bits each), so every
    /// position must take every one of the 32 symbols: a byte left
    /// constant, or fewer random bytes, would pin some positions. With
    /// 2,000 tokens a position misses a symbol with probability about
    /// 32 * (31/32)^2000, under 1e-26.
    #[test]
    fn every_character_of_a_token_varies() {
        let mut seen = [[false; 32]; TOKEN_LEN];
        for _ in 0..2_000 {
            let token = Token::generate().expect("os rng");
            for (position, b) in token.as_str().bytes().enumerate() {
                let symbol = match b {
                    b'a'..=b'z' => b - b'a',
                    b'2'..=b'7' => b - b'2' + 26,
                    _ => panic!("not base32: {b}"),
                };
                seen[position][usize::from(symbol)] = true;
            }
        }
        for (position, symbols) in seen.iter().enumerate() {
            assert!(
                symbols.iter().all(|&s| s),
                "position {position}: {symbols:?}"
            );
        }
    }

    #[test]
    fn narvik_test_vector_bytes_0_to_19() {
        let bytes: [u8; 20] = std::array::from_fn(|i| u8::try_from(i).expect("small"));
        assert_eq!(
            Token::from_bytes(&bytes).as_str(),
            "aaaqeayeaudaocajbifqydiob4ibceqt"
        );
    }

    #[test]
    fn parse_rejects_everything_but_32_base32_chars() {
        let valid = "aaaqeayeaudaocajbifqydiob4ibceqt";
        assert!(Token::parse(valid).is_some());
        for bad in [
            "",
            "a",
            &valid[..31],
            &format!("{valid}a"),
            "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT",
            "aaaqeayeaudaocajbifqydiob4ibceq1",
            "aaaqeayeaudaocajbifqydiob4ibceq8",
            "aaaqeayeaudaocajbifqydiob4ibce;t",
            "aaaqeayeaudaocajbifqydiob4ibce t",
            "aaaqeayeaudaocajbifqydiob4ibce\0t",
            "aaaqeayeaudaocajbifqydiob4ibceé",
            &"a".repeat(1 << 20),
        ] {
            assert!(Token::parse(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn debug_redacts_the_value() {
        let token = Token::generate().expect("os rng");
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.as_str()));
    }
}

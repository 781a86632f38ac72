//! The session table's name, checked so that it can go into SQL text.
//!
//! Table names cannot be bind parameters, so the stores write the name into
//! their statements. [`TableName`] only holds names that are safe there:
//! an ASCII letter or `_` followed by ASCII letters, digits or `_`, at most
//! [`TableName::MAX_LEN`] bytes. The stores quote it as well, so a name that
//! happens to be a keyword (`order`, `user`) still works.

use std::fmt;
use std::str::FromStr;

/// A checked name for the session table.
///
/// ```
/// use narvik_sqlx::TableName;
///
/// let name = TableName::new("app_sessions")?;
/// assert_eq!(name.as_str(), "app_sessions");
/// assert_eq!(TableName::default().as_str(), "narvik_sessions");
///
/// assert!(TableName::new("sessions; DROP TABLE users").is_err());
/// assert!(TableName::new("public.sessions").is_err());
/// # Ok::<(), narvik_sqlx::InvalidTableName>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// The longest name accepted, in bytes.
    ///
    /// The stores name their indexes `<table>_user_id_idx` and
    /// `<table>_expires_at_idx`; 48 leaves room for those suffixes under
    /// PostgreSQL's 63-byte and MySQL's 64-byte identifier limits, which
    /// would otherwise truncate (PostgreSQL) or refuse (MySQL) the index
    /// names.
    pub const MAX_LEN: usize = 48;

    /// The default name, `narvik_sessions`.
    pub const DEFAULT: &'static str = "narvik_sessions";

    /// Checks `name` and wraps it.
    ///
    /// # Errors
    ///
    /// [`InvalidTableName`] if `name` is empty, longer than
    /// [`TableName::MAX_LEN`] bytes, does not start with an ASCII letter or
    /// `_`, or holds anything but ASCII letters, digits and `_`. A
    /// schema-qualified name (`schema.table`) is refused too: set the
    /// connection's search path (PostgreSQL) or database (MySQL) instead.
    pub fn new(name: &str) -> Result<Self, InvalidTableName> {
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if first_ok && rest_ok && name.len() <= Self::MAX_LEN {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidTableName {
                name: name.to_owned(),
            })
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A table name that [`TableName::new`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid session table name {name:?}: expected 1 to 48 ASCII letters, digits or `_`, not starting with a digit"
)]
pub struct InvalidTableName {
    name: String,
}

impl InvalidTableName {
    /// The refused name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["s", "_s", "narvik_sessions", "Sessions2", &"x".repeat(48)] {
            assert!(TableName::new(ok).is_ok(), "{ok:?} should be accepted");
        }
    }

    #[test]
    fn refuses_anything_that_could_escape_an_identifier() {
        for bad in [
            "",
            "1sessions",
            "sessions;",
            "a b",
            "a\"b",
            "a`b",
            "a'b",
            "a-b",
            "schema.table",
            "sessions--",
            "séance",
            "a\0b",
            &"x".repeat(49),
        ] {
            let err = TableName::new(bad).expect_err(bad);
            assert_eq!(err.name(), bad);
        }
    }
}

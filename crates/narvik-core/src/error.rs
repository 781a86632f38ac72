//! The one error type of narvik and of every store built on it.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::SessionId;

/// A boxed error from a store's backend (a database driver, a client).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in narvik.
///
/// A store failure is always an `Err`, never "no session": a database blip
/// must neither sign everyone out nor let anyone in. No variant ever holds
/// a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; see [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The session store failed; the backend's error is the source.
    #[error("session store failed: {context}")]
    Store {
        /// What the store was doing, e.g. `"fetch session"`.
        context: Cow<'static, str>,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// A session with this id already exists; nothing was overwritten.
    #[error("a session with id {0} already exists")]
    DuplicateSessionId(SessionId),

    /// A stored session's data could not be decoded into the session data
    /// type (or encoded on the way in).
    #[error("data of session {id} could not be encoded or decoded")]
    Data {
        /// The session whose data failed.
        id: SessionId,
        /// The serializer's error.
        #[source]
        source: BoxError,
    },

    /// The store does not provide this optional operation (a
    /// [`crate::store::CallbackStore`] built without that callback). The
    /// message is Narvik's own.
    #[error("{0} callback not provided in configuration")]
    NotSupported(&'static str),

    /// A string that should have been a session id (64 lower-case hex
    /// characters) was not.
    #[error("not a session id: expected 64 lower-case hex characters")]
    InvalidSessionId,

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random(#[source] getrandom::Error),
}

impl Error {
    /// Wraps a backend error; `context` says what the store was doing.
    ///
    /// ```
    /// let io = std::io::Error::other("connection reset");
    /// let err = narvik_core::Error::store("fetch session", io);
    /// assert_eq!(err.to_string(), "session store failed: fetch session");
    /// assert!(std::error::Error::source(&err).is_some());
    /// ```
    pub fn store(context: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Store {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Whether this is a store call that ran out of the store's time bound:
    /// an [`Error::Store`] whose source is a [`TimedOut`]. The call may or
    /// may not have taken effect (a write the server finished after the
    /// store stopped waiting); like any store error, it is never "no
    /// session".
    ///
    /// Added without a variant of its own, so code that matches
    /// [`Error::Store`] keeps seeing every store failure, timeouts included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use narvik_core::{Error, TimedOut};
    ///
    /// let err = Error::store("fetch session", TimedOut::new("PostgreSQL", Duration::from_millis(500)));
    /// assert!(err.is_timeout());
    /// assert!(matches!(err, Error::Store { .. }));
    /// assert_eq!(
    ///     err.redacted().to_string(),
    ///     "session store failed: fetch session: no answer from PostgreSQL within 500ms"
    /// );
    /// assert!(!Error::store("fetch session", "connection reset").is_timeout());
    /// ```
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Store { source, .. } if source.is::<TimedOut>())
    }

    /// Wraps a (de)serialization error of session `id`'s data.
    pub fn data(id: SessionId, source: impl Into<BoxError>) -> Self {
        Self::Data {
            id,
            source: source.into(),
        }
    }

    /// The error for a log line: its message and its sources'
    /// (`: `-separated), so that the backend's reason is there, except
    /// the source of [`Error::Data`]. A decoder's message can quote the
    /// stored value (serde_json says `invalid type: string "..."`), and
    /// session data does not belong in logs; the session id does, and
    /// names the row to look at.
    ///
    /// ```
    /// use narvik_core::{Error, Token};
    ///
    /// let io = std::io::Error::other("connection reset");
    /// let err = Error::store("fetch session", io);
    /// assert_eq!(
    ///     err.redacted().to_string(),
    ///     "session store failed: fetch session: connection reset"
    /// );
    ///
    /// let id = Token::generate()?.session_id();
    /// let err = Error::data(id, "invalid type: string \"my secret note\"");
    /// let line = err.redacted().to_string();
    /// assert!(line.contains(&id.to_string()));
    /// assert!(!line.contains("secret"));
    /// # Ok::<(), Error>(())
    /// ```
    #[must_use]
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

/// See [`Error::redacted`].
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(&'a Error);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if let Error::Data { .. } = self.0 {
            return f.write_str(" (the decoder's message is withheld: it may quote session data)");
        }
        let mut source = std::error::Error::source(self.0);
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// The source of an [`Error::Store`] for a call that ran out of the
/// store's time bound ([`Error::is_timeout`]): "no answer from `backend`
/// within `after`", with what the backend said, if anything, as its own
/// source (a pool that gave up waiting for a connection, a statement the
/// server cancelled at its own limit).
///
/// ```
/// use std::time::Duration;
///
/// let io = std::io::Error::other("pool timed out");
/// let timed_out = narvik_core::TimedOut::new("MySQL", Duration::from_secs(1)).with_cause(io);
/// assert_eq!(timed_out.to_string(), "no answer from MySQL within 1s");
/// assert_eq!(timed_out.after(), Duration::from_secs(1));
/// assert!(std::error::Error::source(&timed_out).is_some());
/// ```
#[derive(Debug)]
pub struct TimedOut {
    backend: &'static str,
    after: Duration,
    cause: Option<BoxError>,
}

impl TimedOut {
    /// No answer from `backend` (what the store talks to, e.g.
    /// `"PostgreSQL"`) within `after`.
    #[must_use]
    pub fn new(backend: &'static str, after: Duration) -> Self {
        Self {
            backend,
            after,
            cause: None,
        }
    }

    /// The same, with the backend's own error as the source.
    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<BoxError>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// What the store talks to.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The bound that ran out.
    #[must_use]
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer from {} within {:?}", self.backend, self.after)
    }
}

impl std::error::Error for TimedOut {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A configuration that cannot work, refused when it was built.
///
/// Names the setting and the rule it broke.
///
/// ```
/// let err = narvik_core::Config::builder().cookie_name("bad name").build().unwrap_err();
/// assert_eq!(err.field(), "cookie_name");
/// assert!(err.to_string().contains("RFC 6265"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid narvik configuration: `{field}` {rule}")]
pub struct ConfigError {
    field: &'static str,
    rule: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, rule: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }

    /// The setting that was refused.
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule it broke, in words.
    #[must_use]
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

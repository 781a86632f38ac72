//! Sessions as stored, and what creating or validating one returns.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{SessionId, Timestamp, Token};

/// A session as the store keeps it.
///
/// `D` is the application's additional data (Narvik's "additional fields"):
/// any type the store can hold, `()` when there is none. SQL and Redis
/// stores need it to be serde (de)serializable; [`crate::store::MemoryStore`]
/// only needs `Clone`.
///
/// Narvik's `new` and `extended` flags are not stored, so they are not
/// here: [`NewSession`] is what `create_session` returns, and
/// [`ValidSession::extended`] says whether validation moved the expiry.
///
/// The first five fields are Narvik's (with `created_at`, which Narvik's
/// schema has as a default). The rest are narvik's session lifecycle; a
/// row written by TypeScript Narvik has none of them, which is
/// [`Session::new`]'s defaults, and such a session behaves exactly as it
/// does in Narvik.
///
/// Non-exhaustive, so that the lifecycle can grow without breaking stores:
/// build one with [`Session::new`] and set the public fields.
///
/// ```
/// use narvik_core::{Session, SessionId, Timestamp, Token};
///
/// let id = Token::generate()?.session_id();
/// let now = Timestamp::now();
/// let mut session = Session::new(id, "ada", now, now + std::time::Duration::from_secs(60), ());
/// session.last_active_at = Some(now);
/// assert!(session.persistent && session.length.is_none());
/// # Ok::<(), narvik_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session<D = ()> {
    /// SHA-256 of the token, never the token itself.
    pub id: SessionId,
    /// Whose session this is.
    pub user_id: UserId,
    /// When the session was created. Not in Narvik's schema; used by the
    /// absolute lifetime and by [`crate::Narvik::is_fresh`].
    pub created_at: Timestamp,
    /// When the session expires unless it is extended first.
    pub expires_at: Timestamp,
    /// The application's additional data.
    pub data: D,
    /// This session's own length (remember-me: [`SessionOptions`]), which
    /// drives its extension instead of the configured
    /// [`crate::Config::session_length`]. `None`: the configured length.
    #[serde(default)]
    pub length: Option<Duration>,
    /// Whether the session's cookie persists (`Max-Age`, today's and
    /// Narvik's cookie) or is a browser-session cookie, without `Max-Age`
    /// or `Expires`, that the browser drops when it closes. `true` unless
    /// the session was created with [`SessionOptions::browser_session`].
    #[serde(default = "persistent_by_default")]
    pub persistent: bool,
    /// When a validation last recorded activity (written at most once per
    /// [`crate::ConfigBuilder::activity_interval`]); `None` until then, or
    /// when activity is not recorded.
    #[serde(default)]
    pub last_active_at: Option<Timestamp>,
    /// When the user last proved themselves again in this session
    /// ([`crate::Narvik::mark_reauthenticated`]); `None` if never.
    #[serde(default)]
    pub reauthenticated_at: Option<Timestamp>,
    /// When this session was replaced by a rotation
    /// ([`crate::Narvik::rotate_session`]). A rotated session grants
    /// nothing: for [`ROTATED_MARKER_TTL`] after the rotation it is a
    /// marker that answers [`crate::Validation::Rotated`], then it is gone.
    #[serde(default)]
    pub rotated_at: Option<Timestamp>,
}

fn persistent_by_default() -> bool {
    true
}

/// How long a rotated session stays behind as a marker.
///
/// A browser can have requests in flight with the old cookie when a
/// rotation's response sets the new one. Their responses must not sign it
/// out by clearing the new cookie, so the old id answers
/// [`crate::Validation::Rotated`] (no session, and no blank cookie) for this
/// long, instead of "unknown". The marker grants nothing: whoever holds the
/// old token learns only that it was rotated within the last minute.
/// Stores' purges leave markers alone until this has passed.
pub const ROTATED_MARKER_TTL: Duration = Duration::from_secs(60);

impl<D> Session<D> {
    /// A session with Narvik's fields and none of the lifecycle's: the
    /// configured length, a persistent cookie, no recorded activity,
    /// re-authentication or rotation. What a row written by TypeScript
    /// Narvik reads as.
    pub fn new(
        id: SessionId,
        user_id: impl Into<UserId>,
        created_at: Timestamp,
        expires_at: Timestamp,
        data: D,
    ) -> Self {
        Self {
            id,
            user_id: user_id.into(),
            created_at,
            expires_at,
            data,
            length: None,
            persistent: true,
            last_active_at: None,
            reauthenticated_at: None,
            rotated_at: None,
        }
    }

    /// True if the session has expired at `now` (Narvik's rule: `now >=
    /// expires_at`).
    #[must_use]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// When the session was last used as far as the store knows: the last
    /// recorded activity, or its creation.
    #[must_use]
    pub fn last_seen_at(&self) -> Timestamp {
        self.last_active_at.unwrap_or(self.created_at)
    }
}

/// How a session is created: its length and its kind of cookie
/// (remember-me). [`SessionOptions::default`] is Narvik's session: the
/// configured length and a persistent cookie.
///
/// ```
/// use std::time::Duration;
/// use narvik_core::{Narvik, SessionOptions, store::MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let narvik = Narvik::new(MemoryStore::new());
/// let remember = narvik
///     .create_session_with("ada", (), SessionOptions::persistent(Duration::from_secs(30 * 86_400)))
///     .await?;
/// assert!(narvik.cookie_for(&remember.token, &remember.session).contains("Max-Age=2592000"));
/// let this_visit = narvik
///     .create_session_with("ada", (), SessionOptions::browser_session(Duration::from_secs(12 * 3600)))
///     .await?;
/// assert!(!narvik.cookie_for(&this_visit.token, &this_visit.session).contains("Max-Age"));
/// # Ok::<(), narvik_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    pub(crate) length: Option<Duration>,
    pub(crate) persistent: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            length: None,
            persistent: true,
        }
    }
}

impl SessionOptions {
    /// A remember-me session: a cookie that persists across browser
    /// restarts (`Max-Age`), and `length` of its own, renewed while it is
    /// used like any session's. The cookie's `Max-Age` is the configured
    /// one, capped at what the session has left.
    #[must_use]
    pub fn persistent(length: Duration) -> Self {
        Self {
            length: Some(length),
            persistent: true,
        }
    }

    /// A session for this visit: a cookie without `Max-Age` or `Expires`,
    /// which the browser drops when it closes, and `length` of its own
    /// on the server (a browser left open still signs out after `length`
    /// without use).
    #[must_use]
    pub fn browser_session(length: Duration) -> Self {
        Self {
            length: Some(length),
            persistent: false,
        }
    }

    /// The length the session gets; `None`: the configured one.
    #[must_use]
    pub fn length(&self) -> Option<Duration> {
        self.length
    }

    /// Whether the cookie persists.
    #[must_use]
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }
}

/// What changes in a stored session; every `None` field is left alone.
/// Given to [`crate::store::SessionStore::update_session`].
///
/// An update never creates a session: a store applies it to the session
/// with that id if there is one, and does nothing otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionUpdate<D = ()> {
    /// The new expiry (an extension, or the end of a rotated session).
    pub expires_at: Option<Timestamp>,
    /// Activity recorded now.
    pub last_active_at: Option<Timestamp>,
    /// A re-authentication recorded now.
    pub reauthenticated_at: Option<Timestamp>,
    /// The session was rotated now.
    pub rotated_at: Option<Timestamp>,
    /// New additional data, replacing the old.
    pub data: Option<D>,
}

impl<D> Default for SessionUpdate<D> {
    fn default() -> Self {
        Self {
            expires_at: None,
            last_active_at: None,
            reauthenticated_at: None,
            rotated_at: None,
            data: None,
        }
    }
}

impl<D> SessionUpdate<D> {
    /// An update of the expiry alone: Narvik's `updateSessionExpiry`.
    #[must_use]
    pub fn expiry(expires_at: Timestamp) -> Self {
        Self {
            expires_at: Some(expires_at),
            ..Self::default()
        }
    }

    /// True if the update changes nothing but the expiry (or nothing):
    /// what a store that only has Narvik's columns can apply.
    #[must_use]
    pub fn is_expiry_only(&self) -> bool {
        self.last_active_at.is_none()
            && self.reauthenticated_at.is_none()
            && self.rotated_at.is_none()
            && self.data.is_none()
    }

    /// Applies the update to a session in memory.
    pub fn apply_to(self, session: &mut Session<D>) {
        if let Some(t) = self.expires_at {
            session.expires_at = t;
        }
        if let Some(t) = self.last_active_at {
            session.last_active_at = Some(t);
        }
        if let Some(t) = self.reauthenticated_at {
            session.reauthenticated_at = Some(t);
        }
        if let Some(t) = self.rotated_at {
            session.rotated_at = Some(t);
        }
        if let Some(data) = self.data {
            session.data = data;
        }
    }
}

/// Whose session it is: a user id, shared rather than copied.
///
/// A cheap clone (a reference count), so that a store handing out its
/// sessions, or a session passed to a handler, does not copy the id. Reads
/// as a `&str` ([`Deref`]); compares with strings; (de)serializes as one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(Arc<str>);

impl Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

impl UserId {
    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for UserId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for UserId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl From<&String> for UserId {
    fn from(id: &String) -> Self {
        Self(Arc::from(id.as_str()))
    }
}

impl From<Arc<str>> for UserId {
    fn from(id: Arc<str>) -> Self {
        Self(id)
    }
}

impl From<&UserId> for UserId {
    fn from(id: &UserId) -> Self {
        id.clone()
    }
}

impl From<UserId> for Arc<str> {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        String::from(&*id.0)
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for UserId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for UserId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<UserId> for str {
    fn eq(&self, other: &UserId) -> bool {
        *self == *other.0
    }
}

impl PartialEq<UserId> for &str {
    fn eq(&self, other: &UserId) -> bool {
        **self == *other.0
    }
}

impl PartialEq<UserId> for String {
    fn eq(&self, other: &UserId) -> bool {
        **self == *other.0
    }
}

/// A session just created: the token to hand to the client and the session
/// that was saved. Narvik's `{ token, session }` with `session.new` set.
///
/// Set the cookie ([`crate::Narvik::create_cookie`]) or return the token to
/// a bearer client; the token is not kept anywhere else.
#[derive(Debug, Clone)]
#[must_use = "the token is the only way back to this session"]
pub struct NewSession<D = ()> {
    /// The token for the client. Never stored.
    pub token: Token,
    /// The session as saved.
    pub session: Session<D>,
}

/// A session that validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSession<D = ()> {
    /// The session, with `expires_at` already moved if it was extended.
    pub session: Session<D>,
    /// True if validation extended the session: send the cookie again
    /// (Narvik's `session.extended`).
    pub extended: bool,
}

/// What validating a token found ([`crate::Narvik::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Validation<D = ()> {
    /// A live session.
    Valid(ValidSession<D>),
    /// No session: the token is malformed or unknown, or its session
    /// expired (and was deleted). A cookie carrying it should be cleared.
    Invalid,
    /// No session, because the token's session was rotated within the
    /// last [`ROTATED_MARKER_TTL`]: a request that was in flight during
    /// the rotation. Answer it as signed out, but do not clear the cookie:
    /// the browser already holds the rotated one.
    Rotated,
}

impl<D> Validation<D> {
    /// The valid session, if there is one.
    pub fn valid(self) -> Option<ValidSession<D>> {
        match self {
            Self::Valid(valid) => Some(valid),
            Self::Invalid | Self::Rotated => None,
        }
    }
}

//! Sessions as stored, and what creating or validating one returns.

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session<D = ()> {
    /// SHA-256 of the token, never the token itself.
    pub id: SessionId,
    /// Whose session this is.
    pub user_id: String,
    /// When the session was created. Not in Narvik's schema; used by the
    /// absolute lifetime and by [`crate::Narvik::is_fresh`].
    pub created_at: Timestamp,
    /// When the session expires unless it is extended first.
    pub expires_at: Timestamp,
    /// The application's additional data.
    pub data: D,
}

impl<D> Session<D> {
    /// True if the session has expired at `now` (Narvik's rule: `now >=
    /// expires_at`).
    #[must_use]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.expires_at
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

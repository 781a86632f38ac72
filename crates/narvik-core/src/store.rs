//! Where sessions live: the store traits and the stores in this crate.
//!
//! A store has four required operations, Narvik's `saveSession`,
//! `fetchSession`, `updateSessionExpiry` (here `update_session`, which
//! also records the session lifecycle's times and data) and `deleteSession`, in
//! [`SessionStore`]. The optional ones are capabilities, so that calling
//! one on a store without it does not compile:
//!
//! - [`UserSessionStore`]: list and delete a user's sessions (Narvik's
//!   `fetchSessionsForUser` and `deleteSessionsForUser`, plus "delete all
//!   but this one").
//! - [`PurgeableStore`]: delete every expired session (Narvik's
//!   `deleteAllExpiredSessions`).
//!
//! The traits use `async fn` and are generic: no boxing on the hot path.
//! For a store chosen at run time, [`DynSessionStore`] is the object-safe
//! twin of all three, implemented for every store that has all three;
//! `Arc<dyn DynSessionStore<D>>` is itself a store.
//!
//! # Writing a store
//!
//! A complete (if simplistic) store over a mutex-guarded map:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use narvik_core::store::SessionStore;
//! use narvik_core::{Error, Narvik, Session, SessionId, SessionUpdate};
//!
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<SessionId, Session>>);
//!
//! impl MapStore {
//!     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<SessionId, Session>>, Error> {
//!         self.0.lock().map_err(|_| Error::store("lock map", "poisoned"))
//!     }
//! }
//!
//! impl SessionStore for MapStore {
//!     type Data = ();
//!
//!     async fn save_session(&self, session: &Session) -> Result<(), Error> {
//!         let mut map = self.map()?;
//!         // Insert-only: a duplicate id is an error, never an overwrite.
//!         if map.contains_key(&session.id) {
//!             return Err(Error::DuplicateSessionId(session.id));
//!         }
//!         map.insert(session.id, session.clone());
//!         Ok(())
//!     }
//!
//!     async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
//!         Ok(self.map()?.get(id).cloned())
//!     }
//!
//!     async fn update_session(&self, id: &SessionId, update: SessionUpdate) -> Result<bool, Error> {
//!         // Update-only: a session deleted meanwhile stays deleted.
//!         let mut map = self.map()?;
//!         let Some(session) = map.get_mut(id) else { return Ok(false) };
//!         update.apply_to(session);
//!         Ok(true)
//!     }
//!
//!     async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
//!         self.map()?.remove(id);
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let narvik = Narvik::new(MapStore::default());
//! let created = narvik.create_session("user-1", ()).await?;
//! let valid = narvik.validate_session(created.token.as_str()).await?;
//! assert_eq!(valid.map(|v| v.session.user_id).as_deref(), Some("user-1"));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! Then run the conformance suite from `narvik-testkit` against it.
//!
//! # Rules every store keeps
//!
//! - `save_session` is insert-only: an existing id is
//!   [`Error::DuplicateSessionId`] and nothing is overwritten.
//! - `update_session` is update-only: it never re-creates a session
//!   deleted in the meantime, and changes only the fields it is given.
//! - Every field of [`Session`] a store is given comes back from it
//!   (`length`, `persistent` and the lifecycle times included).
//! - Deleting a missing session is not an error.
//! - A backend failure is an `Err` (use [`Error::store`]); "no session" is
//!   only ever `Ok(None)` for a session that is really not there.
//! - Expired means `expires_at <= now`, in purges as in validation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Error, Session, SessionId, SessionUpdate, Timestamp};

mod callback;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod json;
mod memory;

pub use callback::CallbackStore;
pub use memory::MemoryStore;

/// The four operations every store provides.
///
/// See the [module docs](self) for a complete example and the rules.
pub trait SessionStore: Send + Sync {
    /// The sessions' additional data (`()` when there is none).
    type Data: Send + Sync + 'static;

    /// Saves a new session.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateSessionId`] if a session with this id exists (it
    /// is left untouched); [`Error::Store`] if the backend fails;
    /// [`Error::Data`] if `D` cannot be encoded.
    fn save_session(
        &self,
        session: &Session<Self::Data>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Fetches a session by id, expired or not (narvik checks expiry).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails; [`Error::Data`] if the stored
    /// data does not decode into `D`.
    fn fetch_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session<Self::Data>>, Error>> + Send;

    /// Applies `update` to an existing session: sets each field the update
    /// has, leaves the others. Does nothing if the session is gone (never
    /// re-creates it), and says whether it was there.
    ///
    /// Narvik's `updateSessionExpiry` is [`SessionUpdate::expiry`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails; [`Error::Data`] if new data
    /// cannot be encoded.
    fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<Self::Data>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Deletes a session. Deleting a missing one succeeds.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails.
    fn delete_session(&self, id: &SessionId) -> impl Future<Output = Result<(), Error>> + Send;

    /// [`fetch_session`](Self::fetch_session) without waiting, for a store
    /// that can answer at once (it holds its sessions in this process):
    /// `Some` with exactly what `fetch_session` would return, or `None` to
    /// say "ask `fetch_session`". The default is `None`.
    ///
    /// It lets [`Narvik::validate_session_now`](crate::Narvik::validate_session_now)
    /// validate without a future, which a tower layer would otherwise box
    /// on every request. [`MemoryStore`] provides it. A store that wraps
    /// another (to inject faults, or count calls) keeps the default unless
    /// it applies the same faults here.
    ///
    /// # Errors
    ///
    /// As [`fetch_session`](Self::fetch_session), inside the `Some`.
    fn fetch_session_now(
        &self,
        id: &SessionId,
    ) -> Option<Result<Option<Session<Self::Data>>, Error>> {
        let _ = id;
        None
    }
}

/// The per-user operations: list a user's sessions, sign them all out, or
/// all but one.
pub trait UserSessionStore: SessionStore {
    /// Every stored session of `user_id`, in no particular order. May
    /// include expired sessions not yet purged; [`crate::Narvik`] filters
    /// them out.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails; [`Error::Data`] if a
    /// session's data does not decode.
    fn fetch_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Session<Self::Data>>, Error>> + Send;

    /// Deletes every session of `user_id`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails.
    fn delete_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Deletes every session of `user_id` except `keep` ("sign out
    /// everywhere else"). `keep` survives only if it belongs to `user_id`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails.
    fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Deleting expired sessions in bulk.
pub trait PurgeableStore: Send + Sync {
    /// Deletes every session with `expires_at <= now` and returns how many
    /// it deleted. Safe to run concurrently with anything, and twice.
    ///
    /// Except rotation markers: a session whose `rotated_at` is later than
    /// `now - ROTATED_MARKER_TTL` stays until then (see
    /// [`crate::ROTATED_MARKER_TTL`] and [`rotation_marker_cutoff`]), so
    /// that a purge cannot sign out a browser with a request in flight
    /// during a rotation. A table without rotations purges exactly as
    /// Narvik does.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the backend fails.
    fn delete_all_expired_sessions(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// The `rotated_at` at or before which a rotation marker may be purged at
/// `now`: stores purge a session when `expires_at <= now` and its
/// `rotated_at` is unset or at most this.
#[must_use]
pub fn rotation_marker_cutoff(now: Timestamp) -> Timestamp {
    now.saturating_sub(crate::ROTATED_MARKER_TTL)
}

/// A boxed, `Send` future, as returned by [`DynSessionStore`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe twin of [`SessionStore`] + [`UserSessionStore`] +
/// [`PurgeableStore`], for stores chosen at run time.
///
/// Implemented for every store that has all three traits, so it is never
/// implemented by hand; `Arc<dyn DynSessionStore<D>>` implements the three
/// traits in turn and goes wherever a store does.
///
/// ```
/// use std::sync::Arc;
/// use narvik_core::store::{DynSessionStore, MemoryStore};
/// use narvik_core::Narvik;
///
/// let store: Arc<dyn DynSessionStore<()>> = Arc::new(MemoryStore::new());
/// let narvik = Narvik::new(store);
/// # let _ = narvik;
/// ```
pub trait DynSessionStore<D>: Send + Sync {
    /// See [`SessionStore::save_session`].
    fn save_session<'a>(&'a self, session: &'a Session<D>) -> BoxFuture<'a, Result<(), Error>>;
    /// See [`SessionStore::fetch_session`].
    fn fetch_session<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<Session<D>>, Error>>;
    /// See [`SessionStore::update_session`].
    fn update_session<'a>(
        &'a self,
        id: &'a SessionId,
        update: SessionUpdate<D>,
    ) -> BoxFuture<'a, Result<bool, Error>>;
    /// See [`SessionStore::delete_session`].
    fn delete_session<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), Error>>;
    /// See [`SessionStore::fetch_session_now`].
    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<D>>, Error>>;
    /// See [`UserSessionStore::fetch_sessions_for_user`].
    fn fetch_sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Session<D>>, Error>>;
    /// See [`UserSessionStore::delete_sessions_for_user`].
    fn delete_sessions_for_user<'a>(&'a self, user_id: &'a str)
    -> BoxFuture<'a, Result<(), Error>>;
    /// See [`UserSessionStore::delete_other_sessions_for_user`].
    fn delete_other_sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
        keep: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// See [`PurgeableStore::delete_all_expired_sessions`].
    fn delete_all_expired_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, Error>>;
}

impl<D: 'static, S> DynSessionStore<D> for S
where
    S: UserSessionStore<Data = D> + PurgeableStore,
{
    fn save_session<'a>(&'a self, session: &'a Session<D>) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(SessionStore::save_session(self, session))
    }
    fn fetch_session<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<Session<D>>, Error>> {
        Box::pin(SessionStore::fetch_session(self, id))
    }
    fn update_session<'a>(
        &'a self,
        id: &'a SessionId,
        update: SessionUpdate<D>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(SessionStore::update_session(self, id, update))
    }
    fn delete_session<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(SessionStore::delete_session(self, id))
    }
    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<D>>, Error>> {
        SessionStore::fetch_session_now(self, id)
    }
    fn fetch_sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Session<D>>, Error>> {
        Box::pin(UserSessionStore::fetch_sessions_for_user(self, user_id))
    }
    fn delete_sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(UserSessionStore::delete_sessions_for_user(self, user_id))
    }
    fn delete_other_sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
        keep: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(UserSessionStore::delete_other_sessions_for_user(
            self, user_id, keep,
        ))
    }
    fn delete_all_expired_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(PurgeableStore::delete_all_expired_sessions(self, now))
    }
}

impl<'s, D: Send + Sync + 'static> SessionStore for dyn DynSessionStore<D> + 's {
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        DynSessionStore::save_session(self, session).await
    }
    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        DynSessionStore::fetch_session(self, id).await
    }
    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<D>,
    ) -> Result<bool, Error> {
        DynSessionStore::update_session(self, id, update).await
    }
    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        DynSessionStore::delete_session(self, id).await
    }
    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<D>>, Error>> {
        DynSessionStore::fetch_session_now(self, id)
    }
}

impl<'s, D: Send + Sync + 'static> UserSessionStore for dyn DynSessionStore<D> + 's {
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        DynSessionStore::fetch_sessions_for_user(self, user_id).await
    }
    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        DynSessionStore::delete_sessions_for_user(self, user_id).await
    }
    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        DynSessionStore::delete_other_sessions_for_user(self, user_id, keep).await
    }
}

impl<'s, D: Send + Sync + 'static> PurgeableStore for dyn DynSessionStore<D> + 's {
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        DynSessionStore::delete_all_expired_sessions(self, now).await
    }
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    type Data = S::Data;

    fn save_session(
        &self,
        session: &Session<S::Data>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).save_session(session)
    }
    fn fetch_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session<S::Data>>, Error>> + Send {
        (**self).fetch_session(id)
    }
    fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<S::Data>,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).update_session(id, update)
    }
    fn delete_session(&self, id: &SessionId) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).delete_session(id)
    }
    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<S::Data>>, Error>> {
        (**self).fetch_session_now(id)
    }
}

impl<S: UserSessionStore + ?Sized> UserSessionStore for Arc<S> {
    fn fetch_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Session<S::Data>>, Error>> + Send {
        (**self).fetch_sessions_for_user(user_id)
    }
    fn delete_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).delete_sessions_for_user(user_id)
    }
    fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).delete_other_sessions_for_user(user_id, keep)
    }
}

impl<S: PurgeableStore + ?Sized> PurgeableStore for Arc<S> {
    fn delete_all_expired_sessions(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).delete_all_expired_sessions(now)
    }
}

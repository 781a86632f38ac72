//! A store made of closures: the direct mirror of Narvik's `data` object.

use std::future::Future;
use std::sync::Arc;

use super::{BoxFuture, PurgeableStore, SessionStore, UserSessionStore};
use crate::{Error, Session, SessionId, SessionUpdate, Timestamp};

type Callback<A, T> = Arc<dyn Fn(A) -> BoxFuture<'static, Result<T, Error>> + Send + Sync>;

fn boxed<A, T, F, Fut>(f: F) -> Callback<A, T>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    Arc::new(move |arg| Box::pin(f(arg)))
}

/// A store whose operations are closures, as in Narvik's configuration:
///
/// ```ts
/// new Narvik({ data: { saveSession, fetchSession, updateSessionExpiry, deleteSession,
///                      fetchSessionsForUser?, deleteSessionsForUser?, deleteAllExpiredSessions? } })
/// ```
///
/// The four required callbacks are the arguments of [`CallbackStore::new`];
/// the optional ones are added with the `with_*` methods. An optional
/// callback that was not given answers [`Error::NotSupported`], whose
/// message is Narvik's: "fetchSessionsForUser callback not provided in
/// configuration". (Stores written as types get the compile-time version of
/// this: see [`UserSessionStore`].)
///
/// Each closure takes its arguments by value and returns a `'static`
/// future, so it can move them into an `async` block.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// use narvik_core::store::CallbackStore;
/// use narvik_core::{Error, Narvik, Session};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let db: Arc<Mutex<HashMap<String, Session>>> = Arc::default();
/// let (d1, d2, d3, d4) = (db.clone(), db.clone(), db.clone(), db.clone());
/// let store = CallbackStore::new(
///     move |session: Session| {
///         let db = d1.clone();
///         async move {
///             let mut db = db.lock().map_err(|_| Error::store("save", "poisoned"))?;
///             if db.contains_key(&session.id.to_string()) {
///                 return Err(Error::DuplicateSessionId(session.id));
///             }
///             db.insert(session.id.to_string(), session);
///             Ok(())
///         }
///     },
///     move |id| {
///         let found = d2.lock().ok().and_then(|db| db.get(&id.to_string()).cloned());
///         async move { Ok(found) }
///     },
///     move |(id, expires_at)| {
///         if let Ok(mut db) = d3.lock() {
///             if let Some(s) = db.get_mut(&id.to_string()) {
///                 s.expires_at = expires_at;
///             }
///         }
///         async { Ok(()) }
///     },
///     move |id| {
///         if let Ok(mut db) = d4.lock() {
///             db.remove(&id.to_string());
///         }
///         async { Ok(()) }
///     },
/// );
/// let narvik = Narvik::new(store);
/// let created = narvik.create_session("grace", ()).await?;
/// assert!(narvik.validate_session(created.token.as_str()).await?.is_some());
///
/// let err = narvik.fetch_sessions_for_user("grace").await.unwrap_err();
/// assert_eq!(err.to_string(), "fetchSessionsForUser callback not provided in configuration");
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub struct CallbackStore<D = ()> {
    save_session: Callback<Session<D>, ()>,
    fetch_session: Callback<SessionId, Option<Session<D>>>,
    update_session_expiry: Callback<(SessionId, Timestamp), ()>,
    update_session: Option<Callback<(SessionId, SessionUpdate<D>), bool>>,
    delete_session: Callback<SessionId, ()>,
    fetch_sessions_for_user: Option<Callback<String, Vec<Session<D>>>>,
    delete_sessions_for_user: Option<Callback<String, ()>>,
    delete_other_sessions_for_user: Option<Callback<(String, SessionId), ()>>,
    delete_all_expired_sessions: Option<Callback<Timestamp, u64>>,
}

impl<D> Clone for CallbackStore<D> {
    fn clone(&self) -> Self {
        Self {
            save_session: Arc::clone(&self.save_session),
            fetch_session: Arc::clone(&self.fetch_session),
            update_session_expiry: Arc::clone(&self.update_session_expiry),
            update_session: self.update_session.clone(),
            delete_session: Arc::clone(&self.delete_session),
            fetch_sessions_for_user: self.fetch_sessions_for_user.clone(),
            delete_sessions_for_user: self.delete_sessions_for_user.clone(),
            delete_other_sessions_for_user: self.delete_other_sessions_for_user.clone(),
            delete_all_expired_sessions: self.delete_all_expired_sessions.clone(),
        }
    }
}

impl<D> std::fmt::Debug for CallbackStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackStore")
            .field("update_session", &self.update_session.is_some())
            .field(
                "fetch_sessions_for_user",
                &self.fetch_sessions_for_user.is_some(),
            )
            .field(
                "delete_sessions_for_user",
                &self.delete_sessions_for_user.is_some(),
            )
            .field(
                "delete_other_sessions_for_user",
                &self.delete_other_sessions_for_user.is_some(),
            )
            .field(
                "delete_all_expired_sessions",
                &self.delete_all_expired_sessions.is_some(),
            )
            .finish_non_exhaustive()
    }
}

impl<D: Send + Sync + 'static> CallbackStore<D> {
    /// A store from Narvik's four required callbacks: `saveSession`,
    /// `fetchSession`, `updateSessionExpiry` (given `(id, expires_at)`) and
    /// `deleteSession`. See [`SessionStore`] for the rules each must keep.
    pub fn new<Save, SaveFut, Fetch, FetchFut, Update, UpdateFut, Delete, DeleteFut>(
        save_session: Save,
        fetch_session: Fetch,
        update_session_expiry: Update,
        delete_session: Delete,
    ) -> Self
    where
        Save: Fn(Session<D>) -> SaveFut + Send + Sync + 'static,
        SaveFut: Future<Output = Result<(), Error>> + Send + 'static,
        Fetch: Fn(SessionId) -> FetchFut + Send + Sync + 'static,
        FetchFut: Future<Output = Result<Option<Session<D>>, Error>> + Send + 'static,
        Update: Fn((SessionId, Timestamp)) -> UpdateFut + Send + Sync + 'static,
        UpdateFut: Future<Output = Result<(), Error>> + Send + 'static,
        Delete: Fn(SessionId) -> DeleteFut + Send + Sync + 'static,
        DeleteFut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        Self {
            save_session: boxed(save_session),
            fetch_session: boxed(fetch_session),
            update_session_expiry: boxed(update_session_expiry),
            update_session: None,
            delete_session: boxed(delete_session),
            fetch_sessions_for_user: None,
            delete_sessions_for_user: None,
            delete_other_sessions_for_user: None,
            delete_all_expired_sessions: None,
        }
    }

    /// Adds the callback for the session lifecycle's updates (not in
    /// Narvik), given `(id, update)`: it must set each field the update
    /// has (see [`SessionUpdate::apply_to`]), never create a session, and
    /// return whether the session was there. With it, it takes every
    /// update, extensions included, and the `updateSessionExpiry` callback
    /// is no longer called.
    ///
    /// Without it, an update of the expiry alone goes to
    /// `updateSessionExpiry` (counted as found, as Narvik cannot tell), and
    /// any other update (activity, re-authentication, rotation, data) is
    /// [`Error::NotSupported`].
    #[must_use]
    pub fn with_update_session<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn((SessionId, SessionUpdate<D>)) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, Error>> + Send + 'static,
    {
        self.update_session = Some(boxed(f));
        self
    }

    /// Adds Narvik's optional `fetchSessionsForUser` callback.
    #[must_use]
    pub fn with_fetch_sessions_for_user<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Session<D>>, Error>> + Send + 'static,
    {
        self.fetch_sessions_for_user = Some(boxed(f));
        self
    }

    /// Adds Narvik's optional `deleteSessionsForUser` callback.
    #[must_use]
    pub fn with_delete_sessions_for_user<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.delete_sessions_for_user = Some(boxed(f));
        self
    }

    /// Adds the callback for "sign out everywhere else" (not in Narvik),
    /// given `(user_id, keep)`.
    #[must_use]
    pub fn with_delete_other_sessions_for_user<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn((String, SessionId)) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.delete_other_sessions_for_user = Some(boxed(f));
        self
    }

    /// Adds Narvik's optional `deleteAllExpiredSessions` callback, given the
    /// current time and returning how many sessions it deleted. It must
    /// delete exactly the sessions with `expires_at <= now`.
    #[must_use]
    pub fn with_delete_all_expired_sessions<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Timestamp) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, Error>> + Send + 'static,
    {
        self.delete_all_expired_sessions = Some(boxed(f));
        self
    }
}

/// Calls an optional callback, or fails the way Narvik does.
fn optional<A, T>(
    callback: Option<&Callback<A, T>>,
    name: &'static str,
    arg: A,
) -> BoxFuture<'static, Result<T, Error>>
where
    T: Send + 'static,
{
    match callback {
        Some(f) => f(arg),
        None => Box::pin(std::future::ready(Err(Error::NotSupported(name)))),
    }
}

impl<D: Clone + Send + Sync + 'static> SessionStore for CallbackStore<D> {
    type Data = D;

    fn save_session(&self, session: &Session<D>) -> impl Future<Output = Result<(), Error>> + Send {
        (self.save_session)(session.clone())
    }

    fn fetch_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session<D>>, Error>> + Send {
        (self.fetch_session)(*id)
    }

    fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<D>,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        if let Some(f) = &self.update_session {
            return f((*id, update));
        }
        match update.expires_at {
            Some(expires_at) if update.is_expiry_only() => {
                let expiry = (self.update_session_expiry)((*id, expires_at));
                Box::pin(async move { expiry.await.map(|()| true) })
            }
            None if update.is_expiry_only() => Box::pin(std::future::ready(Ok(true))),
            _ => Box::pin(std::future::ready(Err(Error::NotSupported(
                "updateSession",
            )))),
        }
    }

    fn delete_session(&self, id: &SessionId) -> impl Future<Output = Result<(), Error>> + Send {
        (self.delete_session)(*id)
    }
}

impl<D: Clone + Send + Sync + 'static> UserSessionStore for CallbackStore<D> {
    fn fetch_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Session<D>>, Error>> + Send {
        optional(
            self.fetch_sessions_for_user.as_ref(),
            "fetchSessionsForUser",
            user_id.to_owned(),
        )
    }

    fn delete_sessions_for_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        optional(
            self.delete_sessions_for_user.as_ref(),
            "deleteSessionsForUser",
            user_id.to_owned(),
        )
    }

    fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        optional(
            self.delete_other_sessions_for_user.as_ref(),
            "deleteOtherSessionsForUser",
            (user_id.to_owned(), *keep),
        )
    }
}

impl<D: Send + Sync + 'static> PurgeableStore for CallbackStore<D> {
    fn delete_all_expired_sessions(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        optional(
            self.delete_all_expired_sessions.as_ref(),
            "deleteAllExpiredSessions",
            now,
        )
    }
}

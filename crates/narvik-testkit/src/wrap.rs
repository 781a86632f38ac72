//! A store wrapper for tests: it passes every call to the store inside,
//! and on the way counts calls, fails the ones you choose, runs your hooks
//! before and after an operation, and runs a cleanup when it is dropped.
//!
//! [`Wrapped`] implements each store trait its inner store implements
//! ([`SessionStore`], [`UserSessionStore`], [`PurgeableStore`]), so it goes
//! wherever the inner store would, a [`Narvik`](narvik_core::Narvik)
//! included. Clones share the counts, the faults and the hooks (and the
//! inner store, if its clones share their data, as `MemoryStore`'s do), so
//! a test can hand one clone to the code under test and watch through
//! another.
//!
//! A call goes through these steps, in order:
//!
//! 1. it is counted ([`Wrapped::calls`]);
//! 2. if a fault is set for its operation ([`Wrapped::fail`],
//!    [`Wrapped::fail_next`]), it fails at once with
//!    [`injected_failure`], and the inner store never sees it;
//! 3. the [`Wrapped::before`] hooks of its operation run, in the order
//!    they were added; the first to fail makes the call fail;
//! 4. the inner store answers;
//! 5. the [`Wrapped::after`] hooks of its operation see the answer and may
//!    change it.
//!
//! # Lookups without waiting
//!
//! [`SessionStore::fetch_session_now`] is forwarded to the inner store, so
//! a wrapped [`MemoryStore`](narvik_core::store::MemoryStore) still lets
//! [`Narvik::validate_session_now`](narvik_core::Narvik::validate_session_now)
//! (and a framework layer's path that calls it) answer without waiting. It
//! is the operation [`Op::FetchSession`], and goes through the same steps,
//! so a test sees one behaviour whichever path the code under test takes:
//!
//! - a fault set for [`Op::FetchSession`] makes it answer at once with
//!   [`injected_failure`] (counted, the fault used up), as the waiting
//!   lookup would have;
//! - with a [`Wrapped::before`] hook for [`Op::FetchSession`], or an inner
//!   store that cannot answer at once, it answers `None` without counting:
//!   the hooks can only run in the waiting lookup, which is then made and
//!   counted;
//! - otherwise the inner store's answer is counted and goes through the
//!   [`Wrapped::after`] hooks, and [`Wrapped::answered_at_once`] goes up.
//!
//! A validation that must write (an expired session, or one due for
//! extension) gets an answer at once, then looks the session up again
//! while waiting: two [`Op::FetchSession`] calls.
//! [`Wrapped::answering_at_once`]`(false)` turns the forwarding off, for a
//! test of the path a remote store takes.
//!
//! # Examples
//!
//! Counting calls, and a store that is down for one lookup:
//!
//! ```
//! use narvik_core::store::MemoryStore;
//! use narvik_core::{Error, Narvik};
//! use narvik_testkit::wrap::{Op, Wrapped};
//!
//! # tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
//! let store = Wrapped::new(MemoryStore::<()>::new());
//! let narvik = Narvik::new(store.clone());
//! let created = narvik.create_session("ada", ()).await?;
//! assert_eq!(store.calls(Op::SaveSession), 1);
//!
//! store.fail_next(Op::FetchSession, 1);
//! let down = narvik.validate_session(created.token.as_str()).await;
//! assert!(matches!(down, Err(Error::Store { .. })), "a failure is an error, not \"no session\"");
//! assert!(narvik.validate_session(created.token.as_str()).await?.is_some());
//! assert_eq!(store.calls(Op::FetchSession), 2);
//! # Ok::<(), Error>(())
//! # }).expect("the example");
//! ```
//!
//! A cleanup when the store goes, as a test of a database store drops
//! its table:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! use narvik_core::store::MemoryStore;
//! use narvik_testkit::wrap::Wrapped;
//!
//! let cleaned = Arc::new(AtomicBool::new(false));
//! let flag = Arc::clone(&cleaned);
//! let store = Wrapped::new(MemoryStore::<()>::new())
//!     .on_drop(move || flag.store(true, Ordering::SeqCst));
//! let clone = store.clone();
//! drop(store);
//! assert!(!cleaned.load(Ordering::SeqCst), "a clone is still alive");
//! drop(clone);
//! assert!(cleaned.load(Ordering::SeqCst));
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use narvik_core::store::{BoxFuture, PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, SessionUpdate, Timestamp};

/// The message of the error behind every [`injected_failure`], for tests
/// that look for it in logs or responses.
pub const INJECTED_FAILURE: &str = "injected failure: the store is unreachable";

/// The error a call fails with when a fault is set for its operation: an
/// [`Error::Store`] with the operation's name as context and, as source, an
/// I/O error of kind `ConnectionRefused` saying [`INJECTED_FAILURE`], as
/// a backend that is down would give.
#[must_use]
pub fn injected_failure(op: Op) -> Error {
    Error::store(
        op.name(),
        io::Error::new(io::ErrorKind::ConnectionRefused, INJECTED_FAILURE),
    )
}

/// One of the store operations, named as the trait methods are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`SessionStore::save_session`].
    SaveSession,
    /// [`SessionStore::fetch_session`].
    FetchSession,
    /// [`SessionStore::update_session`].
    UpdateSession,
    /// [`SessionStore::delete_session`].
    DeleteSession,
    /// [`UserSessionStore::fetch_sessions_for_user`].
    FetchSessionsForUser,
    /// [`UserSessionStore::delete_sessions_for_user`].
    DeleteSessionsForUser,
    /// [`UserSessionStore::delete_other_sessions_for_user`].
    DeleteOtherSessionsForUser,
    /// [`PurgeableStore::delete_all_expired_sessions`].
    DeleteAllExpiredSessions,
}

impl Op {
    /// Every operation, in trait order.
    pub const ALL: [Self; 8] = [
        Self::SaveSession,
        Self::FetchSession,
        Self::UpdateSession,
        Self::DeleteSession,
        Self::FetchSessionsForUser,
        Self::DeleteSessionsForUser,
        Self::DeleteOtherSessionsForUser,
        Self::DeleteAllExpiredSessions,
    ];

    /// The trait method's name, e.g. `"save_session"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::SaveSession => "save_session",
            Self::FetchSession => "fetch_session",
            Self::UpdateSession => "update_session",
            Self::DeleteSession => "delete_session",
            Self::FetchSessionsForUser => "fetch_sessions_for_user",
            Self::DeleteSessionsForUser => "delete_sessions_for_user",
            Self::DeleteOtherSessionsForUser => "delete_other_sessions_for_user",
            Self::DeleteAllExpiredSessions => "delete_all_expired_sessions",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A call on its way to the inner store, with its arguments, as hooks see
/// it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Call<'a, D> {
    /// [`SessionStore::save_session`].
    SaveSession {
        /// The session to save.
        session: &'a Session<D>,
    },
    /// [`SessionStore::fetch_session`].
    FetchSession {
        /// The session asked for.
        id: &'a SessionId,
    },
    /// [`SessionStore::update_session`].
    UpdateSession {
        /// The session to update.
        id: &'a SessionId,
        /// The new expiry, if the update has one (an extension, or a
        /// rotation's end of the old session).
        expires_at: Option<Timestamp>,
        /// The activity recorded, if any.
        last_active_at: Option<Timestamp>,
        /// The re-authentication recorded, if any.
        reauthenticated_at: Option<Timestamp>,
        /// The rotation recorded, if any.
        rotated_at: Option<Timestamp>,
        /// Whether the update replaces the data (which the call does not
        /// lend: the inner store takes it).
        replaces_data: bool,
    },
    /// [`SessionStore::delete_session`].
    DeleteSession {
        /// The session to delete.
        id: &'a SessionId,
    },
    /// [`UserSessionStore::fetch_sessions_for_user`].
    FetchSessionsForUser {
        /// Whose sessions.
        user_id: &'a str,
    },
    /// [`UserSessionStore::delete_sessions_for_user`].
    DeleteSessionsForUser {
        /// Whose sessions.
        user_id: &'a str,
    },
    /// [`UserSessionStore::delete_other_sessions_for_user`].
    DeleteOtherSessionsForUser {
        /// Whose sessions.
        user_id: &'a str,
        /// The one to keep.
        keep: &'a SessionId,
    },
    /// [`PurgeableStore::delete_all_expired_sessions`].
    DeleteAllExpiredSessions {
        /// The purge's "now".
        now: Timestamp,
    },
}

// By hand: a derive would ask for `D: Clone`, and a call holds no `D` by
// value.
impl<D> Clone for Call<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Call<'_, D> {}

impl<'a, D> Call<'a, D> {
    /// Which operation this is.
    #[must_use]
    pub const fn op(&self) -> Op {
        match self {
            Self::SaveSession { .. } => Op::SaveSession,
            Self::FetchSession { .. } => Op::FetchSession,
            Self::UpdateSession { .. } => Op::UpdateSession,
            Self::DeleteSession { .. } => Op::DeleteSession,
            Self::FetchSessionsForUser { .. } => Op::FetchSessionsForUser,
            Self::DeleteSessionsForUser { .. } => Op::DeleteSessionsForUser,
            Self::DeleteOtherSessionsForUser { .. } => Op::DeleteOtherSessionsForUser,
            Self::DeleteAllExpiredSessions { .. } => Op::DeleteAllExpiredSessions,
        }
    }

    /// The one session the call is about, if it is about one (for "delete
    /// others", the one kept).
    #[must_use]
    pub const fn session_id(&self) -> Option<&'a SessionId> {
        match *self {
            Self::SaveSession { session } => Some(&session.id),
            Self::FetchSession { id }
            | Self::UpdateSession { id, .. }
            | Self::DeleteSession { id } => Some(id),
            Self::DeleteOtherSessionsForUser { keep, .. } => Some(keep),
            Self::FetchSessionsForUser { .. }
            | Self::DeleteSessionsForUser { .. }
            | Self::DeleteAllExpiredSessions { .. } => None,
        }
    }
}

/// The inner store's answer to a call, as [`Wrapped::after`] hooks see it:
/// they may read it or replace it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply<'r, D> {
    /// The answer of an operation that returns nothing: save, delete, and
    /// the per-user deletes.
    Done(&'r mut Result<(), Error>),
    /// The answer of [`SessionStore::update_session`]: whether the session
    /// was there.
    Found(&'r mut Result<bool, Error>),
    /// The answer of [`SessionStore::fetch_session`].
    Session(&'r mut Result<Option<Session<D>>, Error>),
    /// The answer of [`UserSessionStore::fetch_sessions_for_user`].
    Sessions(&'r mut Result<Vec<Session<D>>, Error>),
    /// The answer of [`PurgeableStore::delete_all_expired_sessions`].
    Purged(&'r mut Result<u64, Error>),
}

impl<D> Reply<'_, D> {
    /// Replaces the answer with `error`, whatever the operation: a write
    /// that reached the store but whose caller sees a failure (a timeout
    /// after the commit).
    pub fn set_error(self, error: Error) {
        match self {
            Self::Done(result) => *result = Err(error),
            Self::Found(result) => *result = Err(error),
            Self::Session(result) => *result = Err(error),
            Self::Sessions(result) => *result = Err(error),
            Self::Purged(result) => *result = Err(error),
        }
    }
}

/// A hook run before an operation: the inner store and the call.
type BeforeHook<S, D> =
    dyn for<'a> Fn(&'a S, Call<'a, D>) -> BoxFuture<'a, Result<(), Error>> + Send + Sync;

/// A hook run after an operation: the call and the inner store's answer.
type AfterHook<D> = dyn Fn(Call<'_, D>, Reply<'_, D>) + Send + Sync;

/// A hook, its type erased so that [`Wrapped`] needs no bound on its inner
/// store; [`Wrapped::before`] and [`Wrapped::after`] store only
/// `Box<BeforeHook<S, S::Data>>` and `Box<AfterHook<S::Data>>`, which is
/// what the calls look for.
type Erased = Arc<dyn Any + Send + Sync>;

/// A fault count that never runs down.
const ALWAYS: usize = usize::MAX;

/// What clones of one [`Wrapped`] share.
struct Shared {
    calls: [AtomicUsize; Op::ALL.len()],
    /// Whether `fetch_session_now` is passed to the inner store.
    at_once: AtomicBool,
    /// How many `fetch_session_now` calls were answered (`Some`).
    answered_at_once: AtomicUsize,
    /// Per operation, how many of its next calls fail ([`ALWAYS`]: all).
    faults: [AtomicUsize; Op::ALL.len()],
    before: RwLock<Vec<(Op, Erased)>>,
    after: RwLock<Vec<(Op, Erased)>>,
    on_drop: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            calls: Default::default(),
            at_once: AtomicBool::new(true),
            answered_at_once: AtomicUsize::new(0),
            faults: Default::default(),
            before: RwLock::default(),
            after: RwLock::default(),
            on_drop: Mutex::default(),
        }
    }
}

impl Shared {
    /// Takes one fault of `op`, if one is set.
    fn take_fault(&self, op: Op) -> bool {
        self.faults[op.index()]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                ALWAYS => Some(ALWAYS),
                n => Some(n - 1),
            })
            .is_ok()
    }

    /// The hooks of `op`, cloned out so that no lock is held while they run.
    fn hooks(list: &RwLock<Vec<(Op, Erased)>>, op: Op) -> Vec<Erased> {
        list.read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(of, _)| *of == op)
            .map(|(_, hook)| Arc::clone(hook))
            .collect()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let hooks = std::mem::take(
            self.on_drop
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for hook in hooks {
            hook();
        }
    }
}

/// A store that passes every call to the store inside, counting calls,
/// failing the ones chosen, and running hooks. See the [module
/// docs](self) for the order of the steps and examples.
pub struct Wrapped<S> {
    // Declared first, so dropped first: the drop hooks run while the inner
    // store is still there.
    shared: Arc<Shared>,
    inner: S,
}

impl<S> Wrapped<S> {
    /// Wraps `inner`: no faults, no hooks, every count at zero.
    pub fn new(inner: S) -> Self {
        Self {
            shared: Arc::default(),
            inner,
        }
    }

    /// The store inside, for calls that should not be counted or hooked,
    /// and for its own methods.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs `hook` when the last clone of this store is dropped, before the
    /// inner store is (a panicking test included): dropping a test's table
    /// or key prefix. Hooks added this way run in the order they were added.
    #[must_use]
    pub fn on_drop(self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.shared
            .on_drop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(hook));
        self
    }

    /// How many calls of `op` reached this store, the failed ones included.
    #[must_use]
    pub fn calls(&self, op: Op) -> usize {
        self.shared.calls[op.index()].load(Ordering::SeqCst)
    }

    /// Whether [`SessionStore::fetch_session_now`] is passed to the inner
    /// store (the default) or always answers `None`, as a store that
    /// cannot answer without waiting (a remote one) does: a test of the
    /// code path such a store takes, with an in-memory store inside. See
    /// [Lookups without waiting](self#lookups-without-waiting). Clones
    /// share the setting.
    ///
    /// # Examples
    ///
    /// ```
    /// use narvik_core::store::MemoryStore;
    /// use narvik_core::{Error, Narvik};
    /// use narvik_testkit::wrap::{Op, Wrapped};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
    /// let store = Wrapped::new(MemoryStore::<()>::new());
    /// let narvik = Narvik::new(store.clone());
    /// let token = narvik.create_session("ada", ()).await?.token;
    /// assert!(matches!(narvik.validate_session_now(token.as_str()), Some(Ok(Some(_)))));
    /// assert_eq!(store.answered_at_once(), 1);
    ///
    /// let remote = Wrapped::new(MemoryStore::<()>::new()).answering_at_once(false);
    /// let narvik = Narvik::new(remote.clone());
    /// let token = narvik.create_session("ada", ()).await?.token;
    /// assert!(narvik.validate_session_now(token.as_str()).is_none(), "wait, then");
    /// assert!(narvik.validate_session(token.as_str()).await?.is_some());
    /// assert_eq!((remote.answered_at_once(), remote.calls(Op::FetchSession)), (0, 1));
    /// # Ok::<(), Error>(())
    /// # }).expect("the example");
    /// ```
    #[must_use]
    pub fn answering_at_once(self, on: bool) -> Self {
        self.shared.at_once.store(on, Ordering::SeqCst);
        self
    }

    /// How many [`SessionStore::fetch_session_now`] calls this store
    /// answered without waiting (an injected failure included); each is
    /// also counted in [`calls`](Self::calls)`(Op::FetchSession)`.
    #[must_use]
    pub fn answered_at_once(&self) -> usize {
        self.shared.answered_at_once.load(Ordering::SeqCst)
    }

    /// How many calls of any operation reached this store.
    #[must_use]
    pub fn total_calls(&self) -> usize {
        Op::ALL.iter().map(|&op| self.calls(op)).sum()
    }

    /// Every call of `op` fails from now on with [`injected_failure`],
    /// until [`Wrapped::recover`].
    pub fn fail(&self, op: Op) -> &Self {
        self.shared.faults[op.index()].store(ALWAYS, Ordering::SeqCst);
        self
    }

    /// The next `calls` calls of `op` fail with [`injected_failure`]; the
    /// ones after pass. Replaces any fault set for `op` before.
    pub fn fail_next(&self, op: Op, calls: usize) -> &Self {
        self.shared.faults[op.index()].store(calls, Ordering::SeqCst);
        self
    }

    /// Every call of every operation fails from now on: a store whose
    /// backend is down.
    pub fn fail_all(&self) -> &Self {
        for op in Op::ALL {
            self.fail(op);
        }
        self
    }

    /// Calls of `op` pass again.
    pub fn recover(&self, op: Op) -> &Self {
        self.fail_next(op, 0)
    }
}

impl<S: SessionStore + 'static> Wrapped<S> {
    /// Runs `hook` before each call of `op` reaches the inner store, with
    /// the inner store and the call; if it fails, the call fails with its
    /// error and the inner store never sees it. The way to force an
    /// interleaving: something else happens just before an operation.
    ///
    /// # Examples
    ///
    /// A session deleted (a sign-out in another tab) between a validation's
    /// read and its extension stays deleted:
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use narvik_core::store::{MemoryStore, SessionStore};
    /// use narvik_core::{Error, ManualClock, Narvik, Timestamp};
    /// use narvik_testkit::wrap::{Call, Op, Wrapped};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
    /// let store = Wrapped::new(MemoryStore::<()>::new());
    /// store.before(Op::UpdateSession, |inner, call| {
    ///     Box::pin(async move {
    ///         if let Call::UpdateSession { id, .. } = call {
    ///             inner.delete_session(id).await?;
    ///         }
    ///         Ok(())
    ///     })
    /// });
    /// let clock = ManualClock::new(Timestamp::now());
    /// let narvik = Narvik::new(store.clone()).with_clock(clock.clone());
    /// let created = narvik.create_session("ada", ()).await?;
    /// clock.advance(narvik.config().session_length() / 2 + Duration::from_millis(1));
    /// narvik.validate_session(created.token.as_str()).await?;
    /// assert_eq!(store.calls(Op::UpdateSession), 1, "the validation extended");
    /// assert!(store.inner().is_empty(), "the extension brought the session back");
    /// # Ok::<(), Error>(())
    /// # }).expect("the example");
    /// ```
    pub fn before<F>(&self, op: Op, hook: F) -> &Self
    where
        F: for<'a> Fn(&'a S, Call<'a, S::Data>) -> BoxFuture<'a, Result<(), Error>>
            + Send
            + Sync
            + 'static,
    {
        let hook: Box<BeforeHook<S, S::Data>> = Box::new(hook);
        self.shared
            .before
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((op, Arc::new(hook)));
        self
    }

    /// Runs `hook` after the inner store answered each call of `op`, with
    /// the call and the answer, which the hook may replace: a store that
    /// answers wrongly, or a write that lands but reports a failure.
    ///
    /// # Examples
    ///
    /// A store that answers a lookup with another session must not get
    /// anyone in:
    ///
    /// ```
    /// use narvik_core::store::MemoryStore;
    /// use narvik_core::{Error, Narvik};
    /// use narvik_testkit::wrap::{Op, Reply, Wrapped};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
    /// let store = Wrapped::new(MemoryStore::<()>::new());
    /// let narvik = Narvik::new(store.clone());
    /// let mine = narvik.create_session("me", ()).await?;
    /// let theirs = narvik.create_session("them", ()).await?.session;
    /// store.after(Op::FetchSession, move |_, reply| {
    ///     if let Reply::Session(answer) = reply {
    ///         *answer = Ok(Some(theirs.clone()));
    ///     }
    /// });
    /// assert!(narvik.validate_session(mine.token.as_str()).await.is_err());
    /// # Ok::<(), Error>(())
    /// # }).expect("the example");
    /// ```
    pub fn after<F>(&self, op: Op, hook: F) -> &Self
    where
        F: Fn(Call<'_, S::Data>, Reply<'_, S::Data>) + Send + Sync + 'static,
    {
        let hook: Box<AfterHook<S::Data>> = Box::new(hook);
        self.shared
            .after
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((op, Arc::new(hook)));
        self
    }

    /// One call through the steps of the [module docs](self): count,
    /// fault, before hooks, the inner store, after hooks.
    async fn run<'a, T, Fut>(
        &'a self,
        call: Call<'a, S::Data>,
        reply: fn(&mut Result<T, Error>) -> Reply<'_, S::Data>,
        inner: impl FnOnce(&'a S) -> Fut,
    ) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, Error>>,
    {
        let op = call.op();
        self.shared.calls[op.index()].fetch_add(1, Ordering::SeqCst);
        if self.shared.take_fault(op) {
            return Err(injected_failure(op));
        }
        for hook in Shared::hooks(&self.shared.before, op) {
            if let Some(hook) = hook.downcast_ref::<Box<BeforeHook<S, S::Data>>>() {
                hook(&self.inner, call).await?;
            }
        }
        let mut result = inner(&self.inner).await;
        for hook in Shared::hooks(&self.shared.after, op) {
            if let Some(hook) = hook.downcast_ref::<Box<AfterHook<S::Data>>>() {
                hook(call, reply(&mut result));
            }
        }
        result
    }
}

impl<S: Clone> Clone for Wrapped<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            inner: self.inner.clone(),
        }
    }
}

impl<S: Default> Default for Wrapped<S> {
    fn default() -> Self {
        Self::new(S::default())
    }
}

impl<S: fmt::Debug> fmt::Debug for Wrapped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped")
            .field("inner", &self.inner)
            .field("total_calls", &self.total_calls())
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore + 'static> SessionStore for Wrapped<S> {
    type Data = S::Data;

    async fn save_session(&self, session: &Session<S::Data>) -> Result<(), Error> {
        let call = Call::SaveSession { session };
        self.run(call, |r| Reply::Done(r), |s| s.save_session(session))
            .await
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<S::Data>>, Error> {
        let call = Call::FetchSession { id };
        self.run(call, |r| Reply::Session(r), |s| s.fetch_session(id))
            .await
    }

    /// Forwarded, through the same steps as
    /// [`fetch_session`](Self::fetch_session): see [Lookups without
    /// waiting](self#lookups-without-waiting).
    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<S::Data>>, Error>> {
        let op = Op::FetchSession;
        let shared = &self.shared;
        if !shared.at_once.load(Ordering::SeqCst) {
            return None;
        }
        // The waiting lookup would fail the same way, whatever the inner
        // store: answer now, and let no future be needed.
        if shared.take_fault(op) {
            shared.calls[op.index()].fetch_add(1, Ordering::SeqCst);
            shared.answered_at_once.fetch_add(1, Ordering::SeqCst);
            return Some(Err(injected_failure(op)));
        }
        // Before hooks are futures: only the waiting lookup can run them.
        if !Shared::hooks(&shared.before, op).is_empty() {
            return None;
        }
        let mut result = self.inner.fetch_session_now(id)?;
        shared.calls[op.index()].fetch_add(1, Ordering::SeqCst);
        shared.answered_at_once.fetch_add(1, Ordering::SeqCst);
        let call = Call::FetchSession { id };
        for hook in Shared::hooks(&shared.after, op) {
            if let Some(hook) = hook.downcast_ref::<Box<AfterHook<S::Data>>>() {
                hook(call, Reply::Session(&mut result));
            }
        }
        Some(result)
    }

    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<S::Data>,
    ) -> Result<bool, Error> {
        let call = Call::UpdateSession {
            id,
            expires_at: update.expires_at,
            last_active_at: update.last_active_at,
            reauthenticated_at: update.reauthenticated_at,
            rotated_at: update.rotated_at,
            replaces_data: update.data.is_some(),
        };
        self.run(call, |r| Reply::Found(r), |s| s.update_session(id, update))
            .await
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        let call = Call::DeleteSession { id };
        self.run(call, |r| Reply::Done(r), |s| s.delete_session(id))
            .await
    }
}

impl<S: UserSessionStore + 'static> UserSessionStore for Wrapped<S> {
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<S::Data>>, Error> {
        let call = Call::FetchSessionsForUser { user_id };
        self.run(
            call,
            |r| Reply::Sessions(r),
            |s| s.fetch_sessions_for_user(user_id),
        )
        .await
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        let call = Call::DeleteSessionsForUser { user_id };
        self.run(
            call,
            |r| Reply::Done(r),
            |s| s.delete_sessions_for_user(user_id),
        )
        .await
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        let call = Call::DeleteOtherSessionsForUser { user_id, keep };
        self.run(
            call,
            |r| Reply::Done(r),
            |s| s.delete_other_sessions_for_user(user_id, keep),
        )
        .await
    }
}

impl<S: SessionStore + PurgeableStore + 'static> PurgeableStore for Wrapped<S> {
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let call = Call::DeleteAllExpiredSessions { now };
        self.run(
            call,
            |r| Reply::Purged(r),
            |s| s.delete_all_expired_sessions(now),
        )
        .await
    }
}

//! The conformance suite every narvik session store must pass, and store
//! wrappers for tests.
//!
//! One macro turns the suite into ordinary `#[test]`s for your store, one
//! test per behaviour, so a failure names what broke. For a store with all
//! three capability traits, every case:
//!
//! ```
//! use narvik_core::store::MemoryStore;
//! use narvik_testkit::TestData;
//!
//! narvik_testkit::conformance_tests!(|| async { MemoryStore::<TestData>::new() });
//! # fn main() {
//! #     // What the tests above do, run here (a doc example runs no `#[test]`).
//! #     let runtime = tokio::runtime::Builder::new_multi_thread()
//! #         .worker_threads(2)
//! #         .enable_all()
//! #         .build()
//! #         .expect("runtime");
//! #     runtime.block_on(narvik_testkit::run_all(|| async { MemoryStore::<TestData>::new() }));
//! # }
//! ```
//!
//! The factory is called once per case and must return a store that sees
//! no other case's sessions (a fresh table, schema or key prefix): the
//! purge cases count what they remove. The cases run on a two-thread tokio
//! runtime, so stores are exercised under real parallelism. Or run cases in
//! turn from one test of your own with [`run_all`] or [`run_cases`].
//!
//! # Groups
//!
//! The cases are grouped by what they need of a store, so that a store
//! with only some of the capability traits runs the groups that apply:
//!
//! | group | the store implements, for [`TestData`] | alias |
//! |---|---|---|
//! | `session` | [`SessionStore`] | [`TestSessionStore`] |
//! | `user` | [`SessionStore`] + [`UserSessionStore`] | [`TestUserSessionStore`] |
//! | `purge` | [`SessionStore`] + [`PurgeableStore`] | [`TestPurgeableStore`] |
//! | `user_purge` | all three | [`ConformanceStore`] |
//! | `lifecycle` | [`SessionStore`] | [`TestSessionStore`] |
//! | `lifecycle_user` | [`SessionStore`] + [`UserSessionStore`] | [`TestUserSessionStore`] |
//! | `lifecycle_purge` | [`SessionStore`] + [`PurgeableStore`] | [`TestPurgeableStore`] |
//!
//! The `lifecycle` groups need the session lifecycle's fields (rotation,
//! remember-me, activity, step-up, data updates, the per-user cap): a store
//! that keeps only Narvik's runs `conformance_tests!(factory; session,
//! user, purge, user_purge)` until it does.
//!
//! Cases that go through [`narvik_core::Narvik`] are in the lowest group
//! whose traits they need. `conformance_tests!(factory)` runs every group;
//! `conformance_tests!(factory; session, user)` runs the groups named.
//! The cases themselves, and each group's list, are in [`cases`].
//!
//! A store with only the four required operations runs the `session`
//! group:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Mutex, MutexGuard};
//!
//! use narvik_core::store::SessionStore;
//! use narvik_core::{Error, Session, SessionId, SessionUpdate};
//! use narvik_testkit::TestData;
//!
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<SessionId, Session<TestData>>>);
//!
//! impl MapStore {
//!     fn map(&self) -> Result<MutexGuard<'_, HashMap<SessionId, Session<TestData>>>, Error> {
//!         self.0.lock().map_err(|_| Error::store("lock map", "poisoned"))
//!     }
//! }
//!
//! impl SessionStore for MapStore {
//!     type Data = TestData;
//!
//!     async fn save_session(&self, session: &Session<TestData>) -> Result<(), Error> {
//!         let mut map = self.map()?;
//!         if map.contains_key(&session.id) {
//!             return Err(Error::DuplicateSessionId(session.id));
//!         }
//!         map.insert(session.id, session.clone());
//!         Ok(())
//!     }
//!
//!     async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<TestData>>, Error> {
//!         Ok(self.map()?.get(id).cloned())
//!     }
//!
//!     async fn update_session(
//!         &self,
//!         id: &SessionId,
//!         update: SessionUpdate<TestData>,
//!     ) -> Result<bool, Error> {
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
//! narvik_testkit::conformance_tests!(|| async { MapStore::default() }; session);
//! # fn main() {
//! #     let runtime = tokio::runtime::Builder::new_multi_thread()
//! #         .worker_threads(2)
//! #         .enable_all()
//! #         .build()
//! #         .expect("runtime");
//! #     let cases = narvik_testkit::cases::session::all();
//! #     runtime.block_on(narvik_testkit::run_cases(|| async { MapStore::default() }, cases));
//! # }
//! ```
//!
//! Times are based on the real clock (a store that sets TTLs in its
//! backend, like Redis, sees sensible expiry times) and moved with a
//! [`narvik_core::ManualClock`] where a case needs time to pass.
//!
//! # Wrapping a store in tests
//!
//! [`wrap::Wrapped`] passes every call to a store inside, counting calls,
//! failing chosen operations on demand, running hooks before and after an
//! operation, and running a cleanup when dropped: what a test of a manager,
//! a framework layer or a store needs around the real thing.

use std::future::Future;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use serde::{Deserialize, Serialize};

pub mod cases;
pub mod wrap;

/// The typed session data the suite stores: strings (unicode included),
/// numbers, a list, and a blob that one case fills with 64 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TestData {
    /// A short label.
    pub label: String,
    /// A number that must round-trip exactly.
    pub counter: u64,
    /// A list.
    pub tags: Vec<String>,
    /// Bulk text.
    pub blob: String,
}

/// What the `session` group needs of a store.
pub trait TestSessionStore: SessionStore<Data = TestData> + Send + Sync + 'static {}

impl<S> TestSessionStore for S where S: SessionStore<Data = TestData> + Send + Sync + 'static {}

/// What the `user` group needs of a store.
pub trait TestUserSessionStore: TestSessionStore + UserSessionStore {}

impl<S> TestUserSessionStore for S where S: TestSessionStore + UserSessionStore {}

/// What the `purge` group needs of a store.
pub trait TestPurgeableStore: TestSessionStore + PurgeableStore {}

impl<S> TestPurgeableStore for S where S: TestSessionStore + PurgeableStore {}

/// What the whole suite (and the `user_purge` group) needs of a store.
pub trait ConformanceStore:
    UserSessionStore<Data = TestData> + PurgeableStore + Send + Sync + 'static
{
}

impl<S> ConformanceStore for S where
    S: UserSessionStore<Data = TestData> + PurgeableStore + Send + Sync + 'static
{
}

/// A case of the suite: a function from a store to a future that panics
/// if the store breaks a rule.
pub type Case<S> = fn(S) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs one case against a fresh store from `factory`, on a two-thread
/// tokio runtime. What the [`conformance_tests!`] macro expands to.
///
/// # Panics
///
/// If the case fails (that is the point), or if a tokio runtime cannot be
/// built.
pub fn run_case<S, F, Fut>(factory: F, case: Case<S>)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = S>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime for the conformance case");
    runtime.block_on(async move {
        let store = factory().await;
        case(store).await;
    });
}

/// Runs `cases` (a group's `all`, say [`cases::session::all`]) in turn,
/// each on a fresh store from `factory`. Call it from inside a
/// multi-threaded tokio runtime.
///
/// # Panics
///
/// At the first case the store fails.
pub async fn run_cases<S, F, Fut>(mut factory: F, cases: Vec<(&'static str, Case<S>)>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, case) in cases {
        eprintln!("narvik-testkit: {name}");
        case(factory().await).await;
    }
}

/// Runs every case in turn, each on a fresh store from `factory`. Call it
/// from inside a multi-threaded tokio runtime.
///
/// # Panics
///
/// At the first case the store fails.
pub async fn run_all<S, F, Fut>(factory: F)
where
    S: ConformanceStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_cases(factory, cases::all::<S>()).await;
}

/// Expands to one `#[test]` per conformance case for the store that
/// `$factory` (a closure returning a future of a fresh store) builds:
/// every group's cases, or, after a `;`, those of the groups named
/// (`session`, `user`, `purge`, `user_purge`, `lifecycle`,
/// `lifecycle_user`, `lifecycle_purge`).
///
/// See the [crate docs](crate) for examples.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr; $($group:tt),+ $(,)?) => {
        $($crate::__cases!($group tests $factory);)+
    };
    ($factory:expr) => {
        $crate::__cases!(@every tests $factory);
    };
}

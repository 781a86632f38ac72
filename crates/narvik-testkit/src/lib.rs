//! The conformance suite every narvik session store must pass.
//!
//! One macro turns the suite into ordinary `#[test]`s for your store, one
//! test per behaviour, so a failure names what broke:
//!
//! ```
//! use narvik_core::store::MemoryStore;
//! use narvik_testkit::TestData;
//!
//! narvik_testkit::conformance_tests!(|| async { MemoryStore::<TestData>::new() });
//! # fn main() {}
//! ```
//!
//! The factory is called once per case and must return a store that sees
//! no other case's sessions (a fresh table, schema or key prefix): the
//! purge case counts what it removes. The cases run on a two-thread tokio
//! runtime, so stores are exercised under real parallelism.
//!
//! Or run every case in turn from one test of your own with [`run_all`].
//!
//! The store must implement all three capability traits for [`TestData`]:
//! [`narvik_core::store::SessionStore`], [`narvik_core::store::UserSessionStore`]
//! and [`narvik_core::store::PurgeableStore`]. Times are based on the real clock
//! (a store that sets TTLs in its backend, like Redis, sees sensible
//! expiry times) and moved with a [`narvik_core::ManualClock`] where a case
//! needs time to pass.

use std::future::Future;

use narvik_core::store::{PurgeableStore, UserSessionStore};
use serde::{Deserialize, Serialize};

pub mod cases;

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

/// What the suite needs of a store.
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
    S: ConformanceStore,
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

/// Runs every case in turn, each on a fresh store from `factory`. Call it
/// from inside a multi-threaded tokio runtime.
///
/// # Panics
///
/// At the first case the store fails.
pub async fn run_all<S, F, Fut>(mut factory: F)
where
    S: ConformanceStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, case) in cases::all::<S>() {
        eprintln!("narvik-testkit: {name}");
        case(factory().await).await;
    }
}

/// Expands to one `#[test]` per conformance case for the store that
/// `$factory` (a closure returning a future of a fresh store) builds.
///
/// See the [crate docs](crate) for an example.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_tests! { $factory;
            save_then_fetch_round_trips_typed_data,
            fetch_of_a_missing_id_is_none,
            update_expiry_changes_only_the_expiry,
            update_expiry_of_a_missing_session_creates_nothing,
            delete_removes_the_session_and_twice_is_fine,
            duplicate_id_is_refused_and_nothing_is_overwritten,
            fetch_for_user_returns_only_that_users_sessions,
            delete_for_user_touches_only_that_user,
            delete_others_keeps_the_one,
            delete_others_never_touches_another_users_session,
            purge_removes_only_expired_and_counts_them,
            purge_twice_and_concurrently_is_safe,
            unicode_and_one_kib_user_ids_round_trip,
            sixty_four_kib_of_data_round_trips,
            validate_extends_and_the_store_keeps_the_new_expiry,
            concurrent_validations_at_half_life_keep_the_token,
            validate_deletes_an_expired_session,
            validate_of_an_unknown_token_creates_nothing,
            thousand_concurrent_creates_and_validates_lose_nothing,
            validate_after_invalidate_is_none,
            validate_racing_invalidate_never_resurrects,
            delete_between_validate_and_its_extension_stays_deleted,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case($factory, |store| ::std::boxed::Box::pin($crate::cases::$case(store)));
            }
        )*
    };
}

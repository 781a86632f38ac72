//! The cases of the suite, one behaviour each, in groups by what they
//! need of a store. Every case panics with a message saying which rule the
//! store broke.
//!
//! | group | the store implements | module |
//! |---|---|---|
//! | `session` | [`SessionStore`](narvik_core::store::SessionStore) | [`session`] |
//! | `user` | and [`UserSessionStore`](narvik_core::store::UserSessionStore) | [`user`] |
//! | `purge` | [`SessionStore`](narvik_core::store::SessionStore) and [`PurgeableStore`](narvik_core::store::PurgeableStore) | [`purge`] |
//! | `user_purge` | all three | [`user_purge`] |
//! | `lifecycle` | [`SessionStore`](narvik_core::store::SessionStore) | [`lifecycle`] |
//! | `lifecycle_user` | and [`UserSessionStore`](narvik_core::store::UserSessionStore) | [`lifecycle_user`] |
//! | `lifecycle_purge` | [`SessionStore`](narvik_core::store::SessionStore) and [`PurgeableStore`](narvik_core::store::PurgeableStore) | [`lifecycle_purge`] |
//!
//! The `lifecycle` groups test the session lifecycle (rotation,
//! remember-me, activity, step-up, data updates, the per-user cap): a
//! store that keeps only Narvik's fields runs the first four groups.
//!
//! Each module's `all` lists its cases with their names; [`all`] lists
//! every case. The lists and the [`conformance_tests!`](crate::conformance_tests)
//! macro are generated from one table, so a case added to the table is in
//! both.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use narvik_core::{Config, ManualClock, Narvik, Session, SessionId, Timestamp, Token};

use crate::{Case, ConformanceStore, TestData, TestSessionStore};

pub mod lifecycle;
pub mod lifecycle_purge;
pub mod lifecycle_user;
pub mod purge;
mod races;
mod rotation_race;
pub mod session;
pub mod user;
pub mod user_purge;

/// The one list of the suite's cases: per group, the trait its stores
/// implement (one of the crate's aliases) and its cases, in order. Passes
/// one group (or, with `@every`, each group in turn) to `__emit!` with the
/// tokens after the group's name, which say what to generate.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases {
    (@every $($mode:tt)*) => {
        $crate::__cases!(session $($mode)*);
        $crate::__cases!(user $($mode)*);
        $crate::__cases!(purge $($mode)*);
        $crate::__cases!(user_purge $($mode)*);
        $crate::__cases!(lifecycle $($mode)*);
        $crate::__cases!(lifecycle_user $($mode)*);
        $crate::__cases!(lifecycle_purge $($mode)*);
    };
    (session $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] session TestSessionStore [
            save_then_fetch_round_trips_typed_data,
            fetch_of_a_missing_id_is_none,
            update_expiry_changes_only_the_expiry,
            update_expiry_of_a_missing_session_creates_nothing,
            delete_removes_the_session_and_twice_is_fine,
            duplicate_id_is_refused_and_nothing_is_overwritten,
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
        ]);
    };
    (user $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] user TestUserSessionStore [
            fetch_for_user_returns_only_that_users_sessions,
            delete_for_user_touches_only_that_user,
            delete_others_keeps_the_one,
            delete_others_never_touches_another_users_session,
            user_ids_compare_exactly,
            unicode_and_one_kib_user_ids_are_listed,
            a_deleted_session_leaves_its_users_list,
            a_refused_duplicate_leaves_no_list_entry,
            thousand_concurrent_creates_are_all_listed,
            sessions_invalidated_in_a_race_leave_the_list,
            a_session_deleted_before_its_extension_leaves_the_list,
        ]);
    };
    (purge $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] purge TestPurgeableStore [
            purge_removes_only_expired_and_counts_them,
            purge_twice_and_concurrently_is_safe,
        ]);
    };
    (user_purge $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] user_purge ConformanceStore [
            purged_sessions_leave_their_users_lists,
            racing_validates_and_revocations_never_show_a_revoked_session,
        ]);
    };
    (lifecycle $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] lifecycle TestSessionStore [
            every_lifecycle_field_round_trips,
            update_sets_each_field_alone,
            update_sets_every_field_at_once,
            an_update_of_identical_values_still_finds_the_session,
            update_of_a_missing_session_creates_nothing_whatever_it_sets,
            data_update_after_delete_creates_nothing,
            rotation_keeps_the_session_and_marks_the_old_token,
            rotation_saves_the_new_session_before_marking_the_old,
            rotation_under_64_concurrent_validates_of_the_old_token,
            remember_me_lengths_are_stored_and_drive_extension,
            remember_me_cookies_have_the_right_attributes,
            activity_is_written_at_most_once_per_interval,
            activity_piggybacks_on_the_extension,
            a_validation_with_nothing_due_writes_nothing,
            step_up_freshness_with_a_pinned_clock,
            typescript_rows_keep_narviks_behaviour,
        ]);
    };
    (lifecycle_user $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] lifecycle_user TestUserSessionStore [
            the_cap_holds_under_32_concurrent_sign_ins,
            the_cap_revokes_the_least_recently_active,
            a_rotated_session_leaves_the_users_live_list,
        ]);
    };
    (lifecycle_purge $($mode:tt)*) => {
        $crate::__emit!([$($mode)*] lifecycle_purge TestPurgeableStore [
            purge_keeps_a_young_rotation_marker,
        ]);
    };
    ($other:tt $($mode:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "narvik-testkit has no group `",
            ::core::stringify!($other),
            "`; the groups are session, user, purge, user_purge, lifecycle, \
             lifecycle_user and lifecycle_purge",
        ));
    };
}

/// Turns one group of [`__cases!`] into what its first tokens ask for:
/// `[tests $factory]`, a `#[test]` per case; `[all]`, the group module's
/// `all` list; `[extend $list $S]`, a statement appending that list to
/// `$list`.
#[doc(hidden)]
#[macro_export]
macro_rules! __emit {
    ([tests $factory:expr] $group:ident $bound:ident [$($case:ident),* $(,)?]) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case($factory, |store| {
                    ::std::boxed::Box::pin($crate::cases::$group::$case(store))
                });
            }
        )*
    };
    ([all] $group:ident $bound:ident [$($case:ident),* $(,)?]) => {
        #[doc = ::core::concat!(
            "Every case of the `", ::core::stringify!($group), "` group with its name, in order."
        )]
        #[must_use]
        pub fn all<S: $crate::$bound>() -> ::std::vec::Vec<(&'static str, $crate::Case<S>)> {
            ::std::vec![$((
                ::core::stringify!($case),
                (|s| ::std::boxed::Box::pin($case(s))) as $crate::Case<S>,
            )),*]
        }
    };
    ([extend $list:ident $store:ident] $group:ident $bound:ident [$($case:ident),* $(,)?]) => {
        $list.extend($crate::cases::$group::all::<$store>());
    };
}

/// Every case of every group with its name, for [`crate::run_all`].
#[must_use]
pub fn all<S: ConformanceStore>() -> Vec<(&'static str, Case<S>)> {
    let mut cases = Vec::new();
    crate::__cases!(@every extend cases S);
    cases
}

const HOUR: Duration = Duration::from_secs(60 * 60);

/// A user id no other case (or other run against a shared backend) uses.
fn unique_user(label: &str) -> String {
    let token = Token::generate().expect("os rng");
    format!("{label}-{}", &token.as_str()[..12])
}

/// Now on the real clock, so that stores with backend TTLs agree.
fn now() -> Timestamp {
    Timestamp::now()
}

fn data(label: &str) -> TestData {
    TestData {
        label: label.to_owned(),
        counter: u64::MAX - 7,
        tags: vec!["a".to_owned(), "ü ñ 日本".to_owned(), String::new()],
        blob: "\"quoted\" \\ back\nslash\t{}[]".to_owned(),
    }
}

fn session(user_id: &str, expires_at: Timestamp) -> Session<TestData> {
    let created_at = now();
    Session::new(
        Token::generate().expect("os rng").session_id(),
        user_id,
        created_at,
        expires_at,
        data(user_id),
    )
}

async fn save<S: TestSessionStore>(store: &S, session: &Session<TestData>) {
    store
        .save_session(session)
        .await
        .unwrap_or_else(|e| panic!("save_session({}) failed: {e:?}", session.id));
}

async fn fetch<S: TestSessionStore>(store: &S, id: &SessionId) -> Option<Session<TestData>> {
    store
        .fetch_session(id)
        .await
        .unwrap_or_else(|e| panic!("fetch_session({id}) failed: {e:?}"))
}

fn ids(sessions: &[Session<TestData>]) -> HashSet<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// Whether `token` validates through `narvik`.
async fn validates<S: TestSessionStore>(narvik: &Narvik<S>, token: &Token) -> bool {
    narvik
        .validate_session(token.as_str())
        .await
        .unwrap_or_else(|e| panic!("validate_session failed: {e:?}"))
        .is_some()
}

fn manager<S: TestSessionStore>(store: S, clock: &ManualClock) -> Narvik<Arc<S>> {
    Narvik::new(Arc::new(store)).with_clock(clock.clone())
}

/// [`manager`] with `config`, over `store` as it is (a [`Wrapped`](crate::wrap::Wrapped)
/// one, or one shared with another manager).
fn manager_with<S: narvik_core::store::SessionStore>(
    store: S,
    clock: &ManualClock,
    config: Config,
) -> Narvik<S> {
    Narvik::with_config(store, config).with_clock(clock.clone())
}

/// `store`, wrapped so that each call of `ops` first yields to the
/// runtime a few times: concurrent calls of the manager then interleave
/// between their store steps even on a store that answers at once (an
/// in-memory one), as they do on a remote store.
fn yielding<S: narvik_core::store::SessionStore + 'static>(
    store: S,
    ops: &[crate::wrap::Op],
) -> crate::wrap::Wrapped<S> {
    let store = crate::wrap::Wrapped::new(store);
    for &op in ops {
        store.before(op, |_, _| {
            Box::pin(async {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                Ok(())
            })
        });
    }
    store
}

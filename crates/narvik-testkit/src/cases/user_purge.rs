//! The `user_purge` group: cases that need all three traits, for a store
//! that both lists users' sessions and purges.

use super::purge::purge_around_a_cutoff;
use super::{ids, races};
use crate::ConformanceStore;

crate::__cases!(user_purge all);

/// After [`purge_removes_only_expired_and_counts_them`](super::purge::purge_removes_only_expired_and_counts_them)'s
/// purge, the user's list holds exactly the live sessions.
pub async fn purged_sessions_leave_their_users_lists<S: ConformanceStore>(store: S) {
    let (user, live) = purge_around_a_cutoff(&store).await;
    let listed = store
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert_eq!(
        ids(&listed),
        ids(&live),
        "the index still lists purged sessions"
    );
}

/// 64 tasks run 10,240 operations on one set of sessions (32 users, 512 at
/// half-life and 64 expired): validations (which extend the live ones),
/// invalidations, delete-for-user and purges, with injected errors on a
/// few lookups, extensions and deletes (some of them after the write
/// landed). No validation that starts after a session's revocation
/// returned may find it (an invalidation, a delete-for-user of its owner;
/// for the expired ones, from the start); no call may fail but the
/// injected ones; afterwards every session never revoked still validates
/// and every revoked one does not.
pub async fn racing_validates_and_revocations_never_show_a_revoked_session<S: ConformanceStore>(
    store: S,
) {
    races::race(store).await;
}

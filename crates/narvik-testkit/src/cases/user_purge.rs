//! The `user_purge` group: cases that need all three traits, for a store
//! that both lists users' sessions and purges.

use super::ids;
use super::purge::purge_around_a_cutoff;
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

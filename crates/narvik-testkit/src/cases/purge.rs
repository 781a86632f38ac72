//! The `purge` group: deleting expired sessions in bulk, needing
//! [`PurgeableStore`] as well as
//! [`SessionStore`](narvik_core::store::SessionStore).

use std::sync::Arc;
use std::time::Duration;

use narvik_core::Session;
use narvik_core::store::PurgeableStore;

use super::{HOUR, fetch, now, save, session, unique_user};
use crate::{TestData, TestPurgeableStore};

crate::__cases!(purge all);

/// Purge removes exactly the sessions with `expires_at <= now` (the
/// boundary included) and returns how many.
pub async fn purge_removes_only_expired_and_counts_them<S: TestPurgeableStore>(store: S) {
    purge_around_a_cutoff(&store).await;
}

/// Saves three sessions of one user expired at a cutoff (one exactly at
/// it) and two live ones, purges at the cutoff and checks what is left;
/// returns the user and the live sessions.
pub(super) async fn purge_around_a_cutoff<S: TestPurgeableStore>(
    store: &S,
) -> (String, [Session<TestData>; 2]) {
    let user = unique_user("purge");
    let cutoff = now() + HOUR;
    let expired = [
        session(&user, cutoff - Duration::from_secs(60)),
        session(&user, cutoff - Duration::from_millis(1)),
        session(&user, cutoff),
    ];
    let live = [
        session(&user, cutoff + Duration::from_millis(1)),
        session(&user, cutoff + HOUR),
    ];
    for s in expired.iter().chain(&live) {
        save(store, s).await;
    }
    let removed = store
        .delete_all_expired_sessions(cutoff)
        .await
        .expect("purge");
    assert_eq!(
        removed, 3,
        "purge must count exactly the sessions it removed"
    );
    for s in &expired {
        assert_eq!(
            fetch(store, &s.id).await,
            None,
            "an expired session survived the purge"
        );
    }
    for s in &live {
        assert_eq!(
            fetch(store, &s.id).await.as_ref(),
            Some(s),
            "a live session was purged"
        );
    }
    (user, live)
}

/// Purges running at once remove each session once, and a second purge
/// finds nothing.
pub async fn purge_twice_and_concurrently_is_safe<S: TestPurgeableStore>(store: S) {
    let store = Arc::new(store);
    let user = unique_user("purge-race");
    let cutoff = now() + HOUR;
    for _ in 0..50 {
        save(&*store, &session(&user, cutoff - Duration::from_secs(1))).await;
    }
    let live = session(&user, cutoff + HOUR);
    save(&*store, &live).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.delete_all_expired_sessions(cutoff).await })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("purge task panicked").expect("purge");
    }
    assert_eq!(
        total, 50,
        "concurrent purges must remove each session exactly once"
    );
    assert_eq!(
        store
            .delete_all_expired_sessions(cutoff)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(fetch(&*store, &live.id).await, Some(live));
}

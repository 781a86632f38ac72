//! The `lifecycle_purge` group: purges and rotation markers, needing
//! [`PurgeableStore`] as well.

use std::time::Duration;

use narvik_core::store::PurgeableStore;
use narvik_core::{Clock, ManualClock, ROTATED_MARKER_TTL, Validation};

use super::{data, fetch, manager, now, save, session, unique_user};
use crate::TestPurgeableStore;

crate::__cases!(lifecycle_purge all);

/// A rotation marker is expired from the rotation on, but a purge keeps
/// it while it is young (rotated less than [`ROTATED_MARKER_TTL`] ago,
/// so in-flight requests still answer Rotated) and removes it, counted,
/// from then on; an ordinary expired session goes at once, and the new
/// session stays.
pub async fn purge_keeps_a_young_rotation_marker<S: TestPurgeableStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let user = unique_user("purge-marker");
    let old = narvik
        .create_session(&user, data("o"))
        .await
        .expect("create");
    let rotated_at = clock.now();
    let new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate_session")
        .expect("a live session must rotate");
    let expired = session(&user, rotated_at + Duration::from_secs(30));
    save(narvik.store(), &expired).await;

    let young = rotated_at + ROTATED_MARKER_TTL - Duration::from_millis(1);
    let removed = narvik
        .store()
        .delete_all_expired_sessions(young)
        .await
        .expect("purge");
    assert!(
        fetch(narvik.store(), &old.session.id).await.is_some(),
        "a purge removed a young rotation marker"
    );
    assert_eq!(
        removed, 1,
        "a purge must remove (and count) the expired session and leave the young marker"
    );
    assert_eq!(fetch(narvik.store(), &expired.id).await, None);
    clock.set(young);
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Rotated,
        "the old token must still answer Rotated after the purge"
    );

    clock.set(rotated_at + ROTATED_MARKER_TTL);
    let removed = narvik.delete_all_expired_sessions().await.expect("purge");
    assert_eq!(
        removed, 1,
        "a purge once the marker's time has passed must remove it"
    );
    assert_eq!(
        fetch(narvik.store(), &old.session.id).await,
        None,
        "a purge kept a rotation marker past its time"
    );
    assert_eq!(
        fetch(narvik.store(), &new.session.id).await,
        Some(new.session),
        "a purge removed the rotated session"
    );
}

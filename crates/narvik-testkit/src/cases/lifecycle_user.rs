//! The `lifecycle_user` group: the lifecycle where it meets a user's list
//! of sessions (the per-user cap, rotation), needing
//! [`UserSessionStore`] as well.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use narvik_core::store::UserSessionStore;
use narvik_core::{Config, ManualClock, Narvik, Validation};

use super::{data, ids, manager, manager_with, now, unique_user, yielding};
use crate::TestUserSessionStore;
use crate::wrap::Op;

crate::__cases!(lifecycle_user all);

/// Sign-ins of one user at once under the cap.
const SIGN_INS: usize = 32;
/// The cap.
const CAP: usize = 3;

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("a cap of at least one")
}

/// Through [`Narvik`] with a cap of 3 sessions per user: 32 sign-ins of
/// one user at once all succeed; once they have returned, at most 3 of
/// their sessions remain (at least one: the newest survives every
/// enforcement), the user's list shows exactly those, and exactly those
/// validate.
pub async fn the_cap_holds_under_32_concurrent_sign_ins<S: TestUserSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    // Sign-ins interleave between saving, listing and revoking.
    let ops = [Op::SaveSession, Op::FetchSessionsForUser, Op::DeleteSession];
    let narvik = Arc::new(manager(yielding(store, &ops), &clock).with_session_cap(cap(CAP)));
    let user = unique_user("cap-race");
    let tasks: Vec<_> = (0..SIGN_INS)
        .map(|_| {
            let (narvik, user) = (Arc::clone(&narvik), user.clone());
            tokio::spawn(async move { narvik.create_session(user, data("c")).await })
        })
        .collect();
    let mut created = Vec::with_capacity(SIGN_INS);
    for task in tasks {
        created.push(
            task.await
                .expect("sign-in task panicked")
                .unwrap_or_else(|e| panic!("a sign-in under the cap failed: {e:?}")),
        );
    }
    let listed = narvik
        .store()
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert!(
        (1..=CAP).contains(&listed.len()),
        "{} sessions remain after {SIGN_INS} concurrent sign-ins under a cap of {CAP}",
        listed.len()
    );
    let remaining = ids(&listed);
    let mut validating = HashSet::new();
    for c in &created {
        if let Validation::Valid(v) = narvik.validate(c.token.as_str()).await.expect("validate") {
            validating.insert(v.session.id);
        }
    }
    assert_eq!(
        validating, remaining,
        "the sessions that validate are not the ones the user's list shows"
    );
}

/// Through [`Narvik`] with a cap of 2 and activity recorded: a sign-in
/// beyond the cap revokes the session used least recently (by the
/// activity the store kept), not the oldest created, and never the new
/// one.
pub async fn the_cap_revokes_the_least_recently_active<S: TestUserSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let config = Config::builder()
        .activity_interval(Duration::from_secs(60))
        .build()
        .expect("a valid config");
    let narvik: Narvik<_> = manager_with(store, &clock, config).with_session_cap(cap(2));
    let user = unique_user("cap-activity");
    let first = narvik
        .create_session(&user, data("1"))
        .await
        .expect("create");
    clock.advance(Duration::from_secs(1));
    let second = narvik
        .create_session(&user, data("2"))
        .await
        .expect("create");
    clock.advance(Duration::from_secs(120));
    // The first session is used: its activity is now the most recent.
    assert!(matches!(
        narvik
            .validate(first.token.as_str())
            .await
            .expect("validate"),
        Validation::Valid(_)
    ));
    clock.advance(Duration::from_secs(1));
    let third = narvik
        .create_session(&user, data("3"))
        .await
        .expect("create");
    let listed = narvik.fetch_sessions_for_user(&user).await.expect("list");
    assert_eq!(
        ids(&listed),
        HashSet::from([first.session.id, third.session.id]),
        "the cap must revoke the least recently active session"
    );
    assert_eq!(
        narvik
            .validate(second.token.as_str())
            .await
            .expect("validate"),
        Validation::Invalid,
        "the revoked session still validates"
    );
}

/// Through [`Narvik`]: after a rotation, the user's live sessions are the
/// new one, not the marker.
pub async fn a_rotated_session_leaves_the_users_live_list<S: TestUserSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let user = unique_user("rotate-list");
    let old = narvik
        .create_session(&user, data("o"))
        .await
        .expect("create");
    let new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate_session")
        .expect("a live session must rotate");
    let listed = narvik.fetch_sessions_for_user(&user).await.expect("list");
    assert_eq!(
        listed,
        vec![new.session],
        "the user's live sessions after a rotation"
    );
    narvik
        .delete_sessions_for_user(&user)
        .await
        .expect("delete for user");
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Invalid,
        "signing the user out everywhere must take the rotation marker too"
    );
}

//! The `user` group: listing and deleting a user's sessions, needing
//! [`UserSessionStore`](narvik_core::store::UserSessionStore) as well.
//! Some cases repeat a `session` case's scenario and then check what the
//! user's list says afterwards.

use std::collections::HashSet;

use narvik_core::Session;

use super::session::{
    delete_before_the_extension, delete_one_of_two, odd_user_ids,
    race_validations_with_invalidations, refuse_a_duplicate, thousand_concurrent_creates,
};
use super::{HOUR, fetch, ids, now, save, session, unique_user};
use crate::{TestData, TestUserSessionStore};

crate::__cases!(user all);

async fn list<S: TestUserSessionStore>(store: &S, user: &str) -> Vec<Session<TestData>> {
    store
        .fetch_sessions_for_user(user)
        .await
        .unwrap_or_else(|e| panic!("fetch_sessions_for_user({user:?}) failed: {e:?}"))
}

/// Per-user fetch returns exactly that user's sessions.
pub async fn fetch_for_user_returns_only_that_users_sessions<S: TestUserSessionStore>(store: S) {
    let (alice, bob) = (unique_user("alice"), unique_user("bob"));
    let mine: Vec<_> = (0..3).map(|_| session(&alice, now() + HOUR)).collect();
    for s in &mine {
        save(&store, s).await;
    }
    save(&store, &session(&bob, now() + HOUR)).await;
    let listed = list(&store, &alice).await;
    assert_eq!(ids(&listed), ids(&mine));
    for s in &mine {
        assert!(
            listed.contains(s),
            "listed session differs from the saved one"
        );
    }
    let nobody = list(&store, &unique_user("nobody")).await;
    assert!(nobody.is_empty());
}

/// Per-user delete removes every session of that user and no other.
pub async fn delete_for_user_touches_only_that_user<S: TestUserSessionStore>(store: S) {
    let (alice, bob) = (unique_user("alice"), unique_user("bob"));
    let mine: Vec<_> = (0..3).map(|_| session(&alice, now() + HOUR)).collect();
    let theirs = session(&bob, now() + HOUR);
    for s in &mine {
        save(&store, s).await;
    }
    save(&store, &theirs).await;
    store
        .delete_sessions_for_user(&alice)
        .await
        .expect("delete for user");
    for s in &mine {
        assert_eq!(
            fetch(&store, &s.id).await,
            None,
            "a session of the user survived"
        );
    }
    let listed = list(&store, &alice).await;
    assert!(listed.is_empty(), "the index still lists deleted sessions");
    assert_eq!(
        fetch(&store, &theirs.id).await,
        Some(theirs),
        "another user lost a session"
    );
    store
        .delete_sessions_for_user(&alice)
        .await
        .expect("deleting a user with no sessions must succeed");
}

/// "Sign out everywhere else" keeps exactly the one session.
pub async fn delete_others_keeps_the_one<S: TestUserSessionStore>(store: S) {
    let (alice, bob) = (unique_user("alice"), unique_user("bob"));
    let keep = session(&alice, now() + HOUR);
    let others: Vec<_> = (0..3).map(|_| session(&alice, now() + HOUR)).collect();
    let theirs = session(&bob, now() + HOUR);
    save(&store, &keep).await;
    for s in &others {
        save(&store, s).await;
    }
    save(&store, &theirs).await;
    store
        .delete_other_sessions_for_user(&alice, &keep.id)
        .await
        .expect("delete others");
    assert_eq!(
        fetch(&store, &keep.id).await,
        Some(keep.clone()),
        "the kept session is gone"
    );
    for s in &others {
        assert_eq!(fetch(&store, &s.id).await, None, "another session survived");
    }
    let listed = list(&store, &alice).await;
    assert_eq!(ids(&listed), ids(&[keep]));
    assert_eq!(
        fetch(&store, &theirs.id).await,
        Some(theirs),
        "another user lost a session"
    );
}

/// `keep` protects nothing of another user's, and another user's session
/// is never deleted by this user's "delete others".
pub async fn delete_others_never_touches_another_users_session<S: TestUserSessionStore>(store: S) {
    let (alice, bob) = (unique_user("alice"), unique_user("bob"));
    let mine = session(&alice, now() + HOUR);
    let theirs = session(&bob, now() + HOUR);
    save(&store, &mine).await;
    save(&store, &theirs).await;
    store
        .delete_other_sessions_for_user(&alice, &theirs.id)
        .await
        .expect("delete others");
    assert_eq!(
        fetch(&store, &mine.id).await,
        None,
        "keep was another user's; mine must go"
    );
    assert_eq!(
        fetch(&store, &theirs.id).await,
        Some(theirs),
        "another user lost a session"
    );
}

/// User ids compare byte for byte: deleting "alice"'s sessions leaves
/// those of "Alice", "alice " and "alicé" (a case-insensitive, trimming or
/// accent-folding collation in a database would not).
pub async fn user_ids_compare_exactly<S: TestUserSessionStore>(store: S) {
    let suffix = unique_user("");
    let exact = ["alice", "Alice", "alice ", "alicé"].map(|name| format!("{suffix}{name}"));
    for user in &exact {
        save(&store, &session(user, now() + HOUR)).await;
    }
    store
        .delete_sessions_for_user(&exact[0])
        .await
        .expect("delete for user");
    assert!(
        list(&store, &exact[0]).await.is_empty(),
        "the user's own session survived"
    );
    for user in &exact[1..] {
        let listed = list(&store, user).await;
        assert_eq!(
            listed.len(),
            1,
            "{user:?} lost its session to {:?}",
            exact[0]
        );
    }
}

/// Per-user lookup works by user ids that are awkward for a backend:
/// unicode, quotes, and 1 KiB long.
pub async fn unicode_and_one_kib_user_ids_are_listed<S: TestUserSessionStore>(store: S) {
    for user in &odd_user_ids() {
        let s = session(user, now() + HOUR);
        save(&store, &s).await;
        let listed = list(&store, user).await;
        assert_eq!(
            ids(&listed),
            ids(&[s]),
            "per-user lookup by {} bytes of id",
            user.len()
        );
    }
}

/// A deleted session is no longer in its user's list.
pub async fn a_deleted_session_leaves_its_users_list<S: TestUserSessionStore>(store: S) {
    let (user, deleted) = delete_one_of_two(&store).await;
    assert!(
        !ids(&list(&store, &user).await).contains(&deleted),
        "the per-user index still lists a deleted session"
    );
}

/// A save refused as a duplicate leaves nothing in the would-be owner's
/// list.
pub async fn a_refused_duplicate_leaves_no_list_entry<S: TestUserSessionStore>(store: S) {
    let intruder = refuse_a_duplicate(&store).await;
    let listed = list(&store, &intruder.user_id).await;
    assert!(
        listed.is_empty(),
        "the refused save left an index entry: {listed:?}"
    );
}

/// After [`thousand_concurrent_creates_and_validates_lose_nothing`](super::session::thousand_concurrent_creates_and_validates_lose_nothing)'s
/// creates, every session is in its user's list.
pub async fn thousand_concurrent_creates_are_all_listed<S: TestUserSessionStore>(store: S) {
    let (narvik, users, created) = thousand_concurrent_creates(store).await;
    let created: HashSet<_> = created.iter().map(|c| c.session.id).collect();
    let mut listed = HashSet::new();
    for user in &users {
        listed.extend(ids(&list(narvik.store(), user).await));
    }
    assert_eq!(created.len(), 1000, "two creates got the same session id");
    assert_eq!(
        listed, created,
        "the per-user index lost entries under concurrency"
    );
}

/// After [`validate_racing_invalidate_never_resurrects`](super::session::validate_racing_invalidate_never_resurrects)'s
/// race, the user's list is empty too.
pub async fn sessions_invalidated_in_a_race_leave_the_list<S: TestUserSessionStore>(store: S) {
    let (narvik, user) = race_validations_with_invalidations(store).await;
    let listed = narvik
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert!(listed.is_empty(), "the index lists invalidated sessions");
}

/// After [`delete_between_validate_and_its_extension_stays_deleted`](super::session::delete_between_validate_and_its_extension_stays_deleted)'s
/// interleaving, the session is not in its user's list either.
pub async fn a_session_deleted_before_its_extension_leaves_the_list<S: TestUserSessionStore>(
    store: S,
) {
    let (store, user) = delete_before_the_extension(store).await;
    let listed = list(&*store, &user).await;
    assert!(listed.is_empty(), "the user's list shows a deleted session");
}

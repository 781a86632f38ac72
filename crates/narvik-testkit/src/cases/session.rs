//! The `session` group: what every store must do, needing only
//! [`SessionStore`] (for [`TestData`]), directly and through [`Narvik`].

use std::sync::Arc;
use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{
    Clock, Error, ManualClock, Narvik, NewSession, Session, SessionId, SessionUpdate, Timestamp,
    Token,
};

use super::{HOUR, data, fetch, manager, now, save, session, unique_user, validates};
use crate::wrap::{Call, Op, Wrapped};
use crate::{TestData, TestSessionStore};

crate::__cases!(session all);

/// What is saved comes back equal, typed data and millisecond times included.
pub async fn save_then_fetch_round_trips_typed_data<S: TestSessionStore>(store: S) {
    let user = unique_user("round-trip");
    let s = session(&user, now() + HOUR);
    save(&store, &s).await;
    assert_eq!(
        fetch(&store, &s.id).await,
        Some(s),
        "fetched session differs from the saved one"
    );
}

/// An id never saved is `Ok(None)`, not an error.
pub async fn fetch_of_a_missing_id_is_none<S: TestSessionStore>(store: S) {
    let id = Token::generate().expect("os rng").session_id();
    assert_eq!(fetch(&store, &id).await, None);
}

/// An expiry update (`SessionUpdate::expiry`, Narvik's
/// `updateSessionExpiry`) moves the expiry and nothing else.
pub async fn update_expiry_changes_only_the_expiry<S: TestSessionStore>(store: S) {
    let user = unique_user("update");
    let s = session(&user, now() + HOUR);
    let other = session(&user, now() + HOUR);
    save(&store, &s).await;
    save(&store, &other).await;
    let later = now() + 3 * HOUR + Duration::from_millis(7);
    let found = store
        .update_session(&s.id, SessionUpdate::expiry(later))
        .await
        .expect("update_session failed");
    assert!(found, "update_session must say the session was there");
    let mut expected = s.clone();
    expected.expires_at = later;
    assert_eq!(fetch(&store, &s.id).await, Some(expected));
    assert_eq!(
        fetch(&store, &other.id).await,
        Some(other),
        "another session changed"
    );
}

/// Update-only: extending a session that is gone does not bring it back.
pub async fn update_expiry_of_a_missing_session_creates_nothing<S: TestSessionStore>(store: S) {
    let id = Token::generate().expect("os rng").session_id();
    let found = store
        .update_session(&id, SessionUpdate::expiry(now() + HOUR))
        .await
        .expect("update of a missing session must succeed as a no-op");
    assert_eq!(
        fetch(&store, &id).await,
        None,
        "update_session created a session"
    );
    assert!(!found, "update_session found a session that is not there");
}

/// Delete removes one session; deleting again (or a missing id) is fine.
pub async fn delete_removes_the_session_and_twice_is_fine<S: TestSessionStore>(store: S) {
    delete_one_of_two(&store).await;
}

/// Saves two sessions of one user, deletes the first (twice) and checks
/// that only it went; returns the user and the deleted session.
pub(super) async fn delete_one_of_two<S: TestSessionStore>(store: &S) -> (String, SessionId) {
    let user = unique_user("delete");
    let s = session(&user, now() + HOUR);
    let kept = session(&user, now() + HOUR);
    save(store, &s).await;
    save(store, &kept).await;
    store.delete_session(&s.id).await.expect("delete failed");
    assert_eq!(fetch(store, &s.id).await, None);
    store
        .delete_session(&s.id)
        .await
        .expect("second delete must succeed");
    assert_eq!(
        fetch(store, &kept.id).await,
        Some(kept),
        "delete removed another session"
    );
    (user, s.id)
}

/// Insert-only: a second save with the same id is
/// [`Error::DuplicateSessionId`] and the first session is untouched.
pub async fn duplicate_id_is_refused_and_nothing_is_overwritten<S: TestSessionStore>(store: S) {
    refuse_a_duplicate(&store).await;
}

/// Saves a session, then another (of another user) with the same id, which
/// must be refused; returns the refused session.
pub(super) async fn refuse_a_duplicate<S: TestSessionStore>(store: &S) -> Session<TestData> {
    let user = unique_user("dup");
    let first = session(&user, now() + HOUR);
    save(store, &first).await;
    let mut intruder = first.clone();
    intruder.user_id = unique_user("intruder").into();
    intruder.expires_at = now() + 5 * HOUR;
    intruder.data = data("intruder");
    match store.save_session(&intruder).await {
        Err(Error::DuplicateSessionId(id)) => assert_eq!(id, first.id),
        other => panic!("a duplicate id must be Error::DuplicateSessionId, got {other:?}"),
    }
    assert_eq!(
        fetch(store, &first.id).await,
        Some(first),
        "the duplicate overwrote the session"
    );
    intruder
}

/// User ids that are awkward for a backend: unicode, quotes and SQL, and
/// 1 KiB long.
pub(super) fn odd_user_ids() -> [String; 3] {
    let suffix = unique_user("");
    [
        format!("ユーザー 🦀 ñ '\"; DROP TABLE sessions; --{suffix}"),
        format!("{}{suffix}", "x".repeat(1024 - suffix.len())),
        format!("{}{suffix}", "é".repeat(500)),
    ]
}

/// User ids are arbitrary strings: unicode, quotes, and 1 KiB long.
pub async fn unicode_and_one_kib_user_ids_round_trip<S: TestSessionStore>(store: S) {
    for user in &odd_user_ids() {
        let s = session(user, now() + HOUR);
        save(&store, &s).await;
        assert_eq!(
            fetch(&store, &s.id).await.as_ref(),
            Some(&s),
            "a session of a user id of {} bytes",
            user.len()
        );
    }
}

/// 64 KiB of additional data round-trips intact.
pub async fn sixty_four_kib_of_data_round_trips<S: TestSessionStore>(store: S) {
    let user = unique_user("big");
    let mut s = session(&user, now() + HOUR);
    s.data.blob = "0123456789abcdeé🦀".repeat(64 * 1024 / 20 + 1);
    assert!(s.data.blob.len() >= 64 * 1024);
    save(&store, &s).await;
    assert_eq!(fetch(&store, &s.id).await, Some(s));
}

/// Through [`Narvik`]: past half-life, validation extends and the store
/// keeps the new expiry.
pub async fn validate_extends_and_the_store_keeps_the_new_expiry<S: TestSessionStore>(store: S) {
    let (clock, narvik, created) = session_past_half_life(store, "extend").await;
    let extended_to = clock.now() + narvik.config().session_length();
    let valid = narvik
        .validate_session(created.token.as_str())
        .await
        .expect("validate")
        .expect("still valid");
    assert!(valid.extended);
    assert_eq!(valid.session.expires_at, extended_to);
    assert_extension_kept(&narvik, &created.session.id, extended_to).await;
}

/// A manager on a manual clock and a session it created, with the clock
/// just past the session's half-life: the next validation extends it.
async fn session_past_half_life<S: TestSessionStore>(
    store: S,
    label: &str,
) -> (ManualClock, Narvik<Arc<S>>, NewSession<TestData>) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let created = narvik
        .create_session(unique_user(label), data("x"))
        .await
        .expect("create");
    clock.advance(narvik.config().session_length() / 2 + Duration::from_millis(1));
    (clock, narvik, created)
}

async fn assert_extension_kept<S: TestSessionStore>(
    narvik: &Narvik<Arc<S>>,
    id: &SessionId,
    extended_to: Timestamp,
) {
    let stored = fetch(narvik.store(), id).await.expect("stored");
    assert_eq!(
        stored.expires_at, extended_to,
        "the store did not keep the extension"
    );
}

/// Through [`Narvik`]: many requests of one session arriving together just
/// past half-life (a page loading its assets) all get the session, with
/// the same id and token; the extension only moves `expires_at`. None of
/// them sees "no session", which would sign the user out. Afterwards the
/// store holds the extended expiry, and the next validation does not
/// extend again.
pub async fn concurrent_validations_at_half_life_keep_the_token<S: TestSessionStore>(store: S) {
    let (clock, narvik, created) = session_past_half_life(store, "half-life").await;
    let extended_to = clock.now() + narvik.config().session_length();
    let narvik = Arc::new(narvik);
    let token = Arc::new(created.token);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (narvik, token) = (Arc::clone(&narvik), Arc::clone(&token));
            tokio::spawn(async move { narvik.validate_session(token.as_str()).await })
        })
        .collect();
    for task in tasks {
        let valid = task
            .await
            .expect("task panicked")
            .expect("validate")
            .expect("a live session at half-life must validate");
        assert_eq!(valid.session.id, created.session.id);
        assert_eq!(valid.session.expires_at, extended_to);
    }
    assert_extension_kept(&narvik, &created.session.id, extended_to).await;
    let again = narvik
        .validate_session(token.as_str())
        .await
        .expect("validate")
        .expect("still valid");
    assert!(!again.extended, "an extended session was extended again");
    assert_eq!(again.session.id, created.session.id);
}

/// Through [`Narvik`]: an expired session is deleted from the store.
pub async fn validate_deletes_an_expired_session<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let created = narvik
        .create_session(unique_user("expire"), data("x"))
        .await
        .expect("create");
    clock.set(created.session.expires_at);
    assert!(
        !validates(&narvik, &created.token).await,
        "an expired session validated"
    );
    assert_eq!(
        fetch(narvik.store(), &created.session.id).await,
        None,
        "expired session kept"
    );
}

/// Strict mode: validating an unknown token creates no session.
pub async fn validate_of_an_unknown_token_creates_nothing<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let token = Token::generate().expect("os rng");
    assert!(
        !validates(&narvik, &token).await,
        "an unknown token validated"
    );
    assert_eq!(
        fetch(narvik.store(), &token.session_id()).await,
        None,
        "validating an unknown token created a session"
    );
}

/// 1,000 sessions created and validated concurrently: every one is there.
pub async fn thousand_concurrent_creates_and_validates_lose_nothing<S: TestSessionStore>(store: S) {
    let (narvik, _, created) = thousand_concurrent_creates(store).await;
    for c in &created {
        assert!(validates(&narvik, &c.token).await, "a session was lost");
    }
}

/// Creates 1,000 sessions of ten users at once through [`Narvik`], each
/// validated by its task as soon as it exists; returns the manager, the
/// users and the sessions.
pub(super) async fn thousand_concurrent_creates<S: TestSessionStore>(
    store: S,
) -> (Arc<Narvik<Arc<S>>>, Vec<String>, Vec<NewSession<TestData>>) {
    let clock = ManualClock::new(now());
    let narvik = Arc::new(manager(store, &clock));
    let users: Vec<String> = (0..10).map(|i| unique_user(&format!("crowd{i}"))).collect();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let narvik = Arc::clone(&narvik);
            let user = users[i % users.len()].clone();
            tokio::spawn(async move {
                let created = narvik
                    .create_session(user, data("c"))
                    .await
                    .expect("create");
                let valid = narvik
                    .validate_session(created.token.as_str())
                    .await
                    .expect("validate")
                    .expect("a session just created must validate");
                assert_eq!(valid.session, created.session);
                created
            })
        })
        .collect();
    let mut created = Vec::with_capacity(1000);
    for task in tasks {
        created.push(task.await.expect("task panicked"));
    }
    (narvik, users, created)
}

/// After invalidation, validation returns nothing.
pub async fn validate_after_invalidate_is_none<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let created = narvik
        .create_session(unique_user("inv"), data("x"))
        .await
        .expect("create");
    narvik
        .invalidate_session(&created.session.id)
        .await
        .expect("invalidate");
    narvik
        .invalidate_session(&created.session.id)
        .await
        .expect("invalidating twice must succeed");
    assert!(
        !validates(&narvik, &created.token).await,
        "an invalidated session validated"
    );
}

/// A validation that extends, racing an invalidation, never brings the
/// session back (the extension is update-only).
pub async fn validate_racing_invalidate_never_resurrects<S: TestSessionStore>(store: S) {
    race_validations_with_invalidations(store).await;
}

/// 100 sessions of one user, each validated (with an extension) and
/// invalidated at once; checks that none came back, and returns the
/// manager and the user.
pub(super) async fn race_validations_with_invalidations<S: TestSessionStore>(
    store: S,
) -> (Arc<Narvik<Arc<S>>>, String) {
    let clock = ManualClock::new(now());
    let narvik = Arc::new(manager(store, &clock));
    let user = unique_user("race");
    let mut created = Vec::new();
    for _ in 0..100 {
        created.push(
            narvik
                .create_session(user.clone(), data("r"))
                .await
                .expect("create"),
        );
    }
    // Every validation below wants to extend, so each race is
    // read / delete / update-expiry in some order.
    clock.advance(narvik.config().session_length() / 2 + Duration::from_secs(1));
    let tasks: Vec<_> = created
        .iter()
        .flat_map(|c| {
            let (a, b) = (Arc::clone(&narvik), Arc::clone(&narvik));
            let (token, id) = (c.token.clone(), c.session.id);
            [
                tokio::spawn(async move { a.validate_session(token.as_str()).await.map(|_| ()) }),
                tokio::spawn(async move { b.invalidate_session(&id).await }),
            ]
        })
        .collect();
    for task in tasks {
        task.await
            .expect("task panicked")
            .expect("store call failed");
    }
    for c in &created {
        assert!(
            !validates(&narvik, &c.token).await,
            "an invalidated session came back"
        );
        assert_eq!(fetch(narvik.store(), &c.session.id).await, None);
    }
    (narvik, user)
}

/// Through [`Narvik`], the one interleaving of
/// [`validate_racing_invalidate_never_resurrects`] that matters most, every
/// time: a validation reads the session, the session is deleted (sign-out
/// in another tab), then the validation's extension reaches the store. The
/// extension must not bring it back.
///
/// The delete lands before the store's `update_session` is called.
/// A store whose extension is several steps (read, then write) has a
/// second window, between its own steps, that only its own tests can
/// reach (the Redis store tests its scripts' guards directly).
pub async fn delete_between_validate_and_its_extension_stays_deleted<S: TestSessionStore>(
    store: S,
) {
    delete_before_the_extension(store).await;
}

/// Runs [`delete_between_validate_and_its_extension_stays_deleted`]'s
/// interleaving and checks it; returns the store (unwrapped again) and the
/// user.
pub(super) async fn delete_before_the_extension<S: TestSessionStore>(store: S) -> (Arc<S>, String) {
    let clock = ManualClock::new(now());
    let store = Wrapped::new(Arc::new(store));
    store.before(Op::UpdateSession, |inner, call| {
        Box::pin(async move {
            if let Call::UpdateSession { id, .. } = call {
                inner.delete_session(id).await?;
            }
            Ok(())
        })
    });
    let narvik = Narvik::new(store).with_clock(clock.clone());
    let user = unique_user("delete-first");
    let created = narvik
        .create_session(user.clone(), data("d"))
        .await
        .expect("create");
    clock.advance(narvik.config().session_length() / 2 + Duration::from_millis(1));
    narvik
        .validate_session(created.token.as_str())
        .await
        .expect("validate");
    assert_eq!(
        narvik.store().calls(Op::UpdateSession),
        1,
        "the validation past half-life did not extend"
    );
    let inner = Arc::clone(narvik.store().inner());
    assert_eq!(
        fetch(&*inner, &created.session.id).await,
        None,
        "the extension brought a deleted session back"
    );
    assert!(
        !validates(&narvik, &created.token).await,
        "a deleted session validated"
    );
    (inner, user)
}

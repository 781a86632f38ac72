//! The cases of the suite, one behaviour each. Every case panics with a
//! message saying which rule the store broke.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{
    Clock, Error, ManualClock, Narvik, NewSession, Session, SessionId, Timestamp, Token,
};

use crate::{Case, ConformanceStore, TestData};

const HOUR: Duration = Duration::from_secs(60 * 60);

/// Every case with its name, for [`crate::run_all`].
#[must_use]
pub fn all<S: ConformanceStore>() -> Vec<(&'static str, Case<S>)> {
    macro_rules! list {
        ($($case:ident),* $(,)?) => {
            vec![$((stringify!($case), (|s| Box::pin($case(s))) as Case<S>)),*]
        };
    }
    list![
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
    ]
}

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
    Session {
        id: Token::generate().expect("os rng").session_id(),
        user_id: user_id.to_owned(),
        created_at,
        expires_at,
        data: data(user_id),
    }
}

async fn save<S: ConformanceStore>(store: &S, session: &Session<TestData>) {
    store
        .save_session(session)
        .await
        .unwrap_or_else(|e| panic!("save_session({}) failed: {e:?}", session.id));
}

async fn fetch<S: ConformanceStore>(store: &S, id: &SessionId) -> Option<Session<TestData>> {
    store
        .fetch_session(id)
        .await
        .unwrap_or_else(|e| panic!("fetch_session({id}) failed: {e:?}"))
}

fn ids(sessions: &[Session<TestData>]) -> HashSet<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

fn manager<S: ConformanceStore>(store: S, clock: &ManualClock) -> Narvik<Arc<S>> {
    Narvik::new(Arc::new(store)).with_clock(clock.clone())
}

/// What is saved comes back equal, typed data and millisecond times included.
pub async fn save_then_fetch_round_trips_typed_data<S: ConformanceStore>(store: S) {
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
pub async fn fetch_of_a_missing_id_is_none<S: ConformanceStore>(store: S) {
    let id = Token::generate().expect("os rng").session_id();
    assert_eq!(fetch(&store, &id).await, None);
}

/// `update_session_expiry` moves the expiry and nothing else.
pub async fn update_expiry_changes_only_the_expiry<S: ConformanceStore>(store: S) {
    let user = unique_user("update");
    let s = session(&user, now() + HOUR);
    let other = session(&user, now() + HOUR);
    save(&store, &s).await;
    save(&store, &other).await;
    let later = now() + 3 * HOUR + Duration::from_millis(7);
    store
        .update_session_expiry(&s.id, later)
        .await
        .expect("update_session_expiry failed");
    let expected = Session {
        expires_at: later,
        ..s.clone()
    };
    assert_eq!(fetch(&store, &s.id).await, Some(expected));
    assert_eq!(
        fetch(&store, &other.id).await,
        Some(other),
        "another session changed"
    );
}

/// Update-only: extending a session that is gone does not bring it back.
pub async fn update_expiry_of_a_missing_session_creates_nothing<S: ConformanceStore>(store: S) {
    let id = Token::generate().expect("os rng").session_id();
    store
        .update_session_expiry(&id, now() + HOUR)
        .await
        .expect("update of a missing session must succeed as a no-op");
    assert_eq!(
        fetch(&store, &id).await,
        None,
        "update_session_expiry created a session"
    );
}

/// Delete removes one session; deleting again (or a missing id) is fine.
pub async fn delete_removes_the_session_and_twice_is_fine<S: ConformanceStore>(store: S) {
    let user = unique_user("delete");
    let s = session(&user, now() + HOUR);
    let kept = session(&user, now() + HOUR);
    save(&store, &s).await;
    save(&store, &kept).await;
    store.delete_session(&s.id).await.expect("delete failed");
    assert_eq!(fetch(&store, &s.id).await, None);
    store
        .delete_session(&s.id)
        .await
        .expect("second delete must succeed");
    assert_eq!(
        fetch(&store, &kept.id).await,
        Some(kept),
        "delete removed another session"
    );
    let listed = store
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert!(
        !ids(&listed).contains(&s.id),
        "the per-user index still lists a deleted session"
    );
}

/// Insert-only: a second save with the same id is
/// [`Error::DuplicateSessionId`] and the first session is untouched.
pub async fn duplicate_id_is_refused_and_nothing_is_overwritten<S: ConformanceStore>(store: S) {
    let user = unique_user("dup");
    let first = session(&user, now() + HOUR);
    save(&store, &first).await;
    let intruder = Session {
        user_id: unique_user("intruder"),
        expires_at: now() + 5 * HOUR,
        data: data("intruder"),
        ..first.clone()
    };
    match store.save_session(&intruder).await {
        Err(Error::DuplicateSessionId(id)) => assert_eq!(id, first.id),
        other => panic!("a duplicate id must be Error::DuplicateSessionId, got {other:?}"),
    }
    assert_eq!(
        fetch(&store, &first.id).await,
        Some(first),
        "the duplicate overwrote the session"
    );
    let listed = store
        .fetch_sessions_for_user(&intruder.user_id)
        .await
        .expect("fetch for user");
    assert!(
        listed.is_empty(),
        "the refused save left an index entry: {listed:?}"
    );
}

/// Per-user fetch returns exactly that user's sessions.
pub async fn fetch_for_user_returns_only_that_users_sessions<S: ConformanceStore>(store: S) {
    let (alice, bob) = (unique_user("alice"), unique_user("bob"));
    let mine: Vec<_> = (0..3).map(|_| session(&alice, now() + HOUR)).collect();
    for s in &mine {
        save(&store, s).await;
    }
    save(&store, &session(&bob, now() + HOUR)).await;
    let listed = store
        .fetch_sessions_for_user(&alice)
        .await
        .expect("fetch for user");
    assert_eq!(ids(&listed), ids(&mine));
    for s in &mine {
        assert!(
            listed.contains(s),
            "listed session differs from the saved one"
        );
    }
    let nobody = store
        .fetch_sessions_for_user(&unique_user("nobody"))
        .await
        .expect("fetch for an unknown user");
    assert!(nobody.is_empty());
}

/// Per-user delete removes every session of that user and no other.
pub async fn delete_for_user_touches_only_that_user<S: ConformanceStore>(store: S) {
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
    let listed = store
        .fetch_sessions_for_user(&alice)
        .await
        .expect("fetch for user");
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
pub async fn delete_others_keeps_the_one<S: ConformanceStore>(store: S) {
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
    let listed = store
        .fetch_sessions_for_user(&alice)
        .await
        .expect("fetch for user");
    assert_eq!(ids(&listed), ids(&[keep]));
    assert_eq!(
        fetch(&store, &theirs.id).await,
        Some(theirs),
        "another user lost a session"
    );
}

/// `keep` protects nothing of another user's, and another user's session
/// is never deleted by this user's "delete others".
pub async fn delete_others_never_touches_another_users_session<S: ConformanceStore>(store: S) {
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

/// Purge removes exactly the sessions with `expires_at <= now` (the
/// boundary included) and returns how many.
pub async fn purge_removes_only_expired_and_counts_them<S: ConformanceStore>(store: S) {
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
        save(&store, s).await;
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
            fetch(&store, &s.id).await,
            None,
            "an expired session survived the purge"
        );
    }
    for s in &live {
        assert_eq!(
            fetch(&store, &s.id).await.as_ref(),
            Some(s),
            "a live session was purged"
        );
    }
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

/// Purges running at once remove each session once, and a second purge
/// finds nothing.
pub async fn purge_twice_and_concurrently_is_safe<S: ConformanceStore>(store: S) {
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

/// User ids are arbitrary strings: unicode, quotes, and 1 KiB long.
pub async fn unicode_and_one_kib_user_ids_round_trip<S: ConformanceStore>(store: S) {
    let suffix = unique_user("");
    let odd = [
        format!("ユーザー 🦀 ñ '\"; DROP TABLE sessions; --{suffix}"),
        format!("{}{suffix}", "x".repeat(1024 - suffix.len())),
        format!("{}{suffix}", "é".repeat(500)),
    ];
    for user in &odd {
        let s = session(user, now() + HOUR);
        save(&store, &s).await;
        assert_eq!(fetch(&store, &s.id).await.as_ref(), Some(&s));
        let listed = store
            .fetch_sessions_for_user(user)
            .await
            .expect("fetch for user");
        assert_eq!(
            ids(&listed),
            ids(&[s]),
            "per-user lookup by {} bytes of id",
            user.len()
        );
    }
}

/// 64 KiB of additional data round-trips intact.
pub async fn sixty_four_kib_of_data_round_trips<S: ConformanceStore>(store: S) {
    let user = unique_user("big");
    let mut s = session(&user, now() + HOUR);
    s.data.blob = "0123456789abcdeé🦀".repeat(64 * 1024 / 20 + 1);
    assert!(s.data.blob.len() >= 64 * 1024);
    save(&store, &s).await;
    assert_eq!(fetch(&store, &s.id).await, Some(s));
}

/// Through [`Narvik`]: past half-life, validation extends and the store
/// keeps the new expiry.
pub async fn validate_extends_and_the_store_keeps_the_new_expiry<S: ConformanceStore>(store: S) {
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
async fn session_past_half_life<S: ConformanceStore>(
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

async fn assert_extension_kept<S: ConformanceStore>(
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
pub async fn concurrent_validations_at_half_life_keep_the_token<S: ConformanceStore>(store: S) {
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
pub async fn validate_deletes_an_expired_session<S: ConformanceStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let created = narvik
        .create_session(unique_user("expire"), data("x"))
        .await
        .expect("create");
    clock.set(created.session.expires_at);
    assert!(
        narvik
            .validate_session(created.token.as_str())
            .await
            .expect("validate")
            .is_none()
    );
    assert_eq!(
        fetch(narvik.store(), &created.session.id).await,
        None,
        "expired session kept"
    );
}

/// Strict mode: validating an unknown token creates no session.
pub async fn validate_of_an_unknown_token_creates_nothing<S: ConformanceStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let token = Token::generate().expect("os rng");
    assert!(
        narvik
            .validate_session(token.as_str())
            .await
            .expect("validate")
            .is_none()
    );
    assert_eq!(fetch(narvik.store(), &token.session_id()).await, None);
}

/// 1,000 sessions created and validated concurrently: every one is there.
pub async fn thousand_concurrent_creates_and_validates_lose_nothing<S: ConformanceStore>(store: S) {
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
    for c in &created {
        assert!(
            narvik
                .validate_session(c.token.as_str())
                .await
                .expect("validate")
                .is_some(),
            "a session was lost"
        );
    }
    let mut listed = 0;
    for user in &users {
        listed += narvik
            .fetch_sessions_for_user(user)
            .await
            .expect("fetch for user")
            .len();
    }
    assert_eq!(
        listed, 1000,
        "the per-user index lost entries under concurrency"
    );
}

/// After invalidation, validation returns nothing.
pub async fn validate_after_invalidate_is_none<S: ConformanceStore>(store: S) {
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
        narvik
            .validate_session(created.token.as_str())
            .await
            .expect("validate")
            .is_none()
    );
}

/// A validation that extends, racing an invalidation, never brings the
/// session back (the extension is update-only).
pub async fn validate_racing_invalidate_never_resurrects<S: ConformanceStore>(store: S) {
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
            narvik
                .validate_session(c.token.as_str())
                .await
                .expect("validate")
                .is_none(),
            "an invalidated session came back"
        );
        assert_eq!(fetch(narvik.store(), &c.session.id).await, None);
    }
    let listed = narvik
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert!(listed.is_empty(), "the index lists invalidated sessions");
}

/// Through [`Narvik`], the one interleaving of
/// [`validate_racing_invalidate_never_resurrects`] that matters most, every
/// time: a validation reads the session, the session is deleted (sign-out
/// in another tab), then the validation's extension reaches the store. The
/// extension must not bring it back, neither the session nor its entry in
/// the user's list.
///
/// The delete lands before the store's `update_session_expiry` is called.
/// A store whose extension is several steps (read, then write) has a
/// second window, between its own steps, that only its own tests can
/// reach (the Redis store tests its scripts' guards directly).
pub async fn delete_between_validate_and_its_extension_stays_deleted<S: ConformanceStore>(
    store: S,
) {
    let clock = ManualClock::new(now());
    let store = Arc::new(store);
    let wrapper = DeleteBeforeExtension {
        inner: Arc::clone(&store),
        extensions: AtomicUsize::new(0),
    };
    let narvik = Narvik::new(wrapper).with_clock(clock.clone());
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
        narvik.store().extensions.load(Ordering::SeqCst),
        1,
        "the validation past half-life did not extend"
    );
    assert_eq!(
        fetch(&*store, &created.session.id).await,
        None,
        "the extension brought a deleted session back"
    );
    let listed = store
        .fetch_sessions_for_user(&user)
        .await
        .expect("fetch for user");
    assert!(listed.is_empty(), "the user's list shows a deleted session");
    assert!(
        narvik
            .validate_session(created.token.as_str())
            .await
            .expect("validate")
            .is_none(),
        "a deleted session validated"
    );
}

/// Passes every call to `inner`, but deletes a session just before
/// passing on its extension.
struct DeleteBeforeExtension<S> {
    inner: Arc<S>,
    extensions: AtomicUsize,
}

impl<S: ConformanceStore> SessionStore for DeleteBeforeExtension<S> {
    type Data = TestData;

    async fn save_session(&self, session: &Session<TestData>) -> Result<(), Error> {
        self.inner.save_session(session).await
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<TestData>>, Error> {
        self.inner.fetch_session(id).await
    }

    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        self.extensions.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_session(id).await?;
        self.inner.update_session_expiry(id, expires_at).await
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        self.inner.delete_session(id).await
    }
}

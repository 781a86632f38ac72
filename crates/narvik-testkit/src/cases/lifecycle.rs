//! The `lifecycle` group: the session lifecycle (updates field by field,
//! rotation, remember-me, activity, step-up, data updates) and rows with
//! none of it, needing only
//! [`SessionStore`], directly and
//! through [`Narvik`].
//!
//! A store with only Narvik's columns runs the other groups and leaves
//! this one (and `lifecycle_user`, `lifecycle_purge`) out until it keeps
//! the lifecycle's fields.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{
    Clock, Config, ManualClock, Narvik, ROTATED_MARKER_TTL, Session, SessionId, SessionOptions,
    SessionUpdate, Timestamp, Token, Validation,
};

use super::{HOUR, data, fetch, manager, manager_with, now, save, session, unique_user};
use crate::wrap::{Call, Op, Wrapped};
use crate::{TestData, TestSessionStore};

crate::__cases!(lifecycle all);

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A session with every lifecycle field set, to odd milliseconds: what a
/// store must give back exactly.
pub(super) fn full_session(user_id: &str) -> Session<TestData> {
    let mut s = session(user_id, now() + HOUR);
    s.length = Some(12 * HOUR + Duration::from_millis(345));
    s.persistent = false;
    s.last_active_at = Some(s.created_at + Duration::from_millis(1_501));
    s.reauthenticated_at = Some(s.created_at + Duration::from_millis(2_253));
    s.rotated_at = Some(s.created_at + Duration::from_millis(3_007));
    s
}

/// Sessions saved with every lifecycle field set (and with each on its
/// own) come back exactly as saved.
pub async fn every_lifecycle_field_round_trips<S: TestSessionStore>(store: S) {
    let user = unique_user("lifecycle-round-trip");
    let full = full_session(&user);
    let mut remember = session(&user, now() + HOUR);
    remember.length = Some(30 * DAY);
    let mut visit = session(&user, now() + HOUR);
    visit.persistent = false;
    let mut active = session(&user, now() + HOUR);
    active.last_active_at = Some(active.created_at + Duration::from_millis(999));
    let mut stepped_up = session(&user, now() + HOUR);
    stepped_up.reauthenticated_at = Some(stepped_up.created_at + Duration::from_millis(1));
    for s in [&full, &remember, &visit, &active, &stepped_up] {
        save(&store, s).await;
    }
    for s in [&full, &remember, &visit, &active, &stepped_up] {
        assert_eq!(
            fetch(&store, &s.id).await.as_ref(),
            Some(s),
            "a session with lifecycle fields set came back different"
        );
    }
}

/// The fields an update can set, by name.
const UPDATE_FIELDS: [&str; 5] = [
    "expires_at",
    "last_active_at",
    "reauthenticated_at",
    "rotated_at",
    "data",
];

/// An update of `field` alone to a value unlike `base`'s, and what `base`
/// must then read as.
fn one_field_update(
    field: &str,
    base: &Session<TestData>,
) -> (SessionUpdate<TestData>, Session<TestData>) {
    let at = base.created_at + HOUR + Duration::from_millis(17);
    let mut update = SessionUpdate::default();
    let mut expected = base.clone();
    match field {
        "expires_at" => {
            update.expires_at = Some(at + HOUR);
            expected.expires_at = at + HOUR;
        }
        "last_active_at" => {
            update.last_active_at = Some(at);
            expected.last_active_at = Some(at);
        }
        "reauthenticated_at" => {
            update.reauthenticated_at = Some(at);
            expected.reauthenticated_at = Some(at);
        }
        "rotated_at" => {
            update.rotated_at = Some(at);
            expected.rotated_at = Some(at);
        }
        _ => {
            update.data = Some(data("updated"));
            expected.data = data("updated");
        }
    }
    (update, expected)
}

/// Each field an update carries is set alone: the others (the lifecycle's
/// included, set or not) stay as they were, and another session is not
/// touched. The update says the session was there.
pub async fn update_sets_each_field_alone<S: TestSessionStore>(store: S) {
    let user = unique_user("update-field");
    let bystander = full_session(&user);
    save(&store, &bystander).await;
    for field in UPDATE_FIELDS {
        for base in [session(&user, now() + HOUR), full_session(&user)] {
            save(&store, &base).await;
            let (update, expected) = one_field_update(field, &base);
            let found = store
                .update_session(&base.id, update)
                .await
                .unwrap_or_else(|e| panic!("update_session of {field} failed: {e:?}"));
            assert!(
                found,
                "update_session of {field} must say the session was there"
            );
            assert_eq!(
                fetch(&store, &base.id).await,
                Some(expected),
                "an update of {field} alone changed other fields (or not {field})"
            );
        }
    }
    assert_eq!(
        fetch(&store, &bystander.id).await,
        Some(bystander),
        "an update changed another session"
    );
}

/// An update of every field at once sets them all.
pub async fn update_sets_every_field_at_once<S: TestSessionStore>(store: S) {
    let user = unique_user("update-all");
    let base = session(&user, now() + HOUR);
    save(&store, &base).await;
    let at = base.created_at + Duration::from_millis(4_321);
    let mut update = SessionUpdate::default();
    update.expires_at = Some(at + HOUR);
    update.last_active_at = Some(at);
    update.reauthenticated_at = Some(at + Duration::from_millis(1));
    update.rotated_at = Some(at + Duration::from_millis(2));
    update.data = Some(data("all at once"));
    let mut expected = base.clone();
    expected.expires_at = at + HOUR;
    expected.last_active_at = Some(at);
    expected.reauthenticated_at = Some(at + Duration::from_millis(1));
    expected.rotated_at = Some(at + Duration::from_millis(2));
    expected.data = data("all at once");
    let found = store
        .update_session(&base.id, update)
        .await
        .expect("update_session failed");
    assert!(found, "update_session must say the session was there");
    assert_eq!(fetch(&store, &base.id).await, Some(expected));
}

/// An update that writes the values already there still says it found the
/// session (a database that counts changed rows rather than matched ones
/// would answer "not found", and a validation would sign the user out).
pub async fn an_update_of_identical_values_still_finds_the_session<S: TestSessionStore>(store: S) {
    let user = unique_user("update-same");
    let s = full_session(&user);
    save(&store, &s).await;
    let mut updates: Vec<(&str, SessionUpdate<TestData>)> = Vec::new();
    let mut update = SessionUpdate::expiry(s.expires_at);
    updates.push(("expires_at", update.clone()));
    update.last_active_at = s.last_active_at;
    update.reauthenticated_at = s.reauthenticated_at;
    update.rotated_at = s.rotated_at;
    update.data = Some(s.data.clone());
    updates.push(("every field", update));
    let mut active = SessionUpdate::default();
    active.last_active_at = s.last_active_at;
    updates.push(("last_active_at", active));
    for (what, update) in updates {
        let found = store
            .update_session(&s.id, update)
            .await
            .unwrap_or_else(|e| panic!("an update of {what} to the same value failed: {e:?}"));
        assert!(
            found,
            "an update of {what} to the value already there must say the session was there"
        );
    }
    assert_eq!(fetch(&store, &s.id).await, Some(s));
}

/// No update, of any field or of all of them, creates a missing session;
/// each says it found nothing.
pub async fn update_of_a_missing_session_creates_nothing_whatever_it_sets<S: TestSessionStore>(
    store: S,
) {
    let user = unique_user("update-missing");
    let template = full_session(&user);
    let mut updates: Vec<(&str, SessionUpdate<TestData>)> = UPDATE_FIELDS
        .iter()
        .map(|&field| (field, one_field_update(field, &template).0))
        .collect();
    let mut every = SessionUpdate::default();
    every.expires_at = Some(now() + HOUR);
    every.last_active_at = Some(now());
    every.reauthenticated_at = Some(now());
    every.rotated_at = Some(now());
    every.data = Some(data("ghost"));
    updates.push(("every field", every));
    for (what, update) in updates {
        let id = Token::generate().expect("os rng").session_id();
        let found = store
            .update_session(&id, update)
            .await
            .unwrap_or_else(|e| panic!("an update of {what} of a missing session failed: {e:?}"));
        assert_eq!(
            fetch(&store, &id).await,
            None,
            "an update of {what} created a session"
        );
        assert!(
            !found,
            "an update of {what} found a session that is not there"
        );
    }
}

/// Through [`Narvik`]: a data update replaces the data and nothing else;
/// after a sign-out, it finds nothing and creates nothing.
pub async fn data_update_after_delete_creates_nothing<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let created = narvik
        .create_session(unique_user("data"), data("before"))
        .await
        .expect("create");
    let id = created.session.id;
    let replaced = narvik
        .update_session_data(&id, data("after"))
        .await
        .expect("update_session_data");
    assert!(replaced, "a data update of a live session must find it");
    let mut expected = created.session.clone();
    expected.data = data("after");
    assert_eq!(
        fetch(narvik.store(), &id).await,
        Some(expected),
        "a data update changed more than the data"
    );
    narvik.invalidate_session(&id).await.expect("invalidate");
    let replaced = narvik
        .update_session_data(&id, data("ghost"))
        .await
        .expect("update_session_data of a deleted session must succeed as a no-op");
    assert!(!replaced, "a data update found a deleted session");
    assert_eq!(
        fetch(narvik.store(), &id).await,
        None,
        "a data update brought a deleted session back"
    );
    assert_eq!(
        narvik
            .validate(created.token.as_str())
            .await
            .expect("validate"),
        Validation::Invalid,
        "a signed-out session validated after a data update"
    );
}

/// The answer to `token` through `narvik`.
async fn answer<S: TestSessionStore>(narvik: &Narvik<S>, token: &Token) -> Validation<TestData> {
    narvik
        .validate(token.as_str())
        .await
        .unwrap_or_else(|e| panic!("validate failed: {e:?}"))
}

/// Through [`Narvik`]: a rotation gives a new token that validates, for a
/// session with the old one's user, data, `created_at`, length, kind of
/// cookie and re-authentication; the old token answers
/// [`Validation::Rotated`] until [`ROTATED_MARKER_TTL`] has passed, then
/// [`Validation::Invalid`]; the old session never validates again.
pub async fn rotation_keeps_the_session_and_marks_the_old_token<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let old = narvik
        .create_session_with(
            unique_user("rotate"),
            data("kept"),
            SessionOptions::browser_session(7 * DAY),
        )
        .await
        .expect("create");
    clock.advance(MINUTE);
    assert!(
        narvik
            .mark_reauthenticated(&old.session.id)
            .await
            .expect("mark_reauthenticated"),
        "mark_reauthenticated lost a live session"
    );
    let reauthenticated_at = clock.now();
    clock.advance(MINUTE);
    let rotated_at = clock.now();
    let new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate_session")
        .expect("a live session must rotate");
    assert_ne!(new.session.id, old.session.id, "rotation kept the id");
    assert_ne!(
        new.token.as_str(),
        old.token.as_str(),
        "rotation kept the token"
    );
    let Validation::Valid(valid) = answer(&narvik, &new.token).await else {
        panic!("the rotated token does not validate");
    };
    let kept = &valid.session;
    assert_eq!(kept.id, new.session.id);
    assert_eq!(
        kept.user_id, old.session.user_id,
        "rotation changed the user"
    );
    assert_eq!(kept.data, old.session.data, "rotation lost the data");
    assert_eq!(
        kept.created_at, old.session.created_at,
        "rotation moved created_at (the absolute lifetime would restart)"
    );
    assert_eq!(
        kept.length,
        Some(7 * DAY),
        "rotation lost the session's length"
    );
    assert!(!kept.persistent, "rotation changed the kind of cookie");
    assert_eq!(
        kept.reauthenticated_at,
        Some(reauthenticated_at),
        "rotation lost the re-authentication"
    );
    assert_eq!(
        kept.rotated_at, None,
        "the new session is marked as rotated"
    );

    let marker = fetch(narvik.store(), &old.session.id)
        .await
        .expect("the old session must stay as a rotation marker");
    assert_eq!(
        marker.rotated_at,
        Some(rotated_at),
        "the marker's rotated_at"
    );
    assert!(
        marker.expires_at <= rotated_at,
        "the marker must read as expired from the rotation on (TypeScript Narvik sees it so)"
    );
    assert_eq!(
        answer(&narvik, &old.token).await,
        Validation::Rotated,
        "the old token must answer Rotated right after the rotation"
    );
    assert!(
        narvik
            .rotate_session(&old.session.id)
            .await
            .expect("rotate_session")
            .is_none(),
        "a rotated session rotated again"
    );
    clock.advance(ROTATED_MARKER_TTL - Duration::from_millis(1));
    assert_eq!(
        answer(&narvik, &old.token).await,
        Validation::Rotated,
        "the old token must answer Rotated until the marker's time has passed"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        answer(&narvik, &old.token).await,
        Validation::Invalid,
        "the old token must be invalid once the marker's time has passed"
    );
    assert!(
        matches!(answer(&narvik, &new.token).await, Validation::Valid(_)),
        "the rotated token stopped validating"
    );
}

/// What the rotation's store calls found, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A session was saved; `old_live`: the old session was then still
    /// there and not marked.
    Saved { id: SessionId, old_live: bool },
    /// The old session was marked; `new_stored`: the session saved last
    /// was then in the store.
    Marked { id: SessionId, new_stored: bool },
}

/// Through [`Narvik`]: a rotation saves the new session while the old one
/// is still live, and marks the old one only once the new one is in the
/// store (the reverse, shipped by tower-sessions, signs the user out if
/// the save fails). A rotation whose save fails leaves the old session
/// valid.
pub async fn rotation_saves_the_new_session_before_marking_the_old<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let store = Wrapped::new(Arc::new(store));
    let narvik = Narvik::new(store.clone()).with_clock(clock.clone());
    let old = narvik
        .create_session(unique_user("rotate-order"), data("o"))
        .await
        .expect("create");
    let old_id = old.session.id;
    let steps: Arc<Mutex<Vec<Step>>> = Arc::default();
    let log = Arc::clone(&steps);
    store.before(Op::SaveSession, move |inner, call| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            if let Call::SaveSession { session } = call {
                let old_live = inner
                    .fetch_session(&old_id)
                    .await?
                    .is_some_and(|s| s.rotated_at.is_none());
                let step = Step::Saved {
                    id: session.id,
                    old_live,
                };
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(step);
            }
            Ok(())
        })
    });
    let log = Arc::clone(&steps);
    store.before(Op::UpdateSession, move |inner, call| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            if let Call::UpdateSession {
                id,
                rotated_at: Some(_),
                ..
            } = call
            {
                let last_saved = log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .rev()
                    .find_map(|step| match step {
                        Step::Saved { id, .. } => Some(*id),
                        Step::Marked { .. } => None,
                    });
                let new_stored = match last_saved {
                    Some(new) => inner.fetch_session(&new).await?.is_some(),
                    None => false,
                };
                let step = Step::Marked {
                    id: *id,
                    new_stored,
                };
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(step);
            }
            Ok(())
        })
    });

    store.fail_next(Op::SaveSession, 1);
    assert!(
        narvik.rotate_session(&old_id).await.is_err(),
        "a rotation whose save failed must fail"
    );
    assert!(
        matches!(answer(&narvik, &old.token).await, Validation::Valid(_)),
        "a rotation whose save failed signed the user out"
    );

    let new = narvik
        .rotate_session(&old_id)
        .await
        .expect("rotate_session")
        .expect("a live session must rotate");
    let steps = steps.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(
        steps,
        [
            Step::Saved {
                id: new.session.id,
                old_live: true
            },
            Step::Marked {
                id: old_id,
                new_stored: true
            },
        ],
        "a rotation must save the new session (the old one still live), then mark the old one"
    );
}

/// Through [`Narvik`]: 64 tasks validate the old token over and over while
/// the session rotates. Every answer is the session or
/// [`Validation::Rotated`], never [`Validation::Invalid`] (which would
/// clear the browser's new cookie); no task sees the session after it saw
/// the marker, and no validation that starts after the rotation returned,
/// or after any validation answered Rotated, finds the session.
pub async fn rotation_under_64_concurrent_validates_of_the_old_token<S: TestSessionStore>(
    store: S,
) {
    super::rotation_race::race(store).await;
}

/// Through [`Narvik`]: remember-me. Each session's length and kind of
/// cookie are stored with it; its own length, not the configured one,
/// drives its extension (at half of it, to `now` plus it); a session
/// without one keeps the configured length.
pub async fn remember_me_lengths_are_stored_and_drive_extension<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let user = unique_user("remember");
    let (long, short) = (7 * DAY, 2 * HOUR);
    let remember = narvik
        .create_session_with(&user, data("r"), SessionOptions::persistent(long))
        .await
        .expect("create");
    let visit = narvik
        .create_session_with(&user, data("v"), SessionOptions::browser_session(short))
        .await
        .expect("create");
    let plain = narvik
        .create_session(&user, data("p"))
        .await
        .expect("create");
    let start = clock.now();
    for (created, length, persistent) in [
        (&remember, Some(long), true),
        (&visit, Some(short), false),
        (&plain, None, true),
    ] {
        let stored = fetch(narvik.store(), &created.session.id)
            .await
            .expect("a created session is stored");
        assert_eq!(stored.length, length, "the session's own length");
        assert_eq!(stored.persistent, persistent, "the kind of cookie");
        assert_eq!(stored, created.session, "the stored session differs");
        let own = length.unwrap_or(narvik.config().session_length());
        assert_eq!(
            stored.expires_at,
            start + own,
            "a session lasts its own length"
        );
    }

    clock.set(start + short / 2 - Duration::from_millis(1));
    assert_extends(&narvik, &visit.token, None).await;
    clock.set(start + short / 2);
    assert_extends(&narvik, &visit.token, Some(clock.now() + short)).await;
    assert_extends(&narvik, &remember.token, None).await;

    clock.set(start + long / 2);
    assert_extends(&narvik, &remember.token, Some(clock.now() + long)).await;
    assert_extends(&narvik, &plain.token, None).await;
    assert_eq!(
        answer(&narvik, &visit.token).await,
        Validation::Invalid,
        "a browser session outlived its own length"
    );
}

/// Validates `token` and checks that it extended to `to` (or did not
/// extend, for `None`), and that the store kept the expiry.
async fn assert_extends<S: TestSessionStore>(
    narvik: &Narvik<S>,
    token: &Token,
    to: Option<Timestamp>,
) {
    let Validation::Valid(valid) = answer(narvik, token).await else {
        panic!("a live session did not validate");
    };
    assert_eq!(
        valid.extended,
        to.is_some(),
        "extended at {:?}, expiring at {:?}, length {:?}",
        narvik.now(),
        valid.session.expires_at,
        valid.session.length
    );
    if let Some(to) = to {
        assert_eq!(valid.session.expires_at, to, "extended to the wrong time");
    }
    let stored = fetch(narvik.store(), &valid.session.id)
        .await
        .expect("stored");
    assert_eq!(
        stored.expires_at, valid.session.expires_at,
        "the store did not keep the expiry"
    );
}

/// Whether a `Set-Cookie` text has the attribute `name` (any case).
fn has_attribute(cookie: &str, name: &str) -> bool {
    cookie.split(';').skip(1).any(|part| {
        part.trim()
            .to_ascii_lowercase()
            .starts_with(&name.to_ascii_lowercase())
    })
}

/// The `Max-Age` of a `Set-Cookie` text.
fn max_age(cookie: &str) -> Option<u64> {
    cookie.split(';').skip(1).find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// Through [`Narvik`], with sessions as the store gives them back: a
/// browser-session cookie has neither `Max-Age` nor `Expires`, extended
/// or not; a remember-me cookie's `Max-Age` is the session's time left;
/// a session without a length of its own gets Narvik's cookie.
pub async fn remember_me_cookies_have_the_right_attributes<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let user = unique_user("cookie");
    let long = 30 * DAY;
    let short = 12 * HOUR;
    let remember = narvik
        .create_session_with(&user, data("r"), SessionOptions::persistent(long))
        .await
        .expect("create");
    let visit = narvik
        .create_session_with(&user, data("v"), SessionOptions::browser_session(short))
        .await
        .expect("create");
    let plain = narvik
        .create_session(&user, data("p"))
        .await
        .expect("create");
    let remember_cookie = narvik.cookie_for(&remember.token, &remember.session);
    assert_eq!(
        max_age(&remember_cookie),
        Some(long.as_secs()),
        "{remember_cookie}"
    );

    clock.advance(10 * MINUTE + Duration::from_millis(500));
    let cookie_of = async |created: &narvik_core::NewSession<TestData>| {
        let Validation::Valid(valid) = answer(&narvik, &created.token).await else {
            panic!("a live session did not validate");
        };
        narvik.cookie_for(&created.token, &valid.session)
    };
    let browser_cookie = cookie_of(&visit).await;
    assert!(
        browser_cookie.starts_with(&format!(
            "{}={}",
            narvik.cookie_name(),
            visit.token.as_str()
        )),
        "{browser_cookie}"
    );
    assert!(
        !has_attribute(&browser_cookie, "max-age") && !has_attribute(&browser_cookie, "expires"),
        "a browser-session cookie must have no Max-Age or Expires: {browser_cookie}"
    );
    let remember_cookie = cookie_of(&remember).await;
    // 600.5 s gone: the time left, rounded up to whole seconds.
    assert_eq!(
        max_age(&remember_cookie),
        Some(long.as_secs() - 600),
        "a remember-me cookie's Max-Age is the session's time left: {remember_cookie}"
    );
    let plain_cookie = cookie_of(&plain).await;
    assert_eq!(
        plain_cookie,
        narvik.session_cookie_header(&plain.token, plain.session.expires_at),
        "a session without a length of its own gets Narvik's cookie"
    );

    clock.advance(short / 2);
    let Validation::Valid(extended) = answer(&narvik, &visit.token).await else {
        panic!("a live browser session did not validate");
    };
    assert!(extended.extended, "the browser session did not extend");
    let cookie = narvik.cookie_for(&visit.token, &extended.session);
    assert!(
        !has_attribute(&cookie, "max-age") && !has_attribute(&cookie, "expires"),
        "an extended browser-session cookie must stay without Max-Age or Expires: {cookie}"
    );
}

/// A manager on `clock` recording activity every `interval`, over a
/// counting wrapper of `store`.
fn counting_manager<S: TestSessionStore>(
    store: S,
    clock: &ManualClock,
    interval: Duration,
) -> Narvik<Wrapped<Arc<S>>> {
    let config = Config::builder()
        .activity_interval(interval)
        .build()
        .expect("a valid config");
    manager_with(Wrapped::new(Arc::new(store)), clock, config)
}

/// The writes a store has seen: saves, updates, deletes.
fn writes<S: TestSessionStore>(store: &Wrapped<S>) -> [usize; 3] {
    [
        store.calls(Op::SaveSession),
        store.calls(Op::UpdateSession),
        store.calls(Op::DeleteSession),
    ]
}

/// Validates `token` `times` times, each of which must find the session.
async fn validate_times<S: TestSessionStore>(
    narvik: &Narvik<S>,
    token: &Token,
    times: usize,
) -> Session<TestData> {
    let mut last = None;
    for _ in 0..times {
        let Validation::Valid(valid) = answer(narvik, token).await else {
            panic!("a live session did not validate");
        };
        last = Some(valid.session);
    }
    last.expect("at least one validation")
}

/// Through [`Narvik`] over a counting store, with a pinned clock:
/// activity is written once when the interval has passed since the last
/// record (or the creation), and not again until it has passed once more,
/// however many validations come in between. The store keeps the time.
pub async fn activity_is_written_at_most_once_per_interval<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let interval = 5 * MINUTE;
    let narvik = counting_manager(store, &clock, interval);
    let created = narvik
        .create_session(unique_user("activity"), data("a"))
        .await
        .expect("create");
    let token = &created.token;
    validate_times(&narvik, token, 50).await;
    clock.advance(interval - Duration::from_millis(1));
    validate_times(&narvik, token, 50).await;
    assert_eq!(
        narvik.store().calls(Op::UpdateSession),
        0,
        "activity written before its interval had passed"
    );
    clock.advance(Duration::from_millis(1));
    let recorded_at = clock.now();
    let seen = validate_times(&narvik, token, 50).await;
    assert_eq!(
        narvik.store().calls(Op::UpdateSession),
        1,
        "50 validations once the interval had passed must write activity exactly once"
    );
    assert_eq!(seen.last_active_at, Some(recorded_at));
    let stored = fetch(narvik.store(), &created.session.id)
        .await
        .expect("stored");
    assert_eq!(
        stored.last_active_at,
        Some(recorded_at),
        "the store did not keep last_active_at"
    );
    assert_eq!(
        stored.expires_at, created.session.expires_at,
        "activity moved the expiry"
    );
    clock.advance(interval / 2);
    validate_times(&narvik, token, 50).await;
    assert_eq!(
        narvik.store().calls(Op::UpdateSession),
        1,
        "activity written twice in one interval"
    );
    clock.advance(interval / 2);
    validate_times(&narvik, token, 50).await;
    assert_eq!(
        writes(narvik.store()),
        [1, 2, 0],
        "one more activity write, once the interval had passed again, and nothing else"
    );
}

/// The updates a counting store has seen: (expiry set, activity set).
type Touches = Arc<Mutex<Vec<(Option<Timestamp>, Option<Timestamp>)>>>;

fn record_touches<S: TestSessionStore>(store: &Wrapped<S>) -> Touches {
    let touches = Touches::default();
    let log = Arc::clone(&touches);
    store.after(Op::UpdateSession, move |call, _| {
        if let Call::UpdateSession {
            expires_at,
            last_active_at,
            ..
        } = call
        {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((expires_at, last_active_at));
        }
    });
    touches
}

/// Through [`Narvik`] over a counting store: an extension records activity
/// in the same write, whether activity was due or not: one write, not
/// two.
pub async fn activity_piggybacks_on_the_extension<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let interval = 5 * MINUTE;
    let narvik = counting_manager(store, &clock, interval);
    let touches = record_touches(narvik.store());
    let created = narvik
        .create_session(unique_user("piggyback"), data("p"))
        .await
        .expect("create");
    let length = narvik.config().session_length();
    let start = clock.now();

    // The extension and activity both due: one write with both.
    let t1 = start + length / 2;
    clock.set(t1);
    validate_times(&narvik, &created.token, 20).await;
    // Activity due alone: a write of activity alone.
    let t2 = t1 + interval;
    clock.set(t2);
    validate_times(&narvik, &created.token, 20).await;
    // Half of the length before the extended expiry: the extension is due
    // again; a minute earlier, activity alone was recorded.
    let t3 = t1 + length / 2;
    clock.set(t3 - MINUTE);
    validate_times(&narvik, &created.token, 20).await;
    // Activity is not due (a minute ago) but still rides the extension.
    clock.set(t3);
    let seen = validate_times(&narvik, &created.token, 20).await;
    let touches = touches
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(
        touches,
        [
            (Some(t1 + length), Some(t1)),
            (None, Some(t2)),
            (None, Some(t3 - MINUTE)),
            (Some(t3 + length), Some(t3)),
        ],
        "the writes of 80 validations (expiry, activity): an extension carries activity in \
         its one write, activity alone is written alone, at most once per interval"
    );
    assert_eq!(writes(narvik.store()), [1, 4, 0], "writes other than those");
    assert_eq!(
        (seen.expires_at, seen.last_active_at),
        (t3 + length, Some(t3))
    );
    let stored = fetch(narvik.store(), &created.session.id)
        .await
        .expect("stored");
    assert_eq!(
        (stored.expires_at, stored.last_active_at),
        (t3 + length, Some(t3)),
        "the store did not keep the extension and the activity"
    );
}

/// Through [`Narvik`] over a counting store, with activity off and on: a
/// validation that neither extends nor records activity writes nothing at
/// all (the common case stays write-free).
pub async fn a_validation_with_nothing_due_writes_nothing<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let store = Wrapped::new(Arc::new(store));
    let off = manager_with(store.clone(), &clock, Config::default());
    let config = Config::builder()
        .activity_interval(HOUR)
        .build()
        .expect("a valid config");
    let on = manager_with(store.clone(), &clock, config);
    let created = off
        .create_session(unique_user("write-free"), data("w"))
        .await
        .expect("create");
    let start = clock.now();
    for at in [Duration::ZERO, MINUTE, HOUR - Duration::from_millis(1)] {
        clock.set(start + at);
        validate_times(&off, &created.token, 50).await;
        validate_times(&on, &created.token, 50).await;
    }
    clock.set(start + off.config().session_length() / 2 - Duration::from_millis(1));
    validate_times(&off, &created.token, 50).await;
    assert_eq!(
        writes(&store),
        [1, 0, 0],
        "validations with nothing due wrote to the store (saves, updates, deletes)"
    );
}

/// Through [`Narvik`], with a pinned clock: a session is fresh for
/// `max_age` after its creation, to the millisecond; a re-authentication
/// (kept by the store) makes it fresh for `max_age` from then; a
/// re-authentication of a signed-out session finds nothing and creates
/// nothing.
pub async fn step_up_freshness_with_a_pinned_clock<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let narvik = manager(store, &clock);
    let max_age = 5 * MINUTE;
    let created = narvik
        .create_session(unique_user("step-up"), data("s"))
        .await
        .expect("create");
    let start = clock.now();
    let fresh_at = async |at: Timestamp| {
        clock.set(at);
        let session = validate_times(&narvik, &created.token, 1).await;
        narvik.is_fresh(&session, max_age)
    };
    assert!(fresh_at(start).await, "a new session must be fresh");
    assert!(
        fresh_at(start + max_age - Duration::from_millis(1)).await,
        "fresh until max_age has passed"
    );
    assert!(
        !fresh_at(start + max_age).await,
        "no longer fresh once max_age has passed"
    );
    let proved_at = start + 3 * max_age;
    clock.set(proved_at);
    assert!(
        narvik
            .mark_reauthenticated(&created.session.id)
            .await
            .expect("mark_reauthenticated"),
        "mark_reauthenticated must find a live session"
    );
    let stored = fetch(narvik.store(), &created.session.id)
        .await
        .expect("stored");
    assert_eq!(
        stored.reauthenticated_at,
        Some(proved_at),
        "the store did not keep the re-authentication"
    );
    let mut expected = created.session.clone();
    expected.reauthenticated_at = Some(proved_at);
    assert_eq!(stored, expected, "a re-authentication changed other fields");
    assert!(
        fresh_at(proved_at).await,
        "fresh again after a re-authentication"
    );
    assert!(
        fresh_at(proved_at + max_age - Duration::from_millis(1)).await,
        "fresh until max_age has passed since the re-authentication"
    );
    assert!(
        !fresh_at(proved_at + max_age).await,
        "no longer fresh once max_age has passed since the re-authentication"
    );
    narvik
        .invalidate_session(&created.session.id)
        .await
        .expect("invalidate");
    assert!(
        !narvik
            .mark_reauthenticated(&created.session.id)
            .await
            .expect("mark_reauthenticated of a deleted session must succeed as a no-op"),
        "mark_reauthenticated found a deleted session"
    );
    assert_eq!(
        fetch(narvik.store(), &created.session.id).await,
        None,
        "a re-authentication brought a deleted session back"
    );
}

/// Rows as TypeScript Narvik writes them ([`Session::new`], none of the
/// lifecycle's fields) come back so and behave as in Narvik: the
/// configured length drives their extension, they get Narvik's cookie,
/// freshness counts from their creation, activity (when on) is recorded
/// on them, and they rotate into sessions that are no different.
pub async fn typescript_rows_keep_narviks_behaviour<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    let store = Arc::new(store);
    let narvik = manager_with(Arc::clone(&store), &clock, Config::default());
    let length = narvik.config().session_length();
    let user = unique_user("typescript");
    let start = clock.now();
    let (token, row) = typescript_row(&user, start, length);
    save(&*store, &row).await;
    let stored = fetch(&*store, &row.id).await.expect("stored");
    assert_eq!(
        stored, row,
        "a row without lifecycle fields came back different"
    );
    assert_eq!(
        (
            stored.length,
            stored.persistent,
            stored.last_active_at,
            stored.reauthenticated_at,
            stored.rotated_at
        ),
        (None, true, None, None, None),
        "a row without lifecycle fields must read as Narvik's"
    );

    let Validation::Valid(valid) = answer(&narvik, &token).await else {
        panic!("a TypeScript row did not validate");
    };
    assert!(!valid.extended);
    assert_eq!(
        narvik.cookie_for(&token, &valid.session),
        narvik.session_cookie_header(&token, row.expires_at),
        "a TypeScript row gets Narvik's cookie"
    );
    assert!(narvik.is_fresh(&valid.session, MINUTE));
    clock.set(start + MINUTE);
    assert!(
        !narvik.is_fresh(&valid.session, MINUTE),
        "freshness counts from created_at"
    );
    clock.set(start + length / 2 - Duration::from_millis(1));
    assert_extends(&narvik, &token, None).await;
    clock.set(start + length / 2);
    assert_extends(&narvik, &token, Some(clock.now() + length)).await;

    let config = Config::builder()
        .activity_interval(HOUR)
        .build()
        .expect("a valid config");
    let active = manager_with(Arc::clone(&store), &clock, config);
    clock.advance(HOUR);
    let recorded = validate_times(&active, &token, 1).await;
    assert_eq!(recorded.last_active_at, Some(clock.now()));
    assert_eq!(
        fetch(&*store, &row.id)
            .await
            .expect("stored")
            .last_active_at,
        Some(clock.now()),
        "activity on a TypeScript row was not kept"
    );

    let rotated = narvik
        .rotate_session(&row.id)
        .await
        .expect("rotate_session")
        .expect("a TypeScript row must rotate");
    assert_eq!(
        (rotated.session.length, rotated.session.persistent),
        (None, true),
        "a rotated TypeScript row keeps Narvik's length and cookie"
    );
    assert_eq!(answer(&narvik, &token).await, Validation::Rotated);
    assert!(matches!(
        answer(&narvik, &rotated.token).await,
        Validation::Valid(_)
    ));
}

/// A token and the row TypeScript Narvik would write for it at `at`.
pub(super) fn typescript_row(
    user: &str,
    at: Timestamp,
    length: Duration,
) -> (Token, Session<TestData>) {
    let token = Token::generate().expect("os rng");
    let row = Session::new(token.session_id(), user, at, at + length, data("ts"));
    (token, row)
}

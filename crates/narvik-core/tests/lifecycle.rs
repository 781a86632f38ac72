//! The manager's session lifecycle at its edges, against a store that
//! counts its calls and can be made to race: rotation racing a revocation,
//! a write that finds its session gone, the kinds of cookie, freshness,
//! the per-user cap, and a store without the lifecycle's updates.
//!
//! The store-neutral behaviour (what every store must do) is in the
//! conformance kit's cases; these are the manager's own decisions.

use std::num::NonZeroUsize;
use std::time::Duration;

use narvik_core::store::{CallbackStore, MemoryStore, SessionStore};
use narvik_core::{
    Config, Error, ManualClock, Narvik, ROTATED_MARKER_TTL, Session, SessionId, SessionOptions,
    Timestamp, Token, ValidSession, Validation,
};
use narvik_testkit::wrap::{Call, Op, Wrapped};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const HOUR: Duration = Duration::from_secs(60 * 60);
const START: i64 = 1_764_000_000_000;

type Probe = Wrapped<MemoryStore>;

fn manager(config: Config) -> (Narvik<Probe>, ManualClock, Probe) {
    let probe = Probe::default();
    let clock = ManualClock::new(Timestamp::from_unix_millis(START));
    let narvik = Narvik::with_config(probe.clone(), config).with_clock(clock.clone());
    (narvik, clock, probe)
}

/// The live session behind `token`, or a panic.
async fn validated<S: SessionStore<Data = ()>>(narvik: &Narvik<S>, token: &Token) -> ValidSession {
    narvik
        .validate_session(token.as_str())
        .await
        .expect("validate")
        .expect("valid")
}

/// Whether `token` validates.
async fn is_live<S: SessionStore<Data = ()>>(narvik: &Narvik<S>, token: &Token) -> bool {
    narvik
        .validate_session(token.as_str())
        .await
        .expect("validate")
        .is_some()
}

/// Whether `call` is a rotation marking `old` as rotated.
fn marks_rotated(call: Call<'_, ()>, old: &SessionId) -> bool {
    matches!(call, Call::UpdateSession { id, rotated_at: Some(_), .. } if id == old)
}

/// A revocation that lands between the rotation's save of the new session
/// and its marking of the old must not leave the new one alive: it would
/// outlive "sign out everywhere".
#[tokio::test]
async fn a_revocation_during_a_rotation_takes_the_new_session_too() {
    let (narvik, _, probe) = manager(Config::default());
    let old = narvik.create_session("ada", ()).await.expect("create");
    let old_id = old.session.id;
    // Just before the old session is marked, sign the user out everywhere.
    probe.before(Op::UpdateSession, move |inner, call| {
        Box::pin(async move {
            if marks_rotated(call, &old_id) {
                narvik_core::store::UserSessionStore::delete_sessions_for_user(inner, "ada")
                    .await?;
            }
            Ok(())
        })
    });
    let rotated = narvik.rotate_session(&old_id).await.expect("rotate");
    assert!(rotated.is_none(), "a revoked session must not rotate");
    assert!(
        probe.inner().is_empty(),
        "the new session outlived the revocation"
    );
}

/// The same race, with a revocation of the old session alone (the new one
/// is left, as by a revocation that listed the sessions before the save):
/// the rotation must delete the new session itself.
#[tokio::test]
async fn a_rotation_that_finds_the_old_session_gone_deletes_the_new_one() {
    let (narvik, _, probe) = manager(Config::default());
    let old = narvik.create_session("ada", ()).await.expect("create");
    let old_id = old.session.id;
    probe.before(Op::UpdateSession, move |inner, call| {
        Box::pin(async move {
            if marks_rotated(call, &old_id) {
                inner.delete_session(&old_id).await?;
            }
            Ok(())
        })
    });
    assert!(
        narvik
            .rotate_session(&old_id)
            .await
            .expect("rotate")
            .is_none()
    );
    assert!(probe.inner().is_empty(), "the new session was left behind");
    assert_eq!(probe.calls(Op::SaveSession), 2, "the new one was saved");
}

/// A validation that must write (here, an extension) and finds that its
/// session was deleted since the lookup answers "no session": answering
/// with the session would undo the revocation for that request.
#[tokio::test]
async fn an_extension_that_finds_the_session_gone_is_no_session() {
    let (narvik, clock, probe) = manager(Config::default());
    let created = narvik.create_session("ada", ()).await.expect("create");
    let id = created.session.id;
    clock.advance(16 * DAY);
    probe.before(Op::UpdateSession, move |inner, _| {
        Box::pin(async move { inner.delete_session(&id).await })
    });
    assert_eq!(
        narvik
            .validate(created.token.as_str())
            .await
            .expect("validate"),
        Validation::Invalid
    );
}

/// The new session of a rotation keeps the sign-in's time, so that the
/// absolute lifetime still counts from the sign-in and rotating cannot
/// stretch a session past it.
#[tokio::test]
async fn rotation_cannot_stretch_the_absolute_lifetime() {
    let config = Config::builder()
        .session_length(DAY)
        .absolute_lifetime(30 * HOUR)
        .build()
        .expect("config");
    let (narvik, clock, _) = manager(config);
    let first = narvik.create_session("ada", ()).await.expect("create");
    clock.advance(20 * HOUR);
    let second = narvik
        .rotate_session(&first.session.id)
        .await
        .expect("rotate")
        .expect("live");
    assert_eq!(second.session.created_at, first.session.created_at);
    assert_eq!(
        second.session.expires_at,
        first.session.created_at.saturating_add(30 * HOUR)
    );
    clock.advance(10 * HOUR);
    assert!(!is_live(&narvik, &second.token).await);
}

/// A rotated session answers Rotated for the marker's time, then is
/// dead, deleted on the next validation; it never rotates again.
#[tokio::test]
async fn a_marker_answers_rotated_then_is_deleted() {
    let (narvik, clock, probe) = manager(Config::default());
    let old = narvik.create_session("ada", ()).await.expect("create");
    let new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate")
        .expect("live");
    assert!(
        narvik
            .rotate_session(&old.session.id)
            .await
            .expect("rotate again")
            .is_none(),
        "a marker must not rotate into a second live session"
    );
    clock.advance(ROTATED_MARKER_TTL - Duration::from_millis(1));
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Rotated
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Invalid
    );
    assert_eq!(
        probe.inner().len(),
        1,
        "the marker is gone, the new one stays"
    );
    assert!(is_live(&narvik, &new.token).await);
}

/// `validate_now` answers a marker at once, as `validate` does.
#[tokio::test]
async fn validate_now_answers_a_marker_at_once() {
    let (narvik, _, _) = manager(Config::default());
    let old = narvik.create_session("ada", ()).await.expect("create");
    let _new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate");
    assert!(matches!(
        narvik.validate_now(old.token.as_str()),
        Some(Ok(Validation::Rotated))
    ));
    assert!(matches!(
        narvik.validate_session_now(old.token.as_str()),
        Some(Ok(None))
    ));
}

/// Freshness counts from the later of sign-in and re-authentication.
#[tokio::test]
async fn freshness_counts_from_the_later_of_sign_in_and_reauthentication() {
    let (narvik, clock, _) = manager(Config::default());
    let five_minutes = Duration::from_secs(300);
    let created = narvik.create_session("ada", ()).await.expect("create");
    let mut session = created.session.clone();
    // A re-authentication recorded before the sign-in (a clock step, a
    // copied row) must not make the session older than its sign-in.
    session.reauthenticated_at = Some(session.created_at.saturating_sub(DAY));
    assert!(narvik.is_fresh(&session, five_minutes));
    clock.advance(HOUR);
    assert!(!narvik.is_fresh(&session, five_minutes));
    assert!(
        narvik
            .mark_reauthenticated(&created.session.id)
            .await
            .expect("mark")
    );
    let valid = validated(&narvik, &created.token).await;
    assert_eq!(valid.session.reauthenticated_at, Some(narvik.now()));
    assert!(narvik.is_fresh(&valid.session, five_minutes));
    clock.advance(five_minutes);
    assert!(!narvik.is_fresh(&valid.session, five_minutes));
    narvik
        .invalidate_session(&created.session.id)
        .await
        .expect("invalidate");
    assert!(
        !narvik
            .mark_reauthenticated(&created.session.id)
            .await
            .expect("mark"),
        "marking a gone session must say so"
    );
}

/// The three kinds of cookie: Narvik's, a remember-me session's (its own
/// length, whatever the configured Max-Age) and a browser-session cookie.
#[tokio::test]
async fn each_kind_of_session_gets_its_cookie() {
    let config = Config::builder()
        .session_length(12 * HOUR)
        .build()
        .expect("config");
    let (narvik, clock, _) = manager(config);
    let plain = narvik.create_session("ada", ()).await.expect("create");
    let cookie = narvik.cookie_for(&plain.token, &plain.session);
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");

    let remember = narvik
        .create_session_with("ada", (), SessionOptions::persistent(30 * DAY))
        .await
        .expect("create");
    assert_eq!(remember.session.length, Some(30 * DAY));
    let cookie = narvik.cookie_for(&remember.token, &remember.session);
    assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
    clock.advance(DAY);
    let cookie = narvik.cookie_for(&remember.token, &remember.session);
    assert!(cookie.contains("Max-Age=2505600"), "counts down: {cookie}");

    let visit = narvik
        .create_session_with("ada", (), SessionOptions::browser_session(12 * HOUR))
        .await
        .expect("create");
    assert!(!visit.session.persistent);
    let cookie = narvik.cookie_for(&visit.token, &visit.session);
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "a browser-session cookie has no lifetime: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}

/// A remember-me session extends by its own length, not the configured
/// one.
#[tokio::test]
async fn a_session_extends_by_its_own_length() {
    let config = Config::builder()
        .session_length(HOUR)
        .build()
        .expect("config");
    let (narvik, clock, _) = manager(config);
    let remember = narvik
        .create_session_with("ada", (), SessionOptions::persistent(30 * DAY))
        .await
        .expect("create");
    // Past the configured length, well inside its own: live, unextended.
    clock.advance(2 * HOUR);
    let valid = validated(&narvik, &remember.token).await;
    assert!(!valid.extended);
    clock.advance(15 * DAY);
    let valid = validated(&narvik, &remember.token).await;
    assert!(valid.extended);
    assert_eq!(
        valid.session.expires_at,
        narvik.now().saturating_add(30 * DAY)
    );
}

/// Activity: at most one write per interval, none in between, and the
/// record rides on an extension instead of a write of its own.
#[tokio::test]
async fn activity_is_written_once_per_interval_and_rides_on_extensions() {
    let config = Config::builder()
        .session_length(DAY)
        .activity_interval(Duration::from_secs(60))
        .build()
        .expect("config");
    let (narvik, clock, probe) = manager(config);
    let created = narvik.create_session("ada", ()).await.expect("create");
    for _ in 0..10 {
        clock.advance(Duration::from_secs(5));
        validated(&narvik, &created.token).await;
    }
    assert_eq!(probe.calls(Op::UpdateSession), 0, "50 s: nothing due");
    clock.advance(Duration::from_secs(10));
    let valid = validated(&narvik, &created.token).await;
    assert_eq!(probe.calls(Op::UpdateSession), 1);
    assert_eq!(valid.session.last_active_at, Some(narvik.now()));
    assert!(!valid.extended);
    // Half the length later both are due: one write carries both.
    clock.advance(DAY / 2);
    let valid = validated(&narvik, &created.token).await;
    assert!(valid.extended);
    assert_eq!(valid.session.last_active_at, Some(narvik.now()));
    assert_eq!(probe.calls(Op::UpdateSession), 2, "one write, not two");
}

/// The cap keeps the newest by last activity, not by creation: a session
/// in use survives a newer idle one.
#[tokio::test]
async fn the_cap_revokes_the_least_recently_active() {
    let config = Config::builder()
        .activity_interval(Duration::from_secs(60))
        .build()
        .expect("config");
    let (narvik, clock, _) = manager(config);
    let narvik = narvik.with_session_cap(NonZeroUsize::new(2).expect("2"));
    let used = narvik.create_session("ada", ()).await.expect("create");
    clock.advance(Duration::from_secs(1));
    let idle = narvik.create_session("ada", ()).await.expect("create");
    clock.advance(HOUR);
    validated(&narvik, &used.token).await;
    clock.advance(Duration::from_secs(1));
    let newest = narvik.create_session("ada", ()).await.expect("create");
    let live = |t: &narvik_core::Token| {
        let narvik = narvik.clone();
        let t = t.clone();
        async move { is_live(&narvik, &t).await }
    };
    assert!(live(&used.token).await, "the active session must stay");
    assert!(!live(&idle.token).await, "the idle one goes");
    assert!(live(&newest.token).await);
    // Another user's sessions are not counted.
    let _bob = narvik.create_session("bob", ()).await.expect("create");
    assert_eq!(
        narvik
            .fetch_sessions_for_user("ada")
            .await
            .expect("list")
            .len(),
        2
    );
}

/// A Narvik-style callback store (no lifecycle callback) still validates
/// and extends, and refuses the lifecycle's writes clearly instead of
/// dropping them.
#[tokio::test]
async fn a_callback_store_without_the_update_callback_refuses_lifecycle_writes() {
    let inner = MemoryStore::<()>::new();
    let (a, b, c, d) = (inner.clone(), inner.clone(), inner.clone(), inner.clone());
    let store = CallbackStore::new(
        move |s: Session| {
            let a = a.clone();
            async move { a.save_session(&s).await }
        },
        move |id: SessionId| {
            let b = b.clone();
            async move { b.fetch_session(&id).await }
        },
        move |(id, at): (SessionId, Timestamp)| {
            let c = c.clone();
            async move {
                c.update_session(&id, narvik_core::SessionUpdate::expiry(at))
                    .await
                    .map(drop)
            }
        },
        move |id: SessionId| {
            let d = d.clone();
            async move { d.delete_session(&id).await }
        },
    );
    let clock = ManualClock::new(Timestamp::from_unix_millis(START));
    let narvik = Narvik::new(store).with_clock(clock.clone());
    let created = narvik.create_session("ada", ()).await.expect("create");
    clock.advance(16 * DAY);
    assert!(validated(&narvik, &created.token).await.extended);
    assert!(matches!(
        narvik.mark_reauthenticated(&created.session.id).await,
        Err(Error::NotSupported("updateSession"))
    ));
    assert!(matches!(
        narvik.rotate_session(&created.session.id).await,
        Err(Error::NotSupported("updateSession"))
    ));
}

/// A rotation's failure to mark the old session is an error, and says so:
/// both sessions may be valid then.
#[tokio::test]
async fn a_failed_rotation_is_an_error() {
    let (narvik, _, probe) = manager(Config::default());
    let old = narvik.create_session("ada", ()).await.expect("create");
    probe.fail_next(Op::UpdateSession, 1);
    assert!(matches!(
        narvik.rotate_session(&old.session.id).await,
        Err(Error::Store { .. })
    ));
    probe.fail_next(Op::SaveSession, 1);
    assert!(narvik.rotate_session(&old.session.id).await.is_err());
    assert!(
        is_live(&narvik, &old.token).await,
        "a rotation that saved nothing leaves the old session as it was"
    );
}

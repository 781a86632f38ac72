//! The manager's rules, against a store that counts its calls and fails on
//! demand: expiry to the millisecond, extension, input handling, errors,
//! the absolute lifetime, freshness and logging.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use narvik_core::store::{MemoryStore, SessionStore};
use narvik_core::{
    Clock, Config, Error, ManualClock, Narvik, Session, SessionId, Timestamp, Token,
};
use narvik_testkit::wrap::{Op, Reply, Wrapped};
use proptest::prelude::*;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const START: i64 = 1_764_000_000_000;

/// A `MemoryStore` that counts every call and fails on demand.
type Probe = Wrapped<MemoryStore>;

struct Fixture {
    narvik: Narvik<Probe>,
    clock: ManualClock,
    probe: Probe,
}

fn fixture_with(config: Config) -> Fixture {
    let probe = Probe::default();
    let clock = ManualClock::new(Timestamp::from_unix_millis(START));
    let narvik = Narvik::with_config(probe.clone(), config).with_clock(clock.clone());
    Fixture {
        narvik,
        clock,
        probe,
    }
}

fn fixture() -> Fixture {
    fixture_with(Config::default())
}

/// Saves a session expiring at `expires_at` directly in the store and
/// returns its token.
async fn stored_session(f: &Fixture, expires_at: Timestamp) -> Token {
    let token = Token::generate().expect("os rng");
    f.probe
        .inner()
        .save_session(&Session::new(
            token.session_id(),
            "u",
            f.clock.now(),
            expires_at,
            (),
        ))
        .await
        .expect("save");
    token
}

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(START + offset_ms)
}

const D: i64 = 30 * 24 * 60 * 60 * 1000;

// ---- Expiry and extension, to the millisecond ---------------------------

#[tokio::test]
async fn validate_deletes_and_refuses_when_now_equals_expires_at() {
    let f = fixture();
    let token = stored_session(&f, at(0)).await;
    assert!(
        f.narvik
            .validate_session(token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
    assert_eq!(f.probe.calls(Op::DeleteSession), 1);
    assert!(
        f.probe.inner().is_empty(),
        "expired session left in the store"
    );
}

#[tokio::test]
async fn validate_extends_when_one_millisecond_remains() {
    let f = fixture();
    let token = stored_session(&f, at(1)).await;
    let valid = f
        .narvik
        .validate_session(token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(valid.extended);
    assert_eq!(valid.session.expires_at, at(D));
}

#[tokio::test]
async fn validate_extends_when_exactly_half_remains() {
    let f = fixture();
    let token = stored_session(&f, at(D / 2)).await;
    let valid = f
        .narvik
        .validate_session(token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(valid.extended);
    assert_eq!(valid.session.expires_at, at(D));
    assert_eq!(f.probe.calls(Op::UpdateSession), 1);
}

#[tokio::test]
async fn validate_writes_nothing_when_more_than_half_remains() {
    let f = fixture();
    let token = stored_session(&f, at(D / 2 + 1)).await;
    let valid = f
        .narvik
        .validate_session(token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(!valid.extended);
    assert_eq!(valid.session.expires_at, at(D / 2 + 1));
    assert_eq!(f.probe.calls(Op::UpdateSession), 0);
    assert_eq!(f.probe.calls(Op::DeleteSession), 0);
}

#[tokio::test]
async fn a_session_expiring_beyond_now_plus_length_is_valid_and_not_extended() {
    // D is the validating side's length: a row written by a service with a
    // longer length is valid here and left alone.
    let f = fixture();
    let token = stored_session(&f, at(3 * D)).await;
    let valid = f
        .narvik
        .validate_session(token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(!valid.extended);
    assert_eq!(valid.session.expires_at, at(3 * D));
}

#[tokio::test]
async fn expired_session_is_refused_even_though_the_store_returned_it() {
    let f = fixture();
    let token = stored_session(&f, at(-5)).await;
    assert!(
        f.narvik
            .validate_session(token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
    assert_eq!(
        f.probe.calls(Op::UpdateSession),
        0,
        "an expired session was extended"
    );
}

#[tokio::test]
async fn extension_is_persisted_and_then_not_repeated() {
    let f = fixture();
    let created = f.narvik.create_session("u", ()).await.expect("create");
    f.clock.advance(Duration::from_millis((D / 2) as u64));
    let valid = f
        .narvik
        .validate_session(created.token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(valid.extended);
    let stored = f
        .probe
        .inner()
        .fetch_session(&created.session.id)
        .await
        .expect("fetch");
    assert_eq!(stored.map(|s| s.expires_at), Some(f.clock.now() + DAY * 30));
    let again = f
        .narvik
        .validate_session(created.token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(!again.extended, "a just-extended session is extended again");
    assert_eq!(f.probe.calls(Op::UpdateSession), 1);
}

proptest! {
    /// valid iff now < expires_at; extended iff 2 * (expires_at - now) <= D;
    /// after an extension expires_at = now + D.
    #[test]
    fn validate_follows_narviks_rules_for_any_time(offset in -2 * D..3 * D) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let f = fixture();
            let token = stored_session(&f, at(offset)).await;
            let result = f.narvik.validate_session(token.as_str()).await.expect("ok");
            match result {
                None => prop_assert!(offset <= 0),
                Some(valid) => {
                    prop_assert!(offset > 0);
                    prop_assert_eq!(valid.extended, 2 * offset <= D);
                    let expected = if valid.extended { at(D) } else { at(offset) };
                    prop_assert_eq!(valid.session.expires_at, expected);
                }
            }
            Ok(())
        })?;
    }
}

// ---- Input handling -------------------------------------------------------

proptest! {
    /// Any string at all: no panic, and no store call unless it has a
    /// token's shape.
    #[test]
    fn any_string_is_answered_without_panic(token in any::<String>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let f = fixture();
        let result = runtime.block_on(f.narvik.validate_session(&token));
        prop_assert!(matches!(result, Ok(None)));
        let shaped = token.len() == 32
            && token.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        prop_assert_eq!(f.probe.total_calls(), usize::from(shaped));
    }
}

#[tokio::test]
async fn malformed_tokens_are_no_session_without_a_store_call() {
    let f = fixture();
    let valid = Token::generate().expect("os rng");
    let v = valid.as_str();
    let huge = "a".repeat(4 << 20);
    let bad = [
        String::new(),
        " ".to_owned(),
        v[..31].to_owned(),
        format!("{v}a"),
        v.to_uppercase(),
        format!("{};", &v[..31]),
        format!("{} ", &v[..31]),
        format!("{}\n", &v[..31]),
        format!("{}\0", &v[..31]),
        format!("{}=", &v[..31]),
        format!("{}0", &v[..31]),
        format!("{}1", &v[..31]),
        format!("{}8", &v[..31]),
        format!("{}é", &v[..30]),
        valid.session_id().to_string(),
        huge,
        "testSessionToken".to_owned(),
    ];
    for token in &bad {
        assert!(
            f.narvik
                .validate_session(token)
                .await
                .expect("no error")
                .is_none(),
            "accepted {:?}",
            &token[..token.len().min(40)]
        );
    }
    assert_eq!(
        f.probe.total_calls(),
        0,
        "the store saw a call for a malformed token"
    );
}

#[tokio::test]
async fn the_stored_id_presented_as_a_token_is_refused() {
    let f = fixture();
    let created = f.narvik.create_session("u", ()).await.expect("create");
    let id = created.session.id.to_string();
    assert!(f.narvik.validate_session(&id).await.expect("ok").is_none());
}

#[tokio::test]
async fn unknown_token_is_no_session_and_creates_nothing() {
    let f = fixture();
    let token = Token::generate().expect("os rng");
    assert!(
        f.narvik
            .validate_session(token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
    assert!(f.probe.inner().is_empty());
    assert_eq!(f.probe.calls(Op::SaveSession), 0);
}

// ---- Store failures are errors, never "no session" -------------------------

#[tokio::test]
async fn fetch_failure_is_an_error_not_no_session() {
    let f = fixture();
    let created = f.narvik.create_session("u", ()).await.expect("create");
    f.probe.fail(Op::FetchSession);
    let err = f
        .narvik
        .validate_session(created.token.as_str())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
}

#[tokio::test]
async fn delete_failure_on_expiry_is_reported() {
    let f = fixture();
    let token = stored_session(&f, at(0)).await;
    f.probe.fail(Op::DeleteSession);
    assert!(f.narvik.validate_session(token.as_str()).await.is_err());
}

#[tokio::test]
async fn update_failure_on_extension_is_reported() {
    let f = fixture();
    let token = stored_session(&f, at(10)).await;
    f.probe.fail(Op::UpdateSession);
    assert!(f.narvik.validate_session(token.as_str()).await.is_err());
}

#[tokio::test]
async fn save_failure_is_reported_from_create() {
    let f = fixture();
    f.probe.fail(Op::SaveSession);
    assert!(f.narvik.create_session("u", ()).await.is_err());
}

#[tokio::test]
async fn per_user_and_purge_failures_are_reported() {
    let f = fixture();
    f.probe.fail(Op::FetchSessionsForUser);
    f.probe.fail(Op::DeleteAllExpiredSessions);
    assert!(f.narvik.fetch_sessions_for_user("u").await.is_err());
    assert!(f.narvik.delete_all_expired_sessions().await.is_err());
}

#[tokio::test]
async fn a_store_answering_with_another_session_is_an_error() {
    let f = fixture();
    let mine = f.narvik.create_session("me", ()).await.expect("create");
    let theirs = f.narvik.create_session("them", ()).await.expect("create");
    // The store answers with their session whatever is asked.
    f.probe.after(Op::FetchSession, move |_, reply| {
        if let Reply::Session(answer) = reply {
            *answer = Ok(Some(theirs.session.clone()));
        }
    });
    assert!(
        f.narvik
            .validate_session(mine.token.as_str())
            .await
            .is_err()
    );
}

// ---- Creation, rotation, per-user ------------------------------------------

#[tokio::test]
async fn create_saves_the_hash_never_the_token() {
    let f = fixture();
    let created = f.narvik.create_session("u", ()).await.expect("create");
    assert_eq!(
        created.session.id,
        SessionId::from_token(created.token.as_str())
    );
    assert_eq!(created.session.created_at, f.clock.now());
    assert_eq!(created.session.expires_at, f.clock.now() + 30 * DAY);
    let stored = f
        .probe
        .inner()
        .fetch_session(&created.session.id)
        .await
        .expect("fetch");
    let shown = format!("{stored:?} {created:?}");
    assert!(
        !shown.contains(created.token.as_str()),
        "the token leaked: {shown}"
    );
}

#[tokio::test]
async fn a_users_session_list_shows_ids_never_tokens() {
    let f = fixture();
    let a = f.narvik.create_session("lister", ()).await.expect("create");
    let b = f.narvik.create_session("lister", ()).await.expect("create");
    let listed = f
        .narvik
        .fetch_sessions_for_user("lister")
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    let shown = format!("{listed:?}");
    for created in [&a, &b] {
        assert!(
            shown.contains(&created.session.id.to_string()),
            "the list names each session by its id: {shown}"
        );
        assert!(
            !shown.contains(created.token.as_str()),
            "the token leaked: {shown}"
        );
    }
}

#[tokio::test]
async fn two_sessions_of_one_user_get_unrelated_tokens() {
    let f = fixture();
    let a = f.narvik.create_session("u", ()).await.expect("create");
    let b = f.narvik.create_session("u", ()).await.expect("create");
    assert_ne!(a.token, b.token);
    let shared_prefix = a
        .token
        .as_str()
        .bytes()
        .zip(b.token.as_str().bytes())
        .take_while(|(x, y)| x == y)
        .count();
    assert!(
        shared_prefix < 8,
        "tokens share a {shared_prefix}-char prefix"
    );
}

#[tokio::test]
async fn rotation_invalidates_the_old_token() {
    let f = fixture();
    let old = f.narvik.create_session("u", ()).await.expect("create");
    let new = f.narvik.create_session("u", ()).await.expect("create");
    f.narvik
        .invalidate_session(&old.session.id)
        .await
        .expect("invalidate");
    assert!(
        f.narvik
            .validate_session(old.token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
    assert!(
        f.narvik
            .validate_session(new.token.as_str())
            .await
            .expect("ok")
            .is_some()
    );
}

#[tokio::test]
async fn fetch_sessions_for_user_leaves_out_expired_sessions() {
    let f = fixture();
    let live = f.narvik.create_session("u", ()).await.expect("create");
    stored_session(&f, at(-1)).await;
    let listed = f.narvik.fetch_sessions_for_user("u").await.expect("fetch");
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![live.session.id]
    );
}

#[tokio::test]
async fn delete_other_sessions_for_user_signs_out_everywhere_else() {
    let f = fixture();
    let here = f.narvik.create_session("u", ()).await.expect("create");
    let there = f.narvik.create_session("u", ()).await.expect("create");
    f.narvik
        .delete_other_sessions_for_user("u", &here.session.id)
        .await
        .expect("delete others");
    assert!(
        f.narvik
            .validate_session(here.token.as_str())
            .await
            .expect("ok")
            .is_some()
    );
    assert!(
        f.narvik
            .validate_session(there.token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
}

#[tokio::test]
async fn purge_uses_the_managers_clock_and_the_same_boundary() {
    let f = fixture();
    stored_session(&f, at(0)).await;
    stored_session(&f, at(-1)).await;
    stored_session(&f, at(1)).await;
    assert_eq!(
        f.narvik.delete_all_expired_sessions().await.expect("purge"),
        2
    );
    assert_eq!(f.probe.inner().len(), 1);
}

// ---- Absolute lifetime and freshness ---------------------------------------

fn capped(cap: Duration) -> Fixture {
    fixture_with(
        Config::builder()
            .session_length(DAY)
            .absolute_lifetime(cap)
            .build()
            .expect("valid"),
    )
}

#[tokio::test]
async fn absolute_lifetime_ends_an_active_session() {
    let f = capped(2 * DAY);
    let created = f.narvik.create_session("u", ()).await.expect("create");
    // Stay active: validate every 12 hours.
    for _ in 0..3 {
        f.clock.advance(DAY / 2);
        assert!(
            f.narvik
                .validate_session(created.token.as_str())
                .await
                .expect("ok")
                .is_some()
        );
    }
    f.clock.advance(DAY / 2);
    assert_eq!(f.clock.now(), created.session.created_at + 2 * DAY);
    assert!(
        f.narvik
            .validate_session(created.token.as_str())
            .await
            .expect("ok")
            .is_none()
    );
    assert!(f.probe.inner().is_empty());
}

#[tokio::test]
async fn extension_never_passes_the_absolute_lifetime() {
    let f = capped(DAY + DAY / 4);
    let created = f.narvik.create_session("u", ()).await.expect("create");
    f.clock.advance(DAY / 2);
    let valid = f
        .narvik
        .validate_session(created.token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(valid.extended);
    assert_eq!(
        valid.session.expires_at,
        created.session.created_at + DAY + DAY / 4
    );
    // At the cap the expiry cannot move: no further writes.
    f.clock.advance(DAY / 2);
    let valid = f
        .narvik
        .validate_session(created.token.as_str())
        .await
        .expect("ok")
        .expect("valid");
    assert!(!valid.extended);
    assert_eq!(f.probe.calls(Op::UpdateSession), 1);
}

#[tokio::test]
async fn a_cap_shorter_than_the_length_bounds_the_first_expiry() {
    let f = capped(DAY / 2);
    let created = f.narvik.create_session("u", ()).await.expect("create");
    assert_eq!(
        created.session.expires_at,
        created.session.created_at + DAY / 2
    );
}

#[tokio::test]
async fn is_fresh_counts_from_creation_not_from_the_last_extension() {
    let f = fixture();
    let created = f.narvik.create_session("u", ()).await.expect("create");
    let five_minutes = Duration::from_secs(300);
    assert!(f.narvik.is_fresh(&created.session, five_minutes));
    f.clock.advance(five_minutes - Duration::from_millis(1));
    assert!(f.narvik.is_fresh(&created.session, five_minutes));
    f.clock.advance(Duration::from_millis(1));
    assert!(!f.narvik.is_fresh(&created.session, five_minutes));
}

// ---- Logging -----------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn spans_carry_the_session_id_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let f = fixture();
    let token = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let created = f.narvik.create_session("u", ()).await.expect("create");
            f.clock.advance(20 * DAY);
            f.narvik
                .validate_session(created.token.as_str())
                .await
                .expect("ok");
            f.narvik
                .invalidate_session(&created.session.id)
                .await
                .expect("ok");
            (created.token, created.session.id)
        })
    });
    let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    for span in [
        "narvik.create_session",
        "narvik.validate_session",
        "narvik.invalidate_session",
    ] {
        assert!(log.contains(span), "no {span} span in:\n{log}");
    }
    assert!(log.contains("session extended"), "{log}");
    assert!(
        log.contains(&token.1.to_string()),
        "spans should name the session id"
    );
    assert!(
        !log.contains(token.0.as_str()),
        "the token was logged:\n{log}"
    );
}

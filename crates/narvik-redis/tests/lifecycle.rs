//! The session lifecycle in Redis, on one server and on the cluster: each
//! field round-trips and each update writes only what it is given; a
//! rotation marker's key and index entry outlive its expiry by the
//! marker's time, and the purge keeps young markers; values written by the
//! release before the lifecycle (layout 1) still validate, and are upgraded
//! in place by their first lifecycle write.

mod support;

use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{
    Narvik, ROTATED_MARKER_TTL, Session, SessionId, SessionUpdate, Timestamp, Token, Validation,
};
use narvik_testkit::TestData;
use serde::Serialize;
use support::{Raw, Target, TestStore, runtime, test_store};

const HOUR: Duration = Duration::from_secs(3600);
const MARKER_MS: i64 = 60_000;

/// An update with the changes `set` makes (`SessionUpdate` is
/// non-exhaustive: no struct expressions outside narvik-core).
fn changes<D>(set: impl FnOnce(&mut SessionUpdate<D>)) -> SessionUpdate<D> {
    let mut update = SessionUpdate::default();
    set(&mut update);
    update
}

fn data(label: &str) -> TestData {
    TestData {
        label: label.to_owned(),
        counter: u64::MAX,
        tags: vec!["é".to_owned(), "\"quoted\"".to_owned()],
        blob: "x".repeat(2000),
    }
}

fn session(user: &str, now: Timestamp) -> Session<TestData> {
    Session::new(
        Token::generate().expect("os rng").session_id(),
        user,
        now,
        now + HOUR,
        data("first"),
    )
}

async fn raw_value(raw: &mut Raw, store: &TestStore, id: &SessionId) -> Option<Vec<u8>> {
    raw.query(redis::cmd("GET").arg(store.inner().session_key(id)))
        .await
}

async fn key_expiry(raw: &mut Raw, store: &TestStore, id: &SessionId) -> i64 {
    raw.query(redis::cmd("PEXPIRETIME").arg(store.inner().session_key(id)))
        .await
}

async fn score(raw: &mut Raw, store: &TestStore, user: &str, id: &SessionId) -> Option<f64> {
    raw.query(
        redis::cmd("ZSCORE")
            .arg(store.inner().user_index_key(user))
            .arg(id.to_string()),
    )
    .await
}

/// The bytes of a value from its user id on: the data and the fields
/// that never change. An update of times alone must leave them as they
/// are, byte for byte.
fn tail(value: &[u8]) -> &[u8] {
    let at = value
        .windows(10)
        .position(|w| w == br#""user_id":"#)
        .expect("a session value names its user");
    &value[at..]
}

async fn every_field_round_trips_and_updates_write_only_their_part(target: Target) {
    let store = test_store(target.clone(), "life").await;
    let mut raw = Raw::connect(&target).await;
    let now = Timestamp::now();
    let t = |s: u64| now + Duration::from_secs(s);

    // Saved with every field set, read back with every field.
    let mut full = session("life-user", now);
    full.length = Some(Duration::from_secs(12 * 3600));
    full.persistent = false;
    full.last_active_at = Some(t(1));
    full.reauthenticated_at = Some(t(2));
    store.save_session(&full).await.expect("save");
    assert_eq!(
        store.fetch_session(&full.id).await.expect("fetch"),
        Some(full.clone())
    );

    // Data as a hand (or another encoder) might have spaced it: an update
    // that re-encoded the data would not keep these bytes.
    let spaced = raw_value(&mut raw, &store, &full.id).await.expect("there");
    let spaced = String::from_utf8(spaced)
        .expect("utf-8")
        .replace(r#""data":{"label""#, r#""data": {  "label""#);
    let _: () = raw
        .query(
            redis::cmd("SET")
                .arg(store.inner().session_key(&full.id))
                .arg(&spaced)
                .arg("KEEPTTL"),
        )
        .await;
    assert!(spaced.contains(r#""data": {  "label""#));

    // Each update: the field it sets changes, nothing else does.
    let mut expected = full.clone();
    let cases: Vec<(&str, SessionUpdate<TestData>)> = vec![
        ("expiry", SessionUpdate::expiry(t(7200))),
        (
            "activity",
            changes(|u| {
                u.last_active_at = Some(t(10));
            }),
        ),
        (
            "re-authentication",
            changes(|u| {
                u.reauthenticated_at = Some(t(20));
            }),
        ),
        (
            "activity with an extension",
            changes(|u| {
                u.expires_at = Some(t(9000));
                u.last_active_at = Some(t(30));
            }),
        ),
        (
            "data",
            changes(|u| {
                u.data = Some(data("second: {\"org\": 2}"));
            }),
        ),
        (
            "data and a time at once",
            changes(|u| {
                u.data = Some(TestData::default());
                u.reauthenticated_at = Some(t(40));
            }),
        ),
    ];
    for (what, update) in cases {
        let before = raw_value(&mut raw, &store, &full.id).await.expect("there");
        let touches_data = update.data.is_some();
        let moves_expiry = update.expires_at.is_some();
        update.clone().apply_to(&mut expected);
        assert!(
            store
                .update_session(&full.id, update)
                .await
                .expect("update"),
            "{what}: the session was there"
        );
        let fetched = store.fetch_session(&full.id).await.expect("fetch");
        assert_eq!(fetched.as_ref(), Some(&expected), "{what}");
        let after = raw_value(&mut raw, &store, &full.id).await.expect("there");
        if !touches_data {
            assert_eq!(
                tail(&after),
                tail(&before),
                "{what}: an update without data rewrote the data"
            );
        }
        let at = expected.expires_at.as_unix_millis();
        assert_eq!(
            key_expiry(&mut raw, &store, &full.id).await,
            at,
            "{what}: the key's expiry is the session's"
        );
        if moves_expiry {
            assert_eq!(
                score(&mut raw, &store, "life-user", &full.id).await,
                Some(at as f64),
                "{what}: the index score follows the key"
            );
        }
    }

    // Listing reads the same fields.
    let listed = store
        .fetch_sessions_for_user("life-user")
        .await
        .expect("list");
    assert_eq!(listed, vec![expected]);

    // Updates of a missing session create nothing, whatever they carry.
    store.delete_session(&full.id).await.expect("delete");
    for update in [
        SessionUpdate::expiry(t(100)),
        changes(|u| {
            u.last_active_at = Some(t(100));
            u.rotated_at = Some(t(100));
            u.data = Some(data("ghost"));
        }),
    ] {
        assert!(
            !store
                .update_session(&full.id, update)
                .await
                .expect("update of a gone session"),
            "the session was gone"
        );
    }
    assert_eq!(raw_value(&mut raw, &store, &full.id).await, None);
    assert_eq!(score(&mut raw, &store, "life-user", &full.id).await, None);
}

/// The rotation's update (`expires_at` and `rotated_at` = now): the key
/// must not die at its expiry, which is now, but live on as the marker
/// for a minute; its index entry goes with it then, not at the session's
/// old expiry; the purge keeps it until its time is up.
async fn a_rotation_marker_lives_for_its_time(target: Target) {
    let store = test_store(target.clone(), "marker").await;
    let mut raw = Raw::connect(&target).await;
    let now = Timestamp::now();
    let s = session("marker-user", now);
    store.save_session(&s).await.expect("save");
    let marker = changes(|u| {
        u.expires_at = Some(now);
        u.rotated_at = Some(now);
    });
    assert!(store.update_session(&s.id, marker).await.expect("mark"));
    let marker_end = now.as_unix_millis() + MARKER_MS;
    assert_eq!(
        key_expiry(&mut raw, &store, &s.id).await,
        marker_end,
        "the marker's key lives until rotated_at + ROTATED_MARKER_TTL"
    );
    assert_eq!(
        score(&mut raw, &store, "marker-user", &s.id).await,
        Some(marker_end as f64),
        "the index entry ends with the marker, not at the old expiry"
    );
    // Past its expiry, still there (a key expiring at `now` would be gone).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fetched = store
        .fetch_session(&s.id)
        .await
        .expect("fetch")
        .expect("the marker outlives its expiry");
    assert_eq!(
        (fetched.expires_at, fetched.rotated_at, &fetched.data),
        (now, Some(now), &s.data)
    );

    // A purge keeps a young marker, and deletes it once its time is up.
    let young = store
        .delete_all_expired_sessions(now + Duration::from_secs(1))
        .await
        .expect("purge");
    assert_eq!(young, 0, "the purge deleted a young marker");
    assert!(raw_value(&mut raw, &store, &s.id).await.is_some());
    let at_cutoff = store
        .delete_all_expired_sessions(now + ROTATED_MARKER_TTL)
        .await
        .expect("purge");
    assert_eq!(at_cutoff, 1, "a marker whose time is up is purged");
    assert_eq!(raw_value(&mut raw, &store, &s.id).await, None);

    // A marker saved as such (as a store copy would) gets the same key life.
    let mut copy = session("marker-user", now);
    copy.expires_at = now;
    copy.rotated_at = Some(now);
    store.save_session(&copy).await.expect("save a marker");
    assert_eq!(key_expiry(&mut raw, &store, &copy.id).await, marker_end);
}

/// Through narvik: rotation leaves a marker the old token answers as
/// `Rotated`, and the new session carries the old one's lifecycle fields.
async fn rotation_through_narvik(target: Target) {
    let store = test_store(target, "rotate").await;
    let narvik = Narvik::new(store);
    let old = narvik
        .create_session_with(
            "rot-user",
            data("kept"),
            narvik_core::SessionOptions::browser_session(Duration::from_secs(600)),
        )
        .await
        .expect("create");
    assert!(
        narvik
            .mark_reauthenticated(&old.session.id)
            .await
            .expect("re-auth")
    );
    let new = narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate")
        .expect("rotated");
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Rotated
    );
    let Validation::Valid(valid) = narvik.validate(new.token.as_str()).await.expect("validate")
    else {
        panic!("the rotated session does not validate");
    };
    let s = valid.session;
    assert_eq!(
        (s.length, s.persistent, &s.data),
        (Some(Duration::from_secs(600)), false, &data("kept"))
    );
    assert!(s.reauthenticated_at.is_some());
    assert!(
        narvik
            .update_session_data(&s.id, data("changed"))
            .await
            .expect("data")
    );
    let s = narvik
        .store()
        .fetch_session(&s.id)
        .await
        .expect("fetch")
        .expect("there");
    assert_eq!(s.data, data("changed"));
}

/// narvik-redis's value encoder before the session lifecycle (layout 1, as
/// of commit 3d663c6), frozen here: values it wrote are in Redis when the
/// new release starts.
fn layout_1_value(session: &Session<TestData>) -> Vec<u8> {
    #[derive(Serialize)]
    struct StoredRef<'a, D> {
        user_id: &'a str,
        created_at: Timestamp,
        data: &'a D,
    }
    let json = serde_json::to_vec(&StoredRef {
        user_id: &session.user_id,
        created_at: session.created_at,
        data: &session.data,
    })
    .expect("encodes");
    let at = session.expires_at.as_unix_millis();
    let mut value = format!("{at:015} ").into_bytes();
    value.extend_from_slice(&json);
    value
}

/// Saves `session` as the previous release did: the index entry, then the
/// key (`SET NX PXAT`) in layout 1.
async fn save_layout_1(raw: &mut Raw, store: &TestStore, session: &Session<TestData>) {
    let at = session.expires_at.as_unix_millis();
    let _: i64 = raw
        .query(
            redis::cmd("ZADD")
                .arg(store.inner().user_index_key(&session.user_id))
                .arg(at)
                .arg(session.id.to_string()),
        )
        .await;
    let _: () = raw
        .query(
            redis::cmd("SET")
                .arg(store.inner().session_key(&session.id))
                .arg(layout_1_value(session))
                .arg("NX")
                .arg("PXAT")
                .arg(at),
        )
        .await;
}

const LAYOUT_2: &[u8] = br#"{"v":2,"#;

fn layout_of(value: &[u8]) -> &[u8] {
    &value[16..16 + LAYOUT_2.len()]
}

/// Values of the previous release validate, list, extend and purge as
/// sessions with the defaults; the first lifecycle write upgrades each in
/// place (data intact), and an extension alone leaves it as it was.
async fn layout_1_values_still_validate_and_upgrade_in_place(target: Target) {
    let store = test_store(target.clone(), "layout1").await;
    let mut raw = Raw::connect(&target).await;
    let now = Timestamp::now();
    let sessions: Vec<Session<TestData>> = (0..4)
        .map(|i| {
            let mut s = session("old-user", now);
            // Half-way through: the next validation extends it.
            s.expires_at = now + Duration::from_secs(10 + 60 * i);
            s
        })
        .collect();
    for s in &sessions {
        save_layout_1(&mut raw, &store, s).await;
        let fetched = store.fetch_session(&s.id).await.expect("fetch");
        assert_eq!(fetched.as_ref(), Some(s), "a layout-1 value reads as saved");
    }
    let mut listed = store
        .fetch_sessions_for_user("old-user")
        .await
        .expect("list");
    listed.sort_by_key(|s| s.expires_at);
    assert_eq!(listed, sessions);

    // An extension (no lifecycle field) keeps layout 1.
    let [extended, reauth, data_update, rotated] = &sessions[..] else {
        unreachable!()
    };
    assert!(
        store
            .update_session(&extended.id, SessionUpdate::expiry(now + HOUR))
            .await
            .expect("extend")
    );
    let value = raw_value(&mut raw, &store, &extended.id)
        .await
        .expect("there");
    assert_eq!(
        layout_of(&value),
        br#"{"user_id""#[..LAYOUT_2.len()].as_ref()
    );
    assert_eq!(value, {
        let mut s = extended.clone();
        s.expires_at = now + HOUR;
        layout_1_value(&s)
    });

    // A recorded time upgrades it: layout 2, the data byte for byte.
    let before = raw_value(&mut raw, &store, &reauth.id)
        .await
        .expect("there");
    let update = changes(|u| {
        u.reauthenticated_at = Some(now);
    });
    assert!(
        store
            .update_session(&reauth.id, update)
            .await
            .expect("re-auth")
    );
    let after = raw_value(&mut raw, &store, &reauth.id)
        .await
        .expect("there");
    assert_eq!(layout_of(&after), LAYOUT_2, "upgraded in place");
    assert_eq!(tail(&after), tail(&before), "the upgrade rewrote the data");
    let mut expected = reauth.clone();
    expected.reauthenticated_at = Some(now);
    assert_eq!(
        store.fetch_session(&reauth.id).await.expect("fetch"),
        Some(expected)
    );
    assert_eq!(
        key_expiry(&mut raw, &store, &reauth.id).await,
        reauth.expires_at.as_unix_millis(),
        "the upgrade kept the key's expiry"
    );

    // New data in a layout-1 value.
    let update = changes(|u| {
        u.data = Some(data("new"));
    });
    assert!(
        store
            .update_session(&data_update.id, update)
            .await
            .expect("data")
    );
    let mut expected = data_update.clone();
    expected.data = data("new");
    assert_eq!(
        store.fetch_session(&data_update.id).await.expect("fetch"),
        Some(expected)
    );

    // A rotation of a layout-1 value leaves a marker like any other.
    let marker = changes(|u| {
        u.expires_at = Some(now);
        u.rotated_at = Some(now);
    });
    assert!(
        store
            .update_session(&rotated.id, marker)
            .await
            .expect("mark")
    );
    assert_eq!(
        key_expiry(&mut raw, &store, &rotated.id).await,
        now.as_unix_millis() + MARKER_MS
    );

    // Through narvik, with its real clock: a layout-1 session validates
    // (and is extended: it is past half-way).
    let fresh = session("old-user", now);
    let token = Token::generate().expect("os rng");
    let mut fresh = Session::new(
        token.session_id(),
        fresh.user_id,
        fresh.created_at,
        now + Duration::from_secs(60),
        fresh.data,
    );
    save_layout_1(&mut raw, &store, &fresh).await;
    let narvik = Narvik::new(store);
    let Validation::Valid(valid) = narvik.validate(token.as_str()).await.expect("validate") else {
        panic!("a layout-1 session does not validate");
    };
    assert!(valid.extended, "past half-way, it is extended");
    fresh.expires_at = valid.session.expires_at;
    assert_eq!(valid.session, fresh, "with the lifecycle's defaults");

    // And the purge deletes layout-1 values that are due.
    let purged = narvik
        .store()
        .delete_all_expired_sessions(now + 2 * HOUR)
        .await
        .expect("purge");
    // The four above (the marker's time is up by then too), not the one
    // the validation extended.
    assert_eq!(purged, 4);
}

/// The upgrade is safe to race: many writers' first lifecycle writes to
/// one layout-1 value at once upgrade it exactly once, and every write
/// lands (each script sees the value as the one before left it).
async fn racing_first_writes_upgrade_a_layout_1_value_once(target: Target) {
    let store = std::sync::Arc::new(test_store(target.clone(), "race1").await);
    let mut raw = Raw::connect(&target).await;
    let now = Timestamp::now();
    let s = session("race-user", now);
    save_layout_1(&mut raw, &store, &s).await;
    let writers: Vec<_> = (0..32_u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let at = Some(now + Duration::from_millis(i));
                let update = match i % 3 {
                    0 => changes(|u| u.last_active_at = at),
                    1 => changes(|u| u.reauthenticated_at = at),
                    _ => changes(|u| u.expires_at = Some(now + HOUR + Duration::from_millis(i))),
                };
                store.update_session(&s.id, update).await.expect("update")
            })
        })
        .collect();
    for w in writers {
        assert!(w.await.expect("writer panicked"), "the session was there");
    }
    let value = raw_value(&mut raw, &store, &s.id).await.expect("there");
    let opens = value
        .windows(LAYOUT_2.len())
        .filter(|w| *w == LAYOUT_2)
        .count();
    assert_eq!((layout_of(&value), opens), (LAYOUT_2, 1), "upgraded once");
    let back = store
        .fetch_session(&s.id)
        .await
        .expect("fetch")
        .expect("there");
    assert_eq!(
        (&back.user_id, back.created_at, &back.data),
        (&s.user_id, s.created_at, &s.data)
    );
    assert!(back.last_active_at.is_some() && back.reauthenticated_at.is_some());
}

macro_rules! against {
    ($target:expr) => {
        #[test]
        fn every_field_round_trips_and_updates_write_only_their_part() {
            super::runtime().block_on(
                super::every_field_round_trips_and_updates_write_only_their_part($target),
            );
        }
        #[test]
        fn a_rotation_marker_lives_for_its_time() {
            super::runtime().block_on(super::a_rotation_marker_lives_for_its_time($target));
        }
        #[test]
        fn rotation_through_narvik() {
            super::runtime().block_on(super::rotation_through_narvik($target));
        }
        #[test]
        fn racing_first_writes_upgrade_a_layout_1_value_once() {
            super::runtime().block_on(super::racing_first_writes_upgrade_a_layout_1_value_once(
                $target,
            ));
        }
        #[test]
        fn layout_1_values_still_validate_and_upgrade_in_place() {
            super::runtime().block_on(super::layout_1_values_still_validate_and_upgrade_in_place(
                $target,
            ));
        }
    };
}

mod single_server {
    against!(super::Target::single());
}

mod cluster {
    against!(super::Target::cluster());
}

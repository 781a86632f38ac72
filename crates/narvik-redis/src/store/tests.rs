//! The update scripts' guards, driven directly on the machine's Redis
//! (or `NARVIK_TEST_REDIS_URL`): a delete that lands after an update
//! has read the owner and before its script runs must win. Through the
//! store's API that window cannot be hit on purpose (the update's own
//! read would find the session gone first), so the test calls each
//! path's update step after deleting.

use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{Session, SessionUpdate, Timestamp, Token};

use super::value::{UpdateArgs, decode_fixed, encode_session, expiry_millis};
use super::{Entry, RedisStore, cluster, one_server};

const HOUR: Duration = Duration::from_secs(3600);

/// An update with the changes `set` makes (`SessionUpdate` is
/// non-exhaustive: no struct expressions outside narvik-core).
fn changes<D>(set: impl FnOnce(&mut SessionUpdate<D>)) -> SessionUpdate<D> {
    let mut update = SessionUpdate::default();
    set(&mut update);
    update
}

fn url() -> String {
    let url = std::env::var("NARVIK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    assert!(
        ["redis://127.0.0.1", "redis://localhost", "redis://[::1]"]
            .iter()
            .any(|loopback| url.starts_with(loopback)),
        "the tests only ever use loopback Redis servers, not {url}"
    );
    url
}

#[test]
fn an_update_after_a_delete_creates_nothing_on_either_path() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let prefix = format!(
            "narvik-test-guard-{}",
            &Token::generate().expect("os rng").as_str()[..16]
        );
        let store: RedisStore<u32> = RedisStore::builder()
            .key_prefix(&prefix)
            .connect(&url())
            .await
            .expect("connect to the test Redis");
        let mut outcomes = Vec::new();
        let now = Timestamp::now();
        let updates: [(&str, SessionUpdate<u32>); 4] = [
            ("an extension", SessionUpdate::expiry(now + 2 * HOUR)),
            (
                "a rotation",
                changes(|u| {
                    u.expires_at = Some(now);
                    u.rotated_at = Some(now);
                }),
            ),
            (
                "activity",
                changes(|u| {
                    u.last_active_at = Some(now);
                }),
            ),
            (
                "new data",
                changes(|u| {
                    u.data = Some(7);
                    u.reauthenticated_at = Some(now);
                }),
            ),
        ];
        for (path, ordered) in [("one-server script", false), ("cluster steps", true)] {
            for (kind, update) in &updates {
                let session = Session::new(
                    Token::generate().expect("os rng").session_id(),
                    "guard-user",
                    now,
                    now + HOUR,
                    1,
                );
                store.save_session(&session).await.expect("save");
                let entry = Entry::new(&store.keys, &session.id, &session.user_id);
                let (_, value) = encode_session(&session).expect("encodes");
                let fixed = decode_fixed(&session.id, &value).expect("fixed");
                let args = UpdateArgs::new(&session.id, &fixed, update).expect("args");
                store.delete_session(&session.id).await.expect("delete");
                let mut conn = store.conn.clone();
                let updated = if ordered {
                    let at = expiry_millis(session.expires_at + HOUR);
                    cluster::update(
                        &mut conn,
                        &entry,
                        &args,
                        Some(at),
                        update.rotated_at.is_some(),
                    )
                    .await
                } else {
                    one_server::update(&mut conn, &entry, &args).await
                };
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&entry.session_key)
                    .query_async(&mut conn)
                    .await
                    .expect("EXISTS");
                let score: Option<f64> = redis::cmd("ZSCORE")
                    .arg(&entry.index_key)
                    .arg(&entry.member)
                    .query_async(&mut conn)
                    .await
                    .expect("ZSCORE");
                outcomes.push((path, *kind, updated, exists, score));
            }
        }
        // Clean up before judging, so that a failure leaves nothing behind.
        store.clear().await.expect("clear");
        for (path, kind, updated, exists, score) in outcomes {
            assert_eq!(
                updated.expect("update"),
                (0, 0),
                "{path}, {kind}: the key was gone"
            );
            assert!(
                !exists,
                "{path}, {kind}: the update re-created the session key"
            );
            assert_eq!(
                score, None,
                "{path}, {kind}: the update re-added the index entry"
            );
        }
    });
}

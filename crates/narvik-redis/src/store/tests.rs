//! The extension scripts' guards, driven directly on the machine's Redis
//! (or `NARVIK_TEST_REDIS_URL`): a delete that lands after an extension
//! has read the owner and before its script runs must win. Through the
//! store's API that window cannot be hit on purpose (the extension's own
//! read would find the session gone first), so the test calls each
//! path's extension step after deleting.

use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{Session, Timestamp, Token};

use super::value::expiry_millis;
use super::{Entry, RedisStore, cluster, one_server};

const HOUR: Duration = Duration::from_secs(3600);

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
fn an_extension_after_a_delete_creates_nothing_on_either_path() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let prefix = format!(
            "narvik-test-guard-{}",
            &Token::generate().expect("os rng").as_str()[..16]
        );
        let store: RedisStore<()> = RedisStore::builder()
            .key_prefix(&prefix)
            .connect(&url())
            .await
            .expect("connect to the test Redis");
        let mut outcomes = Vec::new();
        for (path, ordered) in [("one-server script", false), ("cluster steps", true)] {
            let session = Session::new(
                Token::generate().expect("os rng").session_id(),
                "guard-user",
                Timestamp::now(),
                Timestamp::now() + HOUR,
                (),
            );
            store.save_session(&session).await.expect("save");
            let entry = Entry::new(&store.keys, &session.id, &session.user_id);
            store.delete_session(&session.id).await.expect("delete");
            let at = expiry_millis(session.expires_at + HOUR);
            let mut conn = store.conn.clone();
            let extended = if ordered {
                cluster::extend(&mut conn, &entry, at).await
            } else {
                one_server::extend(&mut conn, &entry, at).await
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
            outcomes.push((path, extended, exists, score));
        }
        // Clean up before judging, so that a failure leaves nothing behind.
        store.clear().await.expect("clear");
        for (path, extended, exists, score) in outcomes {
            assert_eq!(extended.expect("extend"), 0, "{path}: the key was gone");
            assert!(!exists, "{path}: the extension re-created the session key");
            assert_eq!(
                score, None,
                "{path}: the extension re-added the index entry"
            );
        }
    });
}

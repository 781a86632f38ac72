//! Redis going away and coming back, on a private redis-server of this
//! test's own: calls fail within the timeout (never hang, never "no
//! session"), and the same store works again once the server is back.

mod support;

use std::time::{Duration, Instant};

use narvik_core::{Error, Narvik};
use narvik_redis::RedisStore;
use support::{Server, free_port};

const TIMEOUT: Duration = Duration::from_millis(300);
/// Slack for a loaded 2-core machine; far below any "hang".
const MAX_WAIT: Duration = Duration::from_millis(1500);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `call`, asserting it is a store error that came back in time.
async fn fails_in_time<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, Error>>,
) {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(Error::Store { .. })),
        "{what} with redis down must be Error::Store, got {result:?}"
    );
    assert!(
        took < MAX_WAIT,
        "{what} took {took:?} with redis down (timeout {TIMEOUT:?})"
    );
}

#[test]
fn calls_fail_fast_while_redis_is_down_and_recover_when_it_is_back() {
    runtime().block_on(async {
        let port = free_port(false);
        let server = Server::start(port);
        let store: RedisStore<()> = RedisStore::builder()
            .key_prefix("narvik-failures")
            .timeout(TIMEOUT)
            .connect(&server.url())
            .await
            .expect("connect to the private server");
        let narvik = Narvik::new(store);
        let created = narvik.create_session("user", ()).await.expect("create");
        assert!(
            narvik
                .validate_session(created.token.as_str())
                .await
                .expect("validate")
                .is_some()
        );

        server.kill();

        // Several rounds: the first call sees the dropped connection, later
        // ones run while the client is reconnecting and backing off.
        for _ in 0..3 {
            fails_in_time("validate", narvik.validate_session(created.token.as_str())).await;
            fails_in_time("create", narvik.create_session("user", ())).await;
            fails_in_time("invalidate", narvik.invalidate_session(&created.session.id)).await;
            fails_in_time("list", narvik.fetch_sessions_for_user("user")).await;
            fails_in_time("delete for user", narvik.delete_sessions_for_user("user")).await;
            fails_in_time("purge", narvik.delete_all_expired_sessions()).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Back on the same port (empty: it kept nothing). The same store
        // must work again without being rebuilt.
        let _server = Server::start(port);
        let deadline = Instant::now() + Duration::from_secs(10);
        let recovered = loop {
            if let Ok(created) = narvik.create_session("user", ()).await {
                break created;
            }
            assert!(
                Instant::now() < deadline,
                "the store did not recover within 10 s of redis coming back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let valid = narvik
            .validate_session(recovered.token.as_str())
            .await
            .expect("validate after recovery");
        assert_eq!(valid.map(|v| v.session.id), Some(recovered.session.id));
        // The old session died with the old server: a real "no session" now.
        assert!(
            narvik
                .validate_session(created.token.as_str())
                .await
                .expect("validate")
                .is_none()
        );
    });
}

#[test]
fn connecting_to_nothing_fails_in_time_naming_the_address() {
    runtime().block_on(async {
        let port = free_port(false);
        let url = format!("redis://127.0.0.1:{port}");
        let started = Instant::now();
        let result = RedisStore::<()>::builder()
            .timeout(TIMEOUT)
            .connect::<()>(&url)
            .await;
        assert!(
            started.elapsed() < MAX_WAIT,
            "connect took {:?}",
            started.elapsed()
        );
        let err = result.expect_err("nothing listens there");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    });
}

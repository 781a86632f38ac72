//! Redis going away and coming back, on a private redis-server of this
//! test's own: calls fail within the timeout (never hang, never "no
//! session"), and the same store works again once the server is back.

mod support;

use std::time::{Duration, Instant};

use narvik_core::{Error, Narvik, NewSession, TimedOut, Token};
use narvik_redis::RedisStore;
use support::{Raw, Server, Target, free_port, runtime};

const TIMEOUT: Duration = Duration::from_millis(300);
/// Slack for a loaded 2-core machine; far below any "hang".
const MAX_WAIT: Duration = Duration::from_millis(1500);

/// Runs `call`, asserting it is a store error that came back in time,
/// and returns the error.
async fn fails_in_time<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, Error>>,
) -> Error {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(
        took < MAX_WAIT,
        "{what} took {took:?} with redis down (timeout {TIMEOUT:?})"
    );
    match result {
        Err(err @ Error::Store { .. }) => err,
        other => panic!("{what} with redis down must be Error::Store, got {other:?}"),
    }
}

/// Every kind of call, on `created`'s session and user, each asserted to
/// fail in time; their errors (each names its call in its context).
async fn every_call_fails_in_time(
    narvik: &Narvik<RedisStore<()>>,
    created: &NewSession,
) -> Vec<Error> {
    let token = created.token.as_str();
    let id = &created.session.id;
    vec![
        fails_in_time("validate", narvik.validate_session(token)).await,
        fails_in_time("create", narvik.create_session("user", ())).await,
        fails_in_time("invalidate", narvik.invalidate_session(id)).await,
        fails_in_time("list", narvik.fetch_sessions_for_user("user")).await,
        fails_in_time("delete for user", narvik.delete_sessions_for_user("user")).await,
        fails_in_time("purge", narvik.delete_all_expired_sessions()).await,
    ]
}

/// A store on `server` with the test's timeout.
async fn connect(server: &Server) -> RedisStore<()> {
    RedisStore::builder()
        .key_prefix("narvik-failures")
        .timeout(TIMEOUT)
        .connect(&server.url())
        .await
        .expect("connect to the private server")
}

/// Waits (10 s at most) until `token`'s session validates again.
async fn readable_again(narvik: &Narvik<RedisStore<()>>, token: &Token, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(narvik.validate_session(token.as_str()).await, Ok(Some(_))) {
        assert!(
            Instant::now() < deadline,
            "{what} was not readable within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn calls_fail_fast_while_redis_is_down_and_recover_when_it_is_back() {
    runtime().block_on(async {
        let port = free_port(false);
        let server = Server::start(port);
        let narvik = Narvik::new(connect(&server).await);
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
            every_call_fails_in_time(&narvik, &created).await;
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

/// Asserts that `err` is a timeout: an `Error::Store` whose source is a
/// `TimedOut` naming the store's bound.
fn assert_timed_out(err: &Error) {
    assert!(err.is_timeout(), "{err:?} is not a timeout");
    let Error::Store { source, .. } = err else {
        unreachable!("fails_in_time returns store errors only");
    };
    let timed_out = source
        .downcast_ref::<TimedOut>()
        .unwrap_or_else(|| panic!("the source of {err:?} is not a TimedOut"));
    assert_eq!(timed_out.after(), TIMEOUT, "{err:?}");
    assert_eq!(timed_out.backend(), "Redis", "{err:?}");
}

/// A hung server (SIGSTOP: connections stay open, nothing answers): every
/// call runs out of time and says so ([`Error::is_timeout`]), as the SQL
/// stores' calls do, and the store works again once the server resumes.
#[test]
fn a_hung_server_is_a_timeout_of_the_stores_bound() {
    runtime().block_on(async {
        let server = Server::start(free_port(false));
        let narvik = Narvik::new(connect(&server).await);
        let created = narvik.create_session("user", ()).await.expect("create");

        server.pause();
        for err in every_call_fails_in_time(&narvik, &created).await {
            assert_timed_out(&err);
        }
        server.resume();
        readable_again(
            &narvik,
            &created.token,
            "the session, once the server resumed",
        )
        .await;
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

/// A cluster master hangs, then crashes and comes back (the same node,
/// empty): reads of its keys fail in time, never "no session"; the other
/// masters' keys stay readable; then the store, direct read path
/// included, recovers.
#[test]
fn cluster_master_crash_fails_its_reads_in_time_and_recovers() {
    let mut cluster = support::Cluster::start();
    runtime().block_on(async {
        let store: RedisStore<()> = RedisStore::builder()
            .key_prefix("narvik-failures")
            .timeout(TIMEOUT)
            .connect_cluster(cluster.urls())
            .await
            .expect("connect to the private cluster");
        let narvik = Narvik::new(store.clone());
        let victim_url = cluster.nodes[0].url();
        let on_victim = |key: String| {
            let url = victim_url.clone();
            async move {
                let mut raw = Raw::connect(&Target::Single(url)).await;
                let slot: u16 = raw
                    .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key))
                    .await;
                let count: u64 = raw
                    .query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
                    .await;
                count > 0
            }
        };
        // A session on the master that will crash, and one elsewhere.
        let (mut lost, mut kept) = (None, None);
        while lost.is_none() || kept.is_none() {
            let created = narvik.create_session("user", ()).await.expect("create");
            if on_victim(store.session_key(&created.session.id)).await {
                lost.get_or_insert(created);
            } else {
                kept.get_or_insert(created);
            }
        }
        let (lost, kept) = (lost.expect("lost"), kept.expect("kept"));

        // Hung (SIGSTOP): the direct read waits for an answer that never
        // comes; the call's one timeout ends it with an error.
        cluster.nodes[0].pause();
        for _ in 0..2 {
            fails_in_time("validate", narvik.validate_session(lost.token.as_str())).await;
            let valid = narvik
                .validate_session(kept.token.as_str())
                .await
                .expect("a live master's session while another hangs");
            assert!(valid.is_some());
        }
        cluster.nodes[0].resume();
        readable_again(&narvik, &lost.token, "the session on the resumed master").await;

        cluster.nodes[0].crash();
        // Well inside the cluster's node timeout (5 s): the others still
        // serve their slots.
        for _ in 0..3 {
            fails_in_time("validate", narvik.validate_session(lost.token.as_str())).await;
            let valid = narvik
                .validate_session(kept.token.as_str())
                .await
                .expect("a live master's session while another is down");
            assert!(valid.is_some());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        cluster.nodes[0].restart();
        // Back, empty: the lost session is really gone now.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match narvik.validate_session(lost.token.as_str()).await {
                Ok(valid) => {
                    assert!(valid.is_none(), "the restarted master kept nothing");
                    break;
                }
                Err(Error::Store { .. }) => {}
                Err(e) => panic!("validate while the master restarts: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "the store did not recover within 15 s of the master coming back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // New sessions on the restarted master validate, and the direct
        // path serves them again: fallbacks stop.
        let fresh = loop {
            let created = narvik.create_session("user", ()).await.expect("create");
            if on_victim(store.session_key(&created.session.id)).await {
                break created;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (before, _) = store.direct_read_counts().expect("a cluster store");
            for token in [&fresh.token, &kept.token, &fresh.token] {
                let valid = narvik
                    .validate_session(token.as_str())
                    .await
                    .expect("validate");
                assert!(valid.is_some());
            }
            if store.direct_read_counts().expect("a cluster store").0 == before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "reads still fall back 5 s after recovery: {:?}",
                store.direct_read_counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    drop(cluster);
}

//! Redis Sentinel: a primary, a replica and three sentinels of this test's
//! own, on free loopback ports, each in a temporary directory that goes
//! with its process (killed with the test binary however it ends; see
//! `support::Server`). The primary is killed (SIGKILL) under a load of
//! validations; the store must follow the replica the sentinels promote,
//! within a bounded time, and every call meanwhile must be an error or a
//! correct answer: never "no session" for a live one.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narvik_core::{Error, Narvik, NewSession};
use narvik_redis::{RedisStore, RedisStoreBuilder};
use support::{Server, free_port, redis_cli, runtime, unique_prefix, wait_for};

const SERVICE: &str = "narvik-test";
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long creation waits for the replica's acknowledgement.
const WAIT: Duration = Duration::from_secs(1);
/// From the kill to the first validation answered by the new master: the
/// sentinels' 400 ms down-after, their election and the promotion, then
/// the store's next attempt. Generous for a loaded 2-core machine.
const FOLLOW_WITHIN: Duration = Duration::from_secs(30);
const SESSIONS: usize = 100;
const TASKS: usize = 8;

/// Distinct free loopback ports.
fn ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let port = free_port(false);
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// A primary, its replica, and three sentinels watching them with a
/// quorum of two. Dropping it kills every process and removes their
/// directories.
struct Deployment {
    primary: Option<Server>,
    replica: Server,
    sentinels: Vec<Server>,
}

impl Deployment {
    fn start() -> Self {
        let ports = ports(5);
        let primary = Server::start(ports[0]);
        let replica = Server::replica_of(ports[1], ports[0]);
        let config = format!(
            "sentinel monitor {SERVICE} 127.0.0.1 {} 2\n\
             sentinel down-after-milliseconds {SERVICE} 400\n\
             sentinel failover-timeout {SERVICE} 2000\n\
             sentinel parallel-syncs {SERVICE} 1\n",
            ports[0]
        );
        let sentinels: Vec<Server> = ports[2..]
            .iter()
            .map(|&port| Server::sentinel(port, &config))
            .collect();
        let deployment = Self {
            primary: Some(primary),
            replica,
            sentinels,
        };
        // A failover needs each sentinel to know the replica (from the
        // primary's INFO) and the other two (from their hello messages).
        for sentinel in &deployment.sentinels {
            wait_for(
                Duration::from_secs(30),
                "the sentinels to see each other and the replica",
                || {
                    let master = redis_cli(sentinel.port, &["SENTINEL", "MASTER", SERVICE]);
                    let fields: Vec<&str> = master.lines().collect();
                    let field = |name: &str| {
                        fields
                            .iter()
                            .position(|&f| f == name)
                            .and_then(|i| fields.get(i + 1).copied())
                    };
                    field("num-slaves") == Some("1") && field("num-other-sentinels") == Some("2")
                },
            );
        }
        deployment
    }

    fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Server::url).collect()
    }

    /// A store on the service's master, through the sentinels, under a
    /// prefix of its own.
    async fn store(&self, builder: RedisStoreBuilder, label: &str) -> RedisStore<()> {
        builder
            .key_prefix(unique_prefix(label))
            .timeout(TIMEOUT)
            .connect_sentinel(self.sentinel_urls(), SERVICE)
            .await
            .expect("connect through the sentinels")
    }

    /// The port of the master the first sentinel names.
    fn named_master_port(&self) -> Option<u16> {
        let reply = redis_cli(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE],
        );
        reply.lines().nth(1)?.trim().parse().ok()
    }
}

/// What the validations saw.
#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    errors: AtomicU64,
    /// `Ok(None)` for a live session: must stay 0.
    signed_out: AtomicU64,
    /// Another session's answer: must stay 0.
    wrong: AtomicU64,
    /// Answered correctly, in calls that started after the kill.
    answered_after_kill: AtomicU64,
}

/// Validates `sessions` in turn until `stop`, tallying the answers; a
/// call that started after `killed_at` (once set) and answered counts as
/// answered after the kill.
async fn validate_until(
    narvik: Arc<Narvik<RedisStore<()>>>,
    sessions: Arc<Vec<NewSession<()>>>,
    first: usize,
    stop: Arc<AtomicBool>,
    killed_at: Arc<std::sync::OnceLock<Instant>>,
    tally: Arc<Tally>,
) {
    let mut i = first;
    while !stop.load(Ordering::SeqCst) {
        let session = &sessions[i % sessions.len()];
        i += 1;
        let started = Instant::now();
        match narvik.validate_session(session.token.as_str()).await {
            Ok(Some(valid)) if valid.session.id == session.session.id => {
                tally.answered.fetch_add(1, Ordering::SeqCst);
                if killed_at.get().is_some_and(|&at| started > at) {
                    tally.answered_after_kill.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(Some(_)) => {
                tally.wrong.fetch_add(1, Ordering::SeqCst);
            }
            Ok(None) => {
                tally.signed_out.fetch_add(1, Ordering::SeqCst);
            }
            Err(Error::Store { .. }) => {
                tally.errors.fetch_add(1, Ordering::SeqCst);
                // A failing store answers at once; do not spin on it.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("validation failed with a non-store error: {e:?}"),
        }
    }
}

#[test]
fn the_store_follows_a_failover_and_never_signs_a_live_session_out() {
    let mut deployment = Deployment::start();
    let old_master = deployment.primary.as_ref().map(|p| p.port);
    assert_eq!(deployment.named_master_port(), old_master);
    runtime().block_on(async {
        let builder = RedisStore::builder().wait_for_replicas(1, WAIT);
        let store = deployment.store(builder, "sentinel").await;
        let narvik = Arc::new(Narvik::new(store));
        let mut sessions = Vec::new();
        for n in 0..SESSIONS {
            sessions.push(
                narvik
                    .create_session(format!("user-{}", n % 10), ())
                    .await
                    .expect("create, acknowledged by the replica"),
            );
        }
        let sessions = Arc::new(sessions);

        let stop = Arc::new(AtomicBool::new(false));
        let killed_at = Arc::new(std::sync::OnceLock::new());
        let tally = Arc::new(Tally::default());
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                tokio::spawn(validate_until(
                    Arc::clone(&narvik),
                    Arc::clone(&sessions),
                    t * SESSIONS / TASKS,
                    Arc::clone(&stop),
                    Arc::clone(&killed_at),
                    Arc::clone(&tally),
                ))
            })
            .collect();

        tokio::time::sleep(Duration::from_millis(300)).await;
        let before_kill = tally.answered.load(Ordering::SeqCst);
        if let Some(primary) = deployment.primary.take() {
            primary.kill();
        }
        let kill = Instant::now();
        killed_at.set(kill).expect("set once");

        // Until the store answers from the new master.
        while tally.answered_after_kill.load(Ordering::SeqCst) == 0 {
            assert!(
                kill.elapsed() < FOLLOW_WITHIN,
                "the store did not follow the failover within {FOLLOW_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let followed_after = kill.elapsed();
        // And keeps answering from it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.expect("validation task panicked");
        }

        let answered = tally.answered.load(Ordering::SeqCst);
        let errors = tally.errors.load(Ordering::SeqCst);
        let signed_out = tally.signed_out.load(Ordering::SeqCst);
        eprintln!(
            "sentinel failover: followed the new master {followed_after:?} after the kill; \
             {answered} validations answered ({before_kill} before the kill, {} after), \
             {errors} errors, {signed_out} live sessions answered \"no session\"",
            tally.answered_after_kill.load(Ordering::SeqCst)
        );
        assert_eq!(signed_out, 0, "live sessions were answered \"no session\"");
        assert_eq!(
            tally.wrong.load(Ordering::SeqCst),
            0,
            "another session answered"
        );
        assert!(before_kill > 0, "no validation answered before the kill");
        assert_eq!(
            deployment.named_master_port(),
            Some(deployment.replica.port),
            "the sentinels did not promote the replica"
        );

        // Every session created with the replica's acknowledgement survived.
        for session in sessions.iter() {
            let valid = narvik
                .validate_session(session.token.as_str())
                .await
                .expect("validate on the new master");
            assert!(
                valid.is_some(),
                "a session acknowledged by the replica was lost"
            );
        }
        // Writes reach the new master, and an invalidation holds there.
        let first = &sessions[0];
        narvik
            .invalidate_session(&first.session.id)
            .await
            .expect("invalidate on the new master");
        assert!(
            narvik
                .validate_session(first.token.as_str())
                .await
                .expect("validate")
                .is_none()
        );
        // The new master has no replica: creation that waits for one
        // fails, within the store's timeout plus the wait, and leaves
        // nothing behind for the user.
        let started = Instant::now();
        let refused = narvik.create_session("user-lonely", ()).await;
        assert!(
            matches!(refused, Err(Error::Store { .. })),
            "creation with no replica to acknowledge it must fail, got {refused:?}"
        );
        assert!(started.elapsed() < TIMEOUT + WAIT + Duration::from_secs(2));
        assert!(
            narvik
                .fetch_sessions_for_user("user-lonely")
                .await
                .expect("list")
                .is_empty(),
            "the unacknowledged session was left behind"
        );
    });
    drop(deployment);
}

#[test]
fn a_store_without_waiting_creates_and_validates_through_the_sentinels() {
    let deployment = Deployment::start();
    runtime().block_on(async {
        let store = deployment
            .store(RedisStore::builder(), "sentinel-plain")
            .await;
        let narvik = Narvik::new(store);
        let created = narvik.create_session("ada", ()).await.expect("create");
        assert!(
            narvik
                .validate_session(created.token.as_str())
                .await
                .expect("validate")
                .is_some()
        );
        // An unknown token is "no session", confirmed by the master.
        let unknown = narvik_core::Token::generate().expect("os rng");
        assert!(
            narvik
                .validate_session(unknown.as_str())
                .await
                .expect("validate")
                .is_none()
        );
        narvik
            .delete_sessions_for_user("ada")
            .await
            .expect("delete for user");
        assert_eq!(
            narvik.delete_all_expired_sessions().await.expect("purge"),
            0
        );
    });
}

/// A master demoted by hand (`REPLICAOF`, no sentinel involved, so its
/// clients stay connected) that then lacks a session, as a replica that
/// has not received a write would: validating that session must be an
/// error, never "no session", and stays one while the sentinels still
/// name the demoted server.
#[test]
fn a_master_demoted_under_the_store_never_answers_no_session() {
    let deployment = Deployment::start();
    let master = deployment.primary.as_ref().map_or(0, |p| p.port);
    let empty = Server::start(free_port(false));
    runtime().block_on(async {
        let store = deployment
            .store(RedisStore::builder(), "sentinel-demoted")
            .await;
        let narvik = Narvik::new(store);
        let created = narvik.create_session("ada", ()).await.expect("create");
        let key = narvik.store().session_key(&created.session.id);
        assert!(
            narvik
                .validate_session(created.token.as_str())
                .await
                .expect("validate")
                .is_some()
        );

        let empty_port = empty.port.to_string();
        redis_cli(master, &["REPLICAOF", "127.0.0.1", &empty_port]);
        wait_for(Duration::from_secs(20), "the demoted master's sync", || {
            redis_cli(master, &["INFO", "replication"]).contains("master_link_status:up")
        });
        assert_eq!(
            redis_cli(master, &["GET", &key]).trim(),
            "",
            "the session is still there"
        );

        for _ in 0..20 {
            let answer = narvik.validate_session(created.token.as_str()).await;
            assert!(
                matches!(answer, Err(Error::Store { .. })),
                "a read from a server that is no longer the master must be an error, got {answer:?}"
            );
        }
    });
}

#[test]
fn a_service_the_sentinels_do_not_know_is_an_error() {
    let port = free_port(false);
    let _sentinel = Server::sentinel(port, "");
    let result = runtime().block_on(
        RedisStore::builder()
            .timeout(TIMEOUT)
            .connect_sentinel::<(), _>([format!("redis://127.0.0.1:{port}")], SERVICE),
    );
    assert!(matches!(result, Err(Error::Store { .. })), "got {result:?}");
}

#[test]
fn waiting_for_replicas_is_refused_in_a_cluster() {
    let result = runtime().block_on(
        RedisStore::builder()
            .wait_for_replicas(1, WAIT)
            .connect_cluster::<(), _>(["redis://127.0.0.1:1"]),
    );
    assert!(matches!(result, Err(Error::Store { .. })), "got {result:?}");
}

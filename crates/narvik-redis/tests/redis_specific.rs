//! What is specific to the Redis store, on one server and on the cluster:
//! key expiries, the per-user index under concurrent writers, undecodable
//! values, stale index entries.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp, Token};
use narvik_testkit::TestData;
use support::{Raw, Target, runtime, test_store};

const HOUR: Duration = Duration::from_secs(3600);

fn session(user: &str, expires_at: Timestamp) -> Session<TestData> {
    Session::new(
        Token::generate().expect("os rng").session_id(),
        user,
        Timestamp::now(),
        expires_at,
        TestData::default(),
    )
}

fn pexpiretime(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("PEXPIRETIME");
    cmd.arg(key);
    cmd
}

async fn session_key_expires_at_expires_at_and_index_follows(target: Target) {
    let store = test_store(target.clone(), "ttl").await;
    let mut raw = Raw::connect(&target).await;
    let s = session("ttl-user", Timestamp::now() + HOUR);
    let later = session("ttl-user", Timestamp::now() + 2 * HOUR);
    store.save_session(&s).await.expect("save");
    store.save_session(&later).await.expect("save");
    let skey = store.inner().session_key(&s.id);
    let ukey = store.inner().user_index_key("ttl-user");
    assert!(
        skey.starts_with(store.inner().key_prefix())
            && ukey.starts_with(store.inner().key_prefix())
    );
    let at: i64 = raw.query(&pexpiretime(&skey)).await;
    assert_eq!(
        at,
        s.expires_at.as_unix_millis(),
        "PEXPIREAT is the session's expires_at"
    );
    let fetched = store
        .fetch_session(&s.id)
        .await
        .expect("fetch")
        .expect("saved session exists");
    assert_eq!(
        fetched.expires_at, s.expires_at,
        "value and key expiry differ"
    );
    let index_at: i64 = raw.query(&pexpiretime(&ukey)).await;
    assert_eq!(
        index_at,
        later.expires_at.as_unix_millis(),
        "the index expires with its latest session"
    );

    // Extension moves the key's expiry, the index score and the index's expiry.
    let extended = Timestamp::now() + 3 * HOUR;
    store
        .update_session(&s.id, narvik_core::SessionUpdate::expiry(extended))
        .await
        .expect("update");
    let at: i64 = raw.query(&pexpiretime(&skey)).await;
    assert_eq!(at, extended.as_unix_millis());
    // The value's copy of the expiry (what a fetch reads) moved with it.
    let fetched = store
        .fetch_session(&s.id)
        .await
        .expect("fetch")
        .expect("extended session exists");
    assert_eq!(fetched.expires_at, extended, "value and key expiry differ");
    let ttl_left: i64 = raw.query(redis::cmd("PTTL").arg(&skey)).await;
    assert!(ttl_left > 0, "the extension dropped the key's expiry");
    let score: f64 = raw
        .query(redis::cmd("ZSCORE").arg(&ukey).arg(s.id.to_string()))
        .await;
    assert_eq!(score as i64, extended.as_unix_millis());
    let index_at: i64 = raw.query(&pexpiretime(&ukey)).await;
    assert_eq!(index_at, extended.as_unix_millis());

    // Deleted, then "extended": nothing comes back, key or index entry.
    store.delete_session(&s.id).await.expect("delete");
    store
        .update_session(&s.id, narvik_core::SessionUpdate::expiry(extended + HOUR))
        .await
        .expect("update of a gone session");
    let exists: i64 = raw.query(redis::cmd("EXISTS").arg(&skey)).await;
    assert_eq!(exists, 0, "update re-created a deleted session");
    let score: Option<f64> = raw
        .query(redis::cmd("ZSCORE").arg(&ukey).arg(s.id.to_string()))
        .await;
    assert_eq!(
        score, None,
        "update re-added a deleted session to the index"
    );
}

async fn undecodable_value_is_a_data_error_naming_the_session(target: Target) {
    let store = test_store(target.clone(), "bad").await;
    let mut raw = Raw::connect(&target).await;
    let at = (Timestamp::now() + HOUR).as_unix_millis();
    // No expiry head at all; and a well-formed head before JSON that is
    // not a session.
    for value in ["{not json".to_owned(), format!("{at:015} {{not json")] {
        let id = Token::generate().expect("os rng").session_id();
        let mut set_raw = redis::cmd("SET");
        set_raw
            .arg(store.inner().session_key(&id))
            .arg(&value)
            .arg("PXAT")
            .arg(at);
        let _: () = raw.query(&set_raw).await;
        match store.fetch_session(&id).await {
            Err(Error::Data { id: bad, .. }) => assert_eq!(bad, id),
            other => panic!("{value:?} must be Error::Data naming the id, got {other:?}"),
        }
        let err = store
            .fetch_session(&id)
            .await
            .expect_err("still undecodable");
        assert!(
            err.to_string().contains(&id.to_string()),
            "message must name the id: {err}"
        );
        // With no owner to read, deleting and purging still remove the key
        // (there is no index to name), and the purge counts it.
        store.delete_session(&id).await.expect("delete");
        let left: i64 = raw
            .query(redis::cmd("EXISTS").arg(store.inner().session_key(&id)))
            .await;
        assert_eq!(left, 0, "{value:?}: delete left the key");
        let _: () = raw.query(&set_raw).await;
        let purged = store
            .delete_all_expired_sessions(Timestamp::from_unix_millis(at))
            .await
            .expect("purge");
        assert_eq!(purged, 1, "{value:?}: the purge must delete and count it");
        let left: i64 = raw
            .query(redis::cmd("EXISTS").arg(store.inner().session_key(&id)))
            .await;
        assert_eq!(left, 0, "{value:?}: the purge left the key");
    }
}

/// Validations that arrive together share pipelines of `GET`s, and each
/// still gets exactly its own answer: its session, none, or its own error
/// (a key of another type, an undecodable value) without failing the
/// others in its batch.
async fn concurrent_fetches_share_pipelines_and_each_gets_its_own_answer(target: Target) {
    let store = test_store(target.clone(), "batch").await;
    let mut raw = Raw::connect(&target).await;
    let mut saved = Vec::new();
    for i in 0..40 {
        let s = session(&format!("batch-user-{i}"), Timestamp::now() + HOUR);
        store.save_session(&s).await.expect("save");
        saved.push(s);
    }
    let unknown: Vec<SessionId> = (0..20)
        .map(|_| Token::generate().expect("os rng").session_id())
        .collect();
    let wrong_type = Token::generate().expect("os rng").session_id();
    let _: () = raw
        .query(
            redis::cmd("RPUSH")
                .arg(store.inner().session_key(&wrong_type))
                .arg("x"),
        )
        .await;
    let undecodable = Token::generate().expect("os rng").session_id();
    let _: () = raw
        .query(
            redis::cmd("SET")
                .arg(store.inner().session_key(&undecodable))
                .arg("{not json")
                .arg("PX")
                .arg(60_000),
        )
        .await;

    let (batches_before, served_before) = store.inner().read_batch_counts();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    // Every id three times over, in an interleaved order.
    for round in 0..3 {
        let ids = saved
            .iter()
            .map(|s| s.id)
            .chain(unknown.iter().copied())
            .chain([wrong_type, undecodable]);
        for id in ids.skip(round) {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(
                async move { (id, store.fetch_session(&id).await) },
            ));
        }
    }
    let lookups = tasks.len() as u64;
    for task in tasks {
        let (id, found) = task.await.expect("task");
        if let Some(s) = saved.iter().find(|s| s.id == id) {
            let found = found.expect("a saved session").expect("found");
            assert_eq!((found.id, &found.user_id), (id, &s.user_id));
        } else if id == wrong_type {
            assert!(
                matches!(found, Err(Error::Store { .. })),
                "a list under a session key is a store error, got {found:?}"
            );
        } else if id == undecodable {
            assert!(
                matches!(found, Err(Error::Data { id: bad, .. }) if bad == id),
                "got {found:?}"
            );
        } else {
            assert!(matches!(found, Ok(None)), "an unknown id gave {found:?}");
        }
    }
    let (batches, served) = store.inner().read_batch_counts();
    let (batches, served) = (batches - batches_before, served - served_before);
    assert_eq!(served, lookups, "every fetch went through a batch");
    assert!(
        batches < lookups,
        "{lookups} concurrent fetches took {batches} pipelines"
    );
}

async fn purge_removes_stale_index_entries_and_counts_only_sessions(target: Target) {
    let store = test_store(target.clone(), "stale").await;
    let mut raw = Raw::connect(&target).await;
    let live = session("stale-user", Timestamp::now() + HOUR);
    store.save_session(&live).await.expect("save");
    let ukey = store.inner().user_index_key("stale-user");
    // An entry that expired a minute ago and whose key is long gone: what
    // a write-free index would keep forever without the purge.
    let stale = Token::generate().expect("os rng").session_id().to_string();
    let past = (Timestamp::now() - Duration::from_secs(60)).as_unix_millis();
    let _: i64 = raw
        .query(redis::cmd("ZADD").arg(&ukey).arg(past).arg(&stale))
        .await;
    let removed = store
        .delete_all_expired_sessions(Timestamp::now())
        .await
        .expect("purge");
    assert_eq!(removed, 0, "no session was expired");
    let members: Vec<String> = raw
        .query(redis::cmd("ZRANGE").arg(&ukey).arg(0).arg(-1))
        .await;
    assert_eq!(
        members,
        vec![live.id.to_string()],
        "the stale entry survived the purge"
    );
}

/// Writers keep creating sessions for one user while "sign out
/// everywhere" (or "everywhere else") runs. Every session saved before the
/// call must be gone after it; afterwards the index must list exactly the
/// sessions that exist (none lost, none revoked kept).
async fn per_user_delete_misses_nothing_under_concurrent_writers(target: Target, others: bool) {
    const WRITERS: usize = 8;
    const SAVES_EACH: usize = 60;
    let store = Arc::new(test_store(target.clone(), "conc").await);
    let user = format!("conc-{}", &Token::generate().expect("os rng").as_str()[..8]);
    let keep = session(&user, Timestamp::now() + HOUR);
    store.save_session(&keep).await.expect("save keep");
    let saved: Arc<Mutex<Vec<SessionId>>> = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, saved, user) = (store.clone(), saved.clone(), user.clone());
            tokio::spawn(async move {
                for _ in 0..SAVES_EACH {
                    let s = session(&user, Timestamp::now() + HOUR);
                    store.save_session(&s).await.expect("save");
                    saved.lock().expect("lock").push(s.id);
                }
            })
        })
        .collect();
    // Deletes interleaved with the writers; what was saved before each is
    // checked once the writers are done (ids are never reused, so a
    // session gone then is still gone).
    let mut saved_before_a_delete: Vec<SessionId> = Vec::new();
    let mut rounds = 0;
    while !writers.iter().all(tokio::task::JoinHandle::is_finished) {
        tokio::time::sleep(Duration::from_millis(15)).await;
        saved_before_a_delete.extend(saved.lock().expect("lock").iter().copied());
        if others {
            store
                .delete_other_sessions_for_user(&user, &keep.id)
                .await
                .expect("delete others");
        } else {
            store
                .delete_sessions_for_user(&user)
                .await
                .expect("delete for user");
        }
        rounds += 1;
    }
    for w in writers {
        w.await.expect("writer panicked");
    }
    assert!(
        rounds >= 2,
        "the deletes did not overlap the writers ({rounds} rounds)"
    );
    let all: Vec<SessionId> = saved.lock().expect("lock").clone();
    assert_eq!(all.len(), WRITERS * SAVES_EACH);
    let before: HashSet<SessionId> = saved_before_a_delete.into_iter().collect();
    let mut existing: HashSet<SessionId> = HashSet::new();
    for id in all.iter().chain([&keep.id]) {
        if store.fetch_session(id).await.expect("fetch").is_some() {
            assert!(
                !before.contains(id),
                "a session saved before a delete survived it"
            );
            existing.insert(*id);
        }
    }
    assert_eq!(
        existing.contains(&keep.id),
        others,
        "keep must survive exactly delete-others"
    );
    let listed: HashSet<SessionId> = store
        .fetch_sessions_for_user(&user)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, existing, "the index lost a live session");
    let mut raw = Raw::connect(&target).await;
    let entries: usize = raw
        .query(redis::cmd("ZCARD").arg(store.inner().user_index_key(&user)))
        .await;
    assert_eq!(
        entries,
        existing.len(),
        "the index keeps entries of deleted sessions"
    );
    store
        .delete_sessions_for_user(&user)
        .await
        .expect("final delete");
    assert!(
        store
            .fetch_sessions_for_user(&user)
            .await
            .expect("list")
            .is_empty()
    );
}

/// On one server every change is one script over the session key and its
/// index entry, so no one ever sees it half done. Writers save,
/// extend, rotate, delete and "sign out everywhere else" for one user, and a
/// purge (with a `now` past every expiry) runs among them; meanwhile
/// atomic snapshots of the index and the session keys must always agree
/// (every key has its entry, every entry its key, every score at least its
/// key's expiry), and so must one taken after the writers are done.
async fn every_change_moves_key_and_index_together(target: Target) {
    const WRITERS: usize = 6;
    const ROUNDS: usize = 40;
    let store = Arc::new(test_store(target.clone(), "atomic").await);
    let user = "atomic-user";
    let index_key = store.inner().user_index_key(user);
    let key_pattern = format!("{}:s:*", store.inner().key_prefix());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let s = session(user, Timestamp::now() + HOUR);
                    store.save_session(&s).await.expect("save");
                    store
                        .update_session(
                            &s.id,
                            narvik_core::SessionUpdate::expiry(Timestamp::now() + 2 * HOUR),
                        )
                        .await
                        .expect("extend");
                    match (w + round) % 8 {
                        0 => store
                            .delete_other_sessions_for_user(user, &s.id)
                            .await
                            .expect("delete others"),
                        1 => {
                            store
                                .delete_all_expired_sessions(Timestamp::now() + 3 * HOUR)
                                .await
                                .expect("purge");
                        }
                        2..=4 => store.delete_session(&s.id).await.expect("delete"),
                        5 => {
                            // A rotation's marker: its key's expiry and its
                            // score move down together, to the marker's end.
                            let mut marker = narvik_core::SessionUpdate::default();
                            marker.expires_at = Some(Timestamp::now());
                            marker.rotated_at = marker.expires_at;
                            marker.last_active_at = marker.expires_at;
                            store.update_session(&s.id, marker).await.expect("mark");
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    let mut raw = Raw::connect(&target).await;
    let mut snapshots = 0;
    let mut seen_sessions = 0;
    loop {
        let finished = writers.iter().all(tokio::task::JoinHandle::is_finished);
        seen_sessions += check_snapshot(&mut raw, &index_key, &key_pattern, snapshots).await;
        snapshots += 1;
        // One more after the writers are done: the state they leave.
        if finished {
            break;
        }
    }
    for w in writers {
        w.await.expect("writer panicked");
    }
    assert!(
        snapshots >= 20 && seen_sessions > 0,
        "the snapshots did not overlap the writers ({snapshots} snapshots, \
         {seen_sessions} sessions seen)"
    );
}

/// One atomic snapshot (a script reads the index with its scores, the
/// session keys under the prefix and their expiries), checked: the same
/// sessions in both, each score at least its key's expiry. Returns how
/// many sessions it saw. A test-only script may read keys it was not given
/// (`KEYS`): on one server Redis allows it.
async fn check_snapshot(raw: &mut Raw, index_key: &str, key_pattern: &str, n: usize) -> usize {
    const SNAPSHOT: &str = r"
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local keys = redis.call('KEYS', ARGV[1])
local expiries = {}
for i, key in ipairs(keys) do
  expiries[i] = redis.call('PEXPIRETIME', key)
end
return {entries, keys, expiries}
";
    let (entries, keys, expiries): (Vec<(String, i64)>, Vec<String>, Vec<i64>) = raw
        .query(
            redis::cmd("EVAL")
                .arg(SNAPSHOT)
                .arg(1)
                .arg(index_key)
                .arg(key_pattern),
        )
        .await;
    let indexed: HashMap<String, i64> = entries.into_iter().collect();
    let stored: HashMap<String, i64> = keys
        .iter()
        .filter_map(|k| k.rsplit(':').next().map(str::to_owned))
        .zip(expiries)
        .collect();
    assert_eq!(
        indexed.keys().collect::<HashSet<_>>(),
        stored.keys().collect::<HashSet<_>>(),
        "snapshot {n}: the index and the session keys disagree"
    );
    for (id, expiry) in &stored {
        assert!(
            indexed[id] >= *expiry,
            "snapshot {n}: session {id}'s index score {} is below its key's expiry {expiry}",
            indexed[id]
        );
    }
    stored.len()
}

async fn invalid_prefix_is_refused(target: Target) {
    for bad in ["", "a:b", "{tag}", "a*"] {
        let builder = narvik_redis::RedisStore::builder().key_prefix(bad);
        let result = match &target {
            Target::Single(url) => builder.connect::<()>(url).await,
            Target::Cluster(nodes) => builder.connect_cluster::<(), _>(nodes).await,
        };
        assert!(
            matches!(result, Err(Error::Store { .. })),
            "prefix {bad:?} was accepted"
        );
    }
}

macro_rules! against {
    ($target:expr) => {
        #[test]
        fn session_key_expires_at_expires_at_and_index_follows() {
            super::runtime().block_on(super::session_key_expires_at_expires_at_and_index_follows(
                $target,
            ));
        }
        #[test]
        fn undecodable_value_is_a_data_error_naming_the_session() {
            super::runtime().block_on(super::undecodable_value_is_a_data_error_naming_the_session(
                $target,
            ));
        }
        #[test]
        fn concurrent_fetches_share_pipelines_and_each_gets_its_own_answer() {
            super::runtime().block_on(
                super::concurrent_fetches_share_pipelines_and_each_gets_its_own_answer($target),
            );
        }
        #[test]
        fn purge_removes_stale_index_entries_and_counts_only_sessions() {
            super::runtime().block_on(
                super::purge_removes_stale_index_entries_and_counts_only_sessions($target),
            );
        }
        #[test]
        fn delete_for_user_misses_nothing_under_concurrent_writers() {
            super::runtime().block_on(
                super::per_user_delete_misses_nothing_under_concurrent_writers($target, false),
            );
        }
        #[test]
        fn delete_others_misses_nothing_under_concurrent_writers() {
            super::runtime().block_on(
                super::per_user_delete_misses_nothing_under_concurrent_writers($target, true),
            );
        }
        #[test]
        fn invalid_prefix_is_refused() {
            super::runtime().block_on(super::invalid_prefix_is_refused($target));
        }
    };
}

mod single_server {
    against!(super::Target::single());

    #[test]
    fn every_change_moves_key_and_index_together() {
        super::runtime().block_on(super::every_change_moves_key_and_index_together(
            super::Target::single(),
        ));
    }
}

mod cluster {
    against!(super::Target::cluster());

    /// `connect` (one server) to a cluster node fails at once, pointing to
    /// `connect_cluster`, instead of failing every write later
    /// (`CROSSSLOT`: two-key scripts are for one server).
    #[test]
    fn connect_to_a_cluster_node_points_to_connect_cluster() {
        super::runtime().block_on(async {
            let node = super::support::cluster().nodes[0].url();
            let result = narvik_redis::RedisStore::builder()
                .key_prefix(super::support::unique_prefix("one-server-on-cluster"))
                .connect::<()>(&node)
                .await;
            match result {
                Err(e @ super::Error::Store { .. }) => assert!(
                    format!("{e:?}").contains("connect_cluster"),
                    "the error must point to connect_cluster: {e:?}"
                ),
                other => panic!("connect to a cluster node must fail, got {other:?}"),
            }
        });
    }

    /// Sessions of one user spread over the masters: the store does not
    /// pile a user's keys into one slot.
    #[test]
    fn a_users_sessions_spread_over_the_masters() {
        super::runtime().block_on(async {
            let target = super::Target::cluster();
            let store = super::test_store(target, "spread").await;
            let mut keys = Vec::new();
            for _ in 0..30 {
                let s = super::session("spread-user", narvik_core::Timestamp::now() + super::HOUR);
                super::SessionStore::save_session(&store, &s)
                    .await
                    .expect("save");
                keys.push(store.inner().session_key(&s.id));
            }
            let mut per_node = Vec::new();
            for node in &super::support::cluster().nodes {
                let mut raw = super::Raw::connect(&super::Target::Single(node.url())).await;
                let mut n = 0;
                for key in &keys {
                    let slot: u16 = raw
                        .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
                        .await;
                    let count: i64 = raw
                        .query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
                        .await;
                    n += i64::from(count > 0);
                }
                per_node.push(n);
            }
            assert_eq!(
                per_node.iter().filter(|&&n| n > 0).count(),
                3,
                "sessions per master: {per_node:?}"
            );
        });
    }
}

/// A fetch (the validation's one `GET`, sent straight to the slot's
/// master) follows `ASK` while its slot migrates and `MOVED` once it has,
/// by falling back to the cluster client; the direct path's slot map is
/// then refreshed and serves the moved slot again. On a cluster of its
/// own, so the other cases never see the slot move.
#[test]
fn fetch_follows_ask_and_moved_while_the_slot_migrates() {
    let cluster = support::Cluster::start();
    runtime().block_on(async {
        let store: narvik_redis::RedisStore<TestData> = narvik_redis::RedisStore::builder()
            .key_prefix(support::unique_prefix("migrate"))
            .connect_cluster(cluster.urls())
            .await
            .expect("connect to the private cluster");
        let s = session("migrate-user", Timestamp::now() + HOUR);
        store.save_session(&s).await.expect("save");
        let key = store.session_key(&s.id);
        let fetched = || async {
            let found = store.fetch_session(&s.id).await.expect("fetch");
            assert_eq!(found.map(|f| f.user_id).as_deref(), Some("migrate-user"));
        };
        fetched().await;

        // Which master holds the key, and each node's id.
        let mut nodes = Vec::new();
        let mut slot = 0_u16;
        for node in &cluster.nodes {
            let mut raw = Raw::connect(&Target::Single(node.url())).await;
            let id: String = raw.query(redis::cmd("CLUSTER").arg("MYID")).await;
            slot = raw
                .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key))
                .await;
            let count: u64 = raw
                .query(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
                .await;
            nodes.push((raw, id, node.port, count > 0));
        }
        let from = nodes
            .iter()
            .position(|n| n.3)
            .expect("a master holds the key");
        let to = (from + 1) % nodes.len();
        let (from_id, to_id, to_port) = (nodes[from].1.clone(), nodes[to].1.clone(), nodes[to].2);
        let setslot = |state: &str, id: &str| {
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .clone()
        };

        // Mid-migration: the key is on the target, the source answers ASK.
        let () = nodes[to].0.query(&setslot("IMPORTING", &from_id)).await;
        let () = nodes[from].0.query(&setslot("MIGRATING", &to_id)).await;
        let () = nodes[from]
            .0
            .query(
                redis::cmd("MIGRATE")
                    .arg("127.0.0.1")
                    .arg(to_port)
                    .arg("")
                    .arg(0)
                    .arg(5000)
                    .arg("KEYS")
                    .arg(&key),
            )
            .await;
        fetched().await;

        // Migrated: every node says the target owns the slot; the source
        // answers MOVED to a client that still has the old map.
        for node in &mut nodes {
            let () = node.0.query(&setslot("NODE", &to_id)).await;
        }
        let (fallbacks, _) = store.direct_read_counts().expect("a cluster store");
        // Several at once, so that a batch meets the MOVED replies.
        futures_util::future::join_all((0..8).map(|_| fetched())).await;
        let (after_moved, refreshes) = store.direct_read_counts().expect("a cluster store");
        assert!(
            after_moved > fallbacks,
            "the MOVED fetch must have fallen back ({fallbacks} -> {after_moved})"
        );

        // The direct path's slot map is refreshed in the background; then
        // fetches of the moved key go direct again (no more fallbacks).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (before, now_refreshes) = store.direct_read_counts().expect("a cluster store");
            if now_refreshes > refreshes {
                for _ in 0..5 {
                    fetched().await;
                }
                if store.direct_read_counts().expect("a cluster store").0 == before {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the direct path did not serve the moved slot within 5 s: {:?}",
                store.direct_read_counts()
            );
            fetched().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    drop(cluster);
}

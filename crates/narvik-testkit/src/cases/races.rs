//! The race at scale behind
//! [`racing_validates_and_revocations_never_show_a_revoked_session`](super::user_purge::racing_validates_and_revocations_never_show_a_revoked_session):
//! 64 tasks, 10,240 operations on one shared set of sessions, and a
//! ledger of when each session's revocation returned.
//!
//! The rule checked is the one a user relies on when signing out: once
//! the call that revokes a session has returned, no validation that
//! starts afterwards finds it. Revocations are an invalidation, a
//! delete-for-user of its owner, or (for sessions expired from the start)
//! their expiry itself. A validation that started before the revocation
//! returned may still see the session: it overlapped the call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use narvik_core::{Clock, Error, ManualClock, Narvik, SessionId, Timestamp, Token};

use super::unique_user;
use crate::wrap::{INJECTED_FAILURE, Op, Wrapped, injected_failure};
use crate::{ConformanceStore, TestData};

/// Tasks running at once.
const TASKS: usize = 64;
/// Operations per task: 64 × 160 = 10,240 in all.
const OPS_PER_TASK: usize = 160;
/// Owners of the sessions; each delete-for-user revokes one owner's share.
const USERS: usize = 32;
/// Sessions at half-life: their first validation extends them.
const LIVE: usize = 512;
/// Sessions expired before the race starts: validation deletes them,
/// purges remove them, and none may ever validate.
const EXPIRED: usize = 64;

/// One in this many calls of each operation below gets an injected
/// error: after the store answered, so a write lands but its caller sees
/// a failure (a timeout after the commit), or a lookup fails.
const INJECT_EVERY: [(Op, usize); 3] = [
    (Op::FetchSession, 53),
    (Op::UpdateSession, 41),
    (Op::DeleteSession, 37),
];

/// Per mille of operations: purge, delete-for-user and invalidate; the
/// rest validate. A purge visits every session (a Redis one runs a script
/// per key), so about ten of them.
const PURGE: u64 = 1;
const DELETE_FOR_USER: u64 = 3;
const INVALIDATE: u64 = 32;

/// What is known of one session.
struct Entry {
    token: Token,
    id: SessionId,
    user: usize,
    /// When its revocation returned: nanoseconds since the ledger's start
    /// plus one; 0 while no revocation has returned.
    dead_since: AtomicU64,
    /// A revocation failed (maybe after it landed): it may be alive or
    /// not, so the final sweep leaves it out.
    uncertain: AtomicBool,
}

/// Every session, and what the tasks saw.
struct Ledger {
    start: Instant,
    users: Vec<String>,
    sessions: Vec<Entry>,
    violations: Mutex<Vec<String>>,
    violation_count: AtomicUsize,
    errors: Mutex<Vec<String>>,
    injected: AtomicUsize,
}

impl Ledger {
    /// Now, as the ledger stamps it (never 0).
    fn stamp(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn revoked(&self, index: usize, at: u64) {
        self.sessions[index].dead_since.fetch_min_nonzero(at);
    }

    fn violation(&self, what: String) {
        self.violation_count.fetch_add(1, Ordering::SeqCst);
        let mut list = self
            .violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if list.len() < 5 {
            list.push(what);
        }
    }

    /// Counts an injected error; records any other.
    fn error(&self, what: &str, error: &Error) {
        if is_injected(error) {
            self.injected.fetch_add(1, Ordering::SeqCst);
        } else {
            self.errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("{what}: {error:?}"));
        }
    }
}

trait FetchMinNonzero {
    fn fetch_min_nonzero(&self, value: u64);
}

impl FetchMinNonzero for AtomicU64 {
    /// Keeps the earliest stamp; 0 means none yet.
    fn fetch_min_nonzero(&self, value: u64) {
        let _ = self.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| {
            (old == 0 || value < old).then_some(value)
        });
    }
}

/// Whether `error` is (or wraps) one of [`injected_failure`]'s.
fn is_injected(error: &Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if e.to_string().contains(INJECTED_FAILURE) {
            return true;
        }
        source = e.source();
    }
    false
}

/// xorshift64*: each task's own reproducible choices, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

/// Installs the injected errors of [`INJECT_EVERY`], on while `on` is.
fn inject<S: ConformanceStore>(store: &Wrapped<S>, on: &Arc<AtomicBool>) {
    for (op, every) in INJECT_EVERY {
        let (on, count) = (Arc::clone(on), AtomicUsize::new(0));
        store.after(op, move |_, reply| {
            if on.load(Ordering::SeqCst)
                && count.fetch_add(1, Ordering::SeqCst) % every == every - 1
            {
                reply.set_error(injected_failure(op));
            }
        });
    }
}

type Manager<S> = Narvik<Arc<Wrapped<S>>>;

/// Creates the sessions: [`EXPIRED`] at the clock's start, [`LIVE`] 0.3 of
/// a session length later; then sets the clock one session length and a
/// millisecond after the start, so the first ones are expired and the
/// others have 0.3 of their length left, under the half that makes a
/// validation extend them.
async fn create_sessions<S: ConformanceStore>(
    narvik: &Arc<Manager<S>>,
    clock: &ManualClock,
    users: &[String],
) -> Vec<(Token, SessionId, usize)> {
    let start = clock.now();
    let length = narvik.config().session_length();
    let mut created = create_many(narvik, users, 0, EXPIRED).await;
    clock.set(start + length.mul_f64(0.3));
    created.extend(create_many(narvik, users, EXPIRED, LIVE).await);
    clock.set(start + length + Duration::from_millis(1));
    created
}

/// `count` sessions, numbered from `first`, owned round-robin by `users`,
/// created from [`TASKS`] tasks at once.
async fn create_many<S: ConformanceStore>(
    narvik: &Arc<Manager<S>>,
    users: &[String],
    first: usize,
    count: usize,
) -> Vec<(Token, SessionId, usize)> {
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let narvik = Arc::clone(narvik);
            let users = users.to_vec();
            tokio::spawn(async move {
                let mut made = Vec::new();
                for n in (first + task..first + count).step_by(TASKS) {
                    let user = n % USERS;
                    let new = narvik
                        .create_session(users[user].clone(), TestData::default())
                        .await
                        .unwrap_or_else(|e| panic!("create_session failed: {e:?}"));
                    made.push((n, new.token, new.session.id, user));
                }
                made
            })
        })
        .collect();
    let mut made = Vec::new();
    for task in tasks {
        made.extend(task.await.expect("create task panicked"));
    }
    made.sort_by_key(|(n, ..)| *n);
    made.into_iter()
        .map(|(_, token, id, user)| (token, id, user))
        .collect()
}

/// One task's share of the race.
async fn race_task<S: ConformanceStore>(narvik: Arc<Manager<S>>, ledger: Arc<Ledger>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for _ in 0..OPS_PER_TASK {
        let roll = rng.next() % 1000;
        if roll < PURGE {
            if let Err(e) = narvik.delete_all_expired_sessions().await {
                ledger.error("delete_all_expired_sessions", &e);
            }
        } else if roll < PURGE + DELETE_FOR_USER {
            let user = rng.below(USERS);
            match narvik.delete_sessions_for_user(&ledger.users[user]).await {
                Ok(()) => {
                    let at = ledger.stamp();
                    for (i, s) in ledger.sessions.iter().enumerate() {
                        if s.user == user {
                            ledger.revoked(i, at);
                        }
                    }
                }
                Err(e) => {
                    for s in ledger.sessions.iter().filter(|s| s.user == user) {
                        s.uncertain.store(true, Ordering::SeqCst);
                    }
                    ledger.error("delete_sessions_for_user", &e);
                }
            }
        } else if roll < PURGE + DELETE_FOR_USER + INVALIDATE {
            let i = rng.below(ledger.sessions.len());
            match narvik.invalidate_session(&ledger.sessions[i].id).await {
                Ok(()) => ledger.revoked(i, ledger.stamp()),
                Err(e) => {
                    ledger.sessions[i].uncertain.store(true, Ordering::SeqCst);
                    ledger.error("invalidate_session", &e);
                }
            }
        } else {
            let i = rng.below(ledger.sessions.len());
            let entry = &ledger.sessions[i];
            let started = ledger.stamp();
            match narvik.validate_session(entry.token.as_str()).await {
                Ok(Some(valid)) => {
                    assert_eq!(
                        valid.session.id, entry.id,
                        "validate returned another session"
                    );
                    let dead = entry.dead_since.load(Ordering::SeqCst);
                    if dead != 0 && dead < started {
                        ledger.violation(format!(
                            "session {i} validated in a call that started {:?} after its \
                             revocation returned",
                            Duration::from_nanos(started - dead)
                        ));
                    }
                }
                Ok(None) => {}
                Err(e) => ledger.error("validate_session", &e),
            }
        }
    }
}

/// The case: see the [module docs](self).
pub(super) async fn race<S: ConformanceStore>(store: S) {
    let store = Arc::new(Wrapped::new(store));
    let clock = ManualClock::new(Timestamp::now());
    let narvik = Arc::new(Narvik::new(Arc::clone(&store)).with_clock(clock.clone()));
    let users: Vec<String> = (0..USERS).map(|_| unique_user("race")).collect();
    let created = create_sessions(&narvik, &clock, &users).await;

    let ledger = Arc::new(Ledger {
        start: Instant::now(),
        users,
        sessions: created
            .into_iter()
            .enumerate()
            .map(|(i, (token, id, user))| Entry {
                token,
                id,
                user,
                // Expired before any validation starts.
                dead_since: AtomicU64::new(u64::from(i < EXPIRED)),
                uncertain: AtomicBool::new(false),
            })
            .collect(),
        violations: Mutex::default(),
        violation_count: AtomicUsize::new(0),
        errors: Mutex::default(),
        injected: AtomicUsize::new(0),
    });
    let injecting = Arc::new(AtomicBool::new(true));
    inject(&store, &injecting);
    let extensions_before = store.calls(Op::UpdateSession);

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            tokio::spawn(race_task(
                Arc::clone(&narvik),
                Arc::clone(&ledger),
                task as u64 + 1,
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("race task panicked");
    }
    let extensions = store.calls(Op::UpdateSession) - extensions_before;
    injecting.store(false, Ordering::SeqCst);

    // Every validation from here on starts after every revocation.
    let mut lost = Vec::new();
    for (i, s) in ledger.sessions.iter().enumerate() {
        if s.uncertain.load(Ordering::SeqCst) {
            continue;
        }
        let valid = match narvik.validate_session(s.token.as_str()).await {
            Ok(valid) => valid,
            Err(e) => {
                ledger.error("validate_session after the race", &e);
                continue;
            }
        };
        let dead = s.dead_since.load(Ordering::SeqCst) != 0;
        match (dead, valid.is_some()) {
            (true, true) => ledger.violation(format!("session {i} validated after the race")),
            (false, false) => lost.push(i),
            _ => {}
        }
    }

    let errors = ledger.errors.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        errors.is_empty(),
        "{} store calls failed with errors that were not injected; the first: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    let count = ledger.violation_count.load(Ordering::SeqCst);
    assert!(
        count == 0,
        "{count} validations found a session after its revocation had returned: {:?}",
        ledger
            .violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    );
    assert!(
        lost.is_empty(),
        "{} sessions never revoked no longer validate (the first: {:?})",
        lost.len(),
        lost.first()
    );
    assert!(
        extensions >= 100,
        "the race must extend sessions (validations at half-life), but only {extensions} extensions ran"
    );
    assert!(
        ledger.injected.load(Ordering::SeqCst) > 0,
        "no injected error reached a caller"
    );
}

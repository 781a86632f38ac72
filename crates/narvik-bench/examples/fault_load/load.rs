//! The load: accounts made before the faults, one task per signed-in user
//! reading pages with its cookie, one task signing users in (new sessions
//! while faults happen), every request recorded; and the check, after a
//! fault, that every session made before it is still valid.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::BoxError;
use crate::client::{Client, CookieChange, Outcome};

/// Time between sign-ins (each costs the demo an argon2 hash).
const SIGN_IN_EVERY: Duration = Duration::from_millis(400);
/// Sign-ups run this many at a time (argon2 is CPU-bound).
const SIGN_UP_AT_ONCE: usize = 4;

/// A session the harness holds: whose, and its cookie's value.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) user: String,
    pub(crate) token: String,
}

/// One request: when it started and ended (since the run's epoch), and
/// what it came to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    pub(crate) outcome: Outcome,
    /// A sign-in (else a page read with a session).
    pub(crate) sign_in: bool,
}

/// Accounts and sessions, kept across faults.
pub(crate) struct Users {
    pub(crate) client: Client,
    pub(crate) epoch: Instant,
    /// Time between one user's requests.
    think: Duration,
    /// The users that read pages, one session each (updated if the demo
    /// ever sets a new cookie).
    readers: Vec<Mutex<Known>>,
    /// Accounts the sign-in task signs in again and again.
    signers: Vec<String>,
    /// Sessions the sign-in task got.
    signed_in: Mutex<Vec<Known>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Users {
    /// Signs up `readers` users who keep their session, and `signers`
    /// accounts for the sign-in task (their sign-up sessions are kept
    /// too), named after `run`.
    pub(crate) async fn sign_up(
        client: Client,
        run: &str,
        readers: usize,
        signers: usize,
        think: Duration,
    ) -> Result<Self, BoxError> {
        let names: Vec<String> = (0..readers + signers)
            .map(|i| format!("{run}-{i}"))
            .collect();
        let mut sessions = Vec::with_capacity(names.len());
        for batch in names.chunks(SIGN_UP_AT_ONCE) {
            let mut set = JoinSet::new();
            for name in batch {
                let (client, name) = (client.clone(), name.clone());
                set.spawn(async move {
                    let (outcome, token) = sign_up_one(&client, &name).await;
                    (name, outcome, token)
                });
            }
            while let Some(joined) = set.join_next().await {
                let (user, outcome, token) = joined?;
                let token = token.ok_or_else(|| format!("sign-up of {user}: {outcome:?}"))?;
                sessions.push(Known { user, token });
            }
        }
        sessions.sort_by(|a, b| a.user.cmp(&b.user));
        let (signer_sessions, reader_sessions): (Vec<Known>, Vec<Known>) = sessions
            .into_iter()
            .partition(|k| names.iter().skip(readers).any(|n| *n == k.user));
        Ok(Self {
            client,
            epoch: Instant::now(),
            think,
            readers: reader_sessions.into_iter().map(Mutex::new).collect(),
            signers: names.into_iter().skip(readers).collect(),
            signed_in: Mutex::new(signer_sessions),
        })
    }

    /// Every session the harness holds now.
    pub(crate) fn sessions(&self) -> Vec<Known> {
        let mut all: Vec<Known> = self.readers.iter().map(|k| lock(k).clone()).collect();
        all.extend(lock(&self.signed_in).iter().cloned());
        all
    }

    /// How many users read pages.
    pub(crate) fn readers(&self) -> usize {
        self.readers.len()
    }

    /// Since the run's epoch.
    pub(crate) fn since_epoch(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.epoch)
    }
}

/// Signs `user` up; on a 5xx or no answer (a store timeout on a busy
/// machine), tries again, signing in if the account was made.
async fn sign_up_one(client: &Client, user: &str) -> (Outcome, Option<String>) {
    let mut path = "/signup";
    let mut last = (Outcome::NoAnswer, None);
    for _ in 0..6 {
        last = client.sign(path, user).await;
        match last {
            (Outcome::Ok, _) => return last,
            // Taken: the failed try made the account.
            (Outcome::Unexpected(409), _) => path = "/signin",
            // No such account: the failed try did not make it.
            (Outcome::SignedOut, _) => path = "/signup",
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    last
}

/// The load while it runs.
pub(crate) struct Load {
    users: Arc<Users>,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

struct Shared {
    stop: AtomicBool,
    records: Mutex<Vec<Record>>,
    /// Per task: the start of its request in flight (micros since the
    /// epoch, plus one), or 0.
    in_flight: Vec<AtomicU64>,
}

impl Shared {
    fn began(&self, task: usize, users: &Users) -> Duration {
        let start = users.since_epoch(Instant::now());
        if let Some(slot) = self.in_flight.get(task) {
            slot.store(micros(start) + 1, Ordering::Relaxed);
        }
        start
    }

    fn ended(&self, task: usize, users: &Users, start: Duration, outcome: Outcome) {
        let end = users.since_epoch(Instant::now());
        lock(&self.records).push(Record {
            start,
            end,
            outcome,
            sign_in: task == users.readers(),
        });
        if let Some(slot) = self.in_flight.get(task) {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// When the load came back after a fault that ended at `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Recovery {
    /// No request started before the end is still waiting, and requests
    /// have succeeded for the quiet period since the last failure.
    Recovered,
    /// Not by the deadline.
    NotWithin(Duration),
}

impl Load {
    /// One task per reader, and the sign-in task.
    pub(crate) fn start(users: &Arc<Users>) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            records: Mutex::new(Vec::new()),
            in_flight: (0..=users.readers()).map(|_| AtomicU64::new(0)).collect(),
        });
        let mut tasks = JoinSet::new();
        for task in 0..users.readers() {
            tasks.spawn(read_pages(Arc::clone(users), Arc::clone(&shared), task));
        }
        tasks.spawn(sign_in(
            Arc::clone(users),
            Arc::clone(&shared),
            users.readers(),
        ));
        Self {
            users: Arc::clone(users),
            shared,
            tasks,
        }
    }

    /// Waits until the load has recovered from a fault that ended at
    /// `end`: nothing started before `end` still in flight, and `quiet`
    /// of requests without a failure (at least one of them answered);
    /// gives up `within` after `end`.
    pub(crate) async fn wait_recovered(
        &self,
        end: Instant,
        quiet: Duration,
        within: Duration,
    ) -> Recovery {
        let end_at = self.users.since_epoch(end);
        let deadline = end + within;
        loop {
            let now = self.users.since_epoch(Instant::now());
            let waiting = self.shared.in_flight.iter().any(|slot| {
                let v = slot.load(Ordering::Relaxed);
                v != 0 && v - 1 < micros(end_at)
            });
            if !waiting {
                let records = lock(&self.shared.records);
                let since = records
                    .iter()
                    .filter(|r| r.outcome != Outcome::Ok && r.end >= end_at)
                    .map(|r| r.end)
                    .max()
                    .unwrap_or(end_at)
                    .max(end_at);
                let answered = records
                    .iter()
                    .any(|r| r.outcome == Outcome::Ok && r.start >= since);
                if answered && now.saturating_sub(since) >= quiet {
                    return Recovery::Recovered;
                }
            }
            if Instant::now() >= deadline {
                return Recovery::NotWithin(within);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the tasks (each finishes its request in flight) and returns
    /// every record.
    pub(crate) async fn stop(mut self) -> Vec<Record> {
        self.shared.stop.store(true, Ordering::Relaxed);
        while self.tasks.join_next().await.is_some() {}
        std::mem::take(&mut *lock(&self.shared.records))
    }
}

async fn read_pages(users: Arc<Users>, shared: Arc<Shared>, task: usize) {
    let Some(slot) = users.readers.get(task) else {
        return;
    };
    // Spread the users over one think time, so the load is even.
    let readers = u32::try_from(users.readers()).unwrap_or(u32::MAX).max(1);
    let offset = u32::try_from(task).unwrap_or(0);
    tokio::time::sleep(users.think * offset / readers).await;
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let known = lock(slot).clone();
        // Mostly the home page (one validate); every fifth, the session
        // list (a validate and a lookup by user).
        let path = if n % 5 == 4 { "/sessions" } else { "/" };
        n += 1;
        let start = shared.began(task, &users);
        let (outcome, cookie) = users.client.page(path, &known.user, &known.token).await;
        if let CookieChange::Set(token) = cookie {
            lock(slot).token = token;
        }
        shared.ended(task, &users, start, outcome);
        tokio::time::sleep(users.think).await;
    }
}

async fn sign_in(users: Arc<Users>, shared: Arc<Shared>, task: usize) {
    let mut n = 0usize;
    while !shared.stop.load(Ordering::Relaxed) && !users.signers.is_empty() {
        let Some(user) = users.signers.get(n % users.signers.len()) else {
            return;
        };
        n += 1;
        let start = shared.began(task, &users);
        let (outcome, token) = users.client.sign("/signin", user).await;
        if let Some(token) = token {
            lock(&users.signed_in).push(Known {
                user: user.clone(),
                token,
            });
        }
        shared.ended(task, &users, start, outcome);
        tokio::time::sleep(SIGN_IN_EVERY).await;
    }
}

/// The sessions a check found.
#[derive(Debug, Default)]
pub(crate) struct Check {
    pub(crate) kept: usize,
    /// Signed out, or another user's page: sessions lost.
    pub(crate) lost: Vec<String>,
    /// Still failing after retries (no verdict).
    pub(crate) unchecked: Vec<String>,
}

/// GET / with each of `sessions`: each must show its user's page. A 5xx
/// or no answer is retried a few times (the store may still be coming
/// back); a sign-out is a lost session.
pub(crate) async fn check(client: &Client, sessions: Vec<Known>) -> Check {
    const AT_ONCE: usize = 16;
    const TRIES: usize = 5;
    let sessions = Arc::new(sessions);
    let mut set = JoinSet::new();
    for worker in 0..AT_ONCE {
        let (client, sessions) = (client.clone(), Arc::clone(&sessions));
        set.spawn(async move {
            let mut found = Check::default();
            for known in sessions.iter().skip(worker).step_by(AT_ONCE) {
                let mut verdict = Outcome::NoAnswer;
                for _ in 0..TRIES {
                    verdict = client.page("/", &known.user, &known.token).await.0;
                    if matches!(
                        verdict,
                        Outcome::Ok | Outcome::SignedOut | Outcome::WrongUser
                    ) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                match verdict {
                    Outcome::Ok => found.kept += 1,
                    o if o.is_defect() => found.lost.push(known.user.clone()),
                    _ => found.unchecked.push(known.user.clone()),
                }
            }
            found
        });
    }
    let mut all = Check::default();
    while let Some(joined) = set.join_next().await {
        if let Ok(found) = joined {
            all.kept += found.kept;
            all.lost.extend(found.lost);
            all.unchecked.extend(found.unchecked);
        }
    }
    all.lost.sort();
    all.unchecked.sort();
    all
}

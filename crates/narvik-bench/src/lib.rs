//! Shared pieces of narvik's benchmarks: populating a store, the floor
//! that validation is measured against, and a deliberately serialised
//! store to compare concurrency with; and, in [`routers`], the axum
//! routers that the in-process comparisons with tower-sessions share.

use std::collections::HashMap;
use std::sync::Mutex;

use data_encoding::HEXLOWER;
use narvik_core::store::{MemoryStore, SessionStore};
use narvik_core::{Error, Narvik, Session, SessionId, SessionUpdate, Token};
use sha2::{Digest, Sha256};

pub mod routers;

/// `n` live sessions in a fresh `MemoryStore`, one user per session, and
/// their tokens.
///
/// # Panics
///
/// If the OS random number generator fails.
pub async fn populated_memory_store(n: usize) -> (Narvik<MemoryStore>, Vec<Token>) {
    let narvik = Narvik::new(MemoryStore::new());
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let created = narvik
            .create_session(format!("user-{i}"), ())
            .await
            .expect("create");
        tokens.push(created.token);
    }
    (narvik, tokens)
}

/// What a session record costs in the floor map: a user id and an expiry.
#[derive(Debug, Clone)]
pub struct FloorRecord {
    /// The user id.
    pub user_id: String,
    /// Expiry in unix milliseconds.
    pub expires_at: i64,
}

/// The floor of validation: SHA-256 of the token, hex into a `String`, one
/// `HashMap` hit, for the same tokens as a store holds. No expiry logic,
/// no locks, no clones.
#[derive(Debug)]
pub struct Floor(HashMap<String, FloorRecord>);

impl Floor {
    /// A map keyed by the hex ids of `tokens`.
    #[must_use]
    pub fn new(tokens: &[Token]) -> Self {
        let map = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    t.session_id().to_string(),
                    FloorRecord {
                        user_id: format!("user-{i}"),
                        expires_at: i64::MAX,
                    },
                )
            })
            .collect();
        Self(map)
    }

    /// Hash, hex, look up.
    #[must_use]
    pub fn lookup(&self, token: &str) -> Option<&FloorRecord> {
        let digest = Sha256::digest(token.as_bytes());
        let hex = HEXLOWER.encode(&digest);
        self.0.get(&hex)
    }
}

/// A store behind one mutex: what validation looks like when every request
/// takes a store-wide lock (as tower-sessions' `MemoryStore` does).
#[derive(Debug, Default)]
pub struct GlobalLockStore(Mutex<HashMap<SessionId, Session>>);

impl GlobalLockStore {
    fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<SessionId, Session>>, Error> {
        self.0.lock().map_err(|_| Error::store("lock", "poisoned"))
    }
}

impl SessionStore for GlobalLockStore {
    type Data = ();

    async fn save_session(&self, session: &Session) -> Result<(), Error> {
        let mut map = self.map()?;
        if map.contains_key(&session.id) {
            return Err(Error::DuplicateSessionId(session.id));
        }
        map.insert(session.id, session.clone());
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        Ok(self.map()?.get(id).cloned())
    }

    async fn update_session(&self, id: &SessionId, update: SessionUpdate) -> Result<bool, Error> {
        let mut map = self.map()?;
        let Some(s) = map.get_mut(id) else {
            return Ok(false);
        };
        update.apply_to(s);
        Ok(true)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        self.map()?.remove(id);
        Ok(())
    }
}

/// The process's resident set size in bytes, from `/proc/self/status`
/// (`None` where that file does not exist).
#[must_use]
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

//! An in-process store: sharded maps, lock-free extension, a per-user index.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{PurgeableStore, SessionStore, UserSessionStore};
use crate::{Error, Session, SessionId, Timestamp};

/// Shards of each map. A power of two well above the core counts this runs
/// on, so that 64 tasks rarely meet on one lock.
const SHARDS: usize = 64;

/// A session store in this process's memory, with every capability.
///
/// For tests, single-process apps and caches: sessions vanish when the
/// process exits and are not shared between processes.
///
/// Built for many concurrent tasks: sessions sit in 64 shards, each behind
/// its own read-write lock, so validation takes one shard's read lock and
/// never a store-wide one; extending a session is an atomic store under
/// that read lock. A per-user index makes the per-user calls touch only
/// that user's sessions, and [`PurgeableStore::delete_all_expired_sessions`]
/// works one shard at a time, so a purge never stops the whole store.
///
/// Clones share the same sessions.
///
/// ```
/// use narvik_core::{Narvik, store::MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let narvik = Narvik::new(store.clone());
/// narvik.create_session("ada", ()).await?;
/// assert_eq!(store.len(), 1);
/// # Ok::<(), narvik_core::Error>(())
/// # }).unwrap();
/// ```
pub struct MemoryStore<D = ()> {
    inner: Arc<Inner<D>>,
}

impl<D> Clone for MemoryStore<D> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<D> std::fmt::Debug for MemoryStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

impl<D> Default for MemoryStore<D> {
    fn default() -> Self {
        Self::new()
    }
}

type SessionShard<D> = RwLock<HashMap<SessionId, Entry<D>, BuildHasherDefault<DigestHasher>>>;
type UserShard = Mutex<HashMap<Arc<str>, Vec<SessionId>>>;

struct Inner<D> {
    sessions: Box<[SessionShard<D>]>,
    users: Box<[UserShard]>,
    /// Picks the user shard; user ids are chosen by users, so this is a
    /// keyed hash.
    user_hasher: RandomState,
}

/// A stored session, without its id (the map key) and with the user id
/// shared with the per-user index.
struct Entry<D> {
    user_id: Arc<str>,
    created_at: i64,
    /// Atomic so that extension needs only the shard's read lock.
    expires_at: AtomicI64,
    data: D,
}

/// Session ids are SHA-256 digests: uniformly distributed, and chosen by
/// our CSPRNG, never by a client (a client only looks ids up, and lookups
/// cannot grow a table). So their first eight bytes are already a good
/// hash, and hashing them again with SipHash would be wasted work.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // SessionId's Hash writes its 32 bytes in one call.
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(head);
    }
}

/// Lock helpers that shrug off poisoning: every critical section below
/// leaves the maps consistent before anything that could panic (a user's
/// `D::clone`), so the data behind a poisoned lock is still sound.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<D> MemoryStore<D> {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: (0..SHARDS).map(|_| RwLock::default()).collect(),
                users: (0..SHARDS).map(|_| Mutex::default()).collect(),
                user_hasher: RandomState::new(),
            }),
        }
    }

    /// How many sessions the store holds, expired ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.sessions.iter().map(|s| read(s).len()).sum()
    }

    /// True if the store holds no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.sessions.iter().all(|s| read(s).is_empty())
    }

    fn session_shard(&self, id: &SessionId) -> &SessionShard<D> {
        // Byte 8, not the bytes the map hashes on, so that shard choice and
        // bucket choice are independent.
        &self.inner.sessions[usize::from(id.as_bytes()[8]) % SHARDS]
    }

    fn user_shard(&self, user_id: &str) -> &UserShard {
        let hash = self.inner.user_hasher.hash_one(user_id);
        // The modulo keeps the value below SHARDS, so it fits in usize.
        &self.inner.users[usize::try_from(hash % SHARDS as u64).unwrap_or(0)]
    }

    /// Removes `id` under its user's index lock; `only_if` decides from the
    /// entry whether to go ahead. Lock order everywhere: user shard, then
    /// session shard.
    fn remove_where(&self, id: &SessionId, only_if: impl Fn(&Entry<D>) -> bool) -> bool {
        let user_id = match read(self.session_shard(id)).get(id) {
            Some(entry) if only_if(entry) => Arc::clone(&entry.user_id),
            _ => return false,
        };
        let mut users = lock(self.user_shard(&user_id));
        let removed = {
            let mut sessions = write(self.session_shard(id));
            // Re-check: the entry may have changed between the two locks.
            match sessions.get(id) {
                Some(entry) if only_if(entry) => sessions.remove(id).is_some(),
                _ => false,
            }
        };
        if removed {
            unindex(&mut users, &user_id, id);
        }
        removed
    }

    /// Deletes the given sessions of one user whose index lock is held.
    fn remove_indexed(&self, ids: &[SessionId]) {
        for id in ids {
            write(self.session_shard(id)).remove(id);
        }
    }
}

fn unindex(users: &mut HashMap<Arc<str>, Vec<SessionId>>, user_id: &str, id: &SessionId) {
    if let Some(ids) = users.get_mut(user_id) {
        ids.retain(|other| other != id);
        if ids.is_empty() {
            users.remove(user_id);
        }
    }
}

impl<D: Clone> Entry<D> {
    fn to_session(&self, id: SessionId) -> Session<D> {
        Session {
            id,
            user_id: self.user_id.as_ref().to_owned(),
            created_at: Timestamp::from_unix_millis(self.created_at),
            expires_at: Timestamp::from_unix_millis(self.expires_at.load(Ordering::Acquire)),
            data: self.data.clone(),
        }
    }
}

impl<D: Clone + Send + Sync + 'static> SessionStore for MemoryStore<D> {
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let mut users = lock(self.user_shard(&session.user_id));
        // Share the index's copy of the user id when the user has one.
        let user_id = users.get_key_value(session.user_id.as_str()).map_or_else(
            || Arc::from(session.user_id.as_str()),
            |(k, _)| Arc::clone(k),
        );
        {
            let mut sessions = write(self.session_shard(&session.id));
            if sessions.contains_key(&session.id) {
                return Err(Error::DuplicateSessionId(session.id));
            }
            sessions.insert(
                session.id,
                Entry {
                    user_id: Arc::clone(&user_id),
                    created_at: session.created_at.as_unix_millis(),
                    expires_at: AtomicI64::new(session.expires_at.as_unix_millis()),
                    data: session.data.clone(),
                },
            );
        }
        users.entry(user_id).or_default().push(session.id);
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        Ok(read(self.session_shard(id))
            .get(id)
            .map(|e| e.to_session(*id)))
    }

    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        if let Some(entry) = read(self.session_shard(id)).get(id) {
            entry
                .expires_at
                .store(expires_at.as_unix_millis(), Ordering::Release);
        }
        Ok(())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        self.remove_where(id, |_| true);
        Ok(())
    }
}

impl<D: Clone + Send + Sync + 'static> UserSessionStore for MemoryStore<D> {
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        let ids = lock(self.user_shard(user_id))
            .get(user_id)
            .cloned()
            .unwrap_or_default();
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                read(self.session_shard(&id))
                    .get(&id)
                    .map(|e| e.to_session(id))
            })
            .collect())
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        let mut users = lock(self.user_shard(user_id));
        let ids = users.remove(user_id).unwrap_or_default();
        self.remove_indexed(&ids);
        Ok(())
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        let mut users = lock(self.user_shard(user_id));
        let Some(ids) = users.get_mut(user_id) else {
            return Ok(());
        };
        let others: Vec<SessionId> = ids.iter().filter(|id| *id != keep).copied().collect();
        ids.retain(|id| id == keep);
        if ids.is_empty() {
            users.remove(user_id);
        }
        self.remove_indexed(&others);
        Ok(())
    }
}

impl<D: Send + Sync> PurgeableStore for MemoryStore<D> {
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let now = now.as_unix_millis();
        let is_expired = |e: &Entry<D>| e.expires_at.load(Ordering::Acquire) <= now;
        let mut removed = 0;
        for shard in &self.inner.sessions {
            // Collect under a read lock, then delete one by one through the
            // normal path, so writers wait for one removal at most.
            let expired: Vec<SessionId> = read(shard)
                .iter()
                .filter(|(_, e)| is_expired(e))
                .map(|(id, _)| *id)
                .collect();
            for id in &expired {
                if self.remove_where(id, is_expired) {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, n: u8, expires: i64) -> Session<()> {
        Session {
            id: SessionId::from_bytes([n; 32]),
            user_id: user.to_owned(),
            created_at: Timestamp::from_unix_millis(0),
            expires_at: Timestamp::from_unix_millis(expires),
            data: (),
        }
    }

    fn index_len(store: &MemoryStore, user: &str) -> Option<usize> {
        lock(store.user_shard(user)).get(user).map(Vec::len)
    }

    #[tokio::test]
    async fn deleting_the_last_session_drops_the_user_from_the_index() {
        let store = MemoryStore::new();
        store
            .save_session(&session("u", 1, 10))
            .await
            .expect("save");
        store
            .save_session(&session("u", 2, 10))
            .await
            .expect("save");
        assert_eq!(index_len(&store, "u"), Some(2));
        store
            .delete_session(&SessionId::from_bytes([1; 32]))
            .await
            .expect("delete");
        assert_eq!(index_len(&store, "u"), Some(1));
        store
            .delete_session(&SessionId::from_bytes([2; 32]))
            .await
            .expect("delete");
        assert_eq!(
            index_len(&store, "u"),
            None,
            "index must not grow without bound"
        );
    }

    #[tokio::test]
    async fn purge_cleans_the_index_too() {
        let store = MemoryStore::new();
        store
            .save_session(&session("u", 1, 10))
            .await
            .expect("save");
        store
            .save_session(&session("v", 2, 30))
            .await
            .expect("save");
        let removed = store
            .delete_all_expired_sessions(Timestamp::from_unix_millis(10))
            .await
            .expect("purge");
        assert_eq!(removed, 1);
        assert_eq!(index_len(&store, "u"), None);
        assert_eq!(index_len(&store, "v"), Some(1));
    }

    #[tokio::test]
    async fn users_share_one_copy_of_their_id() {
        let store = MemoryStore::new();
        store
            .save_session(&session("u", 1, 10))
            .await
            .expect("save");
        store
            .save_session(&session("u", 2, 10))
            .await
            .expect("save");
        let a = Arc::clone(
            &read(store.session_shard(&SessionId::from_bytes([1; 32])))
                .get(&SessionId::from_bytes([1; 32]))
                .expect("present")
                .user_id,
        );
        let b = Arc::clone(
            &read(store.session_shard(&SessionId::from_bytes([2; 32])))
                .get(&SessionId::from_bytes([2; 32]))
                .expect("present")
                .user_id,
        );
        assert!(Arc::ptr_eq(&a, &b));
    }
}

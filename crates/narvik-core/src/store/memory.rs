//! An in-process store: sharded maps, lock-free extension, a per-user index.

use std::collections::{HashMap, hash_map};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::{PurgeableStore, SessionStore, UserSessionStore};
use crate::session_id::ct_eq;

use crate::{Error, Session, SessionId, SessionUpdate, Timestamp, UserId};

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

type SessionShard<D> = RwLock<HashMap<Key, Entry<D>, BuildHasherDefault<DigestHasher>>>;
type UserShard = Mutex<HashMap<Arc<str>, UserSessions>>;

/// The first half of a session id: the key in both maps.
///
/// Keying on 128 bits rather than all 256 halves what the per-user index
/// holds per session. Two live sessions sharing 128 bits of SHA-256 output
/// is out of reach (tokens come from the CSPRNG), and if it ever happened
/// the second save would be refused as a duplicate: never an overwrite,
/// and never the wrong session served, because every lookup by id also
/// compares the other half (`Entry::tail`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u8; 16]);

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

fn split(id: &SessionId) -> (Key, [u8; 16]) {
    let (head, tail) = id.as_bytes().split_at(16);
    let mut key = [0u8; 16];
    let mut rest = [0u8; 16];
    key.copy_from_slice(head);
    rest.copy_from_slice(tail);
    (Key(key), rest)
}

fn join(key: Key, tail: &[u8; 16]) -> SessionId {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&key.0);
    bytes[16..].copy_from_slice(tail);
    SessionId::from_bytes(bytes)
}

struct Inner<D> {
    sessions: Box<[SessionShard<D>]>,
    users: Box<[UserShard]>,
    /// Picks the user shard; user ids are chosen by users, so this is a
    /// keyed hash.
    user_hasher: RandomState,
}

/// A stored session, without the half of its id that is the map key, and
/// with the user id shared with the per-user index.
struct Entry<D> {
    /// The second half of the session id.
    tail: [u8; 16],
    user_id: Arc<str>,
    created_at: i64,
    /// Atomic so that extension needs only the shard's read lock.
    expires_at: AtomicI64,
    /// The lifecycle's times, atomic for the same reason; [`NO_TIME`] for
    /// none.
    last_active_at: AtomicI64,
    reauthenticated_at: AtomicI64,
    rotated_at: AtomicI64,
    length: Option<Duration>,
    persistent: bool,
    data: D,
}

/// An unset lifecycle time in an [`Entry`]. No session is created in the
/// year -292 million, so the value is free.
const NO_TIME: i64 = i64::MIN;

fn time_cell(t: Option<Timestamp>) -> AtomicI64 {
    AtomicI64::new(t.map_or(NO_TIME, Timestamp::as_unix_millis))
}

fn load_time(cell: &AtomicI64) -> Option<Timestamp> {
    match cell.load(Ordering::Acquire) {
        NO_TIME => None,
        t => Some(Timestamp::from_unix_millis(t)),
    }
}

fn store_time(cell: &AtomicI64, t: Option<Timestamp>) {
    if let Some(t) = t {
        cell.store(t.as_unix_millis(), Ordering::Release);
    }
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

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed here, through `write_u64`; fold anything
        // else in rather than drop it.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
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

    fn session_shard(&self, key: Key) -> &SessionShard<D> {
        // Byte 8, not the bytes the map hashes on, so that shard choice and
        // bucket choice are independent.
        &self.inner.sessions[usize::from(key.0[8]) % SHARDS]
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
        let (key, tail) = split(id);
        let matches = |entry: &Entry<D>| ct_eq(&entry.tail, &tail) && only_if(entry);
        let user_id = match read(self.session_shard(key)).get(&key) {
            Some(entry) if matches(entry) => Arc::clone(&entry.user_id),
            _ => return false,
        };
        let mut users = lock(self.user_shard(&user_id));
        let removed = {
            let mut sessions = write(self.session_shard(key));
            // Re-check: the entry may have changed between the two locks.
            match sessions.get(&key) {
                Some(entry) if matches(entry) => sessions.remove(&key).is_some(),
                _ => false,
            }
        };
        if removed {
            unindex(&mut users, &user_id, key);
        }
        removed
    }

    /// Deletes the given sessions of one user whose index lock is held.
    fn remove_indexed(&self, keys: &[Key]) {
        for key in keys {
            write(self.session_shard(*key)).remove(key);
        }
    }
}

fn unindex(users: &mut HashMap<Arc<str>, UserSessions>, user_id: &str, key: Key) {
    if let Some(keys) = users.get_mut(user_id) {
        keys.retain(|other| *other != key);
        if keys.is_empty() {
            users.remove(user_id);
        }
    }
}

/// The ids of one user's sessions. Most users have one session, so that
/// case is held inline: a `Vec` would cost a heap block of four ids (Rust's
/// first growth step) for every such user.
#[derive(Clone)]
enum UserSessions {
    One(Key),
    Many(Vec<Key>),
}

impl UserSessions {
    fn as_slice(&self) -> &[Key] {
        match self {
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(ids) => ids,
        }
    }

    fn push(&mut self, id: Key) {
        match self {
            Self::One(first) => *self = Self::Many(vec![*first, id]),
            Self::Many(ids) => ids.push(id),
        }
    }

    fn retain(&mut self, keep: impl Fn(&Key) -> bool) {
        match self {
            Self::One(id) if !keep(id) => *self = Self::Many(Vec::new()),
            Self::One(_) => {}
            Self::Many(ids) => ids.retain(|id| keep(id)),
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl<D> Entry<D> {
    /// Applies an update's times (everything but the data).
    fn set_times(&self, update: &SessionUpdate<D>) {
        if let Some(t) = update.expires_at {
            self.expires_at.store(t.as_unix_millis(), Ordering::Release);
        }
        store_time(&self.last_active_at, update.last_active_at);
        store_time(&self.reauthenticated_at, update.reauthenticated_at);
        store_time(&self.rotated_at, update.rotated_at);
    }
}

impl<D: Clone> Entry<D> {
    fn to_session(&self, key: Key) -> Session<D> {
        let mut session = Session::new(
            join(key, &self.tail),
            // A reference count, not a copy of the id.
            UserId::from(Arc::clone(&self.user_id)),
            Timestamp::from_unix_millis(self.created_at),
            Timestamp::from_unix_millis(self.expires_at.load(Ordering::Acquire)),
            self.data.clone(),
        );
        session.length = self.length;
        session.persistent = self.persistent;
        session.last_active_at = load_time(&self.last_active_at);
        session.reauthenticated_at = load_time(&self.reauthenticated_at);
        session.rotated_at = load_time(&self.rotated_at);
        session
    }
}

impl<D: Clone> MemoryStore<D> {
    /// The session `id`, if the store holds it: what both fetches answer.
    fn lookup(&self, id: &SessionId) -> Option<Session<D>> {
        let (key, tail) = split(id);
        read(self.session_shard(key))
            .get(&key)
            .filter(|e| ct_eq(&e.tail, &tail))
            .map(|e| e.to_session(key))
    }
}

impl<D: Clone + Send + Sync + 'static> SessionStore for MemoryStore<D> {
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let (key, tail) = split(&session.id);
        let mut users = lock(self.user_shard(&session.user_id));
        // Share the index's copy of the user id when the user has one.
        let user_id = users.get_key_value(session.user_id.as_str()).map_or_else(
            || Arc::from(session.user_id.as_str()),
            |(k, _)| Arc::clone(k),
        );
        match write(self.session_shard(key)).entry(key) {
            // Insert-only: an existing id is refused, never overwritten.
            hash_map::Entry::Occupied(_) => return Err(Error::DuplicateSessionId(session.id)),
            hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    tail,
                    user_id: Arc::clone(&user_id),
                    created_at: session.created_at.as_unix_millis(),
                    expires_at: AtomicI64::new(session.expires_at.as_unix_millis()),
                    last_active_at: time_cell(session.last_active_at),
                    reauthenticated_at: time_cell(session.reauthenticated_at),
                    rotated_at: time_cell(session.rotated_at),
                    length: session.length,
                    persistent: session.persistent,
                    data: session.data.clone(),
                });
            }
        }
        match users.get_mut(&user_id) {
            Some(keys) => keys.push(key),
            None => {
                users.insert(user_id, UserSessions::One(key));
            }
        }
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        Ok(self.lookup(id))
    }

    fn fetch_session_now(&self, id: &SessionId) -> Option<Result<Option<Session<D>>, Error>> {
        Some(Ok(self.lookup(id)))
    }

    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<D>,
    ) -> Result<bool, Error> {
        let (key, tail) = split(id);
        if update.data.is_none() {
            // Times only (extension, activity): the shard's read lock.
            let shard = read(self.session_shard(key));
            let Some(entry) = shard.get(&key).filter(|e| ct_eq(&e.tail, &tail)) else {
                return Ok(false);
            };
            entry.set_times(&update);
            return Ok(true);
        }
        let mut shard = write(self.session_shard(key));
        let Some(entry) = shard.get_mut(&key).filter(|e| ct_eq(&e.tail, &tail)) else {
            return Ok(false);
        };
        entry.set_times(&update);
        if let Some(data) = update.data {
            entry.data = data;
        }
        Ok(true)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        self.remove_where(id, |_| true);
        Ok(())
    }
}

impl<D: Clone + Send + Sync + 'static> UserSessionStore for MemoryStore<D> {
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        let keys: Vec<Key> = lock(self.user_shard(user_id))
            .get(user_id)
            .map(|keys| keys.as_slice().to_vec())
            .unwrap_or_default();
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                read(self.session_shard(key))
                    .get(&key)
                    .map(|e| e.to_session(key))
            })
            .collect())
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        let mut users = lock(self.user_shard(user_id));
        if let Some(keys) = users.remove(user_id) {
            self.remove_indexed(keys.as_slice());
        }
        Ok(())
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        let (keep_key, keep_tail) = split(keep);
        let mut users = lock(self.user_shard(user_id));
        let Some(keys) = users.get_mut(user_id) else {
            return Ok(());
        };
        // The user's session under `keep`'s key is `keep` only if the other
        // half of the id matches too.
        let is_keep = |key: &Key| {
            *key == keep_key
                && read(self.session_shard(*key))
                    .get(key)
                    .is_some_and(|e| ct_eq(&e.tail, &keep_tail))
        };
        let others: Vec<Key> = keys
            .as_slice()
            .iter()
            .filter(|key| !is_keep(key))
            .copied()
            .collect();
        keys.retain(|key| !others.contains(key));
        if keys.is_empty() {
            users.remove(user_id);
        }
        self.remove_indexed(&others);
        Ok(())
    }
}

impl<D: Send + Sync> PurgeableStore for MemoryStore<D> {
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let cutoff = super::rotation_marker_cutoff(now).as_unix_millis();
        let now = now.as_unix_millis();
        // A rotation marker stays until its time is up, whatever its expiry.
        let is_expired = |e: &Entry<D>| {
            e.expires_at.load(Ordering::Acquire) <= now
                && e.rotated_at.load(Ordering::Acquire) <= cutoff
        };
        let mut removed = 0;
        for shard in &self.inner.sessions {
            // Collect under a read lock, then delete one by one through the
            // normal path, so writers wait for one removal at most.
            let expired: Vec<SessionId> = read(shard)
                .iter()
                .filter(|(_, e)| is_expired(e))
                .map(|(key, e)| join(*key, &e.tail))
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
        Session::new(
            SessionId::from_bytes([n; 32]),
            user,
            Timestamp::from_unix_millis(0),
            Timestamp::from_unix_millis(expires),
            (),
        )
    }

    fn index_len(store: &MemoryStore, user: &str) -> Option<usize> {
        lock(store.user_shard(user))
            .get(user)
            .map(|ids| ids.as_slice().len())
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
            &read(store.session_shard(split(&SessionId::from_bytes([1; 32])).0))
                .get(&split(&SessionId::from_bytes([1; 32])).0)
                .expect("present")
                .user_id,
        );
        let b = Arc::clone(
            &read(store.session_shard(split(&SessionId::from_bytes([2; 32])).0))
                .get(&split(&SessionId::from_bytes([2; 32])).0)
                .expect("present")
                .user_id,
        );
        assert!(Arc::ptr_eq(&a, &b));
    }

    fn halves(head: u8, tail: u8) -> SessionId {
        let mut bytes = [head; 32];
        bytes[16..].fill(tail);
        SessionId::from_bytes(bytes)
    }

    fn with_id(id: SessionId) -> Session<()> {
        Session {
            id,
            ..session("u", 0, 10)
        }
    }

    #[tokio::test]
    async fn an_id_sharing_the_key_half_is_neither_found_nor_saved() {
        let store = MemoryStore::new();
        let stored = halves(1, 2);
        let other = halves(1, 3);
        store.save_session(&with_id(stored)).await.expect("save");
        assert_eq!(store.fetch_session(&other).await.expect("fetch"), None);
        assert!(matches!(
            store.save_session(&with_id(other)).await,
            Err(Error::DuplicateSessionId(id)) if id == other
        ));
        store
            .update_session(
                &other,
                SessionUpdate::expiry(Timestamp::from_unix_millis(99)),
            )
            .await
            .expect("update");
        store.delete_session(&other).await.expect("delete");
        let kept = store.fetch_session(&stored).await.expect("fetch");
        assert_eq!(
            kept.map(|s| s.expires_at),
            Some(Timestamp::from_unix_millis(10))
        );
    }

    #[tokio::test]
    async fn keep_protects_only_the_exact_id() {
        let store = MemoryStore::new();
        let stored = halves(1, 2);
        store.save_session(&with_id(stored)).await.expect("save");
        store
            .delete_other_sessions_for_user("u", &halves(1, 3))
            .await
            .expect("delete others");
        assert_eq!(store.fetch_session(&stored).await.expect("fetch"), None);
        assert_eq!(index_len(&store, "u"), None);
    }
}

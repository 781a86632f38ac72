//! The conformance suite against the stores in this crate.

mod memory_store {
    use narvik_core::store::MemoryStore;
    use narvik_testkit::TestData;

    narvik_testkit::conformance_tests!(|| async { MemoryStore::<TestData>::new() });
}

/// The callback store over a plain map, as a Narvik user would write it.
mod callback_store {
    use std::collections::HashMap;
    use std::future::ready;
    use std::sync::{Arc, Mutex, MutexGuard};

    use narvik_core::store::{CallbackStore, rotation_marker_cutoff};
    use narvik_core::{Error, Session, SessionId, SessionUpdate};
    use narvik_testkit::TestData;

    type Map = Arc<Mutex<HashMap<SessionId, Session<TestData>>>>;

    fn lock(map: &Map) -> Result<MutexGuard<'_, HashMap<SessionId, Session<TestData>>>, Error> {
        map.lock().map_err(|_| Error::store("lock map", "poisoned"))
    }

    fn map_store() -> CallbackStore<TestData> {
        let map = Map::default();
        let m = map.clone();
        let save = move |s: Session<TestData>| {
            let result = lock(&m).and_then(|mut map| {
                if map.contains_key(&s.id) {
                    return Err(Error::DuplicateSessionId(s.id));
                }
                map.insert(s.id, s);
                Ok(())
            });
            ready(result)
        };
        let m = map.clone();
        let fetch = move |id| ready(lock(&m).map(|map| map.get(&id).cloned()));
        let m = map.clone();
        let update = move |(id, expires_at)| {
            ready(lock(&m).map(|mut map| {
                if let Some(s) = map.get_mut(&id) {
                    s.expires_at = expires_at;
                }
            }))
        };
        let m = map.clone();
        let update_session = move |(id, update): (SessionId, SessionUpdate<TestData>)| {
            ready(lock(&m).map(|mut map| match map.get_mut(&id) {
                Some(s) => {
                    update.apply_to(s);
                    true
                }
                None => false,
            }))
        };
        let m = map.clone();
        let delete = move |id| {
            ready(lock(&m).map(|mut map| {
                map.remove(&id);
            }))
        };
        let m = map.clone();
        let for_user = move |user: String| {
            ready(lock(&m).map(|map| {
                map.values()
                    .filter(|s| s.user_id == user)
                    .cloned()
                    .collect()
            }))
        };
        let m = map.clone();
        let delete_for_user =
            move |user: String| ready(lock(&m).map(|mut map| map.retain(|_, s| s.user_id != user)));
        let m = map.clone();
        let delete_others = move |(user, keep): (String, SessionId)| {
            ready(lock(&m).map(|mut map| map.retain(|id, s| s.user_id != user || *id == keep)))
        };
        let m = map;
        let purge = move |now| {
            ready(lock(&m).map(|mut map| {
                let before = map.len();
                let cutoff = rotation_marker_cutoff(now);
                map.retain(|_, s| {
                    !s.is_expired_at(now) || s.rotated_at.is_some_and(|t| t > cutoff)
                });
                (before - map.len()) as u64
            }))
        };
        CallbackStore::new(save, fetch, update, delete)
            .with_update_session(update_session)
            .with_fetch_sessions_for_user(for_user)
            .with_delete_sessions_for_user(delete_for_user)
            .with_delete_other_sessions_for_user(delete_others)
            .with_delete_all_expired_sessions(purge)
    }

    narvik_testkit::conformance_tests!(|| async { map_store() });
}

/// A store chosen at run time, behind `Arc<dyn DynSessionStore>`.
mod dyn_store {
    use std::sync::Arc;

    use narvik_core::store::{DynSessionStore, MemoryStore};
    use narvik_testkit::TestData;

    narvik_testkit::conformance_tests!(|| async {
        let store: Arc<dyn DynSessionStore<TestData>> = Arc::new(MemoryStore::<TestData>::new());
        store
    });
}

//! The suite must fail stores that break the rules; a check that cannot
//! fail proves nothing. Each test runs one case against a store with one
//! deliberate flaw and expects the case to panic. A store with only
//! `SessionStore` runs the `session` group, sound and flawed.

use std::collections::HashMap;
use std::future::ready;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use narvik_core::store::{CallbackStore, MemoryStore, SessionStore, rotation_marker_cutoff};
use narvik_core::{Error, Session, SessionId, SessionUpdate, Timestamp};
use narvik_testkit::wrap::{Call, Op, Reply, Wrapped};
use narvik_testkit::{TestData, cases, run_case};

#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    None,
    SaveOverwrites,
    UpdateUpserts,
    DeleteForUserDeletesEveryone,
    PurgeUsesStrictBoundary,
    FetchForgetsData,
    /// Compares user ids as a case-insensitive, trimming collation would.
    UserIdsCompareLoosely,
    /// An update rewrites the session from Narvik's fields and the
    /// update's, dropping the lifecycle fields it does not set.
    UpdateDropsOtherFields,
    /// An update leaves `rotated_at` alone: no rotation marker.
    UpdateIgnoresRotation,
    /// A purge removes every expired session, young rotation markers
    /// included.
    PurgeDeletesYoungMarkers,
    /// Lookups lose the length and kind of cookie (a store without those
    /// columns).
    FetchForgetsRememberMe,
    /// An update that changes nothing says it found nothing (a database
    /// counting changed rows, not matched ones).
    UpdateCountsChangedRows,
}

fn same_user(flaw: Flaw, a: &str, b: &str) -> bool {
    if flaw == Flaw::UserIdsCompareLoosely {
        a.trim().eq_ignore_ascii_case(b.trim())
    } else {
        a == b
    }
}

type Map = Arc<Mutex<HashMap<SessionId, Session<TestData>>>>;

fn flawed(flaw: Flaw) -> CallbackStore<TestData> {
    let map = Map::default();
    let i = map.clone();
    let (a, b, c, d, e, f, g, h) = (
        map.clone(),
        map.clone(),
        map.clone(),
        map.clone(),
        map.clone(),
        map.clone(),
        map.clone(),
        map,
    );
    CallbackStore::new(
        move |s: Session<TestData>| {
            let mut map = a.lock().expect("lock");
            if map.contains_key(&s.id) && flaw != Flaw::SaveOverwrites {
                return ready(Err(Error::DuplicateSessionId(s.id)));
            }
            map.insert(s.id, s);
            ready(Ok(()))
        },
        move |id| {
            let mut found = b.lock().expect("lock").get(&id).cloned();
            match (flaw, &mut found) {
                (Flaw::FetchForgetsData, Some(s)) => s.data = TestData::default(),
                (Flaw::FetchForgetsRememberMe, Some(s)) => {
                    s.length = None;
                    s.persistent = true;
                }
                _ => {}
            }
            ready(Ok(found))
        },
        move |(id, expires_at)| {
            let mut map = c.lock().expect("lock");
            match map.get_mut(&id) {
                Some(s) => s.expires_at = expires_at,
                None if flaw == Flaw::UpdateUpserts => {
                    map.insert(
                        id,
                        Session::new(
                            id,
                            String::new(),
                            expires_at,
                            expires_at,
                            TestData::default(),
                        ),
                    );
                }
                None => {}
            }
            ready(Ok(()))
        },
        move |id| {
            d.lock().expect("lock").remove(&id);
            ready(Ok(()))
        },
    )
    .with_update_session(
        move |(id, mut update): (SessionId, SessionUpdate<TestData>)| {
            let mut map = i.lock().expect("lock");
            match map.get_mut(&id) {
                Some(s) => {
                    if flaw == Flaw::UpdateDropsOtherFields {
                        let narviks = Session::new(
                            s.id,
                            s.user_id.clone(),
                            s.created_at,
                            s.expires_at,
                            s.data.clone(),
                        );
                        *s = narviks;
                    }
                    if flaw == Flaw::UpdateIgnoresRotation {
                        update.rotated_at = None;
                    }
                    let before = s.clone();
                    update.apply_to(s);
                    ready(Ok(flaw != Flaw::UpdateCountsChangedRows || *s != before))
                }
                None if flaw == Flaw::UpdateUpserts => {
                    let at = update.expires_at.unwrap_or(Timestamp::from_unix_millis(0));
                    let mut s = Session::new(id, String::new(), at, at, TestData::default());
                    update.apply_to(&mut s);
                    map.insert(id, s);
                    ready(Ok(true))
                }
                None => ready(Ok(false)),
            }
        },
    )
    .with_fetch_sessions_for_user(move |user: String| {
        let map = e.lock().expect("lock");
        ready(Ok(map
            .values()
            .filter(|s| s.user_id == user)
            .cloned()
            .collect()))
    })
    .with_delete_sessions_for_user(move |user: String| {
        let mut map = f.lock().expect("lock");
        if flaw == Flaw::DeleteForUserDeletesEveryone {
            map.clear();
        } else {
            map.retain(|_, s| !same_user(flaw, &s.user_id, &user));
        }
        ready(Ok(()))
    })
    .with_delete_other_sessions_for_user(move |(user, keep): (String, SessionId)| {
        g.lock()
            .expect("lock")
            .retain(|id, s| s.user_id != user || *id == keep);
        ready(Ok(()))
    })
    .with_delete_all_expired_sessions(move |now| {
        let mut map = h.lock().expect("lock");
        let before = map.len();
        let marker = |s: &Session<TestData>| {
            s.rotated_at
                .is_some_and(|t| t > rotation_marker_cutoff(now))
        };
        if flaw == Flaw::PurgeUsesStrictBoundary {
            map.retain(|_, s| s.expires_at >= now || marker(s));
        } else if flaw == Flaw::PurgeDeletesYoungMarkers {
            map.retain(|_, s| s.expires_at > now);
        } else {
            map.retain(|_, s| s.expires_at > now || marker(s));
        }
        ready(Ok((before - map.len()) as u64))
    })
}

fn run(flaw: Flaw, case: narvik_testkit::Case<CallbackStore<TestData>>) {
    run_case(|| async move { flawed(flaw) }, case);
}

#[test]
fn the_sound_store_passes_every_case() {
    for (_, case) in cases::all::<CallbackStore<TestData>>() {
        run(Flaw::None, case);
    }
}

#[test]
#[should_panic(expected = "Error::DuplicateSessionId")]
fn an_overwriting_save_fails() {
    run(Flaw::SaveOverwrites, |s| {
        Box::pin(cases::session::duplicate_id_is_refused_and_nothing_is_overwritten(s))
    });
}

#[test]
#[should_panic(expected = "created a session")]
fn an_upserting_update_fails() {
    run(Flaw::UpdateUpserts, |s| {
        Box::pin(cases::session::update_expiry_of_a_missing_session_creates_nothing(s))
    });
}

#[test]
#[should_panic(expected = "another user lost a session")]
fn a_delete_for_user_that_deletes_everyone_fails() {
    run(Flaw::DeleteForUserDeletesEveryone, |s| {
        Box::pin(cases::user::delete_for_user_touches_only_that_user(s))
    });
}

#[test]
#[should_panic(expected = "count exactly")]
fn a_purge_that_spares_the_boundary_fails() {
    run(Flaw::PurgeUsesStrictBoundary, |s| {
        Box::pin(cases::purge::purge_removes_only_expired_and_counts_them(s))
    });
}

#[test]
#[should_panic(expected = "differs from the saved one")]
fn a_store_that_loses_data_fails() {
    run(Flaw::FetchForgetsData, |s| {
        Box::pin(cases::session::save_then_fetch_round_trips_typed_data(s))
    });
}

#[test]
#[should_panic(expected = "lost its session")]
fn a_store_whose_user_ids_compare_loosely_fails() {
    run(Flaw::UserIdsCompareLoosely, |s| {
        Box::pin(cases::user::user_ids_compare_exactly(s))
    });
}

#[test]
#[should_panic(expected = "changed other fields")]
fn an_update_that_drops_other_fields_fails() {
    run(Flaw::UpdateDropsOtherFields, |s| {
        Box::pin(cases::lifecycle::update_sets_each_field_alone(s))
    });
}

#[test]
#[should_panic(expected = "to the value already there")]
fn an_update_that_counts_changed_rows_fails() {
    run(Flaw::UpdateCountsChangedRows, |s| {
        Box::pin(cases::lifecycle::an_update_of_identical_values_still_finds_the_session(s))
    });
}

#[test]
#[should_panic(expected = "rotated_at")]
fn an_update_that_ignores_the_rotation_fails() {
    run(Flaw::UpdateIgnoresRotation, |s| {
        Box::pin(cases::lifecycle::rotation_keeps_the_session_and_marks_the_old_token(s))
    });
}

#[test]
#[should_panic(expected = "racing a rotation broke its rules")]
fn an_update_that_ignores_the_rotation_fails_the_rotation_race() {
    run(Flaw::UpdateIgnoresRotation, |s| {
        Box::pin(cases::lifecycle::rotation_under_64_concurrent_validates_of_the_old_token(s))
    });
}

#[test]
#[should_panic(expected = "removed a young rotation marker")]
fn a_purge_that_deletes_young_markers_fails() {
    run(Flaw::PurgeDeletesYoungMarkers, |s| {
        Box::pin(cases::lifecycle_purge::purge_keeps_a_young_rotation_marker(
            s,
        ))
    });
}

#[test]
#[should_panic(expected = "no Max-Age or Expires")]
fn a_store_that_forgets_remember_me_fails_the_cookie_case() {
    run(Flaw::FetchForgetsRememberMe, |s| {
        Box::pin(cases::lifecycle::remember_me_cookies_have_the_right_attributes(s))
    });
}

#[test]
#[should_panic(expected = "the session's own length")]
fn a_store_that_forgets_remember_me_fails_the_length_case() {
    run(Flaw::FetchForgetsRememberMe, |s| {
        Box::pin(cases::lifecycle::remember_me_lengths_are_stored_and_drive_extension(s))
    });
}

/// A store with the four required operations and nothing else, and an
/// optional flaw.
#[derive(Default)]
struct SessionOnly {
    map: Mutex<HashMap<SessionId, Session<TestData>>>,
    flaw: Option<SessionFlaw>,
}

#[derive(Clone, Copy, PartialEq)]
enum SessionFlaw {
    /// Extending a missing session creates it.
    UpdateUpserts,
    /// Deleting does nothing.
    DeleteForgets,
    /// Updates apply the expiry and drop the rest, yet say they found the
    /// session: a store with only Narvik's columns that does not refuse.
    UpdateKeepsOnlyTheExpiry,
}

impl SessionOnly {
    fn with(flaw: SessionFlaw) -> Self {
        Self {
            flaw: Some(flaw),
            ..Self::default()
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session<TestData>>> {
        self.map.lock().expect("lock")
    }
}

impl SessionStore for SessionOnly {
    type Data = TestData;

    async fn save_session(&self, session: &Session<TestData>) -> Result<(), Error> {
        let mut map = self.map();
        if map.contains_key(&session.id) {
            return Err(Error::DuplicateSessionId(session.id));
        }
        map.insert(session.id, session.clone());
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<TestData>>, Error> {
        Ok(self.map().get(id).cloned())
    }

    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<TestData>,
    ) -> Result<bool, Error> {
        let mut map = self.map();
        match map.get_mut(id) {
            Some(s) if self.flaw == Some(SessionFlaw::UpdateKeepsOnlyTheExpiry) => {
                if let Some(at) = update.expires_at {
                    s.expires_at = at;
                }
                Ok(true)
            }
            Some(s) => {
                update.apply_to(s);
                Ok(true)
            }
            None if self.flaw == Some(SessionFlaw::UpdateUpserts) => {
                let at = update.expires_at.unwrap_or(Timestamp::from_unix_millis(0));
                let mut s = Session::new(*id, String::new(), at, at, TestData::default());
                update.apply_to(&mut s);
                map.insert(*id, s);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        if self.flaw != Some(SessionFlaw::DeleteForgets) {
            self.map().remove(id);
        }
        Ok(())
    }
}

/// The `session` and `lifecycle` groups, as a third-party store with only
/// `SessionStore` runs them: this module compiles only if the groups ask
/// for nothing more.
mod session_only_store {
    use super::SessionOnly;

    narvik_testkit::conformance_tests!(|| async { SessionOnly::default() }; session, lifecycle);
}

#[test]
#[should_panic(expected = "brought a deleted session back")]
fn a_session_only_store_whose_update_upserts_fails_the_forced_interleaving() {
    run_case(
        || async { SessionOnly::with(SessionFlaw::UpdateUpserts) },
        |s| Box::pin(cases::session::delete_between_validate_and_its_extension_stays_deleted(s)),
    );
}

#[test]
#[should_panic(expected = "an invalidated session validated")]
fn a_session_only_store_that_forgets_deletes_fails() {
    run_case(
        || async { SessionOnly::with(SessionFlaw::DeleteForgets) },
        |s| Box::pin(cases::session::validate_after_invalidate_is_none(s)),
    );
}

#[test]
#[should_panic(expected = "must write activity exactly once")]
fn a_session_only_store_whose_updates_keep_only_the_expiry_fails_the_activity_case() {
    run_case(
        || async { SessionOnly::with(SessionFlaw::UpdateKeepsOnlyTheExpiry) },
        |s| Box::pin(cases::lifecycle::activity_is_written_at_most_once_per_interval(s)),
    );
}

#[test]
fn a_session_only_store_passes_every_session_case_in_turn() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cases = cases::session::all::<SessionOnly>();
    assert_eq!(cases.len(), 16, "the session group changed size");
    runtime.block_on(narvik_testkit::run_cases(
        || async { SessionOnly::default() },
        cases,
    ));
}

/// A read cache in front of a sound store that deletes do not reach: a
/// lookup the store answers "none" is answered from the cache instead,
/// as a stale replica or a forgotten cache invalidation would.
fn resurrecting() -> Wrapped<MemoryStore<TestData>> {
    let store = Wrapped::new(MemoryStore::<TestData>::new());
    let cache: Mutex<HashMap<SessionId, Session<TestData>>> = Mutex::default();
    store.after(Op::FetchSession, move |call, reply| {
        let (Call::FetchSession { id }, Reply::Session(Ok(answer))) = (call, reply) else {
            return;
        };
        let mut cache = cache.lock().expect("lock");
        match answer {
            Some(session) => {
                cache.insert(session.id, session.clone());
            }
            None => *answer = cache.get(id).cloned(),
        }
    });
    store
}

#[test]
#[should_panic(expected = "after its revocation had returned")]
fn a_store_that_resurrects_revoked_sessions_fails_the_race() {
    run_case(
        || async { resurrecting() },
        |s| {
            Box::pin(
                cases::user_purge::racing_validates_and_revocations_never_show_a_revoked_session(s),
            )
        },
    );
}

/// A sound store whose every hundredth lookup fails with an error of its
/// own, not an injected one.
fn flaky() -> Wrapped<MemoryStore<TestData>> {
    let store = Wrapped::new(MemoryStore::<TestData>::new());
    let calls = AtomicUsize::new(0);
    store.after(Op::FetchSession, move |_, reply| {
        if calls.fetch_add(1, Ordering::SeqCst) % 100 == 99 {
            reply.set_error(Error::store("fetch session", "connection reset"));
        }
    });
    store
}

#[test]
#[should_panic(expected = "errors that were not injected")]
fn a_store_that_fails_now_and_then_fails_the_race() {
    run_case(
        || async { flaky() },
        |s| {
            Box::pin(
                cases::user_purge::racing_validates_and_revocations_never_show_a_revoked_session(s),
            )
        },
    );
}

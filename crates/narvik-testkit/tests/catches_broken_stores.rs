//! The suite must fail stores that break the rules; a check that cannot
//! fail proves nothing. Each test runs one case against a store with one
//! deliberate flaw and expects the case to panic.

use std::collections::HashMap;
use std::future::ready;
use std::sync::{Arc, Mutex};

use narvik_core::store::CallbackStore;
use narvik_core::{Session, SessionId};
use narvik_testkit::{TestData, cases, run_case};

#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    None,
    SaveOverwrites,
    UpdateUpserts,
    DeleteForUserDeletesEveryone,
    PurgeUsesStrictBoundary,
    FetchForgetsData,
}

type Map = Arc<Mutex<HashMap<SessionId, Session<TestData>>>>;

fn flawed(flaw: Flaw) -> CallbackStore<TestData> {
    let map = Map::default();
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
                return ready(Err(narvik_core::Error::DuplicateSessionId(s.id)));
            }
            map.insert(s.id, s);
            ready(Ok(()))
        },
        move |id| {
            let mut found = b.lock().expect("lock").get(&id).cloned();
            if let (Flaw::FetchForgetsData, Some(s)) = (flaw, &mut found) {
                s.data = TestData::default();
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
                        Session {
                            id,
                            user_id: String::new(),
                            created_at: expires_at,
                            expires_at,
                            data: TestData::default(),
                        },
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
            map.retain(|_, s| s.user_id != user);
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
        if flaw == Flaw::PurgeUsesStrictBoundary {
            map.retain(|_, s| s.expires_at >= now);
        } else {
            map.retain(|_, s| s.expires_at > now);
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
        Box::pin(cases::duplicate_id_is_refused_and_nothing_is_overwritten(s))
    });
}

#[test]
#[should_panic(expected = "created a session")]
fn an_upserting_update_fails() {
    run(Flaw::UpdateUpserts, |s| {
        Box::pin(cases::update_expiry_of_a_missing_session_creates_nothing(s))
    });
}

#[test]
#[should_panic(expected = "another user lost a session")]
fn a_delete_for_user_that_deletes_everyone_fails() {
    run(Flaw::DeleteForUserDeletesEveryone, |s| {
        Box::pin(cases::delete_for_user_touches_only_that_user(s))
    });
}

#[test]
#[should_panic(expected = "count exactly")]
fn a_purge_that_spares_the_boundary_fails() {
    run(Flaw::PurgeUsesStrictBoundary, |s| {
        Box::pin(cases::purge_removes_only_expired_and_counts_them(s))
    });
}

#[test]
#[should_panic(expected = "differs from the saved one")]
fn a_store_that_loses_data_fails() {
    run(Flaw::FetchForgetsData, |s| {
        Box::pin(cases::save_then_fetch_round_trips_typed_data(s))
    });
}

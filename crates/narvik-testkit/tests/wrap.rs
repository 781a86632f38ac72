//! [`Wrapped`]'s lookup without waiting: forwarded to the inner store
//! through the same steps as the waiting lookup (count, fault, hooks).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use narvik_core::store::MemoryStore;
use narvik_core::{Error, ManualClock, Narvik, Timestamp, Token};
use narvik_testkit::wrap::{INJECTED_FAILURE, Op, Reply, Wrapped};

type Store = Wrapped<MemoryStore>;

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn signed_in(store: &Store) -> (Narvik<Store>, ManualClock, Token) {
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let narvik = Narvik::new(store.clone()).with_clock(clock.clone());
    let created = block_on(narvik.create_session("ada", ())).expect("create");
    (narvik, clock, created.token)
}

#[test]
fn a_lookup_at_once_reaches_the_inner_store_and_is_counted() {
    let store = Store::default();
    let (narvik, _, token) = signed_in(&store);
    let valid = narvik.validate_session_now(token.as_str());
    assert!(matches!(valid, Some(Ok(Some(_)))), "{valid:?}");
    assert_eq!(store.calls(Op::FetchSession), 1);
    assert_eq!(store.answered_at_once(), 1);
}

#[test]
fn a_fetch_fault_fails_the_lookup_at_once_too() {
    let store = Store::default();
    let (narvik, _, token) = signed_in(&store);
    store.fail_next(Op::FetchSession, 1);
    let Some(Err(Error::Store { source, .. })) = narvik.validate_session_now(token.as_str()) else {
        panic!("an injected fetch failure must be an error at once");
    };
    assert!(source.to_string().contains(INJECTED_FAILURE), "{source}");
    // The fault is used up, as a waiting lookup would use it.
    assert!(matches!(
        narvik.validate_session_now(token.as_str()),
        Some(Ok(Some(_)))
    ));
    assert_eq!(store.calls(Op::FetchSession), 2);

    store.fail(Op::FetchSession);
    for _ in 0..2 {
        assert!(matches!(
            narvik.validate_session_now(token.as_str()),
            Some(Err(Error::Store { .. }))
        ));
    }
    store.recover(Op::FetchSession);
    assert!(matches!(
        narvik.validate_session_now(token.as_str()),
        Some(Ok(Some(_)))
    ));
}

#[test]
fn a_fault_on_another_operation_leaves_the_lookup_alone() {
    let store = Store::default();
    let (narvik, _, token) = signed_in(&store);
    store.fail(Op::UpdateSession).fail(Op::DeleteSession);
    assert!(matches!(
        narvik.validate_session_now(token.as_str()),
        Some(Ok(Some(_)))
    ));
}

#[test]
fn a_before_hook_sends_the_lookup_to_the_waiting_path_where_it_runs() {
    let store = Store::default();
    let (narvik, _, token) = signed_in(&store);
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    store.before(Op::FetchSession, move |_, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    });
    assert!(narvik.validate_session_now(token.as_str()).is_none());
    assert_eq!(
        store.calls(Op::FetchSession),
        0,
        "not answered, not counted"
    );
    assert!(
        block_on(narvik.validate_session(token.as_str()))
            .expect("no error")
            .is_some()
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(store.calls(Op::FetchSession), 1);
    assert_eq!(store.answered_at_once(), 0);
}

#[test]
fn an_after_hook_sees_and_may_replace_the_answer_at_once() {
    let store = Store::default();
    let (narvik, _, token) = signed_in(&store);
    let theirs = block_on(narvik.create_session("them", ()))
        .expect("create")
        .session;
    store.after(Op::FetchSession, move |_, reply| {
        if let Reply::Session(answer) = reply {
            *answer = Ok(Some(theirs.clone()));
        }
    });
    assert!(
        matches!(narvik.validate_session_now(token.as_str()), Some(Err(_))),
        "someone else's session must not get anyone in"
    );
}

#[test]
fn answering_at_once_can_be_turned_off_for_every_clone() {
    let store = Store::default().answering_at_once(false);
    let (narvik, _, token) = signed_in(&store);
    store.fail(Op::FetchSession);
    assert!(narvik.validate_session_now(token.as_str()).is_none());
    assert_eq!(store.calls(Op::FetchSession), 0);
    assert!(block_on(narvik.validate_session(token.as_str())).is_err());
    assert_eq!(store.calls(Op::FetchSession), 1);
    assert_eq!(store.answered_at_once(), 0);
}

#[test]
fn an_inner_store_that_cannot_answer_at_once_is_not_counted_twice() {
    let inner = Store::default().answering_at_once(false);
    let store = Wrapped::new(inner.clone());
    let narvik = Narvik::new(store.clone());
    let token = block_on(narvik.create_session("ada", ()))
        .expect("create")
        .token;
    assert!(narvik.validate_session_now(token.as_str()).is_none());
    assert!(
        block_on(narvik.validate_session(token.as_str()))
            .expect("no error")
            .is_some()
    );
    assert_eq!(store.calls(Op::FetchSession), 1);
    assert_eq!(inner.calls(Op::FetchSession), 1);
}

#[test]
fn a_validation_that_writes_looks_up_at_once_then_again_while_waiting() {
    let store = Store::default();
    let (narvik, clock, token) = signed_in(&store);
    clock.advance(narvik.config().session_length() / 2 + Duration::from_millis(1));
    assert!(narvik.validate_session_now(token.as_str()).is_none());
    let valid = block_on(narvik.validate_session(token.as_str()))
        .expect("no error")
        .expect("valid");
    assert!(valid.extended);
    assert_eq!(store.calls(Op::FetchSession), 2);
    assert_eq!(store.answered_at_once(), 1);
    assert_eq!(store.calls(Op::UpdateSession), 1);
}

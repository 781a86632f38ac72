//! The race behind
//! [`rotation_under_64_concurrent_validates_of_the_old_token`](super::lifecycle::rotation_under_64_concurrent_validates_of_the_old_token):
//! 64 tasks validate a session's old token again and again while it
//! rotates, each answer stamped with when its call started and returned.
//!
//! A browser has requests in flight with the old cookie while the
//! rotation's response sets the new one. What must hold:
//!
//! - no answer is [`Validation::Invalid`]: an integration clears the
//!   cookie on it, and would clear the new one;
//! - the session never vanishes and comes back: once a task has seen
//!   [`Validation::Rotated`], it never sees the session again, and no call
//!   that starts after any call answered Rotated finds the session;
//! - no call that starts after the rotation returned finds the session.
//!
//! The clock sits past the session's half-life, so the first validations
//! also extend it: extensions race the marking of the old session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use narvik_core::{ManualClock, ROTATED_MARKER_TTL, Validation};

use super::{data, manager, now, unique_user, yielding};
use crate::TestSessionStore;
use crate::wrap::Op;

/// Tasks validating the old token at once.
const TASKS: usize = 64;
/// Validations (all tasks together) before the rotation starts.
const BEFORE: usize = 2 * TASKS;
/// Validations each task makes that start after the rotation returned.
const AFTER: usize = 4;

/// One answer: when its call started and returned (nanoseconds since the
/// race began) and what it was.
#[derive(Debug, Clone, Copy)]
struct Answer {
    started: u64,
    returned: u64,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Rotated,
    Invalid,
}

/// Nanoseconds since `start`, never 0 (0 means "not yet").
fn stamp(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The case: see the [module docs](self).
pub(super) async fn race<S: TestSessionStore>(store: S) {
    let clock = ManualClock::new(now());
    // Validations run between the rotation's steps (and between their
    // own lookup and extension).
    let ops = [Op::FetchSession, Op::SaveSession, Op::UpdateSession];
    let narvik = Arc::new(manager(yielding(store, &ops), &clock));
    let old = narvik
        .create_session(unique_user("rotate-race"), data("r"))
        .await
        .expect("create");
    clock.advance(narvik.config().session_length() / 2 + Duration::from_millis(1));
    let start = Instant::now();
    let rotated = Arc::new(AtomicU64::new(0));
    let validations = Arc::new(AtomicUsize::new(0));
    let token = Arc::new(old.token.clone());
    let old_id = old.session.id;

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (narvik, token) = (Arc::clone(&narvik), Arc::clone(&token));
            let (rotated, validations) = (Arc::clone(&rotated), Arc::clone(&validations));
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut after = 0;
                while after < AFTER {
                    let started = stamp(start);
                    let rotation_returned = rotated.load(Ordering::SeqCst);
                    let answer = narvik
                        .validate(token.as_str())
                        .await
                        .unwrap_or_else(|e| panic!("validate failed: {e:?}"));
                    let kind = match answer {
                        Validation::Valid(valid) => {
                            assert_eq!(
                                valid.session.id, old_id,
                                "validate returned another session"
                            );
                            Kind::Valid
                        }
                        Validation::Rotated => Kind::Rotated,
                        Validation::Invalid => Kind::Invalid,
                    };
                    answers.push(Answer {
                        started,
                        returned: stamp(start),
                        kind,
                    });
                    validations.fetch_add(1, Ordering::SeqCst);
                    if rotation_returned != 0 {
                        after += 1;
                    }
                    tokio::task::yield_now().await;
                }
                answers
            })
        })
        .collect();

    while validations.load(Ordering::SeqCst) < BEFORE {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let new = narvik
        .rotate_session(&old_id)
        .await
        .expect("rotate_session")
        .expect("a live session must rotate");
    let rotation_returned = stamp(start);
    rotated.store(rotation_returned, Ordering::SeqCst);

    let mut per_task = Vec::with_capacity(TASKS);
    for task in tasks {
        per_task.push(task.await.expect("validating task panicked"));
    }
    let broken = broken_rules(&per_task, rotation_returned);
    assert!(
        broken.is_empty(),
        "old-token validations racing a rotation broke its rules: {broken:?}"
    );

    assert!(
        matches!(
            narvik.validate(new.token.as_str()).await.expect("validate"),
            Validation::Valid(_)
        ),
        "the rotated token does not validate"
    );
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Rotated
    );
    clock.advance(ROTATED_MARKER_TTL);
    assert_eq!(
        narvik.validate(old.token.as_str()).await.expect("validate"),
        Validation::Invalid,
        "the old token must be invalid once the marker's time has passed"
    );
    assert!(
        matches!(
            narvik.validate(new.token.as_str()).await.expect("validate"),
            Validation::Valid(_)
        ),
        "the rotated token stopped validating"
    );
}

/// The rules of the [module docs](self) that `per_task`'s answers broke,
/// given when the rotation returned.
fn broken_rules(per_task: &[Vec<Answer>], rotation_returned: u64) -> Vec<String> {
    let all: Vec<Answer> = per_task.iter().flatten().copied().collect();
    let count = |rule: &dyn Fn(&Answer) -> bool| all.iter().filter(|a| rule(a)).count();
    let mut broken = Vec::new();
    let invalid = count(&|a| a.kind == Kind::Invalid);
    if invalid > 0 {
        broken.push(format!(
            "{invalid} answered Invalid (the browser's new cookie would be cleared), not Rotated"
        ));
    }
    let late = count(&|a| a.kind == Kind::Valid && a.started > rotation_returned);
    if late > 0 {
        broken.push(format!(
            "{late} started after the rotation returned and found the old session"
        ));
    }
    let back = per_task
        .iter()
        .filter(|answers| {
            answers
                .iter()
                .skip_while(|a| a.kind != Kind::Rotated)
                .any(|a| a.kind == Kind::Valid)
        })
        .count();
    if back > 0 {
        broken.push(format!(
            "{back} tasks saw the session again after they had seen the rotation marker"
        ));
    }
    match all
        .iter()
        .filter(|a| a.kind == Kind::Rotated)
        .map(|a| a.returned)
        .min()
    {
        Some(first) => {
            let reappeared = count(&|a| a.kind == Kind::Valid && a.started > first);
            if reappeared > 0 {
                broken.push(format!(
                    "{reappeared} started after another had answered Rotated and found the session"
                ));
            }
        }
        None => broken.push("none answered Rotated".to_owned()),
    }
    if count(&|a| a.kind == Kind::Valid) == 0 {
        broken.push("none found the session before the rotation".to_owned());
    }
    broken
}

//! Validation without waiting agrees with validation that waits: two
//! managers on one clock, one validating as `validate_session` does, the
//! other as a layer does (`validate_session_now`, and `validate_session`
//! only when that answers `None`), walk a session through its life and
//! must answer, write and delete alike at every step.

use std::time::Duration;

use narvik_core::store::MemoryStore;
use narvik_core::{Config, Error, ManualClock, Narvik, Timestamp, Token, ValidSession};
use narvik_testkit::wrap::{Op, Wrapped};

type Store = Wrapped<MemoryStore>;

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

struct Side {
    narvik: Narvik<Store>,
    store: Store,
    token: Token,
}

impl Side {
    fn new(config: Config, clock: &ManualClock) -> Self {
        let store = Store::default();
        let narvik = Narvik::with_config(store.clone(), config).with_clock(clock.clone());
        let token = block_on(narvik.create_session("ada", ()))
            .expect("create")
            .token;
        Self {
            narvik,
            store,
            token,
        }
    }

    /// What a validation answered and wrote, comparable across managers
    /// (the session ids differ).
    fn seen(
        &self,
        answer: Result<Option<ValidSession>, Error>,
    ) -> (Option<(Timestamp, Timestamp, bool)>, usize, usize, usize) {
        let answer = answer.expect("no store error");
        (
            answer.map(|v| (v.session.created_at, v.session.expires_at, v.extended)),
            self.store.calls(Op::UpdateSession),
            self.store.calls(Op::DeleteSession),
            self.store.inner().len(),
        )
    }
}

/// Walks both managers through `steps` (how far the clock moves before
/// each validation) and compares them after each one.
fn agree(config: &Config, steps: &[Duration]) {
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let waits = Side::new(config.clone(), &clock);
    let layer = Side::new(config.clone(), &clock);
    for (i, &step) in steps.iter().enumerate() {
        clock.advance(step);
        let expected = waits.seen(block_on(
            waits.narvik.validate_session(waits.token.as_str()),
        ));
        let token = layer.token.as_str();
        let answer = match layer.narvik.validate_session_now(token) {
            Some(answer) => {
                let writes =
                    layer.store.calls(Op::UpdateSession) + layer.store.calls(Op::DeleteSession);
                assert_eq!(
                    writes,
                    expected.1 + expected.2,
                    "step {i}: an answer at once never writes, so the waiting side must not have"
                );
                answer
            }
            None => block_on(layer.narvik.validate_session(token)),
        };
        assert_eq!(layer.seen(answer), expected, "step {i} (+{step:?})");
    }
}

#[test]
fn through_a_sliding_session_s_life() {
    let config = Config::default();
    let length = config.session_length();
    let half = length / 2;
    agree(
        &config,
        &[
            Duration::ZERO,
            // Just before and at the point of extension (half left).
            half - MS,
            MS,
            // More than half left again after the extension.
            MS,
            DAY,
            // Due with a millisecond left: extended again.
            length - DAY - 2 * MS,
            // Expired to the millisecond: deleted; then gone.
            length,
            Duration::ZERO,
        ],
    );
}

#[test]
fn through_a_capped_session_s_life() {
    let config = Config::builder()
        .session_length(24 * HOUR)
        .absolute_lifetime(30 * HOUR)
        .build()
        .expect("config");
    agree(
        &config,
        &[
            // 13 h: extended, but only to the cap at 30 h.
            13 * HOUR,
            // At the cap the expiry cannot move: no write, whichever path.
            4 * HOUR,
            12 * HOUR,
            // Just before the cap, then at it.
            HOUR - MS,
            MS,
        ],
    );
}

#[test]
fn with_a_cap_shorter_than_the_sliding_expiry() {
    let config = Config::builder()
        .session_length(24 * HOUR)
        .absolute_lifetime(6 * HOUR)
        .build()
        .expect("config");
    agree(&config, &[HOUR, 5 * HOUR - MS, MS]);
}

#[test]
fn for_tokens_that_stand_for_no_session() {
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let side = Side::new(Config::default(), &clock);
    let unknown = Token::generate().expect("os rng");
    for token in [
        unknown.as_str(),
        "",
        "not-a-token",
        &side.token.as_str().to_uppercase(),
        &side.token.as_str()[1..],
    ] {
        let now = side.narvik.validate_session_now(token);
        let waited = block_on(side.narvik.validate_session(token));
        assert!(matches!(now, Some(Ok(None))), "{token:?}: {now:?}");
        assert!(matches!(waited, Ok(None)), "{token:?}");
    }
    assert_eq!(
        side.store.calls(Op::FetchSession),
        2,
        "only the well-formed unknown token reaches the store, once per validation"
    );
}

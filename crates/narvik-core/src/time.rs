//! Time: millisecond timestamps and the injectable clock.
//!
//! Narvik works in JavaScript `Date`s, which are milliseconds since the Unix
//! epoch; so does narvik, so that expiry decisions agree to the millisecond
//! with a TypeScript service reading the same rows.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// The one time type in narvik's API. It converts to and from
/// [`SystemTime`]; SQL stores write it at millisecond precision.
///
/// ```
/// use std::time::Duration;
/// use narvik_core::Timestamp;
///
/// let t = Timestamp::from_unix_millis(1_000);
/// assert_eq!((t + Duration::from_millis(500)).as_unix_millis(), 1_500);
/// assert_eq!(t.saturating_duration_since(Timestamp::from_unix_millis(400)), Duration::from_millis(600));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The current wall-clock time, from [`SystemTime::now`].
    #[must_use]
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// From milliseconds since the Unix epoch (negative is before it).
    #[must_use]
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// The time `duration` after this one, saturating at the far future.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(duration)))
    }

    /// The time `duration` before this one, saturating at the far past.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(duration)))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map(Duration::from_millis)
            .unwrap_or(Duration::ZERO)
    }

    /// As a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

/// Whole milliseconds in a duration, saturating at `i64::MAX`.
pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl From<SystemTime> for Timestamp {
    /// Truncates to the millisecond (towards the past).
    fn from(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(duration_millis(after)),
            Err(before) => {
                let d = before.duration();
                let whole = duration_millis(d);
                // Round towards the past so that truncation never moves an
                // instant later than it was.
                let extra = i64::from(d.subsec_nanos() % 1_000_000 != 0);
                Self(whole.saturating_add(extra).saturating_neg())
            }
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        time.to_system_time()
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        self.saturating_add(rhs)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;

    fn sub(self, rhs: Duration) -> Self {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}ms)", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Where narvik reads the current time.
///
/// The default is [`SystemClock`]. Tests use [`ManualClock`] to move time
/// without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use narvik_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_unix_millis(0));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(clock.now().as_unix_millis(), 1_000);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.as_unix_millis())))
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.0.store(now.as_unix_millis(), Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let by = duration_millis(by);
        // fetch_update never fails when the closure always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_round_trip_keeps_milliseconds() {
        let t = Timestamp::from_unix_millis(1_764_000_000_123);
        assert_eq!(Timestamp::from(t.to_system_time()), t);
        let before = Timestamp::from_unix_millis(-1_500);
        assert_eq!(Timestamp::from(before.to_system_time()), before);
    }

    #[test]
    fn conversion_from_system_time_truncates_towards_the_past() {
        let t = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(Timestamp::from(t).as_unix_millis(), -2);
        let t = UNIX_EPOCH + Duration::from_micros(1_500);
        assert_eq!(Timestamp::from(t).as_unix_millis(), 1);
    }

    #[test]
    fn arithmetic_saturates() {
        let max = Timestamp::from_unix_millis(i64::MAX);
        assert_eq!(max + Duration::from_secs(1), max);
        assert_eq!(
            Timestamp::from_unix_millis(5)
                .saturating_duration_since(Timestamp::from_unix_millis(9)),
            Duration::ZERO
        );
        let far_past = Timestamp::from_unix_millis(i64::MIN);
        assert_eq!(
            Timestamp::from_unix_millis(1_500).saturating_duration_since(far_past),
            Duration::from_millis(u64::try_from(i64::MAX).expect("positive")),
            "saturates instead of overflowing"
        );
    }

    #[test]
    fn duration_since_an_earlier_time_is_the_difference() {
        let t = Timestamp::from_unix_millis(1_000);
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_unix_millis(400)),
            Duration::from_millis(600)
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_unix_millis(-1)),
            Duration::from_millis(1_001)
        );
        assert_eq!(t.saturating_duration_since(t), Duration::ZERO);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let other = clock.clone();
        clock.advance(Duration::from_millis(7));
        assert_eq!(other.now().as_unix_millis(), 7);
        other.set(Timestamp::from_unix_millis(3));
        assert_eq!(clock.now().as_unix_millis(), 3);
    }
}

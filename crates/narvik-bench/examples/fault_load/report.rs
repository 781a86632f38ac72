//! One fault's figures, from the records of its phase, and the markdown
//! table of them all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::client::Outcome;
use crate::load::{Check, Record, Recovery};

/// One row of the table.
pub(crate) struct Row {
    pub(crate) backend: &'static str,
    pub(crate) fault: String,
    /// From the fault's start to its end (the server back, the link
    /// normal again).
    pub(crate) window: Duration,
    /// Requests in flight at some time in the window.
    pub(crate) in_window: usize,
    /// Of those, answered with an HTTP status.
    pub(crate) answered: usize,
    pub(crate) errors_in_window: usize,
    /// 5xx of requests started after the window.
    pub(crate) errors_after: usize,
    /// Requests from the fault's start on with no answer (connection
    /// failed, or the client's timeout).
    pub(crate) no_answer: usize,
    /// The longest page read in flight from the fault's start on.
    pub(crate) slowest: Duration,
    /// The longest sign-in (which also reads the account) likewise.
    pub(crate) slowest_sign_in: Duration,
    /// 401s, redirects to sign-in or cleared cookies for valid sessions,
    /// valid credentials refused, other users' pages: over the whole
    /// phase (before, during and after the fault).
    pub(crate) defects: usize,
    /// Statuses neither OK, 5xx nor a sign-out, by status.
    pub(crate) unexpected: BTreeMap<u16, usize>,
    /// Requests that failed and ended before the fault (should be none).
    pub(crate) failed_before: usize,
    pub(crate) panics: u64,
    /// From the end of the fault to the first OK answer to a request
    /// started after it.
    pub(crate) first_ok: Option<Duration>,
    /// From the end of the fault to the end of the last failed request:
    /// every request after it succeeded.
    pub(crate) recovered: Duration,
    pub(crate) recovery: Recovery,
    /// Sessions made before the fault, checked after it.
    pub(crate) sessions: usize,
    pub(crate) check: Check,
    /// What the injection said (e.g. how many backends it terminated).
    pub(crate) note: String,
}

/// The phase's times, since the run's epoch.
pub(crate) struct Phase {
    pub(crate) start: Duration,
    pub(crate) end: Duration,
}

impl Row {
    /// Figures from `records` of a phase whose fault spanned `phase`.
    #[allow(clippy::too_many_arguments, reason = "one call site that names each")]
    pub(crate) fn new(
        backend: &'static str,
        fault: String,
        phase: &Phase,
        records: &[Record],
        recovery: Recovery,
        panics: u64,
        sessions: usize,
        check: Check,
        note: String,
    ) -> Self {
        let Phase { start, end } = *phase;
        let window: Vec<&Record> = records
            .iter()
            .filter(|r| r.start <= end && r.end >= start)
            .collect();
        let from_fault = || records.iter().filter(|r| r.end >= start);
        let mut unexpected = BTreeMap::new();
        for r in records {
            if let Outcome::Unexpected(status) = r.outcome {
                *unexpected.entry(status).or_insert(0) += 1;
            }
        }
        Self {
            backend,
            fault,
            window: end.saturating_sub(start),
            in_window: window.len(),
            answered: window
                .iter()
                .filter(|r| r.outcome != Outcome::NoAnswer)
                .count(),
            errors_in_window: window
                .iter()
                .filter(|r| r.outcome == Outcome::ServerError)
                .count(),
            errors_after: records
                .iter()
                .filter(|r| r.start > end && r.outcome == Outcome::ServerError)
                .count(),
            no_answer: from_fault()
                .filter(|r| r.outcome == Outcome::NoAnswer)
                .count(),
            slowest: from_fault()
                .filter(|r| !r.sign_in)
                .map(|r| r.end - r.start)
                .max()
                .unwrap_or_default(),
            slowest_sign_in: from_fault()
                .filter(|r| r.sign_in)
                .map(|r| r.end - r.start)
                .max()
                .unwrap_or_default(),
            defects: records.iter().filter(|r| r.outcome.is_defect()).count(),
            unexpected,
            failed_before: records
                .iter()
                .filter(|r| r.end < start && r.outcome != Outcome::Ok)
                .count(),
            panics,
            first_ok: records
                .iter()
                .filter(|r| r.start >= end && r.outcome == Outcome::Ok)
                .map(|r| r.end - end)
                .min(),
            recovered: from_fault()
                .filter(|r| r.outcome != Outcome::Ok && r.end > end)
                .map(|r| r.end - end)
                .max()
                .unwrap_or_default(),
            recovery,
            sessions,
            check,
            note,
        }
    }

    /// True if a figure that must be zero is not.
    pub(crate) fn has_defect(&self) -> bool {
        self.defects > 0 || self.panics > 0 || !self.check.lost.is_empty()
    }
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Names with how often each appears: `a`, `b (×3)`.
fn named(names: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|(name, n)| {
            if n == 1 {
                name.to_owned()
            } else {
                format!("{name} (×{n})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The markdown table of `rows`, and the notes under it.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| backend | fault | window | requests in window | answered | 5xx in window | 5xx after | no answer | slowest read / sign-in | 401 / signed out | panics | first OK after end | full recovery | sessions kept | lost |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let recovered = match r.recovery {
            Recovery::Recovered => secs(r.recovered),
            Recovery::NotWithin(within) => format!("not within {}", secs(within)),
        };
        let lost = if r.check.lost.is_empty() {
            "0".to_owned()
        } else {
            format!("{}: {}", r.check.lost.len(), named(&r.check.lost))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {}/{} | {} |",
            r.backend,
            r.fault,
            secs(r.window),
            r.in_window,
            r.answered,
            r.errors_in_window,
            r.errors_after,
            r.no_answer,
            secs(r.slowest),
            secs(r.slowest_sign_in),
            r.defects,
            r.panics,
            r.first_ok.map_or_else(|| "none".to_owned(), secs),
            recovered,
            r.check.kept,
            r.sessions,
            lost,
        );
    }
    let mut notes = String::new();
    for r in rows {
        let mut said = Vec::new();
        if !r.note.is_empty() {
            said.push(r.note.clone());
        }
        if !r.unexpected.is_empty() {
            let statuses: Vec<String> = r
                .unexpected
                .iter()
                .map(|(s, n)| format!("{n}× {s}"))
                .collect();
            said.push(format!("other statuses: {}", statuses.join(", ")));
        }
        if r.failed_before > 0 {
            said.push(format!(
                "{} requests failed before the fault",
                r.failed_before
            ));
        }
        if !r.check.unchecked.is_empty() {
            said.push(format!(
                "{} sessions still failing at the check (no verdict): {}",
                r.check.unchecked.len(),
                named(&r.check.unchecked)
            ));
        }
        if !said.is_empty() {
            let _ = writeln!(notes, "- {} {}: {}.", r.backend, r.fault, said.join("; "));
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

/// Requests by the second they ended in, from a second before the fault
/// on (`+0` is the fault's start): `second: OK/5xx/other`, for reading
/// how a fault went.
pub(crate) fn timeline(phase: &Phase, records: &[Record]) -> String {
    let mut seconds: BTreeMap<i64, [usize; 3]> = BTreeMap::new();
    for r in records {
        let at = r.end.as_secs_f64() - phase.start.as_secs_f64();
        if at < -1.0 {
            continue;
        }
        #[allow(clippy::cast_possible_truncation, reason = "seconds of one phase")]
        let second = at.floor() as i64;
        let counts = seconds.entry(second).or_default();
        let slot = match r.outcome {
            Outcome::Ok => 0,
            Outcome::ServerError => 1,
            _ => 2,
        };
        if let Some(c) = counts.get_mut(slot) {
            *c += 1;
        }
    }
    seconds
        .iter()
        .map(|(s, [ok, err, other])| format!("{s:+}: {ok}/{err}/{other}"))
        .collect::<Vec<_>>()
        .join("  ")
}

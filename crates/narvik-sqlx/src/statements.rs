//! Every statement a store runs, written once and spelled by its dialect.
//!
//! Each statement binds its parameters in the order they appear in its
//! text, the same order in every dialect (MySQL's `?` allows no other).
//! Where the dialect limits a statement in its text, the session calls'
//! statements carry the call bound and the purge the purge bound.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::TableName;
use crate::bound::Timeouts;
use crate::dialect::Dialect;

/// The columns a session has beside Narvik's (schema version 2), in the
/// order the statements name them.
const LIFECYCLE: &str = "length_ms, persistent, last_active_at, reauthenticated_at, rotated_at";

/// The statements for one table and bounds, built once per store. `SqlStr` clones
/// share the text, and sqlx caches each connection's prepared statement
/// by it.
#[derive(Debug)]
pub struct Statements {
    /// (id, user id, created at, expires at, data, length ms, persistent,
    /// last active at, reauthenticated at, rotated at)
    pub(crate) insert: SqlStr,
    /// (id) → user_id, created_at, expires_at, data and the lifecycle's
    /// columns
    pub(crate) fetch: SqlStr,
    /// The dialect's batched lookups → id and what `fetch` selects
    pub(crate) fetch_many: Vec<SqlStr>,
    /// (expires at, last active at, reauthenticated at, rotated at, data,
    /// id), each but the id NULL to leave its column as it is
    pub(crate) update: SqlStr,
    /// (id)
    pub(crate) delete: SqlStr,
    /// (user id) → id, created_at, expires_at, data and the lifecycle's
    /// columns
    pub(crate) fetch_for_user: SqlStr,
    /// (user id)
    pub(crate) delete_for_user: SqlStr,
    /// (user id, id to keep)
    pub(crate) delete_others: SqlStr,
    /// (now, rotation marker cutoff, batch size)
    pub(crate) purge: SqlStr,
}

impl Statements {
    pub(crate) fn new<DB: Dialect>(table: &TableName, timeouts: &Timeouts) -> Self {
        let t = DB::quote(table.as_str());
        let (p, id) = (DB::param, DB::id_param);
        let (id_col, data_col) = (DB::text_column("id"), DB::text_column("data"));
        let limited = |s: String, after| {
            AssertSqlSafe(Arc::<str>::from(DB::limit_statement(s, after))).into_sql_str()
        };
        let sql = |s: String| limited(s, timeouts.call);
        Self {
            insert: sql(format!(
                "INSERT INTO {t} (id, user_id, created_at, expires_at, data, {LIFECYCLE}) \
                 VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                id(1),
                p(2),
                p(3),
                p(4),
                DB::data_param(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(10)
            )),
            fetch: sql(format!(
                "SELECT user_id, created_at, expires_at, {data_col}, {LIFECYCLE} \
                 FROM {t} WHERE id = {}",
                id(1)
            )),
            fetch_many: DB::batch_lookups(
                &t,
                &format!("{id_col}, user_id, created_at, expires_at, {data_col}, {LIFECYCLE}"),
            )
            .into_iter()
            .map(sql)
            .collect(),
            // One statement whatever the update holds, so each connection
            // prepares it once: a NULL parameter keeps its column.
            update: sql(format!(
                "UPDATE {t} SET expires_at = COALESCE({}, expires_at), \
                 last_active_at = COALESCE({}, last_active_at), \
                 reauthenticated_at = COALESCE({}, reauthenticated_at), \
                 rotated_at = COALESCE({}, rotated_at), \
                 data = COALESCE({}, data) WHERE id = {}",
                p(1),
                p(2),
                p(3),
                p(4),
                DB::data_param(5),
                id(6)
            )),
            delete: sql(format!("DELETE FROM {t} WHERE id = {}", id(1))),
            fetch_for_user: sql(format!(
                "SELECT {id_col}, created_at, expires_at, {data_col}, {LIFECYCLE} \
                 FROM {t} WHERE user_id = {}",
                p(1)
            )),
            delete_for_user: sql(format!("DELETE FROM {t} WHERE user_id = {}", p(1))),
            delete_others: sql(format!(
                "DELETE FROM {t} WHERE user_id = {} AND id <> {}",
                p(1),
                id(2)
            )),
            purge: limited(DB::purge(&t), timeouts.purge),
        }
    }
}

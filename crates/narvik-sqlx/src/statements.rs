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

/// The statements for one table and bounds, built once per store. `SqlStr` clones
/// share the text, and sqlx caches each connection's prepared statement
/// by it.
#[derive(Debug)]
pub struct Statements {
    /// (id, user id, created at, expires at, data)
    pub(crate) insert: SqlStr,
    /// (id) → user_id, created_at, expires_at, data
    pub(crate) fetch: SqlStr,
    /// The dialect's batched lookups → id, user_id, created_at,
    /// expires_at, data
    pub(crate) fetch_many: Vec<SqlStr>,
    /// (expires at, id)
    pub(crate) update_expiry: SqlStr,
    /// (id)
    pub(crate) delete: SqlStr,
    /// (user id) → id, created_at, expires_at, data
    pub(crate) fetch_for_user: SqlStr,
    /// (user id)
    pub(crate) delete_for_user: SqlStr,
    /// (user id, id to keep)
    pub(crate) delete_others: SqlStr,
    /// (now, batch size)
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
                "INSERT INTO {t} (id, user_id, created_at, expires_at, data) \
                 VALUES ({}, {}, {}, {}, {})",
                id(1),
                p(2),
                p(3),
                p(4),
                DB::data_param(5)
            )),
            fetch: sql(format!(
                "SELECT user_id, created_at, expires_at, {data_col} FROM {t} WHERE id = {}",
                id(1)
            )),
            fetch_many: DB::batch_lookups(
                &t,
                &format!("{id_col}, user_id, created_at, expires_at, {data_col}"),
            )
            .into_iter()
            .map(sql)
            .collect(),
            update_expiry: sql(format!(
                "UPDATE {t} SET expires_at = {} WHERE id = {}",
                p(1),
                id(2)
            )),
            delete: sql(format!("DELETE FROM {t} WHERE id = {}", id(1))),
            fetch_for_user: sql(format!(
                "SELECT {id_col}, created_at, expires_at, {data_col} FROM {t} WHERE user_id = {}",
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

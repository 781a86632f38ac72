//! What the stores need to coalesce their lookups with
//! [`narvik_coalesce`]: a connection wait that is safe to cancel, the
//! batch's rows paired with their ids, and the `IN (...)` lookup of the
//! dialects without arrays.

use std::future::Future;
use std::sync::Arc;

use narvik_core::{Error, SessionId};
use sqlx::pool::PoolConnection;

use crate::bound::Bound;
use crate::dialect::Dialect;

#[cfg(any(feature = "sqlite", feature = "mysql"))]
use crate::statements::Statements;

/// Lookups of a store's rows, failing with sqlx's error.
pub(crate) type Coalescer<R> = narvik_coalesce::Coalescer<SessionId, R, sqlx::Error>;

/// One session's row: with coalescing off (a batch size of 1), the
/// one-id statement `one` straight on the pool; else through `lookups`,
/// whose batches `batch` looks up on the connection it is given. Errors
/// are those of the call `bound` (which the caller runs it under).
pub(crate) async fn fetch_row<DB, F, FF>(
    pool: &sqlx::Pool<DB>,
    lookups: &Coalescer<DB::Row>,
    one: sqlx::SqlStr,
    id: SessionId,
    batch: F,
    bound: Bound,
) -> Result<Option<Arc<DB::Row>>, Error>
where
    DB: Dialect,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    F: Fn(PoolConnection<DB>, Vec<SessionId>) -> FF,
    FF: Future<Output = Result<Vec<(SessionId, DB::Row)>, sqlx::Error>>,
{
    if lookups.max_batch() == 1 {
        let mut hex = [0u8; 64];
        let row = sqlx::query(one)
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(pool)
            .await
            .map_err(|e| bound.error::<DB, _>(e))?;
        return Ok(row.map(Arc::new));
    }
    lookups
        .fetch(id, || acquire(pool), batch)
        .await
        .map_err(|e| bound.error::<DB, _>(e))
}

/// Gets a connection for [`Coalescer::fetch`] without letting a
/// cancelled wait abort a connection halfway open.
///
/// A waiting lookup stops waiting for a connection as soon as another
/// task answers it, which drops its `acquire`. While the pool is still
/// opening connections, that `acquire` may be the one opening a new
/// connection: dropped mid-handshake, the server has started a backend for
/// nothing and the pool stays small, so lookups queue on too few
/// connections (seen as half the throughput and ten times the p99 under
/// load). So while the pool is below its size, the wait runs in a task of
/// its own, which finishes opening the connection and hands it back to the
/// pool if nobody wants it any more. A full pool only hands out idle
/// connections, and that wait is safe to drop.
pub(crate) fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> impl Future<Output = Result<sqlx::pool::PoolConnection<DB>, sqlx::Error>> + Send + 'static {
    let pool = pool.clone();
    async move {
        if pool.size() >= pool.options().get_max_connections() {
            return pool.acquire().await;
        }
        let opening = tokio::spawn(pool.acquire());
        match opening.await {
            Ok(result) => result,
            Err(e) => Err(sqlx::Error::Io(std::io::Error::other(e))),
        }
    }
}

/// The rows of a batch lookup, each with its session id from the `id`
/// column.
pub(crate) fn keyed_rows<R>(rows: Vec<R>) -> Result<Vec<(SessionId, R)>, sqlx::Error>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let mut keyed = Vec::with_capacity(rows.len());
    for row in rows {
        let id: &str = row.try_get("id")?;
        // Only ids that were asked for come back, and those all parse.
        if let Ok(id) = crate::columns::decode_id(id) {
            keyed.push((id, row));
        }
    }
    Ok(keyed)
}

/// Batches up to `2^MAX_IN_LIST_BITS` ids share an `IN (...)` statement;
/// a larger batch (a lookup batch size above that) runs as several.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) const MAX_IN_LIST_BITS: u32 = 6;

/// The `IN (...)` lookups for the table `t`: `k` from 0 looks up
/// `2^(k+1)` ids. Batches are padded to a power of two, so each
/// connection prepares a handful of statements instead of one per batch
/// size.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn in_list_lookups(
    t: &str,
    columns: &str,
    param: impl Fn(usize) -> std::borrow::Cow<'static, str>,
) -> Vec<String> {
    (1..=MAX_IN_LIST_BITS)
        .map(|bits| {
            let marks: Vec<_> = (1..=1usize << bits).map(&param).collect();
            format!(
                "SELECT {columns} FROM {t} WHERE id IN ({})",
                marks.join(", ")
            )
        })
        .collect()
}

/// Looks up a batch of sessions on one connection with the statements of
/// [`in_list_lookups`]: the one-id statement for one id, else the smallest
/// `IN (...)` that fits each chunk, padded with its last id.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) async fn fetch_in_lists<DB>(
    sql: &Statements,
    mut conn: PoolConnection<DB>,
    ids: Vec<SessionId>,
) -> Result<Vec<(SessionId, DB::Row)>, sqlx::Error>
where
    DB: sqlx::Database<Arguments: sqlx::IntoArguments<DB>>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::ColumnIndex<DB::Row>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    if let [id] = ids[..] {
        let mut hex = [0u8; 64];
        let row = sqlx::query(sql.fetch.clone())
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(&mut *conn)
            .await?;
        return Ok(row.map(|row| (id, row)).into_iter().collect());
    }
    let mut buffers = vec![[0u8; 64]; ids.len()];
    let hex: Vec<&str> = ids
        .iter()
        .zip(&mut buffers)
        .map(|(id, buffer)| id.encode_hex(buffer))
        .collect();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in hex.chunks(1 << MAX_IN_LIST_BITS) {
        let bits = chunk.len().next_power_of_two().trailing_zeros().max(1);
        let mut query = sqlx::query(sql.fetch_many[(bits - 1) as usize].clone());
        for i in 0..1usize << bits {
            query = query.bind(chunk[i.min(chunk.len() - 1)]);
        }
        found.extend(keyed_rows(query.fetch_all(&mut *conn).await?)?);
    }
    Ok(found)
}

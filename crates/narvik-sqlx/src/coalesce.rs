//! What the PostgreSQL and MySQL stores need to coalesce their lookups
//! with [`narvik_coalesce`]: a connection wait that is safe to cancel, and
//! the batch's rows paired with their ids.

use std::future::Future;
use std::sync::Arc;

use narvik_core::{Error, SessionId};
use sqlx::pool::PoolConnection;

pub(crate) use narvik_coalesce::DEFAULT_MAX_BATCH;

/// Lookups of a store's rows, failing with sqlx's error.
pub(crate) type Coalescer<R> = narvik_coalesce::Coalescer<SessionId, R, sqlx::Error>;

/// One session's row: with coalescing off (a batch size of 1), the
/// one-id statement `one` straight on the pool; else through `lookups`,
/// whose batches `batch` looks up on the connection it is given.
pub(crate) async fn fetch_row<DB, F, FF>(
    pool: &sqlx::Pool<DB>,
    lookups: &Coalescer<DB::Row>,
    one: sqlx::SqlStr,
    id: SessionId,
    batch: F,
) -> Result<Option<Arc<DB::Row>>, Error>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    F: Fn(PoolConnection<DB>, Vec<SessionId>) -> FF,
    FF: Future<Output = Result<Vec<(SessionId, DB::Row)>, sqlx::Error>>,
{
    const CONTEXT: &str = "fetch session";
    if lookups.max_batch() == 1 {
        let mut hex = [0u8; 64];
        let row = sqlx::query(one)
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(pool)
            .await
            .map_err(|e| Error::store(CONTEXT, e))?;
        return Ok(row.map(Arc::new));
    }
    lookups
        .fetch(id, || acquire(pool), batch)
        .await
        .map_err(|e| Error::store(CONTEXT, e))
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

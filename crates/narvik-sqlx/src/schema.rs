//! The schema's versions, from the dialect's `sql/<db>/v<N>.sql` files,
//! and how `migrate()` brings a table to the latest one.
//!
//! Each file is written once, for the default table name, and is what
//! `migrate()` runs, what `migration_sql()` returns and what the module
//! docs show. Another table name replaces the default one wherever it
//! appears: in the files it only ever names the table and, as a prefix,
//! its indexes and its migrations table (`<table>_migrations`).
//!
//! Which version a table is at is read from the table itself: each
//! version adds a column that the earlier ones lack ([`MARKERS`]). So a
//! table the previous release's `migrate()` created (which kept no
//! record), or one a user's own migration tool brought up to date, is
//! recognised as what it is, and a migration that stopped between its
//! change and its record (MySQL's DDL commits as it goes) is not applied
//! twice. `<table>_migrations` records each version once applied, for
//! people and tools to read.

use std::fmt;

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, Row, Type};

use crate::TableName;
use crate::dialect::Dialect;

/// The schema version this release's `migrate()` brings a table to.
pub const SCHEMA_VERSION: u32 = 2;

/// A column each version adds, in version order: the table is at the
/// last version whose column it has (0: no table).
const MARKERS: [&str; SCHEMA_VERSION as usize] = ["id", "rotated_at"];

/// One version of the session table's schema, for one table name: the
/// statements that bring a table at the version before to this one.
///
/// [`SqlStore::migration_sql`](crate::SqlStore::migration_sql) lists them
/// from version 1, for users of their own migration tools; `migrate()`
/// applies the same statements.
///
/// - Version 1: the table and its indexes (the first release's schema).
/// - Version 2: the session lifecycle's columns (own length, persistent
///   or browser-session cookie, last activity, re-authentication,
///   rotation), each `NULL` or with a default, so that rows written by a
///   service that names only Narvik's columns read as plain sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    version: u32,
    statements: Vec<String>,
}

impl Migration {
    /// The version this migration brings the table to (from 1).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Its statements, without their `;`, in order.
    #[must_use]
    pub fn statements(&self) -> &[String] {
        &self.statements
    }

    /// Its statements as one script: each ended with `;` and a newline.
    #[must_use]
    pub fn sql(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for statement in &self.statements {
            writeln!(f, "{statement};")?;
        }
        Ok(())
    }
}

/// Every version's migration for `table`, from version 1.
pub(crate) fn migrations<DB: Dialect>(table: &TableName) -> Vec<Migration> {
    (1..)
        .zip(DB::VERSIONS)
        .map(|(version, schema)| Migration {
            version,
            statements: statements(schema, table),
        })
        .collect()
}

/// The statements of a schema file for `table`.
fn statements(schema: &str, table: &TableName) -> Vec<String> {
    split(schema)
        .map(|statement| statement.replace(TableName::DEFAULT, table.as_str()))
        .collect()
}

/// Everything a migration of `table` runs, each statement as the dialect
/// limits it to `after` in its text (where it does).
#[derive(Debug)]
pub struct Plan {
    /// Creates `<table>_migrations` if missing.
    ledger: Vec<String>,
    /// Lists the table's column names (none: no table), with its
    /// parameter.
    columns: (String, String),
    /// The versions recorded.
    recorded: String,
    /// (version) records a version.
    record: String,
    /// Forgets every version: the table is gone.
    forget: String,
    /// Every version's statements, from version 1.
    versions: Vec<Migration>,
}

impl Plan {
    pub(crate) fn new<DB: Dialect>(table: &TableName, after: std::time::Duration) -> Self {
        let limit = |s: String| DB::limit_statement(s, after);
        let ledger_name = format!("{table}_migrations");
        let ledger = DB::quote(&ledger_name);
        let (columns, param) = DB::column_names(table);
        Self {
            ledger: statements(DB::LEDGER, table)
                .into_iter()
                .map(limit)
                .collect(),
            columns: (limit(columns), param),
            recorded: limit(format!("SELECT version FROM {ledger}")),
            record: limit(format!(
                "INSERT INTO {ledger} (version) VALUES ({})",
                DB::param(1)
            )),
            forget: limit(format!("DELETE FROM {ledger}")),
            versions: migrations::<DB>(table)
                .into_iter()
                .map(|m| Migration {
                    statements: m.statements.into_iter().map(limit).collect(),
                    ..m
                })
                .collect(),
        }
    }
}

/// Brings the table to the latest version on `conn`: what each dialect's
/// migration does inside whatever lock (and transaction) it holds.
pub(crate) async fn apply<DB>(conn: &mut DB::Connection, plan: &Plan) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    run::<DB>(conn, &plan.ledger).await?;
    let rows = sqlx::query(AssertSqlSafe(plan.columns.0.as_str()))
        .bind(plan.columns.1.as_str())
        .fetch_all(&mut *conn)
        .await?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in &rows {
        columns.push(row.try_get::<&str, _>("name")?);
    }
    let present = MARKERS
        .iter()
        .take_while(|marker| columns.contains(marker))
        .count();
    let mut recorded = Vec::new();
    for row in sqlx::query(AssertSqlSafe(plan.recorded.as_str()))
        .fetch_all(&mut *conn)
        .await?
    {
        recorded.push(row.try_get::<i64, _>("version")?);
    }
    if present == 0 && !recorded.is_empty() {
        // The table was dropped since: its record goes with it.
        sqlx::raw_sql(AssertSqlSafe(plan.forget.as_str()))
            .execute(&mut *conn)
            .await?;
        recorded.clear();
    }
    for migration in &plan.versions[present..] {
        run::<DB>(conn, &migration.statements).await?;
    }
    for version in 1..=i64::from(SCHEMA_VERSION) {
        if !recorded.contains(&version) {
            sqlx::query(AssertSqlSafe(plan.record.as_str()))
                .bind(version)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Runs `statements` in turn on `conn`.
async fn run<DB>(conn: &mut DB::Connection, statements: &[String]) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The statements of a schema file, without their `;`. The files hold no
/// `;` except at the end of a statement (no string or comment has one).
fn split(schema: &str) -> impl Iterator<Item = &str> {
    schema
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Migrations = fn(&TableName) -> Vec<Migration>;

    /// Each dialect's schema files, its migrations and their statement
    /// counts per version.
    fn schemas() -> Vec<(
        &'static str,
        &'static [&'static str],
        Migrations,
        [usize; 2],
    )> {
        use crate::dialect::private::Sealed;
        vec![
            #[cfg(feature = "sqlite")]
            (
                "sqlite",
                sqlx::Sqlite::VERSIONS,
                migrations::<sqlx::Sqlite>,
                [3, 5],
            ),
            #[cfg(feature = "postgres")]
            (
                "postgres",
                sqlx::Postgres::VERSIONS,
                migrations::<sqlx::Postgres>,
                [3, 1],
            ),
            #[cfg(feature = "mysql")]
            (
                "mysql",
                sqlx::MySql::VERSIONS,
                migrations::<sqlx::MySql>,
                [1, 1],
            ),
        ]
    }

    #[test]
    fn each_version_splits_into_its_statements() {
        for (db, files, migrations, counts) in schemas() {
            assert_eq!(files.len(), SCHEMA_VERSION as usize, "{db}");
            let migrations = migrations(&TableName::default());
            let versions: Vec<u32> = migrations.iter().map(Migration::version).collect();
            assert_eq!(versions, [1, 2], "{db}");
            for (migration, count) in migrations.iter().zip(counts) {
                let statements = migration.statements();
                assert_eq!(statements.len(), count, "{db}: {statements:#?}");
                let verb = if migration.version() == 1 {
                    "CREATE "
                } else {
                    "ALTER TABLE "
                };
                for statement in statements {
                    assert!(statement.starts_with(verb), "{db}: {statement}");
                    assert!(!statement.ends_with(';'), "{db}: {statement}");
                }
            }
            // Each version adds the column that marks it.
            for (migration, marker) in migrations.iter().zip(MARKERS) {
                assert!(migration.sql().contains(marker), "{db}: {marker}");
            }
        }
    }

    #[test]
    fn another_table_name_replaces_every_default_one() {
        let table = TableName::new("order").expect("valid");
        for (db, _, migrations, _) in schemas() {
            let renamed: String = migrations(&table).iter().map(Migration::sql).collect();
            assert!(!renamed.contains(TableName::DEFAULT), "{db}: {renamed}");
            for name in ["order", "order_user_id_idx", "order_expires_at_idx"] {
                assert!(
                    renamed.contains(&format!("\"{name}\""))
                        || renamed.contains(&format!("`{name}`")),
                    "{db}: {name} missing from {renamed}"
                );
            }
        }
    }

    #[test]
    fn a_migration_script_is_its_statements_each_ended() {
        let migration = Migration {
            version: 2,
            statements: vec!["ALTER TABLE a".into(), "ALTER TABLE b".into()],
        };
        assert_eq!(migration.sql(), "ALTER TABLE a;\nALTER TABLE b;\n");
    }

    /// The crate's README shows each schema file; it must be the file's
    /// text.
    #[test]
    fn the_readme_shows_each_schema_as_written() {
        let readme = include_str!("../README.md");
        for (db, files, _, _) in schemas() {
            for (version, schema) in (1..).zip(files) {
                assert!(
                    readme.contains(schema.trim_end()),
                    "README.md's {db} schema is not sql/{db}/v{version}.sql"
                );
            }
        }
    }
}

//! The schema's statements for a table, from the dialect's `sql/<db>.sql`.
//!
//! Each file is written once, for the default table name, and is what
//! `migrate()` runs, what `migration_sql()` returns and what the module
//! docs show. Another table name replaces the default one wherever it
//! appears: in the files it only ever names the table and, as a prefix,
//! its indexes.

use sqlx::{AssertSqlSafe, Executor};

use crate::TableName;
use crate::dialect::Dialect;

/// The statements that create `table` and its indexes if missing.
pub(crate) fn statements<DB: Dialect>(table: &TableName) -> Vec<String> {
    split(DB::SCHEMA)
        .map(|statement| statement.replace(TableName::DEFAULT, table.as_str()))
        .collect()
}

/// Runs `statements` in turn on `conn`: what each dialect's migration does
/// inside whatever lock it holds.
pub(crate) async fn run<DB>(
    conn: &mut DB::Connection,
    statements: &[String],
) -> Result<(), sqlx::Error>
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

    type Statements = fn(&TableName) -> Vec<String>;

    /// Each dialect's schema file, its statements and their count.
    fn schemas() -> Vec<(&'static str, &'static str, Statements, usize)> {
        use crate::dialect::private::Sealed;
        vec![
            #[cfg(feature = "sqlite")]
            (
                "sqlite",
                sqlx::Sqlite::SCHEMA,
                statements::<sqlx::Sqlite>,
                3,
            ),
            #[cfg(feature = "postgres")]
            (
                "postgres",
                sqlx::Postgres::SCHEMA,
                statements::<sqlx::Postgres>,
                3,
            ),
            #[cfg(feature = "mysql")]
            ("mysql", sqlx::MySql::SCHEMA, statements::<sqlx::MySql>, 1),
        ]
    }

    #[test]
    fn each_schema_splits_into_its_statements() {
        for (db, _, statements, count) in schemas() {
            let statements = statements(&TableName::default());
            assert_eq!(statements.len(), count, "{db}: {statements:#?}");
            for statement in statements {
                assert!(statement.starts_with("CREATE "), "{db}: {statement}");
                assert!(!statement.ends_with(';'), "{db}: {statement}");
            }
        }
    }

    #[test]
    fn another_table_name_replaces_every_default_one() {
        let table = TableName::new("order").expect("valid");
        for (db, _, statements, _) in schemas() {
            let renamed = statements(&table).concat();
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

    /// The crate's README shows each schema; it must be the file's text.
    #[test]
    fn the_readme_shows_each_schema_as_written() {
        let readme = include_str!("../README.md");
        for (db, schema, _, _) in schemas() {
            assert!(
                readme.contains(schema.trim_end()),
                "README.md's {db} schema is not sql/{db}.sql"
            );
        }
    }
}

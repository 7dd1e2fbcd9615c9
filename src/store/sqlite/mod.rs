//! The store compiled for SQLite: the SQL modules of `store/sql/` mounted here with their driver
//! aliases (`mount_sql!`), and the SQLite [`dialect`].

mount_sql!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);

pub(super) mod dialect;

//! The store compiled for PostgreSQL: the same SQL modules of `store/sql/` as `sqlite/mod.rs`
//! mounts, with `DB = sqlx::Postgres`, and the PostgreSQL [`dialect`].

mount_sql!(sqlx::Postgres, sqlx::postgres::PgRow);

pub(super) mod dialect;

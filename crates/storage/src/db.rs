//! Running sea-orm queries, with the value encoding this crate stores.
//!
//! Every query goes through [`Storage::statement`], which renders it for the backend and, on
//! SQLite, rewrites the bound timestamps into the fixed-width text of [`crate::time`]. Queries
//! are therefore built with ordinary typed sea-orm code (`ActiveModel`s, `Column::X.lt(t)`), and
//! the encoding is decided in one place.

use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QuerySelect, QueryTrait, Select, Statement, StatementBuilder,
};

use crate::{Backend, Storage, time};

impl Storage {
    /// Renders `query` for this database, timestamps encoded as this crate stores them.
    fn statement<S: StatementBuilder>(&self, query: &S) -> Statement {
        let mut statement = self.db.get_database_backend().build(query);
        if self.backend == Backend::Sqlite
            && let Some(values) = statement.values.as_mut()
        {
            time::encode_for_sqlite(values);
        }
        statement
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` and returns how many rows it affected.
    pub(crate) async fn execute<Q: QueryTrait>(&self, query: Q) -> Result<u64, DbErr> {
        self.execute_statement(query.as_query()).await
    }

    /// Runs a sea-query `INSERT`, `UPDATE` or `DELETE` statement (for what sea-orm's typed
    /// queries cannot say, such as `INSERT … SELECT`) and returns how many rows it affected.
    pub(crate) async fn execute_statement<S: StatementBuilder>(&self, statement: &S) -> Result<u64, DbErr> {
        let result = self.writer.execute_raw(self.statement(statement)).await?;
        Ok(result.rows_affected())
    }

    /// Runs a `SELECT` and reads every row.
    pub(crate) async fn fetch_all<E: EntityTrait>(&self, select: Select<E>) -> Result<Vec<E::Model>, DbErr> {
        let rows = self.db.query_all_raw(self.statement(select.as_query())).await?;
        rows.iter().map(|row| E::Model::from_query_result(row, "")).collect()
    }

    /// Runs a `SELECT` and reads its first row, if any.
    pub(crate) async fn fetch_optional<E: EntityTrait>(&self, select: Select<E>) -> Result<Option<E::Model>, DbErr> {
        let row = self.db.query_one_raw(self.statement(select.limit(1).as_query())).await?;
        row.map(|row| E::Model::from_query_result(&row, "")).transpose()
    }
}

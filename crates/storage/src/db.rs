//! Running sea-orm queries, with the value encoding this crate stores.
//!
//! Every query goes through [`Storage::statement`], which renders it for the backend and, on
//! SQLite, rewrites the bound timestamps into the fixed-width text of [`crate::time`]. Queries
//! are therefore built with ordinary typed sea-orm code (`ActiveModel`s, `Column::X.lt(t)`), and
//! the encoding is decided in one place. What the query builder cannot say (`FOR UPDATE SKIP
//! LOCKED`, `UPDATE … RETURNING`) is written as SQL per backend and bound through
//! [`Storage::raw_statement`], which encodes the same way.
//!
//! Changes that must happen together run in a transaction of [`Storage::begin_write`], with the
//! `…_in` variants.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, QueryResult, QuerySelect, QueryTrait,
    Select, SqliteTransactionMode, Statement, StatementBuilder, TransactionOptions, TransactionTrait, Value, Values,
};

use crate::{Backend, Storage, time};

impl Storage {
    /// Renders `query` for this database, timestamps encoded as this crate stores them.
    fn statement<S: StatementBuilder>(&self, query: &S) -> Statement {
        self.encoded(self.db.get_database_backend().build(query))
    }

    /// `statement` with its bound timestamps encoded as this crate stores them.
    fn encoded(&self, mut statement: Statement) -> Statement {
        if self.backend == Backend::Sqlite
            && let Some(values) = statement.values.as_mut()
        {
            time::encode_for_sqlite(values);
        }
        statement
    }

    /// SQL written for this backend (`?` placeholders on SQLite, `$1`… on PostgreSQL) with
    /// `values` bound, timestamps encoded as this crate stores them.
    pub(crate) fn raw_statement(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
        let backend = self.db.get_database_backend();
        self.encoded(Statement::from_sql_and_values(backend, sql, Values(values.into_iter().collect())))
    }

    /// Starts a transaction on the writer. On SQLite it is `BEGIN IMMEDIATE`: it takes the
    /// database's write lock at once (waiting for another process's writer, up to the busy
    /// time-out), so no statement in it can fail for a write that another process committed
    /// after the transaction began to read.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.writer.begin_with_options(options).await
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` in `txn` and returns how many rows it affected.
    pub(crate) async fn execute_in<Q: QueryTrait>(&self, txn: &DatabaseTransaction, query: Q) -> Result<u64, DbErr> {
        let result = txn.execute_raw(self.statement(query.as_query())).await?;
        Ok(result.rows_affected())
    }

    /// Runs a statement that changes rows and returns them (`UPDATE … RETURNING *`) on the
    /// writer, and reads them as `E`'s rows.
    pub(crate) async fn write_returning<E: EntityTrait>(&self, statement: Statement) -> Result<Vec<E::Model>, DbErr> {
        let rows = self.writer.query_all_raw(statement).await?;
        rows.iter().map(|row| E::Model::from_query_result(row, "")).collect()
    }

    /// Runs a read-only raw statement and returns its first row, if any.
    pub(crate) async fn read_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.db.query_one_raw(statement).await
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

//! Integration tests of the storage adapter.
//!
//! The tests in the modules are written once, as `async fn(TestDb)`, and `storage_tests!` runs
//! each of them twice: `…::sqlite::name` on a fresh SQLite file and `…::postgres::name` on a
//! fresh PostgreSQL database (see [`harness`]). `cargo test -p wastatus-storage postgres` runs
//! only the PostgreSQL half.

mod harness;

mod api_keys;
mod connection;
mod fixtures;
mod idempotency;
mod jobs;
mod sessions;
mod sqlite_only;
mod statuses;
mod tenants;
mod users;
mod webhooks;

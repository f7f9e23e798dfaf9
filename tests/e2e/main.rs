//! End-to-end tests: the real `wastatus` binary, started as a user would start it, driven over
//! loopback HTTP with the sandbox driver and a fresh SQLite database per test.

mod access;
mod jobs;
mod media;
mod pair;
mod support;
mod tour;
mod webhooks;

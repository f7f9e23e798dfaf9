//! Webhook delivery against loopback receivers: the HTTP sender on its own, and the whole path
//! from the outbox through the dispatcher on SQLite.

mod dispatcher;
mod receiver;
mod sender;

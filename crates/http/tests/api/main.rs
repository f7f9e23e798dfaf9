//! The native API in process: the real router over the real storage (a fresh SQLite file per
//! test), the sandbox driver and the API-key mint.

mod access;
mod compat_support;
mod compat_walytic;
mod compat_wuts;
mod errors;
mod jobs;
mod jwt;
mod matrix;
mod media;
mod openapi;
mod sandbox;
mod sessions;
mod statuses;
mod support;
mod tenancy;
mod webhooks;

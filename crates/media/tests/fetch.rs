//! Integration tests of `wastatus_media::fetch` against loopback servers started by each test.
//!
//! Linux routes all of 127.0.0.0/8 to loopback, so an allowed origin can live on 127.0.0.2 (with a
//! policy that allows exactly that address) while the blocked target lives on 127.0.0.1. The
//! target counts the connections it accepts, which proves that refused URLs never reach it.
//!
//! One test binary; its modules live in `tests/fetch/`.

#[path = "fetch/addresses.rs"]
mod addresses;
#[path = "fetch/basics.rs"]
mod basics;
#[path = "fetch/bodies.rs"]
mod bodies;
#[path = "fetch/redirects.rs"]
mod redirects;
#[path = "fetch/support.rs"]
mod support;

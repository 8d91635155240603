//! Shared mechanisms of the zk-tools binaries.
//!
//! Every binary is a thin `main` on top of this crate: one set of connection
//! flags ([`cli::ConnectArgs`]), one connect function ([`connect`]), one
//! exit-code map ([`exit`]), one JSON writer ([`output`]), one logging setup
//! ([`log`]) and one entry point ([`app::main`]) that ties them together.

pub mod app;
pub mod atomic_file;
pub mod cli;
pub mod connect;
pub mod exit;
pub mod follow;
pub mod group;
pub mod lease;
pub mod log;
pub mod node;
pub mod output;
pub mod owner;
pub mod path;
pub mod probe;
pub mod progress;
pub mod queue;
pub mod signals;
pub mod supervisor;
pub mod timeout;
pub mod tls_refusal;
mod unix;
pub mod watchdog;

pub use exit::Failure;

//! Shared mechanisms of the zk-tools binaries.
//!
//! Every binary is a thin `main` on top of this crate: one set of connection
//! flags ([`cli::ConnectArgs`]), one connect function ([`connect`]), one
//! exit-code map ([`exit`]), one JSON writer ([`output`]), one logging setup
//! ([`log`]) and one entry point ([`app::main`]) that ties them together.
//!
//! # Module map
//!
//! | concern | modules |
//! |---|---|
//! | application and CLI | [`app`] (the entry point), [`cli`] (shared flags), [`exit`] (codes, and errors to codes), [`log`] |
//! | output | [`output`] (stdout JSON, events), [`atomic_file`] (`--output`, `--ready-file`), [`node`] (a znode as JSON), [`progress`] (the spinner), [`sdnotify`] (systemd's notify protocol) |
//! | ZooKeeper session and diagnosis | [`connect`], [`path`] (path syntax), [`tls_refusal`] (why TLS failed) |
//! | recipes and the lease | [`queue`] (locks and elections), [`lease`] (ownership and the safe window), [`owner`] (run or hold while owning), [`group`] and [`follow`] (membership), [`handler`] (a watch's `--exec`) |
//! | running a command | [`supervisor`] (the command, its signals, Ctrl-Z and stop), [`signals`] (stop signals while waiting), [`timeout`] (`--timeout`), [`watchdog`] (the dead-man's switch) |
//! | probes | [`probe`] (command, HTTP and TCP health checks), [`http`] (the HTTP client of probes and the AdminServer) |

pub mod app;
pub mod atomic_file;
pub mod cli;
pub mod connect;
pub mod exit;
pub mod follow;
pub mod group;
pub mod handler;
pub mod http;
pub mod lease;
pub mod log;
pub mod node;
pub mod output;
pub mod owner;
pub mod path;
pub mod probe;
pub mod progress;
pub mod queue;
pub mod revoke;
pub mod sdnotify;
pub mod signals;
pub mod supervisor;
pub mod terminal;
pub mod timeout;
pub mod tls_refusal;
mod unix;
pub mod watchdog;

pub use exit::Failure;

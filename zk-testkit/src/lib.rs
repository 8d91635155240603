//! Real ZooKeeper for tests: no mock ever stands in for the server.
//!
//! - [`Ensemble`] starts N real servers on free loopback ports, kills,
//!   restarts, pauses and resumes them, and stops them all on drop;
//!   [`Ensemble::start_partitionable`] ones can also isolate a server from
//!   its peers while its clients still reach it, and heal it.
//! - [`shared`] is one ensemble per test process (or the one CI started,
//!   named by `ZK_TEST_CONNECT`); each test gets its own chroot from
//!   [`Shared::chroot`], so tests can run in parallel without a JVM each.
//! - [`exclusive`] serialises the tests that own, kill or pause servers.
//! - [`Proxy`] sits between a client and a server and can cut or blackhole
//!   the connection: partitions without root.
//! - [`Zk`] is a small blocking client for test setup and assertions.
//! - [`Tool`] runs our binaries and reads their JSON Lines;
//!   [`heartbeat_command`] is a command whose timestamps show whether two
//!   commands ever ran at once, and [`owner_command`] one that also takes a
//!   `flock`, so an overlap of any length is recorded by the commands (it
//!   refuses a file system that does not honour flock: [`require_flock`]).
//! - [`TcpTarget`] is a port for `--tcp` probes that accepts, or refuses
//!   once closed.
//! - [`NotifySocket`] receives what a tool tells systemd (`NOTIFY_SOCKET`).
//! - [`Kdc`] is a Kerberos KDC on loopback for SASL GSSAPI tests.
//! - [`JavaClient`] compiles and runs small Curator programs for interop;
//!   [`kazoo_worker`] runs the real kazoo (Python) the same way.
//! - [`certs`] makes a test CA and server and client certificates.
//! - [`docs`] reads `--help` headings and checks generated man pages.
//! - [`nemesis`] checks the histories `zk-nemesis` records under faults.

// Test support: a failure to set up is a failed test, so panicking with a
// message is the right way to report it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod docs;
mod ensemble;
pub mod hostile;
mod java;
mod kdc;
pub mod nemesis;
mod notify;
mod process;
mod proxy;
mod python;
mod tcp_target;
mod zk;

pub use ensemble::{
    exclusive, four_letter, free_ports, session_is_live, shared, zookeeper_available, Ensemble,
    Shared,
};
pub use java::JavaClient;
pub use kdc::{kdc_available, Kdc, REALM};
pub use notify::{Notification, NotifySocket};
pub use process::{
    assert_handed_over, assert_no_overlap, exclusion_prefix, heartbeat_command, heartbeats,
    overlaps_beside, owner_command, pause, process_state, require_flock, resume,
    spawn_tied_to_test_process, wait_child, wait_for_file, wait_until, LineReader, Running, Tool,
};
pub use proxy::Proxy;
pub use python::kazoo_worker;
pub use tcp_target::TcpTarget;
pub use zk::Zk;

/// Skips the calling test, loudly, when ZooKeeper is not installed, and
/// fails it instead when `CI` is set, so CI can never go green by skipping.
#[macro_export]
macro_rules! require_zookeeper {
    () => {
        if !$crate::zookeeper_available() {
            return;
        }
    };
}

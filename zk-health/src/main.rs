//! zk-health: Keep a service registered in ZooKeeper only while it is healthy. Not implemented yet; it says so instead of pretending.

use std::process::ExitCode;

/// 70: internal error, from the exit-code table every tool shares.
const NOT_IMPLEMENTED: u8 = 70;

fn main() -> ExitCode {
    eprintln!("zk-health: not implemented yet (see the project's open issues)");
    ExitCode::from(NOT_IMPLEMENTED)
}

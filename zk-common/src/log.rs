//! Human logs on stderr through `tracing`. stdout is reserved for JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// Installs the stderr logger. `ZK_LOG` (a tracing filter) overrides `-q`/`-v`.
pub fn init(args: &LogArgs) {
    let default = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,zookeeper_client=error",
        (false, 1) => "info,zookeeper_client=warn",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("ZK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

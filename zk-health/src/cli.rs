use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::Value;
use zk_common::cli::{parse_duration, parse_json, parse_writable_path, CommonArgs};
use zk_common::probe::ProbeArgs;
use zk_common::supervisor::WrapArgs;

const EXAMPLES: &str = "\
Examples:
  # register web-1 while its HTTP health endpoint answers 2xx
  zk-health /services/web --id web-1 --data '{\"address\":\"10.0.0.5\",\"port\":8080}' \\
      --http http://127.0.0.1:8080/health --interval 2s
  # a container entrypoint: run the service, register it while it runs and passes
  zk-health /services/api --id \"$HOSTNAME\" --tcp 127.0.0.1:9000 --drain 5s -- ./api-server
  # Curator x-discovery: Java services using ServiceDiscovery find it
  zk-health /discovery --format curator --service api --id api-1 --address 10.0.0.7 --port 9000 \\
      --check 'curl -fsS localhost:9000/ready'
  # no probe: registered while this process lives (group membership)
  zk-health /cluster/peers --id \"$(hostname)\"

Registration starts after --rise passing rounds and ends after --fall failing
ones, at SIGTERM (after which --drain elapses before the command gets the
signal), or while --maintenance-file exists. After SIGKILL the node goes when
the session expires.";

/// Keep a service registered in ZooKeeper only while it is healthy.
///
/// Creates the ephemeral node PATH/ID (PATH/SERVICE/ID with --format curator)
/// while every probe passes, deletes it as soon as they fail. With a command,
/// starts and supervises the service too, and exits with its status.
#[derive(Parser, Debug)]
#[command(name = "zk-health", version, after_long_help = EXAMPLES)]
#[command(group = clap::ArgGroup::new("format_curator").multiple(true))]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The registry node, e.g. /services/web.
    #[arg(value_parser = parse_writable_path)]
    pub path: String,

    /// This instance's id: the node's name under PATH.
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub id: String,

    /// JSON stored in the node (plain format).
    #[arg(long, value_name = "JSON", value_parser = parse_json, conflicts_with = "format_curator")]
    pub data: Option<Value>,

    /// `plain`: PATH/ID holding --data; `curator`: a Curator x-discovery ServiceInstance at PATH/SERVICE/ID.
    #[arg(long, value_enum, default_value = "plain")]
    pub format: Format,

    /// With --format curator: the service name.
    #[arg(long, value_name = "NAME", value_parser = parse_id, group = "format_curator")]
    pub service: Option<String>,

    /// With --format curator: the address clients connect to.
    #[arg(long, value_name = "ADDRESS", group = "format_curator")]
    pub address: Option<String>,

    /// With --format curator: the port.
    #[arg(long, value_name = "PORT", group = "format_curator")]
    pub port: Option<u16>,

    /// With --format curator: the TLS port.
    #[arg(long, value_name = "PORT")]
    pub ssl_port: Option<u16>,

    /// With --format curator: the payload (JSON).
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub payload: Option<Value>,

    /// With --format curator: a Curator UriSpec such as '{scheme}://{address}:{port}/api'.
    #[arg(long, value_name = "SPEC")]
    pub uri_spec: Option<String>,

    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Emit a `check` event for every probe round; by default only the first
    /// round and each round whose result differs from the one before (43,000
    /// identical lines a day at --interval 2s say nothing).
    #[arg(long)]
    pub every_check: bool,

    /// While this file exists, stay deregistered.
    #[arg(long, value_name = "FILE")]
    pub maintenance_file: Option<PathBuf>,

    /// On SIGTERM, after deregistering, wait this long before the command gets the signal.
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = parse_duration)]
    pub drain: Duration,

    /// If PATH/ID is another live session's ephemeral node when we first register, replace it
    /// (once, at start) instead of waiting for it to go; never later, and never a persistent node.
    #[arg(long)]
    pub takeover: bool,

    /// Give up (exit 75) if not registered within DUR [default: keep trying].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub wrap: WrapArgs,
}

impl zk_common::app::Tool for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Curator,
}

/// An id is one path component.
fn parse_id(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an id must not be empty".into());
    }
    zk_common::path::validate(&format!("/{s}"))
        .map_err(|_| format!("{s:?} is not a valid node name"))
        .and_then(|_| {
            if s.contains('/') {
                Err(format!("{s:?} must not contain '/'"))
            } else {
                Ok(s.to_string())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn ids_are_single_components() {
        assert!(parse_id("web-1").is_ok());
        assert!(parse_id("a/b").is_err());
        assert!(parse_id("").is_err());
        assert!(parse_id("..").is_err());
    }
}

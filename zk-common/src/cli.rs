//! The flags every tool shares, as clap structs to `#[command(flatten)]`,
//! so `--zk`, the timeouts, auth, TLS, `-q` and `-v` have one name, one
//! default and one environment variable everywhere, before or after a
//! subcommand.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use zookeeper_client::{Acl, Acls, Permission};

// Headings are set per argument, not with `next_help_heading`: clap's
// derive carries a flattened struct's `next_help_heading` on to every
// argument the parent declares after it, so a tool's own flags ended up
// under "Logging:".
/// Connection flags shared by all tools.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// ZooKeeper connect string: host:port,...[/chroot]; tcp+tls:// per host for TLS.
    #[arg(
        help_heading = CONNECTION,
        long = "zk",
        env = "ZK_CONNECT",
        default_value = "127.0.0.1:2181",
        value_name = "CONNECT",
        global = true
    )]
    pub connect: String,

    /// Requested session timeout; the server clamps it to [2, 20] ticks.
    #[arg(help_heading = CONNECTION, long, env = "ZK_SESSION_TIMEOUT", default_value = "10s", value_name = "DUR", value_parser = parse_duration, global = true)]
    pub session_timeout: Duration,

    /// Give up (exit 69) if no session is established by then.
    #[arg(help_heading = CONNECTION, long, env = "ZK_CONNECT_TIMEOUT", default_value = "10s", value_name = "DUR", value_parser = parse_duration, global = true)]
    pub connect_timeout: Duration,

    /// Authenticate as SCHEME:CREDENTIAL, e.g. digest:user:secret. Never logged.
    #[arg(help_heading = CONNECTION, long, env = "ZK_AUTH", value_name = "SCHEME:CRED", value_parser = AuthParser, hide_env_values = true, global = true)]
    pub auth: Option<Auth>,

    /// ACL of the nodes this tool creates [default: open without --auth, creator with it].
    /// `creator` needs an identity, so it needs --auth.
    #[arg(
        help_heading = CONNECTION,
        long,
        value_enum,
        value_name = "MODE",
        global = true,
        requires_if("creator", "auth")
    )]
    pub acl: Option<AclMode>,

    /// CA certificate (PEM) to verify ZooKeeper's secure client port.
    #[arg(help_heading = CONNECTION, long, env = "ZK_TLS_CA", value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) for TLS.
    #[arg(
        help_heading = CONNECTION,
        long,
        env = "ZK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,

    /// Client private key (PEM) for TLS.
    #[arg(
        help_heading = CONNECTION,
        long,
        env = "ZK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,
}

/// Which ACL the nodes we create get.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclMode {
    /// world:anyone may do anything.
    Open,
    /// The creator may do anything, everybody else may read.
    Creator,
}

static CREATOR_ALL_WORLD_READ: [Acl; 2] = [
    Acl::new_const(Permission::ALL, "auth", ""),
    Acl::new_const(Permission::READ, "world", "anyone"),
];

impl ConnectArgs {
    /// The ACL mode in force: `--acl`, else `creator` with auth and `open` without.
    pub fn acl_mode(&self) -> AclMode {
        self.acl.unwrap_or(if self.auth.is_some() {
            AclMode::Creator
        } else {
            AclMode::Open
        })
    }

    pub fn acls(&self) -> Acls<'static> {
        match self.acl_mode() {
            AclMode::Open => Acls::anyone_all(),
            AclMode::Creator => Acls::new(&CREATOR_ALL_WORLD_READ),
        }
    }
}

/// Credentials for `addauth`. Debug and Display hide the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub scheme: String,
    pub credential: String,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:<redacted>", self.scheme)
    }
}

/// Parses `--auth` without ever echoing the value: clap's own errors quote
/// the invalid value, and this one is a credential.
#[derive(Clone, Debug)]
struct AuthParser;

impl clap::builder::TypedValueParser for AuthParser {
    type Value = Auth;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Auth, clap::Error> {
        value
            .to_str()
            .ok_or_else(|| "not UTF-8".to_string())
            .and_then(parse_auth)
            .map_err(|why| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--auth/ZK_AUTH: {why} (the value is not shown: it is a credential)\n"),
                )
            })
    }
}

fn parse_auth(s: &str) -> Result<Auth, String> {
    match s.split_once(':') {
        Some((scheme, credential)) if !scheme.is_empty() && !credential.is_empty() => Ok(Auth {
            scheme: scheme.into(),
            credential: credential.into(),
        }),
        _ => Err("expected SCHEME:CREDENTIAL, e.g. digest:user:secret".into()),
    }
}

/// Human durations: `250ms`, `10s`, `2m`. A bare number is refused, since
/// nobody can tell whether `10` meant seconds or milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(s)
        .map_err(|err| format!("{err} (write durations like 250ms, 10s, 2m)"))?;
    // Deadlines are computed as now + duration; past a year that would
    // overflow the clock on some inputs, and no timeout means that much.
    if duration > MAX_DURATION {
        return Err(format!(
            "{s} is too long (at most {})",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(duration)
}

/// The time between two rounds of something repeated (`--interval`): at
/// least 10 ms, since 0 would spin a core.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let interval = parse_duration(s)?;
    if interval < MIN_INTERVAL {
        return Err(format!(
            "{s} is too short for an interval (at least {})",
            humantime::format_duration(MIN_INTERVAL)
        ));
    }
    Ok(interval)
}

/// The shortest `--interval`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The longest duration any flag takes.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A JSON argument (`--data`, `--payload`), refused with the parser's reason.
pub fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|err| format!("not JSON: {err}"))
}

/// A ZooKeeper path argument, validated before anything is sent.
pub fn parse_path(s: &str) -> Result<String, String> {
    crate::path::validate(s)
}

/// A path under which a tool creates nodes (a lock, an election, a
/// registration): never in ZooKeeper's own `/zookeeper` tree.
pub fn parse_writable_path(s: &str) -> Result<String, String> {
    let path = crate::path::validate(s)?;
    if path == "/zookeeper" || path.starts_with("/zookeeper/") {
        return Err("/zookeeper is ZooKeeper's own tree; choose another path".into());
    }
    Ok(path)
}

/// The help heading of the connection flags.
pub const CONNECTION: &str = "Connection";
/// The help heading of `-q` and `-v`.
pub const LOGGING: &str = "Logging";

/// `-q` and `-v`, shared by all tools.
#[derive(Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// Only errors on stderr.
    #[arg(help_heading = LOGGING, short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More logs on stderr (-vv for ZooKeeper client internals). Without -q or -v,
    /// ZK_LOG takes a tracing filter; -q and -v win over it.
    #[arg(help_heading = LOGGING, short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Everything a tool's top-level struct flattens in.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_of_zero_is_refused() {
        assert!(parse_interval("0s").unwrap_err().contains("too short"));
        assert!(parse_interval("1ms").is_err());
        assert_eq!(parse_interval("10ms").unwrap(), Duration::from_millis(10));
    }

    #[test]
    fn absurd_durations_are_refused_not_overflowed() {
        for absurd in ["18446744073709551615s", "5124095576030431h", "2y"] {
            let err = parse_duration(absurd).unwrap_err();
            assert!(err.contains("too long"), "{absurd}: {err}");
        }
        assert!(parse_duration("365days").is_ok());
    }

    #[test]
    fn durations_parse_human_units_and_refuse_bare_numbers() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        let err = parse_duration("10").unwrap_err();
        assert!(err.contains("10s"), "{err}");
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn auth_splits_at_first_colon_and_hides_secret() {
        let auth = parse_auth("digest:user:secret").unwrap();
        assert_eq!(auth.scheme, "digest");
        assert_eq!(auth.credential, "user:secret");
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(parse_auth("digest").is_err());
        assert!(parse_auth(":x").is_err());
    }

    #[derive(clap::Parser, Debug)]
    struct Probe {
        #[command(flatten)]
        connect: ConnectArgs,
    }

    #[test]
    fn a_malformed_auth_is_refused_without_showing_it() {
        use clap::Parser;
        for bad in [":hunter2", "hunter2", "digest:"] {
            let err = Probe::try_parse_from(["t", "--auth", bad]).unwrap_err();
            let shown = err.to_string();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
            assert!(
                !shown.contains("hunter2") && shown.contains("--auth"),
                "{shown}"
            );
        }
    }

    #[test]
    fn nodes_are_never_created_in_zookeepers_own_tree() {
        for path in ["/zookeeper", "/zookeeper/quota/x", "/zookeeper/config"] {
            assert!(parse_writable_path(path).is_err(), "{path}");
        }
        assert_eq!(
            parse_writable_path("/zookeeperish").unwrap(),
            "/zookeeperish"
        );
        assert!(parse_path("/zookeeper/config").is_ok());
    }

    #[test]
    fn creator_acl_needs_an_identity() {
        use clap::Parser;
        let err = Probe::try_parse_from(["t", "--acl", "creator"]).unwrap_err();
        assert!(err.to_string().contains("--auth"), "{err}");
        assert!(Probe::try_parse_from(["t", "--acl", "creator", "--auth", "digest:u:p"]).is_ok());
        assert!(Probe::try_parse_from(["t", "--acl", "open"]).is_ok());
    }
}

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
#[command(group(clap::ArgGroup::new("identity").multiple(true)))]
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

    /// Authenticate as SCHEME:CREDENTIAL, e.g. digest:user:secret. Never logged, but
    /// visible to other users in `ps` while the tool runs: prefer --auth-file.
    #[arg(help_heading = CONNECTION, long, env = "ZK_AUTH", value_name = "SCHEME:CRED", value_parser = Redacted::new("--auth/ZK_AUTH: ", auth_arg), hide_env_values = true, global = true, group = "identity")]
    pub auth: Option<Auth>,

    /// Read SCHEME:CRED from FILE (one line; mode 0600 or stricter, else refused).
    /// The preferred form: nothing in `ps` or in the environment.
    #[arg(help_heading = CONNECTION, long, env = "ZK_AUTH_FILE", value_name = "FILE", value_parser = Redacted::new("--auth-file/ZK_AUTH_FILE ", auth_file_arg), global = true, group = "identity", conflicts_with = "auth")]
    pub auth_file: Option<Auth>,

    /// SASL login: digest-md5:USER (password from --sasl-password-file or
    /// ZK_SASL_PASSWORD) or gssapi (Kerberos: ticket cache or KRB5_CLIENT_KTNAME keytab).
    #[arg(help_heading = CONNECTION, long, env = "ZK_SASL", value_name = "MECH[:USER]", value_parser = Redacted::new("--sasl/ZK_SASL: ", sasl_arg), global = true, group = "identity")]
    pub sasl: Option<Sasl>,

    /// File holding the SASL password (one line; mode 0600 or stricter, else refused).
    #[arg(help_heading = CONNECTION, long, env = "ZK_SASL_PASSWORD_FILE", value_name = "FILE", value_parser = Redacted::new("--sasl-password-file ", secret_file_arg), global = true, requires = "sasl")]
    pub sasl_password_file: Option<Secret>,

    /// Kerberos service name of the servers (their principal is SERVICE/HOST@REALM).
    #[arg(
        help_heading = CONNECTION,
        long,
        env = "ZK_SASL_SERVICE",
        value_name = "NAME",
        default_value = "zookeeper",
        global = true
    )]
    pub sasl_service: String,

    /// ACL of the nodes this tool creates [default: open, creator with
    /// --auth, --auth-file or --sasl]. `creator` needs an identity: one of
    /// those, or a client certificate (--tls-cert).
    #[arg(
        help_heading = CONNECTION,
        long,
        value_enum,
        value_name = "MODE",
        global = true,
        requires_if("creator", "identity")
    )]
    pub acl: Option<AclMode>,

    /// CA certificate (PEM) to verify ZooKeeper's secure client port.
    #[arg(help_heading = CONNECTION, long, env = "ZK_TLS_CA", value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) for TLS; with `--acl creator`, nodes get an x509 ACL for its subject.
    #[arg(
        help_heading = CONNECTION,
        long,
        env = "ZK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        global = true,
        group = "identity"
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
    /// The credential for `addauth`, from `--auth` or `--auth-file`.
    pub fn auth(&self) -> Option<&Auth> {
        self.auth.as_ref().or(self.auth_file.as_ref())
    }

    /// The ACL mode in force: `--acl`, else `creator` with a credential and
    /// `open` without. A client certificate alone keeps `open`: certificates
    /// are usually one per host, and a parent node created `creator` by one
    /// host would refuse the next host's children.
    pub fn acl_mode(&self) -> AclMode {
        self.acl
            .unwrap_or(if self.auth().is_some() || self.sasl.is_some() {
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

/// A value parser whose errors never quote the value: clap's own errors do,
/// and these values are credentials, hold them, or are a password typed in
/// the wrong place. The error is `prefix` and what `parse` says, one line.
#[derive(Clone)]
struct Redacted<T> {
    prefix: &'static str,
    parse: fn(&std::ffi::OsStr) -> Result<T, String>,
}

impl<T> Redacted<T> {
    fn new(prefix: &'static str, parse: fn(&std::ffi::OsStr) -> Result<T, String>) -> Self {
        Redacted { prefix, parse }
    }
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Redacted<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        (self.parse)(value).map_err(|why| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{}{why}\n", self.prefix),
            )
        })
    }
}

/// `--auth`: SCHEME:CREDENTIAL.
fn auth_arg(value: &std::ffi::OsStr) -> Result<Auth, String> {
    value
        .to_str()
        .ok_or_else(|| "not UTF-8".to_string())
        .and_then(parse_auth)
        .map_err(|why| format!("{why} (the value is not shown: it is a credential)"))
}

/// `--auth-file`: the same SCHEME:CREDENTIAL as `--auth`, from a file only
/// its owner can read.
fn auth_file_arg(value: &std::ffi::OsStr) -> Result<Auth, String> {
    let path = std::path::Path::new(value);
    read_secret_file(path).and_then(|secret| {
        parse_auth(&secret.0)
            .map_err(|why| format!("{}: {why} (the content is not shown)", path.display()))
    })
}

/// `--sasl-password-file`: a secret from a file only its owner can read.
fn secret_file_arg(value: &std::ffi::OsStr) -> Result<Secret, String> {
    read_secret_file(std::path::Path::new(value))
}

/// `--sasl`: MECH[:USER].
fn sasl_arg(value: &std::ffi::OsStr) -> Result<Sasl, String> {
    value
        .to_str()
        .ok_or_else(|| "not UTF-8".to_string())
        .and_then(parse_sasl)
        .map_err(|why| format!("{why} (the value is not shown)"))
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

/// A secret read from a file. Debug hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The most a secret file may hold: a credential, not a data file read by
/// mistake.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads one line of secret from `path`, refusing a file that users other
/// than its owner may read or write, as ssh refuses such a private key:
/// the secret may already have leaked, and the operator should know. The
/// errors name the path and the mode, never the content.
///
/// Each path is read once per process, however often clap asks (it parses
/// a global flag more than once): a pipe (`--auth-file <(pass show zk)`)
/// can be read only once.
pub fn read_secret_file(path: &std::path::Path) -> Result<Secret, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Read = Result<Secret, String>;
    static READ: OnceLock<Mutex<HashMap<std::path::PathBuf, Read>>> = OnceLock::new();
    let mut read = READ
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    read.entry(path.to_path_buf())
        .or_insert_with(|| read_secret_file_once(path))
        .clone()
}

fn read_secret_file_once(path: &std::path::Path) -> Result<Secret, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let (bytes, meta) = read_capped(path, MAX_SECRET_BYTES)
        .map_err(|err| format!("{shown}: cannot read: {err}"))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown}: mode {mode:04o} lets other users read or change the secret; \
             run 'chmod 600 {shown}' (refused, as ssh refuses such a key)"
        ));
    }
    let Some(bytes) = bytes else {
        return Err(format!(
            "{shown}: larger than {MAX_SECRET_BYTES} bytes; not a secret file"
        ));
    };
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8"))?;
    // One trailing line break is what editors and `echo` leave; anything
    // else is part of the secret or a mistake.
    let line = text
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&text);
    if line.is_empty() {
        return Err(format!("{shown}: empty"));
    }
    if line.contains(['\n', '\r']) {
        return Err(format!("{shown}: more than one line"));
    }
    Ok(Secret(line.to_string()))
}

/// Reads at most `max` bytes of `path` (`None` when it holds more: a
/// certificate path given `/dev/zero` must not eat the memory), with its
/// metadata. A FIFO nobody writes to is empty at once instead of a wait:
/// it is opened without blocking, then read as usual (a read with no
/// writer is end of file), so `<(...)` and a FIFO being written still work.
pub fn read_capped(
    path: &std::path::Path,
    max: u64,
) -> std::io::Result<(Option<Vec<u8>>, std::fs::Metadata)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let blocking = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(blocking))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    Ok(((bytes.len() as u64 <= max).then_some(bytes), meta))
}

/// A SASL mechanism and who to log in as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sasl {
    /// DIGEST-MD5 as USER; the password comes from a file or the environment.
    DigestMd5 { user: String },
    /// Kerberos, with whatever credentials the GSSAPI library finds.
    Gssapi,
}

fn parse_sasl(s: &str) -> Result<Sasl, String> {
    let (mechanism, user) = match s.split_once(':') {
        Some((m, u)) => (m, Some(u)),
        None => (s, None),
    };
    match (mechanism.to_ascii_lowercase().as_str(), user) {
        ("digest-md5" | "digest", Some(user)) if !user.is_empty() && !user.contains(':') => {
            Ok(Sasl::DigestMd5 { user: user.into() })
        }
        ("digest-md5" | "digest", Some(user)) if user.contains(':') => Err(
            "expected digest-md5:USER; the password goes in --sasl-password-file or ZK_SASL_PASSWORD".into(),
        ),
        ("digest-md5" | "digest", _) => Err("expected digest-md5:USER".into()),
        ("gssapi", None) => Ok(Sasl::Gssapi),
        ("gssapi", Some(_)) => Err(
            "gssapi takes no user: the principal comes from the ticket cache or the KRB5_CLIENT_KTNAME keytab".into(),
        ),
        _ => Err("expected digest-md5:USER or gssapi".into()),
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

/// A JSON argument (`--data`, `--payload`), refused with the parser's
/// reason. A key given twice is refused too: a parser keeps one of the two
/// silently, and what we stored would not be what was given.
pub fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<crate::node::NoDuplicateKeys>(s)
        .map_err(|err| format!("not JSON: {err}"))?;
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

/// Refuses a writable PATH that the chroot in `connect` puts inside
/// ZooKeeper's own tree (`--zk H/zookeeper` with `/l` is `/zookeeper/l`):
/// [`parse_writable_path`] sees only the path, the server sees both.
pub fn refuse_zookeeper_tree(connect: &str, path: &str) -> Result<(), crate::Failure> {
    let Ok((_, Some(chroot))) = crate::connect::split_connect_string(connect) else {
        return Ok(());
    };
    let full = match path {
        "/" => chroot.clone(),
        _ => format!("{}{path}", chroot.trim_end_matches('/')),
    };
    if full == "/zookeeper" || full.starts_with("/zookeeper/") {
        return Err(crate::Failure::usage(format!(
            "{path} under the chroot {chroot} is {full}, in ZooKeeper's own tree; \
             choose another path or chroot"
        )));
    }
    Ok(())
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
    fn a_chroot_cannot_smuggle_a_path_into_zookeepers_tree() {
        for (connect, path) in [
            ("h:1/zookeeper", "/l"),
            ("h:1/zookeeper/quota", "/x"),
            ("h:1/zookeeper/config", "/x"),
            ("h:1/zookeeper", "/"),
        ] {
            let refused = refuse_zookeeper_tree(connect, path).map_err(|f| f.code);
            assert_eq!(refused, Err(crate::exit::USAGE), "{connect} {path}");
        }
        for (connect, path) in [
            ("h:1", "/l"),
            ("h:1/zookeeperish", "/l"),
            ("h:1/app", "/zookeeper"),
        ] {
            assert!(
                refuse_zookeeper_tree(connect, path).is_ok(),
                "{connect} {path}"
            );
        }
    }

    #[test]
    fn json_with_a_key_given_twice_is_refused_at_any_depth() {
        assert!(parse_json(r#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("\"a\" is given twice"));
        assert!(parse_json(r#"[{"x":{"b":1,"b":1}}]"#).is_err());
        let fine = r#"{"a":{"a":1},"b":[{"a":2},{"a":3}],"c":null,"d":-1.5,"e":"s","f":true}"#;
        assert_eq!(parse_json(fine).unwrap()["b"][1]["a"], 3);
        assert!(parse_json("{").unwrap_err().starts_with("not JSON"));
    }

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
    fn sasl_takes_a_mechanism_and_never_a_password() {
        let alice = Sasl::DigestMd5 {
            user: "alice".into(),
        };
        assert_eq!(parse_sasl("digest-md5:alice"), Ok(alice.clone()));
        assert_eq!(parse_sasl("DIGEST-MD5:alice"), Ok(alice));
        assert_eq!(parse_sasl("gssapi"), Ok(Sasl::Gssapi));
        let err = parse_sasl("digest-md5:alice:pw").unwrap_err();
        assert!(
            err.contains("--sasl-password-file") && !err.contains("pw:"),
            "{err}"
        );
        for bad in ["digest-md5", "digest-md5:", "plain:alice", "gssapi:x", ""] {
            assert!(parse_sasl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_files_must_be_private_and_one_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("zk-common-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |content: &str, mode: u32| {
            let path = dir.join("secret");
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            // The reader itself: read_secret_file keeps its first answer.
            read_secret_file_once(&path)
        };
        assert_eq!(write("pw\n", 0o600), Ok(Secret("pw".into())));
        assert_eq!(write("pw\r\n", 0o400), Ok(Secret("pw".into())));
        assert_eq!(write(" pw ", 0o600), Ok(Secret(" pw ".into())));
        for (content, mode, why) in [
            ("hunter2\n", 0o644, "mode 0644"),
            ("hunter2\n", 0o660, "mode 0660"),
            ("hunter2\n", 0o601, "mode 0601"),
            ("", 0o600, "empty"),
            ("\n", 0o600, "empty"),
            ("hunter2\nb\n", 0o600, "more than one line"),
        ] {
            let err = write(content, mode).unwrap_err();
            assert!(
                err.contains(why) && !err.contains("hunter2"),
                "{content:?} {mode:o}: {err}"
            );
        }
        assert!(format!("{:?}", Secret("pw".into())) == "<redacted>");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn creator_acl_needs_an_identity() {
        use clap::Parser;
        let err = Probe::try_parse_from(["t", "--acl", "creator"]).unwrap_err();
        assert!(err.to_string().contains("--auth"), "{err}");
        assert!(Probe::try_parse_from(["t", "--acl", "creator", "--auth", "digest:u:p"]).is_ok());
        assert!(Probe::try_parse_from(["t", "--acl", "open"]).is_ok());
        for identity in [
            &["--sasl", "digest-md5:alice"][..],
            &["--tls-cert", "c.pem", "--tls-key", "k.pem"],
        ] {
            let args = [&["t", "--acl", "creator"][..], identity].concat();
            assert!(Probe::try_parse_from(args).is_ok(), "{identity:?}");
        }
        // A SASL login makes creator the default, a certificate alone not.
        let sasl = Probe::try_parse_from(["t", "--sasl", "gssapi"]).unwrap();
        assert_eq!(sasl.connect.acl_mode(), AclMode::Creator);
        let cert = Probe::try_parse_from(["t", "--tls-cert", "c", "--tls-key", "k"]).unwrap();
        assert_eq!(cert.connect.acl_mode(), AclMode::Open);
    }
}

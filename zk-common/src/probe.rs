//! Health probes shared by zk-health and zk-elect: a command, an HTTP URL,
//! a TCP port; consecutive results (`--rise`, `--fall`) change the state,
//! as in HAProxy and nerve.

use std::time::Duration;

use clap::Args;
use tokio::net::TcpStream;

use crate::cli::{parse_duration, parse_interval};

/// The help heading of the probe flags.
pub const HEALTH_PROBES: &str = "Health probes";

/// The probe flags, the same in every tool that gates on health.
// Headings per argument: see `cli::ConnectArgs`.
#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Passes when `sh -c CMD` exits 0 (killed at --probe-timeout). Repeatable.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "CMD")]
    pub check: Vec<String>,

    /// Passes on a 2xx answer to GET URL (http:// or https://, checked
    /// against the system's CA certificates). Repeatable.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "URL", value_parser = parse_http_url)]
    pub http: Vec<HttpUrl>,

    /// HTTP status codes that pass, e.g. 200,204,301 [default: any 2xx].
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "CODES", value_delimiter = ',')]
    pub http_status: Vec<u16>,

    /// Passes when a TCP connection to HOST:PORT opens. Repeatable.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub tcp: Vec<String>,

    /// Time between probe rounds.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "DUR", default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,

    /// A probe that takes longer fails.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// Consecutive passing rounds to become healthy.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "N", default_value = "2", value_parser = clap::value_parser!(u32).range(1..))]
    pub rise: u32,

    /// Consecutive failing rounds to become unhealthy.
    #[arg(help_heading = HEALTH_PROBES, long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u32).range(1..))]
    pub fall: u32,
}

impl ProbeArgs {
    pub fn any(&self) -> bool {
        !(self.check.is_empty() && self.http.is_empty() && self.tcp.is_empty())
    }
}

/// An `http://host[:port][/path]` URL, split for a plain HTTP/1.0 GET.
/// A `--http` URL: [`crate::http::Url`].
pub type HttpUrl = crate::http::Url;

/// Parses `--http`: http:// or https://, see [`crate::http::parse_url`].
pub fn parse_http_url(s: &str) -> Result<HttpUrl, String> {
    crate::http::parse_url(s)
}

/// `HOST:PORT` for `--tcp`; an IPv6 address goes in brackets (`[::1]:9000`),
/// since `::1:9000` cannot be split unambiguously.
fn parse_host_port(s: &str) -> Result<String, String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err("expected HOST:PORT".into());
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err("expected HOST:PORT".into());
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 address goes in brackets: [::1]:9000".into());
    }
    Ok(s.into())
}

/// The outcome of one probe round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub passed: bool,
    /// Why it failed (the first failing probe), or "ok".
    pub reason: String,
}

/// Runs probe rounds and turns them into a health state.
pub struct Prober {
    args: ProbeArgs,
    healthy: bool,
    streak: u32,
}

/// A change of state, with the round that caused it.
#[derive(Debug, Clone)]
pub struct Change {
    pub healthy: bool,
    pub round: Round,
}

impl Prober {
    /// Starts unhealthy: `--rise` passing rounds are needed first.
    pub fn new(args: &ProbeArgs) -> Prober {
        Prober {
            args: args.clone(),
            healthy: false,
            streak: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Runs every probe once; all must pass.
    pub async fn round(&self) -> Round {
        for command in &self.args.check {
            if let Err(reason) = run_check(command, self.args.probe_timeout).await {
                return Round {
                    passed: false,
                    reason: format!("--check {command:?}: {reason}"),
                };
            }
        }
        for url in &self.args.http {
            if let Err(reason) =
                http_get(url, &self.args.http_status, self.args.probe_timeout).await
            {
                return Round {
                    passed: false,
                    reason: format!("--http {}: {reason}", url.url),
                };
            }
        }
        for target in &self.args.tcp {
            if let Err(reason) = tcp_connect(target, self.args.probe_timeout).await {
                return Round {
                    passed: false,
                    reason: format!("--tcp {target}: {reason}"),
                };
            }
        }
        Round {
            passed: true,
            reason: "ok".into(),
        }
    }

    /// Feeds one round's result; returns the new state when it changed.
    pub fn record(&mut self, round: &Round) -> Option<bool> {
        if round.passed == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if round.passed {
            self.args.rise
        } else {
            self.args.fall
        };
        if self.streak >= needed {
            self.healthy = round.passed;
            self.streak = 0;
            return Some(self.healthy);
        }
        None
    }

    /// Probes every `--interval` until the state changes. `on_round` sees
    /// every round (for `check` events).
    pub async fn next_change(&mut self, mut on_round: impl FnMut(&Round)) -> Change {
        loop {
            let round = self.round().await;
            on_round(&round);
            if let Some(healthy) = self.record(&round) {
                return Change { healthy, round };
            }
            tokio::time::sleep(self.args.interval).await;
        }
    }

    /// The interval between rounds.
    pub fn interval(&self) -> Duration {
        self.args.interval
    }
}

use crate::supervisor::KillGroupOnDrop;

async fn run_check(command: &str, timeout: Duration) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("sh");
    crate::supervisor::scrub_inherited(cmd.as_std_mut());
    crate::unix::die_with_parent(&mut cmd);
    let child = cmd
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // A group of its own, so a check cut short takes `a | b` and its
        // other children with it, not only the shell.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run: {err}"))?;
    // Cut short (timed out, or the round dropped because the tool is
    // stopping), the check's whole group goes.
    let mut cut_short = KillGroupOnDrop(child.id());
    let Ok(finished) = tokio::time::timeout(timeout, child.wait_with_output()).await else {
        return Err(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        ));
    };
    cut_short.disarm();
    match finished {
        Err(err) => Err(err.to_string()),
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!("exited with {}", output.status)),
    }
}

async fn tcp_connect(target: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Err(_) => Err(format!(
            "no connection within {}",
            humantime::format_duration(timeout)
        )),
        Ok(Err(err)) => Err(err.to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

/// A GET through [`crate::http`]; passes on a 2xx status (or one of
/// --http-status). Only the status is read.
async fn http_get(url: &HttpUrl, passing: &[u16], timeout: Duration) -> Result<(), String> {
    let status = match tokio::time::timeout(timeout, crate::http::get(url, 0)).await {
        Err(_) => {
            return Err(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))
        }
        Ok(answer) => answer?.status,
    };
    let passes = if passing.is_empty() {
        (200..300).contains(&status)
    } else {
        passing.contains(&status)
    };
    if passes {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn args(rise: u32, fall: u32) -> ProbeArgs {
        ProbeArgs {
            check: vec![],
            http: vec![],
            http_status: vec![],
            tcp: vec![],
            interval: Duration::from_millis(1),
            probe_timeout: Duration::from_secs(1),
            rise,
            fall,
        }
    }

    fn round(passed: bool) -> Round {
        Round {
            passed,
            reason: String::new(),
        }
    }

    #[test]
    fn rise_and_fall_need_consecutive_rounds() {
        let mut prober = Prober::new(&args(2, 3));
        assert!(!prober.healthy());
        assert_eq!(prober.record(&round(true)), None);
        assert_eq!(
            prober.record(&round(false)),
            None,
            "a failure resets the rising streak"
        );
        assert_eq!(prober.record(&round(true)), None);
        assert_eq!(prober.record(&round(true)), Some(true));
        assert_eq!(prober.record(&round(false)), None);
        assert_eq!(prober.record(&round(false)), None);
        assert_eq!(
            prober.record(&round(true)),
            None,
            "a pass resets the falling streak"
        );
        for _ in 0..2 {
            assert_eq!(prober.record(&round(false)), None);
        }
        assert_eq!(prober.record(&round(false)), Some(false));
    }

    #[test]
    fn http_and_https_urls_parse() {
        let url = parse_http_url("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 8080, "/health?x=1")
        );
        assert_eq!(url.host_header, "127.0.0.1:8080");
        let bare = parse_http_url("http://svc").unwrap();
        assert_eq!((bare.port, bare.path.as_str()), (80, "/"));
        assert_eq!(bare.host_header, "svc:80");
        let https = parse_http_url("https://svc/x").unwrap();
        assert_eq!(
            (https.https, https.port, https.host_header.as_str()),
            (true, 443, "svc:443")
        );
        assert!(parse_http_url("ftp://svc/").is_err());
        assert!(parse_http_url("svc:80/x").is_err());
        assert!(parse_http_url("http://:80/").is_err());
        assert!(parse_http_url("http://svc:99999/").is_err());
        assert!(parse_http_url("http://svc:0/").is_err());
        assert!(parse_http_url("http://u:secret@svc/").is_err());
        assert!(parse_host_port("db:5432").is_ok());
        assert!(parse_host_port("[::1]:5432").is_ok());
        assert!(parse_host_port("::1:5432")
            .unwrap_err()
            .contains("brackets"));
        assert!(parse_host_port("db").is_err());
    }

    #[test]
    fn ipv6_literals_are_split_for_connect_and_kept_in_brackets_for_host() {
        let url = parse_http_url("http://[::1]:8080/h").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 8080));
        assert_eq!(url.path, "/h");
        assert_eq!(url.host_header, "[::1]:8080");
        let default_port = parse_http_url("http://[fe80::1]/").unwrap();
        assert_eq!(
            (default_port.host.as_str(), default_port.port),
            ("fe80::1", 80)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Any http URL we build parses back to its host, port and target,
        /// with the port always in Host.
        #[test]
        fn urls_round_trip(
            host in proptest::prop_oneof![
                "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
                proptest::arbitrary::any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
                proptest::arbitrary::any::<std::net::Ipv6Addr>().prop_map(|a| format!("[{a}]")),
            ],
            port in proptest::option::of(1u16..),
            target in "(/[a-zA-Z0-9._~-]{0,10}){0,4}(\\?[a-z0-9=&]{0,20})?",
        ) {
            let authority = match port {
                Some(port) => format!("{host}:{port}"),
                None => host.clone(),
            };
            let url = parse_http_url(&format!("http://{authority}{target}")).unwrap();
            let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
            proptest::prop_assert_eq!(&url.host, unbracketed);
            proptest::prop_assert_eq!(url.port, port.unwrap_or(80));
            let expected_target = if target.is_empty() || target.starts_with('?') {
                format!("/{target}")
            } else {
                target.clone()
            };
            proptest::prop_assert_eq!(&url.path, &expected_target);
            proptest::prop_assert_eq!(url.host_header, format!("{host}:{}", port.unwrap_or(80)));
        }

        /// Any text given as --http is refused or parsed, never a panic.
        #[test]
        fn the_url_parser_never_panics(text in "\\PC{0,60}") {
            let _ = parse_http_url(&text);
            let _ = parse_http_url(&format!("http://{text}"));
        }
    }

    /// A real HTTP server on ::1: the probe connects to an IPv6 literal and
    /// names it, with its port, in Host.
    /// A check cut short takes its whole process group with it: `sleep |
    /// cat` used to leave the sleep running, a new orphan every round.
    #[tokio::test(flavor = "current_thread")]
    async fn a_timed_out_check_leaves_no_process_behind() {
        let marker = format!("77.{}", std::process::id());
        let outcome = run_check(&format!("sleep {marker} | cat"), Duration::from_millis(300)).await;
        assert!(outcome.is_err_and(|reason| reason.starts_with("timed out")));
        let alive = || {
            std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
                let dir = entry.path();
                let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
                let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                let zombie = stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
                !zombie && String::from_utf8_lossy(&cmdline).contains(&marker)
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "the check's sleep {marker} outlived it");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn probes_an_ipv6_literal_and_sends_the_port_in_host() {
        let listener = match tokio::net::TcpListener::bind("[::1]:0").await {
            Ok(listener) => listener,
            Err(err) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: no IPv6 loopback here: {err}");
                return;
            }
            Err(err) => panic!("no IPv6 loopback: {err}"),
        };
        let port = listener.local_addr().unwrap().port();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 256];
                while !request.ends_with(b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = seen_tx.send(String::from_utf8_lossy(&request).into_owned());
                // The status line and headers in several small writes, the
                // way a slow server or a proxy may send them.
                for piece in ["HTTP/1.1 2", "00 OK\r\nContent-Le", "ngth: 0\r\n\r\n"] {
                    let _ = socket.write_all(piece.as_bytes()).await;
                    let _ = socket.flush().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let url = parse_http_url(&format!("http://[::1]:{port}/h?x=1")).unwrap();
        assert_eq!(http_get(&url, &[], Duration::from_secs(5)).await, Ok(()));
        let request = seen_rx.recv().await.unwrap();
        assert!(request.starts_with("GET /h?x=1 HTTP/1.1\r\n"), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("\r\nhost: [::1]:{port}\r\n")),
            "{request}"
        );
        assert!(
            tcp_connect(&format!("[::1]:{port}"), Duration::from_secs(5))
                .await
                .is_ok()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn real_probes_pass_and_fail() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let status = if String::from_utf8_lossy(&buf[..n]).starts_with("GET /ok ") {
                    "200 OK"
                } else {
                    "503 Busy"
                };
                let _ = socket
                    .write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let timeout = Duration::from_secs(2);
        let ok = parse_http_url(&format!("http://127.0.0.1:{port}/ok")).unwrap();
        let busy = parse_http_url(&format!("http://127.0.0.1:{port}/busy")).unwrap();
        assert_eq!(http_get(&ok, &[], timeout).await, Ok(()));
        assert_eq!(http_get(&busy, &[], timeout).await, Err("HTTP 503".into()));
        assert_eq!(
            http_get(&busy, &[200, 503], timeout).await,
            Ok(()),
            "--http-status overrides 2xx"
        );
        assert_eq!(http_get(&ok, &[204], timeout).await, Err("HTTP 200".into()));
        assert!(tcp_connect(&format!("127.0.0.1:{port}"), timeout)
            .await
            .is_ok());
        assert_eq!(run_check("exit 0", timeout).await, Ok(()));
        assert!(run_check("exit 4", timeout)
            .await
            .unwrap_err()
            .contains("4"));
        assert!(run_check("sleep 5", Duration::from_millis(100))
            .await
            .unwrap_err()
            .contains("timed out"));
    }
}

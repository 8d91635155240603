//! Health probes shared by zk-health and zk-elect: a command, an HTTP URL,
//! a TCP port; consecutive results (`--rise`, `--fall`) change the state,
//! as in HAProxy and nerve.

use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{parse_duration, parse_interval};

/// The probe flags, the same in every tool that gates on health.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Health probes")]
pub struct ProbeArgs {
    /// Passes when `sh -c CMD` exits 0 (killed at --probe-timeout). Repeatable.
    #[arg(long, value_name = "CMD")]
    pub check: Vec<String>,

    /// Passes on a 2xx answer to GET URL (http:// only). Repeatable.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub http: Vec<HttpUrl>,

    /// HTTP status codes that pass, e.g. 200,204,301 [default: any 2xx].
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub http_status: Vec<u16>,

    /// Passes when a TCP connection to HOST:PORT opens. Repeatable.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub tcp: Vec<String>,

    /// Time between probe rounds.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,

    /// A probe that takes longer fails.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// Consecutive passing rounds to become healthy.
    #[arg(long, value_name = "N", default_value = "2", value_parser = clap::value_parser!(u32).range(1..))]
    pub rise: u32,

    /// Consecutive failing rounds to become unhealthy.
    #[arg(long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u32).range(1..))]
    pub fall: u32,
}

impl ProbeArgs {
    pub fn any(&self) -> bool {
        !(self.check.is_empty() && self.http.is_empty() && self.tcp.is_empty())
    }
}

/// An `http://host[:port][/path]` URL, split for a plain HTTP/1.0 GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

fn parse_http_url(s: &str) -> Result<HttpUrl, String> {
    let rest = s.strip_prefix("http://").ok_or_else(|| {
        "only http:// URLs are probed; for https use --check 'curl -fsS URL'".to_string()
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("bad port in {s}"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {s}"));
    }
    Ok(HttpUrl {
        url: s.into(),
        host: host.into(),
        port,
        path: path.into(),
    })
}

fn parse_host_port(s: &str) -> Result<String, String> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(s.into()),
        _ => Err("expected HOST:PORT".into()),
    }
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

async fn run_check(command: &str, timeout: Duration) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("sh");
    crate::supervisor::scrub_inherited(cmd.as_std_mut());
    let child = cmd
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run: {err}"))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        )),
        Ok(Err(err)) => Err(err.to_string()),
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => Err(format!("exited with {}", output.status)),
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

/// A plain HTTP/1.0 GET; passes on a 2xx status (or one of --http-status).
/// Written by hand: a
/// health probe needs the status code of a loopback or LAN service, not a
/// client library with TLS and pools in every idle candidate's memory.
async fn http_get(url: &HttpUrl, passing: &[u16], timeout: Duration) -> Result<(), String> {
    let exchange = async {
        let mut stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: zk-tools\r\nConnection: close\r\n\r\n",
            url.path, url.host
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::with_capacity(64);
        let mut byte = [0u8; 1];
        while head.len() < 256 && !head.ends_with(b"\r\n") {
            if stream.read(&mut byte).await.map_err(|e| e.to_string())? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&head);
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {:?}", line.trim()))?;
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
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
        Ok(result) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn http_urls_parse_and_https_is_refused_with_advice() {
        let url = parse_http_url("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 8080, "/health?x=1")
        );
        assert_eq!(parse_http_url("http://svc").unwrap().port, 80);
        assert!(parse_http_url("https://svc/").unwrap_err().contains("curl"));
        assert!(parse_host_port("db:5432").is_ok());
        assert!(parse_host_port("db").is_err());
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

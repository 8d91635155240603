//! The one way every tool opens a ZooKeeper session.

use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;
use zookeeper_client::{Client, SaslOptions, TlsOptions};

use crate::cli::{ConnectArgs, Sasl};
use crate::exit::Failure;
use crate::tls_refusal::{self, Refusal};

/// Opens a session, retrying every server until `--connect-timeout`.
///
/// The client is told to fail fast when it has tried every host once, and
/// this loop retries until the deadline, so an unreachable ensemble costs
/// `--connect-timeout` (exit 69) and never the much longer session timeout.
pub async fn connect(args: &ConnectArgs) -> Result<Client> {
    let (servers, chroot) = split_connect_string(&args.connect)?;
    let deadline = Instant::now() + args.connect_timeout;
    let connector = connector(args)?;
    let secure = args.tls_ca.is_some() || args.tls_cert.is_some();
    let mut last_error = None;
    loop {
        let attempt = async {
            if secure {
                connector.clone().secure_connect(&args.connect).await
            } else {
                connector.clone().connect(&args.connect).await
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, attempt).await {
            Ok(Ok(client)) => {
                tracing::info!(
                    session_id = %client.session_id(),
                    negotiated_timeout_ms = client.session_timeout().as_millis() as u64,
                    "connected to {servers}"
                );
                if let Some(chroot) = &chroot {
                    check_chroot(&client, chroot).await?;
                }
                return Ok(client);
            }
            Ok(Err(zookeeper_client::Error::AuthFailed)) => {
                return Err(Failure::permission(auth_failed(args, &servers)).into())
            }
            Ok(Err(zookeeper_client::Error::BadArguments(reason))) => {
                return Err(Failure::usage(format!(
                    "bad connect string '{}': {reason}",
                    args.connect
                ))
                .into())
            }
            Ok(Err(err)) => {
                tracing::debug!("connecting to {servers}: {err}");
                last_error = Some(err);
            }
            Err(_elapsed) => {}
        }
        if Instant::now() + Duration::from_millis(100) >= deadline {
            if secure {
                if let Some(refused) = tls_refusal(args, &servers).await {
                    return Err(refused.into());
                }
            }
            // The client library logs why a GSSAPI login could not start
            // (no ticket, no keytab) and then just tries the next host.
            let kerberos = match args.sasl {
                Some(Sasl::Gssapi) => "; with --sasl gssapi, check for a Kerberos ticket (klist) or KRB5_CLIENT_KTNAME",
                _ => "",
            };
            // The client says only "no available hosts"; what each server
            // did is asked again here, so the message can name the cause.
            let diagnosis = diagnose(&servers).await;
            let cause = if diagnosis.is_empty() {
                last_error
                    .map(|err| format!(" (last error: {err}{kerberos})"))
                    .unwrap_or_default()
            } else {
                format!(": {}{kerberos}", diagnosis.join("; "))
            };
            let chroot = chroot.map(|c| format!(" chroot {c}")).unwrap_or_default();
            return Err(Failure::unavailable(format!(
                "no ZooKeeper session with {servers}{chroot} within {}{cause}",
                humantime::format_duration(args.connect_timeout)
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one server does with a new connection, as far as a bare TCP
/// connection can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// The host name does not resolve.
    Unresolvable(String),
    /// The TCP connection failed (refused, unreachable, timed out).
    Unreachable(String),
    /// Accepted, then closed at once without a word, before we sent
    /// anything: what a server does when our address already has
    /// `maxClientCnxns` connections.
    ClosedAtOnce,
    /// Accepted and waiting for our request: the server itself is fine.
    Accepting,
}

impl Reachability {
    /// Why a session could not be opened, for an error message; `None`
    /// when the server accepts connections.
    pub fn describe(&self, server: &str) -> Option<String> {
        match self {
            Reachability::Unresolvable(err) => {
                Some(format!("{server}: the host name does not resolve ({err})"))
            }
            Reachability::Unreachable(err) => Some(format!("{server}: {err}")),
            Reachability::ClosedAtOnce => Some(format!(
                "{server} closed the connection at once: too many connections from this \
                 address (the server's maxClientCnxns is reached)"
            )),
            Reachability::Accepting => None,
        }
    }
}

/// Connects to `server` (`host[:port]`, port 2181 by default) and watches
/// what it does, within about a second.
pub async fn reachability(server: &str) -> Reachability {
    use tokio::io::AsyncReadExt;
    let address = if server
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok())
    {
        server.to_string()
    } else {
        format!("{server}:2181")
    };
    let step = Duration::from_secs(1);
    let resolved = match tokio::time::timeout(step, tokio::net::lookup_host(&address)).await {
        Ok(Ok(mut addrs)) => addrs.next(),
        Ok(Err(err)) => return Reachability::Unresolvable(err.to_string()),
        Err(_) => return Reachability::Unresolvable("no answer from the resolver".into()),
    };
    let Some(resolved) = resolved else {
        return Reachability::Unresolvable("no address".into());
    };
    let mut stream =
        match tokio::time::timeout(step, tokio::net::TcpStream::connect(resolved)).await {
            Ok(Ok(stream)) => stream,
            // Accepted and dropped before connect() returned: the same
            // refusal as an EOF on the first read (seen as EPIPE on loopback).
            Ok(Err(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return Reachability::ClosedAtOnce
            }
            Ok(Err(err)) => return Reachability::Unreachable(err.to_string()),
            Err(_) => return Reachability::Unreachable("connecting timed out".into()),
        };
    // A server waits for our connect request; one that hangs up first (EOF
    // or reset) refused the connection itself.
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Reachability::ClosedAtOnce,
        Ok(Ok(_)) | Err(_) => Reachability::Accepting,
    }
}

/// One cause per server that refused us, for the "no session" error.
async fn diagnose(servers: &str) -> Vec<String> {
    let mut checks = tokio::task::JoinSet::new();
    for (i, server) in servers.split(',').enumerate() {
        let server = server.to_string();
        checks.spawn(async move { (i, reachability(&server).await.describe(&server)) });
    }
    let mut causes: Vec<(usize, String)> = Vec::new();
    while let Some(Ok((i, cause))) = checks.join_next().await {
        causes.extend(cause.map(|c| (i, c)));
    }
    causes.sort();
    causes.into_iter().map(|(_, cause)| cause).collect()
}

/// Refuses a chroot that does not exist (exit 2), naming it. Tools do not
/// create it: a typo in `--zk` would silently start a second, empty tree
/// that nobody else looks at. An operator creates it once, on purpose.
async fn check_chroot(client: &Client, chroot: &str) -> Result<()> {
    // "/" is the chroot itself; exists needs no read permission.
    match client.check_stat("/").await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::usage(format!(
            "the chroot {chroot} in --zk does not exist; create it first \
             (zkCli.sh create {chroot}) or correct --zk"
        ))
        .into()),
        Err(err) => Err(anyhow::Error::new(err).context(format!("checking the chroot {chroot}"))),
    }
}

fn connector(args: &ConnectArgs) -> Result<zookeeper_client::Connector> {
    let mut connector = Client::connector()
        .with_session_timeout(args.session_timeout)
        .with_fail_eagerly();
    if let Some(auth) = args.auth() {
        connector = connector.with_auth(&auth.scheme, auth.credential.as_bytes());
    }
    if let Some(sasl) = sasl_options(args)? {
        connector = connector.with_sasl(sasl);
    }
    if args.tls_ca.is_some() || args.tls_cert.is_some() || args.connect.contains("tcp+tls://") {
        connector = connector.with_tls(tls_options(args)?);
    }
    Ok(connector)
}

/// The most a PEM file (CA, certificate, key) may hold: a bundle of every
/// public CA is about 200 KiB.
const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// A PEM file's text, read with a cap (`--tls-ca /dev/zero` must not eat
/// the memory) and without hanging on a FIFO nobody writes.
fn read_pem(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let (bytes, _) = crate::cli::read_capped(path, MAX_PEM_BYTES)
        .map_err(|err| format!("cannot read {shown}: {err}"))?;
    let bytes = bytes
        .ok_or_else(|| format!("{shown} is larger than {MAX_PEM_BYTES} bytes; not a PEM file"))?;
    String::from_utf8(bytes).map_err(|_| format!("{shown} is not a PEM file (not UTF-8)"))
}

/// Whether the first server refused our TLS handshake over client
/// certificates: that is a refused login (77), not an unreachable server.
async fn tls_refusal(args: &ConnectArgs, servers: &str) -> Option<Failure> {
    let server = servers.split(',').next()?.to_string();
    let read = |path: &Option<std::path::PathBuf>| read_pem(path.as_ref()?).ok();
    let ca = read(&args.tls_ca)?;
    let identity = read(&args.tls_cert).zip(read(&args.tls_key));
    let probe = server.clone();
    let refusal = tokio::task::spawn_blocking(move || {
        let material = tls_refusal::Material {
            ca: &ca,
            identity: identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
        };
        tls_refusal::diagnose(&probe, &material)
    })
    .await
    .ok()??;
    Some(Failure::permission(match refusal {
        Refusal::CertificateRequired(alert) => format!(
            "{server} requires a client certificate (TLS handshake refused without one: {alert}); give --tls-cert and --tls-key"
        ),
        Refusal::CertificateRefused(alert) => format!(
            "{server} refused the client certificate {} (TLS alert {alert}): expired, or not signed by a CA the server trusts",
            args.tls_cert.as_deref().unwrap_or(std::path::Path::new("?")).display()
        ),
    }))
}

/// What failed, for the one-line error: with SASL the server judged our
/// login; `addauth` schemes (digest) are judged per request instead.
fn auth_failed(args: &ConnectArgs, servers: &str) -> String {
    match &args.sasl {
        Some(Sasl::DigestMd5 { user }) => format!(
            "SASL DIGEST-MD5 login as '{user}' refused by {servers}: wrong user or password"
        ),
        Some(Sasl::Gssapi) => format!("SASL GSSAPI (Kerberos) login refused by {servers}"),
        None => format!("authentication to {servers} failed"),
    }
}

/// The SASL login `--sasl` asks for, with the DIGEST-MD5 password from
/// `--sasl-password-file`, else `ZK_SASL_PASSWORD`. There is no flag for
/// the password itself: argv is readable by every user of the machine.
fn sasl_options(args: &ConnectArgs) -> Result<Option<SaslOptions>, Failure> {
    let Some(sasl) = &args.sasl else {
        return Ok(None);
    };
    match sasl {
        Sasl::DigestMd5 { user } => {
            let password = match &args.sasl_password_file {
                Some(secret) => secret.0.clone(),
                None => match std::env::var("ZK_SASL_PASSWORD") {
                    Ok(password) if !password.is_empty() => password,
                    _ => {
                        return Err(Failure::usage(
                            "--sasl digest-md5 needs a password: --sasl-password-file FILE, or ZK_SASL_PASSWORD",
                        ))
                    }
                },
            };
            Ok(Some(SaslOptions::digest_md5(user.clone(), password).into()))
        }
        Sasl::Gssapi => gssapi_options(args).map(Some),
    }
}

#[cfg(feature = "gssapi")]
fn gssapi_options(args: &ConnectArgs) -> Result<SaslOptions, Failure> {
    Ok(SaslOptions::gssapi()
        .with_username(args.sasl_service.clone())
        .into())
}

#[cfg(not(feature = "gssapi"))]
fn gssapi_options(_args: &ConnectArgs) -> Result<SaslOptions, Failure> {
    Err(Failure::usage(
        "--sasl gssapi: this build has no Kerberos support (build zk-common with the 'gssapi' feature; it links libgssapi_krb5)",
    ))
}

fn tls_options(args: &ConnectArgs) -> Result<TlsOptions> {
    if args.tls_ca.is_none() {
        return Err(Failure::usage(
            "TLS to ZooKeeper needs --tls-ca (the CA certificate that signed the servers' certificates)",
        )
        .into());
    }
    let read = |path: &std::path::Path| read_pem(path).map_err(Failure::usage);
    let mut options = TlsOptions::new();
    if let Some(ca) = &args.tls_ca {
        options = options
            .with_pem_ca(&read(ca)?)
            .map_err(|err| Failure::usage(format!("bad CA certificate {}: {err}", ca.display())))?;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        if let Some(problem) = tls_refusal::identity_problem(&cert_pem, &key_pem) {
            return Err(Failure::usage(format!(
                "--tls-cert {} with --tls-key {}: {problem}",
                cert.display(),
                key.display()
            ))
            .into());
        }
        options = options
            .with_pem_identity(&cert_pem, &key_pem)
            .map_err(|err| Failure::usage(format!("bad TLS identity {}: {err}", cert.display())))?;
    }
    Ok(options)
}

/// Splits `host:port,...[/chroot]` into the server list and the chroot, and
/// checks the chroot's syntax so a typo there is a usage error.
pub fn split_connect_string(connect: &str) -> Result<(String, Option<String>), Failure> {
    let bad = |reason: &str| Failure::usage(format!("bad connect string '{connect}': {reason}"));
    if connect.trim().is_empty() {
        return Err(bad("empty"));
    }
    let without_schemes = connect.replace("tcp+tls://", "").replace("tcp://", "");
    let (servers, chroot) = match without_schemes.find('/') {
        Some(i) => (
            without_schemes[..i].to_string(),
            Some(without_schemes[i..].to_string()),
        ),
        None => (without_schemes.clone(), None),
    };
    for server in servers.split(',') {
        let port_ok = server
            .rsplit_once(':')
            .map(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if port_ok == Some(false) || server.is_empty() {
            return Err(bad(&format!("'{server}' is not host[:port]")));
        }
    }
    if let Some(chroot) = &chroot {
        crate::path::validate(chroot).map_err(|reason| bad(&reason))?;
    }
    Ok((servers, chroot.filter(|c| c != "/")))
}

/// Closes the session now, so its ephemeral nodes vanish at once instead of
/// after the session timeout. The client sends `closeSession` when its last
/// handle is dropped; this waits (bounded) until it reports the session
/// closed, because process exit would otherwise race the request.
pub async fn close(client: Client) {
    let session = client.session_id();
    let mut state = client.state_watcher();
    drop(client);
    let closed = async {
        while !state.peek_state().is_terminated() {
            state.changed().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), closed)
        .await
        .is_err()
    {
        tracing::warn!("closing session {session} timed out; the server will expire it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_string_splits_servers_and_chroot() {
        let (servers, chroot) = split_connect_string("a:1,b:2/app/x").unwrap();
        assert_eq!(servers, "a:1,b:2");
        assert_eq!(chroot.as_deref(), Some("/app/x"));
        let (servers, chroot) = split_connect_string("tcp+tls://a:1").unwrap();
        assert_eq!(servers, "a:1");
        assert_eq!(chroot, None);
        assert!(split_connect_string("host").is_ok());
    }

    #[test]
    fn connect_string_errors_name_the_problem() {
        for (bad, reason) in [
            ("", "empty"),
            ("a:1/x/", "ends with"),
            ("a:port", "host[:port]"),
            ("a:1,,b:2", "host"),
        ] {
            let err = split_connect_string(bad).unwrap_err();
            assert_eq!(err.code, crate::exit::USAGE);
            assert!(err.message.contains(reason), "{bad}: {}", err.message);
        }
    }
}

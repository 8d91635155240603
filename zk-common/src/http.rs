//! The one HTTP client of the tools: `--http` probes and zk-ensemble's
//! AdminServer questions. hyper's HTTP/1 client over a TCP connection, or
//! over rustls for `https://`, which trusts the system's CA certificates
//! (`SSL_CERT_FILE` and `SSL_CERT_DIR` override where they are read from).
//! One request per connection: a probe every few seconds gains nothing from
//! a pool, and an idle tool keeps no connection or TLS state.

use std::sync::{Arc, OnceLock};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where a GET goes: from [`parse_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub url: String,
    pub https: bool,
    /// What to connect to: a name or an address, an IPv6 one without brackets.
    pub host: String,
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub path: String,
    /// The `Host` header: host (bracketed when IPv6) and port.
    pub host_header: String,
}

/// Parses an `http://` or `https://` URL with `http::Uri`, so IPv6
/// literals (`http://[::1]:8080/`) and every corner of RFC 3986 authority
/// syntax are handled as a browser would, and refuses what a plain GET
/// cannot serve.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let uri: http::Uri = s.parse().map_err(|err| format!("not a URL: {err}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("expected http[s]://HOST[:PORT][/PATH]".into()),
    };
    let authority = uri.authority().ok_or("no host in the URL")?;
    if authority.as_str().contains('@') {
        // Credentials would end up in events and logs; the probe sends none.
        return Err("user:password@ is not supported in --http; use --check 'curl ...'".into());
    }
    let bracketed = authority.host();
    let host = bracketed.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("no host in the URL".into());
    }
    // Read the port text ourselves: `Authority::port` is `None` for one
    // that does not fit in a u16, which would silently probe port 80.
    let after_host = authority
        .as_str()
        .strip_prefix(bracketed)
        .unwrap_or_default();
    let port = match after_host.strip_prefix(':') {
        None | Some("") => {
            if https {
                443
            } else {
                80
            }
        }
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {port}"))?,
    };
    let path = match uri.path_and_query().map(|pq| pq.as_str()) {
        Some(target) if target.starts_with('/') => target.to_string(),
        // `http://host?x` has a query but an empty path.
        Some(target) => format!("/{target}"),
        None => "/".to_string(),
    };
    Ok(Url {
        url: s.into(),
        https,
        host: host.into(),
        port,
        path,
        host_header: format!("{bracketed}:{port}"),
    })
}

/// An answer: the status and at most the body bytes asked for.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub body: Vec<u8>,
}

/// GETs `url` and reads at most `max_body` bytes of the body (0: none,
/// the status is all a probe needs). The caller bounds the time.
pub async fn get(url: &Url, max_body: usize) -> Result<Answer, String> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| e.to_string())?;
    // No delay: the request goes out in one write and we wait for its answer.
    let _ = tcp.set_nodelay(true);
    if !url.https {
        return exchange(TokioIo::new(tcp), url, max_body).await;
    }
    let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|err| {
        format!(
            "{} cannot be checked against a certificate: {err}",
            url.host
        )
    })?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|err| format!("TLS with {}: {err}", url.host_header))?;
    exchange(TokioIo::new(tls), url, max_body).await
}

async fn exchange<S>(io: TokioIo<S>, url: &Url, max_body: usize) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|err| err.to_string())?;
    // The connection is driven beside the request, and dropped (closed)
    // with it when we have what we came for.
    let driver = tokio::spawn(connection);
    let _abort = AbortOnDrop(driver);
    let request = hyper::Request::get(url.path.as_str())
        .header(hyper::header::HOST, url.host_header.as_str())
        .header(hyper::header::USER_AGENT, "zk-tools")
        .header(hyper::header::ACCEPT, "application/json, */*")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|err| err.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or_default().to_string();
    let body = if max_body == 0 {
        Vec::new()
    } else {
        Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map_err(|err| format!("reading the body: {err} (larger than {max_body} bytes?)"))?
            .to_bytes()
            .to_vec()
    };
    Ok(Answer {
        status: status.as_u16(),
        reason,
        body,
    })
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The client TLS configuration, built once: the system's CA certificates
/// as roots, rustls's defaults otherwise.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no CA certificates to check https servers against ({}); \
                     install ca-certificates or set SSL_CERT_FILE",
                    found
                        .errors
                        .first()
                        .map_or("none found".to_string(), |e| e.to_string())
                ));
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|err| err.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

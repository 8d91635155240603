//! Why a TLS connection to ZooKeeper failed, when the client library only
//! says "no available hosts": the library logs the server's TLS alert at
//! debug level and retries. After the connect deadline passed, one
//! handshake of our own with the same CA and identity names the cause, so
//! the one-line error can say "the server requires a client certificate"
//! instead of "unreachable".

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, ClientConfig, ClientConnection};

/// Why a client certificate and key cannot be used together, found before
/// connecting (the client library would only retry until the connect
/// timeout): `None` when they match.
pub fn identity_problem(cert_pem: &str, key_pem: &str) -> Option<String> {
    let certs: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>() {
            Ok(certs) if !certs.is_empty() => certs,
            Ok(_) => return Some("the certificate file holds no PEM certificate".into()),
            Err(err) => return Some(format!("the certificate file is not PEM: {err}")),
        };
    let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
        Ok(key) => key,
        Err(err) => return Some(format!("the key file holds no PEM private key: {err}")),
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(certs, key, &provider) {
        Ok(_) => None,
        Err(rustls::Error::InconsistentKeys(_)) => {
            Some("the key does not belong to the certificate".into())
        }
        Err(err) => Some(err.to_string()),
    }
}

/// How the server answered a handshake that failed on certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// We sent no certificate and the server ended the handshake with this
    /// alert: it requires one (`ssl.clientAuth=need`).
    CertificateRequired(String),
    /// The server refused the certificate we sent (expired, or signed by a
    /// CA it does not trust), with this alert.
    CertificateRefused(String),
}

/// PEM contents of the CA and, optionally, of our certificate and key.
pub struct Material<'a> {
    pub ca: &'a str,
    pub identity: Option<(&'a str, &'a str)>,
}

/// One handshake with `server` (`host:port`), then a short read for the
/// alert a TLS 1.3 server sends only after the client finished. `None`
/// when the handshake says nothing about client certificates (it worked,
/// the server is down, or we distrust its certificate).
pub fn diagnose(server: &str, material: &Material<'_>) -> Option<Refusal> {
    let config = client_config(material)?;
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).ok()?;
    let mut conn = ClientConnection::new(Arc::new(config), name).ok()?;
    let address = server.to_socket_addrs().ok()?.next()?;
    let mut socket = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    let mut stream = rustls::Stream::new(&mut conn, &mut socket);
    let err = loop {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            // ZooKeeper speaks only after our connect request: a byte or
            // a clean close means the handshake was accepted.
            Ok(_) => return None,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => break err,
        }
    };
    let alert = match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => *alert,
        _ => return None,
    };
    classify(alert, material.identity.is_some())
}

fn classify(alert: AlertDescription, sent_certificate: bool) -> Option<Refusal> {
    use AlertDescription as A;
    let about_certificates = matches!(
        alert,
        A::BadCertificate
            | A::CertificateRequired
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::UnknownCA
            | A::AccessDenied
            | A::HandshakeFailure
    );
    let name = format!("{alert:?}");
    match (about_certificates, sent_certificate) {
        (false, _) => None,
        (true, false) => Some(Refusal::CertificateRequired(name)),
        (true, true) => Some(Refusal::CertificateRefused(name)),
    }
}

fn client_config(material: &Material<'_>) -> Option<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(material.ca.as_bytes()) {
        roots.add(cert.ok()?).ok()?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots);
    match material.identity {
        None => Some(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?;
            builder.with_client_auth_cert(certs, key).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_alerts_say_whether_we_sent_one() {
        assert_eq!(
            classify(AlertDescription::BadCertificate, false),
            Some(Refusal::CertificateRequired("BadCertificate".into()))
        );
        assert_eq!(
            classify(AlertDescription::CertificateExpired, true),
            Some(Refusal::CertificateRefused("CertificateExpired".into()))
        );
        assert_eq!(classify(AlertDescription::InternalError, false), None);
    }
}

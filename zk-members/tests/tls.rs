//! TLS to ZooKeeper's secure client port, with certificates made here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use zk_testkit::{exclusive, free_ports, require_zookeeper, Ensemble, Tool};

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for 127.0.0.1 signed by it, as PKCS12
/// stores for the server and PEM for the client.
fn make_certificates(dir: &Path) {
    zk_testkit::certs::make_certificates(dir, &[]);
}

#[test]
fn fault_lists_over_tls_and_refuses_without_the_ca() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let secure_port = free_ports(1).unwrap()[0];
    let config = [
        format!("secureClientPort={secure_port}"),
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory".into(),
        format!(
            "ssl.keyStore.location={}",
            dir.path().join("server.p12").display()
        ),
        "ssl.keyStore.password=secret".into(),
        "ssl.keyStore.type=PKCS12".into(),
        format!(
            "ssl.trustStore.location={}",
            dir.path().join("trust.p12").display()
        ),
        "ssl.trustStore.password=secret".into(),
        "ssl.trustStore.type=PKCS12".into(),
        "ssl.clientAuth=none".into(),
    ];
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    let _ensemble = Ensemble::start_with(1, &config).unwrap();
    let secure = format!("tcp+tls://127.0.0.1:{secure_port}");
    let ca = dir.path().join("ca.pem");
    let members = Tool::new(env!("CARGO_BIN_EXE_zk-members"));

    let ran = members.run(&[
        "--zk",
        &secure,
        "--tls-ca",
        ca.to_str().unwrap(),
        "list",
        "/zookeeper",
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(ran
        .json()
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "config"));

    let no_ca = members.run(&["--zk", &secure, "list", "/zookeeper"]);
    assert_eq!(no_ca.code(), 2);
    assert!(no_ca.stderr().contains("--tls-ca"), "{}", no_ca.stderr());

    // A CA that did not sign the server's certificate: no session.
    let other = tempfile::tempdir().unwrap();
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-keyout",
            other.path().join("k").to_str().unwrap(),
            "-out",
            other.path().join("ca.pem").to_str().unwrap(),
            "-subj",
            "/CN=someone else",
        ]));
    let wrong = members.run(&[
        "--zk",
        &secure,
        "--tls-ca",
        other.path().join("ca.pem").to_str().unwrap(),
        "--connect-timeout",
        "2s",
        "list",
        "/zookeeper",
    ]);
    assert_eq!(wrong.code(), 69, "{}", wrong.stderr());
    assert_eq!(wrong.stderr().lines().count(), 1, "{}", wrong.stderr());

    let plain = members.run(&[
        "--zk",
        &format!("127.0.0.1:{secure_port}"),
        "--connect-timeout",
        "2s",
        "list",
        "/",
    ]);
    assert_eq!(
        plain.code(),
        69,
        "plain text to the TLS port must not connect: {}",
        plain.stderr()
    );
}

//! Test certificates, made with openssl: one CA, a server certificate for
//! 127.0.0.1 and localhost, client certificates on request, and the PKCS12
//! stores a Java (ZooKeeper) server reads.

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes into `dir`: `ca.pem`/`ca.key`; `server.pem`/`server.key` for
/// 127.0.0.1 and localhost, signed by the CA; `server.p12` and `trust.p12`
/// (password `secret`) for a ZooKeeper server; and for each `(name,
/// subject, days)` in `clients` a client certificate `NAME.pem`/`NAME.key`
/// (negative days: expired on any clock).
pub fn make_certificates(dir: &Path, clients: &[(&str, &str, &str)]) {
    let d = |name: &str| dir.join(name).to_str().unwrap().to_string();
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-keyout", &d("ca.key"), "-out", &d("ca.pem")])
        .args(["-subj", "/CN=zk-tools test CA"]));
    let sign = |name: &str, subject: &str, ext: &str, days: &str| {
        run(Command::new("openssl")
            .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject])
            .args(["-keyout", &d(&format!("{name}.key"))])
            .args(["-out", &d(&format!("{name}.csr"))]));
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", days, "-CAcreateserial"])
            .args(["-in", &d(&format!("{name}.csr"))])
            .args(["-CA", &d("ca.pem"), "-CAkey", &d("ca.key")])
            .args(["-out", &d(&format!("{name}.pem"))])
            .args(["-extfile", &d(&format!("{name}.ext"))]));
    };
    sign(
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        "2",
    );
    let client = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
    for (name, subject, days) in clients {
        sign(name, subject, client, days);
    }
    run(Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-passout",
            "pass:secret",
            "-name",
            "server",
        ])
        .args(["-in", &d("server.pem"), "-inkey", &d("server.key")])
        .args(["-out", &d("server.p12")]));
    run(Command::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-storetype",
            "PKCS12",
        ])
        .args(["-storepass", "secret", "-file", &d("ca.pem")])
        .args(["-keystore", &d("trust.p12")]));
}

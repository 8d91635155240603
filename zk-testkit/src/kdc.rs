//! A Kerberos KDC (MIT krb5, Debian's `krb5-kdc`) on loopback, for tests of
//! SASL GSSAPI: its own realm, database, configuration and port, so it
//! needs no root and touches nothing in /etc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ensemble::free_ports;
use crate::process::spawn_tied_to_test_process;

pub const REALM: &str = "ZKTEST.LOCAL";

/// Whether the KDC programs are installed.
pub fn kdc_available() -> bool {
    [
        "/usr/sbin/krb5kdc",
        "/usr/sbin/kdb5_util",
        "/usr/sbin/kadmin.local",
    ]
    .iter()
    .all(|p| Path::new(p).exists())
}

/// A running KDC; dropping it stops it and removes its files.
pub struct Kdc {
    dir: tempfile_dir::Dir,
    child: Child,
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Kdc {
    /// Starts a KDC for [`REALM`] with a random key for each principal
    /// (`alice`, `zookeeper/127.0.0.1`), each exported to its own keytab.
    pub fn start(principals: &[&str]) -> Result<Kdc> {
        let dir = std::env::temp_dir().join(format!(
            "zk-testkit-kdc-{}-{}",
            std::process::id(),
            free_ports(1)?[0]
        ));
        std::fs::create_dir_all(&dir)?;
        let dir = tempfile_dir::Dir(dir);
        let d = dir.0.display().to_string();
        let port = free_ports(1)?[0];
        std::fs::write(
            dir.0.join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_realm = false\n \
                 dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n \
                 udp_preference_limit = 1\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )?;
        std::fs::write(
            dir.0.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n \
                 kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {d}/principal\n  \
                 key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  max_life = 1h\n }}\n\
                 [logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )?;
        let kdc = |program: &str| {
            let mut cmd = Command::new(program);
            cmd.env("KRB5_CONFIG", dir.0.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", dir.0.join("kdc.conf"))
                .current_dir(&dir.0);
            cmd
        };
        let run = |cmd: &mut Command| -> Result<()> {
            let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
            if !out.status.success() {
                bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        run(kdc("/usr/sbin/kdb5_util").args(["create", "-s", "-r", REALM, "-P", "master"]))?;
        for principal in principals {
            let full = format!("{principal}@{REALM}");
            let keytab = format!("{d}/{}.keytab", principal.replace('/', "_"));
            run(kdc("/usr/sbin/kadmin.local").args(["-q", &format!("addprinc -randkey {full}")]))?;
            run(kdc("/usr/sbin/kadmin.local").args(["-q", &format!("ktadd -k {keytab} {full}")]))?;
        }
        let mut cmd = kdc("/usr/sbin/krb5kdc");
        cmd.arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied_to_test_process(cmd).context("starting krb5kdc")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("krb5kdc did not listen on {port} within 20s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Kdc { dir, child })
    }

    /// The client configuration naming this KDC (`KRB5_CONFIG`, and
    /// `-Djava.security.krb5.conf` for the server).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.0.join("krb5.conf")
    }

    /// The keytab holding `principal`'s key.
    pub fn keytab(&self, principal: &str) -> PathBuf {
        self.dir
            .0
            .join(format!("{}.keytab", principal.replace('/', "_")))
    }

    /// A directory for test files (ticket caches, JAAS files).
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

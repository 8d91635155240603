//! Real ZooKeeper servers (Debian's `zookeeper` package) on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::process::spawn_tied_to_test_process;
use crate::proxy::Proxy;

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The AdminServer needs the servlet API, which Debian's manifest omits;
/// slf4j-simple gives the server a log (Debian ships no binding).
const EXTRA_JARS: &[&str] = &[
    "/usr/share/java/servlet-api.jar",
    "/usr/share/java/slf4j-simple.jar",
    // The Netty jars zookeeper.jar's manifest leaves out, for the TLS port.
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
    "/usr/share/java/netty-transport-native-unix-common.jar",
];

/// Tick of every test server: sessions from 1 s (2 ticks) are allowed, so
/// expiry tests are fast.
pub const TICK_MS: u64 = 500;

/// Whether ZooKeeper and Java are installed. Prints a loud SKIP when not;
/// panics when `CI` is set, because CI must run every test.
pub fn zookeeper_available() -> bool {
    let available = Path::new(ZOOKEEPER_JAR).exists() && which("java");
    if !available {
        if std::env::var_os("CI").is_some() {
            panic!("ZooKeeper is not installed ({ZOOKEEPER_JAR} or java missing) and CI is set: run scripts/zookeeper.sh install");
        }
        eprintln!(
            "SKIP: ZooKeeper is not installed; run scripts/zookeeper.sh install to run this test"
        );
    }
    available
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    client: u16,
    peer: u16,
    election: u16,
    admin: u16,
}

struct Server {
    ports: Ports,
    dir: PathBuf,
    child: Option<Child>,
}

/// The proxies on one direction of the link between two servers: `from`
/// reaches `to`'s quorum and election ports through them.
struct Link {
    from: usize,
    to: usize,
    quorum: Proxy,
    election: Proxy,
}

impl Link {
    /// Carries bytes again after a cut: the connections open across it lost
    /// bytes and are closed, so both ends reconnect.
    fn reopen(&self) {
        self.quorum.reset();
        self.election.reset();
        self.quorum.restore();
        self.election.restore();
    }
}

/// N ZooKeeper servers forming one ensemble on 127.0.0.1. Dropping it kills
/// every server and removes their data; the servers also die with the test
/// process if it is killed outright.
/// zookeeper.jar and the jars its manifest leaves out.
fn classpath() -> String {
    let mut classpath = ZOOKEEPER_JAR.to_string();
    for jar in EXTRA_JARS.iter().filter(|j| Path::new(j).exists()) {
        classpath.push(':');
        classpath.push_str(jar);
    }
    classpath
}

/// A server's extra JVM flags, one a line, beside its zoo.cfg.
const JVM_FLAGS: &str = "jvm.flags";

pub struct Ensemble {
    servers: Vec<Server>,
    root: PathBuf,
    /// Empty unless started with [`Ensemble::start_partitionable`].
    links: Vec<Link>,
    isolated: Vec<bool>,
    /// Extra JVM flags of every server (`-Dkey=value`).
    jvm_args: Vec<String>,
}

impl Ensemble {
    /// Starts `n` servers and waits until every one serves clients.
    pub fn start(n: usize) -> Result<Ensemble> {
        Self::start_with(n, &[])
    }

    /// Like [`Ensemble::start`], with extra `key=value` lines in every
    /// server's configuration (they override the defaults). An entry
    /// `-Dname=value` is a JVM system property instead (`jute.maxbuffer`
    /// is read only from one).
    pub fn start_with(n: usize, extra_config: &[&str]) -> Result<Ensemble> {
        Self::start_inner(n, extra_config, &[], false, false)
    }

    /// Like [`Ensemble::start`], with pre-3.5 configuration lines
    /// (`server.N=host:peer:election`, the client port only in each
    /// server's own `clientPort`): no server's configuration says where
    /// its peers take clients.
    pub fn start_old_style(n: usize) -> Result<Ensemble> {
        Self::start_inner(n, &[], &[], false, true)
    }

    /// Like [`Ensemble::start_with`], with extra JVM flags for every server:
    /// what only a system property sets, such as the JAAS file of SASL
    /// (`-Djava.security.auth.login.config=FILE`).
    pub fn start_with_jvm(n: usize, extra_config: &[&str], jvm_args: &[&str]) -> Result<Ensemble> {
        Self::start_inner(n, extra_config, jvm_args, false, false)
    }

    /// Like [`Ensemble::start`], with read-only mode enabled (a JVM system
    /// property, not a configuration key): a server cut off from the quorum
    /// goes on serving reads to clients that allow it, and says `read-only`
    /// as its mode.
    pub fn start_read_only_capable(n: usize) -> Result<Ensemble> {
        Self::start_inner(n, &[], &["-Dreadonlymode.enabled=true"], false, false)
    }

    /// Like [`Ensemble::start`], but every server reaches its peers' quorum
    /// and election ports through a [`Proxy`], so that
    /// [`Ensemble::isolate`] can cut one server off from its peers while
    /// its client port stays reachable.
    ///
    /// `syncLimit` is 20 ticks (10 s): an isolated follower goes on
    /// answering its clients for 10 s, well after the leader has expired a
    /// session of a few seconds, which is the window partition tests need.
    pub fn start_partitionable(n: usize) -> Result<Ensemble> {
        Self::start_inner(n, &["syncLimit=20"], &[], true, false)
    }

    fn start_inner(
        n: usize,
        extra_config: &[&str],
        jvm_args: &[&str],
        partitionable: bool,
        old_style: bool,
    ) -> Result<Ensemble> {
        assert!(n >= 1);
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "zk-testkit-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        remove_data_of_dead_test_processes();
        let ports = free_ports(n * 4)?;
        let ports: Vec<Ports> = ports
            .chunks(4)
            .map(|p| Ports {
                client: p[0],
                peer: p[1],
                election: p[2],
                admin: p[3],
            })
            .collect();
        let mut links = Vec::new();
        if partitionable {
            for from in 0..n {
                for (to, p) in ports.iter().enumerate().filter(|&(to, _)| to != from) {
                    links.push(Link {
                        from,
                        to,
                        quorum: Proxy::start_peer(&format!("127.0.0.1:{}", p.peer))?,
                        election: Proxy::start_election(&format!("127.0.0.1:{}", p.election))?,
                    });
                }
            }
        }
        // Each server's own line is its real bind address; its peers are
        // where it reaches them, through the link's proxies if there are any.
        let members = |me: usize| -> String {
            ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (peer, election) = match links.iter().find(|l| l.from == me && l.to == i) {
                        Some(link) => (link.quorum.port(), link.election.port()),
                        None => (p.peer, p.election),
                    };
                    if old_style {
                        format!("server.{}=127.0.0.1:{peer}:{election}\n", i + 1)
                    } else {
                        format!(
                            "server.{}=127.0.0.1:{peer}:{election}:participant;127.0.0.1:{}\n",
                            i + 1,
                            p.client
                        )
                    }
                })
                .collect()
        };
        let mut servers = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let id = i + 1;
            let dir = root.join(format!("server{id}"));
            std::fs::create_dir_all(dir.join("data"))?;
            std::fs::write(dir.join("data/myid"), format!("{id}\n"))?;
            let mut config = format!(
                "tickTime={TICK_MS}\ninitLimit=20\nsyncLimit=10\nminSessionTimeout={}\nmaxSessionTimeout=60000\n\
                 dataDir={}\nclientPortAddress=127.0.0.1\npreAllocSize=1024\nsnapCount=100000\n\
                 4lw.commands.whitelist=*\nadmin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n\
                 standaloneEnabled={}\nreconfigEnabled=false\n",
                2 * TICK_MS,
                dir.join("data").display(),
                p.admin,
                n == 1,
            );
            config.push_str(&format!("clientPort={}\n", p.client));
            config.push_str(&members(i));
            let (jvm, lines): (Vec<&str>, Vec<&str>) =
                extra_config.iter().partition(|l| l.starts_with("-D"));
            for line in lines {
                config.push_str(line);
                config.push('\n');
            }
            if !jvm.is_empty() {
                std::fs::write(dir.join(JVM_FLAGS), jvm.join("\n"))?;
            }
            std::fs::write(dir.join("zoo.cfg"), config)?;
            servers.push(Server {
                ports: *p,
                dir,
                child: None,
            });
        }
        let mut ensemble = Ensemble {
            servers,
            root,
            links,
            isolated: vec![false; n],
            jvm_args: jvm_args.iter().map(|a| a.to_string()).collect(),
        };
        for i in 0..n {
            ensemble.launch(i)?;
        }
        for i in 0..n {
            ensemble.wait_serving(i, Duration::from_secs(60))?;
        }
        Ok(ensemble)
    }

    fn launch(&mut self, index: usize) -> Result<()> {
        let server = &mut self.servers[index];
        let classpath = classpath();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(server.dir.join("server.log"))?;
        let mut cmd = Command::new("java");
        if let Ok(flags) = std::fs::read_to_string(server.dir.join(JVM_FLAGS)) {
            cmd.args(flags.lines());
        }
        cmd.args([
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dzookeeper.admin.enableServer=true",
        ])
        .args(&self.jvm_args)
        .args([
            "-cp",
            &classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(server.dir.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
        server.child =
            Some(spawn_tied_to_test_process(cmd).context("starting java for ZooKeeper")?);
        Ok(())
    }

    /// Waits until server `index` answers `srvr` with a mode.
    pub fn wait_serving(&mut self, index: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.servers[index].child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.servers[index].dir.join("server.log"))
                        .unwrap_or_default();
                    bail!("server {} exited ({status}); log:\n{log}", index + 1);
                }
            }
            if let Some(mode) = self.mode(index) {
                if mode != "unknown" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.servers[index].dir.join("server.log"))
                    .unwrap_or_default();
                bail!(
                    "server {} did not serve within {timeout:?}; log:\n{log}",
                    index + 1
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The connect string of every server.
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.ports.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The connect string of every server but `index`: for a client that
    /// must stay on the majority side when `index` is cut off.
    pub fn connect_string_except(&self, index: usize) -> String {
        (0..self.servers.len())
            .filter(|&i| i != index)
            .map(|i| self.address(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of server `index` alone.
    pub fn address(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.servers[index].ports.client)
    }

    pub fn client_port(&self, index: usize) -> u16 {
        self.servers[index].ports.client
    }

    pub fn admin_port(&self, index: usize) -> u16 {
        self.servers[index].ports.admin
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// `leader`, `follower`, `standalone` or `observer`; `None` when down.
    pub fn mode(&self, index: usize) -> Option<String> {
        let answer = four_letter(&self.address(index), "srvr").ok()?;
        let mode = answer
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .unwrap_or("unknown");
        Some(mode.trim().to_string())
    }

    /// The index of the server that is ZooKeeper's leader right now.
    pub fn leader(&self) -> Option<usize> {
        (0..self.len())
            .find(|&i| matches!(self.mode(i).as_deref(), Some("leader") | Some("standalone")))
    }

    /// SIGKILLs server `index` and reaps it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `index` again (after [`Ensemble::kill`]) and waits
    /// until it serves.
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.kill(index);
        self.launch(index)?;
        self.wait_serving(index, Duration::from_secs(60))
    }

    /// Adds `key=value` lines to server `index`'s configuration (later
    /// lines win) and restarts it: one server with limits of its own, such
    /// as a lower `maxSessionTimeout`.
    pub fn configure(&mut self, index: usize, lines: &[&str]) -> Result<()> {
        let config = self.servers[index].dir.join("zoo.cfg");
        let mut text = std::fs::read_to_string(&config)?;
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&config, text)?;
        self.restart(index)
    }

    /// Kills every server but `spared` and starts them again at once (one
    /// alone may have no quorum to serve with), then waits until each
    /// serves: `spared` is left as it is, frozen or cut off.
    pub fn restart_all_but(&mut self, spared: usize) -> Result<()> {
        let others: Vec<usize> = (0..self.servers.len()).filter(|&i| i != spared).collect();
        for &i in &others {
            self.kill(i);
            self.launch(i)?;
        }
        for &i in &others {
            self.wait_serving(i, Duration::from_secs(60))?;
        }
        Ok(())
    }

    /// Starts every server again at once (after [`Ensemble::kill`] of them
    /// all: one alone has no quorum to serve with) and waits until each
    /// serves.
    pub fn restart_all(&mut self) -> Result<()> {
        for i in 0..self.servers.len() {
            self.kill(i);
            self.launch(i)?;
        }
        for i in 0..self.servers.len() {
            self.wait_serving(i, Duration::from_secs(60))?;
        }
        Ok(())
    }

    /// The transactions server `index` has logged, one a line, as
    /// ZooKeeper's own `TxnLogToolkit` prints them (`create PATH,...`,
    /// `createContainer PATH,...`): the kind of node a request made, which
    /// a client cannot see (a container's ephemeralOwner reads 0 to it).
    pub fn transactions(&self, index: usize) -> Result<String> {
        let mut logs: Vec<PathBuf> =
            std::fs::read_dir(self.servers[index].dir.join("data/version-2"))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("log."))
                })
                .collect();
        logs.sort();
        let mut printed = String::new();
        for log in logs {
            let out = Command::new("java")
                .args(["-cp", &classpath()])
                .arg("org.apache.zookeeper.server.persistence.TxnLogToolkit")
                .arg(&log)
                .stdin(Stdio::null())
                .output()
                .context("running ZooKeeper's TxnLogToolkit")?;
            printed.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        Ok(printed)
    }

    /// SIGSTOPs server `index`: it keeps its sockets but answers nothing.
    pub fn pause(&self, index: usize) {
        if let Some(child) = &self.servers[index].child {
            crate::process::pause(child.id());
        }
    }

    pub fn resume(&self, index: usize) {
        if let Some(child) = &self.servers[index].child {
            crate::process::resume(child.id());
        }
    }

    /// Partitions server `index` from its peers, silently: every byte on
    /// its quorum and election links, both ways, is dropped, as a cut
    /// network does, while its client port stays reachable. A follower so
    /// cut off goes on answering its clients from its own state until it
    /// gives up on the leader after `syncLimit` ticks; the others, if they
    /// are a majority, go on without it. Needs
    /// [`Ensemble::start_partitionable`].
    pub fn isolate(&mut self, index: usize) -> Result<()> {
        self.check_partitionable(index)?;
        self.isolated[index] = true;
        for link in self.links_of(index) {
            link.quorum.blackhole();
            link.election.blackhole();
        }
        Ok(())
    }

    /// Deposes `leader` without telling it: every peer's quorum link to it
    /// is reset on the peer's side only ([`Proxy::sever_client_side`]), and
    /// the election links between them are frozen. The others elect a new
    /// leader at once, while `leader` hears only silence and believes it
    /// leads, answering its own clients, until `syncLimit` ticks without
    /// acknowledgements run out. Needs [`Ensemble::start_partitionable`];
    /// [`Ensemble::heal`] of `leader` ends it.
    pub fn depose(&mut self, leader: usize) -> Result<()> {
        self.check_partitionable(leader)?;
        self.isolated[leader] = true;
        for link in self.links_of(leader) {
            link.election.blackhole();
            if link.to == leader {
                link.quorum.sever_client_side();
            } else {
                link.quorum.blackhole();
            }
        }
        Ok(())
    }

    /// Splits the ensemble in two: every link between a server in
    /// `minority` and one outside it drops all bytes, both ways, while the
    /// links inside each side carry on. With the leader in the minority it
    /// leads on for `syncLimit` ticks (its side is no quorum) while the
    /// majority elects a new one. [`Ensemble::heal_split`] ends it.
    pub fn split(&mut self, minority: &[usize]) -> Result<()> {
        for &i in minority {
            self.check_partitionable(i)?;
        }
        for link in &self.links {
            if minority.contains(&link.from) != minority.contains(&link.to) {
                link.quorum.blackhole();
                link.election.blackhole();
            }
        }
        Ok(())
    }

    /// [`Ensemble::split`], but the majority learns of it at once: its
    /// quorum links into the minority are reset on its side only
    /// ([`Proxy::sever_client_side`]), as [`Ensemble::depose`] does, so it
    /// elects a new leader within a second while a leader in the minority
    /// hears only silence and leads on for `syncLimit` ticks.
    /// [`Ensemble::heal_split`] ends it.
    pub fn split_deposing(&mut self, minority: &[usize]) -> Result<()> {
        for &i in minority {
            self.check_partitionable(i)?;
        }
        for link in &self.links {
            if minority.contains(&link.from) != minority.contains(&link.to) {
                link.election.blackhole();
                if minority.contains(&link.to) {
                    link.quorum.sever_client_side();
                } else {
                    link.quorum.blackhole();
                }
            }
        }
        Ok(())
    }

    /// Ends [`Ensemble::split`] of `minority`: the links across carry bytes
    /// again; connections open across the cut are closed, so both ends
    /// reconnect.
    pub fn heal_split(&mut self, minority: &[usize]) {
        for link in &self.links {
            if minority.contains(&link.from) != minority.contains(&link.to) {
                link.reopen();
            }
        }
    }

    /// Ends [`Ensemble::isolate`]: links to peers that are not isolated
    /// themselves carry bytes again. The connections open across the cut
    /// lost bytes and are closed, so both ends reconnect, as they would
    /// after timing out on a real network.
    pub fn heal(&mut self, index: usize) -> Result<()> {
        self.check_partitionable(index)?;
        self.isolated[index] = false;
        let isolated = self.isolated.clone();
        for link in self.links_of(index) {
            if !isolated[link.from] && !isolated[link.to] {
                link.reopen();
            }
        }
        Ok(())
    }

    fn check_partitionable(&self, index: usize) -> Result<()> {
        if index >= self.len() {
            bail!("no server {index} in an ensemble of {}", self.len());
        }
        if self.links.is_empty() {
            bail!("isolating a server needs Ensemble::start_partitionable");
        }
        Ok(())
    }

    fn links_of(&self, index: usize) -> impl Iterator<Item = &Link> {
        self.links
            .iter()
            .filter(move |l| l.from == index || l.to == index)
    }

    /// Waits until some server is leader and the given servers all serve.
    pub fn wait_quorum(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.leader().is_none() {
            if Instant::now() > deadline {
                bail!("no ZooKeeper leader within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The shared ensemble lives in a static and is never dropped, so its data
/// stays behind when the test process exits; the next run removes it.
fn remove_data_of_dead_test_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("zk-testkit-")
            .and_then(|rest| rest.split('-').next()?.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether any server of `connect` still holds the session (hex id, as the
/// tools print it): `cons` lists its sid, else `dump` names it.
pub fn session_is_live(connect: &str, session: &str) -> bool {
    let sid = format!("sid={session}");
    connect.split(',').any(|server| {
        four_letter(server, "cons")
            .map(|c| c.contains(&sid))
            .unwrap_or(false)
    }) || connect.split(',').any(|server| {
        four_letter(server, "dump")
            .map(|d| d.contains(session))
            .unwrap_or(false)
    })
}

/// Sends a four-letter word and returns the answer.
pub fn four_letter(address: &str, word: &str) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&address.parse()?, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// `count` distinct free loopback ports, all held until all are chosen.
///
/// They come from outside the kernel's ephemeral range: a port picked there
/// (as `bind(0)` does) and let go can be taken by any outgoing connection
/// before the server binds it, and a ZooKeeper then fails to start with
/// "Address already in use". Each process starts at its own offset and
/// moves on, so its calls and concurrent test processes rarely meet; a port
/// in use is skipped.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    static NEXT: OnceLock<AtomicUsize> = OnceLock::new();
    let (first, span) = outside_ephemeral_range();
    let next = NEXT.get_or_init(|| AtomicUsize::new(std::process::id() as usize * 7919));
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..span {
        if listeners.len() == count {
            break;
        }
        let port = first + (next.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    if listeners.len() < count {
        bail!(
            "no {count} free loopback ports in {first}..{}",
            first as usize + span
        );
    }
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The first port and the length of a stretch of ports the kernel never
/// hands to outgoing connections: above `ip_local_port_range` (32768-60999
/// by default on Linux, leaving 61000-65535), or below it.
fn outside_ephemeral_range() -> (u16, usize) {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range.split_whitespace().map(|n| n.parse::<u16>().ok());
    let (low, high) = match (bounds.next().flatten(), bounds.next().flatten()) {
        (Some(low), Some(high)) if low <= high => (low, high),
        _ => (32768, 60999),
    };
    // Above first: below are the ports scripts/ fix for their ensembles
    // (22181 and up), and ports under 1024 are privileged.
    let above = 65_535 - usize::from(high);
    if above >= 1_000 {
        (high + 1, above)
    } else {
        (10_000, usize::from(low).saturating_sub(10_000).max(1))
    }
}

/// The ensemble that tests without faults share.
pub struct Shared {
    connect: String,
    _ensemble: Option<Ensemble>,
}

impl Shared {
    /// The ensemble's connect string, without chroot.
    pub fn connect_string(&self) -> &str {
        &self.connect
    }

    /// A fresh, empty chroot for one test, created on the server; returns
    /// the connect string with the chroot appended.
    pub fn chroot(&self, test: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = format!(
            "/zk-testkit/{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let zk = crate::Zk::connect(&self.connect).expect("connect to the shared ensemble");
        zk.create_all(&path).expect("create the test's chroot");
        format!("{}{path}", self.connect)
    }

    /// Like [`Shared::chroot`], plus a [`Proxy`] to the first server and
    /// the same chroot through it: for the one client a test will cut off.
    /// Returns (direct connect string, proxy, connect string via proxy).
    pub fn chroot_via_proxy(&self, test: &str) -> (String, Proxy, String) {
        let connect = self.chroot(test);
        let (servers, chroot) = connect.split_at(connect.find('/').expect("a chroot"));
        let first = servers.split(',').next().expect("a server");
        let proxy = Proxy::start(first).expect("start a proxy");
        let via_proxy = format!("{}{chroot}", proxy.address());
        (connect, proxy, via_proxy)
    }
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The ensemble for tests that only need a working ZooKeeper: the one named
/// by `ZK_TEST_CONNECT` (started once by `scripts/test.sh`), else a 3-server
/// ensemble started once for this test process.
pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        if let Ok(connect) = std::env::var("ZK_TEST_CONNECT") {
            return Shared {
                connect,
                _ensemble: None,
            };
        }
        let ensemble = Ensemble::start(3).expect("start the shared ZooKeeper ensemble");
        Shared {
            connect: ensemble.connect_string(),
            _ensemble: Some(ensemble),
        }
    })
}

/// Holds an exclusive, cross-process lock for tests that own servers and
/// kill or pause them, so they run one at a time however the tests are run
/// (threads of `cargo test` or processes of nextest).
pub fn exclusive() -> nix::fcntl::Flock<std::fs::File> {
    let path = std::env::temp_dir().join("zk-testkit-exclusive.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("open the testkit lock file");
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("flock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_outside_the_ephemeral_range() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let bounds: Vec<u16> = range
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let ports = free_ports(40).unwrap();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 40, "{ports:?}");
        for port in ports {
            assert!(
                port < bounds[0] || port > bounds[1],
                "{port} is in the ephemeral range {range}"
            );
        }
    }
}

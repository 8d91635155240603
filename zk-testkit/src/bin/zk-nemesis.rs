//! zk-nemesis: Jepsen-style "never two owners" check under random faults.
//!
//! Starts its own 3-server ensemble, runs zk-lock (mutex, shared readers,
//! rw writer, semaphore), zk-elect and Curator (InterProcessMutex,
//! LeaderLatch) contenders on a few shared paths, each through its own
//! proxies, and injects seeded random faults one at a time (server kill,
//! leader kill, paused server, cut or slowed client link, follower or
//! leader isolated from its peers, leader deposed, SIGTSTP or SIGKILL of a
//! holding tool, a stalled stderr pipe of a tool run with `--watchdog`,
//! junk nodes in the lock directories), each healed after 1-8 s. Every owner's command stamps
//! CLOCK_MONOTONIC heartbeats; at the end the heartbeats are checked (see
//! `zk_testkit::nemesis`) and one JSON summary is printed on stdout. Exit 1
//! on any violation.
//!
//!   zk-nemesis [--minutes N | --seconds N] [--seed S] [--servers 3|5] [--no-partitions] [--bogus] [--keep]
//!
//! The faults that need peer links through proxies are on: a follower
//! isolated from its peers, the leader isolated, the leader deposed
//! without knowing it (its followers' links reset on their side only), a
//! minority holding the leader split off (with 5 servers). Also latency
//! and jitter on a contender's links, and the leader frozen while its
//! followers restart. The last server allows sessions of at most 3 s
//! while the contenders ask 4 s, so a contender that moves to it gets its
//! session shrunk. `--no-partitions` leaves the proxied faults out. The same seed with the same flags
//! replays the same schedule.
//!   zk-nemesis heartbeat FILE HOLD_MS     (the command the tools run)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use zk_testkit::nemesis::{
    judge, monotonic_nanos, read_heartbeats, Exit, Fault, FaultLoop, History, Ownership, Rng, Role,
};
use zk_testkit::{spawn_tied_to_test_process, Ensemble, JavaClient, Proxy, Zk};

const SESSION: &str = "4s";
const ROOT: &str = "/n";
/// The `--once-per` contender's period, as its flag and as the checker's.
const ONCE_PER_ARG: &str = "2s";
const ONCE_PER_PERIOD: Duration = Duration::from_secs(2);

const DIRS: &[&str] = &[
    "/n/lock",
    "/n/rw",
    "/n/sem",
    "/n/elect",
    "/n/kazoo-lock",
    "/n/kazoo-elect",
];
/// Foreign nodes a careless operator or another tool might leave: the
/// contenders must neither count them nor trip over them.
const JUNK: &[&str] = &["junk", "lock-é123456789", "x-lock-abc"];
const SEM_CAPACITY: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("heartbeat") {
        heartbeat(Path::new(&args[1]), args[2].parse().expect("HOLD_MS"));
        return;
    }
    let mut opts = Opts {
        seconds: 120,
        seed: None,
        bogus: false,
        keep: false,
        partitions: true,
        servers: 3,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage(arg));
        match arg.as_str() {
            "--minutes" => {
                opts.seconds = (value().parse::<f64>().unwrap_or_else(|_| usage(arg)) * 60.0) as u64
            }
            "--seconds" => opts.seconds = value().parse().unwrap_or_else(|_| usage(arg)),
            "--seed" => opts.seed = Some(value().parse().unwrap_or_else(|_| usage(arg))),
            "--bogus" => opts.bogus = true,
            "--keep" => opts.keep = true,
            "--partitions" => opts.partitions = true,
            "--no-partitions" => opts.partitions = false,
            "--servers" => {
                opts.servers = match value().as_str() {
                    "3" => 3,
                    "5" => 5,
                    _ => usage(arg),
                }
            }
            _ => usage(arg),
        }
    }
    let ok = run(&opts);
    std::process::exit(if ok { 0 } else { 1 });
}

fn usage(arg: &str) -> ! {
    eprintln!("zk-nemesis: bad argument {arg:?}\nusage: zk-nemesis [--minutes N | --seconds N] [--seed S] [--servers 3|5] [--no-partitions] [--bogus] [--keep]");
    std::process::exit(2);
}

struct Opts {
    seconds: u64,
    seed: Option<u64>,
    /// Adds a contender that "holds" /n/lock without taking it: proof that
    /// the checker fails when it should.
    bogus: bool,
    keep: bool,
    /// Adds the faults on peer links (see the top of this file).
    partitions: bool,
    /// 3 or 5.
    servers: usize,
}

/// The command every zk-tool contender runs while it owns: stamps the
/// monotonic clock and its fencing token every 20 ms for HOLD_MS, then
/// exits 0 so the tool releases.
fn heartbeat(file: &Path, hold_ms: u64) {
    let token = std::env::var("ZK_FENCING_TOKEN").unwrap_or_else(|_| "-".into());
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("open heartbeat file");
    let end = monotonic_nanos() + hold_ms * 1_000_000;
    loop {
        let now = monotonic_nanos();
        // One write per line, so a kill never leaves half a line behind.
        out.write_all(format!("{now} {token}\n").as_bytes())
            .expect("write heartbeat");
        if now >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Clone)]
enum Launch {
    /// One of our binaries, with arguments between the connection flags and
    /// `-- zk-nemesis heartbeat ...`.
    Tool(&'static str, Vec<&'static str>),
    /// NemesisWorker.java in `mutex` or `latch` mode.
    Java(&'static str),
    /// python/nemesis_worker.py (kazoo) in `lock` or `election` mode.
    Python(&'static str),
    /// Runs heartbeats with no lock at all.
    Bogus,
}

#[derive(Clone)]
struct Spec {
    name: String,
    kind: &'static str,
    path: &'static str,
    role: Role,
    launch: Launch,
}

impl Spec {
    /// A tool run with `--watchdog`: its stderr goes through a pipe the
    /// `stall_stderr` fault may stop reading (without the watchdog that
    /// fault would break the lease by design; see the README).
    fn stallable(&self) -> bool {
        matches!(&self.launch, Launch::Tool(_, args) if args.contains(&"--watchdog"))
    }
}

fn roster(bogus: bool) -> Vec<Spec> {
    let spec = |name: &str, kind, path, role, launch| Spec {
        name: name.into(),
        kind,
        path,
        role,
        launch,
    };
    use Launch::*;
    use Role::*;
    let mut r = vec![
        spec(
            "lock-zk-1",
            "zk-lock-mutex",
            "/n/lock",
            Exclusive,
            Tool("zk-lock", vec![]),
        ),
        spec(
            "lock-zk-2",
            "zk-lock-mutex",
            "/n/lock",
            Exclusive,
            Tool("zk-lock", vec![]),
        ),
        spec(
            "lock-curator",
            "curator-mutex",
            "/n/lock",
            Exclusive,
            Java("mutex"),
        ),
        spec(
            "rw-reader-1",
            "zk-lock-reader",
            "/n/rw",
            Shared,
            Tool("zk-lock", vec!["--shared"]),
        ),
        spec(
            "rw-reader-2",
            "zk-lock-reader",
            "/n/rw",
            Shared,
            Tool("zk-lock", vec!["--shared"]),
        ),
        spec(
            "rw-writer",
            "zk-lock-writer",
            "/n/rw",
            Exclusive,
            Tool("zk-lock", vec!["--layout", "rw"]),
        ),
        spec(
            "sem-1",
            "zk-lock-semaphore",
            "/n/sem",
            Lease,
            Tool("zk-lock", vec!["--max-holders", "2"]),
        ),
        spec(
            "sem-2",
            "zk-lock-semaphore",
            "/n/sem",
            Lease,
            Tool("zk-lock", vec!["--max-holders", "2"]),
        ),
        spec(
            "sem-3",
            "zk-lock-semaphore",
            "/n/sem",
            Lease,
            Tool("zk-lock", vec!["--max-holders", "2"]),
        ),
        spec(
            "elect-zk-1",
            "zk-elect",
            "/n/elect",
            Exclusive,
            Tool("zk-elect", vec!["--id", "elect-zk-1"]),
        ),
        spec(
            "elect-zk-2",
            "zk-elect",
            "/n/elect",
            Exclusive,
            Tool("zk-elect", vec!["--id", "elect-zk-2"]),
        ),
        // At most one run per 2 s of ZooKeeper's clock, in the mutex's
        // queue: it excludes the others and never runs twice in a period.
        spec(
            "lock-once-per",
            "zk-lock-once-per",
            "/n/lock",
            Exclusive,
            Tool("zk-lock", vec!["--once-per", ONCE_PER_ARG]),
        ),
        // Its stderr is a small pipe the nemesis may stop reading: a tool
        // blocked on a log write cannot act on its deadline, and only the
        // watchdog keeps the lease (README: not guaranteed without it).
        spec(
            "lock-zk-watchdog",
            "zk-lock-mutex",
            "/n/lock",
            Exclusive,
            Tool("zk-lock", vec!["--watchdog", "-vv"]),
        ),
        spec(
            "elect-curator",
            "curator-latch",
            "/n/elect",
            Exclusive,
            Java("latch"),
        ),
        // kazoo's Lock and Election beside zk-lock and zk-elect in kazoo's
        // layout: each must see the other's nodes.
        spec(
            "kazoo-lock-zk",
            "zk-lock-kazoo",
            "/n/kazoo-lock",
            Exclusive,
            Tool("zk-lock", vec!["--layout", "kazoo"]),
        ),
        spec(
            "kazoo-lock-py",
            "kazoo-lock",
            "/n/kazoo-lock",
            Exclusive,
            Python("lock"),
        ),
        spec(
            "kazoo-elect-zk",
            "zk-elect-kazoo",
            "/n/kazoo-elect",
            Exclusive,
            Tool(
                "zk-elect",
                vec!["--layout", "kazoo", "--id", "kazoo-elect-zk"],
            ),
        ),
        spec(
            "kazoo-elect-py",
            "kazoo-election",
            "/n/kazoo-elect",
            Exclusive,
            Python("election"),
        ),
    ];
    if bogus {
        r.push(spec("bogus", "bogus-no-lock", "/n/lock", Exclusive, Bogus));
    }
    r
}

/// What the fault driver needs to know about a contender right now.
#[derive(Default)]
struct Slot {
    /// The running tool (or JVM) process, and the signals sent to it.
    current: Mutex<Option<Current>>,
    /// The heartbeat file of the current run: fresh lines mean it owns.
    file: Mutex<Option<PathBuf>>,
    /// How each of its processes ended.
    exits: Mutex<Vec<Exit>>,
    /// Set by the `stall_stderr` fault: nobody reads the tool's stderr
    /// pipe, so its log writes block once the pipe is full.
    stall_stderr: Arc<AtomicBool>,
}

struct Current {
    pid: u32,
    sent: Vec<i32>,
}

impl Slot {
    fn pid(&self) -> Option<u32> {
        self.current.lock().unwrap().as_ref().map(|c| c.pid)
    }

    /// Sends `signal` to process `pid` if it is still this contender's
    /// current one, and records it: the checker tells a death the nemesis
    /// caused from one it did not by these records. The process is reaped
    /// under the same lock (see [`supervise`]), so the pid is never a
    /// recycled one.
    fn signal(&self, pid: u32, signal: Signal) -> bool {
        let mut current = self.current.lock().unwrap();
        match current.as_mut() {
            Some(c) if c.pid == pid => {
                c.sent.push(signal as i32);
                kill(Pid::from_raw(pid as i32), signal).is_ok()
            }
            _ => false,
        }
    }

    fn holding(&self) -> bool {
        let file = self.file.lock().unwrap().clone();
        file.and_then(|f| std::fs::metadata(f).ok()?.modified().ok())
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age < Duration::from_millis(100))
    }
}

struct Env {
    work: PathBuf,
    nemesis: PathBuf,
    bin_dir: PathBuf,
    stop: Arc<AtomicBool>,
}

fn log(msg: impl AsRef<str>) {
    // The monotonic time lines a fault up with the heartbeats it hit.
    eprintln!(
        "[nemesis {:>6.1}s mono {:.3}] {}",
        uptime(),
        monotonic_nanos() as f64 / 1e9,
        msg.as_ref()
    );
}

fn uptime() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

fn run(opts: &Opts) -> bool {
    uptime();
    let seed = opts.seed.unwrap_or_else(|| monotonic_nanos() % 1_000_000);
    log(format!(
        "seed {seed}, {} s of faults (rerun with --seed {seed} for the same schedule)",
        opts.seconds
    ));
    let work = std::env::temp_dir().join(format!("zk-nemesis-{}", std::process::id()));
    std::fs::create_dir_all(work.join("hb")).unwrap();
    std::fs::create_dir_all(work.join("logs")).unwrap();
    std::fs::create_dir_all(work.join("events")).unwrap();
    let nemesis = std::env::current_exe().unwrap();
    let env = Env {
        work: work.clone(),
        bin_dir: nemesis.parent().unwrap().to_path_buf(),
        nemesis,
        stop: Arc::new(AtomicBool::new(false)),
    };
    for tool in ["zk-lock", "zk-elect"] {
        assert!(
            env.bin_dir.join(tool).exists(),
            "{tool} is not built next to zk-nemesis: cargo build -p {tool}"
        );
    }

    // Partitionable: peer links go through proxies, so a follower can be
    // cut off from the leader while its clients still reach it.
    let mut ensemble = if opts.partitions {
        Ensemble::start_partitionable(opts.servers)
    } else {
        Ensemble::start(opts.servers)
    }
    .expect("start the ensemble");
    // Servers with different session limits: a contender that reconnects
    // to the last one has its 4 s session renegotiated down to 3 s.
    let last = opts.servers - 1;
    ensemble
        .configure(last, &["maxSessionTimeout=3000"])
        .expect("restart the last server with its own session limit");
    ensemble
        .wait_quorum(Duration::from_secs(60))
        .expect("a quorum after the restart");
    let kinds: Vec<&str> = FAULTS
        .iter()
        .copied()
        .filter(|&k| opts.partitions || !PROXIED_FAULTS.contains(&k))
        .filter(|&k| opts.servers == 5 || k != "split_leader_minority")
        .collect();
    log(format!("ensemble {}", ensemble.connect_string()));
    {
        let zk = Zk::connect(&ensemble.connect_string()).unwrap();
        for dir in DIRS {
            zk.create_all(dir).unwrap();
        }
    }
    let java = JavaClient::compile("NemesisWorker").expect("compile NemesisWorker.java");

    let specs = roster(opts.bogus);
    // Each contender reaches every server through a proxy of its own, so
    // one contender's link can be cut while the others' stay up.
    let proxies: Vec<Vec<Proxy>> = specs
        .iter()
        .map(|_| {
            (0..ensemble.len())
                .map(|i| Proxy::start(&ensemble.address(i)).unwrap())
                .collect()
        })
        .collect();
    let slots: Vec<Arc<Slot>> = specs.iter().map(|_| Arc::default()).collect();
    let mut threads = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let connect = proxies[i]
            .iter()
            .map(Proxy::address)
            .collect::<Vec<_>>()
            .join(",");
        let (spec, slot, stop) = (spec.clone(), slots[i].clone(), env.stop.clone());
        let (work, nemesis, bin_dir) = (env.work.clone(), env.nemesis.clone(), env.bin_dir.clone());
        let (hb, stop_file) = (work.join("hb"), work.join("STOP"));
        let worker_args = [
            connect.as_str(),
            spec.path,
            "",
            &spec.name,
            hb.to_str().unwrap(),
            stop_file.to_str().unwrap(),
        ];
        let with_mode = |mode| {
            let mut args = worker_args;
            args[2] = mode;
            args
        };
        let worker = match spec.launch {
            Launch::Java(mode) => Some(java.command(&with_mode(mode))),
            Launch::Python(mode) => {
                let mut cmd = Command::new("python3");
                cmd.arg(python_worker()).args(with_mode(mode));
                Some(cmd)
            }
            _ => None,
        };
        let rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9));
        threads.push(std::thread::spawn(move || {
            let env = Env {
                work,
                nemesis,
                bin_dir,
                stop,
            };
            contend(&env, &spec, &connect, &slot, rng, worker)
        }));
    }

    // Faults, one at a time, each healed before a quiet period.
    std::thread::sleep(Duration::from_secs(5));
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Every fault with its times and whom it hit: the checker excuses a
    // Curator overstay only by a fault on that Curator worker.
    let mut fault_log: Vec<Fault> = Vec::new();
    let mut rng = Rng::new(seed);
    let planned_end = monotonic_nanos() + opts.seconds * 1_000_000_000;
    let mut n = 0;
    let mut ended_early: Option<String> = None;
    while monotonic_nanos() < planned_end {
        // zk_testkit's Proxy keeps every connection it ever forwarded open
        // (to reset them later), and the peer proxies of a partitionable
        // ensemble see many short election connections: end the faults
        // before running out of descriptors would fail contenders for a
        // reason of our own. The run still fails (faults_ended_early): it
        // did not test the minutes it was asked to.
        let (open, limit) = descriptors();
        if open * 10 > limit * 6 {
            let why = format!("{open} of {limit} file descriptors open (testkit Proxy leak)");
            log(format!("ending faults early: {why}"));
            ended_early = Some(why);
            break;
        }
        n += 1;
        let kind = kinds[rng.index(kinds.len())];
        let target = rng.next_u64();
        let hold = Duration::from_millis(rng.range(1000, 8000));
        let quiet = Duration::from_millis(rng.range(1000, 5000));
        // Asked before the clock starts, so the recorded start is no
        // earlier than the fault's (it only ever narrows an excuse).
        let leader = ensemble.leader();
        let start = monotonic_nanos();
        let mut heal = inject(
            kind,
            target,
            leader,
            &mut ensemble,
            &proxies,
            &specs,
            &slots,
        );
        *faults.entry(kind).or_default() += 1;
        log(format!("fault #{n} {kind}: {} for {hold:?}", heal.what));
        // A client may move to a faulty server while the fault lasts (a
        // paused server's port still accepts): look again every 100 ms.
        let healing = Instant::now() + hold;
        loop {
            if let Hit::Server { index, seen, .. } = &mut heal.hit {
                seen.extend(clients_of(&proxies, *index));
            }
            let left = healing.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        (heal.undo)(&mut ensemble, &proxies);
        fault_log.push(Fault {
            kind: kind.into(),
            what: heal.what,
            start,
            end: Some(monotonic_nanos()),
            contenders: heal.hit.contenders(&specs),
        });
        log(format!("healed #{n} {kind}; quiet for {quiet:?}"));
        std::thread::sleep(quiet);
    }

    // Stopping before planned_end fails the run (see nemesis::judge).
    let fault_loop = FaultLoop {
        planned_end,
        ended: monotonic_nanos(),
        ended_early,
    };

    // Liveness: once everything is healed, every contender must own again.
    let calm_since = monotonic_nanos();
    log("faults over; waiting for every contender to own once more");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut waiting: Vec<String>;
    loop {
        let owners = ownerships(&work, &specs);
        waiting = specs
            .iter()
            .filter(|s| {
                !owners
                    .iter()
                    .any(|o| o.contender == s.name && o.first > calm_since)
            })
            .map(|s| s.name.clone())
            .collect();
        if waiting.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    log("stopping contenders");
    env.stop.store(true, Ordering::SeqCst);
    std::fs::write(work.join("STOP"), "").unwrap();
    for t in threads {
        let _ = t.join();
    }
    // Ephemeral nodes of tools SIGKILLed by the nemesis go with their
    // sessions; wait out one session timeout before calling a node stray.
    std::thread::sleep(Duration::from_secs(6));
    let (stray, stray_errors) = stray_nodes(&ensemble.connect_string());

    let owners = ownerships(&work, &specs);
    let capacity: BTreeMap<String, usize> = [("/n/sem".to_string(), SEM_CAPACITY)].into();
    let _ = std::fs::write(
        work.join("faults.json"),
        serde_json::to_string_pretty(&fault_log.iter().map(Fault::to_json).collect::<Vec<_>>())
            .unwrap(),
    );
    let mut acquisitions: BTreeMap<&str, u64> = BTreeMap::new();
    for o in &owners {
        *acquisitions
            .entry(specs.iter().find(|s| s.name == o.contender).unwrap().kind)
            .or_default() += 1;
    }
    let exits: Vec<Exit> = slots
        .iter()
        .flat_map(|slot| slot.exits.lock().unwrap().clone())
        .collect();
    // Per contender, how often each exit code or signal ended a run.
    let mut exit_codes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for e in &exits {
        let key = match (e.code, e.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(sig)) if e.sent.contains(&sig) => format!("signal {sig} (sent)"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "?".into(),
        };
        *exit_codes
            .entry(e.contender.clone())
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    // The --once-per contenders and their period, as the checker needs it.
    let once_per = specs
        .iter()
        .filter(|s| matches!(&s.launch, Launch::Tool(_, args) if args.contains(&"--once-per")))
        .map(|s| (s.name.clone(), ONCE_PER_PERIOD.as_nanos() as u64))
        .collect();
    let history = History {
        ownerships: owners,
        capacity,
        faults: fault_log,
        fault_loop,
        exits,
        stray_nodes: stray,
        stray_errors,
        liveness_failures: waiting,
        once_per,
    };
    let verdict = judge(&history);
    let ok = verdict.ok();
    let findings = verdict.findings;
    let summary = json!({
        "seed": seed,
        "minutes": opts.seconds as f64 / 60.0,
        "acquisitions": acquisitions,
        "faults": faults,
        "faults_ended_early": verdict.faults_ended_early,
        "overlaps": findings.overlaps,
        "token_violations": findings.token_violations,
        "missing_tokens": verdict.missing_tokens,
        "curator_overstays": findings.curator_overstays,
        "stray_nodes": history.stray_nodes,
        "stray_check_errors": history.stray_errors,
        "liveness_failures": history.liveness_failures,
        "crashes": verdict.crashes,
        "unexpected_signal_deaths": verdict.unexpected_signal_deaths,
        "once_per_violations": verdict.once_per_violations,
        "exit_codes": exit_codes,
        "work_dir": if ok && !opts.keep { Value::Null } else { json!(work) },
        "reasons": verdict.reasons,
        "ok": ok,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    drop(proxies);
    drop(ensemble);
    if ok && !opts.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    ok
}

/// Open file descriptors of this process and the soft limit on them.
fn descriptors() -> (usize, usize) {
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse()
                .ok()
        })
        .unwrap_or(1024);
    (open, limit)
}

/// Reads every heartbeat file: one ownership each.
fn ownerships(work: &Path, specs: &[Spec]) -> Vec<Ownership> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(work.join("hb")) else {
        return found;
    };
    for entry in entries.flatten() {
        let file = entry.path();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let Some((contender, _run)) = name.rsplit_once('-') else {
            continue;
        };
        let Some(spec) = specs.iter().find(|s| s.name == contender) else {
            continue;
        };
        if let Some((first, last, token)) = read_heartbeats(&file) {
            found.push(Ownership {
                contender: spec.name.clone(),
                kind: spec.kind.into(),
                path: spec.path.into(),
                role: spec.role,
                first,
                last,
                token,
                file: file.file_name().unwrap().to_string_lossy().into_owned(),
            });
        }
    }
    found
}

/// One contender's life: run, and after each exit run again, until stop.
/// The kazoo worker's script, beside this crate's sources.
fn python_worker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/nemesis_worker.py")
}

fn contend(
    env: &Env,
    spec: &Spec,
    connect: &str,
    slot: &Slot,
    mut rng: Rng,
    worker: Option<Command>,
) {
    let logfile = env.work.join("logs").join(format!("{}.log", spec.name));
    let mut runs = 0u64;
    // A JVM or kazoo worker is one long-lived process that loops on its own.
    if let Some(mut cmd) = worker {
        let out = std::fs::File::create(&logfile).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // Tied to this process: a crashed nemesis must not leave JVMs and
        // tools contending on ports a later run may reuse.
        let child = spawn_tied_to_test_process(cmd).expect("spawn a Curator or kazoo worker");
        // It sees STOP and closes its client itself; signals only if not.
        supervise(env, &spec.name, slot, child, Duration::from_secs(10));
        return;
    }
    while !env.stop.load(Ordering::SeqCst) {
        runs += 1;
        let hb = env.work.join("hb").join(format!("{}-{runs}.hb", spec.name));
        // Mostly short holds, so ownership changes hands often; one in four
        // outlasts the 4 s session, so a cut link, an isolated follower or
        // a paused server can expire a holder whose command still runs.
        let hold = if rng.range(0, 3) == 0 {
            rng.range(1000, 6000)
        } else {
            rng.range(100, 500)
        }
        .to_string();
        let mut cmd = match &spec.launch {
            Launch::Tool(program, args) => {
                let mut cmd = Command::new(env.bin_dir.join(program));
                // Per-run events (elected, lost and why) to explain a finding.
                let events = env
                    .work
                    .join("events")
                    .join(format!("{}-{runs}.jsonl", spec.name));
                cmd.args(["--zk", connect, "--session-timeout", SESSION])
                    .arg("--events")
                    .arg(events)
                    .args(args)
                    .arg(spec.path)
                    .arg("--")
                    .arg(&env.nemesis)
                    .args(["heartbeat", hb.to_str().unwrap(), &hold]);
                cmd
            }
            Launch::Bogus => {
                let mut cmd = Command::new(&env.nemesis);
                cmd.args(["heartbeat", hb.to_str().unwrap(), &hold]);
                cmd
            }
            Launch::Java(_) | Launch::Python(_) => unreachable!(),
        };
        for var in ["ZK_CONNECT", "ZK_AUTH", "ZK_SESSION_TIMEOUT", "ZK_LOG"] {
            cmd.env_remove(var);
        }
        // Out of descriptors or disk is our problem, not the contender's:
        // say so and try again rather than end this contender's life.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
            .and_then(|out| Ok((out.try_clone()?, out)));
        let (out, err) = match out {
            Ok(pair) => pair,
            Err(e) => {
                log(format!("{}: opening {}: {e}", spec.name, logfile.display()));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let stallable = spec.stallable();
        // A stallable tool's stderr reaches its log through us.
        let mut log_copy = None;
        if stallable {
            cmd.stdin(Stdio::null()).stdout(out).stderr(Stdio::piped());
            log_copy = Some(err);
        } else {
            cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        }
        *slot.file.lock().unwrap() = Some(hb);
        let mut child = match spawn_tied_to_test_process(cmd) {
            Ok(child) => child,
            Err(e) => {
                log(format!("{}: spawn failed: {e}", spec.name));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let (Some(pipe), Some(log)) = (child.stderr.take(), log_copy) {
            copy_unless_stalled(pipe, log, slot.stall_stderr.clone());
        }
        supervise(env, &spec.name, slot, child, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(rng.range(20, 200)));
    }
}

/// Copies a tool's stderr pipe into its log, except while `stalled`: then
/// nothing reads it, and the tool's writes block once the pipe (shrunk to
/// one page, so a few seconds of `-vv` fill it) is full. Ends at EOF.
fn copy_unless_stalled(
    mut pipe: std::process::ChildStderr,
    mut log: std::fs::File,
    stalled: Arc<AtomicBool>,
) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let _ = nix::fcntl::fcntl(pipe.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096));
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            if stalled.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = log.write_all(&buf[..n]);
                }
            }
        }
    });
}

/// Waits for `child`, noting its pid for the fault driver and how it
/// ended; on stop, SIGTERM after `term_after` (a waiting tool leaves the
/// queue) and SIGKILL 10 s later.
fn supervise(env: &Env, contender: &str, slot: &Slot, mut child: Child, term_after: Duration) {
    let pid = child.id();
    *slot.current.lock().unwrap() = Some(Current {
        pid,
        sent: Vec::new(),
    });
    let mut stop_seen: Option<Instant> = None;
    let mut termed = false;
    let (status, sent) = loop {
        {
            // Reaped under the lock Slot::signal sends under: no signal
            // goes to the pid once it is free, and every one is on record.
            let mut current = slot.current.lock().unwrap();
            if let Ok(Some(status)) = child.try_wait() {
                let sent = current.take().map(|c| c.sent).unwrap_or_default();
                break (status, sent);
            }
        }
        if env.stop.load(Ordering::SeqCst) {
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if !termed && since.elapsed() >= term_after {
                // A tool stopped by the nemesis must be able to act.
                slot.signal(pid, Signal::SIGCONT);
                slot.signal(pid, Signal::SIGTERM);
                termed = true;
            }
            if since.elapsed() >= term_after + Duration::from_secs(10) {
                slot.signal(pid, Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    slot.exits.lock().unwrap().push(Exit {
        contender: contender.into(),
        pid,
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        sent,
    });
}

const FAULTS: &[&str] = &[
    "kill_server",
    "kill_leader",
    "pause_server",
    "cut_link",
    "stop_holder",
    "kill_holder",
    "junk_nodes",
    "revoke_owner",
    "slow_link",
    "stall_stderr",
    "freeze_leader_restart_followers",
    "isolate_follower",
    "isolate_leader",
    "depose_leader",
    "split_leader_minority",
];

/// The faults that need the servers' peer links to go through proxies.
const PROXIED_FAULTS: &[&str] = &[
    "isolate_follower",
    "isolate_leader",
    "depose_leader",
    "split_leader_minority",
];

type Undo = Box<dyn FnOnce(&mut Ensemble, &[Vec<Proxy>])>;

struct Heal {
    what: String,
    undo: Undo,
    hit: Hit,
}

fn heal(what: String, undo: impl FnOnce(&mut Ensemble, &[Vec<Proxy>]) + 'static) -> Heal {
    Heal {
        what,
        undo: Box::new(undo),
        hit: Hit::Nobody,
    }
}

impl Heal {
    fn hitting(self, hit: Hit) -> Heal {
        Heal { hit, ..self }
    }
}

/// Whom a fault hits, recorded so the checker can tell an overstay a fault
/// explains from one nothing does.
enum Hit {
    Nobody,
    /// One contender, by index: its link cut, its tool stopped or killed.
    Contender(usize),
    /// A server: every contender seen connected to it (through its proxy)
    /// while the fault lasted, and every contender if it was the leader,
    /// whose sessions all live or die with it.
    Server {
        index: usize,
        leader: bool,
        seen: BTreeSet<usize>,
    },
}

impl Hit {
    fn server(index: usize, leader: bool, proxies: &[Vec<Proxy>]) -> Hit {
        Hit::Server {
            index,
            leader,
            seen: clients_of(proxies, index),
        }
    }

    fn contenders(&self, specs: &[Spec]) -> Vec<String> {
        let indices: Vec<usize> = match self {
            Hit::Nobody => Vec::new(),
            Hit::Contender(i) => vec![*i],
            Hit::Server { leader: true, .. } => (0..specs.len()).collect(),
            Hit::Server { seen, .. } => seen.iter().copied().collect(),
        };
        indices.into_iter().map(|i| specs[i].name.clone()).collect()
    }
}

/// The contenders connected to server `server` right now: those with an
/// established connection on their own proxy to it. Each proxy serves one
/// contender, so the proxy's side of the connection (local port = the
/// proxy's port, in the kernel's table) names the contender.
fn clients_of(proxies: &[Vec<Proxy>], server: usize) -> BTreeSet<usize> {
    let mut established = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; 01 is ESTABLISHED.
            if fields.get(3) != Some(&"01") {
                continue;
            }
            let port = fields
                .get(1)
                .and_then(|local| local.rsplit_once(':'))
                .and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
            established.extend(port);
        }
    }
    (0..proxies.len())
        .filter(|&i| established.contains(&proxies[i][server].port()))
        .collect()
}

fn restart(ensemble: &mut Ensemble, index: usize) {
    if let Err(e) = ensemble.restart(index) {
        log(format!("restarting server {}: {e:#}", index + 1));
    }
}

/// Applies one fault; `target` (drawn from the seeded RNG) picks the
/// victim, so a seed replays the same schedule. `leader` is the leader
/// just before.
fn inject(
    kind: &'static str,
    target: u64,
    leader: Option<usize>,
    ensemble: &mut Ensemble,
    proxies: &[Vec<Proxy>],
    specs: &[Spec],
    slots: &[Arc<Slot>],
) -> Heal {
    let server = (target % ensemble.len() as u64) as usize;
    match kind {
        "kill_server" => {
            let hit = Hit::server(server, leader == Some(server), proxies);
            ensemble.kill(server);
            heal(format!("server {}", server + 1), move |e, _| {
                restart(e, server)
            })
            .hitting(hit)
        }
        "kill_leader" => match leader {
            Some(leader) => {
                let hit = Hit::server(leader, true, proxies);
                ensemble.kill(leader);
                heal(format!("leader server {}", leader + 1), move |e, _| {
                    restart(e, leader)
                })
                .hitting(hit)
            }
            None => heal("no leader to kill".into(), |_, _| {}),
        },
        "pause_server" => {
            let hit = Hit::server(server, leader == Some(server), proxies);
            ensemble.pause(server);
            heal(format!("server {}", server + 1), move |e, _| {
                e.resume(server)
            })
            .hitting(hit)
        }
        "cut_link" => {
            let c = (target % specs.len() as u64) as usize;
            for p in &proxies[c] {
                p.blackhole();
            }
            heal(format!("{}'s link", specs[c].name), move |_, proxies| {
                for p in &proxies[c] {
                    p.restore();
                }
            })
            .hitting(Hit::Contender(c))
        }
        "stop_holder" | "kill_holder" => {
            // Prefer a tool that owns right now, starting from the drawn one.
            let tools: Vec<usize> = (0..specs.len())
                .filter(|&i| matches!(specs[i].launch, Launch::Tool(..)))
                .collect();
            let start = (target % tools.len() as u64) as usize;
            let order = (0..tools.len()).map(|k| tools[(start + k) % tools.len()]);
            let pick = order
                .clone()
                .find(|&i| slots[i].holding())
                .or_else(|| order.clone().find(|&i| slots[i].pid().is_some()));
            let pid = pick.and_then(|i| Some((i, slots[i].pid()?)));
            let Some((i, pid)) = pid else {
                return heal("no tool running".into(), |_, _| {});
            };
            let what = format!(
                "{} pid {pid}{}",
                specs[i].name,
                if slots[i].holding() { " (holding)" } else { "" }
            );
            let slot = slots[i].clone();
            if kind == "stop_holder" {
                slot.signal(pid, Signal::SIGTSTP);
                heal(what, move |_, _| {
                    slot.signal(pid, Signal::SIGCONT);
                })
                .hitting(Hit::Contender(i))
            } else {
                slot.signal(pid, Signal::SIGKILL);
                heal(what, |_, _| {}).hitting(Hit::Contender(i))
            }
        }
        "isolate_follower" => {
            // A follower, not the leader: it goes on answering its clients
            // (for syncLimit) while the leader expires their sessions.
            let followers: Vec<usize> =
                (0..ensemble.len()).filter(|&i| Some(i) != leader).collect();
            let victim = followers[(target % followers.len() as u64) as usize];
            // Who talks to it before the cut: a client learns nothing of it.
            let hit = Hit::server(victim, false, proxies);
            if let Err(e) = ensemble.isolate(victim) {
                return heal(format!("isolating server {}: {e:#}", victim + 1), |_, _| {});
            }
            heal(
                format!(
                    "server {} (leader is {:?})",
                    victim + 1,
                    leader.map(|l| l + 1)
                ),
                move |e, _| {
                    if let Err(err) = e.heal(victim) {
                        log(format!("healing server {}: {err:#}", victim + 1));
                    }
                },
            )
            .hitting(hit)
        }
        "isolate_leader" | "depose_leader" => {
            let Some(leader) = leader else {
                return heal("no leader".into(), |_, _| {});
            };
            let hit = Hit::server(leader, true, proxies);
            // Isolated, it hears nothing and knows it after syncLimit;
            // deposed, its followers leave it (their links reset on their
            // side) and elect another at once, while it believes it leads
            // and answers its clients until syncLimit runs out.
            let done = if kind == "isolate_leader" {
                ensemble.isolate(leader)
            } else {
                ensemble.depose(leader)
            };
            if let Err(e) = done {
                return heal(format!("{kind} server {}: {e:#}", leader + 1), |_, _| {});
            }
            heal(format!("leader server {}", leader + 1), move |e, _| {
                if let Err(err) = e.heal(leader) {
                    log(format!("healing server {}: {err:#}", leader + 1));
                }
            })
            .hitting(hit)
        }
        "split_leader_minority" => {
            let Some(leader) = leader else {
                return heal("no leader".into(), |_, _| {});
            };
            // The leader and one follower: no quorum on their side, a
            // quorum of three on the other, which resets its side of the
            // links and so elects anew while the leader still leads.
            let followers: Vec<usize> = (0..ensemble.len()).filter(|&i| i != leader).collect();
            let minority = vec![
                leader,
                followers[(target % followers.len() as u64) as usize],
            ];
            let hit = Hit::server(leader, true, proxies);
            if let Err(e) = ensemble.split_deposing(&minority) {
                return heal(format!("splitting: {e:#}"), |_, _| {});
            }
            let what = format!(
                "servers {} and {} (leader {}) from the rest",
                minority[0] + 1,
                minority[1] + 1,
                leader + 1
            );
            heal(what, move |e, _| e.heal_split(&minority)).hitting(hit)
        }
        "freeze_leader_restart_followers" => {
            let Some(leader) = leader else {
                return heal("no leader".into(), |_, _| {});
            };
            // Frozen, the leader notices nothing; its followers come back
            // as new processes and elect a leader among themselves (with 5
            // servers, the other four do), and on waking it still believes
            // it leads until it finds its followers gone.
            let hit = Hit::server(leader, true, proxies);
            ensemble.pause(leader);
            if let Err(e) = ensemble.restart_all_but(leader) {
                log(format!(
                    "restarting the followers of server {}: {e:#}",
                    leader + 1
                ));
            }
            heal(format!("leader server {}", leader + 1), move |e, _| {
                e.resume(leader)
            })
            .hitting(hit)
        }
        "stall_stderr" => {
            let stallable: Vec<usize> =
                (0..specs.len()).filter(|&i| specs[i].stallable()).collect();
            let Some(&i) = stallable.get((target % stallable.len().max(1) as u64) as usize) else {
                return heal("no tool with --watchdog".into(), |_, _| {});
            };
            let flag = slots[i].stall_stderr.clone();
            flag.store(true, Ordering::SeqCst);
            heal(format!("{}'s stderr", specs[i].name), move |_, _| {
                flag.store(false, Ordering::SeqCst)
            })
            .hitting(Hit::Contender(i))
        }
        "slow_link" => {
            let c = (target % specs.len() as u64) as usize;
            let base = Duration::from_millis(50 + target % 200);
            let jitter = Duration::from_millis(target % 300);
            for p in &proxies[c] {
                p.delay(base, jitter);
            }
            heal(
                format!("{}'s link (+{base:?} up to {jitter:?} more)", specs[c].name),
                move |_, proxies| {
                    for p in &proxies[c] {
                        p.delay(Duration::ZERO, Duration::ZERO);
                    }
                },
            )
            .hitting(Hit::Contender(c))
        }
        "revoke_owner" => {
            // What `zk-lock break` and `zk-elect resign` do, unforced: the
            // owner must stop its command before the next owner starts.
            // Not in an election shared with Curator's LeaderLatch: its
            // follower watches the leader's node for deletion only, and the
            // __REVOKE__ write consumes that one-shot watch, so the latch
            // never learns the node went and the election stalls (a known
            // limitation of `zk-elect resign`, see the README).
            let beside_a_latch = |i: usize| {
                specs
                    .iter()
                    .any(|s| s.path == specs[i].path && matches!(s.launch, Launch::Java("latch")))
            };
            let owners: Vec<usize> = (0..specs.len())
                .filter(|&i| {
                    matches!(specs[i].launch, Launch::Tool(..))
                        && slots[i].holding()
                        && !beside_a_latch(i)
                })
                .collect();
            if owners.is_empty() {
                return heal("no tool owns anything".into(), |_, _| {});
            }
            let i = owners[(target % owners.len() as u64) as usize];
            let Some(pid) = slots[i].pid() else {
                return heal("no tool owns anything".into(), |_, _| {});
            };
            let id = match &specs[i].launch {
                Launch::Tool(_, args) => args
                    .iter()
                    .position(|a| *a == "--id")
                    .and_then(|k| args.get(k + 1))
                    .map(|id| id.to_string()),
                _ => None,
            };
            match revoke_node_of(
                &ensemble.connect_string(),
                specs[i].path,
                pid,
                id.as_deref(),
            ) {
                Some(node) => heal(format!("{} pid {pid}: {node}", specs[i].name), |_, _| {})
                    .hitting(Hit::Contender(i)),
                None => heal(format!("{}'s node not found", specs[i].name), |_, _| {}),
            }
        }
        "junk_nodes" => {
            let connect = ensemble.connect_string();
            let planted = plant_junk(&connect);
            heal(format!("{planted} junk nodes"), move |_, _| {
                remove_junk(&connect)
            })
        }
        _ => unreachable!("unknown fault {kind}"),
    }
}

/// Writes Curator's `__REVOKE__` to the node in `dir` of the tool with
/// process id `pid`, found by its data: `"pid":N` for zk-lock, its `--id`
/// (else `HOST:PID`) for zk-elect. Returns the node.
fn revoke_node_of(connect: &str, dir: &str, pid: u32, id: Option<&str>) -> Option<String> {
    let zk = Zk::connect(connect).ok()?;
    for name in zk.children(dir).ok()? {
        let node = format!("{dir}/{name}");
        let Ok((data, _)) = zk.get(&node) else {
            continue;
        };
        let text = String::from_utf8_lossy(&data);
        let ours = text.contains(&format!("\"pid\":{pid}"))
            || text.ends_with(&format!(":{pid}"))
            || id.is_some_and(|id| text == id);
        if ours {
            zk.block_on(zk.client().set_data(&node, b"__REVOKE__", None))
                .ok()?;
            return Some(node);
        }
    }
    None
}

fn plant_junk(connect: &str) -> usize {
    let Ok(zk) = Zk::connect(connect) else {
        return 0;
    };
    let mut planted = 0;
    for dir in DIRS {
        for name in JUNK {
            let node = format!("{dir}/{name}");
            if zk
                .create(&node, b"junk", zookeeper_client::CreateMode::Persistent)
                .is_ok()
            {
                planted += 1;
            }
        }
    }
    planted
}

fn remove_junk(connect: &str) {
    let Ok(zk) = Zk::connect(connect) else {
        log("could not connect to remove junk nodes");
        return;
    };
    for dir in DIRS {
        for name in JUNK {
            let _ = zk.delete(&format!("{dir}/{name}"));
        }
    }
}

/// Nodes of ours still there after every contender exited: any ephemeral
/// node, and any lock/latch-looking node that is not planted junk. Also
/// every error that kept it from looking everywhere: a node that vanished
/// between its parent's listing and its own is gone, not an error, but a
/// failed connection or listing would otherwise pass as "nothing left".
fn stray_nodes(connect: &str) -> (Vec<Value>, Vec<String>) {
    let zk = match Zk::connect(connect) {
        Ok(zk) => zk,
        Err(e) => return (Vec::new(), vec![format!("connect: {e:#}")]),
    };
    let gone = |e: &anyhow::Error| {
        e.chain().any(|c| {
            matches!(
                c.downcast_ref::<zookeeper_client::Error>(),
                Some(zookeeper_client::Error::NoNode)
            )
        })
    };
    let mut stray = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![ROOT.to_string()];
    while let Some(path) = stack.pop() {
        let children = match zk.children(&path) {
            Ok(children) => children,
            Err(e) if path != ROOT && gone(&e) => continue,
            Err(e) => {
                errors.push(format!("{e:#}"));
                continue;
            }
        };
        for child in children {
            let node = format!("{path}/{child}");
            let stat = match zk.get(&node) {
                Ok((_, stat)) => stat,
                Err(e) if gone(&e) => continue,
                Err(e) => {
                    errors.push(format!("get {node}: {e:#}"));
                    continue;
                }
            };
            let ours = ["lock-", "latch-", "__READ__", "__WRIT__"]
                .iter()
                .any(|m| child.contains(m));
            if stat.ephemeral_owner != 0 || (ours && !JUNK.contains(&child.as_str())) {
                stray.push(json!({
                    "node": node,
                    "ephemeral_owner": format!("{:#x}", stat.ephemeral_owner),
                    "czxid": stat.czxid,
                }));
            }
            stack.push(node);
        }
    }
    (stray, errors)
}

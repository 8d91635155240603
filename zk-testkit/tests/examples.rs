//! Every file under examples/ run as shipped, against real ZooKeeper.
//!
//! Nothing is copied out of the files: each test reads the unit, crontab,
//! manifest or script from examples/ and runs its command the way systemd,
//! cron, Kubernetes or a person would, changing only what a deployment
//! changes: the connect string (the test's chroot on the shared ensemble),
//! ports, instance names and the stand-ins for the operator's own
//! programs (`nightly-report`, `scheduler`...), found first on PATH. Our
//! tools come from this build's target directory (build them first:
//! `cargo build --workspace --bins`, which scripts/test.sh's `cargo test
//! --workspace` does).
//!
//! systemd is not PID 1 here, so a unit is parsed (ExecStart=, Environment=,
//! Type=, WatchdogSec=, KillMode=, SuccessExitStatus=) and its command is
//! started with the environment systemd would give it: NOTIFY_SOCKET for
//! Type=notify (a socket this test owns), WATCHDOG_USEC from WatchdogSec=
//! and WATCHDOG_PID naming the process itself. `systemd-analyze verify`,
//! PyYAML and kubernetes-validate check the files' syntax; when one is
//! missing the test fails under CI and skips loudly elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use zk_testkit::{
    free_ports, require_zookeeper, shared, spawn_tied_to_test_process, wait_until, NotifySocket, Zk,
};

const T: Duration = Duration::from_secs(30);
const TOOLS: [&str; 6] = [
    "zk-lock",
    "zk-elect",
    "zk-health",
    "zk-members",
    "zk-ensemble",
    "zk-tree",
];

/// Every file under examples/, each exercised below. A new file must be
/// added here, with a test.
const EXERCISED: &[&str] = &[
    "README.md", // the measured numbers; its commands are those of the files below
    "cron/crontab",
    "docker-compose.yml",
    "failover/run.sh",
    "failover/update-upstream.sh",
    "kubernetes/cronjob.yaml",
    "kubernetes/leader-only.yaml",
    "kubernetes/sidecar.yaml",
    "kubernetes/wait-for-zookeeper.yaml",
    "systemd/zk-cleanup.service",
    "systemd/zk-cleanup.timer",
    "systemd/zk-elect@.service",
    "systemd/zk-health@.service",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples")
}

fn read_example(file: &str) -> String {
    let path = examples().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// This build's target/debug (the test runs from target/debug/deps).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    for tool in TOOLS {
        assert!(
            dir.join(tool).exists(),
            "{} is missing: build the tools first (cargo build --workspace --bins)",
            dir.join(tool).display()
        );
    }
    dir
}

/// Whether an external checker is installed; under CI a missing one fails
/// the test instead, so CI never goes green by skipping.
fn have(what: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = format!("{what} is not installed (scripts/zookeeper.sh install adds it)");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// A directory for one test: stand-ins for the operator's programs, the
/// files they record into, logs.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("zk-examples-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        Sandbox { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// An executable `bin/NAME` running `body` with sh.
    fn stand_in(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.join("bin").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// PATH: the stand-ins, our tools, then systemd's default PATH.
    fn search_path(&self) -> String {
        format!(
            "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.join("bin").display(),
            bin_dir().display()
        )
    }

    /// A clean environment as a service manager gives one: PATH, HOME,
    /// LANG, then `env`.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, env: &[(String, String)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", self.search_path())
            .env("HOME", &self.dir)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(file))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A long-running process in a process group of its own, with its output
/// in a log file; the group is killed if the test ends first.
struct Proc {
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    fn start(mut cmd: Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0);
        let child = spawn_tied_to_test_process(cmd).unwrap();
        Proc {
            child,
            log,
            status: None,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, signal: Signal) {
        let _ = kill(self.pid(), signal);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.status.is_none() && self.child.try_wait().unwrap().is_none()
    }

    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.status = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pid {} did not exit within {timeout:?}; its log:\n{}",
                self.child.id(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = killpg(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to completion (bounded), returning its status and output.
fn run(mut cmd: Command) -> (i32, String, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = spawn_tied_to_test_process(cmd).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn zk_tool(sandbox: &Sandbox, connect: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = sandbox.command(bin_dir().join(args[0]), &[]);
    cmd.args(["--zk", connect]).args(&args[1..]);
    run(cmd)
}

// ---------------------------------------------------------------- systemd

/// A unit file's settings, as systemd reads them: `[Section]`, `Key=value`,
/// comments, and lines continued with a trailing backslash.
struct Unit {
    name: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    fn load(file: &str) -> Unit {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut line = String::new();
        for raw in read_example(&format!("systemd/{file}")).lines() {
            let raw = raw.trim();
            if line.is_empty() && (raw.is_empty() || raw.starts_with('#') || raw.starts_with(';')) {
                continue;
            }
            if let Some(continued) = raw.strip_suffix('\\') {
                line.push_str(continued);
                line.push(' ');
                continue;
            }
            line.push_str(raw);
            let whole = std::mem::take(&mut line);
            if whole.starts_with('[') {
                section = whole.trim_matches(['[', ']']).to_string();
                continue;
            }
            let (key, value) = whole
                .split_once('=')
                .unwrap_or_else(|| panic!("{file}: not Key=value: {whole}"));
            entries.push((section.clone(), key.trim().into(), value.trim().into()));
        }
        Unit {
            name: file.into(),
            entries,
        }
    }

    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.all(section, key).last().copied()
    }

    fn service(&self, key: &str) -> Option<&str> {
        self.get("Service", key)
    }

    /// Environment= assignments, specifiers expanded, then `overrides`
    /// (what an EnvironmentFile= on the host would set) replacing them.
    fn environment(
        &self,
        spec: &Specifiers,
        overrides: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for value in self.all("Service", "Environment") {
            for word in split_words(&spec.expand(value)) {
                let (k, v) = word.split_once('=').expect("Environment=NAME=value");
                env.retain(|(name, _)| name != k);
                env.push((k.into(), v.into()));
            }
        }
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push(((*k).into(), v.clone()));
        }
        env
    }

    /// ExecStart= split into words, `$VAR` (a word of its own, split at
    /// whitespace) and `${VAR}` (one word) replaced as systemd does.
    fn exec_start(&self, spec: &Specifiers, env: &[(String, String)]) -> Vec<String> {
        let line = self.service("ExecStart").expect("ExecStart=");
        assert!(
            !line.starts_with(['-', '@', ':', '+', '!']),
            "{}: an ExecStart= prefix this test does not model",
            self.name
        );
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut argv = Vec::new();
        for word in split_words(&spec.expand(line)) {
            let bare = word.strip_prefix('$').filter(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if let Some(name) = bare {
                argv.extend(lookup(name).split_whitespace().map(String::from));
                continue;
            }
            let mut out = String::new();
            let mut rest = word.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').expect("${VAR}") + start;
                out.push_str(&lookup(&rest[start + 2..end]));
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            argv.push(out);
        }
        argv
    }

    fn success_statuses(&self) -> BTreeSet<i32> {
        let mut codes: BTreeSet<i32> = [0].into();
        for value in self.all("Service", "SuccessExitStatus") {
            codes.extend(value.split_whitespace().map(|c| c.parse::<i32>().unwrap()));
        }
        codes
    }

    /// Starts the service's main process the way systemd would.
    fn start(
        &self,
        sandbox: &Sandbox,
        spec: &Specifiers,
        overrides: &[(&str, String)],
        notify: Option<&NotifySocket>,
    ) -> Proc {
        let mut env = self.environment(spec, overrides);
        let argv = self.exec_start(spec, &env);
        let notify_type = self.service("Type") == Some("notify");
        assert_eq!(notify_type, notify.is_some(), "{}: Type=notify", self.name);
        if let Some(notify) = notify {
            env.push(("NOTIFY_SOCKET".into(), notify.path().display().to_string()));
        }
        let watchdog = self.service("WatchdogSec").map(systemd_duration);
        if let Some(w) = watchdog {
            env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
        }
        // systemd knows the main pid before exec; a shell that execs keeps
        // its own, so WATCHDOG_PID names the process that reads it.
        let script = if watchdog.is_some() {
            r#"WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@""#
        } else {
            r#"exec "$@""#
        };
        let mut cmd = sandbox.command("sh", &env);
        cmd.args(["-c", script, "sh"])
            .arg(program(&argv[0]))
            .args(&argv[1..]);
        let log = sandbox.path(&format!("{}.log", spec.unit_name));
        Proc::start(cmd, log)
    }
}

/// `/usr/bin/zk-health` and the like are this build's; anything else is
/// used as named.
fn program(argv0: &str) -> PathBuf {
    let base = Path::new(argv0).file_name().unwrap().to_str().unwrap();
    if TOOLS.contains(&base) {
        bin_dir().join(base)
    } else {
        PathBuf::from(argv0)
    }
}

/// The unit specifiers the examples use.
struct Specifiers {
    instance: String,
    host: String,
    unit_name: String,
}

impl Specifiers {
    fn new(template: &str, instance: &str, host: &str) -> Specifiers {
        Specifiers {
            instance: instance.into(),
            host: host.into(),
            unit_name: template.replacen("@.", &format!("@{instance}."), 1),
        }
    }

    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('i') | Some('I') => out.push_str(&self.instance),
                Some('H') => out.push_str(&self.host),
                Some('n') => out.push_str(&self.unit_name),
                Some('%') => out.push('%'),
                other => panic!("specifier %{other:?} is not modelled by this test"),
            }
        }
        out
    }
}

/// systemd's word splitting: whitespace between words, double or single
/// quotes around a whole word, backslash escapes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            for c in chars.by_ref() {
                if c == first {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    word.extend(chars.next());
                } else {
                    word.push(c);
                }
            }
        }
        words.push(word);
    }
}

/// `30s`, `2min`, `500ms`, `1h`, or seconds.
fn systemd_duration(text: &str) -> Duration {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: f64 = digits.parse().unwrap();
    let secs = match &text[digits.len()..] {
        "" | "s" | "sec" => n,
        "ms" | "msec" => n / 1000.0,
        "min" | "m" => n * 60.0,
        "h" => n * 3600.0,
        unit => panic!("duration unit {unit} not modelled"),
    };
    Duration::from_secs_f64(secs)
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {status}"))
}

fn tcp_accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if !have(
        "systemd-analyze (Debian package systemd)",
        Command::new("systemd-analyze").arg("--version"),
    ) {
        return;
    }
    // A root of our own: the units in /etc/systemd/system, stand-ins for
    // the binaries they name (verify checks that those exist), and the
    // system's units they depend on.
    let sandbox = Sandbox::new("verify");
    let root = sandbox.path("root");
    let units = root.join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let (code, _, err) = run({
        let mut c = Command::new("cp");
        c.arg("-a")
            .arg("/usr/lib/systemd/system")
            .arg(root.join("usr/lib/systemd/"));
        c
    });
    assert_eq!(code, 0, "copying the system's units: {err}");
    for tool in TOOLS {
        let stand_in = root.join("usr/bin").join(tool);
        std::fs::copy(bin_dir().join(tool), &stand_in).unwrap();
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples().join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::copy(&path, units.join(&file)).unwrap();
        // A template is verified through an instance of it.
        let name = file.replacen("@.", "@example.", 1);
        if name != file {
            std::os::unix::fs::symlink(&file, units.join(&name)).unwrap();
        }
        names.push(name);
    }
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .args(&names);
    let (code, out, err) = run(cmd);
    // verify exits 0 on settings it ignores (an unknown key, a bad value),
    // and only says so on stderr.
    let about_ours: Vec<&str> = err
        .lines()
        .filter(|l| names.iter().any(|n| l.contains(n.as_str())) || l.contains("zk-"))
        .collect();
    assert!(
        code == 0 && about_ours.is_empty(),
        "systemd-analyze verify {names:?}: exit {code}\n{out}{err}"
    );
}

#[test]
fn systemd_health_unit_registers_notifies_feeds_the_watchdog_and_drains() {
    require_zookeeper!();
    let connect = shared().chroot("example-health-unit");
    let sandbox = Sandbox::new("health-unit");
    let unit = Unit::load("zk-health@.service");
    assert_eq!(unit.service("Type"), Some("notify"));
    assert_eq!(
        unit.service("KillMode"),
        Some("mixed"),
        "drain needs KillMode=mixed"
    );
    let port = free_ports(1).unwrap()[0];
    let spec = Specifiers::new("zk-health@.service", "web", "host-a");
    let overrides = [
        ("ZK_CONNECT", connect.clone()),
        ("APP_PORT", port.to_string()),
        (
            "APP_COMMAND",
            format!("/usr/bin/python3 -m http.server --bind 127.0.0.1 {port}"),
        ),
    ];
    let mut notify = NotifySocket::bind();
    let mut service = unit.start(&sandbox, &spec, &overrides, Some(&notify));

    let ready = notify.wait_for("READY=1", Duration::from_secs(60));
    assert_eq!(ready.value("STATUS"), Some("registered"));
    if !notify.received.iter().any(|n| n.has("WATCHDOG=1")) {
        notify.wait_for("WATCHDOG=1", T);
    }
    let zk = Zk::connect(&connect).unwrap();
    let data = zk.get("/services/web/host-a").unwrap().0;
    let instance: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(instance["name"], "web");
    assert_eq!(instance["address"], "host-a");
    assert_eq!(instance["port"], port);

    // systemctl stop: SIGTERM to the main process only (KillMode=mixed).
    service.signal(Signal::SIGTERM);
    notify.wait_for("STOPPING=1", T);
    // Deregistered first, while the app still serves for --drain.
    wait_until("the registration is gone", Duration::from_secs(4), || {
        !zk.exists("/services/web/host-a").unwrap()
    });
    // Still serving well into the 5 s drain (without one it is gone at once).
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        tcp_accepts(port),
        "the app stopped before the drain ended:\n{}",
        service.log()
    );
    let stop_timeout = systemd_duration(unit.service("TimeoutStopSec").unwrap());
    let code = exit_code(service.wait(stop_timeout));
    assert!(
        unit.success_statuses().contains(&code),
        "exit {code} would mark the unit failed:\n{}",
        service.log()
    );
}

#[test]
fn systemd_elect_units_on_two_hosts_run_one_active_and_fail_over_on_stop() {
    require_zookeeper!();
    let connect = shared().chroot("example-elect-unit");
    let sandbox = Sandbox::new("elect-unit");
    let unit = Unit::load("zk-elect@.service");
    let app = sandbox.stand_in(
        "app",
        &format!(
            "echo \"$1\" >> {}; exec sleep 600",
            sandbox.path("active").display()
        ),
    );
    let start = |host: &str| {
        let spec = Specifiers::new("zk-elect@.service", "scheduler", host);
        let overrides = [
            ("ZK_CONNECT", connect.clone()),
            ("APP_COMMAND", format!("{} {host}", app.display())),
        ];
        unit.start(&sandbox, &spec, &overrides, None)
    };
    let mut a = start("host-a");
    wait_until("host-a's app runs", T, || {
        sandbox.lines("active").len() == 1
    });
    let b = start("host-b");
    let is = |host: &str| {
        zk_tool(
            &sandbox,
            &connect,
            &["zk-elect", "leader", "--is", host, "/election/scheduler"],
        )
        .0
    };
    assert_eq!(is("host-a"), 0);
    wait_until("host-b stands", T, || {
        let (_, out, _) = zk_tool(
            &sandbox,
            &connect,
            &["zk-elect", "candidates", "/election/scheduler"],
        );
        out.contains("host-b")
    });
    assert_eq!(is("host-b"), 1);
    assert_eq!(
        sandbox.lines("active"),
        ["host-a"],
        "the standby ran its app"
    );

    a.signal(Signal::SIGTERM);
    let code = exit_code(a.wait(systemd_duration(unit.service("TimeoutStopSec").unwrap())));
    assert!(
        unit.success_statuses().contains(&code),
        "exit {code}:\n{}",
        a.log()
    );
    wait_until("host-b's app runs", T, || {
        sandbox.lines("active").len() == 2
    });
    assert_eq!(sandbox.lines("active"), ["host-a", "host-b"]);
    assert_eq!(is("host-b"), 0);
    drop(b);
}

#[test]
fn systemd_timer_service_runs_the_job_on_one_of_two_hosts() {
    require_zookeeper!();
    let connect = shared().chroot("example-timer");
    let sandbox = Sandbox::new("timer");
    let timer = Unit::load("zk-cleanup.timer");
    assert!(timer.get("Timer", "OnCalendar").is_some());
    let unit = Unit::load("zk-cleanup.service");
    assert_eq!(unit.service("Type"), Some("oneshot"));
    let job = sandbox.stand_in(
        "cleanup",
        &format!("echo ran >> {}; sleep 2", sandbox.path("ran").display()),
    );
    // Both hosts' timers fire at once.
    let mut hosts: Vec<Proc> = ["host-a", "host-b"]
        .iter()
        .map(|host| {
            let spec = Specifiers::new("zk-cleanup.service", "", host);
            let overrides = [
                ("ZK_CONNECT", connect.clone()),
                ("JOB_COMMAND", job.display().to_string()),
            ];
            unit.start(&sandbox, &spec, &overrides, None)
        })
        .collect();
    let codes: Vec<i32> = hosts.iter_mut().map(|h| exit_code(h.wait(T))).collect();
    assert_eq!(sandbox.lines("ran").len(), 1, "exit codes {codes:?}");
    // One ran; the other found it busy, which -E 0 makes a success.
    assert_eq!(codes, [0, 0]);
    assert!(
        !unit.success_statuses().contains(&75),
        "a job's own 75 must fail the unit"
    );
    for code in codes {
        assert!(
            unit.success_statuses().contains(&code),
            "exit {code} would fail the unit"
        );
    }
    // A third host fires late (its clock behind), after the job finished:
    // --once-per skips it, a success, and the job does not run again.
    let spec = Specifiers::new("zk-cleanup.service", "", "host-c");
    let overrides = [
        ("ZK_CONNECT", connect.clone()),
        ("JOB_COMMAND", job.display().to_string()),
    ];
    let mut late = unit.start(&sandbox, &spec, &overrides, None);
    assert_eq!(exit_code(late.wait(T)), 0);
    assert_eq!(sandbox.lines("ran").len(), 1);
}

// ------------------------------------------------------------------- cron

/// The crontab's `NAME=value` lines and its jobs' commands, in order.
fn crontab() -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut jobs = Vec::new();
    for line in read_example("cron/crontab").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap();
        if let Some((k, v)) = first.split_once('=').filter(|_| !line.contains(' ')) {
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        // Five time fields, then the command (no % in ours: cron would
        // turn it into a newline).
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            rest = &rest[rest.find(char::is_whitespace).unwrap()..];
        }
        let command = rest.trim().to_string();
        assert!(!command.contains('%'), "an unescaped % in: {command}");
        jobs.push(command);
    }
    (env, jobs)
}

/// Runs a crontab command as cron does: `$SHELL -c`, the crontab's
/// variables, PATH with the stand-ins and our tools first.
fn cron_job(sandbox: &Sandbox, connect: &str, command: &str) -> Command {
    let (env, _) = crontab();
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k != "PATH" && k != "ZK_CONNECT")
        .collect();
    env.push(("ZK_CONNECT".into(), connect.into()));
    let shell = env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map_or("/bin/sh".to_string(), |(_, v)| v.clone());
    let mut cmd = sandbox.command(shell, &env);
    cmd.args(["-c", command]);
    cmd
}

fn hostname() -> String {
    let (code, out, _) = run(Command::new("hostname"));
    assert_eq!(code, 0);
    out.trim().to_string()
}

#[test]
fn cron_lock_line_run_on_two_hosts_at_once_runs_the_job_once() {
    require_zookeeper!();
    let connect = shared().chroot("example-cron-lock");
    let sandbox = Sandbox::new("cron-lock");
    let (_, jobs) = crontab();
    let line = jobs
        .iter()
        .find(|j| j.contains("zk-lock -n"))
        .expect("a zk-lock -n line");
    sandbox.stand_in(
        "nightly-report",
        &format!("echo ran >> {}; sleep 2", sandbox.path("ran").display()),
    );
    let mut runs: Vec<Proc> = (0..2)
        .map(|i| {
            Proc::start(
                cron_job(&sandbox, &connect, line),
                sandbox.path(&format!("run-{i}.log")),
            )
        })
        .collect();
    let mut codes: Vec<i32> = runs.iter_mut().map(|r| exit_code(r.wait(T))).collect();
    codes.sort();
    assert_eq!(sandbox.lines("ran"), ["ran"], "exit codes {codes:?}");
    assert_eq!(codes, [0, 75]);
    // A host whose clock is late fires after the job finished: it skips.
    let mut late = Proc::start(cron_job(&sandbox, &connect, line), sandbox.path("late.log"));
    assert_eq!(exit_code(late.wait(T)), 0);
    assert_eq!(sandbox.lines("ran"), ["ran"]);
}

#[test]
fn cron_leader_line_runs_the_job_only_where_this_host_leads() {
    require_zookeeper!();
    let connect = shared().chroot("example-cron-leader");
    let sandbox = Sandbox::new("cron-leader");
    let (_, jobs) = crontab();
    let line = jobs
        .iter()
        .find(|j| j.contains("zk-elect leader --is"))
        .expect("a zk-elect leader --is line");
    sandbox.stand_in(
        "rotate-exports",
        &format!("echo ran >> {}", sandbox.path("ran").display()),
    );
    // This host stands as the crontab says: zk-elect@cron.service, whose id
    // is %H, the hostname.
    let unit = Unit::load("zk-elect@.service");
    let spec = Specifiers::new("zk-elect@.service", "cron", &hostname());
    let mut here = unit.start(&sandbox, &spec, &[("ZK_CONNECT", connect.clone())], None);
    let leads = |id: &str| {
        zk_tool(
            &sandbox,
            &connect,
            &["zk-elect", "leader", "--is", id, "/election/cron"],
        )
        .0 == 0
    };
    wait_until("this host leads /election/cron", T, || leads(&hostname()));
    let (code, _, err) = run(cron_job(&sandbox, &connect, line));
    assert_eq!((code, sandbox.lines("ran").len()), (0, 1), "{err}");

    // Another host leads now: the job does not run here.
    here.signal(Signal::SIGTERM);
    here.wait(T);
    let mut other = sandbox.command(bin_dir().join("zk-elect"), &[]);
    // Without a command it leads until stdin ends: keep it open.
    other
        .args(["--zk", &connect, "--id", "another-host", "/election/cron"])
        .stdin(Stdio::piped());
    let _other = Proc::start(other, sandbox.path("other.log"));
    wait_until("another host leads", T, || leads("another-host"));
    let (code, _, _) = run(cron_job(&sandbox, &connect, line));
    assert_eq!(code, 1, "the guard let the job through");
    assert_eq!(
        sandbox.lines("ran").len(),
        1,
        "the job ran on a host that does not lead"
    );
}

// ------------------------------------------------------------- Kubernetes

/// Every document of a YAML file, as JSON (through PyYAML).
fn yaml_documents(file: &str) -> Option<Vec<Value>> {
    if !have(
        "PyYAML (pip install PyYAML)",
        Command::new("python3").args(["-c", "import yaml"]),
    ) {
        return None;
    }
    let path = examples().join(file);
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
    ])
    .arg(&path);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{}: {err}", path.display());
    Some(serde_json::from_str(&out).unwrap())
}

/// The pod template's containers (`initContainers` or `containers`).
fn containers(doc: &Value, which: &str) -> Vec<Value> {
    let spec = match doc["kind"].as_str().unwrap() {
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &doc["spec"]["template"]["spec"],
    };
    spec[which].as_array().cloned().unwrap_or_default()
}

/// The container's environment: its `value`s, `valueFrom` ones from
/// `downward` (what the kubelet would fill in), then `overrides`.
fn pod_env(
    container: &Value,
    downward: &[(&str, &str)],
    overrides: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap();
        let value = match var["value"].as_str() {
            Some(v) => v.to_string(),
            None => downward
                .iter()
                .find(|(k, _)| *k == name)
                .unwrap_or_else(|| panic!("no downward value for {name}"))
                .1
                .to_string(),
        };
        env.push((name.to_string(), value));
    }
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        env.push(((*k).into(), v.clone()));
    }
    env
}

/// command + args with `$(VAR)` expanded from the container's env, as the
/// kubelet does (probes get no such expansion).
fn pod_argv(container: &Value, env: &[(String, String)]) -> Vec<String> {
    let words = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten());
    words
        .map(|w| {
            let mut w = w.as_str().unwrap().to_string();
            for (k, v) in env {
                w = w.replace(&format!("$({k})"), v);
            }
            w
        })
        .collect()
}

fn pod_command(sandbox: &Sandbox, argv: &[String], env: &[(String, String)]) -> Command {
    let mut cmd = sandbox.command(&argv[0], env);
    cmd.args(&argv[1..]);
    cmd
}

#[test]
fn kubernetes_manifests_are_valid_against_the_api_schemas() {
    if !have(
        "kubernetes-validate (pip install kubernetes-validate)",
        Command::new("kubernetes-validate").arg("--version"),
    ) {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples().join("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let mut cmd = Command::new("kubernetes-validate");
    cmd.arg("--strict").args(&files);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}{err}");
    let passed = format!("{out}{err}").matches(" passed ").count();
    assert!(passed >= files.len(), "{out}{err}");
}

#[test]
fn kubernetes_init_containers_wait_for_the_quorum_and_the_service() {
    require_zookeeper!();
    let Some(docs) = yaml_documents("kubernetes/wait-for-zookeeper.yaml") else {
        return;
    };
    let connect = shared().chroot("example-k8s-init");
    let sandbox = Sandbox::new("k8s-init");
    let inits = containers(&docs[0], "initContainers");
    assert_eq!(inits.len(), 2);
    let env_for = |c: &Value| pod_env(c, &[], &[("ZK_CONNECT", connect.clone())]);

    let quorum = &inits[0];
    let env = env_for(quorum);
    let argv = pod_argv(quorum, &env);
    assert_eq!(argv[..2], ["zk-ensemble", "wait"]);
    let (code, out, err) = run(pod_command(&sandbox, &argv, &env));
    assert_eq!(code, 0, "{argv:?}: {err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["ensemble"]["has_quorum"], true);

    let web = &inits[1];
    let env = env_for(web);
    let argv = pod_argv(web, &env);
    assert_eq!(argv[..2], ["zk-members", "wait"]);
    let mut waiting = Proc::start(pod_command(&sandbox, &argv, &env), sandbox.path("web.log"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        waiting.running(),
        "did not wait for /services/web: {}",
        waiting.log()
    );
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/services/web").unwrap();
    zk.create(
        "/services/web/web-0",
        b"{}",
        zookeeper_client::CreateMode::Ephemeral,
    )
    .unwrap();
    assert_eq!(exit_code(waiting.wait(T)), 0, "{}", waiting.log());
}

#[test]
fn kubernetes_sidecar_registers_the_pod_while_the_app_answers() {
    require_zookeeper!();
    let Some(docs) = yaml_documents("kubernetes/sidecar.yaml") else {
        return;
    };
    let connect = shared().chroot("example-k8s-sidecar");
    let sandbox = Sandbox::new("k8s-sidecar");
    let pod = containers(&docs[0], "containers");
    let sidecar = pod.iter().find(|c| c["name"] == "zk-health").unwrap();
    let port = free_ports(1).unwrap()[0];
    let env = pod_env(
        sidecar,
        &[("POD_NAME", "web-7d9f"), ("POD_IP", "127.0.0.1")],
        &[
            ("ZK_CONNECT", connect.clone()),
            ("APP_PORT", port.to_string()),
        ],
    );
    let argv = pod_argv(sidecar, &env);
    let mut app = Command::new("python3");
    app.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        &port.to_string(),
    ])
    .current_dir(&sandbox.dir);
    let app = Proc::start(app, sandbox.path("app.log"));
    let mut health = Proc::start(
        pod_command(&sandbox, &argv, &env),
        sandbox.path("health.log"),
    );
    let zk = Zk::connect(&connect).unwrap();
    wait_until("the pod is registered", T, || {
        zk.exists("/services/web/web-7d9f").unwrap()
    });
    let instance: Value =
        serde_json::from_slice(&zk.get("/services/web/web-7d9f").unwrap().0).unwrap();
    assert_eq!(instance["address"], "127.0.0.1");
    assert_eq!(instance["port"], port);

    // Pod termination: SIGTERM to every container; the registration goes
    // at once (the app's preStop keeps it serving meanwhile).
    health.signal(Signal::SIGTERM);
    assert_eq!(exit_code(health.wait(T)), 0, "{}", health.log());
    assert!(!zk.exists("/services/web/web-7d9f").unwrap());
    drop(app);
}

#[test]
fn kubernetes_leader_only_deployment_is_ready_on_the_leader_alone() {
    require_zookeeper!();
    let Some(docs) = yaml_documents("kubernetes/leader-only.yaml") else {
        return;
    };
    let connect = shared().chroot("example-k8s-leader");
    let sandbox = Sandbox::new("k8s-leader");
    sandbox.stand_in(
        "scheduler",
        &format!(
            "echo \"$POD_NAME\" >> {}; exec sleep 600",
            sandbox.path("active").display()
        ),
    );
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let container = &containers(deployment, "containers")[0];
    let probe: Vec<String> = container["readinessProbe"]["exec"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let pod = |name: &str| {
        let env = pod_env(
            container,
            &[("POD_NAME", name)],
            &[("ZK_CONNECT", connect.clone())],
        );
        (pod_argv(container, &env), env)
    };
    let ready = |name: &str| {
        let (_, env) = pod(name);
        run(pod_command(&sandbox, &probe, &env)).0 == 0
    };
    let (argv, env) = pod("scheduler-a");
    let mut a = Proc::start(pod_command(&sandbox, &argv, &env), sandbox.path("a.log"));
    wait_until("scheduler-a is ready", T, || ready("scheduler-a"));
    let (argv, env) = pod("scheduler-b");
    let _b = Proc::start(pod_command(&sandbox, &argv, &env), sandbox.path("b.log"));
    wait_until("scheduler-b stands", T, || {
        zk_tool(
            &sandbox,
            &connect,
            &["zk-elect", "candidates", "/election/scheduler"],
        )
        .1
        .contains("scheduler-b")
    });
    assert!(!ready("scheduler-b"), "the standby is ready too");
    assert_eq!(sandbox.lines("active"), ["scheduler-a"]);

    a.signal(Signal::SIGTERM);
    a.wait(T);
    wait_until("scheduler-b is ready", T, || ready("scheduler-b"));
    assert!(!ready("scheduler-a"));
    assert_eq!(sandbox.lines("active"), ["scheduler-a", "scheduler-b"]);
}

#[test]
fn kubernetes_cronjob_runs_once_across_two_runners_and_busy_is_success() {
    require_zookeeper!();
    let Some(docs) = yaml_documents("kubernetes/cronjob.yaml") else {
        return;
    };
    let connect = shared().chroot("example-k8s-cronjob");
    let sandbox = Sandbox::new("k8s-cronjob");
    sandbox.stand_in(
        "nightly-report",
        &format!("echo ran >> {}; sleep 2", sandbox.path("ran").display()),
    );
    let container = &containers(&docs[0], "containers")[0];
    let env = pod_env(container, &[], &[("ZK_CONNECT", connect.clone())]);
    let argv = pod_argv(container, &env);
    let mut runs: Vec<Proc> = (0..2)
        .map(|i| {
            Proc::start(
                pod_command(&sandbox, &argv, &env),
                sandbox.path(&format!("run-{i}.log")),
            )
        })
        .collect();
    let codes: Vec<i32> = runs.iter_mut().map(|r| exit_code(r.wait(T))).collect();
    assert_eq!(sandbox.lines("ran"), ["ran"], "exit codes {codes:?}");
    assert_eq!(
        codes,
        [0, 0],
        "the runner that found it busy must not fail the Job"
    );
}

// --------------------------------------------------------- docker compose

#[test]
fn docker_compose_ensemble_config_is_coherent_and_its_wait_runs() {
    require_zookeeper!();
    let Some(docs) = yaml_documents("docker-compose.yml") else {
        return;
    };
    let services = docs[0]["services"].as_object().unwrap();
    // The servers: an id each, one identical server list naming them all.
    let mut ids = BTreeMap::new();
    let mut lists = BTreeSet::new();
    for (name, service) in services {
        let env = &service["environment"];
        if let Some(id) = env["ZOO_MY_ID"].as_str() {
            ids.insert(id.parse::<u32>().unwrap(), name.clone());
            lists.insert(env["ZOO_SERVERS"].as_str().unwrap().to_string());
            assert_eq!(service["hostname"].as_str(), Some(name.as_str()));
        }
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(
        lists.len(),
        1,
        "the servers disagree on the ensemble: {lists:?}"
    );
    let list = lists.into_iter().next().unwrap();
    let mut listed = BTreeMap::new();
    for server in list.split_whitespace() {
        // server.N=host:peer:election[:role];clientPort
        let (key, addr) = server.split_once('=').unwrap();
        let n: u32 = key.strip_prefix("server.").unwrap().parse().unwrap();
        let host = addr.split(':').next().unwrap().to_string();
        let client = addr.rsplit_once(';').unwrap().1;
        assert_eq!(client, "2181", "{server}");
        listed.insert(n, host);
    }
    assert_eq!(listed, ids, "ZOO_SERVERS and ZOO_MY_ID disagree");
    // The tools: each connects to exactly those servers, and waits for
    // what it depends on.
    let expected: BTreeSet<String> = ids.values().map(|h| format!("{h}:2181")).collect();
    let mut tools = 0;
    for (name, service) in services {
        let Some(connect) = service["environment"]["ZK_CONNECT"].as_str() else {
            continue;
        };
        tools += 1;
        let servers: BTreeSet<String> = connect.split(',').map(String::from).collect();
        assert_eq!(servers, expected, "{name}");
        let program = service["command"][0].as_str().unwrap();
        assert!(TOOLS.contains(&program), "{name}: {program}");
        let deps: Vec<String> = match &service["depends_on"] {
            Value::Array(a) => a.iter().map(|d| d.as_str().unwrap().into()).collect(),
            Value::Object(o) => o.keys().cloned().collect(),
            _ => panic!("{name} depends on nothing"),
        };
        for dep in deps {
            assert!(
                services.contains_key(&dep),
                "{name} depends on unknown {dep}"
            );
        }
    }
    assert!(tools >= 3, "{tools} tool services");
    // The image runs as nobody and holds nothing but the tools: a volume a
    // tool writes must be mounted where the image lets nobody write (a fresh
    // named volume takes its mode from there), and no command may need a
    // shell or cat from it.
    let release = read_example("../scripts/release.sh");
    for (name, service) in services {
        if service["image"].as_str() != Some("zk-tools:0.1.0") {
            continue;
        }
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let target = volume.as_str().unwrap().split(':').nth(1).unwrap();
            assert!(
                release.contains(&format!("install -d -m 1777 \"$rootfs{target}\"")),
                "{name} writes {target}, which the image does not let nobody write"
            );
        }
    }
    let compose = read_example("docker-compose.yml");
    for needs_a_shell in ["exec upstreams cat", "sh -c"] {
        assert!(
            !compose.contains(needs_a_shell),
            "the image has no shell: {needs_a_shell}"
        );
    }
    // The one command that needs no other container: run it.
    let connect = shared().chroot("example-compose");
    let sandbox = Sandbox::new("compose");
    let argv: Vec<String> = services["ensemble-ready"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let (code, _, err) = run(pod_command(
        &sandbox,
        &argv,
        &[("ZK_CONNECT".into(), connect)],
    ));
    assert_eq!(code, 0, "{argv:?}: {err}");
}

// --------------------------------------------------------------- failover

#[test]
fn failover_run_sh_moves_the_upstream_to_the_standby_when_the_active_dies() {
    require_zookeeper!();
    let connect = shared().chroot("example-failover");
    let sandbox = Sandbox::new("failover");
    let ports = free_ports(2).unwrap();
    let dir = sandbox.path("demo");
    let env = [
        ("ZK_CONNECT".to_string(), connect.clone()),
        (
            "FAILOVER_PORTS".to_string(),
            format!("{} {}", ports[0], ports[1]),
        ),
    ];
    let mut cmd = sandbox.command("bash", &env);
    cmd.arg(examples().join("failover/run.sh")).arg(&dir);
    let mut demo = Proc::start(cmd, sandbox.path("run.log"));
    let upstream = dir.join("upstream.conf");
    let names = |port: u16| {
        std::fs::read_to_string(&upstream)
            .unwrap_or_default()
            .contains(&format!("server 127.0.0.1:{port};"))
    };
    wait_until("the upstream file names the active replica", T, || {
        names(ports[0]) || names(ports[1])
    });
    let active = if names(ports[0]) { 0 } else { 1 };
    let standby = 1 - active;
    assert!(!names(ports[standby]), "both replicas are upstream");
    let (code, out, _) = zk_tool(
        &sandbox,
        &connect,
        &["zk-elect", "leader", "/failover/election"],
    );
    assert_eq!(code, 0);
    let leader: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(leader["id"], format!("replica-{}", active + 1));

    // The active replica crashes: SIGKILL, no goodbye to ZooKeeper.
    let pid: i32 = std::fs::read_to_string(dir.join(format!("replica-{}.pid", active + 1)))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let killed = Instant::now();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let deadline = killed + Duration::from_secs(60);
    let moved = || names(ports[standby]) && !names(ports[active]);
    while !moved() {
        assert!(
            Instant::now() < deadline,
            "the upstream never moved to the standby:\n{}\n{}",
            std::fs::read_to_string(&upstream).unwrap_or_default(),
            demo.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let failover = killed.elapsed();
    eprintln!(
        "failover: the upstream named the standby {} ms after the active replica was killed \
         (ZK_SESSION_TIMEOUT 4s, run.sh's default)",
        failover.as_millis()
    );
    // Served by the standby now.
    assert!(tcp_accepts(ports[standby]));

    demo.signal(Signal::SIGTERM);
    assert_eq!(exit_code(demo.wait(T)), 143, "{}", demo.log());
}

// ------------------------------------------------------------------ all

#[test]
fn every_file_under_examples_is_exercised() {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(&examples(), &examples(), &mut files);
    files.sort();
    let mut expected: Vec<String> = EXERCISED.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "a file under examples/ without a test, or a test without its file"
    );
}

//! The nemesis's pure parts: a seeded RNG, the heartbeat file format and
//! the invariant checker. Kept apart from the process juggling in
//! `src/bin/zk-nemesis.rs` so unit tests can feed the checker made-up
//! histories, including ones that must fail.
//!
//! One ownership = one heartbeat file: the command that runs while a
//! contender owns something appends `<CLOCK_MONOTONIC nanos> <token>` every
//! ~20 ms. A stopped or dead command writes nothing, so `[first, last]`
//! heartbeat is a lower bound on when the command really ran; two such
//! intervals intersecting is proof of two owners at once.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

/// SplitMix64: tiny, good enough to draw faults, and the same sequence for
/// the same seed on every machine (no dependency whose algorithm may change).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn index(&mut self, len: usize) -> usize {
        (self.next_u64() % len as u64) as usize
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the one clock every contender stamps
/// with (Java's `System.nanoTime()` reads the same clock on Linux).
pub fn monotonic_nanos() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// How an ownership relates to others on its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Excludes everybody on the path (mutex, writer, leader).
    Exclusive,
    /// Shares with other shared owners, excludes exclusive ones (reader).
    Shared,
    /// A semaphore lease: at most the path's capacity at once.
    Lease,
}

/// One ownership: the heartbeats of one run of a command under the lock.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub contender: String,
    pub kind: String,
    pub path: String,
    pub role: Role,
    pub first: u64,
    pub last: u64,
    /// `None` when the owner had no token (the deliberately bogus
    /// contender): that fails the run as `missing_tokens`.
    pub token: Option<i64>,
    pub file: String,
}

impl Ownership {
    fn overlaps(&self, other: &Ownership) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    fn brief(&self) -> Value {
        json!({
            "contender": self.contender,
            "kind": self.kind,
            "first_ns": self.first,
            "last_ns": self.last,
            "token": self.token,
            "file": self.file,
        })
    }
}

/// Reads one heartbeat file. `None` when the command never stamped (it was
/// killed or stopped before its first line).
pub fn read_heartbeats(file: &Path) -> Option<(u64, u64, Option<i64>)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut first = None;
    let mut last = 0;
    let mut token = None;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        // A torn last line (the command was killed mid-write) is skipped.
        let Some(Ok(nanos)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        if parts.clone().next().is_none() {
            continue;
        }
        if first.is_none() {
            token = parts.next().and_then(|t| t.parse().ok());
        }
        first.get_or_insert(nanos);
        last = last.max(nanos);
    }
    Some((first?, last, token))
}

/// A fault the nemesis injected, and whom it hit.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `cut_link`, `pause_server`, ... (see zk-nemesis's `FAULTS`).
    pub kind: String,
    /// Its log line: which server or contender.
    pub what: String,
    /// CLOCK_MONOTONIC nanos just before it was injected.
    pub start: u64,
    /// Just after it was healed; `None` if it never was.
    pub end: Option<u64>,
    /// The contenders it hit: the one whose link was cut or whose tool was
    /// stopped or killed; for a fault on a server, every contender seen
    /// connected to that server while it lasted, and every contender when
    /// that server was the leader (all sessions then live or die with it).
    pub contenders: Vec<String>,
}

impl Fault {
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind,
            "what": self.what,
            "start_ns": self.start,
            "end_ns": self.end,
            "contenders": self.contenders,
        })
    }
}

/// What the checker found; empty lists mean the invariants held.
#[derive(Debug, Default)]
pub struct Findings {
    pub overlaps: Vec<Value>,
    pub token_violations: Vec<Value>,
    /// Overlaps that are Curator's known gap, not a violation of ours; see
    /// [`curator_excuse`] for when an overlap counts as one.
    pub curator_overstays: Vec<Value>,
}

/// Which of two overlapping owners overstayed: the one with the lower
/// token, which ownership passed from. `None` without both tokens.
fn overstayer<'a>(a: &'a Ownership, b: &'a Ownership) -> Option<&'a Ownership> {
    match (a.token, b.token) {
        (Some(x), Some(y)) if x < y => Some(a),
        (Some(x), Some(y)) if y < x => Some(b),
        _ => None,
    }
}

/// The recorded fault that excuses an overlap beginning at `overlap_start`
/// whose overstaying owner (the lower token) is `stale`, if any.
///
/// Curator, unlike our tools, has no lease: its client believes in its
/// session until the server it talks to says otherwise, so a Curator
/// worker whose JVM is frozen, whose link is cut, or whose server (or the
/// leader behind it) is paused or isolated keeps running its critical
/// section after the leader expired its session and handed the lock on.
/// kazoo's recipes have the same gap. That is Curator's (and kazoo's)
/// known limitation, not ours, so such an overlap is
/// listed apart rather than failing the run. But only when a fault on
/// Curator's side explains it: a fault recorded against that very worker
/// that began before the overlap and was still on when the worker's
/// ownership began or later (it hit this ownership, not an earlier one).
/// Without one, the Curator owner was a valid holder and whoever entered
/// beside it (zk-lock, zk-elect) broke the lock: an overlap like any other.
pub fn curator_excuse<'a>(
    stale: &Ownership,
    overlap_start: u64,
    faults: &'a [Fault],
) -> Option<&'a Fault> {
    // kazoo's recipes have no lease either: the same gap.
    if !stale.kind.starts_with("curator") && !stale.kind.starts_with("kazoo") {
        return None;
    }
    faults.iter().find(|f| {
        f.contenders.contains(&stale.contender)
            && f.start <= overlap_start
            && f.end.map_or(true, |end| end >= stale.first)
    })
}

/// Checks (a) no two owners at once where the path's rules forbid it, and
/// (b) fencing tokens increase in ownership order. `capacity` gives the
/// semaphore size of a path whose owners are [`Role::Lease`]s; `faults`
/// are those the nemesis injected, to excuse a Curator overstay (see
/// [`curator_excuse`]).
pub fn check(
    ownerships: &[Ownership],
    capacity: &BTreeMap<String, usize>,
    faults: &[Fault],
) -> Findings {
    let mut findings = Findings::default();
    let mut by_path: BTreeMap<&str, Vec<&Ownership>> = BTreeMap::new();
    for o in ownerships {
        by_path.entry(&o.path).or_default().push(o);
    }
    for (path, mut owners) in by_path {
        owners.sort_by_key(|o| (o.first, o.last));
        // Pairs that may not overlap: sorted by start, so each one only
        // needs comparing with those starting before it ends.
        for (i, a) in owners.iter().enumerate() {
            for b in owners[i + 1..].iter().take_while(|b| b.first <= a.last) {
                let conflict = !matches!(
                    (a.role, b.role),
                    (Role::Lease, Role::Lease) | (Role::Shared, Role::Shared)
                );
                if conflict && a.overlaps(b) {
                    let mut finding = json!({
                        "path": path,
                        "overlap_ms": (a.last.min(b.last) - b.first) as f64 / 1e6,
                        "a": a.brief(),
                        "b": b.brief(),
                    });
                    let excuse =
                        overstayer(a, b).and_then(|stale| curator_excuse(stale, b.first, faults));
                    match excuse {
                        Some(fault) => {
                            finding["explained_by"] = fault.to_json();
                            findings.curator_overstays.push(finding)
                        }
                        None => findings.overlaps.push(finding),
                    }
                }
            }
        }
        if let Some(&cap) = capacity.get(path) {
            findings.overlaps.extend(over_capacity(path, &owners, cap));
        }
        findings.token_violations.extend(token_order(path, &owners));
    }
    findings
}

/// Moments when more than `cap` leases were held at once on `path`.
fn over_capacity(path: &str, owners: &[&Ownership], cap: usize) -> Vec<Value> {
    let leases: Vec<&&Ownership> = owners.iter().filter(|o| o.role == Role::Lease).collect();
    let mut found = Vec::new();
    for (i, a) in leases.iter().enumerate() {
        // At a's start, who else is inside? (The maximum of a sweep is
        // always reached at some interval's start.)
        let inside: Vec<&&&Ownership> = leases[..i]
            .iter()
            .filter(|b| b.last >= a.first)
            .chain(std::iter::once(a))
            .collect();
        if inside.len() > cap {
            found.push(json!({
                "path": path,
                "capacity": cap,
                "holders": inside.iter().map(|o| o.brief()).collect::<Vec<_>>(),
            }));
        }
    }
    found
}

/// Fencing tokens in ownership order: an exclusive owner's token must
/// exceed every earlier owner's, and any owner's must exceed every earlier
/// exclusive owner's (readers among themselves may start in any order).
/// Leases and owners without a token are not ordered.
fn token_order(path: &str, owners: &[&Ownership]) -> Vec<Value> {
    let mut found = Vec::new();
    let mut max_any: Option<&Ownership> = None;
    let mut max_exclusive: Option<&Ownership> = None;
    for &o in owners {
        let Some(token) = o.token else { continue };
        if o.role == Role::Lease {
            continue;
        }
        let before = if o.role == Role::Exclusive {
            max_any
        } else {
            max_exclusive
        };
        if let Some(prev) = before {
            if prev.token.is_some_and(|t| t >= token) {
                found.push(json!({"path": path, "earlier": prev.brief(), "later": o.brief()}));
            }
        }
        max_any = larger(max_any, o);
        if o.role == Role::Exclusive {
            max_exclusive = larger(max_exclusive, o);
        }
    }
    found
}

fn larger<'a>(max: Option<&'a Ownership>, o: &'a Ownership) -> Option<&'a Ownership> {
    match max {
        Some(m) if m.token >= o.token => Some(m),
        _ => Some(o),
    }
}

/// How one process of a contender (a run of a tool, or the Curator JVM)
/// ended.
#[derive(Debug, Clone)]
pub struct Exit {
    pub contender: String,
    pub pid: u32,
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Every signal the nemesis sent this process: a held tool's SIGKILL
    /// or SIGTSTP and SIGCONT, and SIGCONT, SIGTERM and SIGKILL at the end.
    pub sent: Vec<i32>,
}

/// When the fault loop was to stop, and when it did.
#[derive(Debug, Clone, Default)]
pub struct FaultLoop {
    /// CLOCK_MONOTONIC nanos: the start plus the planned minutes.
    pub planned_end: u64,
    /// When the loop stopped injecting (after its last heal and quiet).
    pub ended: u64,
    /// Why it stopped early, when it said so itself.
    pub ended_early: Option<String>,
}

/// Everything a nemesis run recorded that the checker judges.
#[derive(Debug, Default)]
pub struct History {
    pub ownerships: Vec<Ownership>,
    /// The semaphore size of each path whose owners are [`Role::Lease`]s.
    pub capacity: BTreeMap<String, usize>,
    pub faults: Vec<Fault>,
    pub fault_loop: FaultLoop,
    pub exits: Vec<Exit>,
    /// Nodes of ours left after every contender exited.
    pub stray_nodes: Vec<Value>,
    /// Errors that kept the search for stray nodes from seeing everything
    /// (no connection, a directory it could not list).
    pub stray_errors: Vec<String>,
    /// Contenders that did not own again once the faults were over.
    pub liveness_failures: Vec<String>,
    /// Contenders run with `--once-per`, and their period in nanoseconds.
    pub once_per: BTreeMap<String, u64>,
}

/// The checker's judgement of a [`History`].
#[derive(Debug, Default)]
pub struct Verdict {
    pub findings: Findings,
    /// Ownerships whose heartbeats carry no fencing token: the token
    /// check cannot place them, so they fail the run instead.
    pub missing_tokens: Vec<Value>,
    /// Runs that exited 101 (a Rust panic) or 70 (an internal error), by
    /// contender: bugs in the tools, which fail the run like a broken
    /// invariant.
    pub crashes: BTreeMap<String, u64>,
    /// Processes a signal ended that the nemesis did not send them.
    pub unexpected_signal_deaths: Vec<Value>,
    /// Set when the faults stopped before the planned minutes were up.
    pub faults_ended_early: Option<Value>,
    /// Two runs of a `--once-per` contender that began less than its
    /// period apart (see [`once_per_violations`]).
    pub once_per_violations: Vec<Value>,
    /// Why the run failed: one name per check that found something, as in
    /// the summary's keys. Empty when every check held.
    pub reasons: Vec<&'static str>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Judges a whole run: every check that finds anything fails it, under a
/// name of its own in [`Verdict::reasons`].
pub fn judge(history: &History) -> Verdict {
    let findings = check(&history.ownerships, &history.capacity, &history.faults);
    // Every owner gets a token (zk-lock and zk-elect pass the node's czxid
    // as ZK_FENCING_TOKEN, the Curator worker stamps its node's czxid), and
    // the token check skips an owner without one: a tool that lost its
    // token would drop out of that check unseen.
    let missing_tokens: Vec<Value> = history
        .ownerships
        .iter()
        .filter(|o| o.token.is_none())
        .map(Ownership::brief)
        .collect();
    let mut crashes: BTreeMap<String, u64> = BTreeMap::new();
    for exit in &history.exits {
        if matches!(exit.code, Some(101 | 70)) {
            *crashes.entry(exit.contender.clone()).or_default() += 1;
        }
    }
    // The nemesis SIGKILLs (and SIGTSTPs) contenders on purpose, so a death
    // by a signal it sent that very process is expected. Any other signal
    // death (SIGSEGV, SIGABRT, SIGPIPE, the OOM killer's SIGKILL) is a
    // finding: ignoring it would pass a run whose tools crashed.
    let unexpected_signal_deaths: Vec<Value> = history
        .exits
        .iter()
        .filter(|e| e.signal.is_some_and(|s| !e.sent.contains(&s)))
        .map(|e| {
            json!({
                "contender": e.contender,
                "pid": e.pid,
                "signal": e.signal,
                "signals_sent": e.sent,
            })
        })
        .collect();
    // A run whose faults stopped early tested less than it claims: its
    // minutes of faults are what a green run vouches for.
    let fault_loop = &history.fault_loop;
    let faults_ended_early = (fault_loop.ended < fault_loop.planned_end
        || fault_loop.ended_early.is_some())
    .then(|| {
        json!({
            "why": fault_loop.ended_early,
            "planned_end_ns": fault_loop.planned_end,
            "ended_ns": fault_loop.ended,
            "short_by_s": fault_loop.planned_end.saturating_sub(fault_loop.ended) as f64 / 1e9,
        })
    });
    let once_per_violations = once_per_violations(&history.ownerships, &history.once_per);
    let mut reasons = Vec::new();
    for (failed, reason) in [
        (!once_per_violations.is_empty(), "once_per_violations"),
        (!findings.overlaps.is_empty(), "overlaps"),
        (!findings.token_violations.is_empty(), "token_violations"),
        (!missing_tokens.is_empty(), "missing_tokens"),
        (!history.stray_nodes.is_empty(), "stray_nodes"),
        // No stray node found where nobody could look is no evidence.
        (!history.stray_errors.is_empty(), "stray_check_errors"),
        (!history.liveness_failures.is_empty(), "liveness_failures"),
        (!crashes.is_empty(), "crashes"),
        (
            !unexpected_signal_deaths.is_empty(),
            "unexpected_signal_deaths",
        ),
        (faults_ended_early.is_some(), "faults_ended_early"),
    ] {
        if failed {
            reasons.push(reason);
        }
    }
    Verdict {
        findings,
        missing_tokens,
        crashes,
        unexpected_signal_deaths,
        faults_ended_early,
        once_per_violations,
        reasons,
    }
}

/// How much earlier than its period a `--once-per` run's first heartbeat may
/// follow the previous run's: the period is measured between the runs'
/// records on ZooKeeper's clock, and each command starts its heartbeat a
/// little after its record (a confirmation round, a spawn), by different
/// amounts. On one machine ZooKeeper's clock is this clock.
pub const ONCE_PER_SLACK_NS: u64 = 300_000_000;

/// Pairs of consecutive runs of a `--once-per` contender whose first
/// heartbeats are closer than its period (less [`ONCE_PER_SLACK_NS`]):
/// a second run in one period.
pub fn once_per_violations(
    ownerships: &[Ownership],
    once_per: &BTreeMap<String, u64>,
) -> Vec<Value> {
    let mut found = Vec::new();
    for (contender, period) in once_per {
        let mut runs: Vec<&Ownership> = ownerships
            .iter()
            .filter(|o| &o.contender == contender)
            .collect();
        runs.sort_by_key(|o| o.first);
        for pair in runs.windows(2) {
            let gap = pair[1].first.saturating_sub(pair[0].first);
            if gap + ONCE_PER_SLACK_NS < *period {
                found.push(json!({
                    "contender": contender,
                    "period_ms": period / 1_000_000,
                    "gap_ms": gap / 1_000_000,
                    "runs": [pair[0].brief(), pair[1].brief()],
                }));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(who: &str, path: &str, role: Role, first: u64, last: u64, token: i64) -> Ownership {
        Ownership {
            contender: who.into(),
            kind: "test".into(),
            path: path.into(),
            role,
            first,
            last,
            token: Some(token),
            file: format!("{who}.hb"),
        }
    }

    #[test]
    fn once_per_runs_closer_than_their_period_fail() {
        let second = 1_000_000_000;
        let runs = [
            own("once", "/l", Role::Exclusive, 0, second / 10, 1),
            own("other", "/l", Role::Exclusive, second, 2 * second, 2),
            own(
                "once",
                "/l",
                Role::Exclusive,
                2 * second + second / 10,
                3 * second,
                3,
            ),
            own("once", "/l", Role::Exclusive, 3 * second, 4 * second, 4),
        ];
        let period: BTreeMap<String, u64> = [("once".to_string(), 2 * second)].into();
        let found = once_per_violations(&runs, &period);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["gap_ms"], 900);
        // Within the slack of the period is no violation.
        let close = [
            own("once", "/l", Role::Exclusive, 0, 1, 1),
            own(
                "once",
                "/l",
                Role::Exclusive,
                2 * second - ONCE_PER_SLACK_NS / 2,
                1,
                2,
            ),
        ];
        assert!(once_per_violations(&close, &period).is_empty());
    }

    fn caps() -> BTreeMap<String, usize> {
        [("/sem".to_string(), 2)].into_iter().collect()
    }

    #[test]
    fn back_to_back_exclusive_owners_pass() {
        let h = [
            own("a", "/l", Role::Exclusive, 0, 10, 1),
            own("b", "/l", Role::Exclusive, 11, 20, 2),
            own("a", "/l", Role::Exclusive, 21, 30, 3),
        ];
        let f = check(&h, &caps(), &[]);
        assert!(
            f.overlaps.is_empty() && f.token_violations.is_empty(),
            "{f:?}"
        );
    }

    #[test]
    fn two_exclusive_owners_at_once_fail() {
        let h = [
            own("a", "/l", Role::Exclusive, 0, 10, 1),
            own("b", "/l", Role::Exclusive, 10, 20, 2),
        ];
        assert_eq!(check(&h, &caps(), &[]).overlaps.len(), 1);
    }

    #[test]
    fn an_owner_inside_a_long_one_is_caught() {
        let h = [
            own("a", "/l", Role::Exclusive, 0, 100, 1),
            own("b", "/l", Role::Exclusive, 10, 20, 2),
            own("c", "/l", Role::Exclusive, 30, 40, 3),
        ];
        assert_eq!(check(&h, &caps(), &[]).overlaps.len(), 2);
    }

    #[test]
    fn readers_share_but_a_writer_excludes_them() {
        let ok = [
            own("r1", "/rw", Role::Shared, 0, 10, 1),
            own("r2", "/rw", Role::Shared, 5, 15, 2),
            own("w", "/rw", Role::Exclusive, 16, 20, 3),
        ];
        assert!(check(&ok, &caps(), &[]).overlaps.is_empty());
        let bad = [
            own("r1", "/rw", Role::Shared, 0, 10, 1),
            own("w", "/rw", Role::Exclusive, 9, 20, 2),
        ];
        assert_eq!(check(&bad, &caps(), &[]).overlaps.len(), 1);
    }

    fn fault(kind: &str, start: u64, end: Option<u64>, hit: &[&str]) -> Fault {
        Fault {
            kind: kind.into(),
            what: "test".into(),
            start,
            end,
            contenders: hit.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// A Curator owner (token 1, heartbeats 0..=10) overstaying into ours
    /// (token 2, from 5).
    fn curator_overstaying() -> [Ownership; 2] {
        let mut curator = own("c", "/l", Role::Exclusive, 0, 10, 1);
        curator.kind = "curator-mutex".into();
        [curator, own("z", "/l", Role::Exclusive, 5, 20, 2)]
    }

    #[test]
    fn a_curator_owner_cut_off_by_a_fault_that_overstays_is_its_gap() {
        let cut = [fault("cut_link", 3, Some(8), &["c"])];
        let f = check(&curator_overstaying(), &caps(), &cut);
        assert!(f.overlaps.is_empty(), "{f:?}");
        assert_eq!(f.curator_overstays.len(), 1, "{f:?}");
        assert_eq!(f.curator_overstays[0]["explained_by"]["kind"], "cut_link");
        // A fault still on at the end (never healed) counts too.
        let paused = [fault("pause_server", 0, None, &["z", "c"])];
        let f = check(&curator_overstaying(), &caps(), &paused);
        assert!(f.overlaps.is_empty(), "{f:?}");
    }

    /// Planted violation: zk-lock entering beside a valid Curator holder
    /// must not hide behind Curator's gap.
    #[test]
    fn a_curator_owner_with_no_fault_against_it_makes_an_overlap() {
        let f = check(&curator_overstaying(), &caps(), &[]);
        assert_eq!(f.overlaps.len(), 1, "{f:?}");
        assert!(f.curator_overstays.is_empty(), "{f:?}");
        // A fault on someone else, one that began only after the overlap
        // did, or one healed before this ownership began excuses nothing.
        for faults in [
            [fault("cut_link", 3, Some(8), &["z"])],
            [fault("cut_link", 6, Some(8), &["c"])],
            [fault("cut_link", 0, Some(0), &["c"])],
        ] {
            let mut h = curator_overstaying();
            h[0].first = 1;
            let f = check(&h, &caps(), &faults);
            assert_eq!(f.overlaps.len(), 1, "{faults:?}: {f:?}");
            assert!(f.curator_overstays.is_empty(), "{faults:?}: {f:?}");
        }
    }

    #[test]
    fn our_tool_overstaying_a_curator_successor_is_ours_to_answer_for() {
        let mut curator_after = own("c", "/l", Role::Exclusive, 5, 20, 2);
        curator_after.kind = "curator-mutex".into();
        let ours_before = own("z", "/l", Role::Exclusive, 0, 10, 1);
        let everyone = [fault("kill_leader", 0, Some(30), &["c", "z"])];
        let f = check(&[ours_before, curator_after], &caps(), &everyone);
        assert_eq!(f.overlaps.len(), 1, "{f:?}");
        assert!(f.curator_overstays.is_empty(), "{f:?}");
    }

    /// A healthy run: back-to-back owners, every process ended by its own
    /// exit or by a signal the nemesis sent it.
    fn healthy() -> History {
        History {
            ownerships: vec![
                own("a", "/l", Role::Exclusive, 0, 10, 1),
                own("b", "/l", Role::Exclusive, 11, 20, 2),
            ],
            capacity: caps(),
            fault_loop: FaultLoop {
                planned_end: 100,
                ended: 103,
                ended_early: None,
            },
            exits: vec![
                exit("a", Some(0), None, &[]),
                exit("a", Some(79), None, &[]),
                exit("b", None, Some(9), &[19, 9]),
                exit("b", Some(143), None, &[18, 15]),
            ],
            ..History::default()
        }
    }

    fn exit(who: &str, code: Option<i32>, signal: Option<i32>, sent: &[i32]) -> Exit {
        Exit {
            contender: who.into(),
            pid: 4242,
            code,
            signal,
            sent: sent.to_vec(),
        }
    }

    #[test]
    fn a_healthy_run_is_ok() {
        let v = judge(&healthy());
        assert!(v.ok(), "{v:?}");
        assert!(v.reasons.is_empty(), "{v:?}");
    }

    #[test]
    fn each_broken_check_fails_the_run_under_its_own_name() {
        let mut h = healthy();
        h.ownerships[1].first = 5;
        assert_eq!(judge(&h).reasons, ["overlaps"]);
        let mut h = healthy();
        h.ownerships[1].token = Some(1);
        assert_eq!(judge(&h).reasons, ["token_violations"]);
        let mut h = healthy();
        h.stray_nodes
            .push(json!({"node": "/n/lock/lock-0000000001"}));
        assert_eq!(judge(&h).reasons, ["stray_nodes"]);
        let mut h = healthy();
        h.liveness_failures.push("a".into());
        assert_eq!(judge(&h).reasons, ["liveness_failures"]);
        let mut h = healthy();
        h.exits.push(exit("a", Some(101), None, &[]));
        assert_eq!(judge(&h).reasons, ["crashes"]);
    }

    /// Planted violation: a tool that died of a signal nobody in the
    /// nemesis sent it (a segfault, an abort) fails the run, while a
    /// SIGKILL the nemesis sent that very process does not.
    #[test]
    fn a_signal_death_the_nemesis_did_not_send_fails_the_run() {
        for (signal, sent) in [(11, vec![]), (6, vec![]), (9, vec![19, 18]), (9, vec![])] {
            let mut h = healthy();
            h.exits.push(exit("a", None, Some(signal), &sent));
            let v = judge(&h);
            assert!(!v.ok(), "signal {signal} with {sent:?} sent: {v:?}");
            assert_eq!(v.reasons, ["unexpected_signal_deaths"]);
            assert_eq!(v.unexpected_signal_deaths[0]["signal"], signal);
        }
    }

    /// Planted violation: a fault loop that stopped before its planned
    /// end, whether it said why or not, fails the run.
    #[test]
    fn faults_that_ended_early_fail_the_run() {
        let mut h = healthy();
        h.fault_loop.ended = 40;
        let v = judge(&h);
        assert!(!v.ok(), "{v:?}");
        assert_eq!(v.reasons, ["faults_ended_early"]);
        let mut h = healthy();
        h.fault_loop.ended = 60;
        h.fault_loop.ended_early = Some("900 of 1024 file descriptors open".into());
        let v = judge(&h);
        assert_eq!(v.reasons, ["faults_ended_early"]);
        assert_eq!(
            v.faults_ended_early.unwrap()["why"],
            "900 of 1024 file descriptors open"
        );
    }

    /// Planted violation: a search for stray nodes that failed (and so
    /// found none) fails the run rather than passing as "none left".
    #[test]
    fn an_error_looking_for_stray_nodes_fails_the_run() {
        let mut h = healthy();
        h.stray_errors.push("list /n/lock: connection loss".into());
        let v = judge(&h);
        assert!(!v.ok(), "{v:?}");
        assert_eq!(v.reasons, ["stray_check_errors"]);
    }

    /// Planted violation: an owner whose command got no fencing token
    /// fails the run instead of dropping out of the token check.
    #[test]
    fn an_owner_without_a_token_fails_the_run() {
        let mut h = healthy();
        h.ownerships[1].token = None;
        let v = judge(&h);
        assert!(!v.ok(), "{v:?}");
        assert_eq!(v.reasons, ["missing_tokens"]);
        assert_eq!(v.missing_tokens[0]["contender"], "b");
    }

    #[test]
    fn paths_do_not_interfere() {
        let h = [
            own("a", "/l", Role::Exclusive, 0, 10, 1),
            own("b", "/e", Role::Exclusive, 0, 10, 2),
        ];
        assert!(check(&h, &caps(), &[]).overlaps.is_empty());
    }

    #[test]
    fn a_semaphore_allows_its_capacity_and_no_more() {
        let two = [
            own("a", "/sem", Role::Lease, 0, 10, 1),
            own("b", "/sem", Role::Lease, 5, 15, 2),
            own("c", "/sem", Role::Lease, 11, 20, 3),
        ];
        assert!(check(&two, &caps(), &[]).overlaps.is_empty());
        let three = [
            own("a", "/sem", Role::Lease, 0, 10, 1),
            own("b", "/sem", Role::Lease, 5, 15, 2),
            own("c", "/sem", Role::Lease, 9, 20, 3),
        ];
        let f = check(&three, &caps(), &[]);
        assert_eq!(f.overlaps.len(), 1, "{f:?}");
        assert_eq!(f.overlaps[0]["holders"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn tokens_must_increase_in_ownership_order() {
        let h = [
            own("a", "/l", Role::Exclusive, 0, 10, 5),
            own("b", "/l", Role::Exclusive, 11, 20, 4),
        ];
        let f = check(&h, &caps(), &[]);
        assert!(f.overlaps.is_empty());
        assert_eq!(f.token_violations.len(), 1);
        // Readers may enter in any token order among themselves, but not
        // before a writer with a higher token.
        let readers = [
            own("w", "/rw", Role::Exclusive, 0, 10, 1),
            own("r2", "/rw", Role::Shared, 11, 20, 3),
            own("r1", "/rw", Role::Shared, 12, 20, 2),
        ];
        assert!(check(&readers, &caps(), &[]).token_violations.is_empty());
        let stale_reader = [
            own("w", "/rw", Role::Exclusive, 0, 10, 4),
            own("r", "/rw", Role::Shared, 11, 20, 3),
        ];
        assert_eq!(check(&stale_reader, &caps(), &[]).token_violations.len(), 1);
    }

    #[test]
    fn heartbeat_files_parse_and_torn_lines_are_skipped() {
        let dir = std::env::temp_dir().join(format!("nemesis-hb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.hb");
        std::fs::write(&file, "100 7\n120 7\n140 7\n16").unwrap();
        assert_eq!(read_heartbeats(&file), Some((100, 140, Some(7))));
        std::fs::write(&file, "").unwrap();
        assert_eq!(read_heartbeats(&file), None);
        std::fs::write(&file, "100 -\n").unwrap();
        assert_eq!(read_heartbeats(&file), Some((100, 100, None)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..10).map(|_| a.range(1, 8)).collect();
        let ys: Vec<u64> = (0..10).map(|_| b.range(1, 8)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (1..=8).contains(x)));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}

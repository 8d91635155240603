//! Acquire, run (or hold), release.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Map, Value};
use zk_common::timeout::GiveUp;
use zookeeper_client::Client;

use zk_common::cli::CommonArgs;
use zk_common::lease::{self, Lost, SafeWindow};
use zk_common::output::{event, EventSink};
use zk_common::owner;
use zk_common::progress::Waiting;
use zk_common::queue::{Kind, Queue, RejoinAsKazoo, Ticket, Turn};
use zk_common::supervisor::CommandSpec;
use zk_common::{connect, Failure};

use crate::cli::{Layout, LockArgs};
use crate::once::{self, Decision, OncePer};

/// The most data our lock node may hold. A request over the server's
/// jute.maxbuffer (1 MiB by default) is not refused with an error: the
/// server drops the connection, and the client resends it forever.
const MAX_NODE_DATA: usize = 1024 * 1024 - 4096;

/// One run of zk-lock, resolved from the arguments before anything
/// connects: what to own, the command, the wait, the window, the outputs.
struct Plan<'a> {
    common: &'a CommonArgs,
    path: String,
    queue: Queue,
    /// Our node's data, as `holders` shows it.
    data: Vec<u8>,
    command: Option<CommandSpec>,
    events: EventSink,
    nonblock: bool,
    /// `-E`: the exit status of a busy lock or a timed-out wait.
    conflict: Option<u8>,
    timeout: Option<Duration>,
    kill_after: Duration,
    watchdog: bool,
    /// `--once-per`: skip when another run started less than DUR ago.
    once: Option<OncePer>,
    skip_code: u8,
}

impl<'a> Plan<'a> {
    fn new(common: &'a CommonArgs, args: &LockArgs) -> Result<Plan<'a>> {
        // clap requires PATH unless a subcommand is given.
        let path = args
            .path
            .clone()
            .ok_or_else(|| Failure::usage("the lock's PATH is required"))?;
        zk_common::cli::refuse_zookeeper_tree(&common.connect.connect, &path)?;
        let command = args.wrap.resolved_spec()?;
        let data = node_data(args, command.as_ref());
        if data.len() > MAX_NODE_DATA {
            return Err(Failure::usage(format!(
                "the lock node's data would be {} bytes (--record-command, --id, --data); \
                 ZooKeeper refuses requests over about 1 MiB (jute.maxbuffer)",
                data.len()
            ))
            .into());
        }
        if args.once_per.is_some() && (args.shared || args.max_holders.is_some_and(|n| n > 1)) {
            return Err(Failure::usage(
                "--once-per needs an exclusive lock: several holders at once could all decide to run",
            )
            .into());
        }
        Ok(Plan {
            common,
            queue: queue(&path, args)?,
            once: args.once_per.map(|period| OncePer::new(&path, period)),
            skip_code: args.skip_exit_code.unwrap_or(zk_common::exit::OK),
            data,
            events: args.wrap.event_sink()?,
            path,
            command,
            // `--timeout 0` tries once, as `flock -w 0` does.
            nonblock: args.nonblock || args.timeout == Some(Duration::ZERO),
            conflict: args.conflict_exit_code,
            timeout: args.timeout.filter(|t| !t.is_zero()),
            kill_after: args.kill_after,
            watchdog: args.watchdog,
        })
    }
}

pub async fn run(common: &CommonArgs, args: &LockArgs) -> Result<u8> {
    let mut plan = Plan::new(common, args)?;
    // The whole wait, connecting included: a silent server is "not
    // acquired within --timeout" (75), not unreachable 30 s later.
    let give_up = GiveUp::after(plan.timeout);
    let mut client = tokio::select! {
        client = connect::connect(&common.connect) => client?,
        timeout = give_up.reached() => {
            let failure = Failure::not_acquired(format!(
                "timed out after {timeout} connecting to ZooKeeper to take the lock {}",
                plan.path
            ));
            return Err(not_acquired_as_asked(failure.into(), plan.conflict, plan.common));
        }
    };
    let result = locked(&mut plan, &mut client, give_up).await;
    // Closing the session deletes our node in the same step: the release,
    // and the clean-up after a timeout, a signal or an error.
    connect::close(client).await;
    let (code, last) =
        result.map_err(|err| not_acquired_as_asked(err, plan.conflict, plan.common))?;
    if let Some(last) = last {
        plan.events.emit(last);
    }
    Ok(plan.events.status(code))
}

/// A busy lock or a timed-out wait exits `-E N` if given, and says nothing
/// under `-q` (as `flock -n` says nothing); every other error is left as it is.
fn not_acquired_as_asked(
    err: anyhow::Error,
    conflict: Option<u8>,
    common: &CommonArgs,
) -> anyhow::Error {
    match err.downcast::<Failure>() {
        Ok(failure) if failure.code == zk_common::exit::NOT_ACQUIRED => {
            let failure = Failure::new(conflict.unwrap_or(failure.code), failure.message);
            if common.log.quiet {
                failure.silenced().into()
            } else {
                failure.into()
            }
        }
        Ok(failure) => failure.into(),
        Err(err) => err,
    }
}

/// Everything between connecting and closing. Returns the exit status and
/// the final event, emitted after the session is closed (and so the lock
/// really released).
async fn locked(
    plan: &mut Plan<'_>,
    client: &mut Client,
    give_up: GiveUp,
) -> Result<(u8, Option<Map<String, Value>>)> {
    let path = plan.path.as_str();
    // Refuse an impossible safe window before queueing at all.
    let mut window = SafeWindow::new(client.session_timeout(), plan.kill_after)?;
    lease::watch_stalls(&window);
    let stop = zk_common::signals::stop_requested();
    tokio::pin!(stop);
    let ticket = loop {
        let outcome = tokio::select! {
            ticket = acquire(plan, client) => ticket,
            timeout = give_up.reached() => {
                return Err(Failure::not_acquired(format!("timed out after {timeout} waiting for the lock {path}")).into());
            }
            code = &mut stop => return Ok((code, None)),
        };
        match outcome {
            Ok(ticket) => break ticket,
            // A long outage can expire the session of a waiter; its place in
            // the queue is gone with it, so it queues again, as the cron job
            // waiting for the lock would want.
            Err(err) if client.state().is_terminated() && !plan.nonblock => {
                tracing::warn!("{err:#}; queueing again for {path} with a new session");
                let fresh = connect::connect(&plan.common.connect).await?;
                window = SafeWindow::new(fresh.session_timeout(), plan.kill_after)?;
                connect::close(std::mem::replace(client, fresh)).await;
            }
            Err(err) => return Err(err),
        }
    };
    let client: &Client = client;

    let session_id = zk_common::node::session_hex(client.session_id().0);
    // Our turn came from the server we talk to; only the leader can say our
    // session still lives (that server may be cut off from it).
    let ownership = match lease::own(client, &ticket.node, window).await {
        Ok(ownership) => ownership,
        Err(lost) => return Ok(lost_before_start(path, &ticket, &lost)),
    };
    let run = match &plan.once {
        None => None,
        Some(once) => {
            let who = once::who(&plan.data);
            match once
                .decide(client, &who, plan.common.connect.acls())
                .await?
            {
                Decision::Run(run) => Some(run),
                Decision::Skip(skipped) => {
                    if !plan.common.log.quiet {
                        eprintln!("zk-lock: {}", once::skip_message(&skipped));
                    }
                    return Ok((plan.skip_code, Some(skipped)));
                }
            }
        }
    };
    tracing::info!(
        "acquired {path} as {} (fencing token {})",
        ticket.node,
        ticket.token
    );
    let mut acquired = event("acquired");
    describe(&mut acquired, path, &ticket);
    acquired.insert("session_id".into(), session_id.clone().into());
    plan.events.emit(acquired);

    let (code, lost) = match &plan.command {
        Some(spec) => {
            let env = owner::command_env(&plan.common.connect.connect, &ticket, &session_id);
            owner::run_command(ownership, spec, &env, plan.watchdog).await?
        }
        None => owner::hold(ownership).await,
    };
    if let (Some(once), Some(run)) = (&plan.once, run) {
        once.finish(client, run, code, lost.is_some()).await;
    }
    Ok((code, Some(final_event(path, &ticket, lost.as_ref()))))
}

/// `released`, or `lost` with its reason (said on stderr too, since events
/// may go nowhere).
fn final_event(path: &str, ticket: &Ticket, lost: Option<&Lost>) -> Map<String, Value> {
    let mut last = match lost {
        Some(lost) => {
            eprintln!("zk-lock: lost the lock {path}: {}", lost.reason());
            let mut e = event(match lost {
                Lost::Revoked => "revoked",
                _ => "lost",
            });
            e.insert("reason".into(), lost.reason().into());
            e
        }
        None => event("released"),
    };
    describe(&mut last, path, ticket);
    last
}

/// The lock was granted but never confirmed through the leader: nothing
/// ran, and the caller exits as if lost.
fn lost_before_start(path: &str, ticket: &Ticket, lost: &Lost) -> (u8, Option<Map<String, Value>>) {
    eprintln!(
        "zk-lock: lost the lock {path} before the command started: {}",
        lost.reason()
    );
    let mut e = event("lost");
    e.insert("reason".into(), lost.reason().into());
    describe(&mut e, path, ticket);
    (zk_common::exit::OWNERSHIP_LOST, Some(e))
}

/// Joins the queue and waits for our turn (or, with --nonblock, checks it
/// once). With the layout left to detection, kazoo's contenders found in
/// the queue make us leave it and join again in their layout.
async fn acquire(plan: &Plan<'_>, client: &Client) -> Result<Ticket> {
    let mut queue = plan.queue.clone();
    loop {
        let ticket = queue
            .join(client, &plan.data, plan.common.connect.acls())
            .await?;
        tracing::debug!("queued as {}", ticket.node);
        match take_turn(plan, &queue, client, &ticket).await {
            Err(err) if err.is::<RejoinAsKazoo>() => {
                tracing::info!(
                    "{} queues kazoo's contenders: joining in kazoo's layout",
                    plan.path
                );
                queue.leave(client, &ticket).await?;
                queue = queue.in_kazoo_layout();
            }
            taken => return taken.map(|()| ticket),
        }
    }
}

async fn take_turn(plan: &Plan<'_>, queue: &Queue, client: &Client, ticket: &Ticket) -> Result<()> {
    let path = &plan.path;
    if plan.nonblock {
        if let Turn::After { holder, .. } = queue.turn(client, ticket).await? {
            let held_by = describe_holder(client, &holder).await;
            return Err(Failure::not_acquired(format!("{path} is busy: held by {held_by}")).into());
        }
    } else {
        let _spinner = Waiting::start(
            format!("waiting for the lock {path}"),
            plan.common.log.quiet,
        );
        queue.wait_turn(client, ticket).await?;
    }
    Ok(())
}

/// Who holds the lock, for an operator told it is busy: the id, host and
/// pid a zk-lock stores (or the text Curator and kazoo store), since when,
/// and the fencing token; the node's name if it is gone or unreadable.
/// Escaped throughout: a holder's node is anyone's input.
async fn describe_holder(client: &Client, holder: &str) -> String {
    let name = holder.rsplit('/').next().unwrap_or_default();
    let Ok((data, stat)) = client.get_data(holder).await else {
        return format!("\"{}\"", name.escape_debug());
    };
    // Cut short: a node may hold a megabyte, and this is one line.
    let text = |value: &Value| {
        let text = match value {
            Value::String(s) => s.escape_debug().to_string(),
            other => other.to_string().escape_debug().to_string(),
        };
        match text.char_indices().nth(120) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    };
    let mut who = match serde_json::from_slice::<Value>(&data) {
        Ok(Value::Object(fields)) => {
            let mut who = fields
                .get("id")
                .map(text)
                .unwrap_or_else(|| format!("\"{}\"", name.escape_debug()));
            let place: Vec<String> = ["host", "pid"]
                .iter()
                .filter_map(|key| fields.get(*key).map(|v| format!("{key} {}", text(v))))
                .collect();
            if !place.is_empty() {
                who.push_str(&format!(" ({})", place.join(", ")));
            }
            who
        }
        _ if !data.is_empty() => text(&Value::String(String::from_utf8_lossy(&data).into())),
        _ => format!("\"{}\"", name.escape_debug()),
    };
    who.push_str(&format!(
        " since {}, token {}",
        zk_common::output::millis_rfc3339(stat.ctime),
        stat.czxid
    ));
    who
}

/// The node name says which recipe we look like: `lock-` for Curator's
/// `InterProcessMutex`, `__READ__`/`__WRIT__` for the two halves of its
/// `InterProcessReadWriteLock`, `__lock__`/`__rlock__` for kazoo's locks.
/// Among zk-locks of one layout all of them form one queue.
fn queue(path: &str, args: &LockArgs) -> Result<Queue> {
    let semaphore = args.max_holders.filter(|&n| n > 1);
    let kind = match (args.shared, semaphore, args.layout) {
        (_, Some(_), Some(Layout::Kazoo)) => {
            return Err(Failure::usage(
                "--max-holders has no kazoo layout (kazoo's Semaphore keeps its leases \
                 elsewhere); leave out --layout kazoo",
            )
            .into())
        }
        (true, _, _) => Kind::Read,
        (false, Some(n), _) => Kind::Semaphore(n as usize),
        (false, None, Some(Layout::ReadWrite)) => Kind::Write,
        (false, None, _) => Kind::Mutex,
    };
    let queue = Queue::lock(path, kind);
    Ok(match args.layout {
        Some(Layout::Kazoo) => queue.in_kazoo_layout(),
        // A semaphore has no kazoo layout to move to: it refuses.
        None if semaphore.is_none() => queue.detecting(),
        _ => queue,
    })
}

fn describe(e: &mut Map<String, Value>, path: &str, ticket: &Ticket) {
    e.insert("path".into(), path.into());
    e.insert("node".into(), ticket.node.clone().into());
    e.insert("token".into(), ticket.token.into());
}

/// What the lock node holds, for `holders`: who, where, what.
fn node_data(args: &LockArgs, spec: Option<&CommandSpec>) -> Vec<u8> {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pid = std::process::id();
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let mut data = json!({
        "id": args.id.clone().unwrap_or_else(|| format!("{host}:{pid}")),
        "host": host,
        "pid": pid,
        "user": user,
        "command": spec.map(|spec| if args.record_command { spec.display() } else { spec.program() }),
    });
    if let Some(n) = args.max_holders.filter(|&n| n > 1) {
        data["max_holders"] = n.into();
    }
    if let Some(extra) = &args.data {
        data["data"] = extra.clone();
    }
    serde_json::to_vec(&data).unwrap_or_default()
}

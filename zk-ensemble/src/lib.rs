//! `zk-ensemble`: is the ZooKeeper ensemble itself healthy?
//!
//! It answers what an operator checks by hand with `echo mntr | nc` and
//! `zkServer.sh status`: is there a quorum, exactly one leader, are the
//! followers in sync, is latency sane. Every server is probed in parallel
//! ([`server::probe`]), the members the connect string does not name are
//! discovered from the configuration ([`ensemble::survey`]), and the answers
//! are judged in one place ([`ensemble::assess`]).

mod cli;
pub mod ensemble;
mod nagios;
mod probe;
mod prometheus;
pub mod server;
mod sessions;
pub mod sources;

pub use cli::{Cli, SurveyArgs, Thresholds, SERVERS, THRESHOLDS};

use std::time::Duration;
use zk_common::timeout::GiveUp;

use anyhow::Result;
use serde_json::Value;

use zk_common::cli::ConnectArgs;
use zk_common::progress::Waiting;
use zk_common::{exit, output, Failure};

use cli::{CheckArgs, CheckFormat, Command, StatusArgs, StatusFormat, WaitArgs, WatchArgs};
use ensemble::Verdict;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> Result<u8> {
    let connect = &cli.common.connect;
    match cli.command {
        Command::Status(args) => status(connect, &args).await,
        Command::Check(args) => check(connect, &args).await,
        Command::Wait(args) => wait(connect, &args, cli.common.log.quiet).await,
        Command::Watch(args) => {
            tokio::select! {
                result = watch(connect, &args) => result,
                code = zk_common::signals::stop_requested() => Ok(code),
            }
        }
        Command::Probe(args) => probe::run(connect, &args).await,
        Command::Sessions(args) => sessions::run(connect, &args).await,
    }
}

async fn status(connect: &ConnectArgs, args: &StatusArgs) -> Result<u8> {
    let (survey, assessment) =
        ensemble::status(connect, &args.survey, args.probe_timeout, &args.thresholds).await?;
    let report = match args.format {
        StatusFormat::Json => Report::Json(ensemble::document(&survey, &assessment, true)),
        StatusFormat::Prometheus => Report::Text(prometheus::render(&survey, &assessment)),
    };
    report.write(args.output.as_deref())?;
    Ok(exit::OK)
}

/// A rendered report, and the one place it is written.
enum Report {
    Json(serde_json::Map<String, Value>),
    Text(String),
}

impl Report {
    /// To stdout (JSON pretty-printed on a terminal), or with `--output`
    /// to a file replaced atomically, so its reader never sees half.
    fn write(self, file: Option<&std::path::Path>) -> Result<(), zk_common::exit::WriteError> {
        match (self, file) {
            (Report::Json(doc), None) => output::document(&Value::Object(doc)),
            (Report::Text(text), None) => output::text(&text),
            (Report::Json(doc), Some(file)) => {
                let mut bytes = Value::Object(doc).to_string().into_bytes();
                bytes.push(b'\n');
                zk_common::atomic_file::replace(file, &bytes)
            }
            (Report::Text(text), Some(file)) => {
                zk_common::atomic_file::replace(file, text.as_bytes())
            }
        }
    }
}

async fn check(connect: &ConnectArgs, args: &CheckArgs) -> Result<u8> {
    let surveyed =
        ensemble::status(connect, &args.survey, args.probe_timeout, &args.thresholds).await;
    let (survey, assessment) = match (surveyed, args.format) {
        (Ok(pair), _) => pair,
        (Err(err), CheckFormat::Nagios) => {
            // A plugin that cannot run says UNKNOWN on stdout, not 69 or 70.
            let (line, code) = nagios::unknown(&format!("{err:#}"));
            output::text(&format!("{line}\n"))?;
            return Ok(code);
        }
        (Err(err), _) => return Err(err),
    };
    if let Some(server) = &args.can_stop {
        let answer = ensemble::can_stop(&survey, &assessment, &args.thresholds, server)
            .map_err(zk_common::Failure::usage)?;
        let verb = if answer.can_stop {
            "can stop"
        } else {
            "cannot stop"
        };
        let line = format!("{verb} {}: {}", answer.server, answer.reason);
        match args.format {
            CheckFormat::Json => output::document(&serde_json::json!({
                "server": answer.server,
                "can_stop": answer.can_stop,
                "leader": answer.leader,
                "remaining_synced_voters": answer.remaining,
                "quorum_size": answer.quorum_size,
                "voters": answer.voters,
                "reason": answer.reason,
            }))?,
            CheckFormat::Nagios => {
                let (state, code) = if answer.can_stop {
                    ("OK", nagios::OK)
                } else {
                    ("CRITICAL", nagios::CRITICAL)
                };
                output::text(&format!("ZOOKEEPER {state} - {}\n", line.replace('|', "/")))?;
                return Ok(code);
            }
            CheckFormat::Text => {}
        }
        eprintln!("zk-ensemble: {line}");
        return Ok(if answer.can_stop {
            exit::OK
        } else {
            exit::CONDITION_FALSE
        });
    }
    let line = ensemble::summary(&assessment);
    match args.format {
        CheckFormat::Nagios => {
            let (plugin_line, code) = nagios::render(&assessment, &args.thresholds);
            output::text(&format!("{plugin_line}\n"))?;
            return Ok(code);
        }
        CheckFormat::Json => {
            output::document(&Value::Object(ensemble::document(
                &survey,
                &assessment,
                true,
            )))?;
        }
        CheckFormat::Text => {}
    }
    eprintln!("zk-ensemble: {line}");
    Ok(verdict_code(assessment.verdict))
}

/// 0 healthy, 1 degraded, 69 down.
fn verdict_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Healthy => exit::OK,
        Verdict::Degraded => exit::CONDITION_FALSE,
        Verdict::Down => exit::UNAVAILABLE,
    }
}

async fn wait(connect: &ConnectArgs, args: &WaitArgs, quiet: bool) -> Result<u8> {
    let wanted = if args.quorum {
        "a quorum"
    } else {
        "a healthy ensemble"
    };
    let spinner = Waiting::start(format!("waiting for {wanted}"), quiet);
    let mut last: Option<String> = None;
    let until_met = async {
        loop {
            let started = tokio::time::Instant::now();
            let (survey, assessment) =
                ensemble::status(connect, &args.survey, args.probe_timeout, &args.thresholds)
                    .await?;
            let met = match assessment.verdict {
                Verdict::Healthy => true,
                Verdict::Degraded => args.quorum,
                Verdict::Down => false,
            };
            if met {
                return anyhow::Ok(ensemble::document(&survey, &assessment, true));
            }
            let line = ensemble::summary(&assessment);
            spinner.set_message(format!("waiting for {wanted}: {line}"));
            if last.as_deref() != Some(line.as_str()) {
                tracing::info!("{line}");
            }
            last = Some(line);
            tokio::time::sleep_until(started + args.interval).await;
        }
    };
    tokio::select! {
        doc = until_met => {
            drop(spinner);
            output::document(&Value::Object(doc?))?;
            Ok(exit::OK)
        }
        timeout = GiveUp::after(args.timeout).reached() => {
            let seen = last.unwrap_or_else(|| "no survey finished".into());
            Err(Failure::not_acquired(format!("timed out after {timeout} waiting for {wanted}; last: {seen}")).into())
        }
        code = zk_common::signals::stop_requested() => Ok(code),
    }
}

async fn watch(connect: &ConnectArgs, args: &WatchArgs) -> Result<u8> {
    let mut previous: Option<(Verdict, Option<String>)> = None;
    let mut ticks = tokio::time::interval(args.interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (survey, assessment) =
            ensemble::status(connect, &args.survey, args.probe_timeout, &args.thresholds).await?;
        if let Some((verdict, leader)) = &previous {
            if *verdict != assessment.verdict {
                let mut event = output::event("status_changed");
                event.insert("from".into(), verdict.as_str().into());
                event.insert("to".into(), assessment.verdict.as_str().into());
                event.insert(
                    "warnings".into(),
                    assessment
                        .warnings
                        .iter()
                        .map(ensemble::Warning::to_json)
                        .collect::<Vec<_>>()
                        .into(),
                );
                output::line(&Value::Object(event))?;
            }
            if *leader != assessment.leader {
                let mut event = output::event("leader_changed");
                event.insert("from".into(), leader.clone().into());
                event.insert("to".into(), assessment.leader.clone().into());
                output::line(&Value::Object(event))?;
            }
        }
        let mut line = output::event("status");
        line.extend(ensemble::document(&survey, &assessment, args.mntr));
        output::line(&Value::Object(line))?;
        previous = Some((assessment.verdict, assessment.leader.clone()));
    }
}

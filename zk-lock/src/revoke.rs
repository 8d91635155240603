//! `zk-lock break PATH`: ask the holder to let go, as Curator's `Revoker`
//! does; `--force-after` deletes its node when it does not.

use anyhow::Result;
use serde_json::Value;

use zk_common::cli::CommonArgs;
use zk_common::revoke::{report, revoke};
use zk_common::timeout::GiveUp;
use zk_common::{connect, exit, output, Failure};

use crate::cli::BreakArgs;
use crate::holders;

pub async fn run(common: &CommonArgs, args: &BreakArgs) -> Result<u8> {
    let client = connect::connect(&common.connect).await?;
    let result = break_lock(&client, args, common.log.quiet).await;
    connect::close(client).await;
    let Some(report) = result? else {
        return Ok(exit::OK);
    };
    output::document(&report)?;
    Ok(exit::OK)
}

async fn break_lock(
    client: &zookeeper_client::Client,
    args: &BreakArgs,
    quiet: bool,
) -> Result<Option<Value>> {
    let path = &args.path;
    let records = holders::records(client, path, args.max_holders).await?;
    let holding: Vec<&Value> = records.iter().filter(|r| r["state"] == "holding").collect();
    let target = match &args.holder {
        Some(wanted) => holding
            .iter()
            .find(|r| named(r, wanted))
            .copied()
            .ok_or_else(|| {
                Failure::new(
                    exit::CONDITION_FALSE,
                    format!(
                        "no holder of {path} is {:?} (see zk-lock holders {path})",
                        wanted
                    ),
                )
            })?,
        None => match holding.as_slice() {
            [] => {
                eprintln!("zk-lock: {path} is not held; nothing to break");
                return Ok(None);
            }
            [only] => only,
            several => {
                return Err(Failure::usage(format!(
                    "{path} has {} holders; name one with --holder ID or NODE (see zk-lock holders {path})",
                    several.len()
                ))
                .into())
            }
        },
    };
    let node = target["node"].as_str().unwrap_or_default().to_owned();
    let _spinner = zk_common::progress::Waiting::start(format!("asking {node} to let go"), quiet);
    let (outcome, waited) =
        revoke(client, &node, args.force_after, GiveUp::after(args.timeout)).await?;
    Ok(Some(report(path, &node, target, outcome, waited)))
}

/// `--holder` names a holder by its id, its node's path or its node's name.
fn named(record: &Value, wanted: &str) -> bool {
    let node = record["node"].as_str().unwrap_or_default();
    record["id"].as_str() == Some(wanted)
        || node == wanted
        || node.rsplit('/').next() == Some(wanted)
}

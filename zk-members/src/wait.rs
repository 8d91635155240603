//! `zk-members wait`: block until the group has the wanted size.

use std::time::Duration;
use zk_common::timeout::GiveUp;

use anyhow::Result;
use serde_json::Value;

use zk_common::cli::ConnectArgs;
use zk_common::progress::Waiting;
use zk_common::{exit, output, Failure};

use crate::cli::WaitArgs;
use zk_common::follow::Follow;

pub async fn run(connect_args: &ConnectArgs, args: &WaitArgs, quiet: bool) -> Result<u8> {
    let wanted = args.describe();
    let spinner = Waiting::start(
        format!("waiting for {} to have {wanted} member(s)", args.path),
        quiet,
    );
    let mut group = Follow::new(connect_args, &args.path, false, Duration::ZERO);
    let mut seen = None;
    let until_met = async {
        loop {
            let members = group.next().await?.members.unwrap_or_default();
            seen = Some(members.len());
            if args.holds(members.len()) {
                return anyhow::Ok(members);
            }
            spinner.set_message(format!(
                "waiting for {} to have {wanted} member(s) ({} now)",
                args.path,
                members.len()
            ));
        }
    };
    tokio::select! {
        met = until_met => {
            drop(spinner);
            output::document(&Value::Array(met?))?;
            Ok(exit::OK)
        }
        timeout = GiveUp::after(args.timeout).reached() => {
            let now = seen.map(|n| format!("it has {n}")).unwrap_or_else(|| "no reading yet".into());
            Err(Failure::not_acquired(format!("timed out after {timeout} waiting for {} to have {wanted} member(s); {now}", args.path)).into())
        }
        code = zk_common::signals::stop_requested() => Ok(code),
    }
}

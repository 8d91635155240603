//! Asking an owner to let go, the way Curator's `Revoker` does: write
//! `__REVOKE__` to the owner's node. zk-lock and zk-elect owners notice it
//! through the lease (`Lost::Revoked`), stop their command as on any loss
//! and release; a Curator lock made revocable calls its listener. An owner
//! that does not listen can then be forced: its node deleted, exactly that
//! node, version-checked.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;
use zookeeper_client::{Client, Error as ZkError, Stat};

use crate::exit::Failure;
use crate::timeout::GiveUp;

/// Curator's `LockInternals.REVOKE_MESSAGE`.
pub const REVOKE_MESSAGE: &[u8] = b"__REVOKE__";

/// Whether a node's stat allows it to hold the revocation message: written
/// since its creation, and exactly as long.
pub fn may_be_revoked(stat: &Stat) -> bool {
    stat.version > 0 && stat.data_length as usize == REVOKE_MESSAGE.len()
}

pub fn is_revoked(data: &[u8]) -> bool {
    data == REVOKE_MESSAGE
}

/// How the owner let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its node was gone before we asked.
    AlreadyGone,
    /// It released after we asked.
    LetGo,
    /// It did not within `--force-after`: we deleted its node.
    Forced,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::AlreadyGone => "gone",
            Outcome::LetGo => "released",
            Outcome::Forced => "forced",
        }
    }
}

/// Asks the owner of `node` to let go and waits until its node is gone.
/// With `force_after`, deletes the node once that long has passed since
/// the ask, if nobody wrote it since ours. `give_up` bounds the whole wait
/// (exit 75).
pub async fn revoke(
    client: &Client,
    node: &str,
    force_after: Option<Duration>,
    give_up: GiveUp,
) -> Result<(Outcome, Duration)> {
    let asked_at = Instant::now();
    let asked = match client.set_data(node, REVOKE_MESSAGE, None).await {
        Ok(stat) => stat,
        Err(ZkError::NoNode) => return Ok((Outcome::AlreadyGone, Duration::ZERO)),
        Err(ZkError::NoAuth) => {
            return Err(Failure::permission(format!(
                "{node}: its ACL does not let us write the revocation request"
            ))
            .into())
        }
        Err(err) => return Err(err).with_context(|| format!("asking {node} to let go")),
    };
    let force_at = force_after.map(|after| tokio::time::Instant::from_std(asked_at + after));
    let give_up = give_up.reached();
    tokio::pin!(give_up);
    let stop = crate::signals::stop_requested();
    tokio::pin!(stop);
    loop {
        let (stat, watcher) = client
            .check_and_watch_stat(node)
            .await
            .with_context(|| format!("watching {node}"))?;
        if stat.is_none() {
            return Ok((Outcome::LetGo, asked_at.elapsed()));
        }
        let force = async {
            match force_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = watcher.changed() => continue,
            () = force => {
                let outcome = force_delete(client, node, &asked).await?;
                if outcome == Outcome::Forced {
                    tracing::warn!(
                        "{node} did not let go within {}: deleted it; its command is stopped within its lease's window",
                        humantime::format_duration(force_after.unwrap_or_default())
                    );
                }
                return Ok((outcome, asked_at.elapsed()));
            }
            waited = &mut give_up => {
                return Err(Failure::not_acquired(format!(
                    "{node} was asked to let go {waited} ago and still exists"
                ))
                .into())
            }
            code = &mut stop => {
                return Err(Failure::new(code, "").silenced().into())
            }
        }
    }
}

/// What `zk-lock break` and `zk-elect resign` print: the owner's `id` and
/// `token` from its record, how it let go and how long it took.
pub fn report(path: &str, node: &str, owner: &Value, outcome: Outcome, waited: Duration) -> Value {
    serde_json::json!({
        "path": path,
        "node": node,
        "id": owner["id"],
        "token": owner["token"],
        "outcome": outcome.name(),
        "waited_ms": waited.as_millis() as u64,
    })
}

/// Deletes `node` only in the version our request left it in: a node
/// written since (another request, its owner) is not deleted blind.
async fn force_delete(client: &Client, node: &str, asked: &Stat) -> Result<Outcome> {
    match client.delete(node, Some(asked.version)).await {
        Ok(()) => Ok(Outcome::Forced),
        Err(ZkError::NoNode) => Ok(Outcome::LetGo),
        Err(ZkError::BadVersion) => Err(Failure::not_acquired(format!(
            "{node} was written after we asked it to let go; not deleting it"
        ))
        .into()),
        Err(ZkError::NoAuth) => Err(Failure::permission(format!(
            "the ACL of {node}'s parent does not let us delete it"
        ))
        .into()),
        Err(err) => Err(err).with_context(|| format!("deleting {node}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_written_node_of_ten_bytes_is_read() {
        let stat = |version, data_length| Stat {
            czxid: 1,
            mzxid: 1,
            pzxid: 1,
            ctime: 0,
            mtime: 0,
            version,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 1,
            data_length,
            num_children: 0,
        };
        assert!(may_be_revoked(&stat(1, 10)));
        assert!(!may_be_revoked(&stat(0, 10)), "created so: never written");
        assert!(!may_be_revoked(&stat(3, 11)));
        assert!(is_revoked(b"__REVOKE__"));
        assert!(!is_revoked(b"__REVOKE_"));
    }
}

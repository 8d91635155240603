//! Benchmark setup: creates a group of N persistent members quickly (all
//! creates pipelined), or removes it.
//!
//!   cargo run --release -p zk-members --example populate -- CONNECT PATH N
//!   cargo run --release -p zk-members --example populate -- CONNECT PATH delete

use std::time::Duration;

use anyhow::{bail, Context, Result};
use zookeeper_client::{Acls, Client, CreateMode, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [connect, path, what] = args.as_slice() else {
        bail!("usage: populate CONNECT PATH (N | delete)");
    };
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(connect)
        .await?;
    let children = match client.list_children(path).await {
        Ok(children) => children,
        Err(Error::NoNode) => Vec::new(),
        Err(err) => return Err(err).context("listing"),
    };
    let deletes: Vec<_> = children
        .iter()
        .map(|c| client.delete(&format!("{path}/{c}"), None))
        .collect();
    for delete in deletes {
        delete.await?;
    }
    if what == "delete" {
        let _ = client.delete(path, None).await;
        return Ok(());
    }
    let n: usize = what.parse().context("N")?;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match client.mkdir(path, &options).await {
        Ok(()) | Err(Error::NodeExists) => {}
        Err(err) => return Err(err).context("creating the group"),
    }
    let paths: Vec<String> = (0..n).map(|i| format!("{path}/member-{i:05}")).collect();
    let datas: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"address":"10.0.{}.{}","port":8080}}"#,
                i / 250,
                i % 250 + 1
            )
        })
        .collect();
    let creates: Vec<_> = paths
        .iter()
        .zip(&datas)
        .map(|(p, d)| client.create(p, d.as_bytes(), &options))
        .collect();
    for create in creates {
        create.await?;
    }
    Ok(())
}

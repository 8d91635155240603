//! `zk-tree dump`: a subtree as JSON Lines, parents before children.

use anyhow::Result;
use base64::Engine as _;
use serde_json::{Map, Value};

use zk_common::cli::ConnectArgs;
use zk_common::exit::{self, Failure};
use zk_common::{connect, output};

use crate::cli::DumpArgs;
use crate::render;
use crate::walk::{self, Visit, Want};

pub async fn run(connect_args: &ConnectArgs, args: &DumpArgs) -> Result<u8> {
    let client = connect::connect(connect_args).await?;
    let skip = walk::skips_zookeeper_tree(&connect_args.connect, &args.path);
    let want = Want {
        data: true,
        acl: true,
        tolerate_no_auth: false,
    };
    let visits = walk::walk(&client, &args.path, want, skip).await;
    connect::close(client).await;
    let Some(mut visits) = visits? else {
        return Err(Failure::new(
            exit::CONDITION_FALSE,
            format!("{} does not exist", args.path),
        )
        .into());
    };
    // Sorted by path components, a diff of two dumps lines up and every
    // parent still precedes its children.
    visits.sort_by(|a, b| walk::path_order(&a.path, &b.path));
    for visit in &visits {
        output::line(&record(visit))?;
    }
    tracing::info!("dumped {} node(s) below {}", visits.len(), args.path);
    Ok(exit::OK)
}

/// One line of a dump. Data is text when it is UTF-8 (never re-encoded
/// JSON: the bytes must come back as they were), else base64.
pub fn record(visit: &Visit) -> Value {
    let mut line = Map::new();
    line.insert("path".into(), visit.path.clone().into());
    match std::str::from_utf8(&visit.data) {
        Ok(text) => line.insert("data".into(), text.into()),
        Err(_) => line.insert(
            "data_base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(&visit.data)
                .into(),
        ),
    };
    line.insert("acl".into(), render::acl(&visit.acl));
    line.insert("ephemeral_owner".into(), render::owner(&visit.stat));
    line.insert("stat".into(), render::stat(&visit.stat));
    Value::Object(line)
}

//! A small blocking ZooKeeper client for test setup and assertions.

use std::time::Duration;

use anyhow::{Context, Result};
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions, Stat};

/// Wraps an async client and a runtime whose worker keeps the session alive
/// between calls.
pub struct Zk {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Zk {
    pub fn connect(connect: &str) -> Result<Zk> {
        Self::connect_with(connect, None)
    }

    /// Connects with `addauth SCHEME CREDENTIAL` done at session start.
    pub fn connect_with(connect: &str, auth: Option<(&str, &str)>) -> Result<Zk> {
        let mut connector = Client::connector().with_session_timeout(Duration::from_secs(10));
        if let Some((scheme, credential)) = auth {
            connector = connector.with_auth(scheme, credential.as_bytes());
        }
        Self::connect_by(connect, connector)
    }

    /// Connects with a SASL DIGEST-MD5 login: a second identity for tests
    /// of `sasl` ACLs.
    pub fn connect_sasl_digest(connect: &str, user: &str, password: &str) -> Result<Zk> {
        let connector = Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_sasl(zookeeper_client::SaslOptions::digest_md5(
                user.to_string(),
                password.to_string(),
            ));
        Self::connect_by(connect, connector)
    }

    fn connect_by(connect: &str, connector: zookeeper_client::Connector) -> Result<Zk> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let client = runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(20), connector.connect(connect)).await
            })
            .context("connect timed out")?
            .with_context(|| format!("connect to {connect}"))?;
        Ok(Zk { runtime, client })
    }

    /// Asserts `path` carries `--acl creator`'s ACL for digest user `user`:
    /// all permissions for that user, read for the world, nothing else.
    pub fn assert_creator_acl(&self, path: &str, user: &str) {
        use zookeeper_client::Permission;
        let (acl, _) = self
            .block_on(self.client.get_acl(path))
            .unwrap_or_else(|e| panic!("get_acl {path}: {e}"));
        let mut seen: Vec<(String, bool)> = acl
            .iter()
            .map(|a| {
                let who = format!("{}:{}", a.scheme(), a.id());
                let full = a.permission() == Permission::ALL;
                let read = a.permission() == Permission::READ;
                assert!(full || read, "{path}: {who} has {:?}", a.permission());
                (who.split(':').take(2).collect::<Vec<_>>().join(":"), full)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (format!("digest:{user}"), true),
                ("world:anyone".to_string(), false)
            ],
            "{path}: {acl:?}"
        );
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn session_id(&self) -> i64 {
        self.client.session_id().0
    }

    /// Creates `path` and any missing parents as persistent nodes.
    pub fn create_all(&self, path: &str) -> Result<()> {
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        self.runtime
            .block_on(self.client.mkdir(path, &options))
            .or_else(|e| match e {
                zookeeper_client::Error::NodeExists => Ok(()),
                e => Err(e),
            })?;
        Ok(())
    }

    /// Creates one node with `data` in `mode`; parents must exist.
    pub fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<Stat> {
        self.create_with(path, data, &mode.with_acls(Acls::anyone_all()))
    }

    pub fn create_with(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> Result<Stat> {
        let (stat, _) = self
            .runtime
            .block_on(self.client.create(path, data, options))
            .with_context(|| format!("create {path}"))?;
        Ok(stat)
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        self.runtime
            .block_on(self.client.delete(path, None))
            .with_context(|| format!("delete {path}"))?;
        Ok(())
    }

    pub fn children(&self, path: &str) -> Result<Vec<String>> {
        let mut children = self
            .runtime
            .block_on(self.client.list_children(path))
            .with_context(|| format!("list {path}"))?;
        children.sort();
        Ok(children)
    }

    pub fn exists(&self, path: &str) -> Result<bool> {
        Ok(self
            .runtime
            .block_on(self.client.check_stat(path))?
            .is_some())
    }

    /// The node's ACL as `(scheme, id, permissions)`, sorted.
    pub fn acl(&self, path: &str) -> Result<Vec<(String, String, String)>> {
        let (acls, _) = self
            .runtime
            .block_on(self.client.get_acl(path))
            .with_context(|| format!("get the ACL of {path}"))?;
        let mut acls: Vec<_> = acls
            .iter()
            .map(|a| {
                (
                    a.scheme().to_string(),
                    a.id().to_string(),
                    a.permission().to_string(),
                )
            })
            .collect();
        acls.sort();
        Ok(acls)
    }

    pub fn get(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        Ok(self.runtime.block_on(self.client.get_data(path))?)
    }

    /// Runs any other async call on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

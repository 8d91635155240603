//! Small Java clients built with `javac` against Debian's Curator jars, so
//! interop is tested against the real Curator, not our idea of it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context, Result};

const JARS: &[&str] = &[
    "curator-client",
    "curator-framework",
    "curator-recipes",
    "curator-x-discovery",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "slf4j-api",
    "slf4j-nop",
    "netty-buffer",
    "netty-common",
    "netty-handler",
    "netty-transport",
    "jackson-core",
    "jackson-databind",
    "jackson-annotations",
];

/// A compiled Java client from `zk-testkit/java/<Class>.java`.
pub struct JavaClient {
    class: String,
    classpath: String,
}

impl JavaClient {
    /// Compiles `class` once per source and jars: the classes are kept in
    /// the temporary directory under a name that hashes both, so the many
    /// test processes share one build and leave one directory behind, not
    /// one each.
    pub fn compile(class: &str) -> Result<JavaClient> {
        static BUILT: OnceLock<Mutex<std::collections::HashMap<String, PathBuf>>> = OnceLock::new();
        let jars: Vec<String> = JARS
            .iter()
            .map(|jar| format!("/usr/share/java/{jar}.jar"))
            .filter(|path| std::path::Path::new(path).exists())
            .collect();
        if !jars.iter().any(|j| j.contains("curator-recipes")) {
            bail!("Curator jars are missing: run scripts/zookeeper.sh install");
        }
        let jars = jars.join(":");
        let mut built = BUILT
            .get_or_init(Default::default)
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let dir = match built.get(class) {
            Some(dir) => dir.clone(),
            None => {
                let dir = build(class, &jars)?;
                built.insert(class.to_string(), dir.clone());
                dir
            }
        };
        Ok(JavaClient {
            class: class.into(),
            classpath: format!("{}:{jars}", dir.display()),
        })
    }

    /// `java -cp ... Class ARGS...`, ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("java");
        cmd.args([
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            &self.classpath,
            &self.class,
        ])
        .args(args);
        cmd
    }
}

/// The directory of `class` compiled against `jars`: made once by whichever
/// process comes first, in a private directory renamed into place, so a
/// process never sees another's half-written classes.
fn build(class: &str, jars: &str) -> Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("java")
        .join(format!("{class}.java"));
    let text = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    // Debian's /usr/share/java/NAME.jar links to a versioned file: an
    // upgraded Curator names (and sizes) another, so it gets a fresh build.
    for jar in jars.split(':') {
        std::fs::canonicalize(jar).ok().hash(&mut hasher);
        std::fs::metadata(jar)
            .map(|m| m.len())
            .ok()
            .hash(&mut hasher);
    }
    let cache = std::env::temp_dir().join("zk-testkit-java");
    let dir = cache.join(format!("{class}-{:016x}", hasher.finish()));
    if dir.join(format!("{class}.class")).exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&cache)?;
    let scratch = tempfile::tempdir_in(&cache)?;
    let out = Command::new("javac")
        .arg("-d")
        .arg(scratch.path())
        .arg("-cp")
        .arg(jars)
        .arg(&source)
        .output()
        .context("running javac")?;
    if !out.status.success() {
        bail!(
            "javac {}: {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Another process may have won the race; its classes are the same.
    let scratch = scratch.keep();
    if std::fs::rename(&scratch, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    if !dir.join(format!("{class}.class")).exists() {
        bail!(
            "javac {}: no {class}.class in {}",
            source.display(),
            dir.display()
        );
    }
    Ok(dir)
}

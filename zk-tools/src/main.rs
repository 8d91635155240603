//! `zk-tools`: the six tools in one executable, as uutils' coreutils and
//! busybox do. Installed once, with `zk-lock`, `zk-elect`, ... as links to
//! it: the name it is run by picks the tool. `zk-tools lock ...` works too.
//! Each tool's help, man pages, completions and exit codes are its own,
//! unchanged: the dispatch only picks which tool parses the line.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use zk_common::app::main_from;

/// A tool: its name and its entry point.
struct Entry {
    name: &'static str,
    what: &'static str,
    main: fn(Vec<OsString>) -> ExitCode,
}

const TOOLS: [Entry; 6] = [
    Entry {
        name: "zk-lock",
        what: "run a command while holding a distributed lock",
        main: |args| main_from(args, zk_lock::run),
    },
    Entry {
        name: "zk-elect",
        what: "leader election and failover for any command",
        main: |args| main_from(args, zk_elect::run),
    },
    Entry {
        name: "zk-health",
        what: "keep a service registered only while healthy",
        main: |args| main_from(args, zk_health::run),
    },
    Entry {
        name: "zk-members",
        what: "list, watch and wait for the members of a group",
        main: |args| main_from(args, zk_members::run),
    },
    Entry {
        name: "zk-ensemble",
        what: "is the ZooKeeper ensemble itself healthy?",
        main: |args| main_from(args, zk_ensemble::run),
    },
    Entry {
        name: "zk-tree",
        what: "a node's data and a subtree: get, set, watch, dump, restore, du, acl",
        main: |args| main_from(args, zk_tree::run),
    },
];

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(tool) = find(&invoked) {
        return (tool.main)(args);
    }
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    match first.as_deref() {
        // The dead-man's switch re-executes this very file
        // (`current_exe`), by its real name: any tool's entry knows it.
        Some(zk_common::watchdog::ARG) => (TOOLS[0].main)(args),
        Some(name) if find(name).is_some() => {
            let tool = find(name).unwrap_or(&TOOLS[0]);
            args.remove(1);
            args[0] = tool.name.into();
            (tool.main)(args)
        }
        None | Some("-h" | "--help" | "help") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("zk-tools {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            let other: String = other.chars().filter(|c| !c.is_control()).collect();
            eprintln!(
                "zk-tools: no tool named '{other}'; one of {} (see 'zk-tools --help')",
                TOOLS.map(|t| short(t.name)).join(", ")
            );
            ExitCode::from(zk_common::exit::USAGE)
        }
    }
}

/// The tool called `name`, with or without its `zk-` prefix.
fn find(name: &str) -> Option<&'static Entry> {
    TOOLS
        .iter()
        .find(|t| t.name == name || short(t.name) == name)
}

fn short(name: &str) -> &str {
    name.strip_prefix("zk-").unwrap_or(name)
}

fn usage() -> String {
    let mut text = String::from(
        "zk-tools: the zk-tools in one executable.\n\n\
         Run as one of its names (zk-lock, zk-elect, ... are links to it), or name\n\
         the tool first:\n\n  zk-tools TOOL [ARGS...]\n\nTools:\n",
    );
    for tool in &TOOLS {
        text.push_str(&format!("  {:<9} {}\n", short(tool.name), tool.what));
    }
    text.push_str(
        "\nEach tool's --help, man page and exit codes are its own \
         ('zk-tools lock --help' = 'zk-lock --help').\n",
    );
    text
}

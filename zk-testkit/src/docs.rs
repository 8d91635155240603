//! A tool's `--help` and generated documentation, read the way a person
//! reads them: which heading each flag sits under, which man pages the
//! pages point to, and whether `| head` breaks anything.

use std::path::Path;
use std::process::{Command, Stdio};

/// The long flags (`--zk`) or, without one, the short ones (`-c`) that a
/// clap `Args` struct declares: the members of one help section.
pub fn flags_of<A: clap::Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("flags"))
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .map(|arg| match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
        })
        .collect()
}

/// Each argument line of clap's help, as (argument, heading): `--zk`, `-c`,
/// `<PATH>`, `[CMD]...`. Reading stops at the examples and the exit-code
/// table, which follow the arguments.
pub fn headings(help: &str) -> Vec<(String, String)> {
    let mut heading = String::new();
    let mut seen = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_string();
            if heading.starts_with("Example") || heading == "Exit status" {
                break;
            }
            continue;
        }
        // Two spaces before an argument, six before a long flag without a
        // short one (aligned with `-q, --quiet`); descriptions sit deeper.
        let rest = match line.strip_prefix("      ") {
            Some(rest) if rest.starts_with("--") => rest,
            _ => match line.strip_prefix("  ") {
                Some(rest) if rest.starts_with(['-', '<', '[']) => rest,
                _ => continue,
            },
        };
        let tokens: Vec<&str> = rest
            .split_whitespace()
            .map(|t| t.trim_end_matches(','))
            .collect();
        let name = tokens
            .iter()
            .find(|t| t.starts_with("--"))
            .or(tokens.first())
            .map(|t| t.to_string())
            .unwrap_or_default();
        // A counted flag shows as `--verbose...`.
        let name = match name.strip_suffix("...") {
            Some(flag) if flag.starts_with('-') => flag.to_string(),
            _ => name,
        };
        seen.push((name, heading.clone()));
    }
    seen
}

/// Runs `program ARGS --help` and `-h` and checks that every argument sits
/// under the heading of the group it belongs to (`groups`: heading and its
/// flags), every other flag under "Options" and every positional under
/// "Arguments", and that every flag of every group is shown.
pub fn assert_headings(program: &str, args: &[&str], groups: &[(&str, Vec<String>)]) {
    for help_flag in ["--help", "-h"] {
        let out = Command::new(program)
            .args(args)
            .arg(help_flag)
            .output()
            .expect("run the tool");
        assert!(out.status.success(), "{program} {args:?} {help_flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        let seen = headings(&text);
        assert!(
            seen.iter().any(|(arg, _)| arg == "--help"),
            "no arguments read from {program} {args:?} {help_flag}:\n{text}"
        );
        for (arg, heading) in &seen {
            let expected = groups
                .iter()
                .find(|(_, flags)| flags.contains(arg))
                .map(|(heading, _)| *heading)
                .unwrap_or(if arg.starts_with('-') {
                    "Options"
                } else {
                    "Arguments"
                });
            assert_eq!(
                heading, expected,
                "{program} {args:?} {help_flag}: {arg} sits under '{heading}:' but belongs under '{expected}:'\n{text}"
            );
        }
        for (heading, flags) in groups {
            for flag in flags {
                assert!(
                    seen.iter().any(|(arg, _)| arg == flag),
                    "{program} {args:?} {help_flag}: {flag} ({heading}) is not shown\n{text}"
                );
            }
        }
    }
}

/// Man page references (`zk-members-list(1)`) in a roff page, whose
/// hyphens are escaped (`zk\-members\-list`).
pub fn man_references(page: &str) -> Vec<String> {
    let text = page.replace("\\-", "-");
    let mut found = Vec::new();
    for (at, _) in text.match_indices("(1)") {
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &text[start..at];
        if !name.is_empty() {
            found.push(name.to_string());
        }
    }
    found
}

/// `program --generate man DIR` writes `name.1` and `name-SUB.1` for every
/// subcommand in `subcommands`, each a man page (`.TH`), and every page
/// another page names exists. Returns the file names written.
pub fn assert_man_pages(program: &str, name: &str, subcommands: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(program)
        .args(["--generate", "man"])
        .arg(dir.path())
        .output()
        .expect("run the tool");
    assert!(
        out.status.success(),
        "{program} --generate man DIR: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read the man directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    written.sort();
    let mut expected: Vec<String> = std::iter::once(format!("{name}.1"))
        .chain(subcommands.iter().map(|sub| format!("{name}-{sub}.1")))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "{program}: pages written");
    for file in &written {
        let page = std::fs::read_to_string(dir.path().join(file)).expect("read a page");
        assert!(page.contains(".TH "), "{file} has no .TH");
        // Our own pages; sh(1) and friends are not ours to generate.
        for reference in man_references(&page)
            .into_iter()
            .filter(|r| r.starts_with("zk-"))
        {
            assert!(
                dir.path().join(format!("{reference}.1")).exists(),
                "{file} names {reference}(1), which is not generated"
            );
        }
    }
    written
}

/// Runs `program ARGS` with its stdout a pipe whose reader has already
/// gone (what `| head` leaves behind), and returns its exit code.
pub fn exit_code_on_closed_pipe(program: &str, args: &[&str]) -> Option<i32> {
    let (reader, writer) = nix::unistd::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(program)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run the tool");
    assert!(
        out.stderr.is_empty() || out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code()
}

/// Runs `program ARGS` with stdout on `/dev/full` (every write fails with
/// ENOSPC) and returns its exit code.
pub fn exit_code_on_full_disk(program: &str, args: &[&str]) -> Option<i32> {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new("/dev/full"))
        .expect("/dev/full");
    Command::new(program)
        .args(args)
        .stdout(Stdio::from(full))
        .stderr(Stdio::null())
        .status()
        .expect("run the tool")
        .code()
}

/// `--generate` as every tool must take it: a bash completion from each
/// argument list in `anywhere` (flags and positionals before it), exit 0 when
/// the reader closed the pipe (`| head`), 74 on a full disk, and named in
/// `--help`.
pub fn assert_generate(program: &str, anywhere: &[&[&str]]) {
    for args in anywhere {
        let args: Vec<&str> = args.iter().copied().chain(["--generate", "bash"]).collect();
        let out = std::process::Command::new(program)
            .args(&args)
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            script.contains("complete -F"),
            "{args:?}: not a bash completion"
        );
    }
    for what in ["man", "bash", "zsh", "fish"] {
        assert_eq!(
            exit_code_on_closed_pipe(program, &["--generate", what]),
            Some(0),
            "{what} | head"
        );
        assert_eq!(
            exit_code_on_full_disk(program, &["--generate", what]),
            Some(74),
            "{what} > /dev/full"
        );
    }
    let help = std::process::Command::new(program)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--generate man DIR"),
        "--help names --generate"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_read_from_clap_help() {
        let help = "Run a thing\n\nUsage: t [OPTIONS] <PATH> [-- <CMD>...]\n\nArguments:\n  <PATH>\n          The node\n  [CMD]...\n          The command\n\nOptions:\n      --timeout <DUR>\n          Give up\n  -n, --nonblock\n          Do not wait\n  -c <STRING>\n          Shell\n\nLogging:\n  -q, --quiet  Only errors\n\nExamples:\n  --not-a-flag\n";
        assert_eq!(
            headings(help),
            [
                ("<PATH>", "Arguments"),
                ("[CMD]...", "Arguments"),
                ("--timeout", "Options"),
                ("--nonblock", "Options"),
                ("-c", "Options"),
                ("--quiet", "Logging"),
            ]
            .map(|(a, h)| (a.to_string(), h.to_string()))
        );
    }

    #[test]
    fn man_references_unescape_roff_hyphens() {
        let page = ".TP\nzk\\-members\\-list(1)\n.TP\nzk\\-members\\-wait(1)\nsee sh(1)";
        assert_eq!(
            man_references(page),
            ["zk-members-list", "zk-members-wait", "sh"]
        );
    }
}

//! `--help` headings and the generated documentation of zk-members, read from
//! the real binary.

use zk_testkit::docs::{
    assert_headings, assert_man_pages, exit_code_on_closed_pipe, exit_code_on_full_disk, flags_of,
};

const BIN: &str = env!("CARGO_BIN_EXE_zk-members");
const SUBCOMMANDS: [&str; 3] = ["list", "watch", "wait"];

/// The sections every command shares: connection flags and logging.
fn shared() -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            zk_common::cli::CONNECTION,
            flags_of::<zk_common::cli::ConnectArgs>(),
        ),
        (
            zk_common::cli::LOGGING,
            flags_of::<zk_common::cli::LogArgs>(),
        ),
    ]
}

#[test]
fn every_flag_sits_under_its_heading() {
    assert_headings(BIN, &[], &shared());
    for sub in SUBCOMMANDS {
        assert_headings(BIN, &[sub], &shared());
    }
}

#[test]
fn man_pages_cover_every_subcommand_and_name_only_pages_that_exist() {
    assert_man_pages(BIN, "zk-members", &SUBCOMMANDS);
}

#[test]
fn generate_is_accepted_anywhere_and_a_closed_pipe_is_not_an_error() {
    for args in [
        &["list", "--generate", "bash"][..],
        &["--zk", "h:1", "--generate", "bash"],
    ] {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
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
            exit_code_on_closed_pipe(BIN, &["--generate", what]),
            Some(0),
            "{what} | head"
        );
        assert_eq!(
            exit_code_on_full_disk(BIN, &["--generate", what]),
            Some(74),
            "{what} > /dev/full"
        );
    }
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--generate man DIR"),
        "--help names --generate"
    );
}

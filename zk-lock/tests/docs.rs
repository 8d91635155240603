//! `--help` headings and the generated documentation of zk-lock, read from
//! the real binary.

use zk_testkit::docs::{assert_generate, assert_headings, assert_man_pages, flags_of};

const BIN: &str = env!("CARGO_BIN_EXE_zk-lock");
const SUBCOMMANDS: [&str; 2] = ["holders", "break"];

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
    assert_man_pages(BIN, "zk-lock", &SUBCOMMANDS);
}

#[test]
fn generate_is_accepted_anywhere_and_a_closed_pipe_is_not_an_error() {
    assert_generate(BIN, &[&["/locks/x"][..], &["holders"]]);
}

/// A DIR need not be UTF-8: the pages go into it, never to stdout.
#[test]
fn generate_man_into_a_non_utf8_directory() {
    use std::os::unix::ffi::OsStrExt;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join(std::ffi::OsStr::from_bytes(b"man-\xff"));
    std::fs::create_dir(&dir).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--generate", "man"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a page went to stdout");
    assert!(dir.join("zk-lock.1").exists());
}

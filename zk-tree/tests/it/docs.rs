//! `--help` headings, generated documentation, and hostile arguments.

use std::time::Duration;

use zk_testkit::docs::{assert_generate, assert_headings, assert_man_pages, flags_of};
use zk_testkit::{require_zookeeper, shared};

use crate::BIN;

const SUBCOMMANDS: [&str; 7] = ["get", "set", "watch", "dump", "restore", "du", "acl"];

fn shared_sections() -> Vec<(&'static str, Vec<String>)> {
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
    assert_headings(BIN, &[], &shared_sections());
    for sub in SUBCOMMANDS {
        assert_headings(BIN, &[sub], &shared_sections());
    }
}

#[test]
fn man_pages_cover_every_subcommand_and_name_only_pages_that_exist() {
    assert_man_pages(BIN, "zk-tree", &SUBCOMMANDS);
}

#[test]
fn generate_is_accepted_anywhere_and_a_closed_pipe_is_not_an_error() {
    assert_generate(BIN, &[&["get"][..], &["--zk", "h:1"]]);
}

#[test]
fn no_hostile_argument_makes_it_panic() {
    require_zookeeper!();
    let connect = shared().chroot("walk-tree");
    let cmd = zk_common::app::command::<zk_tree::Cli>();
    let (runs, panics) = zk_testkit::hostile::walk(
        BIN,
        &cmd,
        &["--zk", &connect, "--connect-timeout", "2s"],
        Duration::from_secs(3),
    );
    eprintln!(
        "zk-tree: {runs} runs with hostile arguments, {} panicked",
        panics.len()
    );
    assert!(runs > 100, "the walk found only {runs} runs");
    assert!(panics.is_empty(), "{panics:#?}");
}

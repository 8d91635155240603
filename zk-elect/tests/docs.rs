//! `--help` headings and the generated documentation of zk-elect, read from
//! the real binary.

use zk_testkit::docs::{assert_generate, assert_headings, assert_man_pages, flags_of};

const BIN: &str = env!("CARGO_BIN_EXE_zk-elect");
const SUBCOMMANDS: [&str; 4] = ["leader", "watch", "candidates", "resign"];

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
    assert_headings(BIN, &[], &{
        let mut groups = shared();
        groups.push((
            zk_common::probe::HEALTH_PROBES,
            flags_of::<zk_common::probe::ProbeArgs>(),
        ));
        groups
    });
    for sub in SUBCOMMANDS {
        assert_headings(BIN, &[sub], &shared());
    }
}

#[test]
fn man_pages_cover_every_subcommand_and_name_only_pages_that_exist() {
    assert_man_pages(BIN, "zk-elect", &SUBCOMMANDS);
}

#[test]
fn generate_is_accepted_anywhere_and_a_closed_pipe_is_not_an_error() {
    assert_generate(BIN, &[&["/e"][..], &["leader", "/e"]]);
}

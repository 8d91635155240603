//! `--help` headings and the generated documentation of zk-ensemble, read from
//! the real binary.

use zk_testkit::docs::{assert_generate, assert_headings, assert_man_pages, flags_of};

const BIN: &str = env!("CARGO_BIN_EXE_zk-ensemble");
const SUBCOMMANDS: [&str; 6] = ["status", "check", "wait", "watch", "probe", "sessions"];

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

/// Every subcommand asks the servers the same way; all but `probe` judge
/// with the thresholds.
fn groups_of(sub: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut groups = shared();
    groups.push((zk_ensemble::SERVERS, flags_of::<zk_ensemble::SurveyArgs>()));
    if !matches!(sub, "probe" | "sessions") {
        groups.push((
            zk_ensemble::THRESHOLDS,
            flags_of::<zk_ensemble::Thresholds>(),
        ));
    }
    groups
}

#[test]
fn every_flag_sits_under_its_heading() {
    assert_headings(BIN, &[], &shared());
    for sub in SUBCOMMANDS {
        assert_headings(BIN, &[sub], &groups_of(sub));
    }
}

#[test]
fn man_pages_cover_every_subcommand_and_name_only_pages_that_exist() {
    assert_man_pages(BIN, "zk-ensemble", &SUBCOMMANDS);
}

#[test]
fn generate_is_accepted_anywhere_and_a_closed_pipe_is_not_an_error() {
    assert_generate(BIN, &[&["status", "--format", "prometheus"][..], &["-v"]]);
}

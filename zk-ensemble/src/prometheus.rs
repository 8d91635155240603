//! `status --format prometheus`: the text exposition format, for
//! node_exporter's textfile collector. Per-server series carry a `server`
//! label (the client address).

use std::fmt::Write;

use crate::ensemble::{Assessment, Severity, Survey, Verdict};
use crate::server::Report;

/// Renders the whole report. Unknown figures are left out, not zeroed.
pub fn render(survey: &Survey, assessment: &Assessment) -> String {
    let mut out = String::new();
    let a = assessment;
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP zookeeper_{name} {help}");
        let _ = writeln!(out, "# TYPE zookeeper_{name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "zookeeper_{name}{labels} {}", number(value));
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let flag = |b: bool| if b { 1.0 } else { 0.0 };

    gauge(
        "ensemble_servers",
        "Servers probed (connect string plus discovered).",
        one(a.servers as f64),
    );
    gauge("ensemble_up", "Servers serving requests.", one(a.up as f64));
    gauge("ensemble_voters", "Voting members.", one(a.voters as f64));
    gauge(
        "ensemble_quorum_size",
        "Voting members a quorum needs.",
        one(a.quorum_size as f64),
    );
    gauge(
        "ensemble_has_quorum",
        "1 when a leader and a quorum of voters serve.",
        one(flag(a.has_quorum)),
    );
    gauge(
        "ensemble_leaders",
        "Servers claiming leadership (should be 1).",
        one(a.leaders as f64),
    );
    if let Some(lag) = a.max_zxid_lag {
        gauge(
            "ensemble_max_zxid_lag",
            "Largest zxid lag behind the newest server, in transactions.",
            one(lag as f64),
        );
    }
    gauge(
        "ensemble_status",
        "1 for the current verdict (healthy, degraded, down), 0 for the others.",
        [Verdict::Healthy, Verdict::Degraded, Verdict::Down]
            .iter()
            .map(|v| {
                (
                    format!("{{status=\"{}\"}}", v.as_str()),
                    flag(*v == a.verdict),
                )
            })
            .collect(),
    );
    gauge(
        "ensemble_warnings",
        "Warnings in the report, by severity.",
        Severity::ALL
            .iter()
            .map(|&s| {
                let n = a.warnings.iter().filter(|w| w.severity() == s).count();
                (format!("{{severity=\"{}\"}}", s.as_str()), n as f64)
            })
            .collect(),
    );

    let reports = &survey.reports;
    let per = |f: &dyn Fn(&Report) -> Option<f64>| -> Vec<(String, f64)> {
        reports
            .iter()
            .filter_map(|r| Some((label(&r.address, None), f(r)?)))
            .collect()
    };
    gauge(
        "up",
        "1 when the server answered.",
        per(&|r| Some(flag(r.reachable))),
    );
    gauge(
        "serving",
        "1 when the server serves requests.",
        per(&|r| Some(flag(r.serving))),
    );
    gauge(
        "mode",
        "1 for the server's mode (leader, follower, observer, standalone, read-only).",
        reports
            .iter()
            .filter_map(|r| Some((label(&r.address, Some(("mode", r.mode.as_deref()?))), 1.0)))
            .collect(),
    );
    gauge(
        "server_id",
        "The server's myid.",
        per(&|r| r.server_id.map(|v| v as f64)),
    );
    gauge(
        "zxid_epoch",
        "Epoch of the last processed zxid.",
        per(&|r| r.zxid.map(|z| z.epoch() as f64)),
    );
    gauge(
        "zxid_counter",
        "Counter of the last processed zxid.",
        per(&|r| r.zxid.map(|z| z.counter() as f64)),
    );
    let lags: Vec<(String, f64)> = reports
        .iter()
        .zip(&a.lags)
        .filter_map(|(r, lag)| Some((label(&r.address, None), (*lag)? as f64)))
        .collect();
    gauge("zxid_lag", "Transactions behind the newest server.", lags);
    // Prometheus wants base units: mntr's milliseconds become seconds.
    gauge(
        "latency_avg_seconds",
        "Average request latency, seconds.",
        per(&|r| Some(seconds(r.latency_avg?))),
    );
    gauge(
        "latency_max_seconds",
        "Maximum request latency, seconds.",
        per(&|r| Some(seconds(r.latency_max.as_ref()?.as_f64()?))),
    );
    gauge(
        "outstanding_requests",
        "Requests queued.",
        per(&|r| r.outstanding_requests.map(|v| v as f64)),
    );
    gauge(
        "znode_count",
        "Znodes.",
        per(&|r| r.znode_count.map(|v| v as f64)),
    );
    gauge(
        "watch_count",
        "Watches.",
        per(&|r| r.watch_count.map(|v| v as f64)),
    );
    gauge(
        "ephemerals_count",
        "Ephemeral znodes.",
        per(&|r| r.ephemerals_count.map(|v| v as f64)),
    );
    gauge(
        "alive_connections",
        "Client connections.",
        per(&|r| r.alive_connections.map(|v| v as f64)),
    );
    gauge(
        "approximate_data_size_bytes",
        "Approximate size of the data tree, bytes.",
        per(&|r| r.approximate_data_size.map(|v| v as f64)),
    );
    gauge(
        "open_file_descriptors",
        "File descriptors open.",
        per(&|r| r.open_file_descriptors.map(|v| v as f64)),
    );
    gauge(
        "max_file_descriptors",
        "File descriptors allowed.",
        per(&|r| r.max_file_descriptors.map(|v| v as f64)),
    );
    gauge(
        "followers",
        "Learners connected to the leader (leader only).",
        per(&|r| (r.mode.as_deref() == Some("leader")).then_some(r.followers? as f64)),
    );
    gauge(
        "synced_followers",
        "Followers in sync with the leader (leader only).",
        per(&|r| (r.mode.as_deref() == Some("leader")).then_some(r.synced_followers? as f64)),
    );
    out
}

fn label(server: &str, extra: Option<(&str, &str)>) -> String {
    let mut labels = format!("{{server=\"{}\"", escape(server));
    if let Some((key, value)) = extra {
        let _ = write!(labels, ",{key}=\"{}\"", escape(value));
    }
    labels.push('}');
    labels
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// mntr's milliseconds as seconds, to the microsecond (so 0.38 ms prints
/// as 0.00038, not with float noise in the last digits).
fn seconds(millis: f64) -> f64 {
    (millis * 1000.0).round() / 1_000_000.0
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\n", None), "{server=\"a\\\"b\\\\c\\n\"}");
        assert_eq!(
            label("h:1", Some(("mode", "leader"))),
            "{server=\"h:1\",mode=\"leader\"}"
        );
    }

    #[test]
    fn numbers_print_without_needless_fractions() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.3784), "0.3784");
        assert_eq!(number(seconds(0.38)), "0.00038");
        assert_eq!(number(seconds(12.0)), "0.012");
    }
}

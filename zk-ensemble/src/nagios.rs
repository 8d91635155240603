//! `check --format nagios`: one plugin line, `SERVICE STATE - text | perfdata`,
//! and the plugin exit codes (Nagios Plugin Development Guidelines).

use crate::cli::Thresholds;
use crate::ensemble::{summary, Assessment, Severity, Verdict};

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;

/// The plugin line and its exit code.
pub fn render(assessment: &Assessment, limits: &Thresholds) -> (String, u8) {
    let critical = assessment
        .warnings
        .iter()
        .any(|w| w.severity() == Severity::Critical);
    let (state, code) = match assessment.verdict {
        Verdict::Down => ("CRITICAL", CRITICAL),
        _ if critical => ("CRITICAL", CRITICAL),
        Verdict::Degraded => ("WARNING", WARNING),
        Verdict::Healthy => ("OK", OK),
    };
    let a = assessment;
    let text = summary(a).replace('|', "/");
    let mut perf = vec![
        format!("servers={};;;0;", a.servers),
        format!("up={};;{}:;0;{}", a.up, a.quorum_size, a.servers),
        format!("has_quorum={};;;0;1", u8::from(a.has_quorum)),
        format!("leaders={};;;0;", a.leaders),
    ];
    let or_empty = |v: Option<String>| v.unwrap_or_default();
    if let Some(lag) = a.max_zxid_lag {
        let crit = or_empty(limits.critical_lag.map(|c| c.to_string()));
        perf.push(format!("max_zxid_lag={lag};{};{crit};0;", limits.max_lag));
    }
    if let Some(latency) = a.worst_latency_ms {
        let limit = limits.max_latency.as_secs_f64() * 1000.0;
        let crit = or_empty(
            limits
                .critical_latency
                .map(|c| (c.as_secs_f64() * 1000.0).to_string()),
        );
        perf.push(format!("max_avg_latency={latency}ms;{limit};{crit};0;"));
    }
    perf.push(format!(
        "warnings={};;;0;",
        a.warnings
            .iter()
            .filter(|w| w.severity() != Severity::Notice)
            .count()
    ));
    (
        format!("ZOOKEEPER {state} - {text} | {}", perf.join(" ")),
        code,
    )
}

/// The line for a check that could not run at all.
pub fn unknown(cause: &str) -> (String, u8) {
    (
        format!("ZOOKEEPER UNKNOWN - {}", cause.replace('|', "/")),
        UNKNOWN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_has_no_perfdata_separator_in_its_text() {
        let (line, code) = unknown("bad | input");
        assert_eq!(line, "ZOOKEEPER UNKNOWN - bad / input");
        assert_eq!(code, UNKNOWN);
    }
}

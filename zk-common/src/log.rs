//! Human logs on stderr through `tracing`. stdout is reserved for JSON.
//!
//! Every line reads `tool: level: message`, the way the final error line
//! reads `tool: cause`, so a warning in a cron mail or a journal says which
//! tool wrote it.

use std::ffi::OsStr;
use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// Installs the stderr logger for `tool`.
pub fn init(tool: &str, args: &LogArgs) {
    let filter = filter(args, std::env::var("ZK_LOG").ok().as_deref());
    let colour = use_colour(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .event_format(Line::new(tool, colour))
        .try_init();
}

/// The filter in force: `-q` or `-v` when given (a flag typed for this run
/// says more than an environment set long ago), else `ZK_LOG` when it
/// parses, else warnings.
pub fn filter(args: &LogArgs, zk_log: Option<&str>) -> EnvFilter {
    let explicit = args.quiet || args.verbose > 0;
    match zk_log.filter(|_| !explicit).map(EnvFilter::try_new) {
        Some(Ok(filter)) => filter,
        Some(Err(err)) => {
            // Nothing is installed yet to log through.
            eprintln!("ZK_LOG is not a tracing filter ({err}); using the default");
            EnvFilter::new(default_directives(args))
        }
        None => EnvFilter::new(default_directives(args)),
    }
}

/// What `-q`, nothing, `-v`, `-vv` and `-vvv` show.
pub fn default_directives(args: &LogArgs) -> &'static str {
    match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,zookeeper_client=error",
        (false, 1) => "info,zookeeper_client=warn",
        (false, 2) => "debug",
        _ => "trace",
    }
}

/// Colour only for a person at a terminal, and never when `NO_COLOR` is set
/// to anything but the empty string (no-color.org).
pub fn use_colour(no_color: Option<&OsStr>, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && !matches!(no_color, Some(value) if !value.is_empty())
}

/// `tool: level: message`, the level coloured when `colour`.
#[derive(Debug, Clone)]
pub struct Line {
    tool: String,
    colour: bool,
}

impl Line {
    pub fn new(tool: &str, colour: bool) -> Line {
        Line {
            tool: tool.into(),
            colour,
        }
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let (word, sgr) = match *event.metadata().level() {
            Level::ERROR => ("error", "1;31"),
            Level::WARN => ("warning", "1;33"),
            Level::INFO => ("info", "32"),
            Level::DEBUG => ("debug", "34"),
            Level::TRACE => ("trace", "35"),
        };
        write!(writer, "{}: ", self.tool)?;
        if self.colour {
            write!(writer, "\x1b[{sgr}m{word}\x1b[0m: ")?;
        } else {
            write!(writer, "{word}: ")?;
        }
        // Debug and trace come mostly from the ZooKeeper client: say which
        // module spoke.
        if *event.metadata().level() >= Level::DEBUG {
            write!(writer, "{}: ", event.metadata().target())?;
        }
        // One event, one line: a control character in the message (text
        // read from ZooKeeper is anyone's input) is written escaped, so no
        // node's data can forge a line or a terminal sequence.
        let mut message = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut message), event)?;
        writer.write_str(&escape_controls(&message))?;
        writeln!(writer)
    }
}

/// `text` with every control character escaped as Rust writes it (`\n`,
/// `\u{1b}`); everything else, non-ASCII included, as it is.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn args(quiet: bool, verbose: u8) -> LogArgs {
        LogArgs { quiet, verbose }
    }

    #[test]
    fn flags_win_over_zk_log_and_zk_log_wins_over_the_default() {
        let quiet = filter(&args(true, 0), Some("debug")).to_string();
        assert_eq!(quiet, "error", "-q must not be overridden by ZK_LOG");
        let verbose = filter(&args(false, 1), Some("error")).to_string();
        assert!(
            verbose.contains("info") && !verbose.contains("error"),
            "{verbose}"
        );
        let env = filter(&args(false, 0), Some("zk_lock=debug")).to_string();
        assert_eq!(env, "zk_lock=debug");
        let default = filter(&args(false, 0), None).to_string();
        assert!(default.split(',').any(|d| d == "warn"), "{default}");
        let bad = filter(&args(false, 0), Some("=[")).to_string();
        assert!(
            bad.split(',').any(|d| d == "warn"),
            "a bad ZK_LOG falls back: {bad}"
        );
    }

    #[test]
    fn no_color_and_a_pipe_turn_colour_off() {
        assert!(use_colour(None, true));
        assert!(!use_colour(None, false));
        assert!(!use_colour(Some(OsStr::new("1")), true));
        assert!(
            use_colour(Some(OsStr::new("")), true),
            "an empty NO_COLOR is unset"
        );
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(colour: bool, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(move || sink.clone())
            .with_ansi(colour)
            .event_format(Line::new("zk-test", colour))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = buffer.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn warnings_carry_the_tools_name_and_no_escape_without_colour() {
        let plain = logged(false, || {
            tracing::warn!("kill-after shrunk to {}ms", 500);
            tracing::info!("acquired");
        });
        assert_eq!(
            plain,
            "zk-test: warning: kill-after shrunk to 500ms\nzk-test: info: acquired\n"
        );
        let coloured = logged(true, || tracing::warn!("x"));
        assert_eq!(coloured, "zk-test: \x1b[1;33mwarning\x1b[0m: x\n");
    }

    #[test]
    fn text_from_zookeeper_cannot_forge_a_line_or_a_terminal_sequence() {
        let planted = "db1\nzk-test: info: all clear\x1b[2J";
        let logged = logged(false, || {
            tracing::warn!("the previous leader {planted} did not resign")
        });
        assert_eq!(
            logged,
            "zk-test: warning: the previous leader db1\\nzk-test: info: all clear\\x1b[2J did not resign\n"
        );
        assert_eq!(escape_controls("héllo\tx"), "héllo\\tx");
    }
}

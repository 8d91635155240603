//! The one entry point every binary's `main` calls: parse, log, run, exit.
//!
//! This is the only place a process exit code is decided, so every tool
//! prints errors the same way (one line, `tool: cause`) and maps them with
//! the same table.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use crate::cli::CommonArgs;
use crate::exit;

/// A tool's parsed command line.
pub trait Tool: clap::Parser {
    fn common(&self) -> &CommonArgs;
}

/// The full clap command of a tool, with the exit-code table appended to
/// its long help. Tests use it for `debug_assert`.
pub fn command<T: Tool>() -> clap::Command {
    let cmd = T::command();
    let examples = cmd
        .get_after_long_help()
        .map(|h| format!("{h}\n\n"))
        .unwrap_or_default();
    cmd.after_long_help(format!("{examples}{}", exit::HELP_TABLE))
}

/// Parses the command line, sets up logging and a current-thread runtime,
/// runs the tool and turns its result into the process exit code.
pub fn main<T, F, Fut>(run: F) -> ExitCode
where
    T: Tool,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = anyhow::Result<u8>>,
{
    let mut cmd = command::<T>();
    let name = cmd.get_name().to_string();
    // Arguments need not be UTF-8 (a wrapped command's are passed through
    // as bytes); clap refuses a non-UTF-8 value where it needs text.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let arg = |i: usize| args.get(i).and_then(|a| a.to_str());
    if arg(1) == Some(crate::watchdog::ARG) {
        return crate::watchdog::run(arg(2));
    }
    if arg(1) == Some("--generate") {
        return generate(&mut cmd, arg(2));
    }
    let cli = match cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| T::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(err) => return usage_error(&name, err),
    };
    crate::log::init(&cli.common().log);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the async runtime: {err}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let result = runtime.block_on(run(cli));
    // Dropping the runtime would wait for blocking stdin readers; nothing
    // left in it matters once the tool has finished.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
    }
}

/// clap's own help and version go out as clap prints them; a usage error
/// becomes one line and exit 2.
fn usage_error(name: &str, err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    // clap's first paragraph names the cause (and, for missing arguments,
    // lists them on the following lines); usage and tips come after a blank
    // line and are left to --help.
    let rendered = err.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let cause = paragraph.join(" ");
    let cause = cause.strip_prefix("error: ").unwrap_or(&cause);
    eprintln!("{name}: {cause} (see '{name} --help')");
    ExitCode::from(exit::USAGE)
}

/// `TOOL --generate man|bash|zsh|fish|elvish|powershell` writes a man page
/// or a completion script to stdout, straight from the clap definitions.
fn generate(cmd: &mut clap::Command, what: Option<&str>) -> ExitCode {
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    let result = match what {
        Some("man") => clap_mangen::Man::new(cmd.clone()).render(&mut out),
        Some(shell) => match shell.parse::<clap_complete::Shell>() {
            Ok(shell) => {
                clap_complete::generate(shell, cmd, &name, &mut out);
                Ok(())
            }
            Err(_) => {
                eprintln!("{name}: --generate takes man, bash, zsh, fish, elvish or powershell, not '{shell}'");
                return ExitCode::from(exit::USAGE);
            }
        },
        None => {
            eprintln!("{name}: --generate takes man, bash, zsh, fish, elvish or powershell");
            return ExitCode::from(exit::USAGE);
        }
    };
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: writing the generated file: {err}");
            ExitCode::from(exit::INTERNAL)
        }
    }
}

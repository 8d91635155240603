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

/// The full clap command of a tool, with the exit-code table and a word on
/// `--generate` appended to its long help, and `--generate` itself: hidden
/// from the flag list (it is for packagers) but an argument clap knows, so
/// it is accepted in any position. Tests use it for `debug_assert`.
pub fn command<T: Tool>() -> clap::Command {
    let cmd = T::command();
    let examples = cmd
        .get_after_long_help()
        .map(|h| format!("{h}\n\n"))
        .unwrap_or_default();
    cmd.after_long_help(format!("{examples}{}\n\n{GENERATE_HELP}", exit::HELP_TABLE))
        .arg(
            clap::Arg::new(GENERATE)
                .long(GENERATE)
                .value_names(["WHAT", "DIR"])
                // A DIR need not be UTF-8.
                .value_parser(clap::builder::OsStringValueParser::new())
                .num_args(1..=2)
                .global(true)
                .hide(true),
        )
}

/// The id and long name of the hidden `--generate` flag.
pub const GENERATE: &str = "generate";

/// What a tool's long help says about `--generate`.
pub const GENERATE_HELP: &str = "\
Documentation:
  --generate man          the man page on stdout
  --generate man DIR      the man pages of the tool and each subcommand, into DIR
  --generate SHELL        a completion script: bash, zsh, fish, elvish, powershell";

/// Parses the command line, sets up logging and a current-thread runtime,
/// runs the tool and turns its result into the process exit code.
pub fn main<T, F, Fut>(run: F) -> ExitCode
where
    T: Tool,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = anyhow::Result<u8>>,
{
    // Arguments need not be UTF-8 (a wrapped command's are passed through
    // as bytes); clap refuses a non-UTF-8 value where it needs text.
    main_from(std::env::args_os().collect(), run)
}

/// [`main`] with the command line given: what the one `zk-tools` binary
/// calls once it knows which tool it runs as (`args[0]` is then the tool's
/// name, so usage lines read as they do from the tool's own binary).
pub fn main_from<T, F, Fut>(args: Vec<std::ffi::OsString>, run: F) -> ExitCode
where
    T: Tool,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = anyhow::Result<u8>>,
{
    let mut cmd = command::<T>();
    let name = cmd.get_name().to_string();
    let arg = |i: usize| args.get(i).and_then(|a| a.to_str());
    if arg(1) == Some(crate::watchdog::ARG) {
        return crate::watchdog::run(arg(2));
    }
    if let Some(what) = generate_request(&cmd, &args) {
        return generate(&mut cmd, &what);
    }
    let cli = match cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| T::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(err) => return usage_error(&name, err),
    };
    crate::log::init(&name, &cli.common().log);
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
        // Silenced on purpose (see `Failure::silenced`): the status says it.
        Err(err)
            if err
                .downcast_ref::<exit::Failure>()
                .is_some_and(|f| f.message.is_empty()) =>
        {
            ExitCode::from(exit::code_for(&err))
        }
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

/// The values of `--generate` when it was given, wherever it stands. The
/// line is parsed leniently first, since the tool's own requirements (a
/// PATH, a subcommand) do not apply when it only prints its documentation.
fn generate_request(
    cmd: &clap::Command,
    args: &[std::ffi::OsString],
) -> Option<Vec<std::ffi::OsString>> {
    let matches = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    let values = matches.get_raw(GENERATE)?;
    Some(values.map(std::ffi::OsStr::to_os_string).collect())
}

/// `TOOL --generate man [DIR] | bash | zsh | fish | elvish | powershell`
/// writes a man page or a completion script to stdout, or every man page
/// into DIR, straight from the clap definitions. A reader that leaves early
/// (`| head`) ends the output, not in an error.
fn generate(cmd: &mut clap::Command, what: &[std::ffi::OsString]) -> ExitCode {
    let name = cmd.get_name().to_string();
    // A man page has no use for clap's `help` subcommand, and a page that
    // named it would point at a page nobody writes.
    let mut for_man = cmd.clone().disable_help_subcommand(true);
    let rendered: Result<Vec<u8>, String> = match what {
        [man] if man == "man" => {
            let mut page = Vec::new();
            clap_mangen::Man::new(for_man)
                .render(&mut page)
                .map(|()| page)
                .map_err(|err| err.to_string())
        }
        [man, dir] if man == "man" => {
            return match write_man_pages(&mut for_man, std::path::Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("{name}: {failure}");
                    ExitCode::from(failure.code)
                }
            };
        }
        [shell] => match shell.to_string_lossy().parse::<clap_complete::Shell>() {
            Ok(shell) => {
                // Rendered into memory first: clap_complete panics when its
                // writer fails, and a closed pipe must not be a panic.
                let mut script = Vec::new();
                clap_complete::generate(shell, cmd, &name, &mut script);
                Ok(script)
            }
            Err(_) => {
                let shell = shell.to_string_lossy();
                let shell = crate::log::escape_controls(&shell);
                eprintln!("{name}: --generate takes man [DIR], bash, zsh, fish, elvish or powershell, not '{shell}'");
                return ExitCode::from(exit::USAGE);
            }
        },
        _ => {
            eprintln!("{name}: --generate takes man [DIR], bash, zsh, fish, elvish or powershell; only man takes a DIR");
            return ExitCode::from(exit::USAGE);
        }
    };
    let written = rendered.and_then(|bytes| {
        let mut out = std::io::stdout().lock();
        match out.write_all(&bytes).and_then(|()| out.flush()) {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|err| err.to_string()),
        }
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: writing the generated file to stdout: {err}");
            ExitCode::from(exit::IO_ERROR)
        }
    }
}

/// Writes TOOL.1 and TOOL-SUBCOMMAND.1 for every visible subcommand into
/// `dir`, which must exist, so every page a SUBCOMMANDS section names is
/// there.
fn write_man_pages(cmd: &mut clap::Command, dir: &std::path::Path) -> Result<(), exit::Failure> {
    if !dir.is_dir() {
        return Err(exit::Failure::usage(format!(
            "--generate man {}: not a directory",
            dir.display()
        )));
    }
    clap_mangen::generate_to(cmd.clone(), dir).map_err(|err| {
        exit::Failure::new(
            exit::IO_ERROR,
            format!("writing man pages to {}: {err}", dir.display()),
        )
    })
}

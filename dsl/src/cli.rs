//! The command line every stack binary gets: `preview`, `up`, `destroy`, `refresh`,
//! `outputs`, `state ...`, `history`, `graph` and `import`, over a stack built from a
//! typed, validated configuration. This is the only module of the crate that prints.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use iac_state::{Location, OpenOptions, SecretsKey, StackId, StateStore};
use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::{OwoColorize, Stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::apply::{ApplyReport, Event, StepStatus};
use crate::engine::{self, EngineError, RunOptions};
use crate::plan::{DriftKind, Op, Plan, Step};
use crate::stack::Stack;
use crate::value::{contains_secret, contains_unknown, redact, reveal, unknown_source};

/// Writes with `$write` (`write` or `writeln`) to `$stream`, dropping what cannot be
/// written. A closed standard output (`... | head`) makes `println!` panic in the middle
/// of a run; the CLI prints through [`outln!`], [`out!`], [`errln!`] and [`errout!`]
/// (`println!`, `print!`, `eprintln!`, `eprint!` that never panic) instead, so that the
/// command carries on to its end (a deployment finishes, records itself and releases the
/// lock) with its exit code unchanged.
macro_rules! quietly {
    ($write:ident, $stream:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = $write!($stream, $($arg)*);
    }};
}

/// `println!` that never panics ([`quietly!`]).
macro_rules! outln {
    ($($arg:tt)*) => { quietly!(writeln, std::io::stdout(), $($arg)*) };
}

/// `print!` that never panics ([`quietly!`]).
macro_rules! out {
    ($($arg:tt)*) => { quietly!(write, std::io::stdout(), $($arg)*) };
}

/// `eprintln!` that never panics ([`quietly!`]).
macro_rules! errln {
    ($($arg:tt)*) => { quietly!(writeln, std::io::stderr(), $($arg)*) };
}

/// `eprint!` that never panics ([`quietly!`]).
macro_rules! errout {
    ($($arg:tt)*) => { quietly!(write, std::io::stderr(), $($arg)*) };
}

mod checks;

/// A stack's configuration: loaded from TOML with `--set` overrides, validated before
/// anything else happens.
pub trait StackConfig: DeserializeOwned + Serialize {
    /// The stack name this configuration deploys (e.g. its environment suffix).
    fn stack_name(&self) -> String;

    /// Every problem with the configuration, as `(field, message)`.
    fn validate(&self) -> Vec<(String, String)>;
}

/// Exit code for a failed command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `preview --detailed-exitcode` when the plan has changes.
pub const EXIT_CHANGES: u8 = 2;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Preview and deploy this stack.",
    propagate_version = true,
    subcommand_required = true
)]
struct Cli {
    /// The state: an SQLite file, or a PostgreSQL database a team shares
    /// (`postgres://user:password@host:5432/database`; the password is never shown). Its
    /// secrets key is `IAC_PASSPHRASE` when set, else the key file `IAC_KEY_FILE`, else
    /// (for a file) a key file beside it (`<state>.key`, created on first use, mode 0600).
    #[arg(
        long,
        global = true,
        default_value = ".iac/state.db",
        env = "IAC_STATE",
        hide_env_values = true,
        value_name = "FILE|URL"
    )]
    state: Location,
    /// The stack name (default: from the configuration).
    #[arg(long, global = true)]
    stack: Option<String>,
    /// The configuration file (TOML).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override a configuration value: `--set lambda_memory_size=1024` (repeatable).
    #[arg(long = "set", global = true, value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Most steps running at once.
    #[arg(long, global = true, default_value_t = 10)]
    parallelism: usize,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Tracing logs on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// `None` when the command is the stack's own ([`Extension`]).
    #[command(subcommand)]
    command: Option<Command>,
}

/// Commands a stack binary adds beside the common ones (`payment-dr-stack drill`): parsed
/// with them (the global options apply, `--help` lists them) and run with an
/// [`ExtensionContext`] once the configuration is loaded and validated.
pub trait Extension<C: StackConfig>: Subcommand {
    /// Runs the command: its output (printed by the CLI, as JSON under `--json`) and exit
    /// code, or an error message (exit 1).
    fn run(
        self,
        ctx: ExtensionContext<'_, C>,
    ) -> impl std::future::Future<Output = Result<ExtensionOutput, String>>;
}

/// No stack-specific command ([`run`]).
#[derive(Subcommand, Debug)]
pub enum NoExtension {}

impl<C: StackConfig> Extension<C> for NoExtension {
    async fn run(self, _ctx: ExtensionContext<'_, C>) -> Result<ExtensionOutput, String> {
        match self {}
    }
}

/// What a stack-specific command reports.
#[derive(Debug, Clone)]
pub struct ExtensionOutput {
    /// Printed without `--json`.
    pub text: String,
    /// Printed with `--json`.
    pub json: Value,
    /// The exit code.
    pub code: u8,
}

/// What a stack-specific command may use: the validated configuration, the stack, the
/// state file, and the engine's `preview` and `up` of the stack built from any
/// configuration (for a command that deploys a changed one, such as a drill's writer
/// change).
pub struct ExtensionContext<'a, C> {
    /// The loaded, validated configuration (with `--set` applied).
    pub config: &'a C,
    /// The stack.
    pub stack: &'a iac_state::StackId,
    /// Whether `--json` was given (nothing but the output goes to standard output).
    pub json: bool,
    state: &'a iac_state::Location,
    build: &'a dyn Fn(&C) -> Stack,
    parallelism: usize,
}

impl<C: StackConfig> ExtensionContext<'_, C> {
    /// Opens the state file (`create`: make it when missing).
    pub fn open_state(&self, create: bool) -> Result<StateStore, String> {
        open_state(self.state, create)
    }

    /// The plan `up` would carry out for the stack built from `config`; printed as
    /// `preview` prints it, except under `--json`.
    pub async fn preview(&self, config: &C) -> Result<Plan, String> {
        let stack = self.stack_of(config);
        stack.validate().map_err(|e| e.to_string())?;
        let store = self.open_state(false)?;
        let state = store.load(stack.id()).map_err(|e| e.to_string())?;
        let options = RunOptions {
            parallelism: self.parallelism,
            ..RunOptions::default()
        };
        let plan = engine::preview_validated(&stack, state, &options, false, Some(&store))
            .await
            .map_err(|e| e.to_string())?;
        if !self.json {
            Ui { json: false }.plan(&plan);
        }
        Ok(plan)
    }

    /// Asks `question` on the terminal; only `yes` agrees. Without a terminal, refuses
    /// with a message saying to pass `--yes`.
    pub fn confirm(&self, command: &str, question: &str) -> Result<bool, String> {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "`{command}` needs confirmation: run it on a terminal, or pass --yes"
            ));
        }
        errout!("{question} Only 'yes' will be accepted: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        Ok(std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "yes")
    }

    /// A progress line on standard error (none under `--json`).
    pub fn progress(&self, line: &str) {
        if !self.json {
            errln!("{line}");
        }
    }

    /// Deploys the stack built from `config` without asking (the caller confirmed), as
    /// `up --yes` would, recorded as an `up` deployment of its own; its report's failures
    /// come back as an error naming them.
    pub async fn up(&self, config: &C) -> Result<engine::Deployment, String> {
        let stack = self.stack_of(config);
        let store = Arc::new(self.open_state(true)?);
        let options = RunOptions {
            parallelism: self.parallelism,
            ..RunOptions::default()
        };
        let deployment = engine::up(stack, store, &options, false, &mut |_: &Plan| true)
            .await
            .map_err(|e| e.to_string())?;
        match &deployment.report {
            Some(report) if !report.succeeded() => Err(format!(
                "the writer change failed: {}",
                report
                    .failures()
                    .iter()
                    .map(|s| match &s.status {
                        StepStatus::Failed { error } => format!("{}: {error}", s.name),
                        _ => s.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            _ => Ok(deployment),
        }
    }

    fn stack_of(&self, config: &C) -> Stack {
        let stack = (self.build)(config);
        if stack.id() == self.stack {
            stack
        } else {
            stack.renamed(&self.stack.name)
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
struct TargetArgs {
    /// Limit the run to this resource and what it depends on (repeatable).
    #[arg(long = "target")]
    targets: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what `up` would do, without changing anything: the plan, the policy results
    /// and the monthly cost estimate. Exits 1 when a mandatory policy fails.
    Preview {
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Read every recorded resource first, so drift shows in the plan.
        #[arg(long)]
        refresh: bool,
        /// Preview `destroy` instead.
        #[arg(long)]
        destroy: bool,
        /// Run the policies alone, on the declaration: no state, no data source, no
        /// request. Exit 1 on a mandatory violation that is not waived.
        #[arg(long, conflicts_with_all = ["refresh", "destroy", "detailed_exitcode"])]
        policy_only: bool,
        /// Save the plan to this file, with fingerprints of the state and declarations
        /// it was made from, for `up --plan FILE` (secrets are masked in it).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["refresh", "policy_only"])]
        out: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Deploy the stack.
    Up {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Read every recorded resource first.
        #[arg(long)]
        refresh: bool,
        /// Apply exactly the plan `preview --out FILE` saved (its targets too), without
        /// asking; refused when the state or the declarations moved since.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["refresh", "targets"])]
        plan: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Delete every resource of the stack.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Read every recorded resource and record what the cloud holds.
    Refresh,
    /// Print the stack outputs recorded by the last deployment.
    Outputs {
        /// Only this output.
        name: Option<String>,
        /// Print secret values in plain text.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Inspect or edit the recorded state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// List the stack's deployments.
    History {
        /// Draw a deployment as a Gantt chart (SVG) into this file: one bar per step,
        /// grouped by region, the critical path highlighted, failures marked.
        #[arg(long, value_name = "FILE.svg")]
        timeline: Option<PathBuf>,
        /// The deployment to draw (its `#`; default: the last one that changed anything).
        #[arg(long, value_name = "N", requires = "timeline")]
        deployment: Option<i64>,
    },
    /// Print the declared dependency graph: Graphviz DOT, or an SVG picture laid out
    /// here (one band per region, resources coloured by service; no Graphviz needed).
    Graph {
        /// `dot` or `svg`.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
    },
    /// Adopt an existing cloud object as a declared resource.
    Import {
        /// The resource's logical name in the stack.
        name: String,
        /// The object's id in the cloud.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// List recorded resources, grouped by provider (region) and service.
    List,
    /// Show one recorded resource (secrets redacted).
    Show {
        /// The resource.
        name: String,
    },
    /// Forget a resource in state without touching the cloud.
    Delete {
        /// The resource.
        name: String,
    },
    /// Remove the stack's lock after the process holding it died.
    ForceUnlock,
    /// Write the stack's state as JSON (secrets stay encrypted).
    Export {
        /// The file (default: standard output).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Load a stack's state from an export.
    Import {
        /// The exported JSON file.
        file: PathBuf,
    },
    /// Copy the stack to another state (a file or a `postgres://` URL, either way), then
    /// check that the copy loads and passes the integrity check. Both stacks are locked
    /// meanwhile; secrets stay encrypted (re-sealed under the same key).
    Migrate {
        /// Where to copy it: a file path or a `postgres://` URL.
        #[arg(long, value_name = "FILE|URL")]
        to: Location,
        /// Replace what the destination stack holds (otherwise a non-empty destination
        /// stack is refused).
        #[arg(long)]
        force: bool,
    },
}

/// Runs the CLI for project `project`: parses arguments, loads and validates the
/// configuration (`default_config` unless `--config`), builds the stack with `build`, and
/// carries out the command. Returns the process exit code.
pub fn run<C, F>(project: &str, default_config: &str, build: F) -> ExitCode
where
    C: StackConfig,
    F: Fn(&C) -> Stack,
{
    run_with::<C, F, NoExtension>(project, default_config, build)
}

/// [`run`] with the stack's own commands `E` beside the common ones.
pub fn run_with<C, F, E>(project: &str, default_config: &str, build: F) -> ExitCode
where
    C: StackConfig,
    F: Fn(&C) -> Stack,
    E: Extension<C>,
{
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = E::augment_subcommands(Cli::command()).get_matches_from(&args);
    let extension = match matches.subcommand_name() {
        Some(name) if E::has_subcommand(name) => {
            Some(E::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
        }
        _ => None,
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (set, verbose) = repeated_globals(&args);
    cli.set = set;
    cli.verbose = cli.verbose.max(verbose);
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(dispatch(cli, extension, project, default_config, build))
}

/// Every `--set` value on the command line, in order, and the `-v` count, wherever they
/// stand. clap keeps a global option's values from one side of the subcommand only (those
/// after it replace those before: `--set a=1 up --set b=2` would lose `a=1`), so the
/// repeatable global options are counted from the arguments themselves, as clap reads
/// them: up to a bare `--`, `--set VALUE` or `--set=VALUE`, `-v`, `-vv`, ... and
/// `--verbose`. A malformed line never gets here (clap refused it first).
fn repeated_globals(args: &[std::ffi::OsString]) -> (Vec<String>, u8) {
    let mut set = Vec::new();
    let mut verbose: u8 = 0;
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        match word.as_ref() {
            "--" => break,
            "--set" => set.extend(words.next().map(|v| v.into_owned())),
            "--verbose" => verbose = verbose.saturating_add(1),
            w if w.starts_with("--set=") => set.push(w["--set=".len()..].to_string()),
            w if w.len() > 1 && w.starts_with('-') && w[1..].chars().all(|c| c == 'v') => {
                let n = u8::try_from(w.len() - 1).unwrap_or(u8::MAX);
                verbose = verbose.saturating_add(n);
            }
            _ => {}
        }
    }
    (set, verbose)
}

/// Refuses a stack name that could not name one stack everywhere it is shown and kept
/// (`project/name` in the state, logs and locks): 1 to 128 letters, digits, `-`, `_` or
/// `.`.
fn check_stack_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 128 || !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` is not a stack name: use 1 to 128 letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// Writes `message` on a line of standard error for a stack's own notes (a build
/// starting), never panicking: a closed pipe drops it, as it does the CLI's output.
pub fn note(message: &str) {
    errln!("{message}");
}

fn init_tracing(verbose: u8) {
    if verbose == 0 {
        return;
    }
    let level = match verbose {
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn fail(message: &str) -> ExitCode {
    errln!(
        "{} {message}",
        "error:".if_supports_color(Stream::Stderr, |t| t.red())
    );
    ExitCode::from(EXIT_ERROR)
}

/// Loads the configuration file and applies `--set` overrides, then validates.
pub fn load_config<C: StackConfig>(path: &Path, overrides: &[String]) -> Result<C, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        )]
    })?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e| vec![format!("{}: not valid TOML: {e}", path.display())])?;
    let mut problems = Vec::new();
    let mut overridden = std::collections::BTreeSet::new();
    for item in overrides {
        let Some((key, raw)) = item.split_once('=') else {
            problems.push(format!("--set `{item}`: expected NAME=VALUE"));
            continue;
        };
        let key = key.trim();
        overridden.insert(key.to_string());
        // The value is TOML when it parses as one (numbers, booleans, arrays), else a string.
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        set_path(&mut table, key, value);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let config: C = if overridden.is_empty() {
        // The file as it is: an error shows its own line.
        toml::from_str(&text).map_err(|e: toml::de::Error| {
            let key = e.span().and_then(|at| key_at(&text, at.start));
            let key = key.map(|k| format!(" `{k}`:")).unwrap_or_default();
            vec![format!(
                "{}:{key} {}",
                path.display(),
                e.to_string().trim_end()
            )]
        })?
    } else {
        // Render the merged table and read it, naming where a wrong value came from: the
        // merged text's lines are not the file's, so an error names the key and its source.
        let merged =
            toml::to_string(&table).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        toml::from_str(&merged).map_err(|e: toml::de::Error| {
            let key = e.span().and_then(|at| key_at(&merged, at.start));
            let message = e.message().trim_end();
            vec![match key {
                Some(key) if overridden.contains(&key) => format!("--set `{key}`: {message}"),
                Some(key) => match line_of(&text, &key) {
                    Some(line) => format!("{}: `{key}` (line {line}): {message}", path.display()),
                    None => format!("{}: `{key}`: {message}", path.display()),
                },
                None => format!("{}: {message}", path.display()),
            }]
        })?
    };
    let invalid = config.validate();
    if invalid.is_empty() {
        Ok(config)
    } else {
        Err(invalid
            .into_iter()
            .map(|(field, message)| format!("{}: `{field}`: {message}", path.display()))
            .collect())
    }
}

/// The dotted key of the line holding byte `at` of `text`, a document written a `key =
/// value` per line under `[table]` and `[[array]]` headers (as `toml::to_string` writes
/// one, and most configuration files are); `None` where the line holds no such key.
fn key_at(text: &str, at: usize) -> Option<String> {
    let unquote = |k: &str| k.trim().trim_matches('"').to_string();
    let mut table: Option<String> = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let header = trimmed.trim_start_matches('[').trim_end_matches(']');
            table = Some(header.split('.').map(unquote).collect::<Vec<_>>().join("."));
        }
        if (start..end).contains(&at) {
            let (key, _) = trimmed.split_once('=')?;
            let key = key.split('.').map(unquote).collect::<Vec<_>>().join(".");
            return Some(match table {
                Some(table) => format!("{table}.{key}"),
                None => key,
            });
        }
        start = end;
    }
    None
}

/// The line (from 1) of `text` that sets the dotted `key` ([`key_at`]).
fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut start = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if key_at(text, start).as_deref() == Some(key) {
            return Some(n + 1);
        }
        start += line.len();
    }
    None
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

fn open_state(location: &Location, create: bool) -> Result<StateStore, String> {
    let secrets = engine::reference::secrets_key(location)?;
    open_state_with(location, create, secrets)
}

fn open_state_with(
    location: &Location,
    create: bool,
    secrets: SecretsKey,
) -> Result<StateStore, String> {
    if create
        && let Location::File(path) = location
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let store = StateStore::open_location(location, OpenOptions { secrets, create })
        .map_err(|e| e.to_string())?;
    if !store.is_wal() {
        errln!(
            "{} state file {location}: SQLite did not grant WAL mode (the file system may lack shared memory); it keeps a rollback journal, equally durable, but `state`, `history` and `outputs` wait while a run writes",
            "warning:".if_supports_color(Stream::Stderr, |t| t.yellow()),
        );
    }
    Ok(store)
}

async fn dispatch<C, F, E>(
    cli: Cli,
    extension: Option<E>,
    project: &str,
    default_config: &str,
    build: F,
) -> ExitCode
where
    C: StackConfig,
    F: Fn(&C) -> Stack,
    E: Extension<C>,
{
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_config));
    let needs_config = !matches!(
        cli.command,
        Some(Command::State { .. } | Command::History { .. } | Command::Outputs { .. })
    ) || cli.stack.is_none();
    let config: Option<C> = if needs_config {
        match load_config::<C>(&config_path, &cli.set) {
            Ok(c) => Some(c),
            Err(problems) => {
                errln!(
                    "{} the configuration has {} problem(s):",
                    "error:".if_supports_color(Stream::Stderr, |t| t.red()),
                    problems.len()
                );
                for p in problems {
                    errln!("  - {p}");
                }
                return ExitCode::from(EXIT_ERROR);
            }
        }
    } else {
        None
    };
    let stack_name = cli
        .stack
        .clone()
        .or_else(|| config.as_ref().map(StackConfig::stack_name))
        .unwrap_or_default();
    if let Err(problem) = check_stack_name(&stack_name) {
        let from = if cli.stack.is_some() {
            "`--stack`"
        } else {
            "the configuration's stack name"
        };
        return fail(&format!("{from}: {problem}"));
    }
    let id = StackId {
        project: project.to_string(),
        name: stack_name,
    };
    let ui = Ui { json: cli.json };
    let build_stack = || {
        let mut stack = config
            .as_ref()
            .map(&build)
            .unwrap_or_else(|| Stack::new(project, &id.name));
        if stack.id() != &id {
            stack = stack.renamed(&id.name);
        }
        stack
    };

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let options = RunOptions {
        parallelism: cli.parallelism.max(1),
        cancel: cancel_rx,
        ..RunOptions::default()
    };

    let Some(command) = cli.command else {
        let (Some(extension), Some(config)) = (extension, config.as_ref()) else {
            return fail("no command given (`--help` lists them)");
        };
        let ctx = ExtensionContext {
            config,
            stack: &id,
            json: cli.json,
            state: &cli.state,
            build: &build,
            parallelism: cli.parallelism.max(1),
        };
        return match extension.run(ctx).await {
            Ok(output) => {
                if cli.json {
                    ui.print_json(&output.json);
                } else {
                    outln!("{}", output.text);
                }
                ExitCode::from(output.code)
            }
            Err(message) => fail(&message),
        };
    };
    let result: Result<u8, String> = match command {
        Command::Preview {
            detailed_exitcode,
            refresh,
            destroy,
            policy_only,
            out,
            target,
        } => {
            let stack = build_stack();
            if let Err(e) = stack.validate() {
                return fail(&e.to_string());
            }
            if policy_only {
                let report = crate::policy::evaluate(&stack);
                checks::print_policy_only(ui.json, &report);
                return ExitCode::from(if report.passes() { 0 } else { EXIT_ERROR });
            }
            let targets = target.targets;
            let opts = RunOptions {
                refresh,
                targets: targets.clone(),
                ..options
            };
            // A stack without a state file is previewed against nothing: a preview
            // creates no state file and no key file.
            let store = if cli.state.may_exist() {
                match open_state(&cli.state, false) {
                    Ok(store) => Some(store),
                    Err(e) => return fail(&e),
                }
            } else {
                None
            };
            let state = match &store {
                Some(store) => store.load(stack.id()).map_err(|e| e.to_string()),
                None => Ok(iac_state::StackState {
                    stack: stack.id().clone(),
                    resources: Vec::new(),
                    outputs: Default::default(),
                }),
            };
            match state {
                Err(e) => Err(e),
                // Validated above, where a declaration error is reported.
                Ok(state) => {
                    let recorded = state.clone();
                    let planned =
                        engine::preview_validated(&stack, state, &opts, destroy, store.as_ref())
                            .await;
                    match planned {
                        Ok(plan) => {
                            let code = show_preview(
                                &ui,
                                &stack,
                                &recorded,
                                &plan,
                                destroy,
                                detailed_exitcode,
                            );
                            match out {
                                Some(file) => save_plan(
                                    &ui,
                                    &file,
                                    (&stack, &recorded, &plan),
                                    destroy,
                                    &targets,
                                    &cli.set,
                                )
                                .map(|()| code),
                                None => Ok(code),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            }
        }
        Command::Up {
            plan: Some(file), ..
        } => {
            let how = Deploy::Saved(file);
            deploy(&ui, build_stack(), &cli.state, options, how, cancel_tx).await
        }
        Command::Up {
            yes,
            refresh,
            target,
            plan: None,
        } => {
            let opts = RunOptions {
                refresh,
                targets: target.targets,
                ..options
            };
            let how = Deploy::Up { yes };
            deploy(&ui, build_stack(), &cli.state, opts, how, cancel_tx).await
        }
        Command::Destroy { yes, target } => {
            let opts = RunOptions {
                targets: target.targets,
                ..options
            };
            let how = Deploy::Destroy { yes };
            deploy(&ui, build_stack(), &cli.state, opts, how, cancel_tx).await
        }
        Command::Refresh => {
            let stack = build_stack();
            match open_state(&cli.state, true) {
                Err(e) => Err(e),
                Ok(store) => match engine::refresh(&stack, &store, &options).await {
                    Ok(report) => {
                        ui.refreshed(&report);
                        Ok(0)
                    }
                    Err(e) => Err(e.to_string()),
                },
            }
        }
        Command::Outputs { name, show_secrets } => {
            outputs(&ui, &cli.state, &id, name.as_deref(), show_secrets)
        }
        Command::History {
            timeline: Some(file),
            deployment,
        } => timeline(&ui, &cli.state, &id, &file, deployment),
        Command::History { timeline: None, .. } => history(&ui, &cli.state, &id),
        Command::Graph { format } => {
            let stack = build_stack();
            match stack.validate() {
                Err(e) => Err(e.to_string()),
                Ok(()) => {
                    match format {
                        GraphFormat::Dot => out!("{}", stack.to_dot()),
                        GraphFormat::Svg => out!("{}", crate::pictures::graph_svg(&stack)),
                    }
                    Ok(0)
                }
            }
        }
        Command::Import { name, id: object } => {
            let stack = build_stack();
            match open_state(&cli.state, true) {
                Err(e) => Err(e),
                Ok(store) => match engine::import(&stack, &store, &name, &object, &options).await {
                    Ok(record) => {
                        ui.line(&format!(
                            "imported {} ({}) as {}",
                            record.id, record.type_token, record.name
                        ));
                        Ok(0)
                    }
                    Err(e) => Err(e.to_string()),
                },
            }
        }
        Command::State { command } => state_command(&ui, &cli.state, &id, command),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => fail(&message),
    }
}

/// Prints a preview (the plan, then its policy results and cost estimate) and gives its
/// exit code: 1 when a mandatory policy fails (`up` would refuse), else 2 for changes
/// under `--detailed-exitcode`, else 0. A destroy preview runs no policy.
fn show_preview(
    ui: &Ui,
    stack: &Stack,
    state: &iac_state::StackState,
    plan: &Plan,
    destroy: bool,
    detailed_exitcode: bool,
) -> u8 {
    let policies = if destroy {
        crate::policy::PolicyReport::default()
    } else {
        crate::policy::evaluate(stack)
    };
    let cost = crate::cost::estimate(stack, state, plan);
    let priced = !cost.resources.is_empty() || cost.before > 0.0;
    if !ui.json {
        ui.plan(plan);
    }
    checks::print_preview(ui.json, plan, &policies, priced.then_some(&cost));
    if !policies.passes() {
        EXIT_ERROR
    } else if detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        0
    }
}

/// Saves a previewed plan for `up --plan FILE`, and says where.
fn save_plan(
    ui: &Ui,
    file: &Path,
    (stack, recorded, plan): (&Stack, &iac_state::StackState, &Plan),
    destroy: bool,
    targets: &[String],
    overrides: &[String],
) -> Result<(), String> {
    let saved = engine::saved::SavedPlan::new(stack, recorded, plan, destroy, targets)
        .with_overrides(overrides);
    saved.write(file)?;
    if !ui.json {
        outln!(
            "\nSaved this plan to {}: `up --plan {}` applies exactly it, and refuses if the state or the declarations change first.",
            file.display(),
            file.display()
        );
    }
    Ok(())
}

/// How `deploy` runs: a planned `up`, a `destroy`, or a saved plan.
enum Deploy {
    /// `up`, asking unless `yes`.
    Up { yes: bool },
    /// `destroy`, asking unless `yes`.
    Destroy { yes: bool },
    /// `up --plan FILE`: the saved plan was the confirmation.
    Saved(PathBuf),
}

async fn deploy(
    ui: &Ui,
    stack: Stack,
    state: &Location,
    options: RunOptions,
    how: Deploy,
    cancel: watch::Sender<bool>,
) -> Result<u8, String> {
    let saved = match &how {
        Deploy::Saved(file) => {
            let saved = engine::saved::SavedPlan::read(file)?;
            saved.check_stack(stack.id(), &file.display().to_string())?;
            Some((saved, file.display().to_string()))
        }
        _ => None,
    };
    let (yes, destroy) = match &how {
        Deploy::Up { yes } => (*yes, false),
        Deploy::Destroy { yes } => (*yes, true),
        Deploy::Saved(_) => (true, saved.as_ref().is_some_and(|(s, _)| s.destroy)),
    };
    if let Err(e) = stack.validate() {
        return Err(e.to_string());
    }
    // A mandatory policy violation refuses before the state file is opened (the engine
    // checks again, for callers of the library).
    if !destroy {
        let report = crate::policy::evaluate(&stack);
        if !report.passes() {
            return Err(report.to_string());
        }
    }
    // First Ctrl-C: start nothing new, let running steps finish and be recorded. Second:
    // exit at once; the journal lets the next run reconcile what was in flight. The
    // handler is registered here, before the state is opened (deriving its key takes a
    // while), so that no Ctrl-C of the run meets the default action.
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let cancel = Arc::new(cancel);
    let signals = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if interrupts.recv().await.is_some() {
                errln!("\ninterrupted: finishing the running steps (Ctrl-C again to exit now)");
                let _ = cancel.send(true);
                if interrupts.recv().await.is_some() {
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        })
    };
    let store = Arc::new(open_state(state, true)?);
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        signals.abort();
        return Err(format!(
            "`{}` needs confirmation: run it on a terminal, or pass --yes",
            if destroy { "destroy" } else { "up" }
        ));
    }
    let progress = Progress::new(ui.json);
    let sink_progress = progress.clone();
    let options = RunOptions {
        events: Some(Arc::new(move |e| sink_progress.event(e))),
        ..options
    };
    let json = ui.json;
    let mut confirm = move |plan: &Plan| -> bool {
        if !json {
            Ui { json }.plan(plan);
        }
        if yes {
            return true;
        }
        errout!("Do you want to perform these actions? Only 'yes' will be accepted: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "yes"
    };
    let started = Instant::now();
    let result = match &saved {
        Some((plan, file)) => {
            engine::up_saved(stack, store, &options, plan, file, &mut confirm).await
        }
        None => engine::up(stack, store, &options, destroy, &mut confirm).await,
    };
    progress.finish();
    signals.abort();
    let deployment = result.map_err(|e| match e {
        EngineError::State(s) => s.to_string(),
        other => other.to_string(),
    })?;
    // Shown with the plan; said here when no plan was shown (nothing to change).
    if !deployment.recovered.is_empty() && !deployment.plan.has_changes() {
        ui.line(&format!(
            "reconciled {} operation(s) an interrupted run left: {}",
            deployment.recovered.len(),
            deployment.recovered.join(", ")
        ));
    }
    match &deployment.report {
        None if !deployment.plan.has_changes() => {
            if ui.json {
                ui.print_json(&serde_json::json!({"changes": false}));
            } else {
                ui.line(&no_changes_line(&deployment.plan));
            }
            Ok(0)
        }
        None => {
            ui.line("Cancelled: nothing was changed.");
            Ok(EXIT_ERROR)
        }
        Some(report) => {
            ui.report(report, started.elapsed());
            if report.interrupted {
                Ok(EXIT_INTERRUPTED)
            } else if report.succeeded() {
                Ok(0)
            } else {
                Ok(EXIT_ERROR)
            }
        }
    }
}

fn outputs(
    ui: &Ui,
    state: &Location,
    id: &StackId,
    name: Option<&str>,
    show_secrets: bool,
) -> Result<u8, String> {
    let store = open_state(state, false)?;
    let loaded = store.load(id).map_err(|e| e.to_string())?;
    let shown = |v: &Value| if show_secrets { reveal(v) } else { redact(v) };
    if let Some(name) = name {
        let v = loaded
            .outputs
            .get(name)
            .ok_or_else(|| format!("stack {id} has no output `{name}`"))?;
        match shown(v) {
            Value::String(s) if !ui.json => outln!("{s}"),
            other => outln!(
                "{}",
                serde_json::to_string_pretty(&other).unwrap_or_default()
            ),
        }
        return Ok(0);
    }
    let all: BTreeMap<&String, Value> = loaded.outputs.iter().map(|(k, v)| (k, shown(v))).collect();
    if ui.json {
        ui.print_json(&all);
    } else if all.is_empty() {
        outln!("stack {id} has no outputs recorded");
    } else {
        let width = all.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in all {
            outln!("{k:width$}  {}", display_value(&v));
        }
    }
    Ok(0)
}

fn history(ui: &Ui, state: &Location, id: &StackId) -> Result<u8, String> {
    let store = open_state(state, false)?;
    let records = store.history(id).map_err(|e| e.to_string())?;
    // Reports kept beside deployments (a drill's timeline, RTO and RPO).
    let reports: BTreeMap<i64, Value> = store
        .deployment_reports(id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(d, report)| (d.0, report))
        .collect();
    if ui.json {
        let rows: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).unwrap_or_default();
                if let (Some(report), Some(map)) = (reports.get(&r.id.0), row.as_object_mut()) {
                    map.insert("report".into(), report.clone());
                }
                row
            })
            .collect();
        ui.print_json(&rows);
        return Ok(0);
    }
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY);
    table.set_header([
        "#",
        "kind",
        "started",
        "finished",
        "result",
        "changes (a drill: RTO, RPO)",
    ]);
    for r in &records {
        table.add_row([
            r.id.to_string(),
            r.kind.as_str().to_string(),
            utc_time(r.started_at),
            r.finished_at.map(utc_time).unwrap_or_else(|| "-".into()),
            r.result
                .as_ref()
                .map_or("running", |x| x.as_str())
                .to_string(),
            reports
                .get(&r.id.0)
                .and_then(|report| report["summary"].as_str())
                .map(str::to_string)
                .or_else(|| {
                    r.counts.as_ref().map(|c| {
                        format!(
                            "+{} ~{} ±{} -{} !{}",
                            c.created, c.updated, c.replaced, c.deleted, c.failed
                        )
                    })
                })
                .unwrap_or_default(),
        ]);
    }
    outln!("{table}");
    Ok(0)
}

/// What a plan without resource changes says: that the stack matches, or which outputs
/// still change (a new or removed output, a data source that moved).
fn no_changes_line(plan: &Plan) -> String {
    let outputs: Vec<&str> = plan
        .outputs_changed
        .iter()
        .chain(&plan.outputs_removed)
        .map(String::as_str)
        .collect();
    if outputs.is_empty() {
        "No changes. The stack matches its declaration.".to_string()
    } else {
        format!(
            "No changes to resources; outputs that change: {}.",
            outputs.join(", ")
        )
    }
}

/// A time as a user reads it in a table: to the second, in UTC, said so.
fn utc_time(t: time::OffsetDateTime) -> String {
    let shown =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(shown)
        .unwrap_or_else(|_| t.to_string())
}

/// How `graph` prints the dependency graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT text.
    Dot,
    /// An SVG picture.
    Svg,
}

/// Draws one deployment's steps, from the journal, as an SVG Gantt chart in `file`.
fn timeline(
    ui: &Ui,
    state: &Location,
    id: &StackId,
    file: &Path,
    deployment: Option<i64>,
) -> Result<u8, String> {
    let store = open_state(state, false)?;
    let records = store.history(id).map_err(|e| e.to_string())?;
    let steps_of =
        |d: iac_state::DeploymentId| store.journal_steps(id, d).map_err(|e| e.to_string());
    let (record, steps) = match deployment {
        Some(n) => {
            let record = records.iter().find(|r| r.id.0 == n).ok_or_else(|| {
                format!("stack {id} has no deployment #{n} (`history` lists them)")
            })?;
            (record, steps_of(record.id)?)
        }
        None => {
            let mut found = None;
            for r in records.iter().rev() {
                let steps = steps_of(r.id)?;
                if !steps.is_empty() {
                    found = Some((r, steps));
                    break;
                }
            }
            found.ok_or_else(|| format!("stack {id} has no deployment that changed anything"))?
        }
    };
    let dependencies = store
        .load(id)
        .map_err(|e| e.to_string())?
        .resources
        .into_iter()
        .map(|r| (r.name, r.dependencies))
        .collect();
    let bars = crate::pictures::timeline_bars(&steps, &dependencies);
    let title = format!(
        "{id}: deployment #{} ({}), {}",
        record.id.0,
        format!("{:?}", record.kind).to_lowercase(),
        record.started_at
    );
    let svg = crate::pictures::timeline_svg(&title, &bars);
    std::fs::write(file, svg).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    if ui.json {
        ui.print_json(
            &serde_json::json!({"deployment": record.id.0, "steps": bars.len(), "file": file}),
        );
    } else {
        ui.line(&format!(
            "Drew deployment #{} ({} steps) into {}.",
            record.id.0,
            bars.len(),
            file.display()
        ));
    }
    Ok(0)
}

fn state_command(
    ui: &Ui,
    state: &Location,
    id: &StackId,
    command: StateCommand,
) -> Result<u8, String> {
    let store = open_state(state, matches!(command, StateCommand::Import { .. }))?;
    match command {
        StateCommand::List => {
            let loaded = store.load(id).map_err(|e| e.to_string())?;
            if ui.json {
                let rows: Vec<Value> = loaded
                    .resources
                    .iter()
                    .map(|r| serde_json::json!({"name": r.name, "type": r.type_token, "provider": r.provider, "id": r.id, "status": format!("{:?}", r.status).to_lowercase()}))
                    .collect();
                ui.print_json(&rows);
                return Ok(0);
            }
            let mut groups: BTreeMap<(String, String), Vec<&iac_state::ResourceRecord>> =
                BTreeMap::new();
            for r in &loaded.resources {
                groups
                    .entry((r.provider.clone(), service_of(&r.type_token)))
                    .or_default()
                    .push(r);
            }
            outln!("stack {id}: {} resource(s)", loaded.resources.len());
            for ((provider, service), rows) in groups {
                outln!(
                    "\n{} / {}",
                    provider.if_supports_color(Stream::Stdout, |t| t.bold()),
                    service
                );
                let mut table = Table::new();
                table.load_style(UTF8_BORDERS_ONLY);
                table.set_header(["name", "type", "id", "status"]);
                for r in rows {
                    table.add_row([
                        r.name.clone(),
                        r.type_token.clone(),
                        r.id.clone(),
                        format!("{:?}", r.status).to_lowercase(),
                    ]);
                }
                outln!("{table}");
            }
            Ok(0)
        }
        StateCommand::Show { name } => {
            let loaded = store.load(id).map_err(|e| e.to_string())?;
            let r = loaded
                .resources
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| format!("stack {id} has no resource `{name}` recorded"))?;
            let shown = serde_json::json!({
                "name": r.name, "type": r.type_token, "provider": r.provider, "id": r.id,
                "status": format!("{:?}", r.status).to_lowercase(),
                "dependencies": r.dependencies, "options": r.options,
                "inputs": redact(&r.inputs), "outputs": redact(&r.outputs),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&shown).unwrap_or_default()
            );
            Ok(0)
        }
        StateCommand::Delete { name } => {
            let lock = store
                .lock(id, &engine::default_holder())
                .map_err(|e| e.to_string())?;
            let object = store.load(id).ok().and_then(|state| {
                state
                    .resources
                    .into_iter()
                    .find(|r| r.name == name)
                    .map(|r| r.id)
            });
            let removed = store.remove_resource(id, &name).map_err(|e| e.to_string());
            lock.release().map_err(|e| e.to_string())?;
            if removed? {
                let object = object.unwrap_or_else(|| "ID".to_string());
                ui.line(&format!(
                    "forgot `{name}`; the cloud object `{object}` is untouched and no longer managed: the next `up` creates another unless `import {name} {object}` adopts it first"
                ));
                Ok(0)
            } else {
                Err(format!("stack {id} has no resource `{name}` recorded"))
            }
        }
        StateCommand::ForceUnlock => match store.force_unlock(id).map_err(|e| e.to_string())? {
            Some(info) => {
                ui.line(&format!("removed the lock of stack {id} held by {info}"));
                Ok(0)
            }
            None => {
                ui.line(&format!("stack {id} was not locked"));
                Ok(0)
            }
        },
        StateCommand::Export { file } => {
            let doc = store.export(id).map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            match file {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => outln!("{text}"),
            }
            Ok(0)
        }
        StateCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
            let lock = store
                .lock(id, &engine::default_holder())
                .map_err(|e| e.to_string())?;
            let result = store.import(id, &doc).map_err(|e| e.to_string());
            lock.release().map_err(|e| e.to_string())?;
            result?;
            ui.line(&format!(
                "imported the state of stack {id} from {}",
                file.display()
            ));
            Ok(0)
        }
        StateCommand::Migrate { to, force } => {
            let secrets = engine::reference::secrets_key(state)?;
            migrate(ui, &store, state, id, &to, force, secrets)
        }
    }
}

/// `state migrate`: copies stack `id` from `source` (at `from`) to the state at `to`
/// under the same secrets key, with both stacks locked, and checks the copy.
fn migrate(
    ui: &Ui,
    source: &StateStore,
    from: &Location,
    id: &StackId,
    to: &Location,
    force: bool,
    secrets: SecretsKey,
) -> Result<u8, String> {
    if from == to {
        return Err(format!(
            "state migrate: --to {to} is the state the stack is in"
        ));
    }
    let holder = engine::default_holder();
    let source_lock = source.lock(id, &holder).map_err(|e| e.to_string())?;
    let pending = source.pending_intents(id).map_err(|e| e.to_string())?;
    if !pending.is_empty() {
        return Err(format!(
            "stack {id} in {from} has {} unfinished step(s) left by an interrupted run (first: {} `{}`); run `up` or `refresh` there first so that they are reconciled, then migrate",
            pending.len(),
            format!("{:?}", pending[0].operation).to_lowercase(),
            pending[0].resource
        ));
    }
    let original = source.load(id).map_err(|e| e.to_string())?;
    let doc = source.export(id).map_err(|e| e.to_string())?;
    let dest = open_state_with(to, true, secrets.clone())?;
    let dest_lock = dest.lock(id, &holder).map_err(|e| e.to_string())?;
    let existing = dest.load(id).map_err(|e| e.to_string())?;
    let occupied = !existing.resources.is_empty() || !existing.outputs.is_empty();
    if occupied && !force {
        return Err(format!(
            "state migrate: stack {id} in {to} already has {} resource(s) and {} output(s); pass --force to replace them",
            existing.resources.len(),
            existing.outputs.len()
        ));
    }
    let imported = if force {
        dest.import_replacing(id, &doc)
    } else {
        dest.import(id, &doc)
    };
    imported.map_err(|e| e.to_string())?;
    // The copy must load (integrity check, secrets decrypt) and hold what the source does.
    let copy = dest.load(id).map_err(|e| e.to_string())?;
    let same = copy.outputs == original.outputs
        && copy.resources.len() == original.resources.len()
        && copy
            .resources
            .iter()
            .zip(&original.resources)
            .all(|(a, b)| {
                (
                    &a.name,
                    &a.id,
                    &a.inputs,
                    &a.outputs,
                    &a.dependencies,
                    a.status,
                ) == (
                    &b.name,
                    &b.id,
                    &b.inputs,
                    &b.outputs,
                    &b.dependencies,
                    b.status,
                )
            });
    if !same {
        return Err(format!(
            "state migrate: the copy of stack {id} in {to} differs from the source after import; the source is unchanged"
        ));
    }
    dest_lock.release().map_err(|e| e.to_string())?;
    source_lock.release().map_err(|e| e.to_string())?;
    let mut key = match &secrets {
        SecretsKey::Passphrase(_) => "IAC_PASSPHRASE".to_string(),
        SecretsKey::KeyFile(file) => format!("the key file {}", file.display()),
        SecretsKey::None => "no key".to_string(),
    };
    if let Some(note) = key_beside_copy(from, to, &secrets)? {
        key = format!("{key}; {note}");
    }
    let secrets_count = original
        .resources
        .iter()
        .filter(|r| contains_secret(&r.inputs) || contains_secret(&r.outputs))
        .count();
    if ui.json {
        ui.print_json(&serde_json::json!({
            "stack": id.to_string(), "from": from.to_string(), "to": to.to_string(),
            "resources": copy.resources.len(), "outputs": copy.outputs.len(),
            "resources_with_secrets": secrets_count, "replaced": occupied,
        }));
    } else {
        ui.line(&format!(
            "copied stack {id} from {from} to {to}: {} resource(s), {} output(s), {secrets_count} resource(s) with secrets (still encrypted, under the same key: {key}){}; the copy loads and passes the integrity check. History and the journal stay in {from}.",
            copy.resources.len(),
            copy.outputs.len(),
            if occupied { ", replacing what was there" } else { "" },
        ));
    }
    Ok(0)
}

/// Where a state file's own key file is the key (no `IAC_PASSPHRASE`, no `IAC_KEY_FILE`),
/// a copy into another state file needs that key beside it too, where a run with `--state
/// COPY` looks: copies it there (mode 0600) when nothing is there yet, and says what it
/// did, or what the user has to do when another key is there already.
fn key_beside_copy(
    from: &Location,
    to: &Location,
    secrets: &SecretsKey,
) -> Result<Option<String>, String> {
    let (Location::File(_), Location::File(dest), SecretsKey::KeyFile(key)) = (from, to, secrets)
    else {
        return Ok(None);
    };
    let Ok(SecretsKey::KeyFile(default)) = engine::reference::secrets_key(to) else {
        return Ok(None);
    };
    if default == *key {
        return Ok(None);
    }
    let bytes =
        std::fs::read(key).map_err(|e| format!("reading the key file {}: {e}", key.display()))?;
    match std::fs::read(&default) {
        Ok(there) if there == bytes => Ok(None),
        Ok(_) => Ok(Some(format!(
            "{} holds another key, so open the copy with IAC_KEY_FILE={}",
            default.display(),
            key.display()
        ))),
        Err(_) => {
            iac_state::write_key_file(&default, &bytes).map_err(|e| e.to_string())?;
            Ok(Some(format!(
                "copied to {} beside the copy of {}, where `--state` finds it",
                default.display(),
                dest.display()
            )))
        }
    }
}

/// One line of what a refresh found: gone, declared settings changed (by key), or outputs
/// that moved on by themselves; with what comes of it where the refresh was recorded
/// (`refresh`), bare before a plan (which shows what comes of it).
fn drift_line(d: &crate::plan::Drift, recorded: bool) -> String {
    let keys = |names: &[String]| {
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        }
    };
    let (what, then) = match d.change {
        DriftKind::Gone => (
            "deleted outside the stack".to_string(),
            "; the next `up` creates it again",
        ),
        DriftKind::Moved => (
            format!("moved on in the cloud{}", keys(&d.outputs)),
            "; recorded",
        ),
        DriftKind::Drifted => (
            format!("changed outside the stack{}", keys(&d.inputs)),
            "; recorded what the cloud holds, and `preview` shows what `up` would set back",
        ),
    };
    format!("{}: {what}{}", d.name, if recorded { then } else { "" })
}

/// `aws:ec2/vpc` -> `aws:ec2`.
fn service_of(type_token: &str) -> String {
    type_token
        .split('/')
        .next()
        .unwrap_or(type_token)
        .to_string()
}

/// A planned value for people: strings quoted, and every unknown, however deep inside
/// lists and objects, as `(known after apply: source)` rather than its marker.
fn display_value(v: &Value) -> String {
    if let Some(source) = unknown_source(v) {
        return format!("(known after apply: {source})");
    }
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(m) if contains_unknown(v) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{k:?}: {}", display_value(x)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) if contains_unknown(v) => {
            let parts: Vec<String> = items.iter().map(display_value).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

struct Ui {
    json: bool,
}

impl Ui {
    fn line(&self, text: &str) {
        if !self.json {
            outln!("{text}");
        }
    }

    fn print_json<T: Serialize>(&self, value: &T) {
        outln!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    fn plan(&self, plan: &Plan) {
        if self.json {
            self.print_json(plan);
            return;
        }
        let mut groups: BTreeMap<(String, String), Vec<&Step>> = BTreeMap::new();
        for step in plan
            .steps
            .iter()
            .filter(|s| s.op.is_change() && !s.excluded)
        {
            groups
                .entry((step.provider.clone(), service_of(&step.type_token)))
                .or_default()
                .push(step);
        }
        print_references(plan);
        if !plan.recovered.is_empty() {
            outln!(
                "An interrupted run left {} operation(s) unfinished; reconciled with the cloud before this plan (adopted what exists, forgot what does not):",
                plan.recovered.len()
            );
            outln!("  {}", plan.recovered.join(", "));
        }
        if !plan.unfinished.is_empty() {
            outln!(
                "An earlier run left {} operation(s) unfinished: {}. `up` first reconciles them with the cloud (adopting an object that exists), so it may have less to do than this plan shows.",
                plan.unfinished.len(),
                plan.unfinished.join(", ")
            );
        }
        if !plan.drift.is_empty() {
            outln!("Changed outside the stack, found by the refresh (the plan starts from it):");
            for d in &plan.drift {
                outln!("  {}", drift_line(d, false));
            }
        }
        if groups.is_empty() {
            outln!("{}", no_changes_line(plan));
        }
        for ((provider, service), steps) in &groups {
            outln!(
                "\n{} / {}",
                provider.if_supports_color(Stream::Stdout, |t| t.bold()),
                service
            );
            for step in steps {
                print_step(step);
            }
        }
        let counts = plan.counts();
        let n = |ops: &[Op]| {
            ops.iter()
                .map(|o| counts.get(o).copied().unwrap_or(0))
                .sum::<usize>()
        };
        for step in plan.steps.iter().filter(|s| !s.excluded) {
            if let Some(warning) = &step.warning {
                outln!(
                    "\n{} {} is replaced: {warning}",
                    "Warning:".if_supports_color(Stream::Stdout, |t| t.red()),
                    step.name
                );
            }
        }
        if plan.has_changes() {
            outln!(
                "\nPlan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
                n(&[Op::Create]),
                n(&[Op::Update]),
                n(&[Op::ReplaceCreateFirst, Op::ReplaceDeleteFirst]),
                n(&[Op::Delete, Op::Forget]),
                n(&[Op::Same]),
            );
        }
        // Only the outputs the plan changes; the apply's report lists them all.
        if !(plan.outputs_changed.is_empty() && plan.outputs_removed.is_empty()) {
            outln!("\nChanges to outputs:");
            let names = plan.outputs_changed.iter().chain(&plan.outputs_removed);
            let width = names.map(String::len).max().unwrap_or(0);
            for k in &plan.outputs_changed {
                let v = plan.outputs.get(k).map(redact).unwrap_or_default();
                outln!("  {k:width$}  {}", display_value(&v));
            }
            for k in &plan.outputs_removed {
                outln!("  {k:width$}  (removed)");
            }
        }
    }

    fn refreshed(&self, report: &engine::RefreshReport) {
        let changes = &report.changes;
        if self.json {
            let rows = engine::drift_of(changes);
            self.print_json(&serde_json::json!({
                "changes": rows,
                "resources": report.resources,
                "calls": report.calls,
                "total_calls": report.total_calls(),
            }));
            return;
        }
        if changes.is_empty() {
            outln!("Refreshed: the cloud matches the recorded state.");
        }
        for d in engine::drift_of(changes) {
            outln!("  {}", drift_line(&d, true));
        }
        let calls = report.total_calls();
        outln!(
            "Read {} resources with {calls} calls ({:.2} per resource).",
            report.resources,
            calls as f64 / report.resources.max(1) as f64
        );
    }

    fn report(&self, report: &ApplyReport, elapsed: std::time::Duration) {
        if self.json {
            self.print_json(report);
            return;
        }
        let done = report.done_counts();
        let n = |ops: &[Op]| {
            ops.iter()
                .map(|o| done.get(o).copied().unwrap_or(0))
                .sum::<usize>()
        };
        let mut by_group: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
        for s in report.steps.iter().filter(|s| s.op.is_change()) {
            let e = by_group
                .entry((s.provider.clone(), service_of(&s.type_token)))
                .or_default();
            if s.status == StepStatus::Done {
                e.0 += 1;
            } else if !matches!(s.status, StepStatus::Excluded) {
                e.1 += 1;
            }
        }
        outln!("\nSummary by region and service:");
        for ((provider, service), (ok, not)) in &by_group {
            outln!(
                "  {provider:<14} {service:<22} {ok} done{}",
                if *not > 0 {
                    format!(", {not} not done")
                } else {
                    String::new()
                }
            );
        }
        outln!(
            "\nResources: {} created, {} updated, {} replaced, {} deleted in {:.1}s.",
            n(&[Op::Create]),
            n(&[Op::Update]),
            n(&[Op::ReplaceCreateFirst, Op::ReplaceDeleteFirst]),
            n(&[Op::Delete, Op::Forget]),
            elapsed.as_secs_f64()
        );
        print_timing(&report.timing);
        let failures = report.failures();
        if !failures.is_empty() {
            outln!("\n{} step(s) failed:", failures.len());
            for f in &failures {
                let skipped = report
                    .steps
                    .iter()
                    .filter(|s| matches!(&s.status, StepStatus::Skipped { because } if *because == f.name))
                    .count();
                if let StepStatus::Failed { error } = &f.status {
                    outln!(
                        "  {} {} ({}): {error}",
                        "✗".if_supports_color(Stream::Stdout, |t| t.red()),
                        f.name,
                        f.type_token
                    );
                }
                if skipped > 0 {
                    outln!("      {skipped} dependent step(s) skipped because of it");
                }
            }
        }
        if report.interrupted {
            let not_started = report
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::NotStarted)
                .count();
            outln!("\nInterrupted: {not_started} step(s) did not start. Run `up` again to finish.");
        }
        if !report.outputs.is_empty() && report.succeeded() {
            outln!("\nOutputs:");
            let width = report.outputs.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in &report.outputs {
                outln!("  {k:width$}  {}", display_value(&redact(v)));
            }
        }
    }
}

/// Where the time of a run went: wall time against the critical path (the chain of
/// dependent steps whose durations add up to the most), and the calls sent by operation.
fn print_timing(timing: &crate::engine::timing::Timing) {
    let secs = |ms: u128| ms as f64 / 1000.0;
    let share = if timing.wall_ms > 0 {
        format!(
            " ({:.0}% of the wall time)",
            100.0 * timing.critical_path_ms as f64 / timing.wall_ms as f64
        )
    } else {
        String::new()
    };
    outln!(
        "Time: {:.2}s wall, {:.2}s on the critical path{share}:",
        secs(timing.wall_ms),
        secs(timing.critical_path_ms)
    );
    const SHOWN: usize = 12;
    let path = &timing.critical_path;
    let mut chain: Vec<&str> = path.iter().take(SHOWN).map(String::as_str).collect();
    if path.len() > SHOWN {
        chain.push("…");
        chain.extend(path.last().map(String::as_str));
    }
    outln!("  {}", chain.join(" → "));
    if timing.calls.is_empty() {
        return;
    }
    let mut by_service: BTreeMap<&str, u64> = BTreeMap::new();
    for (op, n) in &timing.calls {
        *by_service
            .entry(op.split(':').next().unwrap_or(op))
            .or_default() += n;
    }
    let services: Vec<String> = by_service.iter().map(|(s, n)| format!("{s} {n}")).collect();
    outln!(
        "Calls: {} ({}); `--json` lists them by operation.",
        timing.total_calls(),
        services.join(", ")
    );
}

/// What the plan read from other stacks: the stack, where from, and each output used
/// (secrets masked).
fn print_references(plan: &Plan) {
    for read in &plan.references {
        outln!(
            "Reads stack {} ({}) as `{}`:",
            read.stack.if_supports_color(Stream::Stdout, |t| t.bold()),
            read.location,
            read.name
        );
        let width = read.outputs.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in &read.outputs {
            outln!("  {k:width$}  {}", display_value(&redact(v)));
        }
    }
}

fn print_step(step: &Step) {
    let head = format!(
        "  {:>3} {} ({})",
        step.op.symbol(),
        step.name,
        step.type_token
    );
    let colored = match step.op {
        Op::Create => head
            .if_supports_color(Stream::Stdout, |t| t.green())
            .to_string(),
        Op::Update => head
            .if_supports_color(Stream::Stdout, |t| t.yellow())
            .to_string(),
        Op::Delete | Op::Forget => head
            .if_supports_color(Stream::Stdout, |t| t.red())
            .to_string(),
        Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst => head
            .if_supports_color(Stream::Stdout, |t| t.magenta())
            .to_string(),
        Op::Same => head,
    };
    let note = match step.op {
        Op::Forget => "  [retain: forgotten, not deleted]",
        Op::ReplaceDeleteFirst => "  [delete, then create]",
        Op::ReplaceCreateFirst => "  [create, then delete]",
        _ => "",
    };
    outln!("{colored}{note}");
    if let Some(warning) = &step.warning {
        outln!(
            "        {} {warning}",
            "warning:".if_supports_color(Stream::Stdout, |t| t.red())
        );
    }
    if step.op == Op::Create
        && let Some(m) = step.inputs.as_object()
    {
        for (k, v) in m {
            outln!("        {k}: {}", display_value(&redact(v)));
        }
    }
    for d in &step.diffs {
        let old = d
            .old
            .as_ref()
            .map(display_value)
            .unwrap_or_else(|| "(none)".into());
        let new = d
            .new
            .as_ref()
            .map(display_value)
            .unwrap_or_else(|| "(none)".into());
        let forces = if d.replaces {
            "  # forces replacement"
        } else {
            ""
        };
        outln!("        {}: {old} => {new}{forces}", d.path);
    }
}

/// Live progress: a spinner with running/done/failed counts on a terminal, and one line
/// per finished step.
#[derive(Clone)]
struct Progress {
    bar: Option<ProgressBar>,
    counts: Arc<Mutex<(usize, usize, usize)>>,
    json: bool,
}

impl Progress {
    fn new(json: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            counts: Arc::default(),
            json,
        }
    }

    fn event(&self, event: Event) {
        if self.json {
            // A notice asks something of the user: it goes to stderr beside the JSON.
            if let Event::Notice { name, message } = event {
                errln!("{name}: {message}");
            }
            return;
        }
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        let line = match event {
            Event::Started { name, op } => {
                c.0 += 1;
                tracing::info!(resource = %name, op = %op, "step started");
                None
            }
            Event::Finished {
                name,
                op,
                status,
                elapsed,
            } => {
                c.0 = c.0.saturating_sub(1);
                match status {
                    StepStatus::Done => {
                        c.1 += 1;
                        Some(format!(
                            "  {} {op} {name} ({:.1}s)",
                            "✓".if_supports_color(Stream::Stderr, |t| t.green()),
                            elapsed.as_secs_f64()
                        ))
                    }
                    StepStatus::Failed { error } => {
                        c.2 += 1;
                        Some(format!(
                            "  {} {op} {name}: {error}",
                            "✗".if_supports_color(Stream::Stderr, |t| t.red())
                        ))
                    }
                    _ => None,
                }
            }
            Event::Notice { name, message } => Some(format!(
                "  {} {name}: {message}",
                "!".if_supports_color(Stream::Stderr, |t| t.yellow())
            )),
        };
        let msg = format!("{} running, {} done, {} failed", c.0, c.1, c.2);
        drop(c);
        match &self.bar {
            Some(bar) => {
                if let Some(l) = line {
                    bar.println(l);
                }
                bar.set_message(msg);
            }
            None => {
                if let Some(l) = line {
                    errln!("{l}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::unknown;

    fn globals(line: &[&str]) -> (Vec<String>, u8) {
        let args: Vec<std::ffi::OsString> = line.iter().map(Into::into).collect();
        // The line must be one clap accepts; the scan then agrees with clap's reading.
        let matches = Cli::command()
            .try_get_matches_from(&args)
            .unwrap_or_else(|e| panic!("{}: {e}", line.join(" ")));
        let cli = Cli::from_arg_matches(&matches).expect("parsed");
        let (set, verbose) = repeated_globals(&args);
        assert!(
            set.ends_with(&cli.set),
            "clap's values are the scan's last ones"
        );
        (set, verbose)
    }

    #[test]
    fn a_plan_without_resource_changes_names_the_outputs_that_still_change() {
        let plan = |changed: &[&str], removed: &[&str]| Plan {
            steps: Vec::new(),
            outputs: BTreeMap::new(),
            references: Vec::new(),
            drift: Vec::new(),
            recovered: Vec::new(),
            unfinished: Vec::new(),
            outputs_changed: changed.iter().map(|s| s.to_string()).collect(),
            outputs_removed: removed.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            no_changes_line(&plan(&[], &[])),
            "No changes. The stack matches its declaration."
        );
        assert_eq!(
            no_changes_line(&plan(&["extra"], &["dropped"])),
            "No changes to resources; outputs that change: extra, dropped."
        );
    }

    #[test]
    fn a_line_of_a_rendered_document_is_named_by_its_dotted_key() {
        let text = "name = \"dev\"\ncount = 3\n\n[usage]\n\"a.b\" = 1\n\n[[policy.waivers]]\npolicy = \"x\"\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("count").as_deref(), Some("count"));
        assert_eq!(at("3").as_deref(), Some("count"));
        assert_eq!(at("1\n").as_deref(), Some("usage.a.b"));
        assert_eq!(at("\"x\"").as_deref(), Some("policy.waivers.policy"));
        assert_eq!(at("[usage]"), None, "a header is no key");
        assert_eq!(line_of(text, "usage.a.b"), Some(5));
        assert_eq!(line_of(text, "colour"), None);
    }

    #[test]
    fn set_and_verbose_are_kept_from_both_sides_of_the_subcommand() {
        let (set, verbose) = globals(&[
            "stack",
            "--set",
            "a=1",
            "-v",
            "preview",
            "--set=b=2",
            "--set",
            "a=3",
            "-vv",
        ]);
        assert_eq!(
            set,
            ["a=1", "b=2", "a=3"],
            "every value, in the order given"
        );
        assert_eq!(verbose, 3);
        let (set, verbose) = globals(&["stack", "--set", "a=1", "--verbose", "refresh"]);
        assert_eq!(
            (set.as_slice(), verbose),
            (["a=1".to_string()].as_slice(), 1)
        );
        let (set, _) = globals(&["stack", "import", "primary/vpc", "vpc-1", "--set", "x=y"]);
        assert_eq!(set, ["x=y"]);
        let (set, verbose) = globals(&["stack", "up"]);
        assert!(set.is_empty() && verbose == 0);
    }

    #[test]
    fn unknowns_deep_inside_lists_and_objects_are_shown_as_known_after_apply() {
        let v = serde_json::json!({
            "subnet_ids": [unknown("a.id"), "subnet-1"],
            "vpc": {"config": {"id": unknown("vpc.id")}},
            "n": 1,
        });
        let text = display_value(&v);
        assert!(!text.contains("$unknown"), "{text}");
        assert_eq!(
            text,
            r#"{"subnet_ids": [(known after apply: a.id), "subnet-1"], "vpc": {"config": {"id": (known after apply: vpc.id)}}, "n": 1}"#
        );
        assert_eq!(display_value(&serde_json::json!(["x"])), r#"["x"]"#);
    }
}

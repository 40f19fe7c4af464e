//! Reading stack references: the recorded outputs of other stacks, before planning and
//! before any request, so that a missing stack or output stops the run naming both.
//!
//! Where a referenced stack is recorded is resolved by [`open_location`] alone: a state
//! file today; another backend's opener replaces that one function.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use iac_state::{Location, OpenOptions, SecretsKey, StackId, StateStore};
use serde::Serialize;
use serde_json::Value;

use crate::reference::{ReferenceSpec, StateLocation};
use crate::stack::Stack;

/// What one stack reference read: the stack, where from, and the outputs the referring
/// stack uses (secrets stay wrapped here and are redacted when shown or serialized).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceRead {
    /// The reference's node name in the referring stack.
    pub name: String,
    /// The stack read.
    pub stack: StackId,
    /// Where it is recorded, as shown to the user.
    pub location: String,
    /// The outputs read, by name (only those the referring stack uses).
    #[serde(serialize_with = "crate::plan::serialize_redacted_map")]
    pub outputs: BTreeMap<String, Value>,
}

/// Why a stack reference cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceProblem {
    /// The location records no stack of that name.
    MissingStack,
    /// The stack records no output of that name.
    MissingOutput {
        /// The output the referring stack uses.
        output: String,
        /// The outputs the stack does record.
        recorded: Vec<String>,
    },
    /// The location cannot be opened or read.
    Unreadable(String),
}

/// A stack reference that cannot be read, naming the reference, the stack and the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    /// The reference's node name.
    pub reference: String,
    /// The stack it reads.
    pub stack: StackId,
    /// Where from.
    pub location: String,
    /// What is wrong.
    pub problem: ReferenceProblem,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, stack, at) = (&self.reference, &self.stack, &self.location);
        match &self.problem {
            ReferenceProblem::MissingStack => write!(
                f,
                "stack reference `{r}`: stack `{stack}` is not recorded in {at} (deploy it first, or check the project, stack name and state location)"
            ),
            ReferenceProblem::MissingOutput { output, recorded } => write!(
                f,
                "stack reference `{r}`: stack `{stack}` (in {at}) has no output `{output}`; it records: {}",
                if recorded.is_empty() {
                    "no outputs".to_string()
                } else {
                    recorded.join(", ")
                }
            ),
            ReferenceProblem::Unreadable(message) => write!(
                f,
                "stack reference `{r}`: cannot read stack `{stack}` from {at}: {message}"
            ),
        }
    }
}

/// Every stack reference that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceErrors(pub Vec<ReferenceError>);

impl fmt::Display for ReferenceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} stack reference problem(s), found before any request:",
            self.0.len()
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReferenceErrors {}

/// The secrets key of a state: `IAC_PASSPHRASE` when set, else the key file named by
/// `IAC_KEY_FILE`, else a key file beside a state file (`<path>.key`). A database has
/// nothing beside it: its team shares a passphrase or a key file. The CLI opens its own
/// state the same way.
pub fn secrets_key(location: &Location) -> Result<SecretsKey, String> {
    if let Ok(p) = std::env::var("IAC_PASSPHRASE")
        && !p.is_empty()
    {
        return Ok(SecretsKey::Passphrase(p.into()));
    }
    if let Some(file) = std::env::var_os("IAC_KEY_FILE").filter(|f| !f.is_empty()) {
        return Ok(SecretsKey::KeyFile(PathBuf::from(file)));
    }
    match location {
        Location::File(path) => {
            let mut key = path.as_os_str().to_owned();
            key.push(".key");
            Ok(SecretsKey::KeyFile(PathBuf::from(key)))
        }
        Location::Postgres(url) => Err(format!(
            "state {url}: a shared state needs the team's secrets key: set IAC_PASSPHRASE (a passphrase every member knows) or IAC_KEY_FILE (a key file every member has)"
        )),
    }
}

/// Opens the state recorded at `location` for reading: the one place that knows what a
/// location is (a state file; never created here).
pub fn open_location(location: &Path) -> Result<StateStore, String> {
    if !location.exists() {
        return Err(format!(
            "the state file {} does not exist",
            location.display()
        ));
    }
    StateStore::open(
        location,
        OpenOptions {
            secrets: secrets_key(&Location::File(location.to_path_buf()))?,
            create: false,
        },
    )
    .map_err(|e| e.to_string())
}

/// Reads every stack reference of `stack`. `current` is the referring stack's own store
/// (`None` when it has none yet: a reference to it then finds no stack). Each reference
/// reads only the outputs the stack uses; every problem is reported at once.
pub fn read_references(
    stack: &Stack,
    current: Option<&StateStore>,
) -> Result<Vec<ReferenceRead>, ReferenceErrors> {
    let mut reads = Vec::new();
    let mut errors = Vec::new();
    for spec in stack.references() {
        let wanted = stack.referenced_outputs(&spec.name);
        match read_one(spec, current, &wanted) {
            Ok(read) => reads.push(read),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(reads)
    } else {
        Err(ReferenceErrors(errors))
    }
}

fn read_one(
    spec: &ReferenceSpec,
    current: Option<&StateStore>,
    wanted: &[String],
) -> Result<ReferenceRead, Vec<ReferenceError>> {
    let error = |location: &str, problem| ReferenceError {
        reference: spec.name.clone(),
        stack: spec.stack.clone(),
        location: location.to_string(),
        problem,
    };
    let opened;
    let (store, location) = match (&spec.location, current) {
        (StateLocation::File(path), _) => {
            let location = path.display().to_string();
            opened = open_location(path)
                .map_err(|m| vec![error(&location, ReferenceProblem::Unreadable(m))])?;
            (&opened, location)
        }
        (StateLocation::Current, Some(store)) => (store, store.path().display().to_string()),
        (StateLocation::Current, None) => {
            let location = "the current state store (none exists yet)";
            return Err(vec![error(location, ReferenceProblem::MissingStack)]);
        }
    };
    let unreadable = |e: iac_state::StateError| {
        vec![error(
            &location,
            ReferenceProblem::Unreadable(e.to_string()),
        )]
    };
    let known = store.stacks().map_err(unreadable)?;
    if !known.iter().any(|s| s.stack == spec.stack) {
        return Err(vec![error(&location, ReferenceProblem::MissingStack)]);
    }
    let state = store.load(&spec.stack).map_err(unreadable)?;
    let mut outputs = BTreeMap::new();
    let mut errors = Vec::new();
    for name in wanted {
        match state.outputs.get(name) {
            Some(v) => {
                outputs.insert(name.clone(), v.clone());
            }
            None => errors.push(error(
                &location,
                ReferenceProblem::MissingOutput {
                    output: name.clone(),
                    recorded: state.outputs.keys().cloned().collect(),
                },
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ReferenceRead {
        name: spec.name.clone(),
        stack: spec.stack.clone(),
        location,
        outputs,
    })
}

/// The reads as the values the plan's resolver finds under each reference's name.
pub(crate) fn as_data(reads: &[ReferenceRead]) -> impl Iterator<Item = (String, Value)> + '_ {
    reads.iter().map(|r| {
        let map: serde_json::Map<String, Value> = r
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (r.name.clone(), Value::Object(map))
    })
}

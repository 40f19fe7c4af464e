//! The engine: the flow of one `preview`, `up`, `destroy`, `refresh` or `import` over a
//! declared [`Stack`] and a [`StateStore`].
//!
//! `up`: validate the declaration (before state is opened), lock the stack, reconcile the
//! intents an interrupted run left, evaluate data sources, plan, confirm, apply with the
//! journal, record the outputs and the deployment, release the lock.
//!
//! Its parts: [`plan`] (the pure step generator), [`apply`] (the step executor),
//! [`walk`] (the concurrent graph walk), `journal` (the writer thread that makes intents
//! durable before each call), [`graph`] (names, cycles and DOT); the flows and the
//! recovery of leftover intents are here.

pub mod apply;
pub mod graph;
pub(crate) mod journal;
pub mod plan;
pub mod reference;
pub mod saved;
pub mod timing;
pub mod walk;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use iac_state::{
    DeploymentKind, DeploymentResult, Intent, Operation, ResourceRecord, StackState, StateError,
    StateStore, StepCounts, StepOutcome,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::apply::{ApplyReport, ApplySettings, EventSink, StepStatus, apply, options_record};
use crate::journal::Journal;
use crate::output::Resolver;
use crate::plan::{Op, Plan, PlanErrors, PlanOptions, REPLACED_SUFFIX, changed_keys, plan};
use crate::provider::{InvokeRequest, LookupRequest, ReadRequest, ReadResponse, ResourceContext};
use crate::stack::{DeclarationErrors, NodeKind, Stack};
use crate::value::{contains_secret, contains_unknown, mark_echoed_secrets, reveal, secret};

/// Why an engine command failed.
#[derive(Debug)]
pub enum EngineError {
    /// The declaration is invalid (nothing was opened or written).
    Declaration(DeclarationErrors),
    /// The state store refused (locked, corrupt, wrong passphrase, ...).
    State(StateError),
    /// The plan cannot be made.
    Plan(PlanErrors),
    /// A mandatory policy is violated and not waived: nothing was sent.
    Policy(crate::policy::PolicyReport),
    /// A stack reference cannot be read (a missing stack or output): nothing was sent.
    Reference(reference::ReferenceErrors),
    /// A saved plan file cannot be used (not a plan, another version or stack).
    PlanFile(String),
    /// What a saved plan was made from moved since: nothing was sent.
    PlanMoved(saved::PlanMoved),
    /// A data source could not be read.
    DataSource {
        /// The data source.
        name: String,
        /// The provider's error.
        message: String,
    },
    /// Reconciling an interrupted run's intents failed.
    Recovery {
        /// The resource.
        name: String,
        /// What failed.
        message: String,
    },
    /// Something else, with the thing it concerns named in the message.
    Other(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Declaration(e) => write!(f, "{e}"),
            EngineError::State(e) => write!(f, "{e}"),
            EngineError::Plan(e) => write!(f, "{e}"),
            EngineError::Policy(e) => write!(f, "{e}"),
            EngineError::Reference(e) => write!(f, "{e}"),
            EngineError::PlanFile(m) => f.write_str(m),
            EngineError::PlanMoved(e) => write!(f, "{e}"),
            EngineError::DataSource { name, message } => {
                write!(f, "reading data source `{name}` failed: {message}")
            }
            EngineError::Recovery { name, message } => write!(
                f,
                "reconciling the interrupted operation on `{name}` failed: {message}"
            ),
            EngineError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<StateError> for EngineError {
    fn from(e: StateError) -> Self {
        EngineError::State(e)
    }
}

impl From<PlanErrors> for EngineError {
    fn from(e: PlanErrors) -> Self {
        EngineError::Plan(e)
    }
}

/// Settings shared by the engine's commands.
#[derive(Clone)]
pub struct RunOptions {
    /// Most steps running at once.
    pub parallelism: usize,
    /// Limit to these resources (and what they need).
    pub targets: Vec<String>,
    /// Read every recorded resource before planning, so drift shows in the plan.
    pub refresh: bool,
    /// Progress events.
    pub events: Option<EventSink>,
    /// Set to `true` to stop starting new steps (Ctrl-C).
    pub cancel: watch::Receiver<bool>,
    /// Who runs this, recorded in the lock.
    pub holder: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallelism: 10,
            targets: Vec::new(),
            refresh: false,
            events: None,
            cancel: watch::channel(false).1,
            holder: default_holder(),
        }
    }
}

/// `user@host`, for lock records.
pub fn default_holder() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user} (iac)")
}

/// What a finished `up` or `destroy` did.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The plan that was carried out.
    pub plan: Plan,
    /// How each step ended; `None` when the plan had no changes or was not confirmed.
    pub report: Option<ApplyReport>,
    /// Intents of an interrupted earlier run reconciled before planning.
    pub recovered: Vec<String>,
}

/// Previews the stack: validates, reads state (without locking), evaluates data sources,
/// and plans. With `refresh`, recorded resources are read first (nothing is written).
pub async fn preview(
    stack: &Stack,
    store: &StateStore,
    options: &RunOptions,
    destroy: bool,
) -> Result<Plan, EngineError> {
    stack.validate().map_err(EngineError::Declaration)?;
    preview_validated(
        stack,
        store.load(stack.id())?,
        options,
        destroy,
        Some(store),
    )
    .await
}

/// Previews the stack against `state` (for a stack without a state file: an empty
/// state, so that a preview writes nothing, not even the file). Stack references to the
/// current state store find no stack here; use [`preview`] for those.
pub async fn preview_state(
    stack: &Stack,
    state: StackState,
    options: &RunOptions,
    destroy: bool,
) -> Result<Plan, EngineError> {
    stack.validate().map_err(EngineError::Declaration)?;
    preview_validated(stack, state, options, destroy, None).await
}

/// The preview of a stack already validated: each entry point validates once (at
/// 100,000 resources a second validation is a measurable part of a preview). `current`
/// is the stack's own state store, where references to it are read (`None`: none yet).
pub(crate) async fn preview_validated(
    stack: &Stack,
    mut state: StackState,
    options: &RunOptions,
    destroy: bool,
    current: Option<&StateStore>,
) -> Result<Plan, EngineError> {
    // Other stacks' outputs first: a missing one stops the preview before any request.
    let reads = references_for(stack, current, destroy)?;
    let mut changes = Vec::new();
    if options.refresh {
        (state, changes) = refresh_state(stack, &state, options.parallelism).await?;
    }
    let mut data = evaluate_data(stack, options.parallelism).await?;
    data.extend(reference::as_data(&reads));
    let mut planned = plan(
        stack,
        &drop_stale_copies(state),
        &data,
        &PlanOptions {
            targets: options.targets.clone(),
            destroy,
        },
    )?;
    planned.references = reads;
    planned.drift = drift_of(&changes);
    if let Some(store) = current {
        let mut unfinished: Vec<String> = store
            .pending_intents(stack.id())?
            .into_iter()
            .map(|i| i.resource)
            .collect();
        unfinished.sort();
        unfinished.dedup();
        planned.unfinished = unfinished;
    }
    Ok(planned)
}

/// The stack references' reads for a run. A destroy reads none: deleting needs no input
/// of the declaration, and a stack must stay destroyable after the stacks it reads are
/// gone.
fn references_for(
    stack: &Stack,
    current: Option<&StateStore>,
    destroy: bool,
) -> Result<Vec<reference::ReferenceRead>, EngineError> {
    if destroy {
        return Ok(Vec::new());
    }
    reference::read_references(stack, current).map_err(EngineError::Reference)
}

/// An error when `report` has a mandatory violation that is not waived.
fn refuse_on_policy(report: crate::policy::PolicyReport) -> Result<(), EngineError> {
    if report.passes() {
        Ok(())
    } else {
        Err(EngineError::Policy(report))
    }
}

/// Deploys the stack: plan, ask `confirm` (unless it has no changes), apply.
pub async fn up(
    stack: Stack,
    store: Arc<StateStore>,
    options: &RunOptions,
    destroy: bool,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
) -> Result<Deployment, EngineError> {
    run_up(stack, store, options, destroy, confirm, None).await
}

/// Applies a saved plan (`up --plan FILE`; `file` names it in errors): exactly the plan
/// `preview --out` saved, with its targets and destroy flag. Refuses, before any change,
/// a plan of another stack, and one whose state or declarations moved since, or whose
/// plan computed now differs (naming what moved). `confirm` sees the plan (the saved
/// plan was the confirmation; the CLI shows it and goes on).
pub async fn up_saved(
    stack: Stack,
    store: Arc<StateStore>,
    options: &RunOptions,
    saved: &saved::SavedPlan,
    file: &str,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
) -> Result<Deployment, EngineError> {
    saved
        .check_stack(stack.id(), file)
        .map_err(EngineError::PlanFile)?;
    let options = RunOptions {
        targets: saved.targets.clone(),
        refresh: false,
        ..options.clone()
    };
    let expected = Some((saved, file));
    run_up(stack, store, &options, saved.destroy, confirm, expected).await
}

async fn run_up(
    stack: Stack,
    store: Arc<StateStore>,
    options: &RunOptions,
    destroy: bool,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
    expected: Option<(&saved::SavedPlan, &str)>,
) -> Result<Deployment, EngineError> {
    stack.validate().map_err(EngineError::Declaration)?;
    // Policies run on the declaration alone, so a violation refuses before the state is
    // locked, intents are reconciled or data sources are read: before any request.
    if !destroy {
        refuse_on_policy(crate::policy::evaluate(&stack))?;
    }
    // So do other stacks' outputs: a missing stack or output stops here.
    let reads = references_for(&stack, Some(&store), destroy)?;
    let stack = Arc::new(stack);
    let lock = store.lock(stack.id(), &options.holder)?;
    let run = UpRun {
        options,
        destroy,
        reads,
        expected,
    };
    let result = up_locked(stack.clone(), store.clone(), run, confirm).await;
    lock.release()?;
    result
}

/// What one `up` carries into its locked part.
struct UpRun<'a> {
    options: &'a RunOptions,
    destroy: bool,
    reads: Vec<reference::ReferenceRead>,
    expected: Option<(&'a saved::SavedPlan, &'a str)>,
}

async fn up_locked(
    stack: Arc<Stack>,
    store: Arc<StateStore>,
    run: UpRun<'_>,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
) -> Result<Deployment, EngineError> {
    let UpRun {
        options,
        destroy,
        reads,
        expected,
    } = run;
    let recovered = recover(&stack, &store, options.parallelism).await?;
    let loaded = store.load(stack.id())?;
    if let Some((saved, file)) = expected {
        saved
            .refuse_moved(file, &stack, &loaded)
            .map_err(EngineError::PlanMoved)?;
    }
    let mut state = drop_stale_copies(loaded);
    let mut drift = Vec::new();
    if options.refresh {
        let (fresh, changes) = refresh_state(&stack, &state, options.parallelism).await?;
        write_refresh(&store, &stack, &changes)?;
        state = fresh;
        drift = drift_of(&changes);
    }
    let mut data = evaluate_data(&stack, options.parallelism).await?;
    data.extend(reference::as_data(&reads));
    let mut planned = plan(
        &stack,
        &state,
        &data,
        &PlanOptions {
            targets: options.targets.clone(),
            destroy,
        },
    )?;
    planned.references = reads;
    planned.drift = drift;
    planned.recovered = recovered.clone();
    if let Some((saved, file)) = expected {
        saved
            .refuse_other_plan(file, stack.id(), &planned)
            .map_err(EngineError::PlanMoved)?;
    }
    if !planned.has_changes() {
        if !destroy && options.targets.is_empty() {
            store.set_outputs(stack.id(), &known_outputs(&planned.outputs))?;
        }
        return Ok(Deployment {
            plan: planned,
            report: None,
            recovered,
        });
    }
    if !confirm(&planned) {
        return Ok(Deployment {
            plan: planned,
            report: None,
            recovered,
        });
    }
    let kind = if destroy {
        DeploymentKind::Destroy
    } else {
        DeploymentKind::Up
    };
    let deployment = store.begin_deployment(stack.id(), kind)?;
    let journal = Journal::start(store.clone());
    let report = apply(
        stack.clone(),
        state.resources.clone(),
        data,
        &planned,
        journal,
        deployment,
        ApplySettings {
            parallelism: options.parallelism,
            events: options.events.clone(),
            cancel: options.cancel.clone(),
        },
    )
    .await;
    if options.targets.is_empty() {
        store.set_outputs(stack.id(), &report.outputs)?;
    }
    let result = if report.interrupted {
        DeploymentResult::Interrupted
    } else if report.succeeded() {
        DeploymentResult::Succeeded
    } else {
        let causes: Vec<String> = report.failures().iter().map(|f| f.name.clone()).collect();
        DeploymentResult::Failed(format!("failed: {}", causes.join(", ")))
    };
    store.finish_deployment(deployment, result, &step_counts(&report))?;
    Ok(Deployment {
        plan: planned,
        report: Some(report),
        recovered,
    })
}

/// Counts for the deployment record.
fn step_counts(report: &ApplyReport) -> StepCounts {
    let mut c = StepCounts::default();
    for s in &report.steps {
        match (&s.status, s.op) {
            (StepStatus::Done, Op::Create) => c.created += 1,
            (StepStatus::Done, Op::Update) => c.updated += 1,
            (StepStatus::Done, Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst) => c.replaced += 1,
            (StepStatus::Done, Op::Delete | Op::Forget) => c.deleted += 1,
            (StepStatus::Done, Op::Same) => c.same += 1,
            (StepStatus::Failed { .. }, _) => c.failed += 1,
            _ => {}
        }
    }
    c
}

fn known_outputs(outputs: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    outputs
        .iter()
        .filter(|(_, v)| !contains_unknown(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A `#replaced` row with the same id as its live row is a copy left by a run that
/// stopped before its create: the object is the live one, so the copy is not deleted.
fn drop_stale_copies(mut state: StackState) -> StackState {
    // Copies are rare (a replacement interrupted between its create and its delete): look
    // only at them, without indexing every resource of a large stack.
    let copies: Vec<usize> = (0..state.resources.len())
        .filter(|&i| state.resources[i].name.ends_with(REPLACED_SUFFIX))
        .collect();
    if copies.is_empty() {
        return state;
    }
    let ids: foldhash::HashMap<&str, &str> = state
        .resources
        .iter()
        .filter(|r| !r.name.ends_with(REPLACED_SUFFIX))
        .map(|r| (r.name.as_str(), r.id.as_str()))
        .collect();
    let stale: Vec<usize> = copies
        .into_iter()
        .filter(|&i| {
            let r = &state.resources[i];
            let base = &r.name[..r.name.len() - REPLACED_SUFFIX.len()];
            ids.get(base) == Some(&r.id.as_str())
        })
        .collect();
    // Few, and in ascending order: remove from the back so earlier indexes stay valid.
    for i in stale.into_iter().rev() {
        state.resources.remove(i);
    }
    state
}

/// Reconciles the intents an interrupted run left: reads the cloud by token or id, adopts
/// what exists, forgets what does not. Returns the names it reconciled.
pub async fn recover(
    stack: &Stack,
    store: &StateStore,
    parallelism: usize,
) -> Result<Vec<String>, EngineError> {
    let pending = store.pending_intents(stack.id())?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let state = store.load(stack.id())?;
    let recorded: HashMap<&str, &ResourceRecord> = state
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let label = stack.id().to_string();
    let results: Vec<Result<(Intent, StepOutcome), EngineError>> = stream::iter(pending)
        .map(|intent| {
            let rec = recorded.get(intent.resource.as_str()).map(|r| (*r).clone());
            let label = label.clone();
            async move {
                let outcome = reconcile(stack, &label, &intent, rec).await?;
                Ok((intent, outcome))
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let mut done = Vec::new();
    let mut names = Vec::new();
    for r in results {
        let (intent, outcome) = r?;
        names.push(intent.resource.clone());
        done.push((intent.id, outcome));
    }
    store.complete_steps(&done)?;
    names.sort();
    Ok(names)
}

async fn reconcile(
    stack: &Stack,
    label: &str,
    intent: &Intent,
    recorded: Option<ResourceRecord>,
) -> Result<StepOutcome, EngineError> {
    let provider = stack
        .providers
        .get(&intent.provider)
        .ok_or_else(|| EngineError::Recovery {
            name: intent.resource.clone(),
            message: format!(
                "provider `{}` is not registered on the stack",
                intent.provider
            ),
        })?;
    let base = intent
        .resource
        .strip_suffix(REPLACED_SUFFIX)
        .unwrap_or(&intent.resource);
    let ctx = ResourceContext {
        stack: label.to_string(),
        name: base.to_string(),
        type_token: intent.type_token.clone(),
    };
    let failed = |e: crate::provider::ProviderError| EngineError::Recovery {
        name: intent.resource.clone(),
        message: e.to_string(),
    };
    match intent.operation {
        Operation::Create => {
            let found = provider
                .lookup(LookupRequest {
                    ctx,
                    token: intent.token.clone(),
                    inputs: reveal(&intent.inputs),
                })
                .await
                .map_err(failed)?;
            Ok(match found {
                Some(read) => {
                    let declared = stack.get(base);
                    StepOutcome::Written(ResourceRecord {
                        name: intent.resource.clone(),
                        type_token: intent.type_token.clone(),
                        provider: intent.provider.clone(),
                        id: read.id,
                        outputs: mark_echoed_secrets(&intent.inputs, read.outputs),
                        // The create may have stopped half way: what was read wins over
                        // what was planned, so the next plan updates the difference.
                        inputs: merge_read_inputs(&intent.inputs, &read.inputs),
                        dependencies: declared
                            .map(|d| stack.recorded_dependencies(d))
                            .unwrap_or_default(),
                        options: declared.map(options_record).unwrap_or_default(),
                        ..Default::default()
                    })
                }
                None => StepOutcome::Failed {
                    error: "interrupted before the object was created; nothing to adopt".into(),
                },
            })
        }
        Operation::Update | Operation::Delete | Operation::Import => {
            let Some(rec) = recorded else {
                return Ok(StepOutcome::Failed {
                    error: "interrupted; the resource is no longer recorded".into(),
                });
            };
            let read = provider
                .read(ReadRequest {
                    ctx,
                    id: rec.id.clone(),
                    inputs: reveal(&rec.inputs),
                    outputs: rec.outputs.clone(),
                })
                .await
                .map_err(failed)?;
            Ok(match read {
                None => StepOutcome::Deleted,
                Some(read) => StepOutcome::Written(ResourceRecord {
                    inputs: merge_read_inputs(&rec.inputs, &read.inputs),
                    outputs: mark_echoed_secrets(&rec.inputs, read.outputs),
                    ..rec
                }),
            })
        }
    }
}

/// The recorded inputs with the keys a read found overwritten; a key recorded as secret
/// stays secret whatever the provider returned.
pub(crate) fn merge_read_inputs(recorded: &Value, read: &Value) -> Value {
    let mut merged = recorded.clone();
    if let (Some(m), Some(r)) = (merged.as_object_mut(), read.as_object()) {
        for (k, v) in r {
            let was_secret = m.get(k).is_some_and(contains_secret);
            m.insert(
                k.clone(),
                if was_secret {
                    secret(v.clone())
                } else {
                    v.clone()
                },
            );
        }
    }
    merged
}

/// `read` with every top-level key whose declared value holds a secret marked secret.
fn mark_declared_secrets(declared: &Value, mut read: Value) -> Value {
    if let (Some(declared), Some(read)) = (declared.as_object(), read.as_object_mut()) {
        for (k, v) in read.iter_mut() {
            if declared.get(k).is_some_and(contains_secret) && !contains_secret(v) {
                *v = secret(v.take());
            }
        }
    }
    read
}

/// What a refresh found for one resource.
#[derive(Debug, Clone)]
pub enum RefreshChange {
    /// The object is gone: the record is removed and the next plan creates it again.
    Gone(String),
    /// The object differs from the record.
    Drifted {
        /// The record as the cloud has it now (what the refresh writes).
        record: ResourceRecord,
        /// The top-level input keys whose values changed outside the stack: declared
        /// settings, which the next plan sets back.
        inputs: Vec<String>,
        /// The top-level output keys that moved on (a status, a member list): what the
        /// cloud reports, nothing to set back.
        outputs: Vec<String>,
    },
}

/// Reads every recorded resource; returns the refreshed state and what changed. Each
/// provider gets all of its resources in one [`crate::Provider::read_many`], so that it
/// can read several objects with one call; the providers read concurrently and share
/// the listings of global services through one [`crate::SharedReads`].
pub async fn refresh_state(
    stack: &Stack,
    state: &StackState,
    parallelism: usize,
) -> Result<(StackState, Vec<RefreshChange>), EngineError> {
    let label = stack.id().to_string();
    // One memo for the whole refresh: a global service's listing is read once, by the
    // first provider that needs it.
    let shared = crate::provider::SharedReads::default();
    let mut by_provider: BTreeMap<&str, Vec<&ResourceRecord>> = BTreeMap::new();
    for rec in &state.resources {
        by_provider
            .entry(rec.provider.as_str())
            .or_default()
            .push(rec);
    }
    let batches = by_provider.into_iter().map(|(name, recs)| {
        let label = label.clone();
        let shared = &shared;
        async move {
            let provider = stack.providers.get(name).ok_or_else(|| {
                EngineError::Other(format!(
                    "{}: provider `{name}` is not registered on the stack",
                    recs[0].name
                ))
            })?;
            let reqs = recs
                .iter()
                .map(|rec| ReadRequest {
                    ctx: ResourceContext {
                        stack: label.clone(),
                        name: rec
                            .name
                            .strip_suffix(REPLACED_SUFFIX)
                            .unwrap_or(&rec.name)
                            .to_string(),
                        type_token: rec.type_token.clone(),
                    },
                    id: rec.id.clone(),
                    inputs: reveal(&rec.inputs),
                    outputs: rec.outputs.clone(),
                })
                .collect();
            let reads = provider.read_many(reqs, parallelism, shared).await;
            if reads.len() != recs.len() {
                return Err(EngineError::Other(format!(
                    "provider `{name}` answered {} reads for {} resources",
                    reads.len(),
                    recs.len()
                )));
            }
            recs.into_iter()
                .zip(reads)
                .map(|(rec, read)| {
                    let read = read
                        .map_err(|e| EngineError::Other(format!("refreshing {}: {e}", rec.name)))?;
                    Ok(refresh_change(rec, read))
                })
                .collect::<Result<Vec<_>, EngineError>>()
        }
    });
    let reads: Vec<Result<Option<RefreshChange>, EngineError>> = futures::future::join_all(batches)
        .await
        .into_iter()
        .flat_map(|batch| match batch {
            Ok(changes) => changes.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
        .collect();
    let mut changes = Vec::new();
    for r in reads {
        if let Some(c) = r? {
            changes.push(c);
        }
    }
    let mut fresh = state.clone();
    for c in &changes {
        match c {
            RefreshChange::Gone(name) => fresh.resources.retain(|r| &r.name != name),
            RefreshChange::Drifted { record, .. } => {
                if let Some(slot) = fresh.resources.iter_mut().find(|r| r.name == record.name) {
                    *slot = record.clone();
                }
            }
        }
    }
    Ok((fresh, changes))
}

/// What a refresh found, as a plan shows it.
pub(crate) fn drift_of(changes: &[RefreshChange]) -> Vec<crate::plan::Drift> {
    changes
        .iter()
        .map(|c| match c {
            RefreshChange::Gone(name) => crate::plan::Drift {
                name: name.clone(),
                change: crate::plan::DriftKind::Gone,
                inputs: Vec::new(),
                outputs: Vec::new(),
            },
            RefreshChange::Drifted {
                record,
                inputs,
                outputs,
            } => crate::plan::Drift {
                name: record.name.clone(),
                change: if inputs.is_empty() {
                    crate::plan::DriftKind::Moved
                } else {
                    crate::plan::DriftKind::Drifted
                },
                inputs: inputs.clone(),
                outputs: outputs.clone(),
            },
        })
        .collect()
}

/// What one read says of its record: gone, drifted, or `None` when it matches.
fn refresh_change(rec: &ResourceRecord, read: Option<ReadResponse>) -> Option<RefreshChange> {
    match read {
        None => Some(RefreshChange::Gone(rec.name.clone())),
        Some(read) => {
            let inputs = merge_read_inputs(&rec.inputs, &read.inputs);
            let outputs = if read.outputs.is_null() {
                rec.outputs.clone()
            } else {
                mark_echoed_secrets(&rec.inputs, read.outputs)
            };
            (inputs != rec.inputs || outputs != rec.outputs).then(|| RefreshChange::Drifted {
                inputs: changed_keys(&rec.inputs, &inputs),
                outputs: changed_keys(&rec.outputs, &outputs),
                record: ResourceRecord {
                    inputs,
                    outputs,
                    ..rec.clone()
                },
            })
        }
    }
}

fn write_refresh(
    store: &StateStore,
    stack: &Stack,
    changes: &[RefreshChange],
) -> Result<(), EngineError> {
    for c in changes {
        match c {
            RefreshChange::Gone(name) => {
                store.remove_resource(stack.id(), name)?;
            }
            RefreshChange::Drifted { record, .. } => store.put_resource(stack.id(), record)?,
        }
    }
    Ok(())
}

/// What `refresh` did: the resources it read, the calls that took, and what changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RefreshReport {
    /// Recorded resources read.
    pub resources: usize,
    /// Calls sent, by `service:Operation` (each attempt counted).
    pub calls: BTreeMap<String, u64>,
    /// What differs from the record: gone or drifted resources.
    #[serde(skip)]
    pub changes: Vec<RefreshChange>,
}

impl RefreshReport {
    /// All calls sent.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// `refresh`: reads every recorded resource and records what it finds.
pub async fn refresh(
    stack: &Stack,
    store: &StateStore,
    options: &RunOptions,
) -> Result<RefreshReport, EngineError> {
    stack.validate().map_err(EngineError::Declaration)?;
    let lock = store.lock(stack.id(), &options.holder)?;
    let result = async {
        recover(stack, store, options.parallelism).await?;
        let state = store.load(stack.id())?;
        let deployment = store.begin_deployment(stack.id(), DeploymentKind::Refresh)?;
        let calls_before = apply::call_counts(stack);
        let outcome = refresh_state(stack, &state, options.parallelism).await;
        let (result, report) = match outcome {
            Ok((_, changes)) => {
                write_refresh(store, stack, &changes)?;
                let report = RefreshReport {
                    resources: state.resources.len(),
                    calls: apply::calls_since(&calls_before, apply::call_counts(stack)),
                    changes,
                };
                (DeploymentResult::Succeeded, Ok(report))
            }
            Err(e) => (DeploymentResult::Failed(e.to_string()), Err(e)),
        };
        let counts = StepCounts {
            updated: report.as_ref().map(|r| r.changes.len() as u64).unwrap_or(0),
            ..Default::default()
        };
        store.finish_deployment(deployment, result, &counts)?;
        report
    }
    .await;
    lock.release()?;
    result
}

/// `import NAME ID`: adopts an existing object as the declared resource `name`.
pub async fn import(
    stack: &Stack,
    store: &StateStore,
    name: &str,
    id: &str,
    options: &RunOptions,
) -> Result<ResourceRecord, EngineError> {
    stack.validate().map_err(EngineError::Declaration)?;
    let node = stack
        .get(name)
        .filter(|n| n.kind == NodeKind::Resource)
        .ok_or_else(|| {
            EngineError::Other(format!("`{name}` is not a resource declared in the stack"))
        })?;
    let lock = store.lock(stack.id(), &options.holder)?;
    let result = async {
        let state = store.load(stack.id())?;
        if state.resources.iter().any(|r| r.name == name) {
            return Err(EngineError::Other(format!(
                "`{name}` is already recorded (id {}); `state delete {name}` first to import another object",
                state.resources.iter().find(|r| r.name == name).map(|r| r.id.as_str()).unwrap_or("")
            )));
        }
        let type_token = node.reference.type_token().to_string();
        let provider_name = stack
            .provider_name_for(&type_token, node.provider())
            .map_err(EngineError::Other)?;
        let provider = &stack.providers[provider_name];
        let read = provider
            .read(ReadRequest {
                ctx: ResourceContext {
                    stack: stack.id().to_string(),
                    name: name.to_string(),
                    type_token: type_token.clone(),
                },
                id: id.to_string(),
                inputs: Value::Null,
                outputs: Value::Null,
            })
            .await
            .map_err(|e| EngineError::Other(format!("importing {name} ({id}): {e}")))?
            .ok_or_else(|| EngineError::Other(format!("importing {name}: no {type_token} with id `{id}` exists")))?;
        // What the declaration marks secret stays secret in state, as refresh and
        // recovery keep it: the read returns plain values.
        let inputs = mark_declared_secrets(&node.declared_inputs(), read.inputs);
        let outputs = mark_echoed_secrets(&inputs, read.outputs);
        let record = ResourceRecord {
            name: name.to_string(),
            type_token,
            provider: provider_name.to_string(),
            id: read.id,
            inputs,
            outputs,
            dependencies: stack.recorded_dependencies(node),
            options: options_record(node),
            ..Default::default()
        };
        let deployment = store.begin_deployment(stack.id(), DeploymentKind::Import)?;
        store.put_resource(stack.id(), &record)?;
        store.finish_deployment(
            deployment,
            DeploymentResult::Succeeded,
            &StepCounts {
                created: 1,
                ..Default::default()
            },
        )?;
        Ok(record)
    }
    .await;
    lock.release()?;
    result
}

struct DataResolver<'a>(&'a HashMap<String, Value>);

impl Resolver for DataResolver<'_> {
    fn outputs(&self, resource: &str) -> Option<&Value> {
        self.0.get(resource)
    }
}

/// Evaluates every data source of the stack (concurrently; their arguments must be
/// known at declaration).
pub async fn evaluate_data(
    stack: &Stack,
    parallelism: usize,
) -> Result<HashMap<String, Value>, EngineError> {
    let empty = HashMap::new();
    let sources: Vec<_> = stack
        .declared()
        .iter()
        .filter(|n| n.kind == NodeKind::Data)
        .collect();
    let results: Vec<Result<(String, Value), EngineError>> = stream::iter(sources)
        .map(|node| {
            let empty = &empty;
            async move {
                let name = node.name().to_string();
                let args = node.inputs.eval(&DataResolver(empty)).map_err(|message| {
                    EngineError::DataSource {
                        name: name.clone(),
                        message,
                    }
                })?;
                if contains_unknown(&args) {
                    return Err(EngineError::DataSource {
                        name,
                        message: "its arguments must be known before any resource is created"
                            .into(),
                    });
                }
                let provider_name = stack
                    .provider_name_for(node.reference.type_token(), node.provider())
                    .map_err(|message| EngineError::DataSource {
                        name: name.clone(),
                        message,
                    })?;
                let value = stack.providers[provider_name]
                    .invoke(InvokeRequest {
                        token: node.reference.type_token().to_string(),
                        args: reveal(&args),
                    })
                    .await
                    .map_err(|e| EngineError::DataSource {
                        name: name.clone(),
                        message: e.to_string(),
                    })?;
                Ok((name, value))
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iac_state::StackId;

    fn record(name: &str, id: &str) -> ResourceRecord {
        ResourceRecord {
            name: name.to_string(),
            id: id.to_string(),
            ..ResourceRecord::default()
        }
    }

    #[test]
    fn only_copies_that_name_their_base_s_object_are_dropped() {
        let state = StackState {
            stack: StackId::new("p", "s"),
            resources: vec![
                record("a", "i-1"),
                record("a#replaced", "i-1"), // the base took this object over: stale
                record("b", "i-2"),
                record("b#replaced", "i-0"), // the old object, still to delete
                record("c#replaced", "i-3"), // its base was never recorded
            ],
            outputs: BTreeMap::new(),
        };
        let kept: Vec<String> = drop_stale_copies(state)
            .resources
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(kept, ["a", "b", "b#replaced", "c#replaced"]);

        let plain = StackState {
            stack: StackId::new("p", "s"),
            resources: vec![record("x", "1"), record("y", "2")],
            outputs: BTreeMap::new(),
        };
        assert_eq!(drop_stale_copies(plain.clone()), plain);
    }
}

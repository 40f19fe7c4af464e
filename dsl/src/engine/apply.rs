//! The step executor: carries out a [`Plan`] in three walks over the graph, journaling
//! every mutating call.
//!
//! 1. The old objects of delete-before-create replacements are deleted, dependents first.
//! 2. Creates, updates and create-before-delete replacements run as soon as what they
//!    depend on has finished, up to the parallelism bound.
//! 3. Removed resources and the old halves of replacements are deleted, dependents first.
//!
//! Before a mutating call its intent is durable in the journal; after it, the result and
//! the cleared intent are written in one transaction, and the outputs resolve the inputs
//! of the steps waiting on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use iac_state::{
    DeploymentId, NewIntent, Operation, ResourceOptionsRecord, ResourceRecord, ResourceStatus,
    StackId, StepOutcome,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::engine::merge_read_inputs;
use crate::engine::timing::{Span, Timing, longest_chain};
use crate::journal::Journal;
use crate::output::Resolver;
use crate::plan::{Op, Plan, REPLACED_SUFFIX, Step, changed_keys};
use crate::provider::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LookupRequest, Provider,
    ProviderError, ResourceContext, UpdateRequest,
};
use crate::stack::{Declared, Stack};
use crate::value::{contains_unknown, mark_echoed_secrets, redact_text, reveal};
use crate::walk::{NodeOutcome, walk};

/// Something that happened during apply, for progress displays.
#[derive(Debug, Clone)]
pub enum Event {
    /// A step started.
    Started {
        /// The resource.
        name: String,
        /// What it does.
        op: Op,
    },
    /// A step ended.
    Finished {
        /// The resource.
        name: String,
        /// What it did.
        op: Op,
        /// How it ended.
        status: StepStatus,
        /// How long it took.
        elapsed: Duration,
    },
    /// A provider has something the user must know or do while a step runs (the name
    /// servers to delegate a new zone to, a long wait and what it waits for); see
    /// [`notice`].
    Notice {
        /// The resource whose step it is about.
        name: String,
        /// What to tell the user (no secret: providers say names and states).
        message: String,
    },
}

/// Receives [`Event`]s; the CLI turns them into progress lines.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

tokio::task_local! {
    /// The sink and resource of the step a provider call runs for.
    static STEP: (EventSink, String);
}

/// Tells the user something while a provider call runs: sent as [`Event::Notice`] for the
/// resource whose step made the call; dropped outside a step with an event sink (a plain
/// `preview`, a test calling the provider directly).
pub fn notice(message: impl Into<String>) {
    let _ = STEP.try_with(|(sink, name)| {
        sink(Event::Notice {
            name: name.clone(),
            message: message.into(),
        })
    });
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// It succeeded.
    Done,
    /// It failed; the message names the operation and the provider's error.
    Failed {
        /// The error.
        error: String,
    },
    /// It did not run because a step it depends on failed.
    Skipped {
        /// The failed step (the root cause).
        because: String,
    },
    /// It did not run because the run was interrupted.
    NotStarted,
    /// It was outside `--target`.
    Excluded,
}

/// The result of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The resource.
    pub name: String,
    /// Its type.
    pub type_token: String,
    /// Its provider.
    pub provider: String,
    /// What was planned.
    pub op: Op,
    /// How it ended.
    #[serde(flatten)]
    pub status: StepStatus,
    /// How long it took.
    pub elapsed_ms: u128,
    /// When it started, from the start of the apply.
    pub started_ms: u128,
}

/// The result of applying a plan.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// Every step, in plan order.
    pub steps: Vec<StepReport>,
    /// The stack outputs after the run (those that are known).
    pub outputs: BTreeMap<String, Value>,
    /// Whether the run was interrupted before every step ran.
    pub interrupted: bool,
    /// Wall time, the critical path and the provider calls of the run.
    pub timing: Timing,
}

impl ApplyReport {
    /// The steps that failed: the root causes, without the steps skipped because of them.
    pub fn failures(&self) -> Vec<&StepReport> {
        self.steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Failed { .. }))
            .collect()
    }

    /// Whether every step that was to run succeeded.
    pub fn succeeded(&self) -> bool {
        !self.interrupted
            && self
                .steps
                .iter()
                .all(|s| matches!(s.status, StepStatus::Done | StepStatus::Excluded))
    }

    /// How many steps of each operation succeeded (changes only).
    pub fn done_counts(&self) -> BTreeMap<Op, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.steps {
            if s.status == StepStatus::Done && s.op.is_change() {
                *counts.entry(s.op).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Settings of one apply.
#[derive(Clone)]
pub(crate) struct ApplySettings {
    pub parallelism: usize,
    pub events: Option<EventSink>,
    pub cancel: watch::Receiver<bool>,
}

struct Exec {
    stack: Arc<Stack>,
    stack_id: StackId,
    label: String,
    recorded: HashMap<String, ResourceRecord>,
    outputs: RwLock<HashMap<String, Value>>,
    moved_aside: RwLock<HashMap<String, ResourceRecord>>,
    /// The dependencies each recorded resource has now, kept current as steps write and
    /// delete rows: a resource still needed by a recorded one is never deleted, so the
    /// state never names a dependency that is gone.
    needs: RwLock<HashMap<String, Vec<String>>>,
    journal: Journal,
    deployment: DeploymentId,
    events: Option<EventSink>,
}

struct LiveResolver<'a>(&'a HashMap<String, Value>);

impl Resolver for LiveResolver<'_> {
    fn outputs(&self, resource: &str) -> Option<&Value> {
        self.0.get(resource)
    }
}

/// Carries out `plan` for `stack` over the recorded `resources`.
pub(crate) async fn apply(
    stack: Arc<Stack>,
    resources: Vec<ResourceRecord>,
    data: HashMap<String, Value>,
    plan: &Plan,
    journal: Journal,
    deployment: DeploymentId,
    settings: ApplySettings,
) -> ApplyReport {
    let creating: std::collections::HashSet<&str> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.op,
                Op::Create | Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst
            )
        })
        .map(|s| s.name.as_str())
        .collect();
    let mut outputs = data;
    for r in &resources {
        if !creating.contains(r.name.as_str()) {
            outputs.insert(r.name.clone(), r.outputs.clone());
        }
    }
    let needs: HashMap<String, Vec<String>> = resources
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.clone()))
        .collect();
    let exec = Arc::new(Exec {
        stack_id: stack.id().clone(),
        label: stack.id().to_string(),
        stack,
        recorded: resources.into_iter().map(|r| (r.name.clone(), r)).collect(),
        outputs: RwLock::new(outputs),
        moved_aside: RwLock::new(HashMap::new()),
        needs: RwLock::new(needs),
        journal,
        deployment,
        events: settings.events.clone(),
    });

    let mut reports: HashMap<String, StepReport> = HashMap::new();
    let runnable: Vec<&Step> = plan.steps.iter().filter(|s| !s.excluded).collect();

    // Phase 1: delete-first replacements lose their old object.
    let phase1: Vec<Step> = runnable
        .iter()
        .filter(|s| s.op == Op::ReplaceDeleteFirst)
        .map(|s| (*s).clone())
        .collect();
    let phase1_deps = deletion_deps(&phase1, &exec.recorded);
    let calls_before = call_counts(&exec.stack);
    let mut timing = PhaseTiming {
        origin: Instant::now(),
        critical: (Duration::ZERO, Vec::new()),
    };
    let out1 = run_phase(
        &exec,
        &phase1,
        &phase1_deps,
        &settings,
        Phase::DeleteOld,
        &mut timing,
    )
    .await;
    let mut failed_deletes = std::collections::HashSet::new();
    for (step, (status, elapsed)) in phase1.iter().zip(out1) {
        if status != StepStatus::Done {
            failed_deletes.insert(step.name.clone());
            reports.insert(step.name.clone(), report(step, status, elapsed));
        }
    }

    // Phase 2: creates, updates, create-first replacements, and same (no-op) nodes that
    // keep the graph whole.
    let phase2: Vec<Step> = runnable
        .iter()
        .filter(|s| !matches!(s.op, Op::Delete | Op::Forget) && !failed_deletes.contains(&s.name))
        .map(|s| (*s).clone())
        .collect();
    let index: HashMap<&str, usize> = phase2
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let phase2_deps: Vec<Vec<usize>> = phase2
        .iter()
        .map(|s| {
            s.dependencies
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let out2 = run_phase(
        &exec,
        &phase2,
        &phase2_deps,
        &settings,
        Phase::Forward,
        &mut timing,
    )
    .await;
    let mut replaced_ok = Vec::new();
    for (step, (status, elapsed)) in phase2.iter().zip(out2) {
        if status == StepStatus::Done && step.op == Op::ReplaceCreateFirst {
            replaced_ok.push(step.name.clone());
        }
        reports.insert(step.name.clone(), report(step, status, elapsed));
    }

    // Phase 3: removed resources, and the old halves of replacements.
    let mut phase3: Vec<Step> = runnable
        .iter()
        .filter(|s| matches!(s.op, Op::Delete | Op::Forget))
        .map(|s| (*s).clone())
        .collect();
    for name in &replaced_ok {
        let aside = format!("{name}{REPLACED_SUFFIX}");
        if let Some(old) = exec
            .moved_aside
            .read()
            .map(|m| m.get(&aside).cloned())
            .ok()
            .flatten()
        {
            phase3.push(Step {
                name: aside,
                type_token: old.type_token.clone(),
                provider: old.provider.clone(),
                op: Op::Delete,
                diffs: Vec::new(),
                inputs: Value::Null,
                dependencies: old.dependencies.clone(),
                excluded: false,
                warning: None,
            });
        }
    }
    let phase3_deps = deletion_deps(&phase3, &exec.recorded);
    let out3 = run_phase(
        &exec,
        &phase3,
        &phase3_deps,
        &settings,
        Phase::Delete,
        &mut timing,
    )
    .await;
    let mut old_half_failed = HashMap::new();
    for (step, (status, elapsed)) in phase3.iter().zip(out3) {
        match step.name.strip_suffix(REPLACED_SUFFIX) {
            Some(base) if replaced_ok.iter().any(|n| n == base) => {
                if status != StepStatus::Done {
                    old_half_failed.insert(base.to_string(), status);
                }
            }
            _ => {
                reports.insert(step.name.clone(), report(step, status, elapsed));
            }
        }
    }
    for (base, status) in old_half_failed {
        if let Some(r) = reports.get_mut(&base) {
            r.status = match status {
                StepStatus::Failed { error } => StepStatus::Failed {
                    error: format!(
                        "the new object was created but deleting the old one failed: {error}"
                    ),
                },
                other => other,
            };
        }
    }

    let interrupted = *settings.cancel.borrow();
    let steps = plan
        .steps
        .iter()
        .map(|s| {
            if s.excluded {
                report(s, StepStatus::Excluded, Span::default())
            } else {
                reports
                    .remove(&s.name)
                    .unwrap_or_else(|| report(s, StepStatus::NotStarted, Span::default()))
            }
        })
        .collect();
    let outputs = {
        let live = exec.outputs.read().map(|m| m.clone()).unwrap_or_default();
        let resolver = LiveResolver(&live);
        // The outputs the plan has (none for a destroy, which leaves none).
        exec.stack
            .outputs
            .iter()
            .filter(|(name, _)| plan.outputs.contains_key(name))
            .filter_map(|(name, node)| {
                let v = node.eval(&resolver).ok()?;
                (!contains_unknown(&v)).then(|| (name.clone(), v))
            })
            .collect()
    };
    let timing = Timing {
        wall_ms: timing.origin.elapsed().as_millis(),
        critical_path_ms: timing.critical.0.as_millis(),
        critical_path: timing.critical.1,
        calls: calls_since(&calls_before, call_counts(&exec.stack)),
    };
    ApplyReport {
        steps,
        outputs,
        interrupted,
        timing,
    }
}

fn report(step: &Step, status: StepStatus, span: Span) -> StepReport {
    StepReport {
        name: step.name.clone(),
        type_token: step.type_token.clone(),
        provider: step.provider.clone(),
        op: step.op,
        status,
        elapsed_ms: span.took.as_millis(),
        started_ms: span.started.as_millis(),
    }
}

/// The calls every provider of the stack has sent so far, added up by operation.
pub(crate) fn call_counts(stack: &Stack) -> BTreeMap<String, u64> {
    let mut all = BTreeMap::new();
    for provider in stack.providers.values() {
        for (op, n) in provider.call_counts() {
            *all.entry(op).or_default() += n;
        }
    }
    all
}

/// The calls made between two counts.
pub(crate) fn calls_since(
    before: &BTreeMap<String, u64>,
    now: BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    now.into_iter()
        .map(|(op, n)| {
            let was = before.get(&op).copied().unwrap_or(0);
            (op, n.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The clock of an apply's phases and their critical paths so far (phases run one after
/// another, so the run's critical path is theirs end to end).
struct PhaseTiming {
    origin: Instant,
    critical: (Duration, Vec<String>),
}

impl PhaseTiming {
    /// Adds one phase's critical path. A step with nothing to do weighs nothing on it
    /// (its microseconds of passing outputs on would otherwise pull unchanged steps into
    /// the path of a run that updated a few).
    fn add_phase(&mut self, steps: &[Step], deps: &[Vec<usize>], outcomes: &[(StepStatus, Span)]) {
        let took: Vec<Duration> = steps
            .iter()
            .zip(outcomes)
            .map(|(step, (_, span))| match step.op {
                Op::Same => Duration::ZERO,
                _ => span.took,
            })
            .collect();
        let (total, chain) = longest_chain(deps, &took);
        self.critical.0 += total;
        self.critical
            .1
            .extend(chain.into_iter().map(|i| steps[i].name.clone()));
    }
}

/// For deletions: each step waits for the steps of the resources that depend on it.
fn deletion_deps(steps: &[Step], recorded: &HashMap<String, ResourceRecord>) -> Vec<Vec<usize>> {
    let base = |name: &str| {
        name.strip_suffix(REPLACED_SUFFIX)
            .unwrap_or(name)
            .to_string()
    };
    let mut by_base: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        by_base.entry(base(&s.name)).or_default().push(i);
    }
    let mut deps = vec![Vec::new(); steps.len()];
    for (i, s) in steps.iter().enumerate() {
        let depends_on = recorded
            .get(&s.name)
            .map(|r| r.dependencies.clone())
            .unwrap_or_else(|| s.dependencies.clone());
        for d in depends_on {
            for &j in by_base.get(&d).map(Vec::as_slice).unwrap_or(&[]) {
                if j != i {
                    // `i` depends on `d`, so `d`'s deletion waits for `i`'s.
                    deps[j].push(i);
                }
            }
        }
    }
    deps
}

#[derive(Clone, Copy)]
enum Phase {
    DeleteOld,
    Forward,
    Delete,
}

async fn run_phase(
    exec: &Arc<Exec>,
    steps: &[Step],
    deps: &[Vec<usize>],
    settings: &ApplySettings,
    phase: Phase,
    timing: &mut PhaseTiming,
) -> Vec<(StepStatus, Span)> {
    if steps.is_empty() {
        return Vec::new();
    }
    let origin = timing.origin;
    let all = steps;
    let steps: Arc<Vec<Step>> = Arc::new(steps.to_vec());
    let elapsed: Arc<RwLock<HashMap<usize, Span>>> = Arc::new(RwLock::new(HashMap::new()));
    let outcomes = {
        let exec = exec.clone();
        let steps = steps.clone();
        let elapsed = elapsed.clone();
        walk(
            deps,
            settings.parallelism,
            settings.cancel.clone(),
            move |i| {
                let exec = exec.clone();
                let steps = steps.clone();
                let elapsed = elapsed.clone();
                async move {
                    let step = &steps[i];
                    let op = match phase {
                        Phase::DeleteOld => Op::Delete,
                        _ => step.op,
                    };
                    let noisy = op.is_change();
                    if noisy {
                        exec.emit(Event::Started {
                            name: step.name.clone(),
                            op: step.op,
                        });
                    }
                    let started = Instant::now();
                    let call = async {
                        match phase {
                            Phase::DeleteOld => exec.delete(step).await,
                            Phase::Forward => exec.forward(step).await,
                            Phase::Delete => exec.delete(step).await,
                        }
                    };
                    let result = match &exec.events {
                        Some(sink) => STEP.scope((sink.clone(), step.name.clone()), call).await,
                        None => call.await,
                    };
                    let took = started.elapsed();
                    if let Ok(mut m) = elapsed.write() {
                        let started = started.saturating_duration_since(origin);
                        m.insert(i, Span { started, took });
                    }
                    if noisy {
                        exec.emit(Event::Finished {
                            name: step.name.clone(),
                            op: step.op,
                            status: match &result {
                                Ok(()) => StepStatus::Done,
                                Err(e) => StepStatus::Failed { error: e.clone() },
                            },
                            elapsed: took,
                        });
                    }
                    result
                }
            },
        )
        .await
    };
    let elapsed = elapsed.read().map(|m| m.clone()).unwrap_or_default();
    let outcomes: Vec<(StepStatus, Span)> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let status = match o {
                NodeOutcome::Done => StepStatus::Done,
                NodeOutcome::Failed(error) => StepStatus::Failed { error },
                NodeOutcome::Skipped { root } => StepStatus::Skipped {
                    because: steps[root].name.clone(),
                },
                NodeOutcome::NotStarted => StepStatus::NotStarted,
            };
            (status, elapsed.get(&i).copied().unwrap_or_default())
        })
        .collect();
    timing.add_phase(all, deps, &outcomes);
    outcomes
}

impl Exec {
    fn emit(&self, event: Event) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }

    fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, String> {
        self.stack
            .providers
            .get(name)
            .cloned()
            .ok_or_else(|| format!("provider `{name}` is not registered on the stack"))
    }

    fn ctx(&self, name: &str, type_token: &str) -> ResourceContext {
        ResourceContext {
            stack: self.label.clone(),
            name: name.to_string(),
            type_token: type_token.to_string(),
        }
    }

    fn declared(&self, name: &str) -> Result<&Declared, String> {
        self.stack
            .get(name)
            .ok_or_else(|| format!("`{name}` is not declared in the stack"))
    }

    /// The declared inputs with every output resolved; an unknown left means a
    /// dependency produced no value.
    fn resolve(&self, node: &Declared) -> Result<Value, String> {
        let live = self
            .outputs
            .read()
            .map_err(|_| "output table poisoned".to_string())?;
        let mut v = node.inputs.eval(&LiveResolver(&live))?;
        if let Some(old) = self.recorded.get(node.name()) {
            crate::plan::keep_ignored(&mut v, &old.inputs, &node.options().ignore_changes);
        }
        if contains_unknown(&v) {
            return Err("an input is still unknown after its dependencies finished".to_string());
        }
        Ok(v)
    }

    fn set_needs(&self, name: &str, deps: Option<Vec<String>>) {
        if let Ok(mut needs) = self.needs.write() {
            match deps {
                Some(d) => needs.insert(name.to_string(), d),
                None => needs.remove(name),
            };
        }
    }

    /// The recorded resources other than `name` that still depend on it.
    fn still_needed_by(&self, name: &str) -> Vec<String> {
        let needs = self.needs.read().map(|n| n.clone()).unwrap_or_default();
        let mut by: Vec<String> = needs
            .iter()
            .filter(|(n, deps)| n.as_str() != name && deps.iter().any(|d| d == name))
            .map(|(n, _)| n.clone())
            .collect();
        by.sort();
        by
    }

    fn set_outputs(&self, name: &str, outputs: Value) {
        if let Ok(mut live) = self.outputs.write() {
            live.insert(name.to_string(), outputs);
        }
    }

    fn record(
        &self,
        node: &Declared,
        provider: &str,
        id: String,
        inputs: Value,
        outputs: Value,
        status: ResourceStatus,
    ) -> ResourceRecord {
        ResourceRecord {
            name: node.name().to_string(),
            type_token: node.reference.type_token().to_string(),
            provider: provider.to_string(),
            id,
            inputs,
            outputs,
            dependencies: self.stack.recorded_dependencies(node),
            options: options_record(node),
            status,
            ..Default::default()
        }
    }

    fn intent(
        &self,
        name: &str,
        step: &Step,
        operation: Operation,
        token: &str,
        inputs: &Value,
    ) -> NewIntent {
        NewIntent {
            stack: self.stack_id.clone(),
            deployment: Some(self.deployment),
            resource: name.to_string(),
            type_token: step.type_token.clone(),
            provider: step.provider.clone(),
            operation,
            token: token.to_string(),
            inputs: inputs.clone(),
        }
    }

    async fn forward(&self, step: &Step) -> Result<(), String> {
        match step.op {
            Op::Same => self.same(step).await,
            Op::Create | Op::ReplaceDeleteFirst => self.create(step, false).await,
            Op::ReplaceCreateFirst => self.create(step, true).await,
            Op::Update => self.update(step).await,
            Op::Delete | Op::Forget => Ok(()),
        }
    }

    /// Records a failed call (clearing its intent) and returns the message to report.
    /// Neither quotes a secret of `inputs` (the inputs the call was made with), whatever
    /// the service echoed into its error.
    async fn failed(
        &self,
        intent: iac_state::IntentId,
        e: ProviderError,
        inputs: &Value,
    ) -> String {
        let message = redact_text(&e.to_string(), &[inputs]);
        if let Err(journal) = self
            .journal
            .complete(
                intent,
                StepOutcome::Failed {
                    error: message.clone(),
                },
            )
            .await
        {
            return format!("{message}; recording the failure also failed: {journal}");
        }
        message
    }

    async fn written(
        &self,
        intent: iac_state::IntentId,
        record: ResourceRecord,
    ) -> Result<(), String> {
        let (name, deps) = (record.name.clone(), record.dependencies.clone());
        self.journal
            .complete(intent, StepOutcome::Written(record))
            .await?;
        self.set_needs(&name, Some(deps));
        Ok(())
    }

    async fn same(&self, step: &Step) -> Result<(), String> {
        let node = self.declared(&step.name)?;
        let Some(old) = self.recorded.get(&step.name) else {
            return Ok(());
        };
        let deps: Vec<String> = self.stack.recorded_dependencies(node);
        let options = options_record(node);
        if old.dependencies != deps || old.options != options {
            let mut record = old.clone();
            record.dependencies = deps.clone();
            record.options = options;
            self.journal.put(&self.stack_id, record).await?;
            self.set_needs(&step.name, Some(deps));
        }
        Ok(())
    }

    async fn create(&self, step: &Step, replacing: bool) -> Result<(), String> {
        let node = self.declared(&step.name)?;
        let inputs = self.resolve(node)?;
        let provider = self.provider(&step.provider)?;
        let ctx = self.ctx(&step.name, &step.type_token);
        let invalid = provider.check(&ctx, &reveal(&inputs));
        if !invalid.is_empty() {
            return Err(ProviderError::validation(invalid).to_string());
        }
        let aside = format!("{}{REPLACED_SUFFIX}", step.name);
        if replacing && let Some(old) = self.recorded.get(&step.name) {
            // Keep the old object findable under its own row before the new one takes
            // the name: whatever happens next, it is either deleted or still recorded.
            let mut moved = old.clone();
            moved.name = aside.clone();
            self.journal.put(&self.stack_id, moved.clone()).await?;
            if let Ok(mut m) = self.moved_aside.write() {
                m.insert(aside.clone(), moved);
            }
        }
        let token = uuid::Uuid::new_v4().to_string();
        let intent = self
            .journal
            .intent(self.intent(&step.name, step, Operation::Create, &token, &inputs))
            .await?;
        let result = provider
            .create(CreateRequest {
                ctx: ctx.clone(),
                inputs: reveal(&inputs),
                token: token.clone(),
                timeout: node.options().timeouts.create,
            })
            .await;
        // A create that failed may still have made its object: its answer was lost, or a
        // call after the object existed failed (a rule, a tag, a wait). Look for it by
        // the token before forgetting the intent, and record what is there, as read, so
        // that the next run updates it instead of failing on a name that is taken.
        let mut found_inputs = None;
        let result = match result {
            Err(mut e) if e.created.is_none() && may_have_made_something(&e) => {
                let found = provider
                    .lookup(LookupRequest {
                        ctx,
                        token,
                        inputs: reveal(&inputs),
                    })
                    .await;
                if let Ok(Some(read)) = found {
                    e.created = Some(CreateResponse {
                        id: read.id,
                        outputs: read.outputs,
                    });
                    found_inputs = Some(read.inputs);
                }
                Err(e)
            }
            other => other,
        };
        match result {
            Ok(created) => {
                let outputs = mark_echoed_secrets(&inputs, created.outputs);
                let record = self.record(
                    node,
                    &step.provider,
                    created.id,
                    inputs,
                    outputs.clone(),
                    ResourceStatus::Ok,
                );
                self.written(intent, record).await?;
                self.set_outputs(&step.name, outputs);
                Ok(())
            }
            Err(mut e) => {
                if let Some(made) = e.created.take() {
                    let message = redact_text(&e.to_string(), &[&inputs]);
                    let outputs = mark_echoed_secrets(&inputs, made.outputs);
                    let (recorded, status) = match found_inputs {
                        // Found after the failure: recorded as it is, so that the next
                        // plan updates what differs from the declaration.
                        Some(read) => (merge_read_inputs(&inputs, &read), ResourceStatus::Ok),
                        // The provider says the object exists but is not healthy: record
                        // it tainted so the next run replaces it rather than leaking it.
                        None => (inputs, ResourceStatus::Tainted),
                    };
                    let record =
                        self.record(node, &step.provider, made.id, recorded, outputs, status);
                    self.written(intent, record).await?;
                    return Err(message);
                }
                let message = self.failed(intent, e, &inputs).await;
                if replacing {
                    // The old object keeps its name; drop the copy moved aside.
                    self.journal.remove(&self.stack_id, &aside).await?;
                    if let Ok(mut m) = self.moved_aside.write() {
                        m.remove(&aside);
                    }
                }
                Err(message)
            }
        }
    }

    async fn update(&self, step: &Step) -> Result<(), String> {
        let node = self.declared(&step.name)?;
        let old = self
            .recorded
            .get(&step.name)
            .ok_or_else(|| format!("{} has no recorded state to update", step.name))?;
        let inputs = self.resolve(node)?;
        let mut changed = changed_keys(&old.inputs, &inputs);
        if changed.is_empty() {
            return self.same(step).await;
        }
        let provider = self.provider(&step.provider)?;
        let ctx = self.ctx(&step.name, &step.type_token);
        let verdict = crate::plan::ask_diff(provider.as_ref(), &ctx, old, &inputs, &changed)
            .map_err(|e| e.to_string())?;
        changed.retain(|k| !verdict.equivalent_keys.contains(k));
        if changed.is_empty() {
            return self.same(step).await;
        }
        if !verdict.replace_keys.is_empty() {
            return Err(format!(
                "values known only now force a replacement ({}); the plan said update. Run preview again",
                verdict.replace_keys.join(", ")
            ));
        }
        let invalid = provider.check(&ctx, &reveal(&inputs));
        if !invalid.is_empty() {
            return Err(ProviderError::validation(invalid).to_string());
        }
        let intent = self
            .journal
            .intent(self.intent(&step.name, step, Operation::Update, &old.id, &inputs))
            .await?;
        let result = provider
            .update(UpdateRequest {
                ctx,
                id: old.id.clone(),
                old_inputs: reveal(&old.inputs),
                new_inputs: reveal(&inputs),
                old_outputs: old.outputs.clone(),
                changed_keys: changed,
                timeout: node.options().timeouts.update,
            })
            .await;
        match result {
            Ok(updated) => {
                let outputs = mark_echoed_secrets(&inputs, updated.outputs);
                let record = self.record(
                    node,
                    &step.provider,
                    old.id.clone(),
                    inputs,
                    outputs.clone(),
                    ResourceStatus::Ok,
                );
                self.written(intent, record).await?;
                self.set_outputs(&step.name, outputs);
                Ok(())
            }
            Err(e) => Err(self.failed(intent, e, &inputs).await),
        }
    }

    async fn delete(&self, step: &Step) -> Result<(), String> {
        let record = self
            .recorded
            .get(&step.name)
            .cloned()
            .or_else(|| {
                self.moved_aside
                    .read()
                    .ok()
                    .and_then(|m| m.get(&step.name).cloned())
            })
            .ok_or_else(|| format!("{} has no recorded state to delete", step.name))?;
        // The old half of a delete-first replacement: its name is created again in the
        // same run, so what depends on it keeps a dependency that is met again.
        if !step.name.ends_with(REPLACED_SUFFIX) && step.op != Op::ReplaceDeleteFirst {
            let needed = self.still_needed_by(&step.name);
            if !needed.is_empty() {
                return Err(format!(
                    "kept: still needed by {} (whose update did not happen); it is deleted once nothing depends on it",
                    needed.join(", ")
                ));
            }
        }
        if step.op == Op::Forget {
            self.journal.remove(&self.stack_id, &step.name).await?;
            self.set_needs(&step.name, None);
            return Ok(());
        }
        let provider = self.provider(&record.provider)?;
        let timeout = self
            .stack
            .get(&step.name)
            .and_then(|n| n.options().timeouts.delete);
        let intent = self
            .journal
            .intent(self.intent(
                &step.name,
                step,
                Operation::Delete,
                &record.id,
                &Value::Null,
            ))
            .await?;
        let result = provider
            .delete(DeleteRequest {
                ctx: self.ctx(
                    step.name
                        .strip_suffix(REPLACED_SUFFIX)
                        .unwrap_or(&step.name),
                    &record.type_token,
                ),
                id: record.id.clone(),
                inputs: reveal(&record.inputs),
                outputs: record.outputs.clone(),
                timeout,
            })
            .await;
        match result {
            Ok(()) => {
                self.journal.complete(intent, StepOutcome::Deleted).await?;
                self.set_needs(&step.name, None);
                Ok(())
            }
            Err(e) => Err(self.failed(intent, e, &record.inputs).await),
        }
    }
}

/// Whether a failed create may have made its object: anything but arguments refused
/// before a request, or a type the provider does not know.
fn may_have_made_something(e: &ProviderError) -> bool {
    !matches!(e.kind, ErrorKind::Validation | ErrorKind::Unsupported)
}

pub(crate) fn options_record(node: &Declared) -> ResourceOptionsRecord {
    ResourceOptionsRecord {
        protect: node.options().protect,
        retain_on_delete: node.options().retain_on_delete,
        delete_before_replace: node.options().delete_before_replace,
        ignore_changes: node.options().ignore_changes.clone(),
    }
}

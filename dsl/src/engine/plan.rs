//! The step generator: a pure function of the declared stack, the recorded state and
//! (optionally) data-source results, giving the steps that bring the cloud to the
//! declaration. No I/O happens here: a plan is known before any API call.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use iac_state::{ResourceRecord, ResourceStatus, StackState};
use serde::Serialize;
use serde_json::Value;

use crate::output::Resolver;
use crate::provider::{DiffRequest, ResourceContext};
use crate::stack::{Declared, NodeKind, Stack};
use crate::value::{contains_secret, contains_unknown, redact, unknown_source};
use iac_state::order::IndexGraph;

/// Suffix of the state row that holds the old object of a create-before-delete
/// replacement until it is deleted. `#` cannot appear in declared names.
pub const REPLACED_SUFFIX: &str = "#replaced";

/// One plan operation, with the symbol previews show (as Terraform does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Nothing to do.
    Same,
    /// Create a new object.
    Create,
    /// Change the object in place.
    Update,
    /// Create the new object, move dependents to it, then delete the old one.
    ReplaceCreateFirst,
    /// Delete the old object, then create the new one.
    ReplaceDeleteFirst,
    /// Delete the object.
    Delete,
    /// Forget the object in state and leave it in the cloud (`retain_on_delete`).
    Forget,
}

impl Op {
    /// The display symbol: `+`, `~`, `-`, `+/-`, `-/+`.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Same => " ",
            Op::Create => "+",
            Op::Update => "~",
            Op::ReplaceCreateFirst => "+/-",
            Op::ReplaceDeleteFirst => "-/+",
            Op::Delete => "-",
            Op::Forget => "-",
        }
    }

    /// A word for summaries: `create`, `update`, `replace`, `delete`, `forget`, `same`.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Same => "same",
            Op::Create => "create",
            Op::Update => "update",
            Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst => "replace",
            Op::Delete => "delete",
            Op::Forget => "forget",
        }
    }

    /// Whether the operation changes anything.
    pub fn is_change(self) -> bool {
        self != Op::Same
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// How one property changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyDiff {
    /// Dotted path of the property (`tags.Name`).
    pub path: String,
    /// The recorded value (`None` when added). Secrets are redacted.
    pub old: Option<Value>,
    /// The declared value (`None` when removed); unknown markers stand for values known
    /// after apply. Secrets are redacted.
    pub new: Option<Value>,
    /// Whether this change forces the replacement.
    pub replaces: bool,
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Logical name (for the old half of a replacement, the name with [`REPLACED_SUFFIX`]).
    pub name: String,
    /// Resource type token.
    pub type_token: String,
    /// Provider name.
    pub provider: String,
    /// What happens.
    pub op: Op,
    /// Property-level changes (empty for same, create and delete, which show `inputs`).
    pub diffs: Vec<PropertyDiff>,
    /// The declared inputs (secrets wrapped, unknown parts marked); `Null` for deletes.
    #[serde(serialize_with = "serialize_redacted")]
    pub inputs: Value,
    /// Names this step waits for (creates and updates) or that must be deleted first
    /// (deletes).
    pub dependencies: Vec<String>,
    /// Whether the step is outside `--target` and will not run.
    pub excluded: bool,
    /// For a replacement, the resource's declared warning
    /// ([`crate::ResourceOptions::replacement_warning`]), e.g. that its data is discarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

fn serialize_redacted<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    redact(v).serialize(s)
}

/// A problem that makes a plan impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A protected resource would be deleted or replaced.
    Protected {
        /// The resource.
        name: String,
        /// What the plan wanted to do.
        op: Op,
    },
    /// Evaluating an input transform failed.
    Input {
        /// The resource.
        name: String,
        /// The transform's error.
        message: String,
    },
    /// Inputs known at plan time are invalid.
    Invalid {
        /// The resource.
        name: String,
        /// Every invalid field with its problem.
        fields: Vec<(String, String)>,
    },
    /// The provider a recorded resource needs is not registered on the stack.
    MissingProvider {
        /// The resource.
        name: String,
        /// The provider it was created with.
        provider: String,
    },
    /// A provider's diff failed.
    Diff {
        /// The resource.
        name: String,
        /// The error.
        message: String,
    },
    /// A `--target` names nothing in the stack or state.
    UnknownTarget {
        /// The target.
        name: String,
    },
    /// A data source's arguments or result are unusable.
    DataSource {
        /// The data source.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Not a problem of its own: how this stack's user lifts `protect`, after the
    /// [`PlanError::Protected`] refusals ([`crate::Stack::unprotect_hint`]).
    Unprotect {
        /// What to do.
        how: String,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Protected { name, op } => write!(
                f,
                "{name} is protected and the plan would {} it; remove `protect` first",
                op.verb()
            ),
            PlanError::Input { name, message } => {
                write!(f, "{name}: an input could not be computed: {message}")
            }
            PlanError::Invalid { name, fields } => {
                let list: Vec<String> = fields.iter().map(|(k, m)| format!("`{k}`: {m}")).collect();
                write!(f, "{name}: invalid arguments: {}", list.join("; "))
            }
            PlanError::MissingProvider { name, provider } => write!(
                f,
                "{name} was created by provider `{provider}`, which the stack no longer registers; add it back to delete the resource"
            ),
            PlanError::Diff { name, message } => write!(f, "{name}: {message}"),
            PlanError::UnknownTarget { name } => {
                write!(f, "--target `{name}` is not a resource of this stack")
            }
            PlanError::Unprotect { how } => write!(f, "to lift `protect` here: {how}"),
            PlanError::DataSource { name, message } => write!(f, "data source {name}: {message}"),
        }
    }
}

/// Every problem found while planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hints = |e: &&PlanError| matches!(e, PlanError::Unprotect { .. });
        let problems = self.0.iter().filter(|e| !hints(e)).count();
        writeln!(f, "the plan cannot be made ({problems} problem(s)):")?;
        for e in self.0.iter().filter(|e| !hints(e)) {
            writeln!(f, "  - {e}")?;
        }
        for e in self.0.iter().filter(hints) {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// What to plan for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Limit the run to these resources and what they depend on (and, for destroy, what
    /// depends on them).
    pub targets: Vec<String>,
    /// Plan the deletion of everything recorded.
    pub destroy: bool,
}

/// A plan: the steps in dependency order, and the stack outputs as known now.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Every step, creates and updates in dependency order, then deletes.
    pub steps: Vec<Step>,
    /// Stack outputs with the values known now (unknown markers otherwise); none for a
    /// destroy, which leaves none.
    #[serde(serialize_with = "serialize_redacted_map")]
    pub outputs: BTreeMap<String, Value>,
    /// What the stack references read from other stacks (secrets redacted when shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<crate::engine::reference::ReferenceRead>,
    /// What a refresh before the plan (`--refresh`) found changed outside the stack: the
    /// plan starts from what the cloud holds, so a step that sets a value back shows here
    /// why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// The resources whose operations an interrupted run left unfinished, reconciled
    /// with the cloud before this plan (adopted where the object exists, forgotten where
    /// it does not): the plan starts from what that found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    /// In a preview: the resources whose operations an earlier run left unfinished
    /// (killed, or still running). `up` reconciles them with the cloud before it plans,
    /// so it may have less to do than this plan shows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<String>,
    /// The outputs this plan changes: new, with another value than the one recorded, or
    /// known only after the apply. A plan shows only these (the others stay as they are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs_changed: Vec<String>,
    /// Outputs recorded that the stack no longer declares: the apply drops them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs_removed: Vec<String>,
}

/// What a refresh found of one resource (`gone`, `drifted` or `moved` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// Deleted outside the stack: the next plan creates it again.
    Gone,
    /// Declared settings changed outside the stack: the next plan sets them back.
    Drifted,
    /// Only outputs the cloud reports moved on (a status): nothing to set back.
    Moved,
}

/// One resource a refresh found changed outside the stack ([`Plan::drift`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The resource.
    pub name: String,
    /// What happened to it.
    pub change: DriftKind,
    /// The input keys that changed outside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// The output keys that moved on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

pub(crate) fn serialize_redacted_map<S: serde::Serializer>(
    m: &BTreeMap<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let shown: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, redact(v))).collect();
    shown.serialize(s)
}

impl Plan {
    /// How many steps of each operation will run (excluded steps left out).
    pub fn counts(&self) -> BTreeMap<Op, usize> {
        let mut counts = BTreeMap::new();
        for step in self.steps.iter().filter(|s| !s.excluded) {
            *counts.entry(step.op).or_insert(0) += 1;
        }
        counts
    }

    /// Whether running the plan would change anything.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| !s.excluded && s.op.is_change())
    }
}

/// Outputs known while planning: data-source results, and the recorded outputs of
/// resources that will not be created or replaced.
struct PlanResolver<'a> {
    known: foldhash::HashMap<&'a str, Cow<'a, Value>>,
}

impl Resolver for PlanResolver<'_> {
    fn outputs(&self, resource: &str) -> Option<&Value> {
        self.known.get(resource).map(|v| v.as_ref())
    }
}

/// Recorded outputs with those an update will change replaced by unknown markers.
fn outputs_after_update<'a>(
    name: &str,
    recorded: &'a Value,
    changing: &[String],
) -> Cow<'a, Value> {
    if changing.is_empty() {
        return Cow::Borrowed(recorded);
    }
    let mut outputs = recorded.clone();
    if let Some(map) = outputs.as_object_mut() {
        for key in changing {
            map.insert(key.clone(), crate::value::unknown(format!("{name}.{key}")));
        }
    }
    Cow::Owned(outputs)
}

/// Computes the plan. `data` holds the results of the stack's data sources.
pub fn plan(
    stack: &Stack,
    state: &StackState,
    data: &HashMap<String, Value>,
    options: &PlanOptions,
) -> Result<Plan, PlanErrors> {
    let mut errors = Vec::new();
    let recorded: foldhash::HashMap<&str, &ResourceRecord> = state
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let order = declared_order(stack);
    // One context, its strings overwritten for each resource rather than allocated anew.
    let mut ctx = ResourceContext {
        stack: stack.id().to_string(),
        ..ResourceContext::default()
    };

    // Every data source and, in a no-op preview, every recorded resource ends up here.
    let mut known = foldhash::HashMap::with_capacity_and_hasher(
        data.len() + recorded.len(),
        Default::default(),
    );
    known.extend(data.iter().map(|(k, v)| (k.as_str(), Cow::Borrowed(v))));
    let mut resolver = PlanResolver { known };
    let mut steps = Vec::with_capacity(order.len() + 8);

    if !options.destroy {
        for node in &order {
            if node.kind != NodeKind::Resource {
                continue;
            }
            let record = recorded.get(node.name()).copied();
            match plan_declared(stack, &mut ctx, node, record, &resolver) {
                Ok((step, changing)) => {
                    if matches!(step.op, Op::Same | Op::Update)
                        && let Some(r) = record
                    {
                        resolver.known.insert(
                            node.name(),
                            outputs_after_update(node.name(), &r.outputs, &changing),
                        );
                    }
                    steps.push(step);
                }
                Err(e) => errors.push(e),
            }
        }
    }

    // Recorded resources that are not declared (or everything, for destroy) are deleted,
    // dependents first; old halves of interrupted replacements too.
    let mut deletes: Vec<&ResourceRecord> = state
        .resources
        .iter()
        .filter(|r| options.destroy || stack.get(&r.name).is_none())
        .collect();
    deletes.sort_by(|a, b| a.name.cmp(&b.name));
    for record in reverse_dependency_order(&deletes) {
        if !stack.providers.contains_key(&record.provider) {
            errors.push(PlanError::MissingProvider {
                name: record.name.clone(),
                provider: record.provider.clone(),
            });
            continue;
        }
        let op = if record.options.retain_on_delete {
            Op::Forget
        } else {
            Op::Delete
        };
        if record.options.protect && !record.name.ends_with(REPLACED_SUFFIX) {
            errors.push(PlanError::Protected {
                name: record.name.clone(),
                op,
            });
            continue;
        }
        steps.push(Step {
            name: record.name.clone(),
            type_token: record.type_token.clone(),
            provider: record.provider.clone(),
            op,
            diffs: Vec::new(),
            inputs: Value::Null,
            dependencies: record.dependencies.clone(),
            excluded: false,
            warning: None,
        });
    }

    if !options.targets.is_empty()
        && let Err(mut e) =
            apply_targets(&mut steps, &options.targets, stack, state, options.destroy)
    {
        errors.append(&mut e);
    }

    let mut outputs = BTreeMap::new();
    // A destroy leaves no outputs (and an output that cannot be evaluated never stops one).
    let declared = if options.destroy {
        None
    } else {
        Some(&stack.outputs)
    };
    for (name, node) in declared.into_iter().flatten() {
        match node.eval(&resolver) {
            Ok(v) => {
                outputs.insert(name.clone(), v);
            }
            Err(message) => errors.push(PlanError::Input {
                name: format!("stack output `{name}`"),
                message,
            }),
        }
    }

    if errors.is_empty() {
        let outputs_changed = outputs
            .iter()
            .filter(|(name, v)| contains_unknown(v) || state.outputs.get(*name) != Some(*v))
            .map(|(name, _)| name.clone())
            .collect();
        // A destroy leaves no outputs: none is said to be removed one by one.
        let outputs_removed = if options.destroy {
            Vec::new()
        } else {
            let gone = state.outputs.keys().filter(|k| !outputs.contains_key(*k));
            gone.cloned().collect()
        };
        Ok(Plan {
            steps,
            outputs,
            references: Vec::new(),
            drift: Vec::new(),
            recovered: Vec::new(),
            unfinished: Vec::new(),
            outputs_changed,
            outputs_removed,
        })
    } else {
        let protected = errors
            .iter()
            .any(|e| matches!(e, PlanError::Protected { .. }));
        if let (true, Some(how)) = (protected, &stack.unprotect) {
            errors.push(PlanError::Unprotect { how: how.clone() });
        }
        Err(PlanErrors(errors))
    }
}

fn plan_declared(
    stack: &Stack,
    ctx: &mut ResourceContext,
    node: &Declared,
    recorded: Option<&ResourceRecord>,
    resolver: &PlanResolver<'_>,
) -> Result<(Step, Vec<String>), PlanError> {
    let name = node.name();
    let type_token = node.reference.type_token();
    let provider_name = stack
        .provider_name_for(type_token, node.provider())
        .map_err(|message| PlanError::Diff {
            name: name.to_string(),
            message,
        })?;
    let provider = &stack.providers[provider_name];
    let mut inputs = node
        .inputs
        .eval(resolver)
        .map_err(|message| PlanError::Input {
            name: name.to_string(),
            message,
        })?;
    ctx.name.clear();
    ctx.name.push_str(name);
    ctx.type_token.clear();
    ctx.type_token.push_str(type_token);
    let ctx = &*ctx;
    // Most inputs hold no secret; those are checked as they are, without a revealed copy.
    let invalid = if contains_secret(&inputs) {
        provider.check(ctx, &crate::value::reveal(&inputs))
    } else {
        provider.check(ctx, &inputs)
    };
    if !invalid.is_empty() {
        return Err(PlanError::Invalid {
            name: name.to_string(),
            fields: invalid,
        });
    }
    let dependencies: Vec<String> = node.dependencies().to_vec();
    let mut step = Step {
        name: name.to_string(),
        type_token: type_token.to_string(),
        provider: provider_name.to_string(),
        op: Op::Create,
        diffs: Vec::new(),
        inputs: Value::Null,
        dependencies,
        excluded: false,
        warning: None,
    };
    let Some(old) = recorded else {
        step.inputs = inputs;
        return Ok((step, Vec::new()));
    };

    let mut changing_outputs = Vec::new();
    keep_ignored(&mut inputs, &old.inputs, &node.options().ignore_changes);
    let changed = changed_keys(&old.inputs, &inputs);
    let moved = old.type_token != type_token || old.provider != provider_name;
    let tainted = old.status == ResourceStatus::Tainted;
    step.op = if moved || tainted {
        replace_op(node, false)
    } else if changed.is_empty() {
        Op::Same
    } else {
        let verdict = ask_diff(provider.as_ref(), ctx, old, &inputs, &changed).map_err(|e| {
            PlanError::Diff {
                name: name.to_string(),
                message: e.to_string(),
            }
        })?;
        if changed.iter().all(|k| verdict.equivalent_keys.contains(k)) {
            step.inputs = inputs;
            step.op = Op::Same;
            return Ok((step, Vec::new()));
        }
        step.diffs = property_diffs(&old.inputs, &inputs, &verdict.replace_keys);
        step.diffs.retain(|d| {
            let key = d.path.split(['.', '[']).next().unwrap_or_default();
            !verdict.equivalent_keys.iter().any(|k| k == key)
        });
        changing_outputs = verdict.unknown_outputs;
        if verdict.replace_keys.is_empty() {
            Op::Update
        } else {
            replace_op(node, verdict.delete_before_replace)
        }
    };
    if matches!(step.op, Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst) {
        step.warning = node
            .options()
            .replacement_warning_text()
            .map(str::to_string);
        if step.diffs.is_empty() {
            step.diffs = property_diffs(&old.inputs, &inputs, &[]);
        }
        if node.options().protect || old.options.protect {
            return Err(PlanError::Protected {
                name: name.to_string(),
                op: step.op,
            });
        }
    }
    step.inputs = inputs;
    Ok((step, changing_outputs))
}

/// Asks the provider which of the `changed` keys of a recorded resource force a
/// replacement (plan and apply ask the same question, apply once values are known).
pub(crate) fn ask_diff(
    provider: &dyn crate::provider::Provider,
    ctx: &ResourceContext,
    old: &ResourceRecord,
    inputs: &Value,
    changed: &[String],
) -> Result<crate::provider::DiffResponse, crate::provider::ProviderError> {
    provider.diff(&DiffRequest {
        ctx,
        id: &old.id,
        old_inputs: &old.inputs,
        new_inputs: inputs,
        old_outputs: &old.outputs,
        changed_keys: changed,
    })
}

/// Ignored keys keep their recorded values, whatever the code or the cloud says.
pub(crate) fn keep_ignored(inputs: &mut Value, recorded: &Value, keys: &[String]) {
    if let (Some(new_map), Some(old_map)) = (inputs.as_object_mut(), recorded.as_object()) {
        for key in keys {
            match old_map.get(key) {
                Some(v) => new_map.insert(key.clone(), v.clone()),
                None => new_map.remove(key),
            };
        }
    }
}

fn replace_op(node: &Declared, provider_says_delete_first: bool) -> Op {
    if node.options().delete_before_replace || provider_says_delete_first {
        Op::ReplaceDeleteFirst
    } else {
        Op::ReplaceCreateFirst
    }
}

/// The top-level keys whose values differ between recorded and declared inputs; a key
/// whose declared value is unknown counts as changed.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let changed = |a: Option<&Value>, b: Option<&Value>| match (a, b) {
        (Some(a), Some(b)) => a != b || contains_unknown(b),
        // An absent key and a null are the same declaration.
        (None, Some(Value::Null)) | (Some(Value::Null), None) => false,
        _ => true,
    };
    // Declared keys, then recorded keys no longer declared: each key is looked up once
    // (this runs for every resource of every preview).
    let mut keys: Vec<String> = new
        .iter()
        .filter(|(k, v)| changed(old.get(*k), Some(v)))
        .chain(
            old.iter()
                .filter(|(k, v)| !new.contains_key(*k) && changed(Some(v), None)),
        )
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort_unstable();
    keys
}

/// Property-level differences for display, descending into objects; secrets redacted.
pub fn property_diffs(old: &Value, new: &Value, replace_keys: &[String]) -> Vec<PropertyDiff> {
    let mut out = Vec::new();
    for key in changed_keys(old, new) {
        let replaces = replace_keys.contains(&key);
        diff_into(&mut out, &key, old.get(&key), new.get(&key), replaces);
    }
    out
}

fn diff_into(
    out: &mut Vec<PropertyDiff>,
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    replaces: bool,
) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b)))
            if !crate::value::is_secret(old.unwrap_or(&Value::Null))
                && !crate::value::is_secret(new.unwrap_or(&Value::Null))
                && unknown_source(new.unwrap_or(&Value::Null)).is_none() =>
        {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (a.get(k), b.get(k));
                if x != y || y.is_some_and(contains_unknown) {
                    diff_into(out, &format!("{path}.{k}"), x, y, replaces);
                }
            }
        }
        _ => out.push(PropertyDiff {
            path: path.to_string(),
            old: old.map(redact),
            new: new.map(redact),
            replaces,
        }),
    }
}

/// The declared nodes in a dependency order (dependencies first, then declaration order).
fn declared_order(stack: &Stack) -> Vec<&Declared> {
    let nodes = stack.declared();
    stack
        .resolved()
        .graph
        .order()
        .into_iter()
        .map(|i| &nodes[i])
        .collect()
}

/// Records ordered so that every resource comes before the resources it depends on.
fn reverse_dependency_order<'a>(records: &[&'a ResourceRecord]) -> Vec<&'a ResourceRecord> {
    let index: foldhash::HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    // Reverse edges: a record "depends" (for deletion) on the records that depend on it.
    let index = &index;
    let edges = records.iter().enumerate().flat_map(|(i, r)| {
        r.dependencies
            .iter()
            .filter_map(move |d| index.get(d.as_str()).map(|&j| (j, i)))
    });
    IndexGraph::from_edges(records.len(), edges)
        .order()
        .into_iter()
        .map(|i| records[i])
        .collect()
}

/// Marks steps outside the targets (and what they need) as excluded.
fn apply_targets(
    steps: &mut [Step],
    targets: &[String],
    stack: &Stack,
    state: &StackState,
    destroy: bool,
) -> Result<(), Vec<PlanError>> {
    let known: HashSet<&str> = stack
        .declared()
        .iter()
        .map(Declared::name)
        .chain(state.resources.iter().map(|r| r.name.as_str()))
        .collect();
    let missing: Vec<PlanError> = targets
        .iter()
        .filter(|t| !known.contains(t.as_str()))
        .map(|t| PlanError::UnknownTarget { name: t.clone() })
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    // Creates and updates take their dependencies along; deletes take their dependents
    // (which must go first).
    let mut wanted: HashSet<String> = targets.iter().cloned().collect();
    let deps_of: HashMap<&str, &Vec<String>> = steps
        .iter()
        .map(|s| (s.name.as_str(), &s.dependencies))
        .collect();
    let mut dependents_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in steps.iter() {
        for d in &s.dependencies {
            dependents_of
                .entry(d.as_str())
                .or_default()
                .push(s.name.as_str());
        }
    }
    let mut queue: Vec<String> = targets.to_vec();
    while let Some(name) = queue.pop() {
        let next: Vec<String> = if destroy {
            dependents_of
                .get(name.as_str())
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        } else {
            deps_of
                .get(name.as_str())
                .map(|v| (*v).clone())
                .unwrap_or_default()
        };
        for n in next {
            if wanted.insert(n.clone()) {
                queue.push(n);
            }
        }
    }
    for step in steps.iter_mut() {
        let base = step
            .name
            .strip_suffix(REPLACED_SUFFIX)
            .unwrap_or(&step.name);
        step.excluded = !wanted.contains(base);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_keys_are_sorted_and_treat_absent_as_null() {
        let old = json!({"z": 1, "a": "x", "gone": true, "was_null": null, "same": [1, 2]});
        let new = json!({
            "a": "y",
            "z": 1,
            "same": [1, 2],
            "added": 3,
            "null_now": null,
            "later": crate::value::unknown("vpc.id"),
        });
        // Changed: `a` (value), `added`, `gone` (removed), `later` (unknown). Not changed:
        // `z` and `same` (equal), `was_null` (null then absent), `null_now` (absent then
        // null).
        assert_eq!(changed_keys(&old, &new), ["a", "added", "gone", "later"]);
        assert!(changed_keys(&new, &new.clone()).contains(&"later".to_string()));
        assert!(changed_keys(&old, &old.clone()).is_empty());
        assert_eq!(changed_keys(&Value::Null, &json!({"k": 1})), ["k"]);
    }
}

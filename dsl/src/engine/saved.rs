//! Saved plans: `preview --out FILE` writes the plan with fingerprints of the state and
//! of the declarations it was made from; `up --plan FILE` applies exactly that plan, and
//! refuses, naming what moved, when the state, the declarations or the plan computed
//! again differ.
//!
//! The file holds no secret: the plan is stored as every display shows it (secrets
//! `[secret]`), and the fingerprints are SHA-256 digests of canonical JSON in which every
//! secret is replaced by the same marker. So a secret's value is not hashed either; a
//! change of a secret alone shows as a state change through the record's write time, or
//! as a different plan when `up` computes it again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use iac_state::{StackId, StackState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::stack::{NodeKind, Stack};
use crate::value::redact;

/// The `format` field of every saved plan.
pub const PLAN_FORMAT: &str = "iac-saved-plan";
/// The version of the saved-plan format this engine writes and reads.
pub const PLAN_VERSION: u32 = 1;

/// Digests of a set of named items (resources, outputs, providers) and of all together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256 (hex) over every item's name and digest.
    pub digest: String,
    /// Each item's SHA-256 (hex), by name (`output:NAME` and `provider:NAME` for those).
    pub items: BTreeMap<String, String>,
}

impl Fingerprint {
    fn of(items: BTreeMap<String, Value>) -> Fingerprint {
        let items: BTreeMap<String, String> =
            items.into_iter().map(|(k, v)| (k, digest(&v))).collect();
        let all = digest(&serde_json::to_value(&items).unwrap_or(Value::Null));
        Fingerprint { digest: all, items }
    }

    /// The names whose digest differs, or that only one side has, sorted.
    pub fn moved(&self, now: &Fingerprint) -> Vec<String> {
        if self.digest == now.digest {
            return Vec::new();
        }
        let names: BTreeSet<&String> = self.items.keys().chain(now.items.keys()).collect();
        names
            .into_iter()
            .filter(|n| self.items.get(*n) != now.items.get(*n))
            .cloned()
            .collect()
    }
}

/// A plan saved by `preview --out`, as written to its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// The format's version ([`PLAN_VERSION`]).
    pub version: u32,
    /// The engine version that wrote it; another version refuses it.
    pub engine: String,
    /// The stack it was made for.
    pub stack: StackId,
    /// Whether it is a destroy plan.
    pub destroy: bool,
    /// The `--target`s it was made with.
    pub targets: Vec<String>,
    /// The stack's recorded resources and outputs, as loaded for the plan.
    pub state: Fingerprint,
    /// The declarations it was made from.
    pub declarations: Fingerprint,
    /// The plan, as `preview --json` shows it (secrets redacted).
    pub plan: Value,
    /// The names of the configuration values the preview was given on its command line
    /// (`--set NAME=...`), to remind `up --plan` of them when the declarations moved. Names
    /// only: a value may be a secret, and the file holds none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// What changed since a saved plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanMoved {
    /// The saved plan's file, as given.
    pub file: String,
    /// The stack.
    pub stack: String,
    /// Recorded resources (and `output:NAME`s) that changed, appeared or went.
    pub state: Vec<String>,
    /// Declared resources (and outputs, providers) that changed, appeared or went.
    pub declarations: Vec<String>,
    /// Steps, outputs or references of the plan computed now that differ from the
    /// saved ones (a data source or another stack's outputs read differently).
    pub plan: Vec<String>,
    /// The configuration names the preview was given with `--set`
    /// ([`SavedPlan::overrides`]).
    pub overrides: Vec<String>,
}

impl PlanMoved {
    fn is_empty(&self) -> bool {
        self.state.is_empty() && self.declarations.is_empty() && self.plan.is_empty()
    }
}

impl fmt::Display for PlanMoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the saved plan {} no longer applies to stack {}; nothing was changed:",
            self.file, self.stack
        )?;
        let parts = [
            ("the state changed since the plan was made", &self.state),
            (
                "the declarations changed since the plan was made",
                &self.declarations,
            ),
            (
                "the plan computed now differs from the saved one",
                &self.plan,
            ),
        ];
        for (what, names) in parts {
            if !names.is_empty() {
                writeln!(f, "  - {what}: {}", names.join(", "))?;
            }
        }
        let declared_otherwise = !self.declarations.is_empty() || !self.plan.is_empty();
        if declared_otherwise && !self.overrides.is_empty() {
            let given: Vec<String> = self
                .overrides
                .iter()
                .map(|n| format!("`--set {n}=...`"))
                .collect();
            writeln!(
                f,
                "    the preview was given {}: `up --plan` needs the same values (the file keeps only their names)",
                given.join(", ")
            )?;
        }
        write!(f, "run `preview --out FILE` again and review the new plan")
    }
}

impl SavedPlan {
    /// The saved form of `plan`, made for `stack` from `state` (as loaded, before any
    /// refresh) with these `targets`.
    pub fn new(
        stack: &Stack,
        state: &StackState,
        plan: &Plan,
        destroy: bool,
        targets: &[String],
    ) -> SavedPlan {
        SavedPlan {
            format: PLAN_FORMAT.to_string(),
            version: PLAN_VERSION,
            engine: env!("CARGO_PKG_VERSION").to_string(),
            stack: stack.id().clone(),
            destroy,
            targets: targets.to_vec(),
            state: state_fingerprint(state),
            declarations: declaration_fingerprint(stack),
            plan: plan_value(plan),
            overrides: Vec::new(),
        }
    }

    /// The same plan, noting that its preview was given `--set` overrides (each
    /// `NAME=VALUE`): their names are kept, never their values.
    pub fn with_overrides(mut self, overrides: &[String]) -> SavedPlan {
        self.overrides = overrides
            .iter()
            .map(|o| {
                o.split_once('=')
                    .map_or(o.as_str(), |(n, _)| n)
                    .trim()
                    .to_string()
            })
            .collect();
        self
    }

    /// Writes the plan to `path` (replacing it atomically).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| format!("cannot serialize the plan: {e}"))?;
        crate::asset::write_atomically(path, &text)
            .map_err(|e| format!("cannot write the plan to {}: {e}", path.display()))
    }

    /// Reads a saved plan, refusing a file that is not one, or of another format version
    /// or engine version, with an error naming the file and the field.
    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let shown = path.display();
        let text = std::fs::read(path).map_err(|e| format!("cannot read the plan {shown}: {e}"))?;
        let doc: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{shown} is not a saved plan: not valid JSON ({e})"))?;
        match doc.get("format").and_then(Value::as_str) {
            Some(PLAN_FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "{shown} is not a saved plan: its `format` is `{other}`, not `{PLAN_FORMAT}`"
                ));
            }
            None => {
                return Err(format!(
                    "{shown} is not a saved plan: it has no `format` field (`{PLAN_FORMAT}`)"
                ));
            }
        }
        match doc.get("version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(PLAN_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "{shown}: saved plan `version` {v} is not supported; this engine reads version {PLAN_VERSION}"
                ));
            }
            None => return Err(format!("{shown}: the saved plan has no numeric `version`")),
        }
        let saved: SavedPlan = serde_json::from_value(doc)
            .map_err(|e| format!("{shown}: the saved plan is malformed: {e}"))?;
        let engine = env!("CARGO_PKG_VERSION");
        if saved.engine != engine {
            return Err(format!(
                "{shown} was made by engine version {} (`engine`); this is {engine}: run `preview --out` again with this version",
                saved.engine
            ));
        }
        Ok(saved)
    }

    /// Refuses a plan made for another stack.
    pub fn check_stack(&self, stack: &StackId, file: &str) -> Result<(), String> {
        if &self.stack == stack {
            Ok(())
        } else {
            Err(format!(
                "{file} is a plan for stack {} (`stack`), not for {stack}",
                self.stack
            ))
        }
    }

    /// Refuses when the state as loaded now or the declarations moved since this plan
    /// was made, naming the resources (checked before data sources are read).
    pub(crate) fn refuse_moved(
        &self,
        file: &str,
        stack: &Stack,
        state: &StackState,
    ) -> Result<(), PlanMoved> {
        let moved = PlanMoved {
            file: file.to_string(),
            stack: stack.id().to_string(),
            state: self.state.moved(&state_fingerprint(state)),
            declarations: self.declarations.moved(&declaration_fingerprint(stack)),
            plan: Vec::new(),
            overrides: self.overrides.clone(),
        };
        if moved.is_empty() { Ok(()) } else { Err(moved) }
    }

    /// Refuses when `plan`, computed now, differs from the saved one (step by step,
    /// output by output, reference by reference): a data source or another stack's
    /// outputs read differently.
    pub(crate) fn refuse_other_plan(
        &self,
        file: &str,
        stack: &StackId,
        plan: &Plan,
    ) -> Result<(), PlanMoved> {
        let differences = plan_differences(&self.plan, &plan_value(plan));
        if differences.is_empty() {
            return Ok(());
        }
        Err(PlanMoved {
            file: file.to_string(),
            stack: stack.to_string(),
            plan: differences,
            overrides: self.overrides.clone(),
            ..PlanMoved::default()
        })
    }
}

/// The plan as shown (secrets redacted by its serialization).
fn plan_value(plan: &Plan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

/// The names of the steps, outputs and references that differ between two plans.
fn plan_differences(saved: &Value, now: &Value) -> Vec<String> {
    let keyed = |v: &Value, list: &str, key: &str, prefix: &str| -> BTreeMap<String, Value> {
        v[list]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        let name = i[key].as_str().unwrap_or_default();
                        (format!("{prefix}{name}"), i.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let outputs = |v: &Value| -> BTreeMap<String, Value> {
        v["outputs"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (format!("output:{k}"), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut a = keyed(saved, "steps", "name", "");
    a.extend(keyed(saved, "references", "name", "reference:"));
    a.extend(outputs(saved));
    let mut b = keyed(now, "steps", "name", "");
    b.extend(keyed(now, "references", "name", "reference:"));
    b.extend(outputs(now));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .cloned()
        .collect()
}

/// Fingerprints the stack's records as loaded: each resource (type, provider, id, inputs,
/// outputs, dependencies, options, status and when it was last written) and each output.
pub fn state_fingerprint(state: &StackState) -> Fingerprint {
    let mut items = BTreeMap::new();
    for r in &state.resources {
        items.insert(
            r.name.clone(),
            json!({
                "type": r.type_token,
                "provider": r.provider,
                "id": r.id,
                "inputs": r.inputs,
                "outputs": r.outputs,
                "dependencies": r.dependencies,
                "options": r.options,
                "status": r.status,
                "updated_at": r.updated_at,
            }),
        );
    }
    for (name, v) in &state.outputs {
        items.insert(format!("output:{name}"), v.clone());
    }
    Fingerprint::of(items)
}

/// Fingerprints the declarations: each resource, data source and stack reference (kind,
/// type, provider, options, dependencies and inputs as known at declaration), each stack
/// output's expression, and each provider's package and region.
pub fn declaration_fingerprint(stack: &Stack) -> Fingerprint {
    let mut items = BTreeMap::new();
    for node in stack.declared() {
        let provider = match node.kind {
            NodeKind::Reference => None,
            _ => stack
                .provider_name_for(node.reference.type_token(), node.provider())
                .ok(),
        };
        items.insert(
            node.name().to_string(),
            json!({
                "kind": format!("{:?}", node.kind),
                "type": node.reference.type_token(),
                "provider": provider,
                "options": crate::apply::options_record(node),
                "dependencies": node.dependencies(),
                "inputs": node.declared_inputs(),
            }),
        );
    }
    for (name, node) in &stack.outputs {
        items.insert(
            format!("output:{name}"),
            node.eval(&crate::stack::NothingKnown)
                .unwrap_or(Value::Null),
        );
    }
    for (name, provider) in &stack.providers {
        items.insert(
            format!("provider:{name}"),
            json!({ "package": provider.package(), "region": provider.region() }),
        );
    }
    Fingerprint::of(items)
}

/// SHA-256 (hex) of the canonical JSON of `v` with every secret redacted: object keys
/// sorted at every level, so the digest does not depend on the order keys were written.
fn digest(v: &Value) -> String {
    let text = canonical(&redact(v)).to_string();
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_digests_ignore_key_order_and_never_hash_a_secret() {
        let a = json!({"b": 1, "a": {"y": 2, "x": 3}});
        let b = json!({"a": {"x": 3, "y": 2}, "b": 1});
        assert_eq!(digest(&a), digest(&b));
        // Two different secrets digest alike: the value itself is never hashed.
        assert_eq!(
            digest(&json!({"pw": {"$secret": "one"}})),
            digest(&json!({"pw": {"$secret": "two"}}))
        );
    }

    #[test]
    fn moved_names_changed_added_and_removed_items() {
        let before = Fingerprint::of(
            [("a", json!(1)), ("b", json!(2)), ("c", json!(3))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
        let after = Fingerprint::of(
            [("a", json!(1)), ("b", json!(9)), ("d", json!(4))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
        assert_eq!(before.moved(&after), ["b", "c", "d"]);
        assert!(before.moved(&before.clone()).is_empty());
    }
}

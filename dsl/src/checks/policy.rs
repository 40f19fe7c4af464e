//! Policies: rules over the planned stack, checked at preview and before `up` sends any
//! request.
//!
//! A [`Policy`] sees one resource at a time as a [`Subject`]: its type, its planned inputs
//! (values known only after apply appear as `{"$unknown": ..}` markers, secrets stay
//! wrapped), its provider and region, whether it is protected, and its neighbours in the
//! dependency graph (what it refers to and what refers to it), so a rule can say "a bucket
//! needs an encryption configuration that names it". It returns [`Violation`]s naming the
//! field and a fix. The engine knows no resource type: providers bring their packs
//! ([`crate::Provider::policies`]), a stack adds its own ([`crate::Stack::add_policy`]),
//! changes a level ([`crate::Stack::set_policy_level`]) and waives a policy for a named
//! resource with a recorded reason ([`crate::Stack::waive`]). Waived findings stay in the
//! report, with their reason.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stack::{NodeKind, Stack};

/// How much a policy's violation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `up` refuses before any request while an unwaived violation remains.
    Mandatory,
    /// Shown, never blocking.
    Advisory,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Mandatory => "mandatory",
            Level::Advisory => "advisory",
        })
    }
}

/// What every policy may know about the stack as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyContext {
    /// Whether the stack's configuration says it is production (rules such as "backups of
    /// at least 7 days" apply only there).
    pub production: bool,
}

/// A resource next to the subject in the dependency graph.
#[derive(Debug, Clone, Copy)]
pub struct Neighbour<'a> {
    /// Logical name.
    pub name: &'a str,
    /// Type token.
    pub type_token: &'a str,
    /// Planned inputs (unknown markers where known only after apply).
    pub inputs: &'a Value,
    /// The region of its provider, when the provider has one.
    pub region: Option<&'a str>,
}

/// One planned resource, as a policy sees it.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// Logical name.
    pub name: &'a str,
    /// Type token.
    pub type_token: &'a str,
    /// Planned inputs: values known only after apply are `{"$unknown": ..}` markers.
    pub inputs: &'a Value,
    /// The provider's name in the stack.
    pub provider: &'a str,
    /// The provider's region, when it has one.
    pub region: Option<&'a str>,
    /// Whether the engine's `protect` option is set.
    pub protect: bool,
    /// What it refers to (its dependencies).
    pub dependencies: Vec<Neighbour<'a>>,
    /// What refers to it (its dependents).
    pub dependents: Vec<Neighbour<'a>>,
}

impl Subject<'_> {
    /// The input at dotted `path` (`vpc_config.subnet_ids`), if set and not null.
    pub fn input(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.inputs, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    }
}

/// One broken rule on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The input field at fault (dotted), or the missing companion resource's role.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Violation {
            field: field.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// A rule over planned resources. Pure: no I/O.
pub trait Policy: Send + Sync + 'static {
    /// A stable identifier, used by waivers and level changes (`s3-public-access-blocked`).
    fn id(&self) -> &str;

    /// One sentence saying what the rule demands.
    fn description(&self) -> &str;

    /// Its default level; a stack may change it.
    fn level(&self) -> Level {
        Level::Mandatory
    }

    /// Every violation of the rule by `subject`; empty when it passes or does not apply.
    fn check(&self, subject: &Subject<'_>, context: &PolicyContext) -> Vec<Violation>;
}

/// A policy waived for one resource, with the reason recorded in the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// The policy's id.
    pub policy: String,
    /// The resource's logical name (component prefixes included).
    pub resource: String,
    /// Why the rule does not hold here; shown beside the finding.
    pub reason: String,
}

/// One violation found, with its level after the stack's changes, and its waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The policy's id.
    pub policy: String,
    /// Its level in this stack.
    pub level: Level,
    /// The resource.
    pub resource: String,
    /// Its type.
    pub type_token: String,
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The waiver's reason, when the stack waives this policy for this resource.
    pub waived: Option<String>,
}

impl Finding {
    /// Whether it stops `up`: mandatory and not waived.
    pub fn blocks(&self) -> bool {
        self.level == Level::Mandatory && self.waived.is_none()
    }
}

/// One policy that ran, and how it fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// The policy's id.
    pub id: String,
    /// What it demands.
    pub description: String,
    /// Its level in this stack.
    pub level: Level,
    /// Violations found (waived ones included).
    pub violations: usize,
    /// Of those, how many are waived.
    pub waived: usize,
}

/// The result of every policy over the stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// Whether the production rules applied.
    pub production: bool,
    /// Every policy that ran, in id order.
    pub policies: Vec<PolicySummary>,
    /// Every violation, by resource then policy.
    pub findings: Vec<Finding>,
}

impl PolicyReport {
    /// The findings that stop `up`.
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.blocks())
    }

    /// Whether nothing stops `up`.
    pub fn passes(&self) -> bool {
        self.blocking().next().is_none()
    }
}

impl fmt::Display for PolicyReport {
    /// The blocking findings, one per line (for errors).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocking: Vec<&Finding> = self.blocking().collect();
        writeln!(
            f,
            "{} mandatory policy violation(s); nothing was sent:",
            blocking.len()
        )?;
        for v in blocking {
            writeln!(
                f,
                "  - [{}] {} ({}): `{}`: {} (fix: {})",
                v.policy, v.resource, v.type_token, v.field, v.message, v.hint
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyReport {}

/// The stack's policy settings: its own policies, level changes, waivers, production.
#[derive(Default, Clone)]
pub(crate) struct PolicySettings {
    pub(crate) own: Vec<Arc<dyn Policy>>,
    pub(crate) levels: BTreeMap<String, Level>,
    pub(crate) waivers: Vec<Waiver>,
    pub(crate) production: bool,
}

/// Every policy that applies to `stack`: the packs of its providers (one per package),
/// then its own, a later policy of the same id replacing an earlier one.
pub(crate) fn policies_of(stack: &Stack) -> BTreeMap<String, Arc<dyn Policy>> {
    let mut all: BTreeMap<String, Arc<dyn Policy>> = BTreeMap::new();
    let mut packages = std::collections::BTreeSet::new();
    for provider in stack.providers.values() {
        if packages.insert(provider.package().to_string()) {
            for p in provider.policies() {
                all.insert(p.id().to_string(), p);
            }
        }
    }
    for p in &stack.policy.own {
        all.insert(p.id().to_string(), p.clone());
    }
    all
}

/// Problems with the stack's waivers and level changes (unknown policy or resource, no
/// reason), as `(subject, message)`, for validation.
pub(crate) fn settings_problems(stack: &Stack) -> Vec<(String, String)> {
    let known = policies_of(stack);
    let mut problems = Vec::new();
    for w in &stack.policy.waivers {
        let subject = format!("waiver of `{}` for `{}`", w.policy, w.resource);
        if !known.contains_key(&w.policy) {
            problems.push((subject.clone(), unknown_policy(&w.policy, &known)));
        }
        if stack.find(&w.resource).is_none() {
            problems.push((
                subject.clone(),
                format!("`{}` is not a resource of this stack", w.resource),
            ));
        }
        if w.reason.trim().is_empty() {
            problems.push((subject, "a waiver needs a reason".into()));
        }
    }
    for id in stack.policy.levels.keys() {
        if !known.contains_key(id) {
            problems.push((format!("level of `{id}`"), unknown_policy(id, &known)));
        }
    }
    problems
}

fn unknown_policy(id: &str, known: &BTreeMap<String, Arc<dyn Policy>>) -> String {
    let ids: Vec<&str> = known.keys().map(String::as_str).collect();
    format!("no policy `{id}` (known: {})", ids.join(", "))
}

/// Runs every policy over every declared resource, on its planned inputs as declared:
/// constants known, every reference an `{"$unknown": "<resource>.<field>"}` marker naming
/// its source, so that a rule can follow it to the neighbour it names. The same view
/// serves `preview`, `preview --policy-only` and `up` (which checks before any request),
/// so they never disagree. Pure.
pub fn evaluate(stack: &Stack) -> PolicyReport {
    let policies = policies_of(stack);
    if policies.is_empty() {
        return PolicyReport::default();
    }
    let context = PolicyContext {
        production: stack.policy.production,
    };
    let nodes = stack.declared();
    let declared: Vec<Value> = nodes.iter().map(|n| n.declared_inputs()).collect();
    let inputs = |i: usize| -> &Value { &declared[i] };
    let regions: Vec<Option<&str>> = nodes.iter().map(|n| stack.region_of(n)).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut dependencies: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for dep in node.dependencies() {
            if let Some(j) = stack.index_of(dep) {
                dependencies[i].push(j);
                dependents[j].push(i);
            }
        }
    }
    let neighbour = |j: usize| Neighbour {
        name: nodes[j].name(),
        type_token: nodes[j].reference.type_token(),
        inputs: inputs(j),
        region: regions[j],
    };
    let mut summaries: BTreeMap<&str, PolicySummary> = policies
        .iter()
        .map(|(id, p)| {
            let level = stack.policy.levels.get(id).copied().unwrap_or(p.level());
            let summary = PolicySummary {
                id: id.clone(),
                description: p.description().to_string(),
                level,
                violations: 0,
                waived: 0,
            };
            (id.as_str(), summary)
        })
        .collect();
    let mut findings = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.kind != NodeKind::Resource {
            continue;
        }
        let subject = Subject {
            name: node.name(),
            type_token: node.reference.type_token(),
            inputs: inputs(i),
            provider: stack
                .provider_name_for(node.reference.type_token(), node.provider())
                .unwrap_or_default(),
            region: regions[i],
            protect: node.options().protect,
            dependencies: dependencies[i].iter().map(|&j| neighbour(j)).collect(),
            dependents: dependents[i].iter().map(|&j| neighbour(j)).collect(),
        };
        for (id, policy) in &policies {
            for v in policy.check(&subject, &context) {
                let waived = stack
                    .policy
                    .waivers
                    .iter()
                    .find(|w| &w.policy == id && w.resource == node.name())
                    .map(|w| w.reason.clone());
                let Some(summary) = summaries.get_mut(id.as_str()) else {
                    continue;
                };
                summary.violations += 1;
                summary.waived += usize::from(waived.is_some());
                findings.push(Finding {
                    policy: id.clone(),
                    level: summary.level,
                    resource: node.name().to_string(),
                    type_token: node.reference.type_token().to_string(),
                    field: v.field,
                    message: v.message,
                    hint: v.hint,
                    waived,
                });
            }
        }
    }
    PolicyReport {
        production: context.production,
        policies: summaries.into_values().collect(),
        findings,
    }
}

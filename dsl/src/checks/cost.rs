//! The monthly cost estimate of a plan: per resource, per region, the total, and the
//! change the plan makes.
//!
//! The engine knows no price: a provider brings a [`CostModel`]
//! ([`crate::Provider::cost_model`]) that prices one resource from its type, planned
//! inputs and region, using usage assumptions it names and defaults (requests per month,
//! GB stored) and the stack may override ([`crate::Stack::set_usage`]). "Before" prices
//! the recorded state, "after" the declared stack, both with the same assumptions, so the
//! change is what the plan does, not what the assumptions do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use iac_state::StackState;
use serde::Serialize;
use serde_json::Value;

use crate::plan::{Op, Plan, REPLACED_SUFFIX};
use crate::stack::{NodeKind, Stack};

/// A named usage figure a cost model needs, with its default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumption {
    /// Its name, as the stack's configuration overrides it (`lambda_requests_per_month`).
    pub name: String,
    /// What it counts and per what (`requests per month, per function`).
    pub description: String,
    /// The default.
    pub default: f64,
}

/// The usage figures in force: each assumption's default unless the stack overrides it.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    values: BTreeMap<String, f64>,
}

impl Usage {
    /// The value of assumption `name` (0 when nothing names it).
    pub fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(0.0)
    }
}

/// One priced item of a resource: quantity times unit price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    /// What is priced (`instance hours (db.r6g.large)`).
    pub item: String,
    /// How many units a month.
    pub quantity: f64,
    /// The unit (`hour`, `GB-month`, `1M requests`).
    pub unit: String,
    /// USD per unit.
    pub unit_price: f64,
    /// USD per month: quantity times unit price.
    pub monthly: f64,
}

impl CostLine {
    /// A line of `quantity` units at `unit_price`.
    pub fn new(
        item: impl Into<String>,
        quantity: f64,
        unit: impl Into<String>,
        unit_price: f64,
    ) -> Self {
        CostLine {
            item: item.into(),
            quantity,
            unit: unit.into(),
            unit_price,
            monthly: quantity * unit_price,
        }
    }
}

/// One resource as a cost model sees it.
#[derive(Debug, Clone, Copy)]
pub struct CostSubject<'a> {
    /// Logical name.
    pub name: &'a str,
    /// Type token.
    pub type_token: &'a str,
    /// Planned (or recorded) inputs; unknown markers where known only after apply.
    pub inputs: &'a Value,
    /// The provider's region.
    pub region: &'a str,
}

/// Prices resources of one package. Pure: prices are data the model carries.
pub trait CostModel: Send + Sync + 'static {
    /// The usage assumptions it reads, with their defaults.
    fn assumptions(&self) -> Vec<Assumption>;

    /// The monthly lines of one resource (empty for a free type), or why it cannot be
    /// priced (an instance class or region the price list lacks).
    fn estimate(&self, subject: &CostSubject<'_>, usage: &Usage) -> Result<Vec<CostLine>, String>;
}

/// One priced resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceCost {
    /// Logical name.
    pub name: String,
    /// Type token.
    pub type_token: String,
    /// Region.
    pub region: String,
    /// USD per month.
    pub monthly: f64,
    /// Its lines.
    pub lines: Vec<CostLine>,
}

/// A resource without a price: why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unpriced {
    /// Logical name.
    pub name: String,
    /// Type token.
    pub type_token: String,
    /// Why.
    pub reason: String,
}

/// An assumption as used: its value and whether the stack changed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssumptionUsed {
    /// Name.
    pub name: String,
    /// What it counts.
    pub description: String,
    /// The value used.
    pub value: f64,
    /// The model's default.
    pub default: f64,
}

/// The estimate of a plan, in USD per month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostReport {
    /// Every resource the stack will run that has a price (free ones at 0), by name.
    pub resources: Vec<ResourceCost>,
    /// Monthly total per region.
    pub regions: BTreeMap<String, f64>,
    /// Monthly total after the plan.
    pub total: f64,
    /// Monthly total of what the state records now.
    pub before: f64,
    /// `total - before`: what this plan changes.
    pub change: f64,
    /// Resources no model could price, with the reason (counted in no total).
    pub unpriced: Vec<Unpriced>,
    /// The usage assumptions in force.
    pub assumptions: Vec<AssumptionUsed>,
}

/// The cost models of the stack's providers, one per package.
fn models_of(stack: &Stack) -> BTreeMap<String, Arc<dyn CostModel>> {
    let mut models = BTreeMap::new();
    for provider in stack.providers.values() {
        if let Some(model) = provider.cost_model() {
            models
                .entry(provider.package().to_string())
                .or_insert(model);
        }
    }
    models
}

/// Every assumption the stack's models name (first default wins), and the overrides the
/// stack sets that no model names (for validation).
pub(crate) fn usage_of(stack: &Stack) -> (Usage, Vec<AssumptionUsed>, Vec<String>) {
    let mut values = BTreeMap::new();
    let mut used = Vec::new();
    let mut named = BTreeSet::new();
    for model in models_of(stack).values() {
        for a in model.assumptions() {
            if !named.insert(a.name.clone()) {
                continue;
            }
            let value = stack.usage.get(&a.name).copied().unwrap_or(a.default);
            values.insert(a.name.clone(), value);
            used.push(AssumptionUsed {
                name: a.name,
                description: a.description,
                value,
                default: a.default,
            });
        }
    }
    let unknown = stack
        .usage
        .keys()
        .filter(|k| !named.contains(*k))
        .cloned()
        .collect();
    (Usage { values }, used, unknown)
}

/// Estimates the monthly cost of `plan` over `state`. Pure.
pub fn estimate(stack: &Stack, state: &StackState, plan: &Plan) -> CostReport {
    let models = models_of(stack);
    if models.is_empty() {
        return CostReport::default();
    }
    let (usage, assumptions, _) = usage_of(stack);
    let mut report = CostReport {
        assumptions,
        ..CostReport::default()
    };
    let price = |name: &str, type_token: &str, inputs: &Value, provider: &str| {
        let package = type_token.split(':').next().unwrap_or_default();
        let model = models.get(package)?;
        let region = stack
            .providers
            .get(provider)
            .and_then(|p| p.region())
            .unwrap_or_default();
        let subject = CostSubject {
            name,
            type_token,
            inputs,
            region,
        };
        Some((region.to_string(), model.estimate(&subject, &usage)))
    };
    // After: every declared resource the plan keeps or makes.
    for step in &plan.steps {
        if matches!(step.op, Op::Delete | Op::Forget) || step.name.ends_with(REPLACED_SUFFIX) {
            continue;
        }
        if stack
            .find(&step.name)
            .is_some_and(|n| n.kind != NodeKind::Resource)
        {
            continue;
        }
        match price(&step.name, &step.type_token, &step.inputs, &step.provider) {
            None => report.unpriced.push(Unpriced {
                name: step.name.clone(),
                type_token: step.type_token.clone(),
                reason: "no cost model for its package".into(),
            }),
            Some((_, Err(reason))) => report.unpriced.push(Unpriced {
                name: step.name.clone(),
                type_token: step.type_token.clone(),
                reason,
            }),
            Some((region, Ok(lines))) => {
                let monthly: f64 = lines.iter().map(|l| l.monthly).sum();
                if !region.is_empty() {
                    *report.regions.entry(region.clone()).or_insert(0.0) += monthly;
                }
                report.total += monthly;
                report.resources.push(ResourceCost {
                    name: step.name.clone(),
                    type_token: step.type_token.clone(),
                    region,
                    monthly,
                    lines,
                });
            }
        }
    }
    report.resources.sort_by(|a, b| a.name.cmp(&b.name));
    // Before: what the state records (a replaced object's old copy included).
    for record in &state.resources {
        if record.name.ends_with(REPLACED_SUFFIX) {
            continue;
        }
        if let Some((_, Ok(lines))) = price(
            &record.name,
            &record.type_token,
            &record.inputs,
            &record.provider,
        ) {
            report.before += lines.iter().map(|l| l.monthly).sum::<f64>();
        }
    }
    report.change = report.total - report.before;
    report
}

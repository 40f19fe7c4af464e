//! What `preview` shows beside the plan: the policy results and the cost estimate, as
//! text or inside the `--json` document. Kept apart from the rest of the CLI so that the
//! plan's own display stays as it was.

use comfy_table::{CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use owo_colors::{OwoColorize, Stream};
use serde::Serialize;

use crate::cost::CostReport;
use crate::plan::Plan;
use crate::policy::{Level, PolicyReport};

/// The `--json` document of `preview`: the plan's fields, then the checks.
#[derive(Serialize)]
struct PreviewDocument<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    policies: &'a PolicyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<&'a CostReport>,
}

/// Prints the plan's checks: as one JSON document with the plan when `json`, otherwise
/// the policy results and the cost table after the plan's text (printed by the caller).
pub(super) fn print_preview(
    json: bool,
    plan: &Plan,
    policies: &PolicyReport,
    cost: Option<&CostReport>,
) {
    if json {
        let doc = PreviewDocument {
            plan,
            policies,
            cost,
        };
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    print_policies(policies);
    if let Some(cost) = cost {
        print_cost(cost);
    }
}

/// `preview --policy-only`: the policy results alone.
pub(super) fn print_policy_only(json: bool, policies: &PolicyReport) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "policies": policies }))
                .unwrap_or_default()
        );
    } else {
        print_policies(policies);
    }
}

fn print_policies(report: &PolicyReport) {
    if report.policies.is_empty() {
        return;
    }
    outln!(
        "\nPolicies ({} checked{}):",
        report.policies.len(),
        if report.production {
            ", production rules on"
        } else {
            ", production rules off"
        }
    );
    let width = report
        .policies
        .iter()
        .map(|p| p.id.len())
        .max()
        .unwrap_or(0);
    for p in &report.policies {
        let open = p.violations - p.waived;
        let mark = if open == 0 {
            "✓"
                .if_supports_color(Stream::Stdout, |t| t.green())
                .to_string()
        } else if p.level == Level::Mandatory {
            "✗"
                .if_supports_color(Stream::Stdout, |t| t.red())
                .to_string()
        } else {
            "!".if_supports_color(Stream::Stdout, |t| t.yellow())
                .to_string()
        };
        let mut tail = String::new();
        if open > 0 {
            tail.push_str(&format!(", {open} violation(s)"));
        }
        if p.waived > 0 {
            tail.push_str(&format!(", {} waived", p.waived));
        }
        outln!(
            "  {mark} {:width$}  {:<9}  {}{tail}",
            p.id,
            p.level.to_string(),
            p.description
        );
    }
    for f in &report.findings {
        let tag = match (&f.waived, f.level) {
            (Some(_), _) => "waived".to_string(),
            (None, level) => level.to_string(),
        };
        outln!(
            "\n  [{tag}] {} on {} ({}), `{}`: {}",
            f.policy,
            f.resource,
            f.type_token,
            f.field,
            f.message
        );
        match &f.waived {
            Some(reason) => outln!("      waiver: {reason}"),
            None => outln!("      fix: {}", f.hint),
        }
    }
    let blocking = report.blocking().count();
    if blocking > 0 {
        outln!(
            "\n{} {blocking} mandatory violation(s): `up` refuses to run until they are fixed or waived.",
            "✗".if_supports_color(Stream::Stdout, |t| t.red())
        );
    } else {
        outln!("\nEvery mandatory policy passes.");
    }
}

/// `$1,234.56`.
pub(super) fn usd(amount: f64) -> String {
    let cents = (amount.abs() * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// `+$1,234.56/month` (or `-...`, or `+$0.00/month`).
pub(super) fn change(amount: f64) -> String {
    let shown = usd(amount);
    if shown.starts_with('-') {
        format!("{shown}/month")
    } else {
        format!("+{shown}/month")
    }
}

fn print_cost(cost: &CostReport) {
    outln!("\nEstimated monthly cost (on-demand USD):");
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY);
    table.set_header(vec![
        "resource",
        "type",
        "region",
        "per month",
        "quantity × unit price",
    ]);
    let mut free = 0;
    for r in &cost.resources {
        if r.monthly < 0.005 {
            free += 1;
            continue;
        }
        let items: Vec<String> = r
            .lines
            .iter()
            .filter(|l| l.monthly >= 0.005)
            .map(|l| format!("{} {} × ${}", trim(l.quantity), l.unit, price(l.unit_price)))
            .collect();
        table.add_row(vec![
            r.name.clone(),
            r.type_token.clone(),
            r.region.clone(),
            usd(r.monthly),
            items.join("; "),
        ]);
    }
    if let Some(column) = table.column_mut(3) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    outln!("{table}");
    if free > 0 {
        outln!("  {free} resource(s) at no charge of their own (VPCs, IAM, routes, ...).");
    }
    for u in &cost.unpriced {
        outln!("  not priced: {} ({}): {}", u.name, u.type_token, u.reason);
    }
    for (region, total) in &cost.regions {
        outln!("  {region:<14} {:>12}", usd(*total));
    }
    outln!("  {:<14} {:>12}", "total", usd(cost.total));
    outln!(
        "  this plan: {} (from {} to {})",
        change(cost.change),
        usd(cost.before),
        usd(cost.total)
    );
    if !cost.assumptions.is_empty() {
        outln!("  usage assumed (the stack's configuration may override each):");
        for a in &cost.assumptions {
            let changed = if (a.value - a.default).abs() > f64::EPSILON {
                format!(" (default {})", trim(a.default))
            } else {
                String::new()
            };
            outln!(
                "    {} = {}{changed}: {}",
                a.name,
                trim(a.value),
                a.description
            );
        }
    }
}

/// A unit price with the digits it has (`0.045`, `0.0000166667`), at least cents.
fn price(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0');
    match s.split_once('.') {
        Some((whole, frac)) if frac.len() < 2 => format!("{whole}.{frac:0<2}"),
        _ => s.to_string(),
    }
}

/// A quantity without trailing zeros: `730`, `0.5`, `1000000`.
fn trim(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_and_changes_signed() {
        assert_eq!(usd(1234.564), "$1,234.56");
        assert_eq!(usd(0.004), "$0.00");
        assert_eq!(usd(1_000_000.0), "$1,000,000.00");
        assert_eq!(change(1234.56), "+$1,234.56/month");
        assert_eq!(change(-12.5), "-$12.50/month");
        assert_eq!(change(0.0), "+$0.00/month");
        assert_eq!(trim(730.0), "730");
        assert_eq!(trim(0.5), "0.5");
        assert_eq!(price(0.26), "0.26");
        assert_eq!(price(3.5), "3.50");
        assert_eq!(price(1.0), "1.00");
        assert_eq!(price(0.0000166667), "0.0000166667");
    }
}

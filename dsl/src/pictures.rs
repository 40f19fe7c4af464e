//! Pictures of a stack, as SVG text: a deployment's timeline (a Gantt chart drawn from the
//! journal). Pure functions from data to a string; the CLI writes the files.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use iac_state::JournalStep;

use crate::engine::timing::longest_chain;

/// One bar of a timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// The resource.
    pub name: String,
    /// What the step did (`create`, `delete`, ...).
    pub operation: String,
    /// The group it is drawn in (the provider: a region).
    pub group: String,
    /// Start and end, in milliseconds from the first step's start.
    pub start_ms: u64,
    /// End; a step that never ended ends where the last one did.
    pub end_ms: u64,
    /// Whether it failed or never finished.
    pub failed: bool,
    /// Whether it is on the critical path.
    pub critical: bool,
}

/// The bars of a deployment from its journal steps. `dependencies` gives each resource's
/// recorded dependencies: a step waited on another when one's resource depends on the
/// other's (either way round: deletions run dependents first) and the other ended before
/// it started. The critical path is the chain of such waits whose durations add up to the
/// most.
pub fn timeline_bars(
    steps: &[JournalStep],
    dependencies: &HashMap<String, Vec<String>>,
) -> Vec<Bar> {
    let Some(origin) = steps.iter().map(|s| s.started_at_ms).min() else {
        return Vec::new();
    };
    let last = steps
        .iter()
        .map(|s| s.finished_at_ms.unwrap_or(s.started_at_ms))
        .max()
        .unwrap_or(origin);
    let mut bars: Vec<Bar> = steps
        .iter()
        .map(|s| Bar {
            name: s.resource.clone(),
            operation: s.operation.clone(),
            group: s.provider.clone(),
            start_ms: (s.started_at_ms - origin).max(0) as u64,
            end_ms: (s.finished_at_ms.unwrap_or(last) - origin).max(0) as u64,
            failed: s.outcome.as_deref().is_none_or(|o| o == "failed"),
            critical: false,
        })
        .collect();
    let by_name: HashMap<&str, Vec<usize>> =
        bars.iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, b)| {
                m.entry(b.name.as_str()).or_default().push(i);
                m
            });
    let related = |a: &str, b: &str| {
        dependencies
            .get(a)
            .is_some_and(|d| d.iter().any(|x| x == b))
            || dependencies
                .get(b)
                .is_some_and(|d| d.iter().any(|x| x == a))
    };
    let deps: Vec<Vec<usize>> = bars
        .iter()
        .map(|b| {
            by_name
                .iter()
                .filter(|(name, _)| related(&b.name, name))
                .flat_map(|(_, is)| is.iter().copied())
                .filter(|&j| bars[j].end_ms <= b.start_ms)
                .collect()
        })
        .collect();
    let took: Vec<Duration> = bars
        .iter()
        .map(|b| Duration::from_millis(b.end_ms - b.start_ms))
        .collect();
    for i in longest_chain(&deps, &took).1 {
        bars[i].critical = true;
    }
    bars
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Gantt chart of `bars` as an SVG document: one row per bar, grouped by region (the
/// bar's group) in order of first start, a time axis, the critical path in orange,
/// failures in red and marked ✗.
pub fn timeline_svg(title: &str, bars: &[Bar]) -> String {
    const LABEL: u64 = 330;
    const PLOT: u64 = 900;
    const ROW: u64 = 16;
    const TOP: u64 = 64;
    let total = bars.iter().map(|b| b.end_ms).max().unwrap_or(0).max(1);
    let x = |ms: u64| LABEL + ms * PLOT / total;
    let mut groups: BTreeMap<(u64, &str), Vec<&Bar>> = BTreeMap::new();
    let mut first: HashMap<&str, u64> = HashMap::new();
    for b in bars {
        let f = first.entry(b.group.as_str()).or_insert(b.start_ms);
        *f = (*f).min(b.start_ms);
    }
    for b in bars {
        groups
            .entry((first[b.group.as_str()], b.group.as_str()))
            .or_default()
            .push(b);
    }
    let rows = bars.len() as u64 + groups.len() as u64;
    let height = TOP + rows * ROW + 40;
    let width = LABEL + PLOT + 40;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let critical_ms: u64 = bars
        .iter()
        .filter(|b| b.critical)
        .map(|b| b.end_ms - b.start_ms)
        .sum();
    let _ = writeln!(
        svg,
        r#"<text x="12" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="42">{} steps, {:.1} s wall; critical path {:.1} s (orange); failures in red</text>"##,
        bars.len(),
        total as f64 / 1000.0,
        critical_ms as f64 / 1000.0
    );
    // The time axis: about ten ticks at a round step.
    let step = [
        100u64, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000,
    ]
    .into_iter()
    .find(|s| total / s <= 10)
    .unwrap_or(600_000);
    let axis_bottom = TOP + rows * ROW;
    let mut t = 0;
    while t <= total {
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{axis_bottom}" stroke="#e5e5e5"/><text x="{0}" y="{2}" text-anchor="middle" fill="#666">{3}s</text>"##,
            x(t),
            TOP - 6,
            axis_bottom + 14,
            t as f64 / 1000.0
        );
        t += step;
    }
    let mut y = TOP;
    for ((_, group), members) in &groups {
        let _ = writeln!(
            svg,
            r##"<rect x="0" y="{y}" width="{width}" height="{ROW}" fill="#f1f3f5"/><text x="8" y="{}" font-weight="bold">{}</text>"##,
            y + 12,
            escape(group)
        );
        y += ROW;
        for b in members {
            let fill = if b.failed {
                "#e03131"
            } else if b.critical {
                "#f76707"
            } else {
                "#4c6ef5"
            };
            let w = (x(b.end_ms) - x(b.start_ms)).max(2);
            let mark = if b.failed { "✗ " } else { "" };
            let _ = writeln!(
                svg,
                r##"<g><title>{name}: {op}, {secs:.2} s</title><text x="{lx}" y="{ty}" text-anchor="end">{mark}{name} ({op})</text><rect x="{bx}" y="{by}" width="{w}" height="{bh}" rx="2" fill="{fill}"/></g>"##,
                name = escape(&b.name),
                op = escape(&b.operation),
                secs = (b.end_ms - b.start_ms) as f64 / 1000.0,
                lx = LABEL - 8,
                ty = y + 12,
                bx = x(b.start_ms),
                by = y + 3,
                bh = ROW - 5,
            );
            y += ROW;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, start: i64, end: Option<i64>, outcome: Option<&str>) -> JournalStep {
        JournalStep {
            resource: name.into(),
            type_token: "fake:test/thing".into(),
            provider: if name.starts_with("dr") {
                "aws-dr"
            } else {
                "aws-primary"
            }
            .into(),
            operation: "create".into(),
            started_at_ms: start,
            finished_at_ms: end,
            outcome: outcome.map(str::to_string),
        }
    }

    #[test]
    fn bars_mark_the_slow_chain_and_failures_and_the_svg_holds_every_step() {
        let steps = [
            step("vpc", 1_000, Some(1_100), Some("written")),
            step("subnet", 1_100, Some(1_200), Some("written")),
            step("db", 1_100, Some(4_000), Some("written")),
            step("dr-vpc", 1_000, Some(1_050), Some("written")),
            step("dr-app", 1_050, None, None),
        ];
        let deps = HashMap::from([
            ("subnet".to_string(), vec!["vpc".to_string()]),
            ("db".to_string(), vec!["vpc".to_string()]),
            ("dr-app".to_string(), vec!["dr-vpc".to_string()]),
        ]);
        let bars = timeline_bars(&steps, &deps);
        let critical: Vec<&str> = bars
            .iter()
            .filter(|b| b.critical)
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(critical, ["vpc", "db"]);
        let app = bars.iter().find(|b| b.name == "dr-app").unwrap();
        assert!(app.failed, "a step that never finished is marked");
        assert_eq!(
            (app.start_ms, app.end_ms),
            (50, 3_000),
            "it ends where the last one did"
        );
        let svg = timeline_svg("payment-dr <dev>", &bars);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("payment-dr &lt;dev&gt;"), "text is escaped");
        for name in [
            "vpc",
            "subnet",
            "db",
            "dr-vpc",
            "dr-app",
            "aws-primary",
            "aws-dr",
        ] {
            assert!(
                svg.contains(&format!(">{name}")) || svg.contains(&format!("✗ {name}")),
                "{name} is drawn"
            );
        }
        assert_eq!(
            svg.matches("<rect x=").count() - 2,
            steps.len(),
            "one bar per step (beside two group rows)"
        );
        assert!(svg.contains("#f76707") && svg.contains("#e03131"));
    }
}

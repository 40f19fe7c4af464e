//! Pictures of a stack, as SVG text: the declared dependency graph (`graph --format svg`)
//! and a deployment's timeline (a Gantt chart drawn from the journal). Pure functions from
//! data to a string; the CLI writes the files.

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

/// An SVG document's opening tag and white background, `width` by `height` pixels.
fn svg_start<N: std::fmt::Display>(width: N, height: N) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    )
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
    let mut svg = svg_start(width, height);
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

/// Fill colours for services, in the order of their sorted names: 16, so that a stack of
/// up to 16 services (the DR stack has 13) never shows two in one colour.
const PALETTE: [&str; 16] = [
    "#a5d8ff", "#b2f2bb", "#ffd8a8", "#d0bfff", "#ffc9c9", "#99e9f2", "#ffec99", "#eebefa",
    "#c0eb75", "#fcc2d7", "#bac8ff", "#e9ecef", "#74c0fc", "#ff8787", "#63e6be", "#ffa94d",
];

fn service_of(type_token: &str) -> &str {
    let rest = type_token.split_once(':').map_or(type_token, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The declared graph as an SVG document laid out in layers: one band per provider (a
/// region, for AWS), a column per dependency depth (everything a resource reads is to its
/// left), resources coloured by service with a legend, edges drawn behind the boxes.
/// Hovering a box shows its name, type and provider.
pub fn graph_svg(stack: &crate::Stack) -> String {
    use crate::stack::NodeKind;
    const COL: usize = 250;
    const BOX_W: usize = 210;
    const ROW: usize = 24;
    const BOX_H: usize = 18;
    const LEFT: usize = 20;
    let nodes: Vec<&crate::stack::Declared> = stack
        .declared()
        .iter()
        .filter(|d| d.kind == NodeKind::Resource)
        .collect();
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name(), i))
        .collect();
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .map(|d| {
            d.dependencies()
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    // Depth: the longest chain of dependencies before a resource (cycles are refused by
    // validation; a node still on one is put in column 0).
    let mut depth = vec![0usize; nodes.len()];
    let mut done = vec![false; nodes.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..nodes.len() {
            if done[i] || !deps[i].iter().all(|&d| done[d]) {
                continue;
            }
            depth[i] = deps[i].iter().map(|&d| depth[d] + 1).max().unwrap_or(0);
            done[i] = true;
            changed = true;
        }
    }
    let group_of = |d: &crate::stack::Declared| {
        let provider = stack
            .provider_name_for(d.reference.type_token(), d.provider())
            .unwrap_or("?")
            .to_string();
        let region = stack
            .providers
            .get(&provider)
            .and_then(|p| p.region().map(str::to_string));
        match region {
            Some(r) => format!("{provider} ({r})"),
            None => provider,
        }
    };
    let mut bands: Vec<String> = Vec::new();
    let groups: Vec<usize> = nodes
        .iter()
        .map(|d| {
            let g = group_of(d);
            match bands.iter().position(|b| *b == g) {
                Some(i) => i,
                None => {
                    bands.push(g);
                    bands.len() - 1
                }
            }
        })
        .collect();
    let columns = depth.iter().max().map_or(0, |m| m + 1);
    // Rows within each band and column: by service, then name, so colours cluster.
    let mut cells: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        cells.entry((groups[i], depth[i])).or_default().push(i);
    }
    for members in cells.values_mut() {
        members.sort_by_key(|&i| (service_of(nodes[i].reference.type_token()), nodes[i].name()));
    }
    let band_rows: Vec<usize> = (0..bands.len())
        .map(|b| {
            (0..columns)
                .map(|c| cells.get(&(b, c)).map_or(0, Vec::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut services: Vec<&str> = nodes
        .iter()
        .map(|d| service_of(d.reference.type_token()))
        .collect();
    services.sort_unstable();
    services.dedup();
    let colour = |service: &str| {
        let k = services.iter().position(|s| *s == service).unwrap_or(0);
        PALETTE[k % PALETTE.len()]
    };
    let legend_h = 40 + services.len().div_ceil(8) * 20;
    let mut band_top = Vec::with_capacity(bands.len());
    let mut y = legend_h;
    for rows in &band_rows {
        band_top.push(y);
        y += 28 + rows * ROW + 12;
    }
    let height = y + 10;
    let width = LEFT * 2 + columns.max(1) * COL;
    let mut pos = vec![(0usize, 0usize); nodes.len()];
    for ((band, col), members) in &cells {
        for (row, &i) in members.iter().enumerate() {
            pos[i] = (LEFT + col * COL, band_top[*band] + 28 + row * ROW);
        }
    }
    let mut svg = svg_start(width, height);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{} ({} resources; dependencies point right)</text>"#,
        escape(&stack.id().to_string()),
        nodes.len()
    );
    for (k, service) in services.iter().enumerate() {
        let (lx, ly) = (LEFT + (k % 8) * 140, 34 + (k / 8) * 20);
        let _ = writeln!(
            svg,
            r##"<rect x="{lx}" y="{ly}" width="14" height="12" fill="{}" stroke="#868e96"/><text x="{}" y="{}">{}</text>"##,
            colour(service),
            lx + 20,
            ly + 10,
            escape(service)
        );
    }
    for (b, name) in bands.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<rect x="4" y="{}" width="{}" height="{}" rx="6" fill="#f8f9fa" stroke="#dee2e6"/><text x="{LEFT}" y="{}" font-weight="bold" font-size="13">{}</text>"##,
            band_top[b],
            width - 8,
            28 + band_rows[b] * ROW,
            band_top[b] + 18,
            escape(name)
        );
    }
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            let (x1, y1) = (pos[d].0 + BOX_W, pos[d].1 + BOX_H / 2);
            let (x2, y2) = (pos[i].0, pos[i].1 + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = writeln!(
                svg,
                r##"<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="#868e96" stroke-opacity="0.35"/>"##
            );
        }
    }
    for (i, d) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let token = d.reference.type_token();
        let label: String = {
            let name = d.name();
            if name.chars().count() > 32 {
                format!("{}…", name.chars().take(31).collect::<String>())
            } else {
                name.to_string()
            }
        };
        let _ = writeln!(
            svg,
            r##"<g><title>{name} ({token}) on {band}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="3" fill="{fill}" stroke="#495057" stroke-width="0.6"/><text x="{tx}" y="{ty}">{label}</text></g>"##,
            name = escape(d.name()),
            token = escape(token),
            band = escape(&bands[groups[i]]),
            fill = colour(service_of(token)),
            tx = x + 5,
            ty = y + 13,
            label = escape(&label),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_services_get_sixteen_colours() {
        let distinct: std::collections::BTreeSet<&str> = PALETTE.iter().copied().collect();
        assert_eq!(distinct.len(), 16, "no colour twice in the palette");
    }

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

//! Engine benchmark (a bench binary, not a timed test): with an instant fake provider and
//! the real SQLite state, for 1,000, 10,000 and 100,000 resources shaped as wide fans and
//! as long chains, measures declare + validate + plan from empty, the first apply with the
//! journal, and a no-op preview over the full state, then prints how much each phase
//! grows per tenfold size.
//!
//! Plan and preview are the median of eleven runs, each in a fresh process (the bench runs
//! itself again), as a user's `preview` is: in one long-lived process the small runs would
//! reuse the pages and caches the allocator kept from the run before while the large ones
//! would not, which measures the allocator's purge timing rather than the engine. The
//! apply is the median of three, each on a fresh state file. Sizes take turns within each
//! phase, so a slow spell of the machine falls on every size alike. The allocator is
//! mimalloc, as in the stack binaries.
//!
//! Run with `cargo bench -p iac-dsl --bench engine`; pass sizes to limit the run
//! (`cargo bench -p iac-dsl --bench engine -- 1000 10000`), and `postgres` to measure the
//! same phases again on a PostgreSQL state (a local throwaway server with its durable
//! defaults), in the same run.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iac_dsl::Stack;
use iac_dsl::engine::{self, RunOptions};
use iac_dsl::plan::{PlanOptions, plan};
use iac_dsl::testing::{FakeArgs, FakeCloud, FakeHandle, FakeProvider};
use iac_state::{Location, OpenOptions, SecretsKey, StateStore};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One root, every other resource depends on it.
    Fan,
    /// Each resource depends on the one before.
    Chain,
}

fn declare(n: usize, shape: Shape, fake: &FakeProvider) -> Stack {
    let mut stack = Stack::new("bench", "dev");
    stack.provider("fake", fake.clone());
    let mut prev: Option<FakeHandle> = None;
    let mut root: Option<FakeHandle> = None;
    for i in 0..n {
        let mut args = FakeArgs::new().value("index", i).value("size", "small");
        let parent = match shape {
            Shape::Fan => root.as_ref(),
            Shape::Chain => prev.as_ref(),
        };
        if let Some(p) = parent {
            args = args.output("parent", &p.id());
        }
        let h = stack.add(&format!("r{i}"), args);
        if root.is_none() {
            root = Some(h.clone());
        }
        prev = Some(h);
    }
    stack
}

/// How many times plan and preview are timed, each in a fresh process; the figure is the
/// median.
const RUNS: usize = 11;
/// How many times the apply is timed, in this process on a fresh state file each time
/// (a 100,000-long chain takes about 40 s); the figure is the median.
const APPLY_RUNS: usize = 3;

/// The state backends measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh, empty state: a file in its folder, or a new database on the bench's server
/// (the folder then holds only the key file).
struct BenchState {
    dir: tempfile::TempDir,
    location: String,
}

fn fresh_state(kind: Kind) -> BenchState {
    static SERVER: std::sync::OnceLock<iac_test_pg::PgServer> = std::sync::OnceLock::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let location = match kind {
        Kind::Sqlite => dir.path().join("state.db").display().to_string(),
        Kind::Postgres => SERVER
            .get_or_init(iac_test_pg::PgServer::start_durable)
            .create_database("bench")
            .url(),
    };
    BenchState { dir, location }
}

/// One timed `phase` in a fresh process.
fn child_time(phase: &str, n: usize, shape: Shape, state: &BenchState) -> Duration {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = Command::new(&exe)
        .args(["--child", phase, &n.to_string(), shape.label()])
        .arg(state.dir.path())
        .arg(&state.location)
        .output()
        .expect("the bench runs itself");
    assert!(
        out.status.success(),
        "{phase} child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the child prints nanoseconds");
    Duration::from_nanos(nanos)
}

/// For each size, the median of `runs` timings of `time(size index)`. The sizes take
/// turns (small, large, small, large, ...) so that a slow minute of this shared VM falls
/// on every size alike instead of on one of them, which would bend the ratio between
/// sizes that the scaling target is about.
fn interleaved_medians(
    sizes: usize,
    runs: usize,
    mut time: impl FnMut(usize) -> Duration,
) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(runs); sizes];
    for _ in 0..runs {
        for (i, t) in times.iter_mut().enumerate() {
            t.push(time(i));
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Fan => "fan",
            Shape::Chain => "chain",
        }
    }

    fn parse(label: &str) -> Shape {
        if label == "fan" {
            Shape::Fan
        } else {
            Shape::Chain
        }
    }
}

fn open_store(dir: &Path, location: &str) -> Arc<StateStore> {
    Arc::new(
        StateStore::open_location(
            &Location::parse(location),
            OpenOptions {
                secrets: SecretsKey::KeyFile(dir.join("key")),
                create: true,
            },
        )
        .expect("state"),
    )
}

fn options() -> RunOptions {
    RunOptions {
        parallelism: 64,
        ..Default::default()
    }
}

/// One timed phase in this (fresh) process; prints its nanoseconds.
fn child(phase: &str, n: usize, shape: Shape, dir: &Path, location: &str) {
    let store = open_store(dir, location);
    let fake = FakeProvider::new("fake", FakeCloud::new());
    let elapsed = match phase {
        "plan" => {
            let t = Instant::now();
            let stack = declare(n, shape, &fake);
            stack.validate().expect("valid");
            let state = store.load(stack.id()).expect("load");
            let planned =
                plan(&stack, &state, &HashMap::new(), &PlanOptions::default()).expect("plan");
            let elapsed = t.elapsed();
            assert_eq!(planned.steps.len(), n);
            elapsed
        }
        _ => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let stack = declare(n, shape, &fake);
            let t = Instant::now();
            let p = rt
                .block_on(engine::preview(&stack, &store, &options(), false))
                .expect("preview");
            let elapsed = t.elapsed();
            assert!(!p.has_changes());
            elapsed
        }
    };
    println!("{}", elapsed.as_nanos());
}

fn millis(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// The figures of one size and shape on one backend: plan, apply, preview.
struct Row {
    kind: Kind,
    n: usize,
    shape: Shape,
    times: [Duration; 3],
}

/// How much each phase costs at ten times the size, for every pair of sizes ten apart.
fn print_growth(rows: &[Row]) {
    println!();
    println!("| state | shape | resources | plan | first apply | no-op preview |");
    println!("|---|---|---|---:|---:|---:|");
    for small in rows {
        for large in rows
            .iter()
            .filter(|r| r.kind == small.kind && r.shape == small.shape && r.n == small.n * 10)
        {
            let ratio = |i: usize| large.times[i].as_secs_f64() / small.times[i].as_secs_f64();
            println!(
                "| {} | {} | {} → {} | {:.1}x | {:.1}x | {:.1}x |",
                small.kind.label(),
                small.shape.label(),
                small.n,
                large.n,
                ratio(0),
                ratio(1),
                ratio(2)
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let n = args[2].parse().expect("size");
        child(
            &args[1],
            n,
            Shape::parse(&args[3]),
            Path::new(&args[4]),
            &args[5],
        );
        return;
    }
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let kinds: &[Kind] = if args.iter().any(|a| a == "postgres") {
        &[Kind::Sqlite, Kind::Postgres]
    } else {
        &[Kind::Sqlite]
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    for &kind in kinds {
        for shape in [Shape::Fan, Shape::Chain] {
            // Plans start from an empty state; previews run over the state of the last
            // apply.
            let empty: Vec<BenchState> = sizes.iter().map(|_| fresh_state(kind)).collect();
            let mut applied: Vec<Option<BenchState>> = sizes.iter().map(|_| None).collect();
            let plan = interleaved_medians(sizes.len(), RUNS, |i| {
                child_time("plan", sizes[i], shape, &empty[i])
            });
            let apply = interleaved_medians(sizes.len(), APPLY_RUNS, |i| {
                let state = fresh_state(kind);
                let store = open_store(state.dir.path(), &state.location);
                let fake = FakeProvider::new("fake", FakeCloud::new());
                let stack = declare(sizes[i], shape, &fake);
                let t = Instant::now();
                let d = rt
                    .block_on(engine::up(stack, store, &options(), false, &mut |_| true))
                    .expect("apply");
                let elapsed = t.elapsed();
                assert!(d.report.expect("applied").succeeded());
                // The user's next `preview` is another process, after this one closed the
                // state (and SQLite folded its write-ahead log into the file).
                drop(d.plan);
                applied[i] = Some(state);
                elapsed
            });
            let preview = interleaved_medians(sizes.len(), RUNS, |i| {
                let state = applied[i].as_ref().expect("applied above");
                child_time("preview", sizes[i], shape, state)
            });
            for (i, &n) in sizes.iter().enumerate() {
                rows.push(Row {
                    kind,
                    n,
                    shape,
                    times: [plan[i], apply[i], preview[i]],
                });
            }
        }
    }
    println!(
        "| state | resources | shape | declare+validate+plan (ms) | first apply (ms) | no-op preview (ms) |"
    );
    println!("|---|---:|---|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.kind.label(),
            row.n,
            row.shape.label(),
            millis(row.times[0]),
            millis(row.times[1]),
            millis(row.times[2])
        );
    }
    print_growth(&rows);
}

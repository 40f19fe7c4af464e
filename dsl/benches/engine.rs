//! Engine benchmark (a bench binary, not a timed test): with an instant fake provider and
//! the real SQLite state, for 1,000, 10,000 and 100,000 resources shaped as wide fans and
//! as long chains, measures declare + validate + plan from empty, the first apply with the
//! journal, and a no-op preview over the full state. Plan and preview are the median of
//! five runs; the apply runs once. The allocator is mimalloc, as in the stack binaries.
//!
//! Run with `cargo bench -p iac-dsl --bench engine`; pass sizes to limit the run
//! (`cargo bench -p iac-dsl --bench engine -- 1000 10000`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iac_dsl::Stack;
use iac_dsl::engine::{self, RunOptions};
use iac_dsl::plan::{PlanOptions, plan};
use iac_dsl::testing::{FakeArgs, FakeCloud, FakeHandle, FakeProvider};
use iac_state::{OpenOptions, SecretsKey, StateStore};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy)]
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

fn median(mut run: impl FnMut() -> Duration) -> Duration {
    let mut times = [run(), run(), run(), run(), run()];
    times.sort();
    times[2]
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "| resources | shape | declare+validate+plan (s) | first apply (s) | no-op preview (s) |"
    );
    println!("|---:|---|---:|---:|---:|");
    for &n in &sizes {
        for (shape, label) in [(Shape::Fan, "fan"), (Shape::Chain, "chain")] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Arc::new(
                StateStore::open(
                    &dir.path().join("state.db"),
                    OpenOptions {
                        secrets: SecretsKey::KeyFile(dir.path().join("key")),
                        create: true,
                    },
                )
                .expect("state"),
            );
            let fake = FakeProvider::new("fake", FakeCloud::new());

            // Cheap phases run five times; the median is reported.
            let plan_time = median(|| {
                let t = Instant::now();
                let stack = declare(n, shape, &fake);
                stack.validate().expect("valid");
                let state = store.load(stack.id()).expect("load");
                let planned =
                    plan(&stack, &state, &HashMap::new(), &PlanOptions::default()).expect("plan");
                assert_eq!(planned.steps.len(), n);
                t.elapsed()
            });

            let options = RunOptions {
                parallelism: 64,
                ..Default::default()
            };
            let stack = declare(n, shape, &fake);
            let t = Instant::now();
            let d = rt
                .block_on(engine::up(
                    stack,
                    store.clone(),
                    &options,
                    false,
                    &mut |_| true,
                ))
                .expect("apply");
            let apply_time = t.elapsed();
            assert!(d.report.expect("applied").succeeded());

            let stack = declare(n, shape, &fake);
            let preview_time = median(|| {
                let t = Instant::now();
                let p = rt
                    .block_on(engine::preview(&stack, &store, &options, false))
                    .expect("preview");
                assert!(!p.has_changes());
                t.elapsed()
            });
            println!(
                "| {n} | {label} | {} | {} | {} |",
                secs(plan_time),
                secs(apply_time),
                secs(preview_time)
            );
        }
    }
}

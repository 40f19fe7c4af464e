//! Ordering property: on random graphs with random step latencies, no create starts
//! before its dependencies finished, no delete starts before its dependents were deleted,
//! and the concurrency bound is never exceeded.

use std::time::Duration;

use iac_dsl::testing::{FakeArgs, FakeCloud, FakeHandle, FakeProvider};
use proptest::prelude::*;

use super::support::*;

fn graph() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<u64>, usize)> {
    (2usize..24).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                proptest::collection::vec(0..i.max(1), 0..=i.min(3))
                    .prop_map(move |v| if i == 0 { vec![] } else { v })
            })
            .collect::<Vec<_>>();
        (deps, proptest::collection::vec(0u64..4, n), 1usize..5)
    })
}

fn check(deps: Vec<Vec<usize>>, latencies: Vec<u64>, parallelism: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let lat = latencies.clone();
        let fake = FakeProvider::new("fake", FakeCloud::new()).latency(move |_, name| {
            let i: usize = name.trim_start_matches('r').parse().unwrap_or(0);
            Duration::from_millis(lat.get(i).copied().unwrap_or(0))
        });
        let w = World::with(fake);
        let declare = |s: &mut iac_dsl::Stack| {
            let mut handles: Vec<FakeHandle> = Vec::new();
            for (i, ds) in deps.iter().enumerate() {
                let mut args = FakeArgs::new();
                for (k, d) in ds.iter().enumerate() {
                    args = args.output(&format!("p{k}"), &handles[*d].id());
                }
                handles.push(s.add(&format!("r{i}"), args));
            }
        };
        let options = iac_dsl::RunOptions {
            parallelism,
            ..Default::default()
        };
        let d = w.up_with(w.stack(declare), options.clone()).await.unwrap();
        assert!(d.report.unwrap().succeeded());
        let calls = w.fake.calls();
        let create = |i: usize| {
            calls
                .iter()
                .find(|c| c.op == "create" && c.name == format!("r{i}"))
                .unwrap()
                .clone()
        };
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                assert!(
                    create(d).finished < create(i).started,
                    "r{i} started before its dependency r{d} finished"
                );
            }
        }
        assert!(
            w.fake.max_concurrency() <= parallelism,
            "{} running at once, bound {parallelism}",
            w.fake.max_concurrency()
        );

        let destroyed = iac_dsl::engine::up(
            w.stack(|_| {}),
            w.store.clone(),
            &options,
            true,
            &mut |_| true,
        )
        .await
        .unwrap();
        assert!(destroyed.report.unwrap().succeeded());
        let calls = w.fake.calls();
        let delete = |i: usize| {
            calls
                .iter()
                .find(|c| c.op == "delete" && c.name == format!("r{i}"))
                .unwrap()
                .clone()
        };
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                assert!(
                    delete(i).finished < delete(d).started,
                    "r{d} deleted before its dependent r{i}"
                );
            }
        }
        assert!(w.fake.max_concurrency() <= parallelism);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn steps_respect_dependencies_and_the_concurrency_bound((deps, latencies, parallelism) in graph()) {
        check(deps, latencies, parallelism);
    }
}

/// The report's timing: the critical path is the slow chain (not the long one), its length
/// is the sum of its steps' own durations, no longer than the wall time, and each step's
/// start lies after the end of what it waited on.
#[tokio::test]
async fn the_report_names_the_critical_path_and_each_steps_span() {
    let slow = |name: &str| match name {
        "db" => 300,
        "app" => 100,
        _ => 20,
    };
    let fake = FakeProvider::new("fake", FakeCloud::new()).latency(move |op, name| {
        Duration::from_millis(match op {
            "create" => slow(name),
            "update" => 30,
            _ => 0,
        })
    });
    let w = World::with(fake);
    let declare_b = |s: &mut iac_dsl::Stack, size: &str| {
        // A long chain of quick steps beside a short chain of slow ones.
        let a = s.add("a", FakeArgs::new());
        let b = s.add(
            "b",
            FakeArgs::new().output("up", &a.id()).value("size", size),
        );
        let c = s.add("c", FakeArgs::new().output("up", &b.id()));
        s.add("d", FakeArgs::new().output("up", &c.id()));
        let db = s.add("db", FakeArgs::new());
        s.add("app", FakeArgs::new().output("db", &db.id()));
    };
    let declare = |s: &mut iac_dsl::Stack| declare_b(s, "small");
    let report = w.up(w.stack(declare)).await.unwrap().report.unwrap();
    assert!(report.succeeded());
    let t = &report.timing;
    assert_eq!(t.critical_path, ["db", "app"], "{t:?}");
    let step = |n: &str| report.steps.iter().find(|s| s.name == n).unwrap();
    let sum = step("db").elapsed_ms + step("app").elapsed_ms;
    assert!(
        t.critical_path_ms.abs_diff(sum) <= 2,
        "{} ms, steps {sum} ms (each rounded down)",
        t.critical_path_ms
    );
    assert!(
        t.critical_path_ms >= 400 && t.critical_path_ms <= t.wall_ms,
        "{t:?}"
    );
    for (before, after) in [("db", "app"), ("a", "b"), ("b", "c"), ("c", "d")] {
        let (x, y) = (step(before), step(after));
        assert!(
            x.started_ms + x.elapsed_ms <= y.started_ms + 1,
            "{after} started at {} ms, before {before} ended at {} ms",
            y.started_ms,
            x.started_ms + x.elapsed_ms
        );
    }
    assert!(t.calls.is_empty(), "the fake provider counts no calls");

    // A run that changes one step of the chain: the path is that step, not the unchanged
    // steps before and after it (which only pass outputs on).
    let changed = |s: &mut iac_dsl::Stack| declare_b(s, "large");
    let report = w.up(w.stack(changed)).await.unwrap().report.unwrap();
    assert!(report.succeeded());
    assert_eq!(report.timing.critical_path, ["b"], "{:?}", report.timing);
}

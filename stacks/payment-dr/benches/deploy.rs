//! The DR stack deployed at the speed of AWS: a bench binary (not a timed test).
//!
//! Deploys the whole payment DR stack (132 resources, two regions) to the moto emulator
//! through the project's own loopback proxy ([`iac_tests::FaultProxy`]), which adds a
//! fixed latency to every call (50 ms by default, as a nearby AWS region answers) and
//! extra seconds to the creates that are slow on AWS (a latency map; see [`SLOW`]). It
//! runs, in one process against one fresh emulator:
//!
//! 1. `up` with the engine's default parallelism: wall time, the critical path the engine
//!    reports, and the calls the proxy saw, by operation;
//! 2. `preview --refresh` of that deployment: the calls a refresh makes per resource;
//! 3. the sequential baseline: the same topology (another suffix) deployed by the same
//!    binary with `--parallelism 1`, one step at a time, through the same proxy.
//!
//! and prints the figures against the targets of the speed issue: calls for a full `up`
//! at most 200, wall time at most 1.15 times the critical path, and at most 0.4 times the
//! sequential baseline's wall time. It measures waiting, not CPU, so it runs on the debug
//! build the tests use:
//!
//! ```text
//! cargo bench -p payment-dr-stack --bench deploy --profile dev
//! DEPLOY_BENCH_LATENCY_MS=0 cargo bench -p payment-dr-stack --bench deploy --profile dev
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use iac_tests::{FaultPolicy, FaultProxy, Moto, ProxyStats};
use serde_json::Value;

/// Extra seconds of the creates that are slow on AWS, scaled down about five times from
/// what they take there (NAT gateway 1-2 min, Aurora cluster 2-5 min, instance 5-10 min),
/// so that a run takes minutes; the ratios between the runs are what the targets judge.
/// ACM's wait for DNS validation is moto's own: `MOTO_ACM_VALIDATION_WAIT` seconds, 10 as
/// the test support starts the emulator unless the environment sets it.
const SLOW: &[(&str, u64)] = &[
    ("ec2.CreateNatGateway", 15),
    ("rds.CreateGlobalCluster", 5),
    ("rds.CreateDBCluster", 30),
    ("rds.CreateDBInstance", 60),
];

/// What one run measured.
struct Run {
    label: &'static str,
    wall: Duration,
    critical_path_ms: u64,
    resources: usize,
    calls: BTreeMap<String, u64>,
}

impl Run {
    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

fn main() {
    let latency_ms: u64 = std::env::var("DEPLOY_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let moto = Moto::shared();
    let latency = Duration::from_millis(latency_ms);
    let proxy = FaultProxy::start(
        moto.endpoint(),
        FaultPolicy {
            latency: Some((latency, latency)),
            slow_operations: SLOW
                .iter()
                .map(|(op, s)| (op.to_string(), Duration::from_secs(*s)))
                .collect(),
            ..FaultPolicy::default()
        },
    );
    eprintln!(
        "deploy bench: {latency_ms} ms per call, slow creates {SLOW:?}, ACM issues after \
         {}s; the emulator at {}, the proxy at {}",
        std::env::var("MOTO_ACM_VALIDATION_WAIT").unwrap_or_else(|_| "10".into()),
        moto.endpoint(),
        proxy.endpoint()
    );
    let parallel = deploy(&proxy, "engine", "bp", &[]);
    let refresh = refresh_calls(&proxy, "bp");
    let sequential = deploy(&proxy, "sequential", "bs", &["--parallelism", "1"]);
    report(latency_ms, &parallel, refresh, &sequential);
}

/// The directory of a deployment's config and state.
fn workdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("deploy-bench-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    dir
}

/// The stack binary in `dir` against the proxy.
fn stack(proxy: &FaultProxy, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = iac_tests::stack_command(Path::new(env!("CARGO_BIN_EXE_payment-dr-stack")), dir);
    cmd.args(["--config", "payment-dr.toml", "--state", "state.db"])
        .args(args)
        .env("AWS_ENDPOINT_URL", proxy.endpoint());
    cmd
}

/// Runs `cmd`, exiting the bench with its output when it fails.
fn run_ok(cmd: &mut Command, what: &str) -> Value {
    let out = cmd.output().expect("the stack binary runs");
    if !out.status.success() {
        eprintln!(
            "deploy bench: {what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Calls the proxy saw between two snapshots, by operation.
fn delta(before: &ProxyStats, after: &ProxyStats) -> BTreeMap<String, u64> {
    after
        .calls
        .iter()
        .filter_map(|(op, n)| {
            let d = n - before.calls.get(op).copied().unwrap_or(0);
            (d > 0).then(|| (op.clone(), d))
        })
        .collect()
}

/// Deploys the DR stack with suffix `bench<tag><pid>` and measures it.
fn deploy(proxy: &FaultProxy, label: &'static str, tag: &str, extra: &[&str]) -> Run {
    let suffix: String = format!("{tag}{}", std::process::id())
        .chars()
        .take(12)
        .collect();
    let dir = workdir(tag);
    std::fs::write(
        dir.join("payment-dr.toml"),
        format!(
            r#"
environment_suffix = "{suffix}"
availability_zones_primary = ["us-east-1a", "us-east-1b", "us-east-1c"]
availability_zones_dr = ["us-east-2a", "us-east-2b", "us-east-2c"]
domain_name = "payments-{suffix}.example.com"
lambda_build = "local"
"#
        ),
    )
    .expect("the config");
    eprintln!("deploy bench: {label}: up of payment-dr/{suffix}");
    let before = proxy.stats();
    let started = Instant::now();
    let mut args = extra.to_vec();
    args.extend(["up", "--yes", "--json"]);
    let report = run_ok(&mut stack(proxy, &dir, &args), label);
    let wall = started.elapsed();
    let calls = delta(&before, &proxy.stats());
    let timing = &report["timing"];
    Run {
        label,
        wall,
        critical_path_ms: timing["critical_path_ms"].as_u64().unwrap_or(0),
        resources: report["steps"].as_array().map_or(0, Vec::len),
        calls,
    }
}

/// Calls made by `preview --refresh` of the deployment of `tag`, and its resources.
fn refresh_calls(proxy: &FaultProxy, tag: &str) -> (u64, usize) {
    let dir = workdir(tag);
    let before = proxy.stats();
    let plan = run_ok(
        &mut stack(proxy, &dir, &["preview", "--refresh", "--json"]),
        "preview --refresh",
    );
    let calls: u64 = delta(&before, &proxy.stats()).values().sum();
    let resources = plan["steps"].as_array().map_or(0, Vec::len);
    (calls, resources)
}

/// Prints the figures as a Markdown section for BENCHMARKS.md.
fn report(latency_ms: u64, parallel: &Run, refresh: (u64, usize), sequential: &Run) {
    let secs = |d: Duration| d.as_secs_f64();
    let cp = parallel.critical_path_ms as f64 / 1000.0;
    let calls = parallel.total_calls();
    let vs_cp = secs(parallel.wall) / cp.max(0.001);
    let vs_seq = secs(parallel.wall) / secs(sequential.wall).max(0.001);
    let per_resource = refresh.0 as f64 / (refresh.1.max(1)) as f64;
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("### Deploying the DR stack at {latency_ms} ms per call\n");
    println!("| | engine (parallelism 10) | sequential (parallelism 1) |");
    println!("|---|---|---|");
    println!(
        "| resources | {} | {} |",
        parallel.resources, sequential.resources
    );
    println!(
        "| wall time | {:.1} s | {:.1} s |",
        secs(parallel.wall),
        secs(sequential.wall)
    );
    println!(
        "| critical path (engine's report) | {cp:.1} s | {:.1} s |",
        sequential.critical_path_ms as f64 / 1000.0
    );
    println!("| calls | {calls} | {} |\n", sequential.total_calls());
    println!("| target | figure | |");
    println!("|---|---|---|");
    println!(
        "| calls of a full `up` <= 200 | {calls} | {} |",
        verdict(calls <= 200)
    );
    println!(
        "| wall <= 1.15 x critical path | {vs_cp:.2} | {} |",
        verdict(vs_cp <= 1.15)
    );
    println!(
        "| wall <= 0.4 x sequential | {vs_seq:.2} | {} |",
        verdict(vs_seq <= 0.4)
    );
    println!(
        "| refresh calls per resource <= 0.5 | {per_resource:.2} ({} calls, {} resources) | {} |\n",
        refresh.0,
        refresh.1,
        verdict(per_resource <= 0.5)
    );
    println!("Calls of the `{}` run by operation:\n", parallel.label);
    let mut by_count: Vec<_> = parallel.calls.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let line: Vec<String> = by_count.iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("{}", line.join(", "));
}

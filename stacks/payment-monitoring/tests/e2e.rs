//! End to end, composing two stacks: the real `payment-dr-stack` binary deploys the DR
//! topology to moto, then the real `payment-monitoring-stack` binary previews (reading the
//! DR stack's outputs through its stack reference, the plan saved with `--out`), applies
//! that saved plan, and the CloudWatch API shows the dashboard and alarms naming the DR
//! stack's functions, clusters and topics; both stacks are then destroyed.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use serde_json::Value;

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";

/// The `payment-dr-stack` binary the workspace build made beside this test's binary
/// (`cargo test --workspace` builds every stack binary before running any test).
fn dr_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/payment-dr-stack
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps");
    let bin = dir.join("payment-dr-stack");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`, or `cargo test --workspace` as scripts/test does)",
        bin.display()
    );
    bin
}

/// `program` with `args`, run in `dir` (configs and the shared state file there)
/// against `endpoint` (the emulator, or a request counter).
fn run(program: &Path, config: &str, dir: &Path, args: &[&str], endpoint: &str) -> Output {
    let mut cmd = iac_tests::stack_command(program, dir);
    cmd.args(["--config", config, "--state", "state.db"])
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint);
    cmd.output().expect("the stack binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Env {
    dir: tempfile::TempDir,
    dr: PathBuf,
    endpoint: String,
}

impl Env {
    fn dr(&self, args: &[&str]) -> Output {
        run(
            &self.dr,
            "payment-dr.toml",
            self.dir.path(),
            args,
            &self.endpoint,
        )
    }

    fn monitoring_at(&self, args: &[&str], endpoint: &str) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_payment-monitoring-stack"));
        run(
            bin,
            "payment-monitoring.toml",
            self.dir.path(),
            args,
            endpoint,
        )
    }

    fn monitoring(&self, args: &[&str]) -> Output {
        self.monitoring_at(args, &self.endpoint)
    }
}

#[track_caller]
fn ok(what: &str, out: Output) -> Output {
    assert!(out.status.success(), "`{what}` failed:\n{}", text(&out));
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on standard output")
}

fn cloudwatch(region: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&iac_tests::Moto::shared().sdk_config(region))
}

/// The metric alarms of `region` named `payment-...<suffix>` (the monitoring stack's
/// alarms and the DR stack's health check alarm; the monitoring stack's suffix ends with
/// the DR stack's, so the DR suffix finds both stacks' alarms).
async fn alarms_ending(region: &str, suffix: &str) -> Vec<aws_sdk_cloudwatch::types::MetricAlarm> {
    let alarms = cloudwatch(region)
        .describe_alarms()
        .alarm_name_prefix("payment-")
        .send()
        .await
        .expect("DescribeAlarms");
    alarms
        .metric_alarms()
        .iter()
        .filter(|a| a.alarm_name().is_some_and(|n| n.ends_with(suffix)))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitoring_stack_reads_the_deployed_dr_stack_and_watches_it() {
    let started = Instant::now();
    let moto = iac_tests::Moto::shared();
    let unique = iac_tests::unique("").replace(['-', '_'], "").to_lowercase();
    let dr_suffix: String = format!("cmp{unique}").chars().take(12).collect();
    let mon_suffix = format!("mon-{dr_suffix}");
    let env = Env {
        dir: tempfile::tempdir().expect("temp dir"),
        dr: dr_binary(),
        endpoint: moto.endpoint().to_string(),
    };
    std::fs::write(
        env.dir.path().join("payment-dr.toml"),
        format!(
            r#"
environment_suffix = "{dr_suffix}"
primary_region = "{PRIMARY}"
dr_region = "{DR}"
availability_zones_primary = ["us-east-1a", "us-east-1b", "us-east-1c"]
availability_zones_dr = ["us-east-2a", "us-east-2b", "us-east-2c"]
domain_name = "payments-{dr_suffix}.example.com"
single_nat_gateway = true
db_instances_per_region = 1
lambda_profile = "dev"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        env.dir.path().join("payment-monitoring.toml"),
        format!("environment_suffix = \"{mon_suffix}\"\ndr_environment_suffix = \"{dr_suffix}\"\n"),
    )
    .unwrap();

    // Before the DR stack exists, the reference stops the preview before any request,
    // naming the stack it reads.
    let counter = iac_tests::RequestCounter::start();
    let early = env.monitoring_at(&["preview"], counter.endpoint());
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    let early = text(&early);
    assert!(
        early.contains(&format!("payment-dr/{dr_suffix}")) && early.contains("`dr-stack`"),
        "{early}"
    );
    assert_eq!(
        counter.connections(),
        0,
        "no request before the reference is read"
    );

    ok("dr up", env.dr(&["up", "--yes"]));
    let deployed_dr = started.elapsed();
    let dr_outputs = json(&ok("dr outputs", env.dr(&["outputs", "--json"])));
    let out = |name: &str| dr_outputs[name].as_str().unwrap_or_default().to_string();
    let functions = [
        out("primary_lambda_function_name"),
        out("dr_lambda_function_name"),
    ];
    let clusters = [out("primary_cluster_id"), out("dr_cluster_id")];
    let topics = [
        out("cloudwatch_alarms_topic_arn"),
        out("cloudwatch_alarms_dr_topic_arn"),
    ];
    assert!(
        functions
            .iter()
            .chain(&clusters)
            .chain(&topics)
            .all(|v| !v.is_empty())
    );

    // The preview reads the reference and says what it read; the plan is saved.
    let preview = ok(
        "monitoring preview --out",
        env.monitoring(&["preview", "--out", "plan.json"]),
    );
    let shown = text(&preview);
    assert!(
        shown.contains(&format!("Reads stack payment-dr/{dr_suffix}")),
        "{shown}"
    );
    for name in functions.iter().chain(&clusters) {
        assert!(
            shown.contains(name.as_str()),
            "{name} in the preview:\n{shown}"
        );
    }
    assert!(shown.contains("7 to create"), "{shown}");
    assert!(shown.contains("Saved this plan to plan.json"), "{shown}");

    // The saved plan is applied exactly.
    let up = ok(
        "monitoring up --plan",
        env.monitoring(&["up", "--plan", "plan.json"]),
    );
    assert!(text(&up).contains("7 created"), "{}", text(&up));
    let mine = json(&ok(
        "monitoring outputs",
        env.monitoring(&["outputs", "--json"]),
    ));
    let dashboard = mine["dashboard_name"].as_str().unwrap().to_string();
    assert_eq!(dashboard, format!("payment-dr-{mon_suffix}"));

    // What CloudWatch holds names the DR stack's resources.
    let got = cloudwatch(PRIMARY)
        .get_dashboard()
        .dashboard_name(&dashboard)
        .send()
        .await
        .expect("GetDashboard");
    let body = got.dashboard_body().unwrap_or_default();
    for name in functions.iter().chain(&clusters) {
        assert!(
            body.contains(name.as_str()),
            "{name} in the dashboard: {body}"
        );
    }
    for (i, region) in [PRIMARY, DR].into_iter().enumerate() {
        let ours = alarms_ending(region, &mon_suffix).await;
        assert_eq!(ours.len(), 3, "{region}: {ours:?}");
        for alarm in &ours {
            assert_eq!(alarm.alarm_actions(), [topics[i].clone()], "{alarm:?}");
            let dimension = &alarm.dimensions()[0];
            let expected = match dimension.name() {
                Some("FunctionName") => &functions[i],
                Some("DBClusterIdentifier") => &clusters[i],
                other => panic!("unexpected dimension {other:?}"),
            };
            assert_eq!(dimension.value(), Some(expected.as_str()), "{alarm:?}");
        }
    }
    // Applied once, the same saved plan is refused: the state moved, naming what.
    let again = env.monitoring(&["up", "--plan", "plan.json"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("the state changed since the plan was made: monitoring/dashboard"),
        "{}",
        text(&again)
    );

    ok("monitoring destroy", env.monitoring(&["destroy", "--yes"]));
    let gone = cloudwatch(PRIMARY)
        .get_dashboard()
        .dashboard_name(&dashboard)
        .send()
        .await;
    assert!(gone.is_err(), "the dashboard is deleted: {gone:?}");
    ok("dr destroy", env.dr(&["destroy", "--yes"]));
    for region in [PRIMARY, DR] {
        let left = alarms_ending(region, &dr_suffix).await;
        assert!(left.is_empty(), "alarms left behind in {region}: {left:?}");
    }
    eprintln!(
        "composed stacks: DR up in {:.1}s, all in {:.1}s",
        deployed_dr.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Bad input through the binary: a configuration with bad fields, and a file that is no
/// saved plan, each exit 1 with an error naming the field or the file, and no request.
#[test]
fn bad_configs_and_plan_files_are_refused_naming_the_field_before_any_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let counter = iac_tests::RequestCounter::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_payment-monitoring-stack"));
    let config = dir.path().join("payment-monitoring.toml");
    let monitoring = |args: &[&str]| {
        run(
            bin,
            "payment-monitoring.toml",
            dir.path(),
            args,
            counter.endpoint(),
        )
    };
    std::fs::write(
        &config,
        "environment_suffix = \"mon-001\"\nperiod_seconds = 45\ndr_region = \"us-east-1\"\nalarm_colour = \"red\"\n",
    )
    .unwrap();
    let out = monitoring(&["preview"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("alarm_colour"), "{}", text(&out));

    std::fs::write(
        &config,
        "environment_suffix = \"mon-001\"\nperiod_seconds = 45\ndr_region = \"us-east-1\"\n",
    )
    .unwrap();
    let out = monitoring(&["preview"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("the configuration has 2 problem(s)"),
        "{shown}"
    );
    assert!(
        shown.contains("`period_seconds`: 45 is not 10, 30"),
        "{shown}"
    );
    assert!(
        shown.contains("`dr_region`: `us-east-1` is also the primary region"),
        "{shown}"
    );

    std::fs::write(&config, "environment_suffix = \"mon-001\"\n").unwrap();
    std::fs::write(
        dir.path().join("plan.json"),
        "{\"format\": \"something else\"}",
    )
    .unwrap();
    let out = monitoring(&["up", "--plan", "plan.json"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("plan.json is not a saved plan: its `format` is `something else`"),
        "{shown}"
    );
    assert!(!shown.contains("panicked"), "{shown}");
    assert_eq!(counter.connections(), 0);
}

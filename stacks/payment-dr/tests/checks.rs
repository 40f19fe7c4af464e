//! Checks at preview on the DR stack, offline: it passes every mandatory policy, its
//! default cost estimate equals a figure computed by hand here, every reference field it
//! uses declares its region rule, and a miswired or policy-violating variant is refused
//! by `up` with zero requests sent (counted by `iac_tests::RequestCounter`). The last
//! tests run the real binary (with a stand-in Lambda zip, so nothing is built) against
//! the counter.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use iac_dsl::asset::Asset;
use iac_dsl::engine::{self, EngineError, RunOptions};
use iac_dsl::{DeclarationError, Level, ResourceOptions, Stack};
use iac_providers::aws::Aws;
use iac_providers::aws::ec2::{SecurityGroupArgs, SecurityGroupRule, SubnetArgs};
use payment_dr_stack::{PaymentDr, PaymentDrConfig, payment_dr, payment_dr_with};
use serde_json::Value;

use crate::e2e::text;

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";

/// The default configuration with the zones named, so that nothing is read from AWS.
fn config() -> PaymentDrConfig {
    let mut c = PaymentDrConfig::new("chk-001");
    c.availability_zones_primary = Some(vec![
        "us-east-1a".into(),
        "us-east-1b".into(),
        "us-east-1c".into(),
    ]);
    c.availability_zones_dr = Some(vec![
        "us-east-2a".into(),
        "us-east-2b".into(),
        "us-east-2c".into(),
    ]);
    c
}

/// A stand-in Lambda package: the checks never need the real one.
fn code(dir: &Path) -> Asset {
    let zip = dir.join("lambda.zip");
    std::fs::write(&zip, b"not a real zip: never deployed by these tests").unwrap();
    Asset::file(zip).unwrap()
}

/// The DR stack with the default providers.
fn dr_stack(config: &PaymentDrConfig, dir: &Path) -> Stack {
    let mut stack = Stack::new("payment-dr", &config.environment_suffix);
    payment_dr(&mut stack, config, &code(dir));
    stack
}

/// The DR stack with providers pointed at the request counter, and its handles.
fn counted_stack(counter: &iac_tests::RequestCounter, dir: &Path) -> (Stack, PaymentDr) {
    let config = config();
    let mut stack = Stack::new("payment-dr", &config.environment_suffix);
    let primary = stack.provider("aws-primary", Aws::from_config(counter.sdk_config(PRIMARY)));
    let dr = stack.provider("aws-dr", Aws::from_config(counter.sdk_config(DR)));
    let handles = payment_dr_with(&mut stack, &config, &code(dir), &primary, &dr);
    (stack, handles)
}

/// `up --yes` through the engine on a fresh state file.
fn up(stack: Stack, dir: &Path) -> Result<engine::Deployment, EngineError> {
    let store = iac_state::StateStore::open(
        &dir.join("state.db"),
        iac_state::OpenOptions {
            secrets: iac_state::SecretsKey::KeyFile(dir.join("state.db.key")),
            create: true,
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(engine::up(
        stack,
        Arc::new(store),
        &RunOptions::default(),
        false,
        &mut |_: &iac_dsl::Plan| true,
    ))
}

#[test]
fn the_dr_stack_passes_every_mandatory_policy_and_runs_the_whole_pack() {
    let dir = tempfile::tempdir().unwrap();
    for production in [false, true] {
        let mut config = config();
        config.production = production;
        let stack = dr_stack(&config, dir.path());
        stack.validate().unwrap();
        let report = iac_dsl::policy::evaluate(&stack);
        let blocking: Vec<_> = report.blocking().collect();
        // Production adds the rules on backups, deletion protection and Lambda in a VPC;
        // a production configuration protects the data (deletion protection and the
        // engine's `protect`), so every one of them passes too.
        assert!(
            blocking.is_empty(),
            "production {production}: {blocking:#?}"
        );
        assert_eq!(report.policies.len(), 11, "the whole built-in pack ran");
        // The only advisory finding: the three alarm topics are not encrypted with a key.
        let advisory: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.level == Level::Advisory)
            .map(|f| f.resource.as_str())
            .collect();
        assert_eq!(
            advisory,
            [
                "primary/alarms-topic",
                "dr/alarms-topic",
                "global/health-alerts-topic"
            ]
        );
    }
}

#[test]
fn each_built_in_policy_fires_on_the_dr_stack_when_broken_and_a_waiver_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let mut stack = dr_stack(&config, dir.path());
    let on_dr = |s: &mut Stack| {
        let dr = s.provider("aws-extra", Aws::region(DR));
        ResourceOptions::default().provider(&dr)
    };
    let opts = on_dr(&mut stack);
    let vpc = stack.find("dr/vpc").unwrap().reference.clone();
    stack.add_with(
        "dr/open-sg",
        SecurityGroupArgs::new("open-sg", "open to the world", vpc.output::<String>("id"))
            .ingress(SecurityGroupRule::tcp(5432).cidr_block("0.0.0.0/0")),
        opts,
    );
    let report = iac_dsl::policy::evaluate(&stack);
    let found: Vec<(&str, &str, &str)> = report
        .blocking()
        .map(|f| (f.policy.as_str(), f.resource.as_str(), f.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [("no-open-admin-ingress", "dr/open-sg", "ingress[0]")]
    );

    stack.waive(
        "no-open-admin-ingress",
        "dr/open-sg",
        "a bastion-less lab network, torn down nightly",
    );
    stack.validate().unwrap();
    let report = iac_dsl::policy::evaluate(&stack);
    assert!(report.passes());
    let waived = report
        .findings
        .iter()
        .find(|f| f.resource == "dr/open-sg")
        .unwrap();
    assert_eq!(
        waived.waived.as_deref(),
        Some("a bastion-less lab network, torn down nightly")
    );

    stack.waive("no-such-policy", "dr/nothing", " ");
    let err = stack.validate().unwrap_err().to_string();
    for needle in [
        "no policy `no-such-policy`",
        "`dr/nothing` is not a resource",
        "needs a reason",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from {err}");
    }
}

#[test]
fn every_reference_field_of_the_dr_stack_says_whether_it_may_cross_regions() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dr_stack(&config(), dir.path());
    let mut undeclared = Vec::new();
    let mut crossing = 0;
    for node in stack.declared() {
        let rules = stack.region_fields(node.reference.type_token());
        for (field, targets) in stack.references_by_field(node) {
            if !rules.declares(&field) {
                undeclared.push(format!(
                    "{} ({}).{field}",
                    node.name(),
                    node.reference.type_token()
                ));
            }
            let here = stack.region_of(node);
            crossing += targets
                .iter()
                .filter(|t| {
                    let there = stack.find(t).and_then(|n| stack.region_of(n));
                    here.is_some() && there.is_some() && here != there
                })
                .count();
        }
    }
    assert_eq!(undeclared, Vec::<String>::new());
    // The stack does cross regions where AWS allows it (replication, the global
    // database, Route 53, IAM), and validates.
    assert!(crossing >= 6, "{crossing} cross-region references");
    stack.validate().unwrap();
}

#[test]
fn a_miswired_dr_stack_is_refused_by_up_naming_both_resources_and_regions_with_no_request() {
    let counter = iac_tests::RequestCounter::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut stack, dr) = counted_stack(&counter, dir.path());
    let on_dr = ResourceOptions::default()
        .provider(&stack.provider("aws-dr-2", Aws::from_config(counter.sdk_config(DR))));
    // A DR-region subnet and security group wired, by mistake, to the primary VPC.
    stack.add_with(
        "dr/stray-subnet",
        SubnetArgs::new(dr.primary.vpc.id(), "10.0.240.0/24", "us-east-2a"),
        on_dr.clone(),
    );
    stack.add_with(
        "dr/stray-sg",
        SecurityGroupArgs::new("stray", "wired to the wrong region", dr.primary.vpc.id()),
        on_dr,
    );
    let err = match up(stack, dir.path()) {
        Err(EngineError::Declaration(e)) => e,
        other => panic!(
            "expected a declaration error, got {:?}",
            other.map(|d| d.plan.steps.len())
        ),
    };
    let crossing: Vec<&DeclarationError> = err
        .0
        .iter()
        .filter(|e| matches!(e, DeclarationError::CrossRegion { .. }))
        .collect();
    assert_eq!(crossing.len(), 2, "{err}");
    let text = err.to_string();
    for needle in [
        "dr/stray-subnet (in us-east-2) refers through `vpc_id` to primary/vpc (in us-east-1)",
        "dr/stray-sg (in us-east-2) refers through `vpc_id` to primary/vpc (in us-east-1)",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    assert_eq!(counter.connections(), 0, "no request was sent");
}

#[test]
fn a_mandatory_violation_is_refused_by_up_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut stack, _) = counted_stack(&counter, dir.path());
    stack.set_policy_level("sns-topic-encrypted", Level::Mandatory);
    match up(stack, dir.path()) {
        Err(EngineError::Policy(report)) => {
            let text = report.to_string();
            assert!(text.contains("3 mandatory policy violation(s)"), "{text}");
            assert!(
                text.contains("[sns-topic-encrypted] dr/alarms-topic"),
                "{text}"
            );
        }
        other => panic!(
            "expected a policy refusal, got {:?}",
            other.map(|d| d.plan.steps.len())
        ),
    }
    assert_eq!(counter.connections(), 0, "no request was sent");
}

/// The estimate of the default DR stack (zones named, every usage assumption at its
/// default), computed by hand from the price list's figures: what the test holds the
/// cost model to.
fn hand_computed() -> (f64, f64, f64) {
    let hours = 730.0;
    // Per region: 2 Aurora db.r6g.large, one cluster (100 GB, 50M I/O), 3 NAT gateways
    // (50 GB each) with 3 public IPv4 addresses, one function (1M requests of 200 ms at
    // 512 MB, x86_64), one REST API (1M requests), one bucket (100 GB), a KMS key (10k
    // requests), an alarms topic (10k publishes) and 3 alarms.
    let instances = 2.0 * 0.26 * hours;
    let cluster = 100.0 * 0.10 + 50.0 * 0.20;
    let nat = 3.0 * (0.045 * hours + 50.0 * 0.045);
    let ipv4 = 3.0 * 0.005 * hours;
    let lambda = 1.0 * 0.20 + 1_000_000.0 * 0.2 * 0.5 * 0.000_016_666_7;
    let api = 3.50;
    let bucket = 100.0 * 0.023;
    let key = 1.00 + 0.03;
    let topic = 0.01 * 0.50;
    let alarms = 3.0 * 0.10;
    let region = instances + cluster + nat + ipv4 + lambda + api + bucket + key + topic + alarms;
    // Managed from the primary region: the global database (10M replicated write I/Os),
    // the secret and its replica, the hosted zone (1M queries), the HTTPS health check,
    // S3 replication (10 GB), the health alarm and its topic.
    let global =
        10.0 * 0.20 + 2.0 * 0.40 + (0.50 + 0.40) + (0.50 + 1.00) + 10.0 * 0.02 + 0.10 + 0.01 * 0.50;
    (region + global, region, region * 2.0 + global)
}

/// The plan of `stack` from nothing, offline, and its cost estimate against `state` (the
/// estimate's "after" is what the plan keeps or makes, its "before" what `state` records).
fn estimate(stack: &Stack, state: &iac_state::StackState) -> (iac_dsl::Plan, iac_dsl::CostReport) {
    let empty = iac_state::StackState {
        stack: stack.id().clone(),
        resources: Vec::new(),
        outputs: Default::default(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let plan = runtime
        .block_on(engine::preview_state(
            stack,
            empty,
            &RunOptions::default(),
            false,
        ))
        .unwrap();
    let cost = iac_dsl::cost::estimate(stack, state, &plan);
    (plan, cost)
}

/// A state recording every resource of `plan` as deployed with its planned inputs.
fn deployed(stack: &Stack, plan: &iac_dsl::Plan) -> iac_state::StackState {
    let resources = plan
        .steps
        .iter()
        .map(|s| iac_state::ResourceRecord {
            name: s.name.clone(),
            type_token: s.type_token.clone(),
            provider: s.provider.clone(),
            id: format!("id-of-{}", s.name),
            inputs: s.inputs.clone(),
            outputs: Value::Object(Default::default()),
            dependencies: Vec::new(),
            options: Default::default(),
            status: Default::default(),
            created_at: 0,
            updated_at: 0,
        })
        .collect();
    iac_state::StackState {
        stack: stack.id().clone(),
        resources,
        outputs: Default::default(),
    }
}

#[test]
fn the_dr_stack_default_estimate_equals_the_figure_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dr_stack(&config(), dir.path());
    let empty = iac_state::StackState {
        stack: stack.id().clone(),
        resources: Vec::new(),
        outputs: Default::default(),
    };
    let (plan, cost) = estimate(&stack, &empty);
    let (primary, dr, total) = hand_computed();
    let near = |a: f64, b: f64| (a - b).abs() < 0.005;
    assert!(
        near(cost.total, total),
        "total {} vs {total} by hand",
        cost.total
    );
    assert!(
        near(cost.regions[PRIMARY], primary),
        "{:?} vs {primary}",
        cost.regions
    );
    assert!(near(cost.regions[DR], dr), "{:?} vs {dr}", cost.regions);
    assert!(
        near(cost.change, total) && cost.before == 0.0,
        "a new stack adds it all"
    );
    assert_eq!(cost.unpriced, vec![], "every type of the stack is priced");
    // 1,055.21 a month: the figure README quotes.
    assert_eq!(format!("{:.2}", cost.total), "1055.21");

    // Deployed, the same declaration changes nothing; one NAT gateway per region instead
    // of three removes 2 gateways and 2 addresses in each: 4 x (35.10 + 3.65).
    let state = deployed(&stack, &plan);
    let (_, same) = estimate(&stack, &state);
    assert!(
        near(same.before, total) && near(same.change, 0.0),
        "{} {}",
        same.before,
        same.change
    );
    let mut single = config();
    single.single_nat_gateway = true;
    let (_, fewer) = estimate(&dr_stack(&single, dir.path()), &state);
    let saved = 4.0 * (0.045 * 730.0 + 50.0 * 0.045 + 0.005 * 730.0);
    assert!(near(fewer.change, -saved), "{} vs -{saved}", fewer.change);

    // A usage override changes the estimate by what it says, and only that.
    let mut busy = config();
    busy.usage
        .insert("lambda_requests_per_month".into(), 11_000_000.0);
    let (_, more) = estimate(&dr_stack(&busy, dir.path()), &empty);
    let per_function = 10.0 * 0.20 + 10_000_000.0 * 0.2 * 0.5 * 0.000_016_666_7;
    assert!(
        near(more.total - cost.total, 2.0 * per_function),
        "{} vs {}",
        more.total,
        cost.total
    );
}

/// Runs the stack binary with `config`, the Lambda's local build and every AWS endpoint at
/// the request counter.
fn run_binary(counter: &iac_tests::RequestCounter, config: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    // The local build: its identity is read from the sources, and nothing here builds it
    // (neither `preview` nor a refused `up` needs the package's bytes).
    let config = format!("lambda_build = \"local\"\n{config}");
    std::fs::write(dir.path().join("payment-dr.toml"), config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_payment-dr-stack"))
        .current_dir(dir.path())
        .args(["--config", "payment-dr.toml", "--state", "state.db"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PAYMENT_PROCESSOR_ZIP")
        .env("AWS_ENDPOINT_URL", counter.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the stack binary runs");
    assert!(!dir.path().join("state.db").exists() || args[0] == "up");
    out
}

const CONFIG: &str = r#"
environment_suffix = "chk-001"
availability_zones_primary = ["us-east-1a", "us-east-1b", "us-east-1c"]
availability_zones_dr = ["us-east-2a", "us-east-2b", "us-east-2c"]
"#;

#[test]
fn the_binary_previews_policies_and_cost_and_refuses_up_on_a_violation() {
    let counter = iac_tests::RequestCounter::start();
    let out = run_binary(&counter, CONFIG, &["preview"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for needle in [
        "Policies (11 checked, production rules off)",
        "Every mandatory policy passes.",
        "[advisory] sns-topic-encrypted on dr/alarms-topic",
        "Estimated monthly cost",
        "us-east-1",
        "this plan: +$",
        "lambda_requests_per_month = 1000000",
    ] {
        assert!(shown.contains(needle), "`{needle}` missing from:\n{shown}");
    }

    let out = run_binary(&counter, CONFIG, &["preview", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(132));
    assert_eq!(
        doc["policies"]["policies"].as_array().map(Vec::len),
        Some(11)
    );
    let total = doc["cost"]["total"].as_f64().unwrap();
    assert!((total - hand_computed().2).abs() < 0.005, "{total}");

    // A level change in the configuration makes the topics' rule mandatory: `up` and
    // `preview --policy-only` refuse, naming the resources; waivers with reasons pass.
    let strict = format!("{CONFIG}\n[policy.levels]\nsns-topic-encrypted = \"mandatory\"\n");
    let out = run_binary(&counter, &strict, &["preview", "--policy-only"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = run_binary(&counter, &strict, &["up", "--yes"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("3 mandatory policy violation(s); nothing was sent"),
        "{shown}"
    );
    let mut waived = strict.clone();
    for topic in [
        "primary/alarms-topic",
        "dr/alarms-topic",
        "global/health-alerts-topic",
    ] {
        waived.push_str(&format!(
            "\n[[policy.waivers]]\npolicy = \"sns-topic-encrypted\"\nresource = \"{topic}\"\nreason = \"alarm topics carry no payment data\"\n"
        ));
    }
    let out = run_binary(&counter, &waived, &["preview", "--policy-only"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("waiver: alarm topics carry no payment data"),
        "{shown}"
    );
    assert_eq!(counter.connections(), 0, "no request was sent");
}

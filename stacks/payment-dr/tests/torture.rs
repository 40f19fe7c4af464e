//! Torture: the whole payment-dr stack deployed against moto through a fault-injecting
//! loopback proxy (added latency, lost answers, dropped connections), the real binary
//! killed with SIGKILL at random moments of `up`, of an update and of `destroy`, and then
//! plain `up` (or `destroy`) runs, with no manual step, until it converges.
//!
//! It passes only with no duplicated object of any kind and no object of the stack
//! missing from state (both counted by listing the emulator, not from state), a refreshed
//! preview with no changes, and a clean destroy. Seeded (`IAC_TORTURE_SEED`, printed) and
//! bounded: each run of the binary is killed or finishes within its time, and the number
//! of runs to converge is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use iac_tests::proxy::{FaultPolicy, FaultProxy};
use serde_json::Value;

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";
const SUFFIX: &str = "torture-1";
/// Kills during the first deployment, the update and the destroy.
const KILLS_UP: usize = 7;
const KILLS_UPDATE: usize = 3;
const KILLS_DESTROY: usize = 3;
/// Plain runs allowed to converge after the kills of one phase.
const MAX_RUNS: usize = 6;

/// What the test injected and needed, for RELIABILITY.md.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    runs_to_converge: Vec<usize>,
}

/// A small deterministic generator (xorshift), so a seed replays the same kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn config(update: bool) -> String {
    // The minimal configuration (zones read from each region), as a new user writes it;
    // the update changes one value of the alarms.
    let lag = if update {
        "replication_lag_threshold = 20\n"
    } else {
        ""
    };
    format!("environment_suffix = \"{SUFFIX}\"\nlambda_profile = \"dev\"\n{lag}")
}

fn command(dir: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payment-dr-stack"));
    cmd.current_dir(dir)
        .args(["--config", "payment-dr.toml", "--state", "state.db"])
        .args(args)
        .env("NO_COLOR", "1")
        .env("IAC_PASSPHRASE", "torture test passphrase")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", iac_tests::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", iac_tests::SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Kills `kills` runs of `args` in the middle, each at a random moment in `window`
/// (milliseconds). A run that finishes before its kill was not killed: the window then
/// halves (each killed run leaves less for the next to do, and a machine may be faster
/// than the window assumes), for at most three times `kills` runs. Returns the kills.
fn kill_runs(
    dir: &Path,
    endpoint: &str,
    args: &[&str],
    kills: usize,
    window: (u64, u64),
    rng: &mut Rng,
) -> usize {
    let (mut lo, mut hi) = window;
    let mut killed = 0;
    for _ in 0..kills * 3 {
        if killed == kills {
            break;
        }
        let after = Duration::from_millis(rng.between(lo, hi));
        if run_and_kill(dir, endpoint, args, after) {
            killed += 1;
        } else {
            hi = (hi / 2).max(lo + 1);
            lo = (lo / 2).max(50);
        }
    }
    killed
}

/// Starts `args` and kills it with SIGKILL after `after`; returns whether it was still
/// running (a run that finished first is not counted as a kill).
fn run_and_kill(dir: &Path, endpoint: &str, args: &[&str], after: Duration) -> bool {
    let mut child = command(dir, endpoint, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the stack binary starts");
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    killed
}

/// Plain runs of `args` until one succeeds; returns how many it took.
fn converge(dir: &Path, endpoint: &str, args: &[&str], phase: &str) -> usize {
    let mut last = String::new();
    for run in 1..=MAX_RUNS {
        let out = command(dir, endpoint, args).output().unwrap();
        if out.status.success() {
            return run;
        }
        last = text(&out);
        eprintln!("torture: {phase}: run {run} did not finish yet:\n{last}");
    }
    panic!("{phase}: no convergence in {MAX_RUNS} plain runs; the last said:\n{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_and_faulted_runs_converge_with_no_duplicate_and_no_orphan() {
    let seed: u64 = std::env::var("IAC_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("torture: seed {seed} (set IAC_TORTURE_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let moto = iac_tests::Moto::shared();
    let proxy = FaultProxy::start(
        moto.endpoint(),
        FaultPolicy {
            seed,
            lose_probability: 0.07,
            drop_probability: 0.02,
            latency: Some((Duration::from_millis(0), Duration::from_millis(15))),
            ..FaultPolicy::default()
        },
    );
    let endpoint = proxy.endpoint().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut figures = Figures::default();
    let started = Instant::now();
    let phase = |name: &str| eprintln!("torture: {name} at {:.0?}", started.elapsed());

    // The first deployment, killed again and again.
    std::fs::write(d.join("payment-dr.toml"), config(false)).unwrap();
    // A first deployment takes about 15 s against the emulator (its longest wait is the
    // certificates', issued 10 s after the request), and each killed run leaves less to do.
    figures.kills += kill_runs(
        d,
        &endpoint,
        &["up", "--yes"],
        KILLS_UP,
        (1_500, 9_000),
        &mut rng,
    );
    figures
        .runs_to_converge
        .push(converge(d, &endpoint, &["up", "--yes"], "up"));
    phase("up converged");
    let live = census(moto).await;
    check_census(&live, &state_ids(d, &endpoint), "after up");

    // An update, killed in the middle.
    std::fs::write(d.join("payment-dr.toml"), config(true)).unwrap();
    // Commands no longer package the Lambda before planning, so an update run takes well
    // under a second against the emulator: the kill must come within it.
    figures.kills += kill_runs(
        d,
        &endpoint,
        &["up", "--yes"],
        KILLS_UPDATE,
        (150, 700),
        &mut rng,
    );
    figures
        .runs_to_converge
        .push(converge(d, &endpoint, &["up", "--yes"], "update"));
    phase("update converged");
    let live = census(moto).await;
    check_census(&live, &state_ids(d, &endpoint), "after the update");

    // Read back through the emulator, everything is as declared.
    proxy.set_policy(FaultPolicy::default());
    let preview = command(
        d,
        &endpoint,
        &["preview", "--refresh", "--detailed-exitcode"],
    )
    .output()
    .unwrap();
    assert_eq!(
        preview.status.code(),
        Some(0),
        "a refreshed preview after convergence has no changes:\n{}",
        text(&preview)
    );

    // Destroy, killed in the middle, then plain destroys.
    proxy.set_policy(FaultPolicy {
        seed: seed.rotate_left(7),
        lose_probability: 0.07,
        drop_probability: 0.02,
        ..FaultPolicy::default()
    });
    figures.kills += kill_runs(
        d,
        &endpoint,
        &["destroy", "--yes"],
        KILLS_DESTROY,
        (300, 2_000),
        &mut rng,
    );
    figures
        .runs_to_converge
        .push(converge(d, &endpoint, &["destroy", "--yes"], "destroy"));
    phase("destroy converged");
    let left = census(moto).await;
    assert!(
        left.is_empty(),
        "destroy leaves nothing of the stack: {left:#?}"
    );

    let stats = proxy.stats();
    eprintln!(
        "torture: seed {seed}: {} kills, {} calls through the proxy, {} faults injected ({} answers lost), runs to converge (up, update, destroy): {:?}, duplicates 0, orphans 0",
        figures.kills,
        stats.total_calls(),
        stats.total_faults(),
        stats.total_lost(),
        figures.runs_to_converge
    );
    assert!(
        figures.kills >= 10,
        "at least ten runs were killed in the middle ({})",
        figures.kills
    );
    assert!(stats.total_faults() > 0, "faults were injected");
}

/// The physical ids recorded in state.
fn state_ids(dir: &Path, endpoint: &str) -> BTreeSet<String> {
    let out = command(dir, endpoint, &["state", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).expect("state list --json");
    rows.as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// One object of the stack found in the emulator.
#[derive(Debug, Clone)]
struct Live {
    /// Its kind, e.g. `primary EC2 subnet`.
    kind: String,
    /// Its identifiers (id, name, ARN): state records one of them.
    keys: Vec<String>,
    /// What makes it one of a kind: its `iac:name` tag or its unique name.
    logical: String,
}

fn check_census(live: &[Live], recorded: &BTreeSet<String>, when: &str) {
    let mut by_logical: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for l in live {
        *by_logical.entry((&l.kind, &l.logical)).or_default() += 1;
    }
    let duplicates: Vec<_> = by_logical.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "{when}: duplicated objects: {duplicates:?}"
    );
    let orphans: Vec<&Live> = live
        .iter()
        .filter(|l| !l.keys.iter().any(|k| recorded.contains(k)))
        .collect();
    assert!(
        orphans.is_empty(),
        "{when}: objects of the stack missing from state: {orphans:#?}"
    );
    // The census lists the objects that can be duplicated or orphaned on their own
    // (about 80 of the stack's 132 records; routes, rules, associations, record sets and
    // API methods live inside them).
    assert!(
        live.len() >= 70,
        "{when}: the census sees the stack ({} objects)",
        live.len()
    );
    eprintln!(
        "torture: {when}: {} objects of the stack listed, 0 duplicated, 0 missing from state",
        live.len()
    );
}

fn tag<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, key: &str) -> Option<String> {
    tags.into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Every object of the stack in the emulator, by listing each service (not from state).
async fn census(moto: &iac_tests::Moto) -> Vec<Live> {
    let stack = format!("payment-dr/{SUFFIX}");
    let mut live = Vec::new();
    let mut push = |kind: String, keys: Vec<String>, logical: String| {
        live.push(Live {
            kind,
            keys,
            logical,
        })
    };
    let route53 = aws_sdk_route53::Client::new(&moto.sdk_config(PRIMARY));
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config(PRIMARY));
    for (word, region) in [("primary", PRIMARY), ("dr", DR)] {
        let cfg = moto.sdk_config(region);
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let ours = aws_sdk_ec2::types::Filter::builder()
            .name("tag:iac:stack")
            .values(&stack)
            .build();
        let ec2_tag = |tags: &[aws_sdk_ec2::types::Tag], key: &str| {
            tag(
                tags.iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                key,
            )
        };
        // moto ignores tag filters on some describes (NAT gateways, addresses): the
        // stack tag is checked here as well, so other tests' objects never count.
        let ours_by_tags = |tags: &[aws_sdk_ec2::types::Tag]| {
            ec2_tag(tags, "iac:stack").as_deref() == Some(stack.as_str())
        };
        let ec2_tags =
            |tags: &[aws_sdk_ec2::types::Tag]| ec2_tag(tags, "iac:name").unwrap_or_default();
        for v in ec2
            .describe_vpcs()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .vpcs()
        {
            let id = v.vpc_id().unwrap_or_default().to_string();
            push(format!("{word} vpc"), vec![id], ec2_tags(v.tags()));
        }
        for s in ec2
            .describe_subnets()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .subnets()
        {
            let id = s.subnet_id().unwrap_or_default().to_string();
            push(format!("{word} subnet"), vec![id], ec2_tags(s.tags()));
        }
        for g in ec2
            .describe_internet_gateways()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .internet_gateways()
        {
            let id = g.internet_gateway_id().unwrap_or_default().to_string();
            push(
                format!("{word} internet gateway"),
                vec![id],
                ec2_tags(g.tags()),
            );
        }
        for n in ec2
            .describe_nat_gateways()
            .filter(ours.clone())
            .send()
            .await
            .unwrap()
            .nat_gateways()
        {
            use aws_sdk_ec2::types::NatGatewayState as S;
            if matches!(n.state(), Some(S::Deleted | S::Deleting | S::Failed))
                || !ours_by_tags(n.tags())
            {
                continue;
            }
            let id = n.nat_gateway_id().unwrap_or_default().to_string();
            push(format!("{word} NAT gateway"), vec![id], ec2_tags(n.tags()));
        }
        for a in ec2
            .describe_addresses()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .addresses()
        {
            if !ours_by_tags(a.tags()) {
                continue;
            }
            let id = a.allocation_id().unwrap_or_default().to_string();
            push(format!("{word} Elastic IP"), vec![id], ec2_tags(a.tags()));
        }
        for t in ec2
            .describe_route_tables()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .route_tables()
        {
            let id = t.route_table_id().unwrap_or_default().to_string();
            push(format!("{word} route table"), vec![id], ec2_tags(t.tags()));
        }
        for g in ec2
            .describe_security_groups()
            .filters(ours.clone())
            .send()
            .await
            .unwrap()
            .security_groups()
        {
            let id = g.group_id().unwrap_or_default().to_string();
            push(
                format!("{word} security group"),
                vec![id],
                ec2_tags(g.tags()),
            );
        }

        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&cfg)
                .force_path_style(true)
                .build(),
        );
        if word == "primary" {
            // Bucket names are global: list them once.
            for b in s3.list_buckets().send().await.unwrap().buckets() {
                let name = b.name().unwrap_or_default().to_string();
                if name.contains(SUFFIX) {
                    push(
                        "S3 bucket".into(),
                        vec![name.clone(), format!("arn:aws:s3:::{name}")],
                        name,
                    );
                }
            }
        }

        let kms = aws_sdk_kms::Client::new(&cfg);
        for k in kms.list_keys().send().await.unwrap().keys() {
            let id = k.key_id().unwrap_or_default().to_string();
            let meta = kms.describe_key().key_id(&id).send().await.unwrap();
            let state = meta.key_metadata().and_then(|m| m.key_state().cloned());
            if state == Some(aws_sdk_kms::types::KeyState::PendingDeletion) {
                continue;
            }
            let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
            let pairs: Vec<(&str, &str)> = tags
                .tags()
                .iter()
                .map(|t| (t.tag_key(), t.tag_value()))
                .collect();
            if tag(pairs.iter().copied(), "iac:stack").as_deref() != Some(stack.as_str()) {
                continue;
            }
            let arn = k.key_arn().unwrap_or_default().to_string();
            let logical = tag(pairs.iter().copied(), "iac:name").unwrap_or_default();
            push(format!("{word} KMS key"), vec![id, arn], logical);
        }
        for a in kms.list_aliases().send().await.unwrap().aliases() {
            let name = a.alias_name().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = a.alias_arn().unwrap_or_default().to_string();
                push(format!("{word} KMS alias"), vec![name.clone(), arn], name);
            }
        }

        let secrets = aws_sdk_secretsmanager::Client::new(&cfg);
        for s in secrets.list_secrets().send().await.unwrap().secret_list() {
            let name = s.name().unwrap_or_default().to_string();
            // The DR region's copy is a replica of the primary secret, not an object
            // of its own.
            if name.contains(SUFFIX) && s.primary_region().is_none_or(|p| p == region) {
                let arn = s.arn().unwrap_or_default().to_string();
                push(format!("{word} secret"), vec![name.clone(), arn], name);
            }
        }

        let lambda = aws_sdk_lambda::Client::new(&cfg);
        for f in lambda.list_functions().send().await.unwrap().functions() {
            let name = f.function_name().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = f.function_arn().unwrap_or_default().to_string();
                push(
                    format!("{word} Lambda function"),
                    vec![name.clone(), arn],
                    name,
                );
            }
        }

        let apigw = aws_sdk_apigateway::Client::new(&cfg);
        for api in apigw.get_rest_apis().send().await.unwrap().items() {
            let name = api.name().unwrap_or_default().to_string();
            if !name.contains(SUFFIX) {
                continue;
            }
            let id = api.id().unwrap_or_default().to_string();
            push(format!("{word} REST API"), vec![id.clone()], name.clone());
            let deployments = apigw
                .get_deployments()
                .rest_api_id(&id)
                .send()
                .await
                .unwrap();
            for dep in deployments.items() {
                let dep_id = dep.id().unwrap_or_default().to_string();
                // One deployment per API is declared: a second one is a duplicate.
                push(
                    format!("{word} API deployment"),
                    vec![dep_id.clone(), format!("{id}/{dep_id}")],
                    name.clone(),
                );
            }
        }

        let rds = aws_sdk_rds::Client::new(&cfg);
        for c in rds
            .describe_db_clusters()
            .send()
            .await
            .unwrap()
            .db_clusters()
        {
            let name = c.db_cluster_identifier().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = c.db_cluster_arn().unwrap_or_default().to_string();
                push(
                    format!("{word} Aurora cluster"),
                    vec![name.clone(), arn],
                    name,
                );
            }
        }
        for i in rds
            .describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances()
        {
            let name = i.db_instance_identifier().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = i.db_instance_arn().unwrap_or_default().to_string();
                push(
                    format!("{word} Aurora instance"),
                    vec![name.clone(), arn],
                    name,
                );
            }
        }
        for g in rds
            .describe_db_subnet_groups()
            .send()
            .await
            .unwrap()
            .db_subnet_groups()
        {
            let name = g.db_subnet_group_name().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = g.db_subnet_group_arn().unwrap_or_default().to_string();
                push(
                    format!("{word} DB subnet group"),
                    vec![name.clone(), arn],
                    name,
                );
            }
        }
        if word == "primary" {
            for g in rds
                .describe_global_clusters()
                .send()
                .await
                .unwrap()
                .global_clusters()
            {
                let name = g
                    .global_cluster_identifier()
                    .unwrap_or_default()
                    .to_string();
                if name.contains(SUFFIX) {
                    let arn = g.global_cluster_arn().unwrap_or_default().to_string();
                    push(
                        "Aurora global cluster".into(),
                        vec![name.clone(), arn],
                        name,
                    );
                }
            }
        }

        let sns = aws_sdk_sns::Client::new(&cfg);
        for t in sns.list_topics().send().await.unwrap().topics() {
            let arn = t.topic_arn().unwrap_or_default().to_string();
            if arn.contains(SUFFIX) {
                push(format!("{word} SNS topic"), vec![arn.clone()], arn);
            }
        }

        let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
        for a in cloudwatch
            .describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
        {
            let name = a.alarm_name().unwrap_or_default().to_string();
            if name.contains(SUFFIX) {
                let arn = a.alarm_arn().unwrap_or_default().to_string();
                push(format!("{word} alarm"), vec![name.clone(), arn], name);
            }
        }

        let acm = aws_sdk_acm::Client::new(&cfg);
        for c in acm
            .list_certificates()
            .send()
            .await
            .unwrap()
            .certificate_summary_list()
        {
            let arn = c.certificate_arn().unwrap_or_default().to_string();
            let tags = acm
                .list_tags_for_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .unwrap();
            let pairs: Vec<(&str, &str)> = tags
                .tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default()))
                .collect();
            if tag(pairs.iter().copied(), "iac:stack").as_deref() == Some(stack.as_str()) {
                let logical = tag(pairs.iter().copied(), "iac:name").unwrap_or_default();
                push(format!("{word} certificate"), vec![arn], logical);
            }
        }
    }

    for z in route53
        .list_hosted_zones()
        .send()
        .await
        .unwrap()
        .hosted_zones()
    {
        let id = z.id().trim_start_matches("/hostedzone/").to_string();
        let tags = route53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(&id)
            .send()
            .await
            .unwrap();
        let pairs: Vec<(&str, &str)> = tags
            .resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
            .collect();
        if tag(pairs.iter().copied(), "iac:stack").as_deref() == Some(stack.as_str()) {
            let logical = tag(pairs.iter().copied(), "iac:name").unwrap_or_default();
            push(
                "hosted zone".into(),
                vec![id.clone(), z.id().to_string()],
                logical,
            );
        }
    }
    for h in route53
        .list_health_checks()
        .send()
        .await
        .unwrap()
        .health_checks()
    {
        let id = h.id().to_string();
        let tags = route53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
            .resource_id(&id)
            .send()
            .await
            .unwrap();
        let pairs: Vec<(&str, &str)> = tags
            .resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
            .collect();
        if tag(pairs.iter().copied(), "iac:stack").as_deref() == Some(stack.as_str()) {
            let logical = tag(pairs.iter().copied(), "iac:name").unwrap_or_default();
            push("health check".into(), vec![id], logical);
        }
    }
    for r in iam.list_roles().send().await.unwrap().roles() {
        if r.role_name().contains(SUFFIX) {
            push(
                "IAM role".into(),
                vec![r.role_name().to_string(), r.arn().to_string()],
                r.role_name().to_string(),
            );
        }
    }
    for p in iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap()
        .policies()
    {
        let name = p.policy_name().unwrap_or_default().to_string();
        if name.contains(SUFFIX) {
            let arn = p.arn().unwrap_or_default().to_string();
            push("IAM policy".into(), vec![arn, name.clone()], name);
        }
    }
    live
}

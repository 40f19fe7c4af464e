//! Writer changes of the whole stack through the real binary, against moto behind the
//! fault proxy: a planned switchover (refused over the lag limit, then made, with the
//! Route 53 roles following the writer after it, in that order in the preview); then,
//! while every request signed for the primary region is dropped, a managed failover
//! (failed back by a switchover once the region is back) and a detach-and-promote. The
//! unplanned changes complete without sending anything to the failed region and are
//! recorded with what they could not reach; a plain `up` once the region is back finds
//! nothing to do and duplicates nothing; switching back to the stale writer a detach
//! left is refused; the failback after the detach re-forms the global database from the
//! promoted cluster (a new generation, the old primary replaced by a new member, which
//! the preview says discards its data) and then switches the writer back.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Instant;

use iac_tests::proxy::{FaultPolicy, FaultProxy};
use serde_json::Value;

use crate::e2e::{command, named_config, suffix, text};

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";
/// moto's account.
const ACCOUNT: &str = "123456789012";

/// Runs the binary in `dir` against `endpoint` (the proxy).
fn run(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    command(dir, args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdin(Stdio::null())
        .output()
        .expect("the stack binary runs")
}

/// The settings of an unplanned writer change to the DR region made with `mode`.
fn to_dr_unplanned(mode: &str) -> Vec<String> {
    [
        "--set".to_string(),
        format!("writer_region={DR}"),
        "--set".to_string(),
        format!("failover_mode={mode}"),
        "--set".to_string(),
        "max_switchover_lag_seconds=600".to_string(),
    ]
    .to_vec()
}

#[track_caller]
fn ok(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    let out = run(dir, endpoint, args);
    assert!(
        out.status.success(),
        "`{}` failed:\n{}",
        args.join(" "),
        text(&out)
    );
    out
}

/// The changed steps of a `preview --json`, in the plan's order.
fn changes(out: &Output) -> Vec<(String, String)> {
    let plan: Value = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["op"] != "same")
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["op"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The global cluster's recorded outputs.
fn global_record(dir: &Path, endpoint: &str) -> Value {
    let out = ok(
        dir,
        endpoint,
        &["--json", "state", "show", "global/aurora-global-cluster"],
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("state show is JSON");
    shown["outputs"].clone()
}

/// `(member ARN, is writer)` of the global cluster, read from moto directly.
pub(crate) async fn members(rds: &aws_sdk_rds::Client, id: &str) -> Vec<(String, bool)> {
    let out = rds
        .describe_global_clusters()
        .global_cluster_identifier(id)
        .send()
        .await
        .unwrap();
    // moto lists every global cluster whatever the identifier asked for (the other
    // e2e tests deploy theirs into the same emulator): pick ours by its identifier.
    let ours = out
        .global_clusters()
        .iter()
        .find(|g| g.global_cluster_identifier() == Some(id))
        .unwrap_or_else(|| panic!("no global cluster {id}"));
    let mut members: Vec<(String, bool)> = ours
        .global_cluster_members()
        .iter()
        .map(|m| {
            (
                m.db_cluster_arn().unwrap().to_string(),
                m.is_writer().unwrap_or(false),
            )
        })
        .collect();
    members.sort();
    members
}

/// The stack's clusters in `region` (by name), read from moto directly.
async fn clusters(region: &str, suffix: &str) -> Vec<String> {
    let rds = aws_sdk_rds::Client::new(&iac_tests::Moto::shared().sdk_config(region));
    let out = rds.describe_db_clusters().send().await.unwrap();
    out.db_clusters()
        .iter()
        .filter_map(|c| c.db_cluster_identifier())
        .filter(|id| id.ends_with(suffix))
        .map(str::to_string)
        .collect()
}

/// The Route 53 view of the failover pair: `(set identifier, alias target)`.
async fn dns_roles(route53: &aws_sdk_route53::Client, domain: &str) -> Vec<(String, String)> {
    let zones = route53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .unwrap();
    let zone = zones
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == domain)
        .unwrap_or_else(|| panic!("no hosted zone {domain}"))
        .id()
        .to_string();
    let sets = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    let mut roles: Vec<(String, String)> = sets
        .resource_record_sets()
        .iter()
        .filter(|r| r.failover().is_some())
        .map(|r| {
            (
                r.set_identifier().unwrap_or_default().to_string(),
                r.alias_target()
                    .map(|a| a.dns_name().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    roles.sort();
    roles
}

/// Asserts that the primary cluster (`arns[0]`) writes again, the DR one (`arns[1]`)
/// reads, and that a switchover put it there.
async fn switched_back(
    dir: &Path,
    endpoint: &str,
    rds: &aws_sdk_rds::Client,
    gid: &str,
    arns: [&str; 2],
) {
    assert_eq!(
        members(rds, gid).await,
        [(arns[0].to_string(), true), (arns[1].to_string(), false)]
    );
    assert_eq!(
        global_record(dir, endpoint)["last_writer_change"]["how"],
        "switchover"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn planned_and_unplanned_writer_changes_of_the_whole_stack() {
    let started = Instant::now();
    let moto = iac_tests::Moto::shared();
    let proxy = FaultProxy::start(moto.endpoint(), FaultPolicy::default());
    let endpoint = proxy.endpoint().to_string();
    let e = endpoint.as_str();
    let suffix = suffix("f");
    let domain = format!("payments-{suffix}.example.com");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("payment-dr.toml"), named_config(&suffix)).unwrap();
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config(PRIMARY));
    let route53 = aws_sdk_route53::Client::new(&moto.sdk_config(PRIMARY));
    let gid = format!("payment-global-cluster-{suffix}");
    let primary_arn =
        format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:cluster:payment-cluster-primary-{suffix}");
    let dr_arn = format!("arn:aws:rds:{DR}:{ACCOUNT}:cluster:payment-cluster-dr-{suffix}");

    ok(d, e, &["up", "--yes"]);
    eprintln!("failover: deployed in {:.0?}", started.elapsed());
    assert_eq!(
        members(&rds, &gid).await,
        [(primary_arn.clone(), true), (dr_arn.clone(), false)]
    );
    let roles_before = dns_roles(&route53, &domain).await;

    // 1. Planned: the preview lists, in order, the writer and then what follows it (the
    // health check and the failover records, first-served record first).
    let to_dr = ["--set", &format!("writer_region={DR}")[..]].map(str::to_string);
    let to_dr: Vec<&str> = to_dr.iter().map(String::as_str).collect();
    let plan = run(
        d,
        e,
        &[&to_dr[..], &["preview", "--json", "--detailed-exitcode"]].concat(),
    );
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let names: Vec<String> = changes(&plan).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "global/aurora-global-cluster",
            "global/health-check",
            "global/api-record-primary",
            "global/api-record-secondary",
        ],
        "{}",
        text(&plan)
    );
    assert!(changes(&plan).iter().all(|(_, op)| op == "update"));

    // Over the lag limit, the switchover is refused and nothing moves.
    iac_tests::put_replication_lag(
        &moto.sdk_config(DR),
        &format!("payment-cluster-dr-{suffix}"),
        120_000.0,
        std::time::SystemTime::now(),
    )
    .await;
    let refused = run(d, e, &[&to_dr[..], &["up", "--yes"]].concat());
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused)
            .contains("replication lag is 120.0 s, over max_switchover_lag_seconds = 60 s"),
        "{}",
        text(&refused)
    );
    assert_eq!(members(&rds, &gid).await[0], (primary_arn.clone(), true));
    assert_eq!(
        dns_roles(&route53, &domain).await,
        roles_before,
        "DNS did not move"
    );

    // Under a raised limit it goes ahead, and DNS follows the writer.
    let raised = [&to_dr[..], &["--set", "max_switchover_lag_seconds=600"]].concat();
    ok(d, e, &[&raised[..], &["up", "--yes"]].concat());
    assert_eq!(
        members(&rds, &gid).await,
        [(primary_arn.clone(), false), (dr_arn.clone(), true)]
    );
    let record = global_record(d, e)["last_writer_change"].clone();
    assert_eq!(record["how"], "switchover", "{record}");
    assert_eq!(record["via_region"], PRIMARY, "{record}");
    assert_eq!(record["replication_lag_ms"], 120_000.0, "{record}");
    let roles_dr = dns_roles(&route53, &domain).await;
    assert_eq!(roles_dr.len(), 2);
    assert_eq!(
        (roles_dr[0].1.clone(), roles_dr[1].1.clone()),
        (roles_before[1].1.clone(), roles_before[0].1.clone()),
        "the primary and secondary records swapped regions"
    );
    let same = run(
        d,
        e,
        &[&raised[..], &["preview", "--detailed-exitcode"]].concat(),
    );
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // And back, planned, to start the unplanned change from the primary.
    ok(
        d,
        e,
        &["--set", "max_switchover_lag_seconds=600", "up", "--yes"],
    );
    assert_eq!(members(&rds, &gid).await[0], (primary_arn.clone(), true));
    assert_eq!(dns_roles(&route53, &domain).await, roles_before);
    eprintln!(
        "failover: planned there and back at {:.0?}",
        started.elapsed()
    );

    // 2. Unplanned, with the primary region unreachable: every request signed for it is
    // dropped by the proxy.
    let outage = FaultPolicy {
        unreachable_regions: vec![PRIMARY.to_string()],
        ..FaultPolicy::default()
    };
    proxy.set_policy(outage.clone());
    let dropped = aws_sdk_rds::Client::new(&proxy.sdk_config(PRIMARY))
        .describe_db_clusters()
        .send()
        .await;
    assert!(dropped.is_err(), "the primary region is unreachable");
    let unreached_before = proxy.stats().unreachable.get(PRIMARY).copied().unwrap_or(0);
    assert!(unreached_before > 0);

    // 2a. A managed failover (data loss allowed): through the DR region only; the old
    // writer stays a member. Once the region is back, failing back is a switchover.
    let managed = to_dr_unplanned("failover");
    let managed: Vec<&str> = managed.iter().map(String::as_str).collect();
    ok(d, e, &[&managed[..], &["up", "--yes"]].concat());
    assert_eq!(
        proxy.stats().unreachable.get(PRIMARY).copied().unwrap_or(0),
        unreached_before,
        "the managed failover sent nothing to the failed region"
    );
    assert_eq!(
        members(&rds, &gid).await,
        [(primary_arn.clone(), false), (dr_arn.clone(), true)]
    );
    let record = global_record(d, e)["last_writer_change"].clone();
    assert_eq!(record["how"], "failover", "{record}");
    assert_eq!(record["via_region"], DR, "{record}");
    assert_eq!(record["unreached_region"], PRIMARY, "{record}");
    assert_eq!(record["stale_writer"], Value::Null, "{record}");
    assert_eq!(
        dns_roles(&route53, &domain).await,
        roles_before,
        "DNS is the health check's"
    );
    proxy.set_policy(FaultPolicy::default());
    ok(
        d,
        e,
        &["--set", "max_switchover_lag_seconds=600", "up", "--yes"],
    );
    switched_back(d, e, &rds, &gid, [&primary_arn, &dr_arn]).await;
    eprintln!(
        "failover: managed failover and failback at {:.0?}",
        started.elapsed()
    );

    // 2b. Detach and promote, the primary region unreachable again.
    proxy.set_policy(outage);
    let unplanned = to_dr_unplanned("detach_and_promote");
    let unplanned: Vec<&str> = unplanned.iter().map(String::as_str).collect();
    let plan = run(
        d,
        e,
        &[
            &unplanned[..],
            &["preview", "--json", "--detailed-exitcode"],
        ]
        .concat(),
    );
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert_eq!(
        changes(&plan),
        [(
            "global/aurora-global-cluster".to_string(),
            "update".to_string()
        )],
        "only the writer moves; DNS is left to the health check"
    );
    let calls_before = proxy.stats().total_calls();
    let up = ok(d, e, &[&unplanned[..], &["up", "--yes"]].concat());
    let stats = proxy.stats();
    assert_eq!(
        stats.unreachable.get(PRIMARY).copied().unwrap_or(0),
        unreached_before,
        "nothing was sent to the failed region:\n{}",
        text(&up)
    );
    assert!(
        stats.total_calls() > calls_before,
        "the DR region was called"
    );
    assert_eq!(members(&rds, &gid).await, [(primary_arn.clone(), true)]);
    let promoted = aws_sdk_rds::Client::new(&moto.sdk_config(DR))
        .describe_db_clusters()
        .db_cluster_identifier(format!("payment-cluster-dr-{suffix}"))
        .send()
        .await
        .unwrap();
    // (moto keeps the detached cluster's GlobalClusterIdentifier; membership is what the
    // global cluster lists, checked above.)
    assert_eq!(promoted.db_clusters()[0].status(), Some("available"));
    // Recorded, with what it could not reach.
    let record = global_record(d, e)["last_writer_change"].clone();
    assert_eq!(record["how"], "detach_and_promote", "{record}");
    assert_eq!(record["via_region"], DR, "{record}");
    assert_eq!(record["unreached_region"], PRIMARY, "{record}");
    assert_eq!(record["stale_writer"], primary_arn.as_str(), "{record}");
    let history = text(&ok(d, e, &["history"]));
    assert!(history.contains("up"), "{history}");
    eprintln!("failover: unplanned at {:.0?}", started.elapsed());

    // 3. The region is back: a plain `up` reconciles, reading what it could not before,
    // and finds nothing to redo; nothing is duplicated.
    proxy.set_policy(FaultPolicy::default());
    let refreshed = run(
        d,
        e,
        &[
            &unplanned[..],
            &["preview", "--refresh", "--detailed-exitcode"],
        ]
        .concat(),
    );
    assert_eq!(refreshed.status.code(), Some(0), "{}", text(&refreshed));
    ok(
        d,
        e,
        &[&unplanned[..], &["up", "--yes", "--refresh"]].concat(),
    );
    assert_eq!(
        clusters(PRIMARY, &suffix).await,
        [format!("payment-cluster-primary-{suffix}")]
    );
    assert_eq!(
        clusters(DR, &suffix).await,
        [format!("payment-cluster-dr-{suffix}")]
    );
    assert_eq!(members(&rds, &gid).await.len(), 1);

    // 4. Switching back to the stale old writer would silently drop every write made to
    // the promoted cluster since the detach: refused, naming why, and nothing moves.
    let back = run(
        d,
        e,
        &["--set", "max_switchover_lag_seconds=600", "up", "--yes"],
    );
    assert!(!back.status.success(), "{}", text(&back));
    assert!(
        text(&back).contains("is the stale writer left by a detach-and-promote"),
        "{}",
        text(&back)
    );
    assert_eq!(members(&rds, &gid).await, [(primary_arn.clone(), true)]);
    assert_eq!(dns_roles(&route53, &domain).await, roles_before);

    // 5. Failback after the detach. A new generation of the global database, formed from
    // the promoted cluster, together with the writer's return is refused at preview (the
    // source is the writer until the new member exists), before any request.
    let regen = [
        "--set",
        "global_database_generation=1",
        "--set",
        &format!("global_database_source_region={DR}")[..],
    ];
    let calls_before = proxy.stats().total_calls();
    let back_too = [&regen[..], &["--set", "max_switchover_lag_seconds=600"]].concat();
    let both = run(d, e, &[&back_too[..], &["preview"]].concat());
    assert_eq!(both.status.code(), Some(1), "{}", text(&both));
    assert!(
        text(&both).contains(&format!(
            "is re-formed from `arn:aws:rds:{DR}::cluster:payment-cluster-dr-{suffix}`"
        )),
        "{}",
        text(&both)
    );
    // 5a. The new generation, the writer staying on the promoted cluster: previewed as the
    // global cluster and the old primary replaced, saying plainly that its data goes.
    let step1 = [&unplanned[..], &regen[..]].concat();
    let plan = run(d, e, &[&step1[..], &["preview"]].concat());
    assert!(plan.status.success(), "{}", text(&plan));
    let warning = format!(
        "primary/aurora-cluster is replaced: its old data is discarded: cluster payment-cluster-primary-{suffix} is deleted"
    );
    assert!(text(&plan).contains(&warning), "{}", text(&plan));
    let plan = run(d, e, &[&step1[..], &["preview", "--json"]].concat());
    let steps = changes(&plan);
    for name in [
        "global/aurora-global-cluster",
        "primary/aurora-cluster",
        "primary/aurora-instance-1",
    ] {
        assert!(
            steps
                .iter()
                .any(|(n, op)| n == name && op == "replace_delete_first"),
            "{name} is replaced, deleted first: {steps:?}"
        );
    }
    assert!(
        !steps.iter().any(|(n, _)| n.starts_with("dr/aurora")),
        "the promoted cluster and its instances stay: {steps:?}"
    );
    ok(d, e, &[&step1[..], &["up", "--yes"]].concat());
    assert!(proxy.stats().total_calls() > calls_before);
    assert_eq!(
        members(&rds, &gid).await,
        [(primary_arn.clone(), false), (dr_arn.clone(), true)],
        "the re-formed global database: the promoted cluster writes, a new primary-region member reads"
    );
    // 5b. The writer back to the primary region: an ordinary switchover.
    let step2 = back_too;
    let plan = run(
        d,
        e,
        &[&step2[..], &["preview", "--json", "--detailed-exitcode"]].concat(),
    );
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert_eq!(
        changes(&plan),
        [(
            "global/aurora-global-cluster".to_string(),
            "update".to_string()
        )],
        "only the writer moves (DNS never left the primary region)"
    );
    ok(d, e, &[&step2[..], &["up", "--yes"]].concat());
    switched_back(d, e, &rds, &gid, [&primary_arn, &dr_arn]).await;
    assert_eq!(dns_roles(&route53, &domain).await, roles_before);
    let same = run(
        d,
        e,
        &[&step2[..], &["preview", "--refresh", "--detailed-exitcode"]].concat(),
    );
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert_eq!(
        clusters(PRIMARY, &suffix).await,
        [format!("payment-cluster-primary-{suffix}")]
    );
    eprintln!(
        "failover: failback after the detach at {:.0?}",
        started.elapsed()
    );

    ok(d, e, &[&step2[..], &["destroy", "--yes"]].concat());
    assert!(clusters(PRIMARY, &suffix).await.is_empty());
    assert!(clusters(DR, &suffix).await.is_empty());
    eprintln!("failover: whole test in {:.0?}", started.elapsed());
}

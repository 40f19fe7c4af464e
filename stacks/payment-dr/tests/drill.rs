//! `payment-dr-stack drill` through the real binary against moto: a planned drill, its
//! failback, an unplanned drill and its failback, each reporting its timeline, RTO and
//! RPO and recorded in `history`; refusals of a drill that cannot run.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::e2e::{command, named_config, suffix, text};

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args)
        .stdin(Stdio::null())
        .output()
        .expect("the stack binary runs")
}

/// Runs a drill with `args` (and `--json --yes`) and returns its report.
#[track_caller]
fn drill(dir: &Path, args: &[&str]) -> Value {
    let out = run(
        dir,
        &[&["--json", "drill", "--yes", "--interval-ms", "300"], args].concat(),
    );
    assert!(
        out.status.success(),
        "drill {args:?} failed:\n{}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the report is JSON ({e}):\n{}", text(&out)))
}

/// The writer's region as moto lists the global cluster's members.
async fn writer_region(gid: &str) -> String {
    let rds = aws_sdk_rds::Client::new(&iac_tests::Moto::shared().sdk_config(PRIMARY));
    let members = crate::failover::members(&rds, gid).await;
    let (writer, _) = members.iter().find(|(_, w)| *w).expect("a writer");
    writer.split(':').nth(3).unwrap().to_string()
}

/// Checks what every report holds: the direction, a timeline whose samples show the
/// target becoming the writer, the RTO reached within the timeline, the RPO's parts, and
/// what the emulator could not measure.
#[track_caller]
fn check_report(report: &Value, kind: &str, from: &str, to: &str, how: &str, lag_ms: f64) {
    assert_eq!(report["kind"], kind, "{report:#}");
    assert_eq!(report["from_region"], from);
    assert_eq!(report["to_region"], to);
    assert_eq!(report["how"], how);
    assert_eq!(report["succeeded"], true, "{report:#}");
    let timeline = report["timeline"].as_array().expect("a timeline");
    let events: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for expected in [
        "drill started",
        "replication lag of",
        "canary payment",
        "first sample",
        "writer change started",
        "writer change finished",
    ] {
        assert!(
            events.iter().any(|e| e.starts_with(expected)),
            "no `{expected}` in {events:#?}"
        );
    }
    let writer_in = |entry: &Value, region: &str| {
        entry["clusters"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["region"] == region && c["role"] == "writer" && c["status"] == "available"
            })
        })
    };
    let first = timeline.iter().find(|e| e["clusters"].is_array()).unwrap();
    assert!(writer_in(first, from), "the first sample: {first:#}");
    assert!(first["dns"]["health_check"].is_string(), "{first:#}");
    assert!(first["health"][from].is_string(), "{first:#}");
    let moved = timeline
        .iter()
        .find(|e| writer_in(e, to))
        .unwrap_or_else(|| panic!("no sample saw {to} write: {timeline:#?}"));
    let rto = report["rto_ms"].as_u64().expect("an RTO");
    assert_eq!(
        rto,
        moved["t_ms"].as_u64().unwrap(),
        "the RTO is that sample's time"
    );
    let started = timeline
        .iter()
        .find(|e| {
            e["event"]
                .as_str()
                .unwrap()
                .starts_with("writer change started")
        })
        .unwrap();
    assert!(rto >= started["t_ms"].as_u64().unwrap(), "{report:#}");
    assert_eq!(report["rpo"]["replication_lag_ms"], lag_ms, "{report:#}");
    let canary = &report["rpo"]["canary"];
    assert!(
        canary["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("iac-drill-")
    );
    // moto does not run the function: the canary and /health say so, and so does the
    // report's list of what was not measured.
    assert!(
        canary["written"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{canary}"
    );
    let limits = report["emulator_limits"].to_string();
    assert!(limits.contains("the Lambda does not run"), "{limits}");
    assert!(report["summary"].as_str().unwrap().starts_with("RTO "));
    eprintln!(
        "drill: {kind} {from} → {to}: {} ({} timeline entries)",
        report["summary"].as_str().unwrap(),
        timeline.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_measure_a_failover_and_its_failback_and_are_recorded() {
    let suffix = suffix("d");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("payment-dr.toml"), named_config(&suffix)).unwrap();
    let gid = format!("payment-global-cluster-{suffix}");

    // Nothing deployed: a drill says so, naming what is missing.
    let none = run(d, &["drill", "--yes"]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(
        text(&none).contains("deploy the stack with `up` before a drill"),
        "{}",
        text(&none)
    );
    let both = run(d, &["drill", "--planned", "--unplanned"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
    assert!(
        text(&both).contains("cannot be used with"),
        "{}",
        text(&both)
    );

    let up = run(d, &["up", "--yes"]);
    assert!(up.status.success(), "{}", text(&up));
    let nothing = run(d, &["drill", "--failback", "--yes"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        text(&nothing).contains("there is nothing to fail back"),
        "{}",
        text(&nothing)
    );
    // Without --yes and without a terminal, nothing runs.
    let unconfirmed = run(d, &["drill"]);
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(
        text(&unconfirmed).contains("pass --yes"),
        "{}",
        text(&unconfirmed)
    );
    assert_eq!(writer_region(&gid).await, PRIMARY);

    // The replication lag CloudWatch holds for each cluster (what Aurora would publish).
    let moto = iac_tests::Moto::shared();
    let now = std::time::SystemTime::now();
    let dr_cluster = format!("payment-cluster-dr-{suffix}");
    iac_tests::put_replication_lag(&moto.sdk_config(DR), &dr_cluster, 1500.0, now).await;
    let primary_cluster = format!("payment-cluster-primary-{suffix}");
    iac_tests::put_replication_lag(&moto.sdk_config(PRIMARY), &primary_cluster, 800.0, now).await;

    let planned = drill(d, &["--planned"]);
    check_report(&planned, "planned", PRIMARY, DR, "switchover", 1500.0);
    assert_eq!(writer_region(&gid).await, DR);
    // A planned drill's DNS follows the writer: the last sample's answer is the DR API.
    let last = planned["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["dns"].is_object())
        .unwrap();
    assert_eq!(last["dns"]["answer_role"], "PRIMARY", "{last:#}");
    assert!(
        last["dns"]["answer"].as_str().unwrap().contains(DR),
        "{last:#}"
    );

    // While failed over, another drill is refused until the failback.
    let again = run(d, &["drill", "--yes"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("run `drill --failback` first"),
        "{}",
        text(&again)
    );
    let back = drill(d, &["--failback"]);
    check_report(&back, "failback", DR, PRIMARY, "switchover", 800.0);
    assert_eq!(writer_region(&gid).await, PRIMARY);

    let unplanned = drill(d, &["--unplanned"]);
    check_report(&unplanned, "unplanned", PRIMARY, DR, "failover", 1500.0);
    assert_eq!(unplanned["rpo"]["data_loss_bound_ms"], 1500.0);
    assert_eq!(writer_region(&gid).await, DR);
    // In words (no --json): the outcome, RTO, RPO, the timeline and what was not measured.
    let back = run(d, &["drill", "--failback", "--yes", "--interval-ms", "300"]);
    assert!(back.status.success(), "{}", text(&back));
    let words = String::from_utf8_lossy(&back.stdout);
    for expected in [
        "(failback): us-east-2 → us-east-1 by switchover, succeeded.",
        "RTO: ",
        "RPO: 0 (a switchover waits for the secondary; lag was 0.8 s)",
        "Timeline:",
        "writer change started: SwitchoverGlobalCluster",
        &format!("us-east-1 payment-cluster-primary-{suffix}: writer, available"),
        "Not measured here:",
    ] {
        assert!(words.contains(expected), "no `{expected}` in:\n{words}");
    }
    assert_eq!(writer_region(&gid).await, PRIMARY);

    // After the failback the stack matches its configuration again.
    let same = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // Each drill is in the history, with its report.
    let history = run(d, &["--json", "history"]);
    let rows: Value = serde_json::from_slice(&history.stdout).unwrap();
    let drills: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "drill")
        .collect();
    assert_eq!(drills.len(), 4, "{rows:#}");
    assert_eq!(drills[0]["report"]["kind"], "planned");
    assert_eq!(drills[0]["result"], "succeeded");
    assert_eq!(drills[0]["report"]["drill"], drills[0]["id"]);
    assert_eq!(drills[2]["report"]["how"], "failover");
    let table = text(&run(d, &["history"]));
    assert!(table.contains("drill") && table.contains("RTO "), "{table}");
    eprintln!("{table}");

    let gone = run(d, &["destroy", "--yes"]);
    assert!(gone.status.success(), "{}", text(&gone));
}

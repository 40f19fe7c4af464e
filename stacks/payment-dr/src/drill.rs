//! `payment-dr-stack drill`: a failover of the deployed stack made to measure it.
//!
//! A drill moves the Aurora writer to the other region the way `up` would (a planned
//! switchover, or with `--unplanned` a managed failover that allows data loss and sends
//! every call to the surviving region), while it samples every second what a person on
//! call would look at: each cluster's role and status, the answer Route 53 gives by its
//! health check, and each region's `/health`. It reports the timeline, the RTO (from the
//! start until the DR side accepts writes) and the RPO (the replication lag at the
//! cut-over, from CloudWatch, and a canary payment written just before the cut-over and
//! looked for after it), and records the drill in the state (`history` lists it).
//! `drill --failback` returns the writer to `writer_region` by a switchover, measured the
//! same way. What could not be measured (on the emulator: the replication lag, a function
//! that really runs) is said in the report.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use iac_dsl::cli::{Extension, ExtensionContext, ExtensionOutput};
use iac_dsl::{Op, StepStatus};
use iac_providers::aws::Aws;
use iac_providers::aws::observe::{self, ClusterView, DnsView};
use iac_providers::aws::rds::replication_lag_ms;
use iac_state::{DeploymentKind, DeploymentResult, StepCounts};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{FailoverMode, PaymentDrConfig};

/// The payment stack's own commands, beside the common ones.
#[derive(Subcommand, Debug)]
pub enum StackCommand {
    /// Run a failover drill on the deployed stack and measure it: a timeline of every
    /// step, the RTO and the RPO; recorded in the state (`history`). `--failback` returns.
    Drill(DrillArgs),
}

/// The options of `drill`.
#[derive(Args, Debug)]
pub struct DrillArgs {
    /// A planned switchover to the other region (the default): both regions healthy, the
    /// replication lag checked, nothing lost; DNS follows the writer.
    #[arg(long, conflicts_with_all = ["unplanned", "failback"])]
    pub planned: bool,
    /// An unplanned failover (`FailoverGlobalCluster` allowing data loss), every call to
    /// the surviving region; DNS is left to the health check.
    #[arg(long, conflicts_with = "failback")]
    pub unplanned: bool,
    /// Return the writer to `writer_region` by a switchover after a drill.
    #[arg(long)]
    pub failback: bool,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
    /// Milliseconds between two samples of the timeline.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub interval_ms: u64,
}

impl Extension<PaymentDrConfig> for StackCommand {
    async fn run(
        self,
        ctx: ExtensionContext<'_, PaymentDrConfig>,
    ) -> Result<ExtensionOutput, String> {
        match self {
            StackCommand::Drill(args) => drill(args, ctx).await,
        }
    }
}

/// Which drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum DrillKind {
    Planned,
    Unplanned,
    Failback,
}

/// One line of the timeline: what happened, or what a sample saw change.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Entry {
    /// Milliseconds since the drill started.
    t_ms: u64,
    event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    clusters: Option<Vec<ClusterView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<DnsView>,
    /// Each region's `GET /health`: its status and verdict, or why it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<BTreeMap<String, String>>,
}

/// What one sample saw.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    clusters: Vec<ClusterView>,
    dns: DnsView,
    health: BTreeMap<String, String>,
}

/// The names a drill reads, from the configuration and the recorded outputs.
struct Names {
    global_id: String,
    clusters: Vec<(String, String)>,
    functions: BTreeMap<String, String>,
    zone: String,
    record: String,
    health_check: Option<String>,
}

impl Names {
    fn cluster(&self, region: &str) -> &str {
        self.clusters
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, id)| id.as_str())
            .unwrap_or_default()
    }
}

async fn drill(
    args: DrillArgs,
    ctx: ExtensionContext<'_, PaymentDrConfig>,
) -> Result<ExtensionOutput, String> {
    let config = ctx.config;
    let kind = if args.failback {
        DrillKind::Failback
    } else if args.unplanned {
        DrillKind::Unplanned
    } else {
        DrillKind::Planned
    };
    let home = config.writer().to_string();
    let away = if home == config.primary_region {
        config.dr_region.clone()
    } else {
        config.primary_region.clone()
    };
    let (from, to) = match kind {
        DrillKind::Failback => (away, home),
        _ => (home, away),
    };
    let store = ctx
        .open_state(false)
        .map_err(|e| format!("{e}: deploy the stack with `up` before a drill"))?;
    let state = store.load(ctx.stack).map_err(|e| e.to_string())?;
    let global = state
        .resources
        .iter()
        .find(|r| r.name == "global/aurora-global-cluster")
        .ok_or_else(|| {
            format!(
                "stack {} has no Aurora global cluster recorded: deploy the stack with `up` before a drill",
                ctx.stack
            )
        })?;
    if let Some(stale) = global.outputs["last_writer_change"]["stale_writer"].as_str() {
        return Err(format!(
            "a detach-and-promote left `{stale}` as a stale writer: fail back by a new \
             generation of the global database first (README, \"When a region fails\"), \
             then drill"
        ));
    }
    let mut target = config.clone();
    target.writer_region = Some(to.clone());
    target.failover_mode = match kind {
        DrillKind::Unplanned => FailoverMode::Failover,
        _ => FailoverMode::Switchover,
    };
    let outputs = &state.outputs;
    let s = &config.environment_suffix;
    let word = |region: &str| {
        if region == config.dr_region {
            "dr"
        } else {
            "primary"
        }
    };
    let names = Names {
        global_id: format!("payment-global-cluster-{s}"),
        clusters: [&config.primary_region, &config.dr_region]
            .into_iter()
            .map(|r| (r.clone(), format!("payment-cluster-{}-{s}", word(r))))
            .collect(),
        functions: [&config.primary_region, &config.dr_region]
            .into_iter()
            .filter_map(|r| {
                let name = outputs
                    .get(&format!("{}_lambda_function_name", word(r)))?
                    .as_str()?;
                Some((r.clone(), name.to_string()))
            })
            .collect(),
        zone: config.domain_name.clone(),
        record: format!("api.{}", config.domain_name),
        health_check: outputs
            .get("route53_health_check_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    };

    // The writer as the cloud has it now (the recorded members date from the last write
    // of the global cluster's record).
    let before = observe::clusters(&names.global_id, &names.clusters, &to).await;
    let writer_now = before
        .iter()
        .find(|c| c.role == "writer")
        .map(|c| c.region.clone())
        .ok_or_else(|| {
            let roles: Vec<String> = before
                .iter()
                .map(|c| format!("{} {}: {}, {}", c.region, c.id, c.role, c.status))
                .collect();
            format!(
                "no cluster of global database {} writes ({}): a drill needs a writer",
                names.global_id,
                roles.join("; ")
            )
        })?;
    if writer_now != from {
        return Err(match kind {
            DrillKind::Failback => format!(
                "the recorded writer is already in {to} (writer_region): there is nothing to fail back"
            ),
            _ => format!(
                "the recorded writer is in {writer_now}, not in writer_region {from}: run \
                 `drill --failback` first (or `up`, which plans the same switchover back)"
            ),
        });
    }
    let plan = ctx.preview(&target).await?;
    if !plan.has_changes() {
        return Err("the drill's writer change plans nothing: the stack already matches it".into());
    }
    if !args.yes && !ctx.confirm("drill", "Run this drill on the deployed stack?")? {
        return Ok(ExtensionOutput {
            text: "Cancelled: nothing was changed.".into(),
            json: json!({"cancelled": true}),
            code: 1,
        });
    }

    let drill_id = store
        .begin_deployment(ctx.stack, DeploymentKind::Drill)
        .map_err(|e| e.to_string())?;
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let timeline: Arc<Mutex<Vec<Entry>>> = Arc::default();
    let note = |event: String| push(&timeline, clock, event, None);
    note(format!(
        "drill started: {} from {from} to {to}",
        match kind {
            DrillKind::Planned => "planned switchover",
            DrillKind::Unplanned => "unplanned failover (data loss allowed)",
            DrillKind::Failback => "failback by switchover",
        }
    ));
    ctx.progress(&format!("drill #{drill_id}: measuring {from} → {to}"));

    // Before the cut-over: the lag CloudWatch holds for the target, and a canary payment
    // written to the current writer's region.
    let (lag, lag_note) = match replication_lag_ms(&Aws::region(&to), &to, names.cluster(&to)).await
    {
        Ok(Some(ms)) => (Some(ms), format!("{ms:.0} ms")),
        Ok(None) => (
            None,
            "unknown: no AuroraGlobalDBReplicationLag datapoint in the last 5 minutes".into(),
        ),
        Err(e) => (None, format!("unknown: {e}")),
    };
    note(format!(
        "replication lag of {} before the cut-over: {lag_note}",
        names.cluster(&to)
    ));
    let canary_key = format!("iac-drill-{}-{drill_id}", config.environment_suffix);
    let canary = json!({
        "amount": 1, "currency": "USD", "merchant_id": "iac-drill",
        "card_token": "tok_iac_drill_canary", "idempotency_key": canary_key,
    });
    let written = call_route(&names, &from, "POST", "/payment", Some(&canary)).await;
    note(format!(
        "canary payment {canary_key} written in {from}: {written}"
    ));

    // The samples, while the writer moves.
    let via = match kind {
        DrillKind::Unplanned => to.clone(),
        _ => from.clone(),
    };
    let rto: Arc<Mutex<Option<u64>>> = Arc::default();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let sampler = {
        let timeline = timeline.clone();
        let rto = rto.clone();
        let names = Arc::new(names);
        let (to, via) = (to.clone(), via.clone());
        let interval = Duration::from_millis(args.interval_ms);
        let names2 = names.clone();
        let handle = tokio::spawn(async move {
            let mut last: Option<Sample> = None;
            loop {
                let sample = sample(&names2, &via).await;
                let t = millis(clock);
                let target_writes = sample
                    .clusters
                    .iter()
                    .any(|c| c.region == to && c.accepts_writes());
                if target_writes && let Ok(mut rto) = rto.lock() {
                    rto.get_or_insert(t);
                }
                if last.as_ref() != Some(&sample) {
                    let event = if last.is_none() {
                        "first sample".to_string()
                    } else {
                        "sample: changed".to_string()
                    };
                    push(&timeline, clock, event, Some(&sample));
                    last = Some(sample);
                }
                if *stop_rx.borrow() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        });
        (handle, names)
    };
    let (sampler, names) = sampler;
    // Give the first sample its moment before the change starts.
    tokio::time::sleep(Duration::from_millis(args.interval_ms.min(1000))).await;

    note(format!(
        "writer change started: {} of {} to {}",
        match target.failover_mode {
            FailoverMode::Failover => "FailoverGlobalCluster (allow data loss)",
            _ => "SwitchoverGlobalCluster",
        },
        names.global_id,
        names.cluster(&to)
    ));
    let change = ctx.up(&target).await;
    let counts = match &change {
        Ok(deployment) => counts_of(deployment),
        Err(_) => StepCounts::default(),
    };
    match &change {
        Ok(_) => note("writer change finished (the engine saw the new writer available)".into()),
        Err(e) => note(format!("writer change failed: {e}")),
    }
    // Sample until the target takes writes (the engine has already waited for it), at
    // most a minute more, then once more and stop.
    let deadline = Instant::now() + Duration::from_secs(60);
    while change.is_ok() && rto.lock().map(|r| r.is_none()).unwrap_or(false) {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    let _ = sampler.await;

    // After the cut-over: the canary looked for on the new writer's side (the same
    // payment again: 200 means it is there, 201 that it was not and is written now).
    let found = if written.starts_with("201") || written.starts_with("200") {
        match call_route(&names, &to, "POST", "/payment", Some(&canary)).await {
            r if r.starts_with("200") => format!("found in {to} ({r})"),
            r if r.starts_with("201") => format!("lost: not in {to} after the cut-over ({r})"),
            r => format!("not looked up: {r}"),
        }
    } else {
        "not looked up: the canary was not written".to_string()
    };
    note(format!(
        "canary payment {canary_key} after the cut-over: {found}"
    ));
    let rto_ms = *rto.lock().map_err(|_| "the sampler's clock was poisoned")?;
    let entries = timeline.lock().map(|t| t.clone()).unwrap_or_default();

    let mut limits = Vec::new();
    if lag.is_none() {
        limits.push(
            "no AuroraGlobalDBReplicationLag datapoint: the lag part of the RPO is unknown \
             (the emulator publishes no Aurora metrics; a new cluster has none yet)"
                .to_string(),
        );
    }
    let health_answered = entries
        .iter()
        .filter_map(|e| e.health.as_ref())
        .flat_map(|h| h.values())
        .any(|v| !v.starts_with("unreachable"));
    if !health_answered {
        limits.push(
            "no function answered (/health, the canary): on the emulator the Lambda does not \
             run, so the data-plane side was not measured"
                .to_string(),
        );
    }
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        limits.push(
            "AWS_ENDPOINT_URL is set (an emulator): the control-plane calls are real, but no \
             data replicates, a switchover and a failover take effect at once, and Route 53's \
             health checkers are not real (the answer is derived from what the endpoint reports)"
                .to_string(),
        );
    }
    let succeeded = change.is_ok() && rto_ms.is_some();
    let rpo_words = match (kind, lag) {
        (DrillKind::Unplanned, Some(ms)) => format!("{:.1} s of lag at the cut-over", ms / 1000.0),
        (DrillKind::Unplanned, None) => "unknown (no lag datapoint)".to_string(),
        (_, Some(ms)) => format!(
            "0 (a switchover waits for the secondary; lag was {:.1} s)",
            ms / 1000.0
        ),
        (_, None) => "0 (a switchover waits for the secondary; lag unknown)".to_string(),
    };
    let rto_words = rto_ms
        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "not reached".to_string());
    let summary = format!("RTO {rto_words}, RPO {rpo_words}");
    let report = json!({
        "drill": drill_id.0,
        "kind": kind,
        "from_region": from,
        "to_region": to,
        "how": match target.failover_mode {
            FailoverMode::Failover => "failover",
            _ => "switchover",
        },
        "target_cluster": names.cluster(&to),
        "started_at": started_at,
        "finished_at": now_rfc3339(),
        "succeeded": succeeded,
        "error": change.as_ref().err(),
        "rto_ms": rto_ms,
        "rto_definition": "from the drill's start until the target cluster is the writer and available (the first sample that saw it)",
        "rpo": {
            "replication_lag_ms": lag,
            "lag_note": lag_note,
            "data_loss_bound_ms": match kind {
                DrillKind::Unplanned => lag,
                _ => Some(0.0),
            },
            "canary": {"idempotency_key": canary_key, "written": written, "after_cut_over": found},
        },
        "timeline": entries,
        "emulator_limits": limits,
        "summary": summary,
    });
    let result = if succeeded {
        DeploymentResult::Succeeded
    } else {
        DeploymentResult::Failed(
            change
                .as_ref()
                .err()
                .cloned()
                .unwrap_or_else(|| "the target never took writes".to_string()),
        )
    };
    store
        .finish_deployment(drill_id, result, &counts)
        .map_err(|e| e.to_string())?;
    store
        .set_deployment_report(drill_id, &report)
        .map_err(|e| e.to_string())?;
    Ok(ExtensionOutput {
        text: render(&report),
        json: report,
        code: if succeeded { 0 } else { 1 },
    })
}

/// One sample: the clusters (the global database read through `via`), Route 53's answer,
/// and each region's `/health`.
async fn sample(names: &Names, via: &str) -> Sample {
    let clusters = observe::clusters(&names.global_id, &names.clusters, via).await;
    let dns = match &names.health_check {
        Some(id) => observe::dns_answer(&names.zone, &names.record, id).await,
        None => DnsView {
            health_check: "unknown: no health check recorded".into(),
            answer_role: None,
            answer: None,
        },
    };
    let mut health = BTreeMap::new();
    for (region, _) in &names.clusters {
        health.insert(
            region.clone(),
            call_route(names, region, "GET", "/health", None).await,
        );
    }
    Sample {
        clusters,
        dns,
        health,
    }
}

/// A route of `region`'s function, in words: `"201 ..."` with the status first, or
/// `"unreachable: why"`.
async fn call_route(
    names: &Names,
    region: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> String {
    let Some(function) = names.functions.get(region) else {
        return format!("unreachable: no function recorded for {region}");
    };
    match observe::invoke_route(region, function, method, path, body).await {
        Ok((status, body)) => {
            let verdict = body["status"]
                .as_str()
                .or_else(|| body["error"].as_str())
                .unwrap_or_default();
            format!("{status} {verdict}").trim_end().to_string()
        }
        Err(e) => format!("unreachable: {e}"),
    }
}

fn push(timeline: &Mutex<Vec<Entry>>, clock: Instant, event: String, sample: Option<&Sample>) {
    if let Ok(mut t) = timeline.lock() {
        t.push(Entry {
            t_ms: millis(clock),
            event,
            clusters: sample.map(|s| s.clusters.clone()),
            dns: sample.map(|s| s.dns.clone()),
            health: sample.map(|s| s.health.clone()),
        });
    }
}

fn millis(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The step counts of the writer change's own deployment.
fn counts_of(deployment: &iac_dsl::Deployment) -> StepCounts {
    let mut counts = StepCounts::default();
    for step in deployment.report.iter().flat_map(|r| &r.steps) {
        let done = step.status == StepStatus::Done;
        match step.op {
            _ if !done => counts.failed += 1,
            Op::Same => counts.same += 1,
            Op::Create => counts.created += 1,
            Op::Update => counts.updated += 1,
            Op::ReplaceCreateFirst | Op::ReplaceDeleteFirst => counts.replaced += 1,
            Op::Delete | Op::Forget => counts.deleted += 1,
        }
    }
    counts
}

/// The report in words: the outcome, RTO and RPO, the timeline, and what was not measured.
fn render(report: &Value) -> String {
    let mut out = format!(
        "Drill #{} ({}): {} → {} by {}, {}.\n  RTO: {}\n  RPO: {}\n  canary: written: {}; after: {}\n\nTimeline:\n",
        report["drill"],
        report["kind"].as_str().unwrap_or_default(),
        report["from_region"].as_str().unwrap_or_default(),
        report["to_region"].as_str().unwrap_or_default(),
        report["how"].as_str().unwrap_or_default(),
        if report["succeeded"] == true {
            "succeeded"
        } else {
            "FAILED"
        },
        report["rto_ms"]
            .as_u64()
            .map(|ms| format!(
                "{:.1} s (until the DR side took writes)",
                ms as f64 / 1000.0
            ))
            .unwrap_or_else(|| "not reached".into()),
        report["summary"]
            .as_str()
            .and_then(|s| s.split("RPO ").nth(1))
            .unwrap_or_default(),
        report["rpo"]["canary"]["written"]
            .as_str()
            .unwrap_or_default(),
        report["rpo"]["canary"]["after_cut_over"]
            .as_str()
            .unwrap_or_default(),
    );
    for entry in report["timeline"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:>8.1} s  {}\n",
            entry["t_ms"].as_f64().unwrap_or_default() / 1000.0,
            entry["event"].as_str().unwrap_or_default()
        ));
        for c in entry["clusters"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "              {} {}: {}, {}\n",
                c["region"].as_str().unwrap_or_default(),
                c["id"].as_str().unwrap_or_default(),
                c["role"].as_str().unwrap_or_default(),
                c["status"].as_str().unwrap_or_default()
            ));
        }
        if let Some(dns) = entry.get("dns") {
            out.push_str(&format!(
                "              DNS: health check {}, answer {} {}\n",
                dns["health_check"].as_str().unwrap_or_default(),
                dns["answer_role"].as_str().unwrap_or("-"),
                dns["answer"].as_str().unwrap_or("-")
            ));
        }
        for (region, h) in entry["health"].as_object().into_iter().flatten() {
            out.push_str(&format!(
                "              /health {region}: {}\n",
                h.as_str().unwrap_or_default()
            ));
        }
    }
    let limits: Vec<&str> = report["emulator_limits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !limits.is_empty() {
        out.push_str("\nNot measured here:\n");
        for l in limits {
            out.push_str(&format!("  - {l}\n"));
        }
    }
    out
}

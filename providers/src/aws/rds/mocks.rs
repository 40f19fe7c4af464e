//! The calls the emulator cannot answer, against aws-smithy-mocks: moto 5.2.5 has no
//! `SwitchoverGlobalCluster` or `FailoverGlobalCluster`, and its own `ModifyDBSubnetGroup`
//! loses the group (`scripts/moto_server.py` corrects that for the suite; the update is
//! proved here as well). Each test drives the provider's own update and proves which call it
//! sends, with which identifiers; a call no rule expects fails the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::Client;
use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersOutput;
use aws_sdk_rds::operation::failover_global_cluster::FailoverGlobalClusterOutput;
use aws_sdk_rds::operation::modify_db_subnet_group::ModifyDbSubnetGroupOutput;
use aws_sdk_rds::operation::remove_from_global_cluster::RemoveFromGlobalClusterOutput;
use aws_sdk_rds::operation::switchover_global_cluster::SwitchoverGlobalClusterOutput;
use aws_sdk_rds::types::DbCluster;
use aws_sdk_rds::types::{GlobalCluster, GlobalClusterMember};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use iac_dsl::{ResourceContext, UpdateRequest, Value};
use serde_json::json;

use super::{global_cluster, subnet_group};
use crate::aws::Aws;

const GLOBAL: &str = "payments-global";
const PRIMARY: &str = "arn:aws:rds:us-east-1:123456789012:cluster:payments-primary";
const SECONDARY: &str = "arn:aws:rds:us-west-2:123456789012:cluster:payments-dr";

/// An RDS client answered only by `rules`; any other request panics.
fn client(rules: &[&Rule]) -> Client {
    client_seen(rules, &Hosts::default())
}

/// Like [`client`], with every request's host added to `hosts`.
fn client_seen(rules: &[&Rule], hosts: &Hosts) -> Client {
    let interceptor = rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, rule| i.with_rule(rule),
    );
    let conf = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "mocks"))
        .http_client(create_mock_http_client())
        .interceptor(hosts.clone())
        .interceptor(interceptor)
        .build();
    Client::from_conf(conf)
}

/// The host of every request a client sent (the region's endpoint is in it).
#[derive(Debug, Clone, Default)]
struct Hosts(Arc<Mutex<Vec<String>>>);

impl Hosts {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for Hosts {
    fn name(&self) -> &'static str {
        "Hosts"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri().to_string();
        self.0.lock().unwrap().push(uri);
        Ok(())
    }
}

/// A provider for the tags it computes; it never sends a request here.
fn aws() -> Aws {
    Aws::from_config(
        aws_types::SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(BehaviorVersion::latest())
            .build(),
    )
}

/// The global cluster with `writer` writing and the other member reading.
fn global(writer: &str) -> DescribeGlobalClustersOutput {
    let member = |arn: &str| {
        GlobalClusterMember::builder()
            .db_cluster_arn(arn)
            .is_writer(arn == writer)
            .build()
    };
    DescribeGlobalClustersOutput::builder()
        .global_clusters(
            GlobalCluster::builder()
                .global_cluster_identifier(GLOBAL)
                .global_cluster_arn(format!("arn:aws:rds::123456789012:global-cluster:{GLOBAL}"))
                .status("available")
                .engine("aurora-postgresql")
                .global_cluster_members(member(PRIMARY))
                .global_cluster_members(member(SECONDARY))
                .build(),
        )
        .build()
}

/// DescribeGlobalClusters of [`GLOBAL`]: `before`'s writer first, then `after`'s.
fn describe(before: &'static str, after: &'static str) -> Rule {
    mock!(Client::describe_global_clusters)
        .match_requests(|r| r.global_cluster_identifier() == Some(GLOBAL))
        .sequence()
        .output(move || global(before))
        .output(move || global(after))
        .repeatedly()
        .build()
}

fn global_inputs(writer: Option<&str>, how: &str) -> Value {
    json!({
        "identifier": GLOBAL, "engine": "aurora-postgresql", "engine_version": "14.6",
        "database_name": null, "storage_encrypted": true, "deletion_protection": false,
        "writer": writer, "writer_change": how, "tags": {},
    })
}

fn change(type_token: &str, id: &str, old: Value, new: Value) -> UpdateRequest {
    UpdateRequest {
        ctx: ResourceContext {
            stack: "tests/mocks".into(),
            name: "db".into(),
            type_token: type_token.into(),
        },
        id: id.into(),
        old_inputs: old,
        new_inputs: new,
        old_outputs: json!({}),
        changed_keys: Vec::new(),
        timeout: Some(Duration::from_secs(60)),
    }
}

fn members(writer: &str) -> Value {
    json!([
        {"cluster_arn": PRIMARY, "is_writer": writer == PRIMARY},
        {"cluster_arn": SECONDARY, "is_writer": writer == SECONDARY},
    ])
}

#[tokio::test]
async fn a_planned_writer_change_switches_over_to_the_target() {
    let describe = describe(PRIMARY, SECONDARY);
    let switchover = mock!(Client::switchover_global_cluster)
        .match_requests(|r| {
            r.global_cluster_identifier() == Some(GLOBAL)
                && r.target_db_cluster_identifier() == Some(SECONDARY)
        })
        .then_output(|| SwitchoverGlobalClusterOutput::builder().build());
    let rds = client(&[&describe, &switchover]);
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(Some(PRIMARY), "switchover"),
        global_inputs(Some(SECONDARY), "switchover"),
    );
    let out = global_cluster::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(switchover.num_calls(), 1);
    assert_eq!(out.outputs["members"], members(SECONDARY));
}

#[tokio::test]
async fn a_writer_declared_without_its_account_is_matched_by_region_and_id() {
    // What a stack can write before anything exists: no account in the ARN.
    const DECLARED: &str = "arn:aws:rds:us-west-2::cluster:payments-dr";
    let describe = describe(PRIMARY, SECONDARY);
    let switchover = mock!(Client::switchover_global_cluster)
        .match_requests(|r| r.target_db_cluster_identifier() == Some(SECONDARY))
        .then_output(|| SwitchoverGlobalClusterOutput::builder().build());
    let rds = client(&[&describe, &switchover]);
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(
            Some("arn:aws:rds:us-east-1::cluster:payments-primary"),
            "switchover",
        ),
        global_inputs(Some(DECLARED), "switchover"),
    );
    let out = global_cluster::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(switchover.num_calls(), 1, "the full member ARN was sent");
    assert_eq!(out.outputs["members"], members(SECONDARY));
}

#[tokio::test]
async fn an_unplanned_writer_change_fails_over_allowing_data_loss() {
    let describe = describe(PRIMARY, SECONDARY);
    let failover = mock!(Client::failover_global_cluster)
        .match_requests(|r| {
            r.global_cluster_identifier() == Some(GLOBAL)
                && r.target_db_cluster_identifier() == Some(SECONDARY)
                && r.allow_data_loss() == Some(true)
        })
        .then_output(|| FailoverGlobalClusterOutput::builder().build());
    let rds = client(&[&describe, &failover]);
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(Some(PRIMARY), "failover"),
        global_inputs(Some(SECONDARY), "failover"),
    );
    let out = global_cluster::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(failover.num_calls(), 1);
    assert_eq!(out.outputs["members"], members(SECONDARY));
}

#[tokio::test]
async fn an_unplanned_writer_change_sends_every_call_to_the_surviving_region() {
    // The provider's client is the primary's (us-east-1), the region that failed.
    for how in ["failover", "detach_and_promote"] {
        let hosts = Hosts::default();
        let failover = mock!(Client::failover_global_cluster)
            .match_requests(|r| r.allow_data_loss() == Some(true))
            .then_output(|| FailoverGlobalClusterOutput::builder().build());
        let (describe, remove, promoted) = if how == "failover" {
            (describe(PRIMARY, SECONDARY), None, None)
        } else {
            let left = mock!(Client::describe_global_clusters)
                .sequence()
                .output(|| global(PRIMARY))
                .output(|| {
                    let mut out = global(PRIMARY);
                    out.global_clusters.as_mut().unwrap()[0]
                        .global_cluster_members
                        .as_mut()
                        .unwrap()
                        .retain(|m| m.db_cluster_arn() == Some(PRIMARY));
                    out
                })
                .repeatedly()
                .build();
            let remove = mock!(Client::remove_from_global_cluster)
                .match_requests(|r| r.db_cluster_identifier() == Some(SECONDARY))
                .then_output(|| RemoveFromGlobalClusterOutput::builder().build());
            let promoted = mock!(Client::describe_db_clusters).then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("payments-dr")
                            .status("available")
                            .build(),
                    )
                    .build()
            });
            (left, Some(remove), Some(promoted))
        };
        let mut rules = vec![&describe, &failover];
        rules.extend(remove.as_ref());
        rules.extend(promoted.as_ref());
        let rds = client_seen(&rules, &hosts);
        let req = change(
            "aws:rds/globalCluster",
            GLOBAL,
            global_inputs(Some(PRIMARY), how),
            global_inputs(Some(SECONDARY), how),
        );
        let out = global_cluster::update(&aws(), &rds, req).await.unwrap();
        let seen = hosts.seen();
        assert!(seen.len() >= 3, "{how}: {seen:?}");
        assert!(
            seen.iter()
                .all(|h| h.contains("us-west-2") && !h.contains("us-east-1")),
            "{how}: every call goes to the DR region: {seen:?}"
        );
        let record = &out.outputs["last_writer_change"];
        assert_eq!(record["via_region"], "us-west-2", "{how}: {record}");
        assert_eq!(record["unreached_region"], "us-east-1", "{how}: {record}");
        assert_eq!(record["from"], PRIMARY, "{how}: {record}");
        let stale = if how == "failover" {
            json!(null)
        } else {
            json!(PRIMARY)
        };
        assert_eq!(record["stale_writer"], stale, "{how}: {record}");
    }
}

#[tokio::test]
async fn switching_back_to_the_stale_writer_of_a_detach_is_refused_before_any_call() {
    // No rule: any request would fail the update with another error.
    let rds = client(&[]);
    let mut req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(Some(SECONDARY), "detach_and_promote"),
        global_inputs(
            Some("arn:aws:rds:us-east-1::cluster:payments-primary"),
            "switchover",
        ),
    );
    req.old_outputs = json!({"last_writer_change": {
        "how": "detach_and_promote", "from": PRIMARY, "to": SECONDARY,
        "via_region": "us-west-2", "replication_lag_ms": null, "lag_note": "",
        "unreached_region": "us-east-1", "stale_writer": PRIMARY,
    }});
    let err = global_cluster::update(&aws(), &rds, req).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("StaleWriter"), "{err}");
    assert!(err.message.contains("would lose them"), "{err}");
}

#[test]
fn a_switchover_is_refused_over_the_lag_limit_and_allowed_when_the_lag_is_unknown() {
    let refused = global_cluster::lag_verdict(GLOBAL, SECONDARY, Some(45_000.0), 30).unwrap_err();
    assert_eq!(refused.code.as_deref(), Some("ReplicationLagTooHigh"));
    assert!(
        refused.message.contains("45.0 s") && refused.message.contains("= 30 s"),
        "{refused}"
    );
    let within = global_cluster::lag_verdict(GLOBAL, SECONDARY, Some(800.0), 30).unwrap();
    assert!(within.contains("800 ms"), "{within}");
    let unknown = global_cluster::lag_verdict(GLOBAL, SECONDARY, None, 30).unwrap();
    assert!(
        unknown.starts_with("unknown: no AuroraGlobalDBReplicationLag datapoint"),
        "{unknown}"
    );
}

#[tokio::test]
async fn no_writer_call_without_a_declared_writer_or_when_the_target_already_writes() {
    // No writer declared: only the read of the outputs.
    let describe_only = describe(PRIMARY, PRIMARY);
    let rds = client(&[&describe_only]);
    let mut protected = global_inputs(None, "switchover");
    protected["writer_change"] = json!("failover");
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(None, "switchover"),
        protected,
    );
    global_cluster::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(describe_only.num_calls(), 1);

    // A retried update whose switchover already happened sends no second one.
    let already = describe(SECONDARY, SECONDARY);
    let rds = client(&[&already]);
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(Some(PRIMARY), "switchover"),
        global_inputs(Some(SECONDARY), "switchover"),
    );
    let out = global_cluster::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(out.outputs["members"], members(SECONDARY));
}

#[tokio::test]
async fn a_writer_that_is_not_a_member_is_refused() {
    let describe = describe(PRIMARY, PRIMARY);
    let rds = client(&[&describe]);
    let stranger = "arn:aws:rds:eu-west-1:123456789012:cluster:elsewhere";
    let req = change(
        "aws:rds/globalCluster",
        GLOBAL,
        global_inputs(Some(PRIMARY), "switchover"),
        global_inputs(Some(stranger), "switchover"),
    );
    let err = global_cluster::update(&aws(), &rds, req).await.unwrap_err();
    assert!(
        err.message.contains(stranger) && err.message.contains("not a member"),
        "{err}"
    );
}

#[tokio::test]
async fn subnet_group_description_and_subnets_change_in_place() {
    let modify = mock!(Client::modify_db_subnet_group)
        .match_requests(|r| {
            r.db_subnet_group_name() == Some("payments-db")
                && r.db_subnet_group_description() == Some("Payments, three zones")
                && r.subnet_ids() == ["subnet-a", "subnet-b", "subnet-c"]
        })
        .then_output(|| ModifyDbSubnetGroupOutput::builder().build());
    let rds = client(&[&modify]);
    let old = json!({"name": "payments-db", "description": "Payments",
        "subnet_ids": ["subnet-a", "subnet-b"], "tags": {}});
    let new = json!({"name": "payments-db", "description": "Payments, three zones",
        "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"], "tags": {}});
    let mut req = change("aws:rds/subnetGroup", "payments-db", old, new);
    req.old_outputs = json!({"id": "payments-db", "name": "payments-db", "arn": "arn:x"});
    let out = subnet_group::update(&aws(), &rds, req).await.unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(out.outputs["name"], "payments-db");
}

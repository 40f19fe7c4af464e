//! RDS (Aurora global databases) against the emulator.
//!
//! moto 5.2.5 keeps every global cluster in us-east-1 and answered `RemoveFromGlobalCluster`
//! only for clusters of that region; the suite's emulator (`scripts/moto-server`) corrects
//! that, so a member in another region leaves its global database as on AWS. What moto
//! lacks altogether (switchover, failover) is tested with aws-smithy-mocks in
//! `iac-providers` (`aws::rds::mocks`). moto's `ModifyDBSubnetGroup` lost the group; the
//! suite's emulator corrects that too, so a subnet group's change is tested here.

use std::sync::Arc;

use iac_dsl::value::secret;
use iac_dsl::{
    Op, Provider, ReadRequest, ReadResponse, ResourceContext, ResourceOptions, RunOptions, Stack,
    Value, engine,
};
use iac_providers::aws::Aws;
use iac_providers::aws::rds::{
    ClusterArgs, ClusterInstanceArgs, DbSubnetGroupArgs, GlobalClusterArgs, WriterChange,
};
use iac_state::StateStore;
use serde_json::json;

use super::support::*;

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
/// moto's account.
const ACCOUNT: &str = "123456789012";
const PASSWORD: &str = "Str0ng-Passw0rd!";
const GLOBAL: &str = "aws:rds/globalCluster";
const CLUSTER: &str = "aws:rds/cluster";
const INSTANCE: &str = "aws:rds/clusterInstance";

fn rds(region: &str) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&iac_tests::Moto::shared().sdk_config(region))
}

/// Reads as the engine's refresh does: with the recorded inputs, which keep what RDS
/// cannot return (the password, what delete does).
async fn refresh(aws: &Aws, c: &ResourceContext, id: &str, recorded: &Value) -> ReadResponse {
    aws.read(ReadRequest {
        ctx: c.clone(),
        id: id.into(),
        inputs: recorded.clone(),
        outputs: Value::Null,
    })
    .await
    .expect("read succeeds")
    .expect("the object exists")
}

/// The inputs as a read returns them: the password marked secret.
fn as_read(inputs: &Value) -> Value {
    let mut v = inputs.clone();
    if let Some(p) = v["master_password"].as_str() {
        v["master_password"] = secret(json!(p));
    }
    v
}

fn global_inputs(id: &str) -> Value {
    json!({
        "identifier": id, "engine": "aurora-postgresql", "engine_version": "14.6",
        "database_name": null, "storage_encrypted": true, "deletion_protection": false,
        "writer": null, "writer_change": "switchover", "tags": {},
    })
}

/// A global database's primary (with credentials and a database) when `primary`, else a
/// secondary (which has neither).
fn cluster_inputs(id: &str, global: Option<&str>, primary: bool) -> Value {
    json!({
        "identifier": id, "engine": "aurora-postgresql", "engine_version": "14.6",
        "database_name": if primary { json!("payments") } else { Value::Null },
        "master_username": if primary { json!("dbadmin") } else { Value::Null },
        "master_password": if primary { json!(PASSWORD) } else { Value::Null },
        "global_cluster_identifier": global, "db_subnet_group_name": null,
        "vpc_security_group_ids": [], "storage_encrypted": true, "kms_key_id": null,
        "backup_retention_period": 7, "preferred_backup_window": "03:00-04:00",
        "skip_final_snapshot": true, "final_snapshot_identifier": null,
        "deletion_protection": false, "tags": {"team": "payments"},
    })
}

fn instance_inputs(id: &str, cluster: &str) -> Value {
    json!({
        "identifier": id, "cluster_identifier": cluster, "instance_class": "db.r6g.large",
        "engine": "aurora-postgresql", "publicly_accessible": false, "tags": {"role": "writer"},
    })
}

fn members(g: &aws_sdk_rds::types::GlobalCluster) -> Vec<(String, bool)> {
    g.global_cluster_members()
        .iter()
        .map(|m| {
            (
                m.db_cluster_arn().unwrap_or_default().to_string(),
                m.is_writer().unwrap_or(false),
            )
        })
        .collect()
}

async fn describe_global(id: &str) -> aws_sdk_rds::types::GlobalCluster {
    rds(EAST)
        .describe_global_clusters()
        .global_cluster_identifier(id)
        .send()
        .await
        .unwrap()
        .global_clusters()
        .iter()
        .find(|g| g.global_cluster_identifier() == Some(id))
        .cloned()
        .expect("the global cluster exists")
}

#[tokio::test]
async fn subnet_group_lifecycle() {
    let ec2 = aws_sdk_ec2::Client::new(&iac_tests::Moto::shared().sdk_config(EAST));
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .into_iter()
        .enumerate()
    {
        let out = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.42.{i}.0/24"))
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(out.subnet().unwrap().subnet_id().unwrap().to_string());
    }

    let aws = aws(EAST);
    let name = iac_tests::unique("payments-db");
    let c = ctx("aws:rds/subnetGroup", "db-subnets");
    let inputs = json!({"name": name, "description": "Aurora, two zones",
        "subnet_ids": subnets[..2], "tags": {"team": "payments"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert_eq!(created.outputs["name"], name.as_str());
    assert!(
        created.outputs["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":subgrp:{name}"))
    );
    assert_eq!(refresh(&aws, &c, &name, &inputs).await.inputs, inputs);

    // Tags change in place.
    let mut retagged = inputs.clone();
    retagged["tags"] = json!({"team": "risk"});
    let mut described = inputs.clone();
    described["description"] = json!("Aurora");
    described["subnet_ids"] = json!([subnets[0]]);
    assert!(replace_keys(&aws, &c, &inputs, &retagged).is_empty());
    assert!(replace_keys(&aws, &c, &inputs, &described).is_empty());
    update(
        &aws,
        &c,
        &name,
        inputs.clone(),
        retagged.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(refresh(&aws, &c, &name, &retagged).await.inputs, retagged);
    // Description and subnets change in place, twice over (as a stack's zones change and
    // change back), and the group stays.
    let mut narrowed = retagged.clone();
    narrowed["description"] = json!("Aurora, zones a and c");
    narrowed["subnet_ids"] = json!([subnets[0], subnets[2]]);
    for (old, new) in [(&retagged, &narrowed), (&narrowed, &retagged)] {
        update(
            &aws,
            &c,
            &name,
            old.clone(),
            new.clone(),
            created.outputs.clone(),
        )
        .await;
        assert_eq!(&refresh(&aws, &c, &name, new).await.inputs, new);
    }
    let listed = rds(EAST)
        .describe_db_subnet_groups()
        .db_subnet_group_name(&name)
        .send()
        .await
        .expect("the group is still there");
    let listed: Vec<&str> = listed.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    assert_eq!(listed, [subnets[0].as_str(), subnets[1].as_str()]);
    let mut renamed = retagged.clone();
    renamed["name"] = json!("other-name");
    assert_eq!(replace_keys(&aws, &c, &retagged, &renamed), ["name"]);

    // A retried create adopts the group; another resource may not.
    assert_eq!(create(&aws, &c, inputs.clone()).await.unwrap().0.id, name);
    let err = create(&aws, &ctx("aws:rds/subnetGroup", "other"), inputs.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not managed by this stack"), "{err}");
    assert_eq!(
        lookup(&aws, &c, &token, retagged.clone()).await.unwrap().id,
        name
    );
    assert!(
        lookup(
            &aws,
            &ctx("aws:rds/subnetGroup", "stranger"),
            "t",
            retagged.clone()
        )
        .await
        .is_none()
    );

    delete(&aws, &c, &name, retagged.clone(), created.outputs.clone()).await;
    assert!(read(&aws, &c, &name).await.is_none());
    delete(&aws, &c, &name, retagged, created.outputs).await; // already gone: fine
}

#[tokio::test]
async fn global_database_across_two_regions() {
    let (east, west) = (aws(EAST), aws(WEST));
    let gid = iac_tests::unique("payments-global");
    let (pid, sid) = (
        iac_tests::unique("payments-east"),
        iac_tests::unique("payments-west"),
    );
    let (piid, siid) = (format!("{pid}-1"), format!("{sid}-1"));

    // The global cluster, then its primary in us-east-1 and a secondary in us-west-2.
    let gc = ctx(GLOBAL, "global");
    let g_inputs = global_inputs(&gid);
    let (global, _) = create(&east, &gc, g_inputs.clone()).await.expect("global");
    assert_eq!(global.id, gid);
    assert!(global.outputs["arn"].as_str().unwrap().ends_with(&gid));

    let pc = ctx(CLUSTER, "primary");
    let p_inputs = cluster_inputs(&pid, Some(&gid), true);
    let (primary, p_token) = create(&east, &pc, p_inputs.clone()).await.expect("primary");
    assert_eq!(primary.id, pid);
    assert_eq!(
        primary.outputs["arn"],
        format!("arn:aws:rds:{EAST}:{ACCOUNT}:cluster:{pid}")
    );
    assert_eq!(primary.outputs["port"], 5432);
    for key in ["endpoint", "reader_endpoint", "cluster_resource_id"] {
        assert!(!primary.outputs[key].as_str().unwrap().is_empty(), "{key}");
    }
    assert!(!primary.outputs.to_string().contains(PASSWORD));

    let pic = ctx(INSTANCE, "primary-1");
    let pi_inputs = instance_inputs(&piid, &pid);
    let (p_instance, pi_token) = create(&east, &pic, pi_inputs.clone())
        .await
        .expect("instance");
    assert!(
        p_instance.outputs["endpoint"]
            .as_str()
            .unwrap()
            .contains(&piid)
    );

    let sc = ctx(CLUSTER, "secondary");
    let s_inputs = cluster_inputs(&sid, Some(&gid), false);
    let (secondary, _) = create(&west, &sc, s_inputs.clone())
        .await
        .expect("secondary");
    let sic = ctx(INSTANCE, "secondary-1");
    let si_inputs = instance_inputs(&siid, &sid);
    let (s_instance, _) = create(&west, &sic, si_inputs.clone())
        .await
        .expect("instance");

    // Read back: what was declared (the password kept from the recorded inputs).
    let g_read = refresh(&east, &gc, &gid, &g_inputs).await;
    assert_eq!(g_read.inputs, g_inputs);
    assert_eq!(
        g_read.outputs["members"],
        json!([
            {"cluster_arn": primary.outputs["arn"], "is_writer": true},
            {"cluster_arn": secondary.outputs["arn"], "is_writer": false},
        ])
    );
    assert_eq!(
        refresh(&east, &pc, &pid, &p_inputs).await.inputs,
        as_read(&p_inputs)
    );
    assert_eq!(refresh(&west, &sc, &sid, &s_inputs).await.inputs, s_inputs);
    assert_eq!(
        refresh(&east, &pic, &piid, &pi_inputs).await.inputs,
        pi_inputs
    );
    assert_eq!(
        refresh(&west, &sic, &siid, &si_inputs).await.inputs,
        si_inputs
    );
    // Read without recorded inputs (an import) cannot know the password.
    assert!(read(&east, &pc, &pid).await.unwrap().inputs["master_password"].is_null());

    // In place: backups, password, deletion protection, instance class; the writer too.
    let mut p_changed = p_inputs.clone();
    p_changed["backup_retention_period"] = json!(14);
    p_changed["master_password"] = json!("An0ther-Passw0rd");
    assert!(replace_keys(&east, &pc, &p_inputs, &p_changed).is_empty());
    update(
        &east,
        &pc,
        &pid,
        p_inputs.clone(),
        p_changed.clone(),
        primary.outputs.clone(),
    )
    .await;
    let back = refresh(&east, &pc, &pid, &p_changed).await;
    assert_eq!(back.inputs["backup_retention_period"], 14);
    assert_eq!(back.inputs, as_read(&p_changed));
    let mut bigger = pi_inputs.clone();
    bigger["instance_class"] = json!("db.r6g.xlarge");
    assert!(replace_keys(&east, &pic, &pi_inputs, &bigger).is_empty());
    update(
        &east,
        &pic,
        &piid,
        pi_inputs.clone(),
        bigger.clone(),
        p_instance.outputs.clone(),
    )
    .await;
    assert_eq!(refresh(&east, &pic, &piid, &bigger).await.inputs, bigger);
    let mut new_writer = g_inputs.clone();
    new_writer["writer"] = secondary.outputs["arn"].clone();
    assert!(replace_keys(&east, &gc, &g_inputs, &new_writer).is_empty());

    // Replacements.
    let mut other_db = p_changed.clone();
    other_db["database_name"] = json!("ledger");
    other_db["global_cluster_identifier"] = json!("another-global");
    assert_eq!(
        replace_keys(&east, &pc, &p_changed, &other_db),
        ["database_name", "global_cluster_identifier"]
    );
    let mut moved = bigger.clone();
    moved["cluster_identifier"] = json!("another-cluster");
    assert_eq!(
        replace_keys(&east, &pic, &bigger, &moved),
        ["cluster_identifier"]
    );
    let mut mysql = g_inputs.clone();
    mysql["engine"] = json!("aurora-mysql");
    assert_eq!(replace_keys(&east, &gc, &g_inputs, &mysql), ["engine"]);

    // Lookup by identifier finds what this resource made, never another's.
    assert_eq!(
        lookup(&east, &pc, &p_token, p_changed.clone())
            .await
            .unwrap()
            .id,
        pid
    );
    assert_eq!(
        lookup(&east, &pic, &pi_token, bigger.clone())
            .await
            .unwrap()
            .id,
        piid
    );
    assert!(
        lookup(&east, &ctx(CLUSTER, "stranger"), "t", p_changed.clone())
            .await
            .is_none()
    );

    // Delete: instances, then clusters (each leaves the global cluster first).
    delete(&west, &sic, &siid, si_inputs, s_instance.outputs).await;
    delete(&east, &pic, &piid, bigger, p_instance.outputs).await;
    delete(&west, &sc, &sid, s_inputs, secondary.outputs).await;
    delete(&east, &pc, &pid, p_changed.clone(), primary.outputs).await;
    for (aws, c, id) in [
        (&west, &sic, &siid),
        (&east, &pic, &piid),
        (&west, &sc, &sid),
        (&east, &pc, &pid),
    ] {
        assert!(read(aws, c, id).await.is_none(), "{id} is gone");
    }
    assert!(lookup(&east, &pc, &p_token, p_changed).await.is_none());
    // Both left the global database (the us-west-2 one from its own region), so it goes.
    assert!(members(&describe_global(&gid).await).is_empty());
    delete(&east, &gc, &gid, g_inputs, global.outputs).await;
    assert!(read(&east, &gc, &gid).await.is_none());
}

#[tokio::test]
async fn a_global_cluster_is_deleted_once_its_cluster_has_left() {
    let aws = aws(EAST);
    let gid = iac_tests::unique("ledger-global");
    let cid = iac_tests::unique("ledger-east");
    let gc = ctx(GLOBAL, "ledger-global");
    let g_inputs = global_inputs(&gid);
    let (global, _) = create(&aws, &gc, g_inputs.clone()).await.expect("global");
    let cc = ctx(CLUSTER, "ledger");
    let c_inputs = cluster_inputs(&cid, Some(&gid), true);
    let (cluster, _) = create(&aws, &cc, c_inputs.clone()).await.expect("cluster");
    assert_eq!(
        members(&describe_global(&gid).await),
        [(cluster.outputs["arn"].as_str().unwrap().to_string(), true)]
    );

    // A retried create adopts the cluster; a cluster of another resource is refused.
    assert_eq!(create(&aws, &cc, c_inputs.clone()).await.unwrap().0.id, cid);
    let err = create(&aws, &ctx(CLUSTER, "intruder"), c_inputs.clone())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not managed by this stack"),
        "{err}"
    );
    assert!(!err.to_string().contains(PASSWORD));

    delete(&aws, &cc, &cid, c_inputs, cluster.outputs).await;
    assert!(members(&describe_global(&gid).await).is_empty());
    delete(&aws, &gc, &gid, g_inputs.clone(), global.outputs.clone()).await;
    assert!(read(&aws, &gc, &gid).await.is_none());
    delete(&aws, &gc, &gid, g_inputs, global.outputs).await; // already gone: fine
}

/// A global database with its writer in us-west-2 and a secondary in us-east-1, and the
/// declared writer (`None`: whichever RDS made it).
fn dr_stack(suffix: &str, writer: Option<(String, WriterChange)>) -> Stack {
    let mut stack = Stack::new("tests", &format!("rds-{suffix}"));
    let west = stack.provider("aws-west", aws(WEST));
    let east = stack.provider("aws-east", aws(EAST));
    let mut global_args = GlobalClusterArgs::new(format!("dr-global-{suffix}"))
        .engine_version("14.6")
        .storage_encrypted(true);
    if let Some((arn, how)) = writer {
        global_args = global_args.writer(arn).writer_change(how);
    }
    let global = stack.add_with(
        "global",
        global_args,
        ResourceOptions::new().provider(&west),
    );
    let primary = stack.add_with(
        "primary",
        ClusterArgs::new(format!("dr-west-{suffix}"))
            .engine_version("14.6")
            .global_cluster_identifier(global.id())
            .master_username("dbadmin")
            .master_password(PASSWORD)
            .database_name("payments")
            .storage_encrypted(true)
            .skip_final_snapshot(true),
        ResourceOptions::new().provider(&west),
    );
    // The secondary joins once the primary is in.
    stack.add_with(
        "secondary",
        ClusterArgs::new(format!("dr-east-{suffix}"))
            .engine_version("14.6")
            .global_cluster_identifier(global.id())
            .storage_encrypted(true)
            .skip_final_snapshot(true),
        ResourceOptions::new().provider(&east).depends_on(&primary),
    );
    stack
}

/// Deploys `stack`, failing the test with every failed step's error.
async fn deploy(stack: Stack, store: &Arc<StateStore>) {
    apply_ok(stack, store, false, "up").await;
}

#[tokio::test]
async fn detach_and_promote_makes_the_secondary_a_standalone_writer() {
    let suffix = iac_tests::unique("p").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let options = RunOptions::default();
    deploy(dr_stack(&suffix, None), &store).await;
    let gid = format!("dr-global-{suffix}");
    let west_arn = format!("arn:aws:rds:{WEST}:{ACCOUNT}:cluster:dr-west-{suffix}");
    let east_arn = format!("arn:aws:rds:{EAST}:{ACCOUNT}:cluster:dr-east-{suffix}");
    assert_eq!(
        members(&describe_global(&gid).await),
        [(west_arn.clone(), true), (east_arn.clone(), false)]
    );

    // Declaring the secondary as the writer, detach-and-promote: an update of the global
    // cluster only, never a replacement.
    let promoted = || {
        dr_stack(
            &suffix,
            Some((east_arn.clone(), WriterChange::DetachAndPromote)),
        )
    };
    let plan = engine::preview(&promoted(), &store, &options, false)
        .await
        .unwrap();
    let changes: Vec<(&str, Op)> = plan
        .steps
        .iter()
        .filter(|s| s.op.is_change())
        .map(|s| (s.name.as_str(), s.op))
        .collect();
    assert_eq!(changes, [("global", Op::Update)]);
    deploy(promoted(), &store).await;

    // The global cluster keeps the old writer; the secondary stands alone and is available.
    assert_eq!(
        members(&describe_global(&gid).await),
        [(west_arn.clone(), true)]
    );
    let standalone = rds(EAST)
        .describe_db_clusters()
        .db_cluster_identifier(format!("dr-east-{suffix}"))
        .send()
        .await
        .unwrap();
    let standalone = &standalone.db_clusters()[0];
    assert_eq!(standalone.status(), Some("available"));
    assert_eq!(standalone.db_cluster_arn(), Some(east_arn.as_str()));
    let globals = rds(EAST).describe_global_clusters().send().await.unwrap();
    assert!(
        globals
            .global_clusters()
            .iter()
            .flat_map(members)
            .all(|(arn, _)| arn != east_arn),
        "the promoted cluster belongs to no global cluster"
    );

    // Nothing drifted: the promoted cluster is neither moved back nor replaced.
    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(&promoted(), &store, &refreshed, false)
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.counts());
    // The database and its write-ahead log, and every other file beside them.
    let mut files = vec![iac_tests::state_file_bytes(&dir.path().join("state.db"))];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(std::fs::read(path).unwrap());
        }
    }
    for bytes in files {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "the password is stored encrypted"
        );
    }
}

#[tokio::test]
async fn bad_database_declarations_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-database");
    stack.provider("aws", Aws::from_config(counter.sdk_config(EAST)));
    stack.add(
        "subnets",
        DbSubnetGroupArgs::new("default", vec!["subnet-1".into()]),
    );
    let global = stack.add(
        "global",
        GlobalClusterArgs::new("payments--global")
            .engine("postgres")
            .writer("dr-cluster"),
    );
    stack.add(
        "primary",
        ClusterArgs::new("1payments-")
            .global_cluster_identifier(global.id())
            .master_username("dbadmin")
            .master_password("p@ssw0rd-primary")
            .preferred_backup_window("03:00-03:15")
            .backup_retention_period(40)
            .skip_final_snapshot(true),
    );
    stack.add(
        "standalone",
        ClusterArgs::new("ledger")
            .master_username("dbadmin")
            .master_password("short7!")
            .preferred_backup_window("3am-4am"),
    );
    stack.add(
        "instance",
        ClusterInstanceArgs::new("ledger_1", "ledger", "r6g.large"),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let errors = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "no request was sent");
    for needle in [
        "subnets (aws:rds/subnetGroup)",
        "reserved for the default subnet group",
        "at least two availability zones",
        "global (aws:rds/globalCluster)",
        "`payments--global` has two consecutive hyphens",
        "`postgres` is not an Aurora engine",
        "not a DB cluster ARN",
        "primary (aws:rds/cluster): invalid `identifier`",
        "must start with a letter",
        "ends with a hyphen",
        "invalid `master_password`: the master password must not contain",
        "invalid `preferred_backup_window`: `03:00-03:15` lasts 15 minutes",
        "invalid `backup_retention_period`: 40 days is not within 1..35",
        "standalone (aws:rds/cluster): invalid `master_password`",
        "must be 8 to 41 characters long, got 7",
        "`3am-4am` is not a window",
        "standalone (aws:rds/cluster): invalid `final_snapshot_identifier`",
        "instance (aws:rds/clusterInstance): invalid `identifier`",
        "`r6g.large` is not an RDS instance class",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }
    for password in ["p@ssw0rd-primary", "short7!"] {
        assert!(!errors.contains(password), "a password leaked:\n{errors}");
    }
}

//! Refresh reads in batches: the engine's `refresh` hands the provider every resource at
//! once, and types whose API lists many objects in one call read them together. Checked
//! against the emulator: the calls made, the same answers as one read per object, and
//! objects deleted or changed outside the stack still found out.

use std::collections::BTreeMap;

use iac_dsl::{Provider, ReadRequest, ResourceContext, ResourceOptions, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::apigateway::{ApiResourceArgs, IntegrationArgs, MethodArgs, RestApiArgs};
use iac_providers::aws::cloudwatch::MetricAlarmArgs;
use iac_providers::aws::ec2::{
    ElasticIpArgs, InternetGatewayArgs, NatGatewayArgs, Route, RouteTableArgs,
    RouteTableAssociationArgs, SecurityGroupArgs, SecurityGroupRule, SubnetArgs, VpcArgs,
};
use iac_providers::aws::iam::{
    PolicyArgs, PolicyDocument, RoleArgs, RolePolicyArgs, RolePolicyAttachmentArgs, Statement,
};
use iac_providers::aws::kms::{AliasArgs, KeyArgs};
use iac_providers::aws::rds::{ClusterArgs, ClusterInstanceArgs, DbSubnetGroupArgs};
use iac_providers::aws::route53::{HostedZoneArgs, RecordArgs};
use iac_providers::aws::s3::{
    BucketArgs, BucketEncryptionArgs, BucketPublicAccessBlockArgs, BucketVersioningArgs,
};
use iac_providers::aws::secretsmanager::{SecretArgs, SecretVersionArgs};
use iac_state::StateStore;

use super::support::*;

const REGION: &str = "eu-central-1";

/// A network with three subnets in one route table, a security group, three alarms and an
/// API of two resources with their methods and integrations.
fn network(suffix: &str) -> Stack {
    let mut stack = Stack::new("tests", &format!("batch-{suffix}"));
    stack.provider("aws", aws(REGION));
    let vpc = stack.add("vpc", VpcArgs::new("10.40.0.0/16"));
    let igw = stack.add("igw", InternetGatewayArgs::new(vpc.id()));
    let table = stack.add(
        "public",
        RouteTableArgs::new(vpc.id()).route(Route::to_internet_gateway("0.0.0.0/0", igw.id())),
    );
    for (i, zone) in ["a", "b", "c"].iter().enumerate() {
        let subnet = stack.add(
            &format!("subnet-{zone}"),
            SubnetArgs::new(
                vpc.id(),
                format!("10.40.{i}.0/24"),
                format!("{REGION}{zone}"),
            )
            .tag("Name", format!("subnet-{zone}")),
        );
        stack.add(
            &format!("assoc-{zone}"),
            RouteTableAssociationArgs::new(subnet.id(), table.id()),
        );
    }
    stack.add(
        "sg",
        SecurityGroupArgs::new(format!("batch-{suffix}"), "app", vpc.id())
            .ingress(SecurityGroupRule::tcp(443).cidr_block("10.40.0.0/16")),
    );
    for n in 1..=3 {
        stack.add(
            &format!("alarm-{n}"),
            MetricAlarmArgs::new(
                format!("batch-{suffix}-{n}"),
                "AWS/Lambda",
                "Errors",
                "Sum",
                "GreaterThanThreshold",
                f64::from(n),
            ),
        );
    }
    let api = stack.add("api", RestApiArgs::new(format!("batch-{suffix}")));
    for path in ["pay", "refund"] {
        let res = stack.add(
            &format!("res-{path}"),
            ApiResourceArgs::new(api.id(), api.root_resource_id(), path),
        );
        let method = stack.add(
            &format!("post-{path}"),
            MethodArgs::new(api.id(), res.id(), "POST"),
        );
        stack.add(&format!("int-{path}"), IntegrationArgs::mock(&method));
    }
    stack
}

/// What a refresh found, as `gone NAME` and `drifted NAME`, sorted.
fn changes(report: &engine::RefreshReport) -> Vec<String> {
    let mut changes: Vec<String> = report
        .changes
        .iter()
        .map(|c| match c {
            engine::RefreshChange::Gone(n) => format!("gone {n}"),
            engine::RefreshChange::Drifted { record, .. } => format!("drifted {}", record.name),
        })
        .collect();
    changes.sort();
    changes
}

/// The record of the resource `name`.
fn recorded(store: &StateStore, stack: &Stack, name: &str) -> iac_state::ResourceRecord {
    let state = store.load(stack.id()).expect("state loads");
    let found = state.resources.into_iter().find(|r| r.name == name);
    found.unwrap_or_else(|| panic!("{name} is recorded"))
}

/// What the next preview plans for each resource, by name.
async fn planned(stack: &Stack, store: &StateStore) -> impl Fn(&str) -> iac_dsl::Op {
    let plan = engine::preview(stack, store, &RunOptions::default(), false)
        .await
        .expect("preview");
    let ops: BTreeMap<String, iac_dsl::Op> =
        plan.steps.iter().map(|s| (s.name.clone(), s.op)).collect();
    move |name| ops[name]
}

/// Every recorded resource as the engine's refresh asks for it.
fn requests(store: &StateStore, stack: &Stack) -> Vec<ReadRequest> {
    let state = store.load(stack.id()).expect("state loads");
    state
        .resources
        .iter()
        .map(|r| ReadRequest {
            ctx: ResourceContext {
                stack: stack.id().to_string(),
                name: r.name.clone(),
                type_token: r.type_token.clone(),
            },
            id: r.id.clone(),
            inputs: iac_dsl::value::reveal(&r.inputs),
            outputs: r.outputs.clone(),
        })
        .collect()
}

/// The id of the resource `name` among `reqs`.
fn id_in(reqs: &[ReadRequest], name: &str) -> String {
    let found = reqs.iter().find(|r| r.ctx.name == name);
    found
        .map(|r| r.id.clone())
        .unwrap_or_else(|| panic!("{name} is read"))
}

/// Sets the EC2 object `id`'s `Name` tag to `renamed`, outside the stack.
async fn rename(ec2: &aws_sdk_ec2::Client, id: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("Name")
        .value("renamed")
        .build();
    ec2.create_tags()
        .resources(id)
        .tags(tag)
        .send()
        .await
        .expect("CreateTags");
}

/// Each operation of `once` was called exactly once; none of `never` was (another call
/// answered it).
fn calls_once_and_never(calls: &BTreeMap<String, u64>, once: &[&str], never: &[&str]) {
    for op in once {
        assert_eq!(calls.get(*op), Some(&1), "{op} once: {calls:?}");
    }
    for op in never {
        assert_eq!(calls.get(*op), None, "{op} is answered by another call");
    }
}

/// The batched answers to `reqs` are the answers of one read per object. One call at a
/// time is enough (no read waits on a permit another holds).
async fn batched_equals_single(aws: &Aws, reqs: Vec<ReadRequest>) {
    let many = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        aws.read_many(reqs.clone(), 1, &iac_dsl::SharedReads::default()),
    )
    .await
    .expect("a batch at parallelism 1 finishes");
    assert_eq!(many.len(), reqs.len());
    for (req, batched) in reqs.iter().zip(many) {
        let single = aws.read(req.clone()).await.expect("single read");
        assert_eq!(
            batched.expect("batched read"),
            single,
            "{} ({})",
            req.ctx.name,
            req.ctx.type_token
        );
    }
}

#[tokio::test]
async fn a_refresh_reads_each_kind_with_one_call_and_still_finds_what_changed_outside() {
    let suffix = iac_tests::unique("b").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    apply_ok(network(&suffix), &store, false, "up").await;
    let stack = network(&suffix);
    let resources = store.load(stack.id()).unwrap().resources.len();
    assert_eq!(resources, 20, "every declared resource is recorded");

    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert!(
        report.changes.is_empty(),
        "nothing changed: {:?}",
        report.changes
    );
    assert_eq!(report.resources, resources);
    let calls = &report.calls;
    // Three subnets, one route table and three associations, three alarms, two resources
    // with their methods and integrations: one listing call each.
    calls_once_and_never(
        calls,
        &[
            "EC2:DescribeSubnets",
            "EC2:DescribeRouteTables",
            "CloudWatch:DescribeAlarms",
            "API Gateway:GetResources",
        ],
        &[
            "API Gateway:GetResource",
            "API Gateway:GetMethod",
            "API Gateway:GetIntegration",
        ],
    );
    // The alarms' tags come from one tagging API listing that agrees with the record.
    assert_eq!(
        calls.get("CloudWatch:ListTagsForResource"),
        None,
        "{calls:?}"
    );
    assert_eq!(
        calls.get("Resource Groups Tagging API:GetResources"),
        Some(&1),
        "{calls:?}"
    );
    assert!(
        report.total_calls() <= 15,
        "{} calls for {resources} resources: {calls:?}",
        report.total_calls()
    );

    // The batched answers are the answers of one read per object.
    let reqs = requests(&store, &stack);
    batched_equals_single(&aws(REGION), reqs.clone()).await;

    // Outside the stack: one association is removed, one alarm deleted, a subnet retagged.
    let config = iac_tests::Moto::shared().sdk_config(REGION);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let id_of = |name: &str| id_in(&reqs, name);
    ec2.disassociate_route_table()
        .association_id(id_of("assoc-b"))
        .send()
        .await
        .unwrap();
    rename(&ec2, &id_of("subnet-c")).await;
    aws_sdk_cloudwatch::Client::new(&config)
        .delete_alarms()
        .alarm_names(id_of("alarm-2"))
        .send()
        .await
        .unwrap();
    // ... an alarm is tagged (the listing no longer agrees with the record: the alarm's own
    // tag call says what it has) ...
    let alarm_arn = reqs
        .iter()
        .find(|r| r.ctx.name == "alarm-1")
        .and_then(|r| r.outputs["arn"].as_str())
        .unwrap()
        .to_string();
    aws_sdk_cloudwatch::Client::new(&config)
        .tag_resource()
        .resource_arn(&alarm_arn)
        .tags(
            aws_sdk_cloudwatch::types::Tag::builder()
                .key("team")
                .value("payments")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // ... and one API method goes, with its integration.
    let method = id_of("post-refund");
    aws_sdk_apigateway::Client::new(&config)
        .delete_method()
        .rest_api_id(method.split('/').next().unwrap())
        .resource_id(method.split('/').nth(1).unwrap())
        .http_method("POST")
        .send()
        .await
        .unwrap();
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    let changes = changes(&report);
    assert_eq!(
        changes,
        [
            "drifted alarm-1",
            "drifted subnet-c",
            "gone alarm-2",
            "gone assoc-b",
            "gone int-refund",
            "gone post-refund"
        ],
        "what changed outside is found"
    );
    let subnet = recorded(&store, &stack, "subnet-c");
    assert_eq!(subnet.inputs["tags"]["Name"], "renamed");
    assert_eq!(
        report.calls.get("CloudWatch:ListTagsForResource"),
        Some(&1),
        "only the alarm whose listed tags differ is asked: {:?}",
        report.calls
    );
    let alarm = recorded(&store, &stack, "alarm-1");
    assert_eq!(alarm.inputs["tags"]["team"], "payments");

    apply_ok(network(&suffix), &store, true, "destroy").await;
}

/// Two NAT gateways holding their Elastic IPs, and an Aurora cluster with one instance in
/// a DB subnet group over the same two subnets.
fn egress_and_database(suffix: &str) -> Stack {
    let mut stack = Stack::new("tests", &format!("batch-held-{suffix}"));
    stack.provider("aws", aws(REGION));
    let vpc = stack.add("vpc", VpcArgs::new("10.41.0.0/16"));
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let subnet = stack.add(
            &format!("subnet-{zone}"),
            SubnetArgs::new(
                vpc.id(),
                format!("10.41.{i}.0/24"),
                format!("{REGION}{zone}"),
            ),
        );
        let eip = stack.add(
            &format!("eip-{zone}"),
            ElasticIpArgs::new().tag("Name", format!("nat-{zone}")),
        );
        stack.add(
            &format!("nat-{zone}"),
            NatGatewayArgs::new(subnet.id(), eip.id()),
        );
        subnets.push(subnet.id().into());
    }
    let group = stack.add(
        "db-subnets",
        DbSubnetGroupArgs::new(format!("batch-held-{suffix}"), subnets).description("two zones"),
    );
    let cluster = stack.add(
        "cluster",
        ClusterArgs::new(format!("batch-held-{suffix}"))
            .master_username("dbadmin")
            .master_password("Str0ng-Passw0rd!")
            .db_subnet_group_name(group.name())
            .storage_encrypted(true)
            .skip_final_snapshot(true),
    );
    stack.add(
        "instance",
        ClusterInstanceArgs::new(
            format!("batch-held-{suffix}-1"),
            cluster.id(),
            "db.r6g.large",
        ),
    );
    stack
}

#[tokio::test]
async fn an_address_held_by_a_nat_gateway_and_a_group_used_by_an_instance_are_read_from_their_answers()
 {
    let suffix = iac_tests::unique("h").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    apply_ok(egress_and_database(&suffix), &store, false, "up").await;
    let stack = egress_and_database(&suffix);

    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    // The gateways' answer holds their addresses, and the instance's answer its subnet
    // group whole; the tags of both come from the one tagging listing.
    calls_once_and_never(
        &report.calls,
        &[
            "EC2:DescribeNatGateways",
            "RDS:DescribeDBInstances",
            "Resource Groups Tagging API:GetResources",
        ],
        &[
            "EC2:DescribeAddresses",
            "RDS:DescribeDBSubnetGroups",
            "RDS:ListTagsForResource",
        ],
    );

    // The answers are those of one read per object.
    let reqs = requests(&store, &stack);
    batched_equals_single(&aws(REGION), reqs.clone()).await;

    // Outside the stack: one address is retagged, the other's gateway deleted (the address
    // stays allocated), and the subnet group's description changed.
    let config = iac_tests::Moto::shared().sdk_config(REGION);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let id_of = |name: &str| id_in(&reqs, name);
    rename(&ec2, &id_of("eip-a")).await;
    ec2.delete_nat_gateway()
        .nat_gateway_id(id_of("nat-b"))
        .send()
        .await
        .unwrap();
    aws_sdk_rds::Client::new(&config)
        .modify_db_subnet_group()
        .db_subnet_group_name(id_of("db-subnets"))
        .db_subnet_group_description("changed by hand")
        .set_subnet_ids(Some(vec![id_of("subnet-a"), id_of("subnet-b")]))
        .send()
        .await
        .unwrap();
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert_eq!(
        changes(&report),
        ["drifted db-subnets", "drifted eip-a", "gone nat-b"],
        "what changed outside is found; the address of the deleted gateway is still there"
    );
    assert_eq!(
        recorded(&store, &stack, "eip-a").inputs["tags"]["Name"],
        "renamed"
    );
    assert_eq!(
        recorded(&store, &stack, "db-subnets").inputs["description"],
        "changed by hand"
    );
    assert_eq!(
        report.calls.get("EC2:DescribeAddresses"),
        Some(&1),
        "the retagged address and the one no gateway holds are described together: {:?}",
        report.calls
    );
    assert_eq!(
        report.calls.get("RDS:DescribeDBSubnetGroups"),
        None,
        "the changed description was found in the instance's answer: {:?}",
        report.calls
    );

    apply_ok(egress_and_database(&suffix), &store, true, "destroy").await;
}

/// A hosted zone with three records, and a secret with its value.
fn records_and_secret(suffix: &str, value: &str) -> Stack {
    let mut stack = Stack::new("tests", &format!("batch-dns-{suffix}"));
    stack.provider("aws", aws(REGION));
    let domain = format!("batch-{suffix}.example.com");
    let zone = stack.add(
        "zone",
        HostedZoneArgs::new(domain.clone()).force_destroy(true),
    );
    for (name, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3")] {
        stack.add(
            &format!("record-{name}"),
            RecordArgs::new(zone.zone_id(), format!("{name}.{domain}"), "A").record(ip),
        );
    }
    let secret = stack.add(
        "secret",
        SecretArgs::new(format!("batch-{suffix}")).recovery_window_in_days(0),
    );
    stack.add("value", SecretVersionArgs::new(secret.arn(), value));
    stack
}

#[tokio::test]
async fn a_refresh_lists_a_zone_once_and_reads_no_secret_value_that_did_not_change() {
    let suffix = iac_tests::unique("d").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    apply_ok(records_and_secret(&suffix, "first"), &store, false, "up").await;
    let stack = records_and_secret(&suffix, "first");
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    let calls = &report.calls;
    assert_eq!(
        calls.get("Route 53:ListResourceRecordSets"),
        Some(&1),
        "three records, one listing: {calls:?}"
    );
    assert_eq!(
        calls.get("Secrets Manager:DescribeSecret"),
        Some(&1),
        "the secret and its value share one describe: {calls:?}"
    );
    assert_eq!(
        calls.get("Secrets Manager:GetSecretValue"),
        None,
        "the value is still the current version: it is not fetched"
    );

    // Outside the stack: a new value is put and one record deleted.
    let reqs = requests(&store, &stack);
    let id_of = |name: &str| reqs.iter().find(|r| r.ctx.name == name).unwrap().clone();
    let config = iac_tests::Moto::shared().sdk_config(REGION);
    aws_sdk_secretsmanager::Client::new(&config)
        .put_secret_value()
        .secret_id(id_of("secret").id)
        .secret_string("changed outside")
        .send()
        .await
        .unwrap();
    let record = id_of("record-b");
    let zone_id = record.inputs["zone_id"].as_str().unwrap().to_string();
    let name = record.inputs["name"].as_str().unwrap().to_string();
    aws_sdk_route53::Client::new(&config)
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Delete)
                        .resource_record_set(
                            aws_sdk_route53::types::ResourceRecordSet::builder()
                                .name(&name)
                                .r#type(aws_sdk_route53::types::RrType::A)
                                .ttl(300)
                                .resource_records(
                                    aws_sdk_route53::types::ResourceRecord::builder()
                                        .value("10.0.0.2")
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    let changes = changes(&report);
    assert_eq!(changes, ["drifted value", "gone record-b"]);
    assert_eq!(
        report.calls.get("Secrets Manager:GetSecretValue"),
        Some(&1),
        "a new current version is fetched"
    );
    // The next preview puts the declared value back.
    let op = planned(&stack, &store).await;
    assert_eq!(op("value"), iac_dsl::Op::Update);
    assert_eq!(op("record-b"), iac_dsl::Op::Create);
    apply_ok(
        records_and_secret(&suffix, "first"),
        &store,
        true,
        "destroy",
    )
    .await;
}

const WEST: &str = "eu-west-1";

/// Two regions' providers of one account: IAM objects in both (two roles, a managed policy
/// attached to each, inline policies), a record in each of one hosted zone, and in the
/// first a key with its alias and a private bucket with its versioning.
fn two_regions(suffix: &str) -> Stack {
    let mut stack = Stack::new("tests", &format!("batch-global-{suffix}"));
    let a = stack.provider("aws-a", aws(REGION));
    let b = stack.provider("aws-b", aws(WEST));
    let on = |p| ResourceOptions::default().provider(p);
    let policy = stack.add_with(
        "policy",
        PolicyArgs::new(
            format!("batch-{suffix}"),
            PolicyDocument::new().statement(
                Statement::allow()
                    .action("s3:GetObject")
                    .resource(format!("arn:aws:s3:::batch-{suffix}/*")),
            ),
        ),
        on(&a),
    );
    for (side, provider) in [("a", &a), ("b", &b)] {
        let role = stack.add_with(
            &format!("role-{side}"),
            RoleArgs::new(
                format!("batch-{suffix}-{side}"),
                PolicyDocument::assume_role_by_service("lambda.amazonaws.com"),
            )
            .description(format!("role {side}"))
            .tag("side", side),
            on(provider),
        );
        stack.add_with(
            &format!("attach-{side}"),
            RolePolicyAttachmentArgs::new(role.name(), policy.arn()),
            on(provider),
        );
        stack.add_with(
            &format!("inline-{side}"),
            RolePolicyArgs::new(
                role.name(),
                "logs",
                PolicyDocument::new().statement(
                    Statement::allow()
                        .action("logs:PutLogEvents")
                        .resource(format!("arn:aws:logs:*:*:log-group:/batch/{side}:*")),
                ),
            ),
            on(provider),
        );
    }
    let key = stack.add_with("key", KeyArgs::new("batch key"), on(&a));
    stack.add_with(
        "alias",
        AliasArgs::new(format!("alias/batch-{suffix}"), key.key_id()),
        on(&a),
    );
    let bucket = stack.add_with(
        "bucket",
        BucketArgs::new(format!("batch-{suffix}")).force_destroy(true),
        on(&a),
    );
    stack.add_with(
        "versioning",
        BucketVersioningArgs::new(bucket.bucket()),
        on(&a),
    );
    stack.add_with(
        "encryption",
        BucketEncryptionArgs::new(bucket.bucket()),
        on(&a),
    );
    stack.add_with(
        "public-access",
        BucketPublicAccessBlockArgs::new(bucket.bucket()),
        on(&a),
    );
    let domain = format!("batch-global-{suffix}.example.com");
    let zone = stack.add_with(
        "zone",
        HostedZoneArgs::new(domain.clone()).force_destroy(true),
        on(&a),
    );
    for (side, provider, ip) in [("a", &a, "10.0.0.1"), ("b", &b, "10.0.0.2")] {
        stack.add_with(
            &format!("record-{side}"),
            RecordArgs::new(zone.zone_id(), format!("{side}.{domain}"), "A").record(ip),
            on(provider),
        );
    }
    stack
}

#[tokio::test]
async fn global_services_are_listed_once_for_every_region_and_one_call_serves_two_types() {
    let suffix = iac_tests::unique("g").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    apply_ok(two_regions(&suffix), &store, false, "up").await;
    let stack = two_regions(&suffix);
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(report.resources, 16);
    let calls = &report.calls;
    // IAM and Route 53 are global: the two providers share one listing each.
    calls_once_and_never(
        calls,
        &[
            "IAM:GetAccountAuthorizationDetails",
            "IAM:ListRoles",
            "IAM:GetPolicy",
            "Route 53:ListResourceRecordSets",
            // The alias and its key share one DescribeKey (by the alias's name) ...
            "KMS:DescribeKey",
            // ... the bucket and its versioning one GetBucketVersioning.
            "S3:GetBucketVersioning",
        ],
        &[
            "IAM:GetRole",
            "IAM:ListAttachedRolePolicies",
            "IAM:GetRolePolicy",
            "IAM:GetPolicyVersion",
            "KMS:ListAliases",
            "S3:HeadBucket",
        ],
    );
    assert!(
        report.total_calls() <= 14,
        "{} calls for 16 resources: {calls:?}",
        report.total_calls()
    );

    // The batched answers are the answers of one read per object, in both regions.
    let state = store.load(stack.id()).unwrap();
    for (provider, region) in [("aws-a", REGION), ("aws-b", WEST)] {
        let reqs: Vec<ReadRequest> = requests(&store, &stack)
            .into_iter()
            .filter(|r| {
                state
                    .resources
                    .iter()
                    .any(|rec| rec.name == r.ctx.name && rec.provider == provider)
            })
            .collect();
        batched_equals_single(&aws(region), reqs).await;
    }

    // Outside the stack: a role's description, an inline policy, an attachment, the
    // policy's document, the alias and the bucket's versioning change.
    let reqs = requests(&store, &stack);
    let id_of = |name: &str| reqs.iter().find(|r| r.ctx.name == name).unwrap().id.clone();
    let config = iac_tests::Moto::shared().sdk_config(REGION);
    let iam = aws_sdk_iam::Client::new(&config);
    iam.update_role()
        .role_name(id_of("role-b"))
        .description("changed outside")
        .send()
        .await
        .unwrap();
    iam.delete_role_policy()
        .role_name(format!("batch-{suffix}-a"))
        .policy_name("logs")
        .send()
        .await
        .unwrap();
    iam.detach_role_policy()
        .role_name(format!("batch-{suffix}-b"))
        .policy_arn(id_of("policy"))
        .send()
        .await
        .unwrap();
    iam.create_policy_version()
        .policy_arn(id_of("policy"))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        )
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    aws_sdk_kms::Client::new(&config)
        .delete_alias()
        .alias_name(id_of("alias"))
        .send()
        .await
        .unwrap();
    aws_sdk_s3::Client::new(&config)
        .put_bucket_versioning()
        .bucket(id_of("bucket"))
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("refresh");
    assert_eq!(
        changes(&report),
        [
            "drifted policy",
            "drifted role-b",
            "drifted versioning",
            "gone alias",
            "gone attach-b",
            "gone inline-a",
        ],
        "what changed outside is found: {:?}",
        report.calls
    );
    let drifted_inputs: BTreeMap<&str, &[String]> = report
        .changes
        .iter()
        .filter_map(|c| match c {
            engine::RefreshChange::Drifted { record, inputs, .. } => {
                Some((record.name.as_str(), inputs.as_slice()))
            }
            engine::RefreshChange::Gone(_) => None,
        })
        .collect();
    assert_eq!(
        drifted_inputs,
        BTreeMap::from([
            ("policy", &["document".to_string()][..]),
            ("role-b", &["description".to_string()][..]),
            ("versioning", &["status".to_string()][..]),
        ]),
        "each drift names the settings that changed"
    );
    let recorded = |name: &str| recorded(&store, &stack, name);
    assert_eq!(recorded("role-b").inputs["description"], "changed outside");
    assert_eq!(recorded("versioning").inputs["status"], "Suspended");
    assert_eq!(
        recorded("policy").inputs["document"]["Statement"][0]["Action"],
        serde_json::json!(["s3:*"]),
        "the new default version's document, from the listing"
    );
    assert_eq!(
        report.calls.get("IAM:GetPolicyVersion"),
        None,
        "{:?}",
        report.calls
    );
    assert_eq!(
        report.calls.get("KMS:DescribeKey"),
        Some(&2),
        "the alias is gone: its key is described by id"
    );
    // The next preview plans back what went.
    let op = planned(&stack, &store).await;
    for name in ["alias", "attach-b", "inline-a"] {
        assert_eq!(op(name), iac_dsl::Op::Create, "{name}");
    }
    for name in ["policy", "role-b", "versioning"] {
        assert_eq!(op(name), iac_dsl::Op::Update, "{name}");
    }

    // A bucket recorded in another region than its provider's is asked where it is
    // (HeadBucket), not taken to be in the provider's region from the versioning answer.
    let a = aws(REGION);
    let mut reqs: Vec<ReadRequest> = requests(&store, &stack)
        .into_iter()
        .filter(|r| r.ctx.name == "bucket" || r.ctx.name == "versioning")
        .collect();
    let at = reqs.iter().position(|r| r.ctx.name == "bucket").unwrap();
    reqs[at].outputs["region"] = serde_json::json!(WEST);
    let reads = a.read_many(reqs, 4, &iac_dsl::SharedReads::default()).await;
    let bucket = reads[at].as_ref().expect("read").as_ref().expect("found");
    assert_eq!(bucket.outputs["region"], REGION, "where the bucket is");
    assert_eq!(a.call_counts().get("S3:HeadBucket"), Some(&1));
    assert_eq!(a.call_counts().get("S3:GetBucketVersioning"), Some(&1));

    apply_ok(two_regions(&suffix), &store, true, "destroy").await;
}

/// A role with an AWS managed policy attached and an inline policy, through `aws`.
fn one_role(suffix: &str, aws: Aws) -> Stack {
    let mut stack = Stack::new("tests", &format!("batch-iam-{suffix}"));
    stack.provider("aws", aws);
    let role = stack.add(
        "role",
        RoleArgs::new(
            format!("batch-iam-{suffix}"),
            PolicyDocument::assume_role_by_service("lambda.amazonaws.com"),
        )
        .description("one role"),
    );
    stack.add(
        "attach",
        RolePolicyAttachmentArgs::new(
            role.name(),
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        ),
    );
    stack.add(
        "inline",
        RolePolicyArgs::new(
            role.name(),
            "logs",
            PolicyDocument::new().statement(
                Statement::allow()
                    .action("logs:PutLogEvents")
                    .resource("arn:aws:logs:*:*:log-group:/batch/iam:*"),
            ),
        ),
    );
    stack
}

#[tokio::test]
async fn without_the_iam_listing_each_iam_object_is_read_on_its_own() {
    let suffix = iac_tests::unique("i").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    apply_ok(one_role(&suffix, aws(REGION)), &store, false, "up").await;
    // Credentials that may not list the account's IAM: every GetAccountAuthorizationDetails
    // goes unanswered.
    let moto = iac_tests::Moto::shared();
    let proxy = iac_tests::LossyProxy::start(
        moto.endpoint(),
        "Action=GetAccountAuthorizationDetails",
        usize::MAX,
    );
    let refused =
        Aws::from_config(proxy.sdk_config(REGION)).with_default_tags([("ManagedBy", "iac-tests")]);
    let stack = one_role(&suffix, refused);
    let report = engine::refresh(&stack, &store, &RunOptions::default())
        .await
        .expect("the refresh reads each object instead");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(proxy.matched() >= 1, "the listing was asked for");
    for op in [
        "IAM:GetRole",
        "IAM:ListAttachedRolePolicies",
        "IAM:GetRolePolicy",
    ] {
        assert_eq!(report.calls.get(op), Some(&1), "{op}: {:?}", report.calls);
    }
    assert_eq!(
        report.calls.get("IAM:ListRoles"),
        None,
        "no roles listing without the details"
    );
    apply_ok(one_role(&suffix, aws(REGION)), &store, true, "destroy").await;
}

//! Refresh reads in batches: the engine's `refresh` hands the provider every resource at
//! once, and types whose API lists many objects in one call read them together. Checked
//! against the emulator: the calls made, the same answers as one read per object, and
//! objects deleted or changed outside the stack still found out.

use iac_dsl::{Provider, ReadRequest, ResourceContext, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::apigateway::{ApiResourceArgs, IntegrationArgs, MethodArgs, RestApiArgs};
use iac_providers::aws::cloudwatch::MetricAlarmArgs;
use iac_providers::aws::ec2::{
    InternetGatewayArgs, Route, RouteTableArgs, RouteTableAssociationArgs, SecurityGroupArgs,
    SecurityGroupRule, SubnetArgs, VpcArgs,
};
use iac_providers::aws::route53::{HostedZoneArgs, RecordArgs};
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
            engine::RefreshChange::Drifted(r) => format!("drifted {}", r.name),
        })
        .collect();
    changes.sort();
    changes
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
    for op in [
        "EC2:DescribeSubnets",
        "EC2:DescribeRouteTables",
        "CloudWatch:DescribeAlarms",
        "API Gateway:GetResources",
    ] {
        assert_eq!(calls.get(op), Some(&1), "{op} once: {calls:?}");
    }
    for op in [
        "API Gateway:GetResource",
        "API Gateway:GetMethod",
        "API Gateway:GetIntegration",
    ] {
        assert_eq!(calls.get(op), None, "{op} is answered by the listing");
    }
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

    // The batched answers are the answers of one read per object; one call at a time is
    // enough (no read waits on a permit another holds).
    let aws: Aws = aws(REGION);
    let reqs = requests(&store, &stack);
    let many = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        aws.read_many(reqs.clone(), 1),
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

    // Outside the stack: one association is removed, one alarm deleted, a subnet retagged.
    let config = iac_tests::Moto::shared().sdk_config(REGION);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let id_of = |name: &str| {
        reqs.iter()
            .find(|r| r.ctx.name == name)
            .map(|r| r.id.clone())
            .unwrap()
    };
    ec2.disassociate_route_table()
        .association_id(id_of("assoc-b"))
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(id_of("subnet-c"))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value("renamed")
                .build(),
        )
        .send()
        .await
        .unwrap();
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
    let subnet = store
        .load(stack.id())
        .unwrap()
        .resources
        .into_iter()
        .find(|r| r.name == "subnet-c")
        .unwrap();
    assert_eq!(subnet.inputs["tags"]["Name"], "renamed");
    assert_eq!(
        report.calls.get("CloudWatch:ListTagsForResource"),
        Some(&1),
        "only the alarm whose listed tags differ is asked: {:?}",
        report.calls
    );
    let alarm = store
        .load(stack.id())
        .unwrap()
        .resources
        .into_iter()
        .find(|r| r.name == "alarm-1")
        .unwrap();
    assert_eq!(alarm.inputs["tags"]["team"], "payments");

    apply_ok(network(&suffix), &store, true, "destroy").await;
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
    let plan = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap();
    let op = |n: &str| plan.steps.iter().find(|s| s.name == n).unwrap().op;
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

//! The EC2 network types against the emulator: subnet, internet gateway, Elastic IP, NAT
//! gateway, route table and association, security group, and the zones data source.

use iac_dsl::{InvokeRequest, Op, Provider, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::ec2::{SecurityGroupArgs, SecurityGroupRule, SubnetArgs, VpcArgs};
use serde_json::{Value, json};

use super::support::*;

const REGION: &str = "us-east-1";

/// Creates a VPC through the provider and returns its id.
async fn vpc(aws: &Aws, cidr: &str) -> String {
    let c = ctx("aws:ec2/vpc", &iac_tests::unique("vpc"));
    let inputs = json!({"cidr_block": cidr, "enable_dns_support": true, "enable_dns_hostnames": true, "tags": {}});
    create(aws, &c, inputs).await.expect("vpc").0.id
}

/// Runs the lifecycle every type must pass: create, read back equal, update in place to
/// `changed`, delete, read after delete is None, and lookup by token before delete.
async fn lifecycle(aws: &Aws, type_token: &str, inputs: Value, changed: Option<Value>) -> String {
    let c = ctx(type_token, &iac_tests::unique("r"));
    let (created, token) = create(aws, &c, inputs.clone()).await.expect("create");
    let back = read(aws, &c, &created.id)
        .await
        .expect("exists after create");
    assert_eq!(
        back.inputs, inputs,
        "{type_token}: read back equals what was asked"
    );
    let mut last = inputs.clone();
    if let Some(changed) = changed {
        assert!(
            replace_keys(aws, &c, &inputs, &changed).is_empty(),
            "{type_token}: the change updates in place"
        );
        update(
            aws,
            &c,
            &created.id,
            inputs.clone(),
            changed.clone(),
            created.outputs.clone(),
        )
        .await;
        let back = read(aws, &c, &created.id)
            .await
            .expect("exists after update");
        assert_eq!(back.inputs, changed, "{type_token}: read back after update");
        last = changed;
    }
    let adopted = lookup(aws, &c, &token, inputs.clone())
        .await
        .expect("lookup finds it");
    assert_eq!(
        adopted.id, created.id,
        "{type_token}: lookup finds the same object"
    );
    delete(aws, &c, &created.id, last, created.outputs.clone()).await;
    assert!(
        read(aws, &c, &created.id).await.is_none(),
        "{type_token}: gone after delete"
    );
    created.id
}

#[tokio::test]
async fn subnet_gateway_and_address_lifecycles() {
    let aws = aws(REGION);
    let vpc_id = vpc(&aws, "10.30.0.0/16").await;
    let subnet = json!({"vpc_id": vpc_id, "cidr_block": "10.30.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": false, "tags": {"Name": "a"}});
    let mut public = subnet.clone();
    public["map_public_ip_on_launch"] = json!(true);
    public["tags"] = json!({"Name": "b"});
    let id = lifecycle(&aws, "aws:ec2/subnet", subnet.clone(), Some(public)).await;
    assert!(id.starts_with("subnet-"));
    let c = ctx("aws:ec2/subnet", "s");
    let mut moved = subnet.clone();
    moved["cidr_block"] = json!("10.30.2.0/24");
    assert_eq!(replace_keys(&aws, &c, &subnet, &moved), ["cidr_block"]);

    let other_vpc = vpc(&aws, "10.31.0.0/16").await;
    let igw = json!({"vpc_id": vpc_id, "tags": {}});
    let moved_igw = json!({"vpc_id": other_vpc, "tags": {"Name": "igw"}});
    let id = lifecycle(&aws, "aws:ec2/internetGateway", igw, Some(moved_igw)).await;
    assert!(id.starts_with("igw-"));

    let id = lifecycle(
        &aws,
        "aws:ec2/eip",
        json!({"tags": {}}),
        Some(json!({"tags": {"Name": "nat"}})),
    )
    .await;
    assert!(id.starts_with("eipalloc-"));
}

#[tokio::test]
async fn nat_gateway_route_table_and_association_lifecycles() {
    let aws = aws(REGION);
    let vpc_id = vpc(&aws, "10.32.0.0/16").await;
    let sc = ctx("aws:ec2/subnet", &iac_tests::unique("subnet"));
    let subnet = json!({"vpc_id": vpc_id, "cidr_block": "10.32.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true, "tags": {}});
    let subnet_id = create(&aws, &sc, subnet).await.unwrap().0.id;
    let igw = create(
        &aws,
        &ctx("aws:ec2/internetGateway", "igw"),
        json!({"vpc_id": vpc_id, "tags": {}}),
    )
    .await
    .unwrap()
    .0
    .id;
    let eip = create(&aws, &ctx("aws:ec2/eip", "eip"), json!({"tags": {}}))
        .await
        .unwrap()
        .0;

    let nat = json!({"subnet_id": subnet_id, "allocation_id": eip.id, "tags": {}});
    let nat_id = {
        let c = ctx("aws:ec2/natGateway", &iac_tests::unique("nat"));
        let (created, token) = create(&aws, &c, nat.clone()).await.expect("nat");
        assert_eq!(created.outputs["public_ip"], eip.outputs["public_ip"]);
        assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, nat);
        assert_eq!(
            lookup(&aws, &c, &token, nat.clone()).await.unwrap().id,
            created.id
        );
        let mut other = nat.clone();
        other["subnet_id"] = json!("subnet-other");
        assert_eq!(replace_keys(&aws, &c, &nat, &other), ["subnet_id"]);
        created.id
    };

    let table = json!({"vpc_id": vpc_id, "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": igw, "nat_gateway_id": null}], "tags": {}});
    let via_nat = json!({"vpc_id": vpc_id, "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": null, "nat_gateway_id": nat_id}], "tags": {"Name": "private"}});
    lifecycle(&aws, "aws:ec2/routeTable", table.clone(), Some(via_nat)).await;

    let tc = ctx("aws:ec2/routeTable", &iac_tests::unique("rt"));
    let table_id = create(&aws, &tc, table).await.unwrap().0.id;
    let assoc = json!({"subnet_id": subnet_id, "route_table_id": table_id});
    let id = lifecycle(&aws, "aws:ec2/routeTableAssociation", assoc.clone(), None).await;
    assert!(id.starts_with("rtbassoc-"));
    let c = ctx("aws:ec2/routeTableAssociation", "a");
    let mut other = assoc.clone();
    other["route_table_id"] = json!("rtb-other");
    assert_eq!(replace_keys(&aws, &c, &assoc, &other), ["route_table_id"]);

    let nc = ctx("aws:ec2/natGateway", "nat");
    delete(&aws, &nc, &nat_id, nat, json!({})).await;
    assert!(
        read(&aws, &nc, &nat_id).await.is_none(),
        "a deleted NAT gateway reads as gone"
    );
}

#[tokio::test]
async fn security_group_rules_update_in_place() {
    let aws = aws(REGION);
    let vpc_id = vpc(&aws, "10.33.0.0/16").await;
    let name = iac_tests::unique("lambda-sg");
    let https_out = json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"], "security_groups": [], "description": "https"});
    let pg_in = json!({"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.33.0.0/16"], "security_groups": [], "description": null});
    let group = json!({"name": name, "description": "lambda", "vpc_id": vpc_id, "ingress": [], "egress": [https_out], "tags": {}});
    let changed = json!({"name": name, "description": "lambda", "vpc_id": vpc_id, "ingress": [pg_in], "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"], "security_groups": [], "description": null}], "tags": {"Name": "x"}});
    let id = lifecycle(&aws, "aws:ec2/securityGroup", group.clone(), Some(changed)).await;
    assert!(id.starts_with("sg-"));
    let c = ctx("aws:ec2/securityGroup", "sg");
    let mut renamed = group.clone();
    renamed["name"] = json!("other");
    assert_eq!(replace_keys(&aws, &c, &group, &renamed), ["name"]);
}

/// A stack whose security group lists its rules out of the order AWS reads them back in
/// (ports descending, CIDR blocks unsorted, one rule per block instead of grouped).
fn unsorted_rules_stack(suffix: &str, extra_port: Option<i32>) -> Stack {
    let mut stack = Stack::new("tests", &format!("sg-order-{suffix}"));
    stack.provider("aws", aws(REGION));
    let vpc = stack.add("vpc", VpcArgs::new("10.36.0.0/16"));
    let mut group = SecurityGroupArgs::new(format!("order-{suffix}"), "app", vpc.id())
        .ingress(
            SecurityGroupRule::tcp(8443)
                .cidr_block("10.36.2.0/24")
                .cidr_block("10.36.1.0/24"),
        )
        .ingress(SecurityGroupRule::tcp(443).cidr_block("10.36.9.0/24"))
        .ingress(SecurityGroupRule::tcp(443).cidr_block("10.36.3.0/24"))
        .egress(SecurityGroupRule::tcp(5432).cidr_block("10.36.0.0/16"))
        .egress(SecurityGroupRule::tcp(443).cidr_block("0.0.0.0/0"));
    if let Some(port) = extra_port {
        group = group.ingress(SecurityGroupRule::tcp(port).cidr_block("10.36.4.0/24"));
    }
    stack.add("app", group);
    stack
}

#[tokio::test]
async fn security_group_rules_in_any_order_refresh_clean_and_a_new_rule_still_plans() {
    let suffix = iac_tests::unique("o").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let report = apply_ok(unsorted_rules_stack(&suffix, None), &store, false, "up").await;
    // The run's calls are counted by operation, each attempt once.
    let calls = &report.timing.calls;
    for op in ["EC2:CreateVpc", "EC2:CreateSecurityGroup"] {
        assert_eq!(calls.get(op), Some(&1), "{op} in {calls:?}");
    }
    assert!(report.timing.total_calls() >= 4, "{calls:?}");
    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(
        &unsorted_rules_stack(&suffix, None),
        &store,
        &refreshed,
        false,
    )
    .await
    .unwrap();
    assert!(
        !again.has_changes(),
        "the rules read back sorted are the declared set: {:?}",
        again
            .steps
            .iter()
            .filter(|s| s.op.is_change())
            .map(|s| (&s.name, &s.diffs))
            .collect::<Vec<_>>()
    );
    // A positive control: a rule that is not there yet plans an update of the group,
    // whose diff names the rules.
    let grown = engine::preview(
        &unsorted_rules_stack(&suffix, Some(9443)),
        &store,
        &refreshed,
        false,
    )
    .await
    .unwrap();
    let app = grown
        .steps
        .iter()
        .find(|s| s.name == "app")
        .expect("app step");
    assert_eq!(app.op, Op::Update);
    assert!(
        app.diffs.iter().any(|d| d.path.starts_with("ingress")),
        "{:?}",
        app.diffs
    );
    apply_ok(unsorted_rules_stack(&suffix, None), &store, true, "destroy").await;
}

#[tokio::test]
async fn availability_zones_are_listed_sorted() {
    let aws = aws("eu-west-1");
    let zones = aws
        .invoke(InvokeRequest {
            token: "aws:ec2/availabilityZones".into(),
            args: json!({"exclude_names": ["eu-west-1c"]}),
        })
        .await
        .expect("zones");
    assert_eq!(zones["names"], json!(["eu-west-1a", "eu-west-1b"]));
    assert_eq!(zones["zone_ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn drift_is_reported_by_read() {
    let aws = aws(REGION);
    let raw = aws_sdk_ec2::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    let vpc_id = vpc(&aws, "10.34.0.0/16").await;
    let c = ctx("aws:ec2/subnet", &iac_tests::unique("drift"));
    let subnet = json!({"vpc_id": vpc_id, "cidr_block": "10.34.1.0/24", "availability_zone": "us-east-1b", "map_public_ip_on_launch": false, "tags": {}});
    let id = create(&aws, &c, subnet).await.unwrap().0.id;
    raw.modify_subnet_attribute()
        .subnet_id(&id)
        .map_public_ip_on_launch(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let seen = read(&aws, &c, &id).await.unwrap();
    assert_eq!(
        seen.inputs["map_public_ip_on_launch"], true,
        "a changed attribute shows"
    );

    let ic = ctx("aws:ec2/internetGateway", &iac_tests::unique("drift"));
    let igw = create(&aws, &ic, json!({"vpc_id": vpc_id, "tags": {}}))
        .await
        .unwrap()
        .0
        .id;
    raw.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&aws, &ic, &igw).await.unwrap().inputs["vpc_id"],
        "",
        "a detached gateway shows"
    );
    raw.delete_internet_gateway()
        .internet_gateway_id(&igw)
        .send()
        .await
        .unwrap();
    assert!(
        read(&aws, &ic, &igw).await.is_none(),
        "a deleted gateway reads as gone"
    );
}

#[tokio::test]
async fn bad_network_declarations_are_reported_together() {
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-network");
    stack.provider("aws", Aws::from_config(counter.sdk_config(REGION)));
    let vpc = stack.add("vpc", VpcArgs::new("10.0.0.0/16"));
    stack.add("too-big", VpcArgs::new("10.0.0.0/8"));
    stack.add("host-bits", VpcArgs::new("10.0.0.1/16"));
    stack.add("not-cidr", VpcArgs::new("10.0.0/16"));
    stack.add("a", SubnetArgs::new(vpc.id(), "10.0.0.0/20", "us-east-1a"));
    stack.add("b", SubnetArgs::new(vpc.id(), "10.0.8.0/24", "us-east-1b"));
    stack.add(
        "outside",
        SubnetArgs::new(vpc.id(), "10.1.0.0/24", "us-east-1a"),
    );
    stack.add(
        "sg",
        SecurityGroupArgs::new("sg-bad", "x", vpc.id())
            .ingress(SecurityGroupRule::ports("tcp", 70000, 1).cidr_block("0.0.0.0/0")),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let errors = iac_dsl::engine::preview(&stack, &store, &iac_dsl::RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "preview sent no request");
    for needle in [
        "too-big",
        "/8",
        "host-bits",
        "host bits",
        "not-cidr",
        "b (aws:ec2/subnet)",
        "overlaps subnet `a`",
        "outside",
        "outside its VPC `vpc`",
        "sg",
        "name",
        "ingress[0]",
        "70000",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }
    assert!(
        !errors.lines().any(|l| l.trim_start().starts_with("- a (")),
        "the first subnet is fine:\n{errors}"
    );
}

#[tokio::test]
async fn bad_inputs_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config(REGION));
    let c = ctx("aws:ec2/subnet", "s");
    let err = create(&aws, &c, json!({"vpc_id": "vpc-1", "cidr_block": "10.0.0.1/33", "availability_zone": "us-east-1a", "map_public_ip_on_launch": false, "tags": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cidr_block"), "{err}");
    let nowhere = Aws::from_config(counter.sdk_config("us-middle-9"));
    let err = create(&nowhere, &ctx("aws:ec2/vpc", "v"), json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": false, "tags": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("us-middle-9"), "{err}");
    assert_eq!(counter.connections(), 0, "no request reached the network");
}

#[tokio::test]
async fn a_lost_create_answer_is_adopted_not_repeated() {
    let moto = iac_tests::Moto::shared();
    let proxy = iac_tests::LossyProxy::start(moto.endpoint(), "Action=CreateVpc", 1);
    let lossy = Aws::from_config(proxy.sdk_config(REGION));
    let c = ctx("aws:ec2/vpc", &iac_tests::unique("lossy"));
    let inputs = json!({"cidr_block": "10.40.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": false, "tags": {}});
    let (created, token) = create(&lossy, &c, inputs).await.expect("create adopts");
    assert_eq!(
        proxy.matched(),
        1,
        "the create was sent once and never repeated"
    );
    let raw = aws_sdk_ec2::Client::new(&moto.sdk_config(REGION));
    let tagged = raw
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:iac:token")
                .values(&token)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = tagged.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    assert_eq!(
        ids,
        [created.id.as_str()],
        "exactly one VPC exists for the token"
    );
}

#[tokio::test]
async fn no_more_ec2_requests_than_the_limit_are_in_flight_at_once() {
    // A configuration that names no HTTP client, as one loaded from the environment: the
    // provider wraps the SDK's default client in its limit.
    let proxy = iac_tests::FaultProxy::start(
        iac_tests::Moto::shared().endpoint(),
        iac_tests::FaultPolicy {
            latency: Some((
                std::time::Duration::from_millis(200),
                std::time::Duration::from_millis(200),
            )),
            ..Default::default()
        },
    );
    let aws = Aws::from_config(proxy.sdk_config(REGION));
    let calls = (0..20).map(|_| {
        let aws = aws.clone();
        async move { aws.ec2().await.describe_vpcs().send().await }
    });
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a.is_ok()), "every call is answered");
    let stats = proxy.stats();
    assert_eq!(stats.total_calls(), 20);
    assert_eq!(
        stats.most_in_flight, 8,
        "20 calls at once, at most 8 on the wire (the EC2 limit)"
    );
}

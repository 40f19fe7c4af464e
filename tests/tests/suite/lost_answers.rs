//! Every AWS resource type's create, update and delete with lost answers.
//!
//! Each test runs a small stack through the real engine (SQLite state in a temporary
//! folder) with its providers pointed at a [`FaultProxy`] in front of the emulator that
//! loses the answer of each distinct mutating call twice (the call and the SDK's retry of
//! it): the emulator acts, the client hears a 503, a garbled 503 or a closed connection.
//! Plain `up` runs are repeated until one succeeds (at most [`MAX_RUNS`]); then every
//! object is counted by listing the emulator directly (not from state): exactly one of
//! each, each recorded, and a refreshing `preview` has no change. The same for an update
//! in place and for `destroy`, after which nothing is left.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use iac_dsl::{RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_tests::{FaultPolicy, FaultProxy, Moto};

/// Most plain `up` runs a deployment may need to converge.
const MAX_RUNS: usize = 4;

/// One test's proxy, state and counts.
struct Harness {
    label: String,
    proxy: FaultProxy,
    _dir: tempfile::TempDir,
    store: Arc<iac_state::StateStore>,
    /// Runs each phase needed, for the report.
    runs: Vec<(String, usize)>,
}

impl Harness {
    fn new(label: &str) -> Harness {
        let seed = 13;
        let proxy = FaultProxy::start(Moto::shared().endpoint(), FaultPolicy::lose_each(2, seed));
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = Arc::new(
            iac_state::StateStore::open(
                &dir.path().join("state.db"),
                iac_state::OpenOptions {
                    secrets: iac_state::SecretsKey::KeyFile(dir.path().join("state.key")),
                    create: true,
                },
            )
            .expect("the state store opens"),
        );
        Harness {
            label: label.to_string(),
            proxy,
            _dir: dir,
            store,
            runs: Vec::new(),
        }
    }

    /// A provider for `region` whose calls go through the proxy.
    fn aws(&self, region: &str) -> Aws {
        Aws::from_config(self.proxy.sdk_config(region))
            .with_default_tags([("ManagedBy", "iac-tests")])
    }

    /// Runs plain `up` (or `destroy`) until a run succeeds; panics with every run's
    /// failures after [`MAX_RUNS`].
    async fn converge(&self, phase: &str, build: &dyn Fn() -> Stack, destroy: bool) -> usize {
        let mut failures = Vec::new();
        for run in 1..=MAX_RUNS {
            let result = engine::up(
                build(),
                self.store.clone(),
                &RunOptions::default(),
                destroy,
                &mut |_| true,
            )
            .await;
            match result {
                Ok(d) if d.report.as_ref().is_none_or(|r| r.succeeded()) => return run,
                Ok(d) => {
                    let report = d.report.expect("a report");
                    failures.push(format!(
                        "run {run}: {:?}",
                        report
                            .failures()
                            .iter()
                            .map(|s| format!("{}: {:?}", s.name, s.status))
                            .collect::<Vec<_>>()
                    ));
                }
                Err(e) => failures.push(format!("run {run}: {e}")),
            }
        }
        panic!(
            "{}: {phase} did not converge in {MAX_RUNS} runs with lost answers ({} lost so far):\n{}",
            self.label,
            self.proxy.stats().total_lost(),
            failures.join("\n")
        );
    }

    /// Asserts that every declared resource is recorded and that a refreshing preview
    /// plans no change.
    async fn assert_recorded_and_clean(&self, stack: &Stack) {
        let state = self.store.load(stack.id()).expect("the state loads");
        for declared in stack.declared() {
            assert!(
                state.resources.iter().any(|r| r.name == declared.name()),
                "{}: `{}` is not recorded",
                self.label,
                declared.name()
            );
        }
        let options = RunOptions {
            refresh: true,
            ..RunOptions::default()
        };
        let plan = engine::preview(stack, &self.store, &options, false)
            .await
            .expect("preview");
        let changes: Vec<_> = plan
            .steps
            .iter()
            .filter(|s| s.op.is_change())
            .map(|s| (s.name.clone(), s.op, format!("{:?}", s.diffs)))
            .collect();
        assert!(
            changes.is_empty(),
            "{}: the preview after converging plans {changes:?}",
            self.label
        );
    }

    /// The whole lifecycle: create (`version` 0), update in place (`version` 1, when
    /// `updates`), destroy. `count` lists the emulator: after each `up` every entry must be
    /// 1, after `destroy` 0.
    async fn lifecycle<B, C, CF>(mut self, build: B, updates: bool, count: C)
    where
        B: Fn(&Harness, u32) -> Stack,
        C: Fn() -> CF,
        CF: Future<Output = BTreeMap<&'static str, usize>>,
    {
        let mut versions = vec![0];
        if updates {
            versions.push(1);
        }
        for version in versions {
            let phase = if version == 0 { "create" } else { "update" };
            let stack = build(&self, version);
            let runs = self.converge(phase, &|| build(&self, version), false).await;
            self.runs.push((phase.to_string(), runs));
            let counts = count().await;
            let wrong: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
            assert!(
                wrong.is_empty(),
                "{}: after {phase}, objects per type (want exactly 1 each): {counts:?}",
                self.label
            );
            self.assert_recorded_and_clean(&stack).await;
        }
        let last = if updates { 1 } else { 0 };
        let runs = self.converge("destroy", &|| build(&self, last), true).await;
        self.runs.push(("destroy".to_string(), runs));
        let counts = count().await;
        assert!(
            counts.values().all(|n| *n == 0),
            "{}: left after destroy: {counts:?}",
            self.label
        );
        let stats = self.proxy.stats();
        assert!(
            stats.total_lost() > 0,
            "{}: the proxy lost no answer",
            self.label
        );
        eprintln!(
            "{}: runs {:?}, {} calls, {} answers lost ({:?})",
            self.label,
            self.runs,
            stats.total_calls(),
            stats.total_lost(),
            stats.losses
        );
    }
}

/// `name=value` as an EC2 filter.
fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

/// A client straight to the emulator (not through the proxy), for counting.
fn direct<C>(region: &str, make: impl Fn(&aws_config::SdkConfig) -> C) -> C {
    make(&Moto::shared().sdk_config(region))
}

mod ec2 {
    use super::*;
    use iac_providers::aws::ec2::{
        ElasticIpArgs, InternetGatewayArgs, NatGatewayArgs, Route, RouteTableArgs,
        RouteTableAssociationArgs, SecurityGroupArgs, SecurityGroupRule, SubnetArgs, VpcArgs,
    };

    const REGION: &str = "us-east-1";

    fn network(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let v = version.to_string();
        let vpc = stack.add(
            "vpc",
            VpcArgs::new("10.40.0.0/16")
                .enable_dns_hostnames(version == 1)
                .tag("v", v.as_str()),
        );
        let public = stack.add(
            "public",
            SubnetArgs::new(vpc.id(), "10.40.1.0/24", "us-east-1a").tag("v", v.as_str()),
        );
        let igw = stack.add(
            "igw",
            InternetGatewayArgs::new(vpc.id()).tag("v", v.as_str()),
        );
        let eip = stack.add("eip", ElasticIpArgs::new().tag("v", v.as_str()));
        let nat = stack.add(
            "nat",
            NatGatewayArgs::new(public.id(), eip.id()).tag("v", v.as_str()),
        );
        let mut table = RouteTableArgs::new(vpc.id())
            .route(Route::to_internet_gateway("0.0.0.0/0", igw.id()))
            .tag("v", v.as_str());
        if version == 1 {
            table = table.route(Route::to_nat_gateway("192.168.0.0/16", nat.id()));
        }
        let table = stack.add("routes", table);
        stack.add(
            "public-routes",
            RouteTableAssociationArgs::new(public.id(), table.id()),
        );
        // Rules in the order AWS lists them (a refresh reads them back sorted).
        let mut group = SecurityGroupArgs::new(format!("{name}-app"), "app", vpc.id())
            .ingress(SecurityGroupRule::tcp(443).cidr_block("10.40.0.0/16"))
            .tag("v", v.as_str());
        if version == 1 {
            group = group
                .ingress(SecurityGroupRule::tcp(8443).cidr_block("10.40.0.0/16"))
                .egress(SecurityGroupRule::tcp(443).cidr_block("0.0.0.0/0"));
        }
        group = group.egress(SecurityGroupRule::tcp(5432).cidr_block("10.40.0.0/16"));
        stack.add("app", group);
        stack
    }

    async fn count(stack_id: &str, group_name: &str) -> BTreeMap<&'static str, usize> {
        let ec2 = direct(REGION, aws_sdk_ec2::Client::new);
        let by = || ec2_filter("tag:iac:stack", stack_id);
        let mut counts = BTreeMap::new();
        let vpcs = ec2.describe_vpcs().filters(by()).send().await.unwrap();
        counts.insert("vpc", vpcs.vpcs().len());
        let subnets = ec2.describe_subnets().filters(by()).send().await.unwrap();
        counts.insert("subnet", subnets.subnets().len());
        let igws = ec2
            .describe_internet_gateways()
            .filters(by())
            .send()
            .await
            .unwrap();
        counts.insert("internetGateway", igws.internet_gateways().len());
        let eips = ec2.describe_addresses().filters(by()).send().await.unwrap();
        counts.insert("eip", eips.addresses().len());
        let nats = ec2
            .describe_nat_gateways()
            .filter(by())
            .filter(ec2_filter("state", "available"))
            .send()
            .await
            .unwrap();
        counts.insert("natGateway", nats.nat_gateways().len());
        let tables = ec2
            .describe_route_tables()
            .filters(by())
            .send()
            .await
            .unwrap();
        counts.insert("routeTable", tables.route_tables().len());
        let table = tables.route_tables().first();
        let routes = table.map_or(0, |t| {
            t.routes()
                .iter()
                .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .count()
        });
        counts.insert("route 0.0.0.0/0", routes);
        let associations = table.map_or(0, |t| {
            t.associations()
                .iter()
                .filter(|a| a.subnet_id().is_some())
                .count()
        });
        counts.insert("routeTableAssociation", associations);
        let groups = ec2
            .describe_security_groups()
            .filters(ec2_filter("group-name", group_name))
            .send()
            .await
            .unwrap();
        counts.insert("securityGroup", groups.security_groups().len());
        let tagged = ec2
            .describe_security_groups()
            .filters(by())
            .send()
            .await
            .unwrap();
        counts.insert("securityGroup (tagged)", tagged.security_groups().len());
        let egress_5432 = groups.security_groups().first().map_or(0, |g| {
            g.ip_permissions_egress()
                .iter()
                .filter(|p| p.from_port() == Some(5432))
                .map(|p| p.ip_ranges().len())
                .sum()
        });
        counts.insert("egress rule 5432", egress_5432);
        counts
    }

    #[tokio::test]
    async fn the_network_converges_with_one_of_each_object() {
        let name = iac_tests::unique("lost-net");
        let stack_id = format!("lost-answers/{name}");
        let group = format!("{name}-app");
        Harness::new("ec2 network")
            .lifecycle(
                |h, v| network(h, &name, v),
                true,
                || count(&stack_id, &group),
            )
            .await;
    }
}

mod kms_secrets {
    use super::*;
    use iac_providers::aws::kms::{AliasArgs, KeyArgs};
    use iac_providers::aws::secretsmanager::{Replica, SecretArgs, SecretVersionArgs};

    const REGION: &str = "us-east-1";
    const REPLICA: &str = "us-west-2";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let v = version.to_string();
        let key = stack.add(
            "key",
            KeyArgs::new(format!("key v{v}"))
                .enable_key_rotation(version == 1)
                .deletion_window_in_days(7)
                .tag("v", v.as_str()),
        );
        stack.add(
            "alias",
            AliasArgs::new(format!("alias/{name}"), key.key_id()),
        );
        let mut secret = SecretArgs::new(format!("{name}-db"))
            .description(format!("db v{v}"))
            .recovery_window_in_days(0)
            .tag("v", v.as_str());
        if version == 1 {
            secret = secret.replica(Replica::new(REPLICA));
        }
        let secret = stack.add("secret", secret);
        stack.add(
            "secret-value",
            SecretVersionArgs::new(secret.arn(), format!("{{\"password\":\"p{v}\"}}")),
        );
        stack
    }

    async fn count(stack_id: &str, name: &str) -> BTreeMap<&'static str, usize> {
        let kms = direct(REGION, aws_sdk_kms::Client::new);
        let mut counts = BTreeMap::new();
        let mut keys = 0;
        let mut alias_target = None;
        for a in kms.list_aliases().send().await.unwrap().aliases() {
            if a.alias_name() == Some(format!("alias/{name}").as_str()) {
                alias_target = a.target_key_id().map(str::to_string);
            }
        }
        counts.insert("alias", usize::from(alias_target.is_some()));
        for k in kms.list_keys().limit(1000).send().await.unwrap().keys() {
            let id = k.key_id().unwrap_or_default();
            let meta = kms.describe_key().key_id(id).send().await.unwrap();
            let live = !matches!(
                meta.key_metadata().and_then(|m| m.key_state()),
                Some(aws_sdk_kms::types::KeyState::PendingDeletion)
            );
            let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
            let ours = tags
                .tags()
                .iter()
                .any(|t| t.tag_key() == "iac:stack" && t.tag_value() == stack_id);
            if live && ours {
                keys += 1;
            }
        }
        counts.insert("key", keys);
        let sm = direct(REGION, aws_sdk_secretsmanager::Client::new);
        let secrets = sm
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(format!("{name}-db"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let live: Vec<_> = secrets
            .secret_list()
            .iter()
            .filter(|s| s.name() == Some(format!("{name}-db").as_str()))
            .filter(|s| s.deleted_date().is_none())
            .collect();
        counts.insert("secret", live.len());
        let current = match live.first() {
            Some(_) => sm
                .get_secret_value()
                .secret_id(format!("{name}-db"))
                .send()
                .await
                .map(|v| usize::from(v.secret_string().is_some()))
                .unwrap_or(0),
            None => 0,
        };
        counts.insert("secretVersion (current)", current);
        counts
    }

    #[tokio::test]
    async fn keys_aliases_secrets_and_values_converge_with_one_of_each() {
        let name = iac_tests::unique("lost-kms");
        let stack_id = format!("lost-answers/{name}");
        Harness::new("kms and secrets manager")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&stack_id, &name))
            .await;
    }
}

mod apigateway {
    use super::*;
    use iac_providers::aws::apigateway::{
        ApiResourceArgs, DeploymentArgs, IntegrationArgs, IntegrationResponseArgs, MethodArgs,
        MethodResponseArgs, RestApiArgs, StageArgs,
    };

    const REGION: &str = "us-east-1";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let v = version.to_string();
        let api = stack.add(
            "api",
            // Tags stay: the emulator has no API Gateway TagResource.
            RestApiArgs::new(name.to_string())
                .description(format!("v{v}"))
                .tag("team", "payments"),
        );
        let health = stack.add(
            "health",
            ApiResourceArgs::new(api.id(), api.root_resource_id(), "health"),
        );
        let get = stack.add("health-get", MethodArgs::new(api.id(), health.id(), "GET"));
        // A changed integration replaces the deployment (its description stays: the
        // emulator has no UpdateDeployment).
        let mock = stack.add(
            "health-integration",
            IntegrationArgs::mock(&get).request_template(
                "application/json",
                format!(r#"{{"statusCode":200,"v":{v}}}"#),
            ),
        );
        let ok = stack.add("health-200", MethodResponseArgs::new(&get, "200"));
        stack.add(
            "health-integration-200",
            IntegrationResponseArgs::new(&mock, &ok)
                .response_template("application/json", format!(r#"{{"v":{v}}}"#)),
        );
        let deployment = stack.add(
            "deployment",
            DeploymentArgs::new(api.id())
                .description("health")
                .method(&get)
                .integration(&mock),
        );
        stack.add(
            "stage",
            StageArgs::new(api.id(), &deployment, "prod")
                .variable("v", v.as_str())
                .tag("team", "payments"),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let gw = direct(REGION, aws_sdk_apigateway::Client::new);
        let mut counts = BTreeMap::new();
        let apis = gw.get_rest_apis().limit(500).send().await.unwrap();
        let ours: Vec<_> = apis
            .items()
            .iter()
            .filter(|a| a.name() == Some(name))
            .collect();
        counts.insert("restApi", ours.len());
        let Some(api) = ours.first().and_then(|a| a.id()) else {
            return counts;
        };
        let resources = gw.get_resources().rest_api_id(api).send().await.unwrap();
        let health: Vec<_> = resources
            .items()
            .iter()
            .filter(|r| r.path_part() == Some("health"))
            .collect();
        counts.insert("resource", health.len());
        let methods = health
            .first()
            .map_or(0, |r| r.resource_methods().map_or(0, |m| m.len()));
        counts.insert("method", methods);
        let deployments = gw.get_deployments().rest_api_id(api).send().await.unwrap();
        counts.insert("deployment", deployments.items().len());
        let stages = gw.get_stages().rest_api_id(api).send().await.unwrap();
        counts.insert("stage", stages.item().len());
        counts
    }

    #[tokio::test]
    async fn an_api_deploys_once_per_declared_deployment() {
        let name = iac_tests::unique("lost-api");
        Harness::new("api gateway")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&name))
            .await;
    }
}

mod sns_cloudwatch {
    use super::*;
    use iac_providers::aws::cloudwatch::MetricAlarmArgs;
    use iac_providers::aws::sns::TopicArgs;

    const REGION: &str = "us-east-1";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let v = version.to_string();
        let topic = stack.add(
            "topic",
            TopicArgs::new(format!("{name}-alerts"))
                .display_name(format!("alerts v{v}"))
                .tag("v", v.as_str()),
        );
        stack.add(
            "alarm",
            MetricAlarmArgs::new(
                format!("{name}-errors"),
                "AWS/Lambda",
                "Errors",
                "Sum",
                "GreaterThanThreshold",
                f64::from(version + 1),
            )
            .alarm_action(topic.arn())
            .tag("v", v.as_str()),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let sns = direct(REGION, aws_sdk_sns::Client::new);
        let mut counts = BTreeMap::new();
        let topics = sns.list_topics().send().await.unwrap();
        let suffix = format!(":{name}-alerts");
        counts.insert(
            "topic",
            topics
                .topics()
                .iter()
                .filter(|t| t.topic_arn().is_some_and(|a| a.ends_with(&suffix)))
                .count(),
        );
        let cw = direct(REGION, aws_sdk_cloudwatch::Client::new);
        let alarms = cw
            .describe_alarms()
            .alarm_name_prefix(format!("{name}-errors"))
            .send()
            .await
            .unwrap();
        counts.insert("metricAlarm", alarms.metric_alarms().len());
        counts
    }

    #[tokio::test]
    async fn topics_and_alarms_converge_with_one_of_each() {
        let name = iac_tests::unique("lost-sns");
        Harness::new("sns and cloudwatch")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&name))
            .await;
    }
}

mod iam_s3 {
    use super::*;
    use iac_dsl::ResourceOptions;
    use iac_providers::aws::iam::{
        PolicyArgs, PolicyDocument, RoleArgs, RolePolicyArgs, RolePolicyAttachmentArgs, Statement,
    };
    use iac_providers::aws::s3::{
        BucketArgs, BucketEncryptionArgs, BucketLifecycleArgs, BucketPublicAccessBlockArgs,
        BucketReplicationArgs, BucketVersioningArgs, LifecycleRule, ReplicationRule,
    };

    const PRIMARY: &str = "us-east-1";
    const DR: &str = "us-west-2";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        let primary = stack.provider("aws-primary", h.aws(PRIMARY));
        let dr = stack.provider("aws-dr", h.aws(DR));
        let v = version.to_string();
        let role = stack.add_with(
            "role",
            RoleArgs::new(
                format!("{name}-replication"),
                PolicyDocument::assume_role_by_service("s3.amazonaws.com"),
            )
            .description(format!("v{v}"))
            .tag("v", v.as_str()),
            ResourceOptions::default().provider(&primary),
        );
        let actions = if version == 0 {
            vec!["s3:GetObject"]
        } else {
            vec!["s3:GetObject", "s3:PutObject"]
        };
        let policy = stack.add_with(
            "policy",
            PolicyArgs::new(
                format!("{name}-replication"),
                PolicyDocument::new().statement(
                    Statement::allow()
                        .actions(actions)
                        .resource(format!("arn:aws:s3:::{name}-primary/*")),
                ),
            )
            .tag("v", v.as_str()),
            ResourceOptions::default().provider(&primary),
        );
        stack.add_with(
            "attachment",
            RolePolicyAttachmentArgs::new(role.name(), policy.arn()),
            ResourceOptions::default().provider(&primary),
        );
        stack.add_with(
            "inline",
            RolePolicyArgs::new(
                role.name(),
                "inline",
                PolicyDocument::new().statement(
                    Statement::allow()
                        .action(format!(
                            "s3:List{}",
                            if version == 0 {
                                "Bucket"
                            } else {
                                "AllMyBuckets"
                            }
                        ))
                        // ListAllMyBuckets has no resource-level permissions (the policy
                        // pack accepts `*` for it); ListBucket names its bucket.
                        .resource(if version == 0 {
                            format!("arn:aws:s3:::{name}-primary")
                        } else {
                            "*".to_string()
                        }),
                ),
            ),
            ResourceOptions::default().provider(&primary),
        );
        let mut versioning = Vec::new();
        for (side, provider) in [("primary", &primary), ("dr", &dr)] {
            let on = || ResourceOptions::default().provider(provider);
            let bucket = stack.add_with(
                &format!("{side}-bucket"),
                BucketArgs::new(format!("{name}-{side}"))
                    .force_destroy(true)
                    .tag("v", v.as_str()),
                on(),
            );
            versioning.push(stack.add_with(
                &format!("{side}-versioning"),
                BucketVersioningArgs::new(bucket.bucket()),
                on(),
            ));
            stack.add_with(
                &format!("{side}-encryption"),
                BucketEncryptionArgs::new(bucket.bucket()),
                on(),
            );
            stack.add_with(
                &format!("{side}-public-access"),
                BucketPublicAccessBlockArgs::new(bucket.bucket()),
                on(),
            );
        }
        stack.add_with(
            "lifecycle",
            BucketLifecycleArgs::new(versioning[0].bucket()).rule(
                LifecycleRule::new("archive")
                    .prefix("transactions/")
                    .transition(30 + 30 * version as i32, "GLACIER"),
            ),
            ResourceOptions::default().provider(&primary),
        );
        stack.add_with(
            "replication",
            BucketReplicationArgs::new(&versioning[0], role.arn())
                .rule(ReplicationRule::new("replicate-all", &versioning[1])),
            ResourceOptions::default().provider(&primary),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let iam = direct(PRIMARY, aws_sdk_iam::Client::new);
        let mut counts = BTreeMap::new();
        let role = iam
            .get_role()
            .role_name(format!("{name}-replication"))
            .send()
            .await;
        counts.insert("role", usize::from(role.is_ok()));
        let policies = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .max_items(1000)
            .send()
            .await
            .unwrap();
        let ours: Vec<_> = policies
            .policies()
            .iter()
            .filter(|p| p.policy_name() == Some(format!("{name}-replication").as_str()))
            .collect();
        counts.insert("policy", ours.len());
        if role.is_ok() {
            let attached = iam
                .list_attached_role_policies()
                .role_name(format!("{name}-replication"))
                .send()
                .await
                .unwrap();
            counts.insert("rolePolicyAttachment", attached.attached_policies().len());
            let inline = iam
                .list_role_policies()
                .role_name(format!("{name}-replication"))
                .send()
                .await
                .unwrap();
            counts.insert("rolePolicy", inline.policy_names().len());
        } else {
            counts.insert("rolePolicyAttachment", 0);
            counts.insert("rolePolicy", 0);
        }
        if let Some(arn) = ours.first().and_then(|p| p.arn()) {
            let versions = iam
                .list_policy_versions()
                .policy_arn(arn)
                .send()
                .await
                .unwrap();
            let default = versions
                .versions()
                .iter()
                .filter(|v| v.is_default_version())
                .count();
            counts.insert("policy default version", default);
        }
        let s3 = direct(PRIMARY, |c| {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(c)
                    .force_path_style(true)
                    .build(),
            )
        });
        let buckets = s3.list_buckets().send().await.unwrap();
        for side in ["primary", "dr"] {
            let bucket = format!("{name}-{side}");
            let n = buckets
                .buckets()
                .iter()
                .filter(|b| b.name() == Some(bucket.as_str()))
                .count();
            counts.insert(
                if side == "primary" {
                    "bucket (primary)"
                } else {
                    "bucket (dr)"
                },
                n,
            );
        }
        if counts["bucket (primary)"] == 1 {
            let rules = s3
                .get_bucket_lifecycle_configuration()
                .bucket(format!("{name}-primary"))
                .send()
                .await
                .map(|l| l.rules().len())
                .unwrap_or(0);
            counts.insert("bucketLifecycle rule", rules);
            let replication = s3
                .get_bucket_replication()
                .bucket(format!("{name}-primary"))
                .send()
                .await
                .map(|r| r.replication_configuration().map_or(0, |c| c.rules().len()))
                .unwrap_or(0);
            counts.insert("bucketReplication rule", replication);
        }
        counts
    }

    #[tokio::test]
    async fn roles_policies_and_buckets_converge_with_one_of_each() {
        let name = iac_tests::unique("lost-s3");
        Harness::new("iam and s3")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&name))
            .await;
    }
}

mod route53_acm {
    use super::*;
    use iac_providers::aws::acm::{CertificateArgs, CertificateValidationArgs};
    use iac_providers::aws::route53::{Failover, HealthCheckArgs, HostedZoneArgs, RecordArgs};

    const REGION: &str = "us-east-1";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let zone_name = format!("{name}.example.com");
        let zone = stack.add(
            "zone",
            HostedZoneArgs::new(zone_name.clone()).force_destroy(true),
        );
        let check = stack.add(
            "primary-check",
            HealthCheckArgs::https(format!("api-use1.{name}.example.net"), "/health")
                .failure_threshold(2 + version as i32),
        );
        stack.add(
            "api-primary",
            RecordArgs::new(zone.zone_id(), format!("api.{zone_name}"), "A")
                .ttl(60)
                .records([format!("198.51.100.{}", 10 + version)])
                .failover(Failover::Primary, "primary")
                .health_check_id(check.id()),
        );
        stack.add(
            "api-dr",
            RecordArgs::new(zone.zone_id(), format!("api.{zone_name}"), "A")
                .ttl(60)
                .records(["198.51.100.20"])
                .failover(Failover::Secondary, "dr"),
        );
        let cert = stack.add("cert", CertificateArgs::dns(format!("api.{zone_name}")));
        let record = stack.add(
            "validation-record",
            RecordArgs::new(
                zone.zone_id(),
                cert.validation_record_name(0),
                cert.validation_record_type(0),
            )
            .ttl(60)
            .record(cert.validation_record_value(0)),
        );
        stack.add(
            "cert-validation",
            CertificateValidationArgs::new(cert.arn()).validation_record_fqdns([record.fqdn()]),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let r53 = direct(REGION, aws_sdk_route53::Client::new);
        let mut counts = BTreeMap::new();
        let zone_name = format!("{name}.example.com.");
        let zones = r53.list_hosted_zones().send().await.unwrap();
        let ours: Vec<_> = zones
            .hosted_zones()
            .iter()
            .filter(|z| z.name() == zone_name)
            .collect();
        counts.insert("zone", ours.len());
        if let Some(zone) = ours.first() {
            let records = r53
                .list_resource_record_sets()
                .hosted_zone_id(zone.id())
                .send()
                .await
                .unwrap();
            let api = format!("api.{zone_name}");
            for (label, id) in [("record (primary)", "primary"), ("record (dr)", "dr")] {
                let n = records
                    .resource_record_sets()
                    .iter()
                    .filter(|r| r.name() == api && r.set_identifier() == Some(id))
                    .count();
                counts.insert(label, n);
            }
            let validation = records
                .resource_record_sets()
                .iter()
                .filter(|r| r.r#type().as_str() == "CNAME")
                .count();
            counts.insert("record (validation)", validation);
        }
        let checks = r53.list_health_checks().send().await.unwrap();
        let fqdn = format!("api-use1.{name}.example.net");
        counts.insert(
            "healthCheck",
            checks
                .health_checks()
                .iter()
                .filter(|c| {
                    c.health_check_config()
                        .and_then(|c| c.fully_qualified_domain_name())
                        == Some(fqdn.as_str())
                })
                .count(),
        );
        let acm = direct(REGION, aws_sdk_acm::Client::new);
        let certs = acm.list_certificates().send().await.unwrap();
        let domain = format!("api.{name}.example.com");
        counts.insert(
            "certificate",
            certs
                .certificate_summary_list()
                .iter()
                .filter(|c| c.domain_name() == Some(domain.as_str()))
                .count(),
        );
        counts
    }

    #[tokio::test]
    async fn zones_records_checks_and_certificates_converge_with_one_of_each() {
        let name = iac_tests::unique("lost-dns");
        Harness::new("route 53 and acm")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&name))
            .await;
    }
}

mod lambda {
    use super::*;
    use iac_dsl::asset::{Asset, ZipEntry, zip_asset};
    use iac_providers::aws::iam::{PolicyDocument, RoleArgs};
    use iac_providers::aws::lambda::{FunctionArgs, PermissionArgs};

    const REGION: &str = "us-east-1";

    fn code(dir: &std::path::Path) -> Asset {
        zip_asset(
            &dir.join("function.zip"),
            &[ZipEntry {
                name: "bootstrap".into(),
                contents: b"#!/bin/sh\necho ok\n".to_vec(),
                executable: true,
            }],
        )
        .expect("the zip is made")
    }

    fn stack(h: &Harness, name: &str, zip: &Asset, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        stack.provider("aws", h.aws(REGION));
        let v = version.to_string();
        let role = stack.add(
            "role",
            RoleArgs::new(
                format!("{name}-fn"),
                PolicyDocument::assume_role_by_service("lambda.amazonaws.com"),
            ),
        );
        let function = stack.add(
            "function",
            FunctionArgs::new(name.to_string(), role.arn(), zip)
                .memory_size(128 + 128 * version as i32)
                .env("VERSION", v.as_str())
                .tag("v", v.as_str()),
        );
        stack.add(
            "permission",
            PermissionArgs::api_gateway(
                function.function_name(),
                format!("arn:aws:execute-api:{REGION}:123456789012:{name}/*/*"),
            ),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let lambda = direct(REGION, aws_sdk_lambda::Client::new);
        let mut counts = BTreeMap::new();
        let functions = lambda.list_functions().send().await.unwrap();
        counts.insert(
            "function",
            functions
                .functions()
                .iter()
                .filter(|f| f.function_name() == Some(name))
                .count(),
        );
        if counts["function"] == 1 {
            let policy = lambda.get_policy().function_name(name).send().await;
            let statements = policy
                .ok()
                .and_then(|p| p.policy().map(str::to_string))
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .map_or(0, |p| p["Statement"].as_array().map_or(0, Vec::len));
            counts.insert("permission", statements);
        }
        let iam = direct(REGION, aws_sdk_iam::Client::new);
        let role = iam.get_role().role_name(format!("{name}-fn")).send().await;
        counts.insert("role", usize::from(role.is_ok()));
        counts
    }

    #[tokio::test]
    async fn functions_and_permissions_converge_with_one_of_each() {
        let name = iac_tests::unique("lost-fn");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let zip = code(dir.path());
        Harness::new("lambda")
            .lifecycle(|h, v| stack(h, &name, &zip, v), true, || count(&name))
            .await;
    }
}

mod rds {
    use super::*;
    use iac_dsl::ResourceOptions;
    use iac_providers::aws::ec2::{SubnetArgs, VpcArgs};
    use iac_providers::aws::rds::{
        ClusterArgs, ClusterInstanceArgs, DbSubnetGroupArgs, GlobalClusterArgs,
    };

    const WEST: &str = "us-west-2";
    const EAST: &str = "us-east-1";

    fn stack(h: &Harness, name: &str, version: u32) -> Stack {
        let mut stack = Stack::new("lost-answers", name);
        let west = stack.provider("aws-west", h.aws(WEST));
        let east = stack.provider("aws-east", h.aws(EAST));
        let on = |p| ResourceOptions::default().provider(p);
        let v = version.to_string();
        let vpc = stack.add_with("vpc", VpcArgs::new("10.60.0.0/16"), on(&west));
        let subnets: Vec<_> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, az)| {
                stack
                    .add_with(
                        &format!("db-{az}"),
                        SubnetArgs::new(vpc.id(), format!("10.60.{i}.0/24"), format!("{WEST}{az}")),
                        on(&west),
                    )
                    .id()
                    .into()
            })
            .collect();
        let group = stack.add_with(
            "subnets",
            DbSubnetGroupArgs::new(format!("{name}-db"), subnets)
                // The description stays: the emulator fails ModifyDBSubnetGroup.
                .description("db")
                .tag("v", v.as_str()),
            on(&west),
        );
        let global = stack.add_with(
            "global",
            GlobalClusterArgs::new(format!("{name}-global"))
                .engine_version("14.6")
                .storage_encrypted(true),
            on(&west),
        );
        let primary = stack.add_with(
            "primary",
            ClusterArgs::new(format!("{name}-west"))
                .engine_version("14.6")
                .global_cluster_identifier(global.id())
                .db_subnet_group_name(group.name())
                .master_username("dbadmin")
                .master_password("Str0ng-Passw0rd!")
                .storage_encrypted(true)
                .skip_final_snapshot(true)
                .tag("v", v.as_str()),
            on(&west),
        );
        stack.add_with(
            "writer",
            ClusterInstanceArgs::new(format!("{name}-west-1"), primary.id(), "db.r6g.large")
                .tag("v", v.as_str()),
            on(&west),
        );
        stack.add_with(
            "secondary",
            ClusterArgs::new(format!("{name}-east"))
                .engine_version("14.6")
                .global_cluster_identifier(global.id())
                .storage_encrypted(true)
                .skip_final_snapshot(true)
                .tag("v", v.as_str()),
            on(&east).depends_on(&primary),
        );
        stack
    }

    async fn count(name: &str) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        let west = direct(WEST, aws_sdk_rds::Client::new);
        let east = direct(EAST, aws_sdk_rds::Client::new);
        let groups = west.describe_db_subnet_groups().send().await.unwrap();
        counts.insert(
            "subnetGroup",
            groups
                .db_subnet_groups()
                .iter()
                .filter(|g| g.db_subnet_group_name() == Some(format!("{name}-db").as_str()))
                .count(),
        );
        let globals = west.describe_global_clusters().send().await.unwrap();
        counts.insert(
            "globalCluster",
            globals
                .global_clusters()
                .iter()
                .filter(|g| {
                    g.global_cluster_identifier() == Some(format!("{name}-global").as_str())
                })
                .count(),
        );
        for (label, client, id) in [
            ("cluster (west)", &west, format!("{name}-west")),
            ("cluster (east)", &east, format!("{name}-east")),
        ] {
            let clusters = client.describe_db_clusters().send().await.unwrap();
            counts.insert(
                label,
                clusters
                    .db_clusters()
                    .iter()
                    .filter(|c| c.db_cluster_identifier() == Some(id.as_str()))
                    .count(),
            );
        }
        let instances = west.describe_db_instances().send().await.unwrap();
        counts.insert(
            "clusterInstance",
            instances
                .db_instances()
                .iter()
                .filter(|i| i.db_instance_identifier() == Some(format!("{name}-west-1").as_str()))
                .count(),
        );
        counts
    }

    #[tokio::test]
    async fn an_aurora_global_database_converges_with_one_of_each() {
        let name = iac_tests::unique("lost-db");
        Harness::new("rds")
            .lifecycle(|h, v| stack(h, &name, v), true, || count(&name))
            .await;
    }
}

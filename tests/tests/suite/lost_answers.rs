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

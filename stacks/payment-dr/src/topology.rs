//! The topology: every resource of the reference in both regions, with the review's fixes.
//!
//! [`payment_dr`] adds it to a stack and returns [`PaymentDr`], the typed handles other
//! stacks may build on. Names follow the reference (`payment-vpc-primary-<suffix>`, ...);
//! logical names are grouped by region (`primary/...`, `dr/...`) and `global/...` for what
//! spans both.

use iac_dsl::asset::Asset;
use iac_dsl::{Input, Output, ProviderRef, ResourceOptions, Stack, format_output};
use iac_providers::aws::Aws;
use iac_providers::aws::acm::{CertificateArgs, CertificateValidationArgs};
use iac_providers::aws::apigateway::{
    ApiResourceArgs, BasePathMappingArgs, DeploymentArgs, DomainName, DomainNameArgs,
    IntegrationArgs, MethodArgs, RestApi, RestApiArgs, Stage, StageArgs,
};
use iac_providers::aws::cloudwatch::MetricAlarmArgs;
use iac_providers::aws::ec2::{
    AvailabilityZonesArgs, ElasticIpArgs, InternetGatewayArgs, NatGatewayArgs, Route,
    RouteTableArgs, RouteTableAssociationArgs, SecurityGroupArgs, SecurityGroupRule, SubnetArgs,
    Vpc, VpcArgs,
};
use iac_providers::aws::iam::{
    PolicyArgs, PolicyDocument, RoleArgs, RolePolicyArgs, RolePolicyAttachmentArgs, Statement,
};
use iac_providers::aws::kms::{AliasArgs, KeyArgs};
use iac_providers::aws::lambda::{Function, FunctionArgs, PermissionArgs};
use iac_providers::aws::rds::{
    Cluster, ClusterArgs, ClusterInstanceArgs, DbSubnetGroupArgs, GlobalCluster, GlobalClusterArgs,
    WriterChange,
};
use iac_providers::aws::route53::{
    Failover, HealthCheck, HealthCheckArgs, HostedZone, HostedZoneArgs, Record, RecordArgs,
};
use iac_providers::aws::s3::{
    Bucket, BucketArgs, BucketEncryptionArgs, BucketPublicAccessBlockArgs, BucketReplicationArgs,
    BucketVersioning, BucketVersioningArgs, ReplicationRule,
};
use iac_providers::aws::secretsmanager::{Replica, Secret, SecretArgs, SecretVersionArgs};
use iac_providers::aws::sns::{Topic, TopicArgs};
use iac_providers::cidr;
use iac_providers::random::{PasswordArgs, Random};

use crate::config::{FailoverMode, PaymentDrConfig};

/// The managed policy that lets a Lambda function create network interfaces in a VPC.
const LAMBDA_VPC_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

/// What one region of the topology exposes.
#[derive(Debug, Clone)]
pub struct RegionHandles {
    /// The region's name.
    pub region: String,
    /// The VPC.
    pub vpc: Vpc,
    /// The Aurora cluster (writer or secondary).
    pub cluster: Cluster,
    /// The transaction-log bucket.
    pub bucket: Bucket,
    /// The payment processor function.
    pub function: Function,
    /// The REST API.
    pub api: RestApi,
    /// The API's `prod` stage.
    pub stage: Stage,
    /// The regional custom domain (`api.<domain>`) serving the stage.
    pub domain: DomainName,
    /// The SNS topic the region's alarms notify.
    pub alarms_topic: Topic,
}

/// The typed handles of a deployed payment DR topology, for stacks that build on it.
#[derive(Debug, Clone)]
pub struct PaymentDr {
    /// The primary region.
    pub primary: RegionHandles,
    /// The DR region.
    pub dr: RegionHandles,
    /// The Aurora global cluster spanning both.
    pub global_cluster: GlobalCluster,
    /// The database master password's secret (replicated to the DR region).
    pub db_secret: Secret,
    /// The hosted zone of the API's domain.
    pub zone: HostedZone,
    /// The health check probing the primary region.
    pub health_check: HealthCheck,
    /// The topic the health check alarm notifies.
    pub health_alerts_topic: Topic,
}

/// Which side of the topology a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Primary,
    Dr,
}

impl Side {
    /// The word used in the reference's names and the logical-name prefix.
    fn word(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Dr => "dr",
        }
    }
}

/// The AWS provider for one region with the reference's default tags.
pub fn region_provider(region: &str, side_word: &str) -> Aws {
    Aws::region(region).with_default_tags([
        ("Environment", "production"),
        (
            "DR-Role",
            if side_word == "primary" {
                "primary"
            } else {
                "secondary"
            },
        ),
        ("ManagedBy", "iac-rs"),
        ("Project", "payment-processing-dr"),
    ])
}

/// Adds the whole topology to `stack`, with `code` as the payment Lambda's package.
/// Providers named `aws-primary`, `aws-dr` and `random` are registered unless the stack
/// already has them (tests register their own, pointed at an emulator).
pub fn payment_dr(stack: &mut Stack, config: &PaymentDrConfig, code: &Asset) -> PaymentDr {
    let primary_provider = stack.provider_or_register("aws-primary", || {
        region_provider(&config.primary_region, "primary")
    });
    let dr_provider =
        stack.provider_or_register("aws-dr", || region_provider(&config.dr_region, "dr"));
    payment_dr_with(stack, config, code, &primary_provider, &dr_provider)
}

/// Like [`payment_dr`] with providers the caller registered.
pub fn payment_dr_with(
    stack: &mut Stack,
    config: &PaymentDrConfig,
    code: &Asset,
    primary_provider: &ProviderRef,
    dr_provider: &ProviderRef,
) -> PaymentDr {
    let s = config.environment_suffix.as_str();
    stack.provider_or_register("random", Random::new);
    if config.protects_data() {
        stack.unprotect_hint(
            "`up --set protect_data=false` first (or `protect_data = false` in the configuration), then this again",
        );
    }
    let on = |p: &ProviderRef| ResourceOptions::default().provider(p);

    // Global: the database password, its secret (replicated), IAM.
    let (password, db_secret) = stack.component("global", |g| {
        let password = g.add("db-password", PasswordArgs::aurora(32));
        let secret = g.add_with(
            "db-secret",
            SecretArgs::new(format!("payment-db-password-{s}"))
                .description("Aurora database master password")
                .recovery_window_in_days(0)
                .replica(Replica::new(config.dr_region.clone())),
            on(primary_provider).protect(config.protects_data()),
        );
        g.add_with(
            "db-secret-version",
            SecretVersionArgs::new(secret.arn(), password.result()),
            on(primary_provider),
        );
        (password, secret)
    });
    let zone = stack.add_with(
        "global/zone",
        HostedZoneArgs::new(config.domain_name.clone())
            .force_destroy(true)
            .tag("Name", format!("payment-api-zone-{s}")),
        on(primary_provider),
    );
    let writer_word = region_word(config, config.writer());
    let mut global_args = GlobalClusterArgs::new(format!("payment-global-cluster-{s}"));
    let generation = config.global_database_generation;
    if generation > 0 {
        // A failback after a detach: the global database re-formed from the promoted
        // cluster (see `region_stack` for the member that replaces the other one).
        let source = config.global_database_source();
        global_args = global_args.generation(generation).source_cluster(format!(
            "arn:aws:rds:{source}::cluster:payment-cluster-{}-{s}",
            region_word(config, source)
        ));
    }
    let global_cluster = stack.add_with(
        "global/aurora-global-cluster",
        global_args
            .engine("aurora-postgresql")
            .engine_version(config.db_engine_version.clone())
            .database_name(config.db_name.clone())
            .storage_encrypted(true)
            // The writer's ARN without the account: known before anything exists, and no
            // dependency on the clusters (which depend on this global cluster).
            .writer(format!(
                "arn:aws:rds:{}::cluster:payment-cluster-{writer_word}-{s}",
                config.writer()
            ))
            .writer_change(match config.failover_mode {
                FailoverMode::Switchover => WriterChange::Switchover,
                FailoverMode::Failover => WriterChange::Failover,
                FailoverMode::DetachAndPromote => WriterChange::DetachAndPromote,
            })
            .max_switchover_lag_seconds(config.max_switchover_lag_seconds),
        on(primary_provider).protect(config.protects_data()),
    );

    let mut regions = Vec::new();
    for (side, provider, region) in [
        (Side::Primary, primary_provider, &config.primary_region),
        (Side::Dr, dr_provider, &config.dr_region),
    ] {
        let handles = stack.component(side.word(), |r| {
            region_stack(
                r,
                config,
                code,
                side,
                region,
                provider,
                &global_cluster,
                &password,
                &db_secret,
                &zone,
                regions.first(),
            )
        });
        regions.push(handles);
    }
    let dr = regions.pop();
    let primary = regions.pop();
    let (Some((primary, primary_versioning)), Some((dr, dr_versioning))) = (primary, dr) else {
        unreachable!("both regions were declared above")
    };

    // S3 cross-region replication, from the primary bucket to the DR bucket.
    stack.component("global", |g| {
        let trust = PolicyDocument::assume_role_by_service("s3.amazonaws.com");
        let role = g.add_with(
            "s3-replication-role",
            RoleArgs::new(format!("s3-replication-role-{s}"), trust),
            on(primary_provider),
        );
        let policy = g.add_with(
            "s3-replication-policy",
            PolicyArgs::new(
                format!("s3-replication-policy-{s}"),
                PolicyDocument::new()
                    .statement(
                        Statement::allow()
                            .actions(["s3:GetReplicationConfiguration", "s3:ListBucket"])
                            .resource(primary.bucket.arn()),
                    )
                    .statement(
                        Statement::allow()
                            .actions([
                                "s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging",
                            ])
                            .resource(format_output!("{}/*", primary.bucket.arn())),
                    )
                    .statement(
                        Statement::allow()
                            .actions([
                                "s3:ReplicateObject",
                                "s3:ReplicateDelete",
                                "s3:ReplicateTags",
                            ])
                            .resource(format_output!("{}/*", dr.bucket.arn())),
                    ),
            )
            .description("Policy for S3 cross-region replication"),
            on(primary_provider),
        );
        g.add_with(
            "s3-replication-attachment",
            RolePolicyAttachmentArgs::new(role.name(), policy.arn()),
            on(primary_provider),
        );
        g.add_with(
            "s3-replication",
            BucketReplicationArgs::new(&primary_versioning, role.arn())
                .rule(ReplicationRule::new("replicate-all", &dr_versioning)),
            on(primary_provider),
        );
    });

    // DNS failover: a zone, a health check on the API of the region that serves first,
    // failover aliases to each region's custom domain, and the health check's alarm. The
    // roles follow the writer after a planned switchover (`dns_primary_region`): each of
    // these depends on the global cluster, so they move only once the new writer takes
    // writes, the first-served record before the other, so that both records never point
    // at the old writer's region together.
    let (first, second) = if config.dns_primary_region() == config.dr_region {
        (&dr, &primary)
    } else {
        (&primary, &dr)
    };
    let (health_check, health_alerts_topic) = stack.component("global", |g| {
        let after_writer = || on(primary_provider).depends_on(&global_cluster);
        // The first region's own endpoint: both regions answer `api.<domain>`, so the
        // check must address it directly to tell the two apart.
        let health_check = g.add_with(
            "health-check",
            HealthCheckArgs::https(
                format_output!(
                    "{}.execute-api.{}.amazonaws.com",
                    first.api.id(),
                    Output::known(first.region.clone())
                ),
                format!("/prod{}", config.health_check_path),
            )
            .port(443)
            .failure_threshold(3)
            .request_interval(30)
            .tag("Name", format!("payment-api-health-check-primary-{s}")),
            after_writer(),
        );
        let api_name = format!("api.{}", config.domain_name);
        let mut previous: Option<Record> = None;
        for (failover, handles, check) in [
            (Failover::Primary, first, Some(&health_check)),
            (Failover::Secondary, second, None),
        ] {
            let set_identifier = match failover {
                Failover::Primary => "primary",
                Failover::Secondary => "secondary",
            };
            let mut record = RecordArgs::new(zone.zone_id(), api_name.clone(), "A")
                .alias(
                    handles.domain.regional_domain_name(),
                    handles.domain.regional_zone_id(),
                    true,
                )
                .failover(failover, set_identifier);
            if let Some(check) = check {
                record = record.health_check_id(check.id());
            }
            let mut options = after_writer();
            if let Some(previous) = &previous {
                options = options.depends_on(previous);
            }
            previous = Some(g.add_with(&format!("api-record-{set_identifier}"), record, options));
        }
        let topic = g.add_with(
            "health-alerts-topic",
            TopicArgs::new(format!("payment-api-health-alerts-{s}"))
                .tag("Name", format!("payment-api-health-alerts-{s}")),
            on(primary_provider),
        );
        g.add_with(
            "health-check-alarm",
            MetricAlarmArgs::new(
                format!("payment-api-health-check-alarm-{s}"),
                "AWS/Route53",
                "HealthCheckStatus",
                "Minimum",
                "LessThanThreshold",
                1.0,
            )
            .evaluation_periods(2)
            .period(60)
            .description("This metric monitors primary API health")
            .alarm_action(topic.arn())
            .dimension("HealthCheckId", health_check.id()),
            on(primary_provider),
        );
        (health_check, topic)
    });

    configure_checks(stack, config);
    export_outputs(
        stack,
        &primary,
        &dr,
        &db_secret,
        &zone,
        &health_check,
        &health_alerts_topic,
    );
    PaymentDr {
        primary,
        dr,
        global_cluster,
        db_secret,
        zone,
        health_check,
        health_alerts_topic,
    }
}

/// Hands the configuration's check settings to the stack: production, the policy waivers
/// and level changes, and the cost estimate's usage assumptions.
fn configure_checks(stack: &mut Stack, config: &PaymentDrConfig) {
    stack.set_production(config.production);
    for w in &config.policy.waivers {
        stack.waive(&w.policy, &w.resource, &w.reason);
    }
    for (id, level) in &config.policy.levels {
        stack.set_policy_level(id, *level);
    }
    for (name, value) in &config.usage {
        stack.set_usage(name, *value);
    }
}

/// `primary` or `dr`: the word of `region`'s names.
fn region_word(config: &PaymentDrConfig, region: &str) -> &'static str {
    if region == config.dr_region {
        "dr"
    } else {
        "primary"
    }
}

#[allow(clippy::too_many_arguments)]
fn region_stack(
    r: &mut Stack,
    config: &PaymentDrConfig,
    code: &Asset,
    side: Side,
    region: &str,
    provider: &ProviderRef,
    global_cluster: &GlobalCluster,
    password: &iac_providers::random::Password,
    db_secret: &Secret,
    zone: &HostedZone,
    primary: Option<&(RegionHandles, BucketVersioning)>,
) -> (RegionHandles, BucketVersioning) {
    let s = config.environment_suffix.as_str();
    let w = side.word();
    let on = || ResourceOptions::default().provider(provider);
    let vpc_cidr = match side {
        Side::Primary => &config.vpc_cidr_primary,
        Side::Dr => &config.vpc_cidr_dr,
    };
    let zones: Vec<Input<String>> = match (
        side,
        &config.availability_zones_primary,
        &config.availability_zones_dr,
    ) {
        (Side::Primary, Some(z), _) | (Side::Dr, _, Some(z)) => {
            z.iter().map(|z| Input::Value(z.clone())).collect()
        }
        _ => {
            let azs = r.data(
                "availability-zones",
                AvailabilityZonesArgs::new(),
                Some(provider),
            );
            (0..config.availability_zones_count)
                .map(|i| Input::Output(azs.name(i)))
                .collect()
        }
    };

    // Network.
    let vpc = r.add_with(
        "vpc",
        VpcArgs::new(vpc_cidr.clone())
            .enable_dns_support(true)
            .enable_dns_hostnames(true)
            .tag("Name", format!("payment-vpc-{w}-{s}")),
        on(),
    );
    let subnet = |i: u32| {
        cidr::cidrsubnet(vpc_cidr, 4, i)
            .map(|n| n.to_string())
            .unwrap_or_else(|e| e)
    };
    let mut private = Vec::new();
    let mut public = Vec::new();
    for (i, zone) in zones
        .iter()
        .take(config.availability_zones_count)
        .enumerate()
    {
        let n = i + 1;
        private.push(
            r.add_with(
                &format!("private-subnet-{n}"),
                SubnetArgs::new(vpc.id(), subnet(i as u32), zone.clone())
                    .tag("Name", format!("payment-private-subnet-{w}-{n}-{s}"))
                    .tag("Type", "private"),
                on(),
            ),
        );
        public.push(
            r.add_with(
                &format!("public-subnet-{n}"),
                SubnetArgs::new(vpc.id(), subnet(i as u32 + 10), zone.clone())
                    .map_public_ip_on_launch(true)
                    .tag("Name", format!("payment-public-subnet-{w}-{n}-{s}"))
                    .tag("Type", "public"),
                on(),
            ),
        );
    }
    let igw = r.add_with(
        "internet-gateway",
        InternetGatewayArgs::new(vpc.id()).tag("Name", format!("payment-igw-{w}-{s}")),
        on(),
    );
    let public_rt = r.add_with(
        "public-route-table",
        RouteTableArgs::new(vpc.id())
            .route(Route::to_internet_gateway("0.0.0.0/0", igw.id()))
            .tag("Name", format!("payment-public-rt-{w}-{s}")),
        on(),
    );
    for (i, sn) in public.iter().enumerate() {
        r.add_with(
            &format!("public-rta-{}", i + 1),
            RouteTableAssociationArgs::new(sn.id(), public_rt.id()),
            on(),
        );
    }
    // One NAT gateway per zone (the review's fix), or one for the region when asked.
    let nat_count = if config.single_nat_gateway {
        1
    } else {
        public.len()
    };
    let mut nats = Vec::new();
    for (i, sn) in public.iter().take(nat_count).enumerate() {
        let n = i + 1;
        let eip = r.add_with(
            &format!("nat-eip-{n}"),
            ElasticIpArgs::new().tag("Name", format!("payment-nat-eip-{w}-{n}-{s}")),
            on(),
        );
        nats.push(
            r.add_with(
                &format!("nat-gateway-{n}"),
                NatGatewayArgs::new(sn.id(), eip.allocation_id())
                    .tag("Name", format!("payment-nat-{w}-{n}-{s}")),
                on().depends_on(&igw),
            ),
        );
    }
    for (i, sn) in private.iter().enumerate() {
        let n = i + 1;
        let nat = &nats[i.min(nats.len() - 1)];
        let rt = r.add_with(
            &format!("private-route-table-{n}"),
            RouteTableArgs::new(vpc.id())
                .route(Route::to_nat_gateway("0.0.0.0/0", nat.id()))
                .tag("Name", format!("payment-private-rt-{w}-{n}-{s}")),
            on(),
        );
        r.add_with(
            &format!("private-rta-{n}"),
            RouteTableAssociationArgs::new(sn.id(), rt.id()),
            on(),
        );
    }
    let aurora_sg = r.add_with(
        "aurora-security-group",
        SecurityGroupArgs::new(
            format!("aurora-sg-{w}-{s}"),
            format!(
                "Security group for Aurora {} cluster",
                if side == Side::Primary {
                    "primary"
                } else {
                    "DR"
                }
            ),
            vpc.id(),
        )
        .ingress(
            SecurityGroupRule::tcp(5432)
                .cidr_block(vpc_cidr.clone())
                .description("PostgreSQL from VPC"),
        )
        .egress(
            SecurityGroupRule::all_traffic()
                .cidr_block("0.0.0.0/0")
                .description("Allow all outbound"),
        )
        .tag("Name", format!("aurora-sg-{w}-{s}")),
        on(),
    );
    let lambda_sg = r.add_with(
        "lambda-security-group",
        SecurityGroupArgs::new(
            format!("lambda-sg-{w}-{s}"),
            format!(
                "Security group for Lambda functions in {} region",
                if side == Side::Primary {
                    "primary"
                } else {
                    "DR"
                }
            ),
            vpc.id(),
        )
        .egress(
            SecurityGroupRule::all_traffic()
                .cidr_block("0.0.0.0/0")
                .description("Allow all outbound"),
        )
        .tag("Name", format!("lambda-sg-{w}-{s}")),
        on(),
    );

    // Aurora.
    let key = r.add_with(
        "aurora-kms-key",
        KeyArgs::new(format!(
            "KMS key for Aurora {} cluster encryption",
            if side == Side::Primary {
                "primary"
            } else {
                "DR"
            }
        ))
        .deletion_window_in_days(7)
        .tag("Name", format!("aurora-kms-{w}-{s}")),
        on().protect(config.protects_data()),
    );
    r.add_with(
        "aurora-kms-alias",
        AliasArgs::new(format!("alias/aurora-{w}-{s}"), key.key_id()),
        on(),
    );
    let subnet_group = r.add_with(
        "db-subnet-group",
        DbSubnetGroupArgs::new(
            format!("aurora-subnet-group-{w}-{s}"),
            private.iter().map(|sn| Input::Output(sn.id())).collect(),
        )
        .tag("Name", format!("aurora-subnet-group-{w}-{s}")),
        on(),
    );
    let mut cluster_args = ClusterArgs::new(format!("payment-cluster-{w}-{s}"))
        .engine("aurora-postgresql")
        .engine_version(config.db_engine_version.clone())
        .db_subnet_group_name(subnet_group.name())
        .vpc_security_group_ids(vec![Input::Output(aurora_sg.id())])
        .global_cluster_identifier(global_cluster.id())
        .storage_encrypted(true)
        .kms_key_id(key.arn())
        .skip_final_snapshot(true)
        // Both regions keep a week of backups: after a failover the DR cluster writes.
        .backup_retention_period(7)
        .deletion_protection(config.protects_data())
        .tag("Name", format!("payment-cluster-{w}-{s}"));
    let mut cluster_options = on().protect(config.protects_data());
    let generation = config.global_database_generation;
    let source = region == config.global_database_source();
    if generation > 0 && !source {
        // Replaced by a new secondary of the global database re-formed from the source.
        cluster_args = cluster_args.member_generation(generation);
        cluster_options = cluster_options.replacement_warning(format!(
            "its old data is discarded: cluster payment-cluster-{w}-{s} is deleted and made \
             again as a new secondary of the global database, which is re-formed from \
             payment-cluster-{}-{s} (global_database_generation = {generation}); the writes \
             made since the detach are in that cluster and replicate into the new one",
            region_word(config, config.global_database_source())
        ));
    } else if generation > 0 {
        // The source keeps what it was made with; joining the re-formed global database
        // is the global cluster's doing, not a change of this cluster.
        cluster_options = cluster_options.ignore_changes([
            "global_cluster_identifier",
            "database_name",
            "master_username",
            "master_password",
            "member_generation",
        ]);
    }
    if side == Side::Primary && generation == 0 {
        cluster_args = cluster_args
            .database_name(config.db_name.clone())
            .master_username(config.db_master_username.clone())
            .master_password(password.result())
            .preferred_backup_window("03:00-04:00");
    } else if let Some((primary, _)) = primary.filter(|_| !source || generation == 0) {
        // A secondary joins once the primary has its instances (as the reference orders).
        cluster_options = cluster_options.depends_on(&primary.cluster);
    }
    let cluster = r.add_with("aurora-cluster", cluster_args, cluster_options);
    for i in 1..=config.db_instances_per_region {
        r.add_with(
            &format!("aurora-instance-{i}"),
            ClusterInstanceArgs::new(
                format!("payment-instance-{w}-{i}-{s}"),
                cluster.id(),
                config.db_instance_class.clone(),
            )
            .engine("aurora-postgresql")
            .publicly_accessible(false)
            .tag("Name", format!("payment-instance-{w}-{i}-{s}")),
            on(),
        );
    }

    // Storage.
    let bucket = r.add_with(
        "bucket",
        BucketArgs::new(format!("payment-transactions-{w}-{s}"))
            .force_destroy(true)
            .tag("Name", format!("payment-transactions-{w}-{s}")),
        on().protect(config.protects_data()),
    );
    let versioning = r.add_with(
        "bucket-versioning",
        BucketVersioningArgs::new(bucket.bucket()),
        on(),
    );
    r.add_with(
        "bucket-encryption",
        BucketEncryptionArgs::new(bucket.bucket()),
        on(),
    );
    r.add_with(
        "bucket-public-access-block",
        BucketPublicAccessBlockArgs::new(bucket.bucket()),
        on(),
    );

    // Compute: the payment processor in private subnets, reading its own region's copy of
    // the database secret (the review's fix 3).
    let role = r.add_with(
        "lambda-role",
        RoleArgs::new(
            format!("lambda-payment-processor-{w}-{s}"),
            PolicyDocument::assume_role_by_service("lambda.amazonaws.com"),
        ),
        on(),
    );
    r.add_with(
        "lambda-vpc-access",
        RolePolicyAttachmentArgs::new(role.name(), LAMBDA_VPC_POLICY),
        on(),
    );
    let regional_secret_arn = regional_arn(db_secret.arn(), region);
    r.add_with(
        "lambda-s3-access",
        RolePolicyArgs::new(
            role.name(),
            "lambda-s3-access",
            PolicyDocument::new()
                .statement(
                    Statement::allow()
                        .actions(["s3:PutObject", "s3:GetObject"])
                        .resource(format_output!("{}/*", bucket.arn())),
                )
                .statement(
                    Statement::allow()
                        .action("s3:ListBucket")
                        .resource(bucket.arn()),
                )
                .statement(
                    // The health report shows the global database's replication lag.
                    Statement::allow()
                        .action("cloudwatch:GetMetricStatistics")
                        .resource("*"),
                )
                .statement(
                    Statement::allow()
                        .actions([
                            "secretsmanager:DescribeSecret",
                            "secretsmanager:GetSecretValue",
                        ])
                        .resource(regional_secret_arn.clone()),
                ),
        ),
        on(),
    );
    let function = r.add_with(
        "lambda-function",
        FunctionArgs::new(format!("payment-processor-{w}-{s}"), role.arn(), code)
            .runtime(crate::LAMBDA_RUNTIME)
            .handler("bootstrap")
            .timeout(config.lambda_timeout as i32)
            .memory_size(config.lambda_memory_size as i32)
            .vpc(
                private.iter().map(|sn| sn.id()).collect::<Vec<_>>(),
                [lambda_sg.id()],
            )
            .env("REGION", region.to_string())
            .env("S3_BUCKET", bucket.bucket())
            .env("DB_ENDPOINT", cluster.endpoint())
            .env("DB_NAME", config.db_name.clone())
            // The secret holds only the password; the function logs in as the master user.
            .env("DB_USER", config.db_master_username.clone())
            .env("DB_SECRET_ARN", regional_secret_arn)
            .env("ENVIRONMENT_SUFFIX", s.to_string())
            .architecture(config.lambda_architecture.clone())
            .tag("Name", format!("payment-processor-{w}-{s}")),
        if code.is_available() {
            on()
        } else {
            // The sources are out of reach: the recorded code stands in (a create fails
            // saying how to supply the zip).
            on().ignore_changes(["code_sha256"])
        },
    );

    // API: /payment and /health, both served by the function (the review's fix 5).
    let api = r.add_with(
        "api",
        RestApiArgs::new(format!("payment-api-{w}-{s}"))
            .description(format!(
                "Payment Processing API - {} Region",
                if side == Side::Primary {
                    "Primary"
                } else {
                    "DR"
                }
            ))
            .tag("Name", format!("payment-api-{w}-{s}")),
        on(),
    );
    let mut deployment = DeploymentArgs::new(api.id());
    for (path, verb) in [("payment", "POST"), ("health", "GET")] {
        let res = r.add_with(
            &format!("api-{path}"),
            ApiResourceArgs::new(api.id(), api.root_resource_id(), path),
            on(),
        );
        let method = r.add_with(
            &format!("api-{path}-{}", verb.to_lowercase()),
            MethodArgs::new(api.id(), res.id(), verb),
            on(),
        );
        let integration = r.add_with(
            &format!("api-{path}-integration"),
            IntegrationArgs::lambda_proxy(&method, function.invoke_arn()),
            on(),
        );
        deployment = deployment.method(&method).integration(&integration);
    }
    let deployment = r.add_with("api-deployment", deployment, on());
    let stage = r.add_with(
        "api-stage",
        StageArgs::new(api.id(), &deployment, "prod"),
        on(),
    );
    r.add_with(
        "lambda-permission",
        PermissionArgs::api_gateway(
            function.function_name(),
            format_output!("{}/*/*", api.execution_arn()),
        ),
        on(),
    );
    let api_domain = format!("api.{}", config.domain_name);
    let certificate = r.add_with(
        "api-certificate",
        CertificateArgs::dns(api_domain.clone()).tag("Name", format!("payment-api-cert-{w}-{s}")),
        on(),
    );
    let validation_record = r.add_with(
        "api-certificate-validation-record",
        RecordArgs::new(
            zone.zone_id(),
            certificate.validation_record_name(0),
            certificate.validation_record_type(0),
        )
        .ttl(60)
        .record(certificate.validation_record_value(0)),
        on(),
    );
    let validated = r.add_with(
        "api-certificate-validation",
        CertificateValidationArgs::new(certificate.arn())
            .validation_record_fqdns([validation_record.fqdn()]),
        on(),
    );
    let domain = r.add_with(
        "api-domain",
        DomainNameArgs::regional(api_domain, validated.certificate_arn())
            .tag("Name", format!("payment-api-domain-{w}-{s}")),
        on(),
    );
    r.add_with(
        "api-base-path-mapping",
        BasePathMappingArgs::new(domain.domain_name(), &stage),
        on(),
    );

    // Monitoring.
    let topic_name = match side {
        Side::Primary => format!("payment-cloudwatch-alarms-{s}"),
        Side::Dr => format!("payment-cloudwatch-alarms-dr-{s}"),
    };
    let topic = r.add_with(
        "alarms-topic",
        TopicArgs::new(topic_name.clone()).tag("Name", topic_name),
        on(),
    );
    let region_word = if side == Side::Primary {
        "primary"
    } else {
        "DR"
    };
    let alarms: [AlarmSpec<'_>; 3] = [
        (
            "aurora-replication-lag",
            "AWS/RDS",
            "AuroraGlobalDBReplicationLag",
            "Average",
            config.replication_lag_threshold as f64,
            "This metric monitors Aurora Global Database replication lag",
            (
                "DBClusterIdentifier",
                Output::known(format!("payment-cluster-{w}-{s}")),
            ),
        ),
        (
            "api-gateway-errors",
            "AWS/ApiGateway",
            "5XXError",
            "Sum",
            10.0,
            "This metric monitors API Gateway 5XX errors",
            ("ApiName", Output::known(format!("payment-api-{w}-{s}"))),
        ),
        (
            "lambda-errors",
            "AWS/Lambda",
            "Errors",
            "Sum",
            5.0,
            "This metric monitors Lambda function errors",
            ("FunctionName", function.function_name()),
        ),
    ];
    for (name, namespace, metric, statistic, threshold, description, (dimension, value)) in alarms {
        let alarm_name = format!("{name}-{w}-{s}");
        r.add_with(
            &format!("{name}-alarm"),
            MetricAlarmArgs::new(
                alarm_name.clone(),
                namespace,
                metric,
                statistic,
                "GreaterThanThreshold",
                threshold,
            )
            .evaluation_periods(2)
            .period(60)
            .description(if name == "aurora-replication-lag" {
                description.to_string()
            } else {
                format!("{description} in {region_word} region")
            })
            .alarm_action(topic.arn())
            .dimension(dimension, value)
            .tag("Name", alarm_name),
            on().depends_on(&cluster),
        );
    }

    let handles = RegionHandles {
        region: region.to_string(),
        vpc,
        cluster,
        bucket,
        function,
        api,
        stage,
        domain,
        alarms_topic: topic,
    };
    // The bucket's versioning: replication takes the source's and the destination's.
    (handles, versioning)
}

/// An alarm of the reference: name stem, namespace, metric, statistic, threshold,
/// description and the dimension it watches.
type AlarmSpec<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    f64,
    &'a str,
    (&'a str, Output<String>),
);

/// A secret's ARN as seen from `region` (replicas keep the name and account).
fn regional_arn(arn: Output<String>, region: &str) -> Output<String> {
    let region = region.to_string();
    arn.map(move |arn: String| {
        let mut parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() == 6 {
            parts[3] = &region;
        }
        parts.join(":")
    })
}

#[allow(clippy::too_many_arguments)]
fn export_outputs(
    stack: &mut Stack,
    primary: &RegionHandles,
    dr: &RegionHandles,
    db_secret: &Secret,
    zone: &HostedZone,
    health_check: &HealthCheck,
    health_alerts_topic: &Topic,
) {
    for (w, h) in [("primary", primary), ("dr", dr)] {
        stack.export::<String>(
            &format!("{w}_api_endpoint"),
            format_output!("{}/payment", h.stage.invoke_url()),
        );
        stack.export::<String>(
            &format!("{w}_health_check_endpoint"),
            format_output!("{}/health", h.stage.invoke_url()),
        );
        stack.export_output(
            &format!("{w}_aurora_cluster_endpoint"),
            &h.cluster.endpoint(),
        );
        stack.export_output(
            &format!("{w}_aurora_reader_endpoint"),
            &h.cluster.reader_endpoint(),
        );
        stack.export_output(&format!("{w}_s3_bucket_name"), &h.bucket.bucket());
        stack.export_output(
            &format!("{w}_lambda_function_name"),
            &h.function.function_name(),
        );
        stack.export_output(&format!("{w}_vpc_id"), &h.vpc.id());
        // The reference's runbook reads these two, though its outputs never declared them.
        stack.export_output(&format!("{w}_api_id"), &h.api.id());
        stack.export_output(&format!("{w}_cluster_id"), &h.cluster.id());
        stack.export::<String>(
            &format!("{w}_db_secret_arn"),
            regional_arn(db_secret.arn(), &h.region),
        );
    }
    stack.export_output("route53_health_check_id", &health_check.id());
    stack.export_output("db_secret_arn", &db_secret.arn());
    stack.export_output("health_check_alerts_topic_arn", &health_alerts_topic.arn());
    stack.export_output("cloudwatch_alarms_topic_arn", &primary.alarms_topic.arn());
    stack.export_output("cloudwatch_alarms_dr_topic_arn", &dr.alarms_topic.arn());
    stack.export_output("hosted_zone_name_servers", &zone.name_servers());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host stack that registered `random`, `aws-primary` and `aws-dr` itself (pointed
    /// at its own endpoints, say) composes the component without a duplicate-provider error.
    #[test]
    fn a_host_stack_with_its_own_providers_composes_the_component() {
        let dir = tempfile::tempdir().expect("temp dir");
        let zip = dir.path().join("code.zip");
        std::fs::write(&zip, b"not really a zip").expect("write");
        let code = Asset::file(&zip).expect("asset");
        let config = PaymentDrConfig::new("host-001");
        let mut stack = Stack::new("host", "dev");
        stack.provider("random", Random::new());
        stack.provider("aws-primary", region_provider("us-east-1", "primary"));
        stack.provider("aws-dr", region_provider("us-west-2", "dr"));
        let dr = payment_dr(&mut stack, &config, &code);
        stack.export_output("api", &dr.primary.stage.invoke_url());
        if let Err(e) = stack.validate() {
            panic!("the host's providers are used, not registered twice: {e}");
        }
    }
}

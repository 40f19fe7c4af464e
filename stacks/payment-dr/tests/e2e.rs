//! End to end: the real `payment-dr-stack` binary deploys the whole topology to the moto
//! emulator (started by the test support code), the SDK checks what the review keeps and
//! each fix, an unchanged preview is empty, one changed value is one update, and destroy
//! removes the stack from both regions.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-east-2";

fn run(dir: &Path, args: &[&str]) -> Output {
    let moto = iac_tests::Moto::shared();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_payment-dr-stack"));
    cmd.current_dir(dir)
        .args(["--config", "payment-dr.toml", "--state", "state.db"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().expect("the stack binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn config(suffix: &str) -> String {
    format!(
        r#"
environment_suffix = "{suffix}"
primary_region = "{PRIMARY}"
dr_region = "{DR}"
availability_zones_primary = ["us-east-1a", "us-east-1b", "us-east-1c"]
availability_zones_dr = ["us-east-2a", "us-east-2b", "us-east-2c"]
domain_name = "payments-{suffix}.example.com"
# The test builds the function in the dev profile (already built by the test run).
lambda_profile = "dev"
"#
    )
}

struct Clients {
    ec2: [aws_sdk_ec2::Client; 2],
    s3: [aws_sdk_s3::Client; 2],
    secrets: [aws_sdk_secretsmanager::Client; 2],
    lambda: [aws_sdk_lambda::Client; 2],
    apigw: [aws_sdk_apigateway::Client; 2],
    rds: [aws_sdk_rds::Client; 2],
    cloudwatch: [aws_sdk_cloudwatch::Client; 2],
    sns: [aws_sdk_sns::Client; 2],
    kms: [aws_sdk_kms::Client; 2],
    acm: [aws_sdk_acm::Client; 2],
    route53: aws_sdk_route53::Client,
    iam: aws_sdk_iam::Client,
}

fn clients() -> Clients {
    let moto = iac_tests::Moto::shared();
    let cfg = [moto.sdk_config(PRIMARY), moto.sdk_config(DR)];
    let s3 = |c: &aws_config::SdkConfig| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(c)
                .force_path_style(true)
                .build(),
        )
    };
    Clients {
        ec2: cfg.clone().map(|c| aws_sdk_ec2::Client::new(&c)),
        s3: [s3(&cfg[0]), s3(&cfg[1])],
        secrets: cfg.clone().map(|c| aws_sdk_secretsmanager::Client::new(&c)),
        lambda: cfg.clone().map(|c| aws_sdk_lambda::Client::new(&c)),
        apigw: cfg.clone().map(|c| aws_sdk_apigateway::Client::new(&c)),
        rds: cfg.clone().map(|c| aws_sdk_rds::Client::new(&c)),
        cloudwatch: cfg.clone().map(|c| aws_sdk_cloudwatch::Client::new(&c)),
        sns: cfg.clone().map(|c| aws_sdk_sns::Client::new(&c)),
        kms: cfg.clone().map(|c| aws_sdk_kms::Client::new(&c)),
        acm: cfg.clone().map(|c| aws_sdk_acm::Client::new(&c)),
        route53: aws_sdk_route53::Client::new(&cfg[0]),
        iam: aws_sdk_iam::Client::new(&cfg[0]),
    }
}

fn tagged(tags: &[aws_sdk_ec2::types::Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_deploys_checks_out_updates_one_value_and_is_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let suffix = format!(
        "e2e{}",
        iac_tests::unique("").replace(['-', '_'], "").to_lowercase()
    );
    let suffix: String = suffix.chars().take(12).collect();
    std::fs::write(dir.path().join("payment-dr.toml"), config(&suffix)).unwrap();

    // 1. up from an empty state.
    let up = run(dir.path(), &["up", "--yes"]);
    assert!(up.status.success(), "up failed:\n{}", text(&up));
    let outputs = run(dir.path(), &["outputs", "--json"]);
    assert!(outputs.status.success(), "{}", text(&outputs));
    let outputs: Value = serde_json::from_slice(&outputs.stdout).expect("outputs are JSON");
    for name in [
        "primary_api_endpoint",
        "dr_api_endpoint",
        "primary_health_check_endpoint",
        "dr_health_check_endpoint",
        "primary_aurora_cluster_endpoint",
        "primary_aurora_reader_endpoint",
        "dr_aurora_cluster_endpoint",
        "dr_aurora_reader_endpoint",
        "primary_s3_bucket_name",
        "dr_s3_bucket_name",
        "primary_lambda_function_name",
        "dr_lambda_function_name",
        "primary_vpc_id",
        "dr_vpc_id",
        "route53_health_check_id",
        "db_secret_arn",
        "health_check_alerts_topic_arn",
        "cloudwatch_alarms_topic_arn",
        "cloudwatch_alarms_dr_topic_arn",
        "hosted_zone_name_servers",
        "primary_db_secret_arn",
        "dr_db_secret_arn",
        "primary_api_id",
        "dr_api_id",
        "primary_cluster_id",
        "dr_cluster_id",
    ] {
        assert!(
            !outputs[name].is_null(),
            "output `{name}` missing: {outputs:#}"
        );
    }

    // 2. What the review keeps, and each fix, resource by resource.
    let c = clients();
    for (i, (word, cidr)) in [("primary", "10.0"), ("dr", "10.1")]
        .into_iter()
        .enumerate()
    {
        let vpc_id = outputs[format!("{word}_vpc_id")].as_str().unwrap();
        let vpcs = c.ec2[i]
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .unwrap();
        let vpc = &vpcs.vpcs()[0];
        assert_eq!(vpc.cidr_block(), Some(format!("{cidr}.0.0/16").as_str()));
        assert!(tagged(
            vpc.tags(),
            "Name",
            &format!("payment-vpc-{word}-{suffix}")
        ));
        let subnets = c.ec2[i]
            .describe_subnets()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc_id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut cidrs: Vec<&str> = subnets
            .subnets()
            .iter()
            .filter_map(|s| s.cidr_block())
            .collect();
        cidrs.sort();
        // cidrsubnet(vpc, 4, i) private and (vpc, 4, i + 10) public.
        let expected = [
            format!("{cidr}.0.0/20"),
            format!("{cidr}.16.0/20"),
            format!("{cidr}.32.0/20"),
            format!("{cidr}.160.0/20"),
            format!("{cidr}.176.0/20"),
            format!("{cidr}.192.0/20"),
        ];
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.sort();
        assert_eq!(cidrs, expected, "{word} subnets");
        // Fix 4: one NAT gateway per zone.
        let nats = c.ec2[i]
            .describe_nat_gateways()
            .filter(
                aws_sdk_ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc_id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let live: Vec<_> = nats
            .nat_gateways()
            .iter()
            .filter(|n| n.state().map(|s| s.as_str()) == Some("available"))
            .collect();
        assert_eq!(live.len(), 3, "{word}: a NAT gateway per zone");
        let mut nat_zones: Vec<&str> = live.iter().filter_map(|n| n.subnet_id()).collect();
        nat_zones.dedup();
        assert_eq!(nat_zones.len(), 3, "in three different subnets");

        // Storage: versioned, encrypted buckets.
        let bucket = outputs[format!("{word}_s3_bucket_name")].as_str().unwrap();
        assert_eq!(bucket, format!("payment-transactions-{word}-{suffix}"));
        let enc = c.s3[i]
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .unwrap()
                .sse_algorithm()
                .as_str(),
            "AES256"
        );

        // The function: reference sizes and environment; reads its own region's secret.
        let name = outputs[format!("{word}_lambda_function_name")]
            .as_str()
            .unwrap();
        let f = c.lambda[i]
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap();
        let conf = f.configuration().unwrap();
        assert_eq!(conf.timeout(), Some(30));
        assert_eq!(conf.memory_size(), Some(512));
        assert_eq!(conf.runtime().unwrap().as_str(), "provided.al2023");
        assert_eq!(conf.vpc_config().unwrap().subnet_ids().len(), 3);
        let env = conf.environment().unwrap().variables().unwrap();
        let region = if i == 0 { PRIMARY } else { DR };
        assert_eq!(env["REGION"], region);
        assert_eq!(env["S3_BUCKET"], bucket);
        assert_eq!(env["DB_NAME"], "payments");
        assert_eq!(env["ENVIRONMENT_SUFFIX"], suffix);
        assert!(
            env["DB_SECRET_ARN"].starts_with(&format!("arn:aws:secretsmanager:{region}:")),
            "fix 3: the {word} function reads the secret in its own region: {}",
            env["DB_SECRET_ARN"]
        );
        assert_eq!(
            env["DB_ENDPOINT"],
            outputs[format!("{word}_aurora_cluster_endpoint")]
                .as_str()
                .unwrap()
        );

        // The API: /payment and /health both proxied to the function (fix 5), a separate
        // deployment and `prod` stage (fix 7), a regional custom domain (fix 1).
        let apis = c.apigw[i].get_rest_apis().send().await.unwrap();
        let api = apis
            .items()
            .iter()
            .find(|a| a.name() == Some(format!("payment-api-{word}-{suffix}").as_str()))
            .expect("the API exists");
        let api_id = api.id().unwrap();
        assert_eq!(outputs[format!("{word}_api_id")], api_id);
        let resources = c.apigw[i]
            .get_resources()
            .rest_api_id(api_id)
            .send()
            .await
            .unwrap();
        for (path, verb) in [("/payment", "POST"), ("/health", "GET")] {
            let r = resources
                .items()
                .iter()
                .find(|r| r.path() == Some(path))
                .unwrap();
            let integration = c.apigw[i]
                .get_integration()
                .rest_api_id(api_id)
                .resource_id(r.id().unwrap())
                .http_method(verb)
                .send()
                .await
                .unwrap();
            assert_eq!(
                integration.r#type().unwrap().as_str(),
                "AWS_PROXY",
                "{path}"
            );
            assert!(
                integration.uri().unwrap().contains(name),
                "{path} calls the function"
            );
        }
        let stage = c.apigw[i]
            .get_stage()
            .rest_api_id(api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        assert!(stage.deployment_id().is_some());
        let domain = c.apigw[i]
            .get_domain_name()
            .domain_name(format!("api.payments-{suffix}.example.com"))
            .send()
            .await
            .unwrap();
        assert!(domain.regional_domain_name().is_some());

        // Aurora: encrypted, in the global cluster, with the reference's backups.
        assert_eq!(
            outputs[format!("{word}_cluster_id")],
            format!("payment-cluster-{word}-{suffix}")
        );
        let cluster = c.rds[i]
            .describe_db_clusters()
            .db_cluster_identifier(format!("payment-cluster-{word}-{suffix}"))
            .send()
            .await
            .unwrap();
        let cluster = &cluster.db_clusters()[0];
        assert_eq!(cluster.storage_encrypted(), Some(true));
        assert_eq!(cluster.engine(), Some("aurora-postgresql"));
        if i == 0 {
            assert_eq!(cluster.backup_retention_period(), Some(7));
            assert_eq!(cluster.preferred_backup_window(), Some("03:00-04:00"));
        }
        assert_eq!(cluster.db_cluster_members().len(), 2, "two instances");

        // Monitoring: three alarms per region, on the region's topic.
        let alarms = c.cloudwatch[i].describe_alarms().send().await.unwrap();
        let ours: Vec<_> = alarms
            .metric_alarms()
            .iter()
            .filter(|a| {
                a.alarm_name()
                    .is_some_and(|n| n.ends_with(&format!("-{word}-{suffix}")))
            })
            .collect();
        assert_eq!(ours.len(), 3, "{word} alarms");
        let lag = ours
            .iter()
            .find(|a| a.metric_name() == Some("AuroraGlobalDBReplicationLag"))
            .unwrap();
        assert_eq!(lag.threshold(), Some(10_000.0));
        let topics = c.sns[i].list_topics().send().await.unwrap();
        let topic_key = if i == 0 {
            "cloudwatch_alarms_topic_arn"
        } else {
            "cloudwatch_alarms_dr_topic_arn"
        };
        assert!(
            topics
                .topics()
                .iter()
                .any(|t| t.topic_arn() == outputs[topic_key].as_str())
        );
    }

    // Fixes 2 and 3: an Aurora-valid password, replicated to the DR region.
    let secret = c.secrets[0]
        .get_secret_value()
        .secret_id(outputs["db_secret_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let password = secret.secret_string().unwrap();
    assert_eq!(password.len(), 32);
    assert!(
        !password.contains(['/', '"', '@', ' ']),
        "fix 2: no character Aurora rejects"
    );
    let replica = c.secrets[1]
        .describe_secret()
        .secret_id(outputs["dr_db_secret_arn"].as_str().unwrap())
        .send()
        .await;
    assert!(
        replica.is_ok(),
        "fix 3: the secret has a DR replica: {replica:?}"
    );
    let state = std::fs::read(dir.path().join("state.db")).unwrap();
    assert!(
        !state
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the password is never stored in plain text"
    );

    // Fix 6: the writer is the primary region's cluster.
    let globals = c.rds[0].describe_global_clusters().send().await.unwrap();
    let global = globals
        .global_clusters()
        .iter()
        .find(|g| {
            g.global_cluster_identifier()
                == Some(format!("payment-global-cluster-{suffix}").as_str())
        })
        .unwrap();
    let writer = global
        .global_cluster_members()
        .iter()
        .find(|m| m.is_writer() == Some(true))
        .unwrap();
    assert!(
        writer
            .db_cluster_arn()
            .unwrap()
            .contains(&format!(":{PRIMARY}:"))
    );

    // Fix 1: failover aliases to each region's custom domain; the health check probes the
    // primary's /health (served by the function) over HTTPS, port 443, threshold 3,
    // interval 30.
    let zones = c
        .route53
        .list_hosted_zones_by_name()
        .dns_name(format!("payments-{suffix}.example.com"))
        .send()
        .await
        .unwrap();
    let zone_id = zones.hosted_zones()[0].id().to_string();
    let records = c
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let failover: Vec<_> = records
        .resource_record_sets()
        .iter()
        .filter(|r| r.failover().is_some())
        .collect();
    assert_eq!(failover.len(), 2);
    for r in &failover {
        let alias = r.alias_target().expect("an alias record");
        assert!(
            !alias.hosted_zone_id().contains("execute-api"),
            "aliases a domain target, not the API id"
        );
        assert_eq!(r.name(), format!("api.payments-{suffix}.example.com."));
    }
    let check = c
        .route53
        .get_health_check()
        .health_check_id(outputs["route53_health_check_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let check = check.health_check().unwrap().health_check_config().unwrap();
    assert_eq!(check.port(), Some(443));
    assert_eq!(check.resource_path(), Some("/prod/health"));
    assert_eq!(check.failure_threshold(), Some(3));
    assert_eq!(check.request_interval(), Some(30));

    // The summary and `state list` group by region and service.
    let list = run(dir.path(), &["state", "list"]);
    let listed = text(&list);
    assert!(
        listed.contains("aws-primary") && listed.contains("aws-dr"),
        "{listed}"
    );

    // 3. Nothing changed: the preview is empty.
    let same = run(dir.path(), &["preview", "--detailed-exitcode"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // 4. One changed value is exactly one update, and up applies it.
    let set = ["--set", "health_check_path=/healthz"];
    let changed = run(
        dir.path(),
        &[&set[..], &["preview", "--detailed-exitcode", "--json"]].concat(),
    );
    assert_eq!(changed.status.code(), Some(2), "{}", text(&changed));
    let plan: Value = serde_json::from_slice(&changed.stdout).expect("the plan is JSON");
    let changes: Vec<(&str, &str)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["op"] != "same")
        .map(|s| (s["name"].as_str().unwrap(), s["op"].as_str().unwrap()))
        .collect();
    assert_eq!(changes, [("global/health-check", "update")], "{plan:#}");
    let applied = run(dir.path(), &[&set[..], &["up", "--yes"]].concat());
    assert!(applied.status.success(), "{}", text(&applied));
    let check = c
        .route53
        .get_health_check()
        .health_check_id(outputs["route53_health_check_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        check
            .health_check()
            .unwrap()
            .health_check_config()
            .unwrap()
            .resource_path(),
        Some("/prod/healthz")
    );

    // 5. destroy leaves nothing of the stack in either region. What the sweep below looks
    // for is there now (so an empty sweep afterwards means something).
    let check_id = outputs["route53_health_check_id"].as_str().unwrap();
    let before = leftovers(&c, &suffix, check_id).await;
    for kind in [
        "IAM role",
        "IAM policy",
        "health check",
        "primary KMS alias",
        "dr KMS alias",
        "primary SNS topic",
        "dr SNS topic",
        "primary certificate",
        "dr certificate",
        "primary EIP",
        "dr EIP",
        "primary NAT gateway",
        "dr NAT gateway",
    ] {
        assert!(
            before.iter().any(|l| l.starts_with(&format!("{kind} "))),
            "no {kind} found before destroy: {before:#?}"
        );
    }
    let mut keys = Vec::new();
    for (i, word) in ["primary", "dr"].into_iter().enumerate() {
        let aliases = c.kms[i].list_aliases().send().await.unwrap();
        let alias = format!("alias/aurora-{word}-{suffix}");
        let key = aliases
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(alias.as_str()))
            .and_then(|a| a.target_key_id())
            .unwrap_or_else(|| panic!("{alias} exists before destroy"));
        keys.push(key.to_string());
    }
    let destroyed = run(dir.path(), &[&set[..], &["destroy", "--yes"]].concat());
    let destroy_text = text(&destroyed);
    assert!(
        destroyed.status.success(),
        "destroy failed:\n{destroy_text}"
    );
    for (i, word) in ["primary", "dr"].into_iter().enumerate() {
        let vpc_id = outputs[format!("{word}_vpc_id")].as_str().unwrap();
        let vpcs = c.ec2[i].describe_vpcs().vpc_ids(vpc_id).send().await;
        assert!(
            vpcs.map(|v| v.vpcs().is_empty()).unwrap_or(true),
            "{word} VPC is gone"
        );
        let bucket = outputs[format!("{word}_s3_bucket_name")].as_str().unwrap();
        assert!(c.s3[i].head_bucket().bucket(bucket).send().await.is_err());
        let name = outputs[format!("{word}_lambda_function_name")]
            .as_str()
            .unwrap();
        assert!(
            c.lambda[i]
                .get_function()
                .function_name(name)
                .send()
                .await
                .is_err()
        );
        let clusters = c.rds[i]
            .describe_db_clusters()
            .db_cluster_identifier(format!("payment-cluster-{word}-{suffix}"))
            .send()
            .await;
        assert!(clusters.is_err(), "{word} cluster is gone");
        let apis = c.apigw[i].get_rest_apis().send().await.unwrap();
        assert!(
            !apis
                .items()
                .iter()
                .any(|a| a.name().is_some_and(|n| n.ends_with(&suffix))),
            "{word} API is gone"
        );
        let alarms = c.cloudwatch[i].describe_alarms().send().await.unwrap();
        assert!(
            !alarms
                .metric_alarms()
                .iter()
                .any(|a| a.alarm_name().is_some_and(|n| n.ends_with(&suffix))),
            "{word} alarms are gone"
        );
    }
    let zones = c
        .route53
        .list_hosted_zones_by_name()
        .dns_name(format!("payments-{suffix}.example.com"))
        .send()
        .await
        .unwrap();
    assert!(
        !zones
            .hosted_zones()
            .iter()
            .any(|z| z.name() == format!("payments-{suffix}.example.com.")),
        "the zone is gone"
    );
    // The global database went last, once neither region's cluster was a member.
    let globals = c.rds[0].describe_global_clusters().send().await.unwrap();
    assert!(
        !globals
            .global_clusters()
            .iter()
            .any(|g| g.global_cluster_identifier()
                == Some(format!("payment-global-cluster-{suffix}").as_str())),
        "the global cluster is gone"
    );
    for (i, word) in ["primary", "dr"].into_iter().enumerate() {
        let secrets = c.secrets[i].list_secrets().send().await.unwrap();
        assert!(
            !secrets.secret_list().iter().any(
                |s| s.name().is_some_and(|n| n.contains(&suffix)) && s.deleted_date().is_none()
            ),
            "{word} secrets are gone"
        );
    }
    let left = leftovers(&c, &suffix, check_id).await;
    assert!(left.is_empty(), "left behind by destroy: {left:#?}");
    for (i, word) in ["primary", "dr"].into_iter().enumerate() {
        // KMS keys cannot be deleted at once: they wait out their deletion window.
        let key = c.kms[i]
            .describe_key()
            .key_id(&keys[i])
            .send()
            .await
            .unwrap();
        assert_eq!(
            key.key_metadata().unwrap().key_state(),
            Some(&aws_sdk_kms::types::KeyState::PendingDeletion),
            "{word} key is scheduled for deletion"
        );
    }
    // And the state records nothing: every delete was confirmed.
    let state = run(dir.path(), &[&set[..], &["state", "list"]].concat());
    assert!(state.status.success(), "{}", text(&state));
    assert!(text(&state).contains(": 0 resource(s)"), "{}", text(&state));
}

/// What of the stack (named with `suffix`) the sweep finds in the services the checks
/// above do not look at one by one: IAM, the health check, and per region KMS aliases,
/// SNS topics, certificates, Elastic IPs and NAT gateways not yet deleted.
async fn leftovers(c: &Clients, suffix: &str, check_id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let roles = c.iam.list_roles().send().await.unwrap();
    for role in roles.roles() {
        if role.role_name().ends_with(suffix) {
            found.push(format!("IAM role {}", role.role_name()));
        }
    }
    let policies = c
        .iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    for name in policies.policies().iter().filter_map(|p| p.policy_name()) {
        if name.ends_with(suffix) {
            found.push(format!("IAM policy {name}"));
        }
    }
    let checks = c.route53.list_health_checks().send().await.unwrap();
    if checks.health_checks().iter().any(|h| h.id() == check_id) {
        found.push(format!("health check {check_id}"));
    }
    for (i, word) in ["primary", "dr"].into_iter().enumerate() {
        let aliases = c.kms[i].list_aliases().send().await.unwrap();
        for name in aliases.aliases().iter().filter_map(|a| a.alias_name()) {
            if name.ends_with(suffix) {
                found.push(format!("{word} KMS alias {name}"));
            }
        }
        let topics = c.sns[i].list_topics().send().await.unwrap();
        for arn in topics.topics().iter().filter_map(|t| t.topic_arn()) {
            if arn.ends_with(suffix) {
                found.push(format!("{word} SNS topic {arn}"));
            }
        }
        let certs = c.acm[i].list_certificates().send().await.unwrap();
        for domain in certs
            .certificate_summary_list()
            .iter()
            .filter_map(|s| s.domain_name())
        {
            if domain.contains(suffix) {
                found.push(format!("{word} certificate {domain}"));
            }
        }
        let named = aws_sdk_ec2::types::Filter::builder()
            .name("tag:Name")
            .values(format!("*-{suffix}"))
            .build();
        let addresses = c.ec2[i]
            .describe_addresses()
            .filters(named.clone())
            .send()
            .await
            .unwrap();
        for address in addresses.addresses() {
            found.push(format!("{word} EIP {:?}", address.allocation_id()));
        }
        let nats = c.ec2[i]
            .describe_nat_gateways()
            .filter(named)
            .send()
            .await
            .unwrap();
        for nat in nats.nat_gateways() {
            if nat.state() != Some(&aws_sdk_ec2::types::NatGatewayState::Deleted) {
                found.push(format!("{word} NAT gateway {:?}", nat.nat_gateway_id()));
            }
        }
    }
    found
}

/// Runs the binary with the AWS endpoint at `endpoint` and `config` as its file.
fn run_with(endpoint: &str, config: &str, args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payment-dr.toml"), config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_payment-dr-stack"))
        .current_dir(dir.path())
        .args(["--config", "payment-dr.toml", "--state", "state.db"])
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the stack binary runs");
    (out, dir)
}

#[test]
fn bad_config_is_reported_whole_with_exit_code_1_and_no_request() {
    let counter = iac_tests::RequestCounter::start();
    let config = r#"
environment_suffix = "Prod_1"
primary_region = "us-east-1"
dr_region = "us-east-1"
vpc_cidr_primary = "10.0.0.0/16"
vpc_cidr_dr = "10.0.128.0/17"
availability_zones_count = 7
lambda_memory_size = 64
"#;
    let (out, dir) = run_with(counter.endpoint(), config, &["preview"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    for needle in [
        "environment_suffix",
        "dr_region",
        "must differ from primary_region",
        "vpc_cidr_dr",
        "overlaps",
        "availability_zones_count",
        "lambda_memory_size",
    ] {
        assert!(shown.contains(needle), "`{needle}` missing from:\n{shown}");
    }
    assert_eq!(counter.connections(), 0, "no request was sent");
    assert!(!dir.path().join("state.db").exists(), "nothing was written");

    let (out, _) = run_with(
        counter.endpoint(),
        "primary_region = \"us-east-1\"\n",
        &["preview"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("environment_suffix"), "{}", text(&out));
    let (out, _) = run_with(
        counter.endpoint(),
        "environment_suffix = \"dev\"\nno_such_key = 1\n",
        &["preview"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no_such_key"), "{}", text(&out));
    assert_eq!(counter.connections(), 0);
}

#[test]
fn preview_with_named_zones_needs_no_network_and_without_them_names_the_data_source() {
    // Nothing listens on this port: any request would fail.
    let dead = "http://127.0.0.1:9";
    let named = r#"
environment_suffix = "offline"
availability_zones_primary = ["us-east-1a", "us-east-1b", "us-east-1c"]
availability_zones_dr = ["us-east-2a", "us-east-2b", "us-east-2c"]
lambda_profile = "dev"
"#;
    let (out, _) = run_with(dead, named, &["preview", "--detailed-exitcode"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("132 to create"), "{shown}");
    assert!(
        shown.contains("10.1.176.0/20"),
        "values known before apply: {shown}"
    );

    let unnamed = "environment_suffix = \"offline\"\nlambda_profile = \"dev\"\n";
    let (out, _) = run_with(dead, unnamed, &["preview"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("availability-zones"), "{shown}");
}

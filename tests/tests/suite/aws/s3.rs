//! S3 buckets and their configuration against the emulator.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use iac_dsl::{Op, Provider, ResourceOptions, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::s3::{
    BucketArgs, BucketEncryptionArgs, BucketLifecycleArgs, BucketPublicAccessBlockArgs,
    BucketReplicationArgs, BucketVersioningArgs, LifecycleRule, ReplicationRule,
};
use serde_json::json;

use super::support::*;

const PRIMARY: &str = "us-east-1";
const DR: &str = "us-west-2";
const ROLE: &str = "arn:aws:iam::123456789012:role/s3-replication";

fn s3(region: &str) -> aws_sdk_s3::Client {
    let config = iac_tests::Moto::shared().sdk_config(region);
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn bucket_lifecycle_adoption_and_force_destroy() {
    let aws = aws(DR);
    let name = iac_tests::unique("payment-logs");
    let c = ctx("aws:s3/bucket", "logs");
    let inputs = json!({"bucket": name, "force_destroy": true, "tags": {"team": "payments"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert_eq!(created.outputs["region"], DR);
    assert_eq!(created.outputs["arn"], format!("arn:aws:s3:::{name}"));
    let mut recorded = read(&aws, &c, &name).await.unwrap();
    recorded.inputs["force_destroy"] = json!(true); // not readable: kept from state
    assert_eq!(recorded.inputs, inputs);
    assert_eq!(recorded.outputs, created.outputs);

    // A second create (a retry after a lost answer) adopts the bucket this resource made...
    let (again, _) = create(&aws, &c, inputs.clone()).await.expect("adopt");
    assert_eq!(again.id, name);
    // ...but never a bucket some other resource owns.
    let err = create(&aws, &ctx("aws:s3/bucket", "other"), inputs.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not this resource's"), "{err}");

    let changed = json!({"bucket": name, "force_destroy": true, "tags": {"team": "risk"}});
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    update(
        &aws,
        &c,
        &name,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(
        read(&aws, &c, &name).await.unwrap().inputs["tags"],
        json!({"team": "risk"})
    );
    let mut renamed = changed.clone();
    renamed["bucket"] = json!("another-name");
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["bucket"]);
    assert_eq!(
        lookup(&aws, &c, &token, changed.clone()).await.unwrap().id,
        name
    );
    assert!(
        lookup(
            &aws,
            &ctx("aws:s3/bucket", "stranger"),
            &token,
            changed.clone()
        )
        .await
        .is_none(),
        "lookup never claims a bucket tagged for another resource"
    );

    // Objects (several versions) do not stop a force_destroy delete.
    let raw = s3(DR);
    raw.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for body in ["one", "two"] {
        raw.put_object()
            .bucket(&name)
            .key("tx/1.json")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    delete(&aws, &c, &name, changed, created.outputs).await;
    assert!(read(&aws, &c, &name).await.is_none());
}

#[tokio::test]
async fn a_bucket_with_objects_is_kept_without_force_destroy() {
    let aws = aws(PRIMARY);
    let name = iac_tests::unique("keep-logs");
    let c = ctx("aws:s3/bucket", "keep");
    let inputs = json!({"bucket": name, "force_destroy": false, "tags": {}});
    let (created, _) = create(&aws, &c, inputs.clone()).await.unwrap();
    assert_eq!(created.outputs["region"], PRIMARY);
    s3(PRIMARY)
        .put_object()
        .bucket(&name)
        .key("k")
        .body(b"v".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = aws
        .delete(iac_dsl::DeleteRequest {
            ctx: c.clone(),
            id: name.clone(),
            inputs: inputs.clone(),
            outputs: created.outputs.clone(),
            timeout: None,
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&name) && err.contains("force_destroy"),
        "{err}"
    );
    assert!(read(&aws, &c, &name).await.is_some(), "the bucket is kept");
    let mut forced = inputs;
    forced["force_destroy"] = json!(true);
    delete(&aws, &c, &name, forced, created.outputs).await;
}

/// A bucket's versioning status read through the provider (the emulator's answer to
/// GetBucketVersioning has a root element the SDK rejects; the provider reads around it).
async fn versioning(region: &str, bucket: &str) -> String {
    let c = ctx("aws:s3/bucketVersioning", "v");
    read(&aws(region), &c, bucket)
        .await
        .expect("versioning is configured")
        .inputs["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The reference's storage layer: a versioned, encrypted, private bucket in each region,
/// lifecycle rules on the primary, and replication from the primary to the DR bucket.
fn storage_stack(suffix: &str, archive_days: i32) -> Stack {
    let mut stack = Stack::new("tests", &format!("storage-{suffix}"));
    let primary = stack.provider("aws-primary", aws(PRIMARY));
    let dr = stack.provider("aws-dr", aws(DR));
    let on = |p| ResourceOptions::default().provider(p);
    let mut versioning = Vec::new();
    for (side, provider) in [("primary", &primary), ("dr", &dr)] {
        let bucket = stack.add_with(
            &format!("{side}-bucket"),
            BucketArgs::new(format!("payment-transactions-{side}-{suffix}")).force_destroy(true),
            on(provider),
        );
        versioning.push(stack.add_with(
            &format!("{side}-versioning"),
            BucketVersioningArgs::new(bucket.bucket()),
            on(provider),
        ));
        stack.add_with(
            &format!("{side}-encryption"),
            BucketEncryptionArgs::new(bucket.bucket()),
            on(provider),
        );
        stack.add_with(
            &format!("{side}-public-access"),
            BucketPublicAccessBlockArgs::new(bucket.bucket()),
            on(provider),
        );
    }
    stack.add_with(
        "primary-lifecycle",
        BucketLifecycleArgs::new(versioning[0].bucket()).rule(
            LifecycleRule::new("archive")
                .prefix("transactions/")
                .transition(archive_days, "GLACIER")
                .noncurrent_version_expiration_days(365),
        ),
        on(&primary),
    );
    stack.add_with(
        "replication",
        BucketReplicationArgs::new(&versioning[0], ROLE)
            .rule(ReplicationRule::new("replicate-all", &versioning[1])),
        on(&primary),
    );
    stack
}

#[tokio::test]
async fn storage_layer_deploys_in_two_regions_detects_drift_and_is_destroyed() {
    let suffix = iac_tests::unique("s").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let options = RunOptions::default();

    // Replication waits for the versioning of both buckets: the plan says so.
    let plan = engine::preview(&storage_stack(&suffix, 90), &store, &options, false)
        .await
        .unwrap();
    let replication = plan.steps.iter().find(|s| s.name == "replication").unwrap();
    for needed in ["primary-versioning", "dr-versioning"] {
        assert!(
            replication.dependencies.iter().any(|d| d == needed),
            "{:?}",
            replication.dependencies
        );
    }

    succeeded(
        engine::up(
            storage_stack(&suffix, 90),
            store.clone(),
            &options,
            false,
            &mut |_| true,
        )
        .await,
        "up",
    );
    let primary_bucket = format!("payment-transactions-primary-{suffix}");
    let dr_bucket = format!("payment-transactions-dr-{suffix}");
    let (p, d) = (s3(PRIMARY), s3(DR));
    for (region, bucket) in [(PRIMARY, &primary_bucket), (DR, &dr_bucket)] {
        assert_eq!(versioning(region, bucket).await, "Enabled", "{bucket}");
    }
    for (client, bucket) in [(&p, &primary_bucket), (&d, &dr_bucket)] {
        let e = client
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let rule = &e.server_side_encryption_configuration().unwrap().rules()[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .unwrap()
                .sse_algorithm()
                .as_str(),
            "AES256"
        );
        let block = client
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(
            block
                .public_access_block_configuration()
                .unwrap()
                .block_public_acls(),
            Some(true)
        );
    }
    let location = d
        .get_bucket_location()
        .bucket(&dr_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(location.location_constraint().unwrap().as_str(), DR);
    let replication = p
        .get_bucket_replication()
        .bucket(&primary_bucket)
        .send()
        .await
        .unwrap();
    let config = replication.replication_configuration().unwrap();
    assert_eq!(config.role(), ROLE);
    assert_eq!(
        config.rules()[0].destination().unwrap().bucket(),
        format!("arn:aws:s3:::{dr_bucket}")
    );
    let lifecycle = p
        .get_bucket_lifecycle_configuration()
        .bucket(&primary_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(lifecycle.rules()[0].transitions()[0].days(), Some(90));

    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(&storage_stack(&suffix, 90), &store, &refreshed, false)
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.counts());

    // Drift: versioning suspended behind the engine's back shows as an update.
    d.put_bucket_versioning()
        .bucket(&dr_bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // A changed lifecycle rule is an update in place too.
    let drifted = engine::preview(&storage_stack(&suffix, 120), &store, &refreshed, false)
        .await
        .unwrap();
    let changes: Vec<(&str, Op)> = drifted
        .steps
        .iter()
        .filter(|s| s.op.is_change())
        .map(|s| (s.name.as_str(), s.op))
        .collect();
    assert_eq!(
        changes,
        [
            ("dr-versioning", Op::Update),
            ("primary-lifecycle", Op::Update)
        ]
    );
    let versioning_diff = &drifted
        .steps
        .iter()
        .find(|s| s.name == "dr-versioning")
        .unwrap()
        .diffs;
    assert!(
        format!("{versioning_diff:?}").contains("Suspended"),
        "{versioning_diff:?}"
    );
    succeeded(
        engine::up(
            storage_stack(&suffix, 120),
            store.clone(),
            &refreshed,
            false,
            &mut |_| true,
        )
        .await,
        "up repairs the drift",
    );
    assert_eq!(versioning(DR, &dr_bucket).await, "Enabled");

    succeeded(
        engine::up(
            storage_stack(&suffix, 120),
            store.clone(),
            &options,
            true,
            &mut |_| true,
        )
        .await,
        "destroy",
    );
    for (client, bucket) in [(&p, &primary_bucket), (&d, &dr_bucket)] {
        iac_tests::assert_not_found(
            client.head_bucket().bucket(bucket).send().await,
            "NotFound",
            &format!("{bucket} is gone"),
        );
    }
}

#[tokio::test]
async fn bad_bucket_declarations_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-storage");
    stack.provider("aws", Aws::from_config(counter.sdk_config(PRIMARY)));
    stack.add("upper", BucketArgs::new("Payment-Logs"));
    stack.add("short", BucketArgs::new("ab"));
    stack.add("ip", BucketArgs::new("10.0.0.1"));
    let ok = stack.add("ok", BucketArgs::new("payment-logs-ok"));
    let versioning = stack.add("ok-versioning", BucketVersioningArgs::new(ok.bucket()));
    stack.add(
        "lifecycle",
        BucketLifecycleArgs::new(ok.bucket())
            .rule(LifecycleRule::new("ia").transition(7, "STANDARD_IA")),
    );
    stack.add(
        "replication",
        BucketReplicationArgs::new(&versioning, "not-a-role")
            .rule(ReplicationRule::new("r", &versioning).storage_class("TAPE")),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let errors = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "no request was sent");
    for needle in [
        "upper (aws:s3/bucket)",
        "`P`",
        "short (aws:s3/bucket)",
        "3..63",
        "ip (aws:s3/bucket)",
        "IP address",
        "lifecycle (aws:s3/bucketLifecycle)",
        "at least 30 days",
        "replication (aws:s3/bucketReplication)",
        "not an IAM role ARN",
        "`TAPE`",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }
}

//! Secrets Manager secrets (with replicas) and secret values against the emulator.

use iac_dsl::value::{is_secret, reveal};
use iac_dsl::{FieldErrors, ResourceArgs};
use iac_providers::aws::Aws;
use iac_providers::aws::secretsmanager::{Replica, SecretArgs};
use serde_json::json;

use super::support::*;

const REGION: &str = "us-east-1";

#[tokio::test]
async fn secret_with_replicas_lifecycle_and_drift() {
    let aws = aws(REGION);
    let name = iac_tests::unique("payment-db");
    let c = ctx("aws:secretsmanager/secret", &name);
    let inputs = json!({"name": name, "description": "db credentials", "kms_key_id": null, "replicas": [{"region": "us-west-2", "kms_key_id": null}], "recovery_window_in_days": 0, "tags": {"tier": "db"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert!(created.id.starts_with("arn:aws:secretsmanager:us-east-1:"));
    let req = |id: &str| iac_dsl::ReadRequest {
        ctx: c.clone(),
        id: id.into(),
        inputs: inputs.clone(),
        ..Default::default()
    };
    use iac_dsl::Provider;
    let back = aws.read(req(&created.id)).await.unwrap().unwrap();
    assert_eq!(back.inputs, inputs);

    let changed = json!({"name": name, "description": "rotated", "kms_key_id": null, "replicas": [], "recovery_window_in_days": 0, "tags": {}});
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    update(
        &aws,
        &c,
        &created.id,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(
        aws.read(req(&created.id)).await.unwrap().unwrap().inputs,
        changed
    );
    let mut renamed = changed.clone();
    renamed["name"] = json!("other");
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["name"]);
    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        created.id
    );

    // The value, as a version resource.
    let vc = ctx("aws:secretsmanager/secretVersion", "value");
    let value = json!({"secret_id": created.id, "secret_string": "s3cr3t-one"});
    let (v, _) = create(&aws, &vc, value.clone()).await.expect("put value");
    let seen = aws
        .read(iac_dsl::ReadRequest {
            ctx: vc.clone(),
            id: v.id.clone(),
            inputs: value.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .unwrap();
    assert!(
        is_secret(&seen.inputs["secret_string"]),
        "the value reads back as secret"
    );
    assert_eq!(reveal(&seen.inputs["secret_string"]), "s3cr3t-one");
    let first_version = v.outputs["version_id"].clone();
    let next = json!({"secret_id": created.id, "secret_string": "s3cr3t-two"});
    assert!(
        replace_keys(&aws, &vc, &value, &next).is_empty(),
        "a new value is an update"
    );
    let out = update(&aws, &vc, &v.id, value, next, v.outputs.clone()).await;
    assert_ne!(
        out["version_id"], first_version,
        "a new value is a new version"
    );

    // Drift: deleted behind the provider's back.
    let raw = aws_sdk_secretsmanager::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    raw.delete_secret()
        .secret_id(&created.id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert!(
        aws.read(req(&created.id)).await.unwrap().is_none(),
        "a deleted secret reads as gone"
    );
    delete(&aws, &c, &created.id, changed, created.outputs).await;
}

#[tokio::test]
async fn bad_secret_arguments_fail_before_any_request() {
    let mut errors = FieldErrors::default();
    SecretArgs::new("db password!")
        .recovery_window_in_days(3)
        .replica(Replica::new("us-middle-9"))
        .validate(&mut errors);
    let text = format!("{errors:?}");
    for field in [
        "\"name\"",
        "recovery_window_in_days",
        "replicas[0].region",
        "us-middle-9",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config(REGION));
    let err = create(&aws, &ctx("aws:secretsmanager/secret", "s"), json!({"name": "ok", "description": "", "kms_key_id": null, "replicas": [{"region": "us-east-1", "kms_key_id": null}], "recovery_window_in_days": 7, "tags": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("own region"), "{err}");
    let err = create(&aws, &ctx("aws:secretsmanager/secret", "s"), json!({"name": "ok", "description": "", "kms_key_id": null, "replicas": [{"region": "mars-1", "kms_key_id": null}], "recovery_window_in_days": 7, "tags": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mars-1"), "{err}");
    assert_eq!(counter.connections(), 0);
}

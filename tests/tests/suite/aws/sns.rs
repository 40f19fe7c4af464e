//! SNS topics against the emulator.

use iac_providers::aws::Aws;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn topic_lifecycle() {
    let aws = aws("us-east-1");
    let name = iac_tests::unique("payment-alerts");
    let c = ctx("aws:sns/topic", &name);
    let inputs = json!({"name": name, "display_name": "Payments", "kms_master_key_id": null, "tags": {"team": "payments"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert!(created.id.starts_with("arn:aws:sns:us-east-1:") && created.id.ends_with(&name));
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, inputs);
    let changed = json!({"name": name, "display_name": "Payment alerts", "kms_master_key_id": "alias/aws/sns", "tags": {}});
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
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, changed);
    let mut renamed = changed.clone();
    renamed["name"] = json!("other");
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["name"]);
    assert_eq!(
        lookup(&aws, &c, &token, inputs).await.unwrap().id,
        created.id
    );
    delete(&aws, &c, &created.id, changed, created.outputs).await;
    assert!(read(&aws, &c, &created.id).await.is_none());
}

#[tokio::test]
async fn bad_topic_name_fails_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config("us-east-1"));
    let err = create(
        &aws,
        &ctx("aws:sns/topic", "t"),
        json!({"name": "alerts!", "display_name": "", "kms_master_key_id": null, "tags": {}}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    assert_eq!(counter.connections(), 0);
}

//! KMS keys and aliases against the emulator.

use iac_dsl::{FieldErrors, ResourceArgs};
use iac_providers::aws::Aws;
use iac_providers::aws::kms::{AliasArgs, KeyArgs};
use serde_json::json;

use super::support::*;

const REGION: &str = "us-west-2";

#[tokio::test]
async fn key_lifecycle_and_drift() {
    let aws = aws(REGION);
    let c = ctx("aws:kms/key", &iac_tests::unique("key"));
    let inputs = json!({"description": "aurora", "deletion_window_in_days": 7, "enable_key_rotation": true, "multi_region": false, "tags": {"use": "db"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert!(created.outputs["arn"].as_str().unwrap().contains(":key/"));
    let mut req_inputs = read(&aws, &c, &created.id).await;
    // read keeps the recorded deletion window (AWS does not store it).
    if let Some(r) = req_inputs.as_mut() {
        r.inputs["deletion_window_in_days"] = json!(7);
    }
    assert_eq!(req_inputs.unwrap().inputs, inputs);

    let changed = json!({"description": "aurora db", "deletion_window_in_days": 7, "enable_key_rotation": false, "multi_region": false, "tags": {"use": "s3"}});
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
    let mut back = read(&aws, &c, &created.id).await.unwrap().inputs;
    back["deletion_window_in_days"] = json!(7);
    assert_eq!(back, changed);
    let mut multi = changed.clone();
    multi["multi_region"] = json!(true);
    assert_eq!(replace_keys(&aws, &c, &changed, &multi), ["multi_region"]);

    // Drift: the description changed behind the provider's back.
    let raw = aws_sdk_kms::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    raw.update_key_description()
        .key_id(&created.id)
        .description("edited")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&aws, &c, &created.id).await.unwrap().inputs["description"],
        "edited"
    );

    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        created.id
    );
    delete(&aws, &c, &created.id, changed, created.outputs).await;
    assert!(
        read(&aws, &c, &created.id).await.is_none(),
        "a key pending deletion is gone"
    );
    assert!(lookup(&aws, &c, &token, inputs).await.is_none());
}

#[tokio::test]
async fn alias_lifecycle() {
    let aws = aws(REGION);
    let key = |d: &str| json!({"description": d, "deletion_window_in_days": 7, "enable_key_rotation": false, "multi_region": false, "tags": {}});
    let k1 = create(&aws, &ctx("aws:kms/key", "k1"), key("one"))
        .await
        .unwrap()
        .0
        .id;
    let k2 = create(&aws, &ctx("aws:kms/key", "k2"), key("two"))
        .await
        .unwrap()
        .0
        .id;
    let c = ctx("aws:kms/alias", "alias");
    let name = format!("alias/{}", iac_tests::unique("payments"));
    let inputs = json!({"name": name, "target_key_id": k1});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("alias");
    assert_eq!(created.id, name);
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, inputs);
    let moved = json!({"name": name, "target_key_id": k2});
    assert!(replace_keys(&aws, &c, &inputs, &moved).is_empty());
    update(
        &aws,
        &c,
        &name,
        inputs.clone(),
        moved.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, moved);
    let renamed = json!({"name": "alias/other", "target_key_id": k2});
    assert_eq!(replace_keys(&aws, &c, &moved, &renamed), ["name"]);
    assert_eq!(
        lookup(&aws, &c, &token, moved.clone()).await.unwrap().id,
        name
    );
    delete(&aws, &c, &name, moved, created.outputs).await;
    assert!(read(&aws, &c, &name).await.is_none());
}

#[tokio::test]
async fn bad_key_and_alias_arguments_fail_before_any_request() {
    let mut errors = FieldErrors::default();
    KeyArgs::new("k")
        .deletion_window_in_days(3)
        .validate(&mut errors);
    AliasArgs::new("alias/aws/mine", "key").validate(&mut errors);
    AliasArgs::new("payments", "key").validate(&mut errors);
    let text = format!("{errors:?}");
    assert!(
        text.contains("deletion_window_in_days")
            && text.contains("reserved")
            && text.contains("must start with `alias/`"),
        "{text}"
    );

    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config(REGION));
    let err = create(&aws, &ctx("aws:kms/key", "k"), json!({"description": "", "deletion_window_in_days": 45, "enable_key_rotation": true, "multi_region": false, "tags": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deletion_window_in_days"), "{err}");
    let err = create(
        &aws,
        &ctx("aws:kms/alias", "a"),
        json!({"name": "alias/a b", "target_key_id": "k"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    assert_eq!(counter.connections(), 0);
}

#[tokio::test]
async fn a_lost_create_key_answer_is_adopted() {
    let moto = iac_tests::Moto::shared();
    let proxy = iac_tests::LossyProxy::start(moto.endpoint(), "TrentService.CreateKey", 1);
    let lossy = Aws::from_config(proxy.sdk_config(REGION));
    let c = ctx("aws:kms/key", &iac_tests::unique("lossy-key"));
    let inputs = json!({"description": "lossy", "deletion_window_in_days": 7, "enable_key_rotation": false, "multi_region": false, "tags": {}});
    let (created, token) = create(&lossy, &c, inputs.clone()).await.expect("adopted");
    assert_eq!(proxy.matched(), 1, "CreateKey was sent once");
    let direct = aws(REGION);
    assert_eq!(
        lookup(&direct, &c, &token, inputs).await.unwrap().id,
        created.id
    );
}

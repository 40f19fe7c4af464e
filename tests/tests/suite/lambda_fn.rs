//! The payment processor Lambda's handler against the emulator, with the real S3 store and
//! health probes: idempotent writes to a real bucket, and health following the bucket.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use payment_processor::{AwsProbe, Config, Deps, HttpReply, S3Store, aws_deps, handle, object_key};
use serde_json::{Value, json};
use time::OffsetDateTime;

const REGION: &str = "us-east-1";

fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

async fn create_bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = iac_tests::unique("payments");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// Creates a database secret in `region` and returns its ARN.
async fn create_secret(sdk: &aws_config::SdkConfig, region: &str) -> String {
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .region(aws_sdk_secretsmanager::config::Region::new(
                region.to_string(),
            ))
            .build(),
    );
    let created = secrets
        .create_secret()
        .name(iac_tests::unique("payments-db"))
        .secret_string(r#"{"username":"payments","password":"not-a-real-password"}"#)
        .send()
        .await
        .expect("create secret");
    created.arn().expect("secret ARN").to_string()
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn get(deps: &Deps<S3Store, AwsProbe>, path: &str) -> HttpReply {
    handle(deps, "GET", path, b"", OffsetDateTime::now_utc()).await
}

async fn post(deps: &Deps<S3Store, AwsProbe>, body: &Value) -> HttpReply {
    handle(
        deps,
        "POST",
        "/prod/payment",
        body.to_string().as_bytes(),
        OffsetDateTime::now_utc(),
    )
    .await
}

#[tokio::test]
async fn retried_payment_is_written_once() {
    let sdk = iac_tests::Moto::shared().sdk_config(REGION);
    let s3 = s3_client(&sdk);
    let bucket = create_bucket(&s3).await;
    let secret_arn = create_secret(&sdk, REGION).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let deps = Deps::new(
        REGION,
        S3Store::new(s3.clone(), &bucket),
        AwsProbe::new(s3.clone(), &bucket, secrets, secret_arn, "localhost"),
    );
    let token = "tok_mastercard_8bN2xQ";
    let payment = json!({
        "amount": 4999,
        "currency": "GBP",
        "merchant_id": "merchant_7",
        "card_token": token,
        "idempotency_key": iac_tests::unique("order"),
    });

    let first = post(&deps, &payment).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = post(&deps, &payment).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["transaction_id"], first.body["transaction_id"]);
    assert_eq!(second.body, first.body);

    let key = object_key(payment["idempotency_key"].as_str().unwrap());
    assert_eq!(keys(&s3, &bucket).await, std::slice::from_ref(&key));
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("get record");
    let bytes = object.body.collect().await.unwrap().into_bytes();
    let stored: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(stored, first.body);
    assert!(!String::from_utf8_lossy(&bytes).contains(token));

    let mut conflicting = payment.clone();
    conflicting["amount"] = json!(5000);
    assert_eq!(post(&deps, &conflicting).await.status, 409);
    assert_eq!(keys(&s3, &bucket).await.len(), 1);
}

#[tokio::test]
async fn health_follows_the_bucket() {
    let moto = iac_tests::Moto::shared();
    let sdk = moto.sdk_config(REGION);
    let s3 = s3_client(&sdk);
    let bucket = create_bucket(&s3).await;
    // The secret lives in another region: the probe must read it there.
    let secret_arn = create_secret(&sdk, "us-west-2").await;
    let config = Config::from_lookup(|name| {
        Some(
            match name {
                "REGION" => REGION,
                "S3_BUCKET" => &bucket,
                "DB_ENDPOINT" => "localhost",
                "DB_NAME" => "payments",
                "DB_SECRET_ARN" => &secret_arn,
                "ENVIRONMENT_SUFFIX" => "test",
                _ => return None,
            }
            .to_string(),
        )
    })
    .expect("config");
    assert_eq!(config.secret_region(), "us-west-2");
    let deps = aws_deps(&sdk, &config);
    // The replication lag CloudWatch holds for the cluster (the endpoint's first label).
    aws_sdk_cloudwatch::Client::new(&sdk)
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("AuroraGlobalDBReplicationLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBClusterIdentifier")
                        .value("localhost")
                        .build(),
                )
                .value(1234.0)
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                    std::time::SystemTime::now(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("put metric data");

    let healthy = get(&deps, "/prod/health").await;
    assert_eq!(healthy.status, 200, "{}", healthy.body);
    assert_eq!(
        healthy.body["replication_lag_ms"],
        json!(1234.0),
        "{}",
        healthy.body
    );
    assert_eq!(healthy.body["status"], "healthy");
    assert_eq!(healthy.body["region"], REGION);

    // Give the bucket an object, then empty and delete it.
    let payment = json!({"amount": 100, "currency": "USD", "merchant_id": "m1", "card_token": "tok_x", "idempotency_key": iac_tests::unique("k")});
    assert_eq!(post(&deps, &payment).await.status, 201);
    let objects = keys(&s3, &bucket)
        .await
        .into_iter()
        .map(|key| ObjectIdentifier::builder().key(key).build().unwrap())
        .collect::<Vec<_>>();
    s3.delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("empty bucket");
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete bucket");

    let unhealthy = get(&deps, "/health").await;
    assert_eq!(unhealthy.status, 503, "{}", unhealthy.body);
    assert_eq!(unhealthy.body["status"], "unhealthy");
    let checks = &unhealthy.body["checks"];
    assert_eq!(checks["bucket"]["ok"], false);
    assert!(
        checks["bucket"]["error"]
            .as_str()
            .unwrap()
            .contains(&bucket)
    );
    assert_eq!(checks["db_secret"], json!({"ok": true}));
    assert_eq!(checks["db_endpoint"], json!({"ok": true}));
    assert!(!unhealthy.body.to_string().contains("not-a-real-password"));
}

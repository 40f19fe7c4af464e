//! CloudWatch metric alarms against the emulator.

use iac_dsl::{FieldErrors, ResourceArgs};
use iac_providers::aws::Aws;
use iac_providers::aws::cloudwatch::MetricAlarmArgs;
use serde_json::{Value, json};

use super::support::*;

fn alarm(name: &str, threshold: f64, topic: &str) -> Value {
    json!({
        "name": name, "description": "Lambda errors", "namespace": "AWS/Lambda",
        "metric_name": "Errors", "statistic": "Sum", "period": 300, "evaluation_periods": 2,
        "threshold": threshold, "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching", "dimensions": {"FunctionName": "payment-processor"},
        "alarm_actions": [topic], "ok_actions": [], "tags": {"severity": "high"}
    })
}

#[tokio::test]
async fn alarm_lifecycle_and_drift() {
    let aws = aws("us-east-1");
    let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
    let name = iac_tests::unique("lambda-errors");
    let c = ctx("aws:cloudwatch/metricAlarm", &name);
    let inputs = alarm(&name, 10.0, topic);
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, inputs);
    let mut changed = alarm(&name, 5.0, topic);
    changed["tags"] = json!({"severity": "low"});
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
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, changed);
    let renamed = alarm("other", 5.0, topic);
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["name"]);
    assert_eq!(lookup(&aws, &c, &token, inputs).await.unwrap().id, name);

    // Drift: the alarm deleted out of band.
    let raw = aws_sdk_cloudwatch::Client::new(&iac_tests::Moto::shared().sdk_config("us-east-1"));
    raw.delete_alarms().alarm_names(&name).send().await.unwrap();
    assert!(
        read(&aws, &c, &name).await.is_none(),
        "a deleted alarm reads as gone"
    );
    delete(&aws, &c, &name, changed, created.outputs).await;
}

#[tokio::test]
async fn bad_alarm_arguments_fail_before_any_request() {
    let mut errors = FieldErrors::default();
    MetricAlarmArgs::new("a", "AWS/Lambda", "Errors", "Median", "BiggerThan", 1.0)
        .period(45)
        .evaluation_periods(0)
        .validate(&mut errors);
    let text = format!("{errors:?}");
    for field in [
        "statistic",
        "comparison_operator",
        "BiggerThan",
        "period",
        "evaluation_periods",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config("us-east-1"));
    let mut bad = alarm("a", 1.0, "arn:aws:sns:us-east-1:1:t");
    bad["comparison_operator"] = json!("Above");
    let err = create(&aws, &ctx("aws:cloudwatch/metricAlarm", "a"), bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("comparison_operator"), "{err}");
    assert_eq!(counter.connections(), 0);
}

/// The switchover's lag read finds a datapoint published in the same second as the read:
/// the emulator compares `EndTime` (exclusive) in whole seconds, so a window ending at
/// "now" missed it (the defect of RELIABILITY.md, "The switchover lag read").
#[tokio::test]
async fn the_lag_read_finds_a_datapoint_of_the_same_second() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let region = "us-east-2";
    let cluster = iac_tests::unique("lag-cluster");
    let moto = iac_tests::Moto::shared();
    let aws = aws(region);
    // Wait for the start of a second, so that the put and the read share it.
    let fraction = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - fraction) + 20)).await;
    let published = SystemTime::now() + Duration::from_millis(100);
    iac_tests::put_replication_lag(&moto.sdk_config(region), &cluster, 4321.0, published).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let arn = format!("arn:aws:rds:{region}:123456789012:cluster:{cluster}");
    let lag = iac_providers::aws::rds::replication_lag_ms(&aws, region, &arn)
        .await
        .unwrap();
    let read_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    assert_eq!(lag, Some(4321.0), "read at +{read_at} ms into the second");
}

fn dashboard(name: &str, function: &str) -> Value {
    let body = json!({"widgets": [{
        "type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
        "properties": {"metrics": [["AWS/Lambda", "Errors", "FunctionName", function]],
                       "region": "us-east-1", "title": "Payment errors"}
    }]});
    json!({"name": name, "body": body.to_string()})
}

#[tokio::test]
async fn dashboard_lifecycle_and_drift() {
    let aws = aws("us-east-1");
    let raw = aws_sdk_cloudwatch::Client::new(&iac_tests::Moto::shared().sdk_config("us-east-1"));
    let name = iac_tests::unique("payments");
    let c = ctx("aws:cloudwatch/dashboard", &name);
    let inputs = dashboard(&name, "payment-processor-primary");
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert!(
        created.outputs["arn"].as_str().unwrap().ends_with(&name),
        "{:?}",
        created.outputs
    );
    let got = raw
        .get_dashboard()
        .dashboard_name(&name)
        .send()
        .await
        .unwrap();
    assert!(
        got.dashboard_body()
            .unwrap()
            .contains("payment-processor-primary")
    );
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, inputs);

    // The body updates in place; a body that differs only in spacing plans nothing.
    let changed = dashboard(&name, "payment-processor-dr");
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    let mut spaced = inputs.clone();
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<Value>(inputs["body"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    spaced["body"] = json!(pretty);
    let verdict = iac_dsl::Provider::diff(
        &aws,
        &iac_dsl::DiffRequest {
            ctx: &c,
            id: &name,
            old_inputs: &inputs,
            new_inputs: &spaced,
            old_outputs: &created.outputs,
            changed_keys: &["body".to_string()],
        },
    )
    .expect("diff");
    assert_eq!(verdict.equivalent_keys, ["body"]);
    update(
        &aws,
        &c,
        &name,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, changed);
    assert_eq!(
        replace_keys(&aws, &c, &changed, &dashboard("other", "f")),
        ["name"]
    );
    assert_eq!(
        lookup(&aws, &c, &token, changed.clone()).await.unwrap().id,
        name
    );

    delete(&aws, &c, &name, changed.clone(), created.outputs.clone()).await;
    assert!(read(&aws, &c, &name).await.is_none(), "deleted");
    // Deleting again (a lost answer repeated) succeeds.
    delete(&aws, &c, &name, changed, created.outputs).await;
}

#[tokio::test]
async fn bad_dashboard_arguments_fail_before_any_request() {
    use iac_providers::aws::cloudwatch::DashboardArgs;
    let mut errors = FieldErrors::default();
    DashboardArgs::new("no spaces allowed", "{\"widgets\": 1}").validate(&mut errors);
    let text = format!("{errors:?}");
    assert!(
        text.contains("name") && text.contains("letters, digits"),
        "{text}"
    );
    assert!(
        text.contains("body") && text.contains("`widgets` list"),
        "{text}"
    );
    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config("us-east-1"));
    let err = create(
        &aws,
        &ctx("aws:cloudwatch/dashboard", "d"),
        json!({"name": "d", "body": "not json"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(counter.connections(), 0);
}

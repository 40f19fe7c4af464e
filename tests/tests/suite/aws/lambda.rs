//! Lambda functions and permissions against the emulator.

use std::path::Path;

use iac_dsl::asset::{Asset, ZipEntry, zip_asset};
use iac_dsl::{Provider, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::lambda::{FunctionArgs, PermissionArgs};
use serde_json::{Value, json};

use super::support::*;

const REGION: &str = "us-east-1";

/// A deployable zip holding a `bootstrap` with `body`.
fn code(dir: &Path, body: &str) -> Asset {
    let source = dir.join(format!("bootstrap-{}", body.len()));
    std::fs::write(&source, body).unwrap();
    zip_asset(
        &dir.join(format!("function-{}.zip", body.len())),
        &[ZipEntry {
            name: "bootstrap".into(),
            contents: body.as_bytes().to_vec(),
            executable: true,
        }],
    )
    .unwrap()
}

/// An IAM role Lambda may assume.
async fn lambda_role() -> String {
    let iam = aws_sdk_iam::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    });
    iam.create_role()
        .role_name(iac_tests::unique("lambda-role"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string()
}

/// A VPC with one subnet and one security group, made directly with the SDK.
async fn network() -> (String, String) {
    let ec2 = aws_sdk_ec2::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.77.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();
    let sg = ec2
        .create_security_group()
        .group_name(iac_tests::unique("lambda-sg"))
        .description("lambda")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    (subnet, sg)
}

fn function_inputs(
    name: &str,
    role: &str,
    code: &Asset,
    memory: i32,
    vpc: &(String, String),
) -> Value {
    json!({
        "function_name": name,
        "role": role,
        "code_sha256": code.sha256_hex(),
        "runtime": "provided.al2023",
        "handler": "bootstrap",
        "timeout": 30,
        "memory_size": memory,
        "architecture": "x86_64",
        "description": "payments",
        "environment": {"REGION": REGION, "S3_BUCKET": "payments"},
        "subnet_ids": [vpc.0],
        "security_group_ids": [vpc.1],
        "tags": {"team": "payments"},
    })
}

#[tokio::test]
async fn function_lifecycle_code_updates_and_memory_drift() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = code(dir.path(), "#!/bin/sh\necho one\n");
    let v2 = code(dir.path(), "#!/bin/sh\necho two, longer\n");
    let role = lambda_role().await;
    let vpc = network().await;
    let aws = aws(REGION);
    let name = iac_tests::unique("payment-processor");
    let c = ctx("aws:lambda/function", "processor");
    let inputs = function_inputs(&name, &role, &v1, 256, &vpc);
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert_eq!(created.outputs["code_sha256"], v1.sha256_hex());
    let arn = created.outputs["arn"].as_str().unwrap().to_string();
    assert_eq!(
        created.outputs["invoke_arn"],
        format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations")
    );
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, inputs);

    // New memory and new code: both update in place.
    let changed = function_inputs(&name, &role, &v2, 512, &vpc);
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    let outputs = update(
        &aws,
        &c,
        &name,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(outputs["code_sha256"], v2.sha256_hex());
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, changed);
    let mut renamed = changed.clone();
    renamed["function_name"] = json!("another");
    assert_eq!(
        replace_keys(&aws, &c, &changed, &renamed),
        ["function_name"]
    );

    // Drift: memory changed behind the engine's back shows in read.
    let raw = aws_sdk_lambda::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    raw.update_function_configuration()
        .function_name(&name)
        .memory_size(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&aws, &c, &name).await.unwrap().inputs["memory_size"],
        1024
    );

    // A retried create adopts the function it made; another resource's create does not.
    let (again, _) = create(&aws, &c, changed.clone()).await.expect("adopt");
    assert_eq!(again.id, name);
    let err = create(&aws, &ctx("aws:lambda/function", "other"), changed.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not managed by this stack"), "{err}");
    assert_eq!(
        lookup(&aws, &c, &token, changed.clone()).await.unwrap().id,
        name
    );

    delete(&aws, &c, &name, changed, outputs).await;
    assert!(read(&aws, &c, &name).await.is_none());
}

#[tokio::test]
async fn permission_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let zip = code(dir.path(), "#!/bin/sh\necho permission\n");
    let role = lambda_role().await;
    let aws = aws(REGION);
    let name = iac_tests::unique("invoked");
    let fc = ctx("aws:lambda/function", "invoked");
    let mut inputs = function_inputs(&name, &role, &zip, 128, &(String::new(), String::new()));
    inputs["subnet_ids"] = json!([]);
    inputs["security_group_ids"] = json!([]);
    let (function, _) = create(&aws, &fc, inputs.clone()).await.unwrap();

    let c = ctx("aws:lambda/permission", "api-invoke");
    let source = "arn:aws:execute-api:us-east-1:123456789012:abc123/*/*";
    let permission = json!({
        "function_name": name,
        "statement_id": "AllowAPIGatewayInvoke",
        "action": "lambda:InvokeFunction",
        "principal": "apigateway.amazonaws.com",
        "source_arn": source,
    });
    let (created, token) = create(&aws, &c, permission.clone()).await.expect("create");
    assert_eq!(created.id, format!("{name}/AllowAPIGatewayInvoke"));
    assert_eq!(
        read(&aws, &c, &created.id).await.unwrap().inputs,
        permission
    );
    let mut other_source = permission.clone();
    other_source["source_arn"] = json!("arn:aws:execute-api:us-east-1:123456789012:xyz/*/*");
    assert_eq!(
        replace_keys(&aws, &c, &permission, &other_source),
        ["source_arn"]
    );
    assert_eq!(
        lookup(&aws, &c, &token, permission.clone())
            .await
            .unwrap()
            .id,
        created.id
    );
    delete(&aws, &c, &created.id, permission, created.outputs).await;
    assert!(read(&aws, &c, &created.id).await.is_none());
    delete(&aws, &fc, &name, inputs, function.outputs).await;
}

#[tokio::test]
async fn bad_function_declarations_fail_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let zip = code(dir.path(), "x");
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-lambda");
    stack.provider("aws", Aws::from_config(counter.sdk_config(REGION)));
    let role = "arn:aws:iam::123456789012:role/lambda";
    stack.add(
        "tiny",
        FunctionArgs::new("tiny", role, &zip).memory_size(64),
    );
    stack.add(
        "huge",
        FunctionArgs::new("huge", role, &zip)
            .memory_size(20480)
            .timeout(901),
    );
    stack.add(
        "misc",
        FunctionArgs::new("bad.name", "lambda-role", &zip)
            .runtime("nodejs4.3")
            .env("AWS_REGION", "x"),
    );
    stack.add(
        "perm",
        PermissionArgs::new(
            "ok",
            "has spaces",
            "s3:GetObject",
            "apigateway.amazonaws.com",
        ),
    );
    let state_dir = tempfile::tempdir().unwrap();
    let store = open_store(&state_dir);
    let errors = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "no request was sent");
    for needle in [
        "tiny (aws:lambda/function)",
        "64 MB is outside 128..=10240 MB",
        "huge (aws:lambda/function)",
        "20480 MB",
        "901 s",
        "misc (aws:lambda/function)",
        "function_name",
        "not an IAM role ARN",
        "nodejs4.3",
        "AWS_REGION",
        "perm (aws:lambda/permission)",
        "statement_id",
        "not a Lambda action",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }
    // The provider refuses the same bad inputs if they reach it another way.
    let err = Aws::from_config(counter.sdk_config(REGION))
        .create(iac_dsl::CreateRequest {
            ctx: ctx("aws:lambda/function", "tiny"),
            inputs: json!({
                "function_name": "tiny", "role": role, "code_sha256": zip.sha256_hex(),
                "runtime": "provided.al2023", "handler": "bootstrap", "timeout": 3,
                "memory_size": 64, "architecture": "x86_64",
            }),
            token: "t".into(),
            timeout: None,
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("memory_size"), "{err}");
    assert_eq!(counter.connections(), 0);
}

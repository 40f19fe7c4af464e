//! IAM types against the emulator: role, managed policy, attachment, inline policy.

use iac_dsl::{FieldErrors, ResourceArgs};
use iac_providers::aws::Aws;
use iac_providers::aws::iam::{PolicyDocument, RoleArgs, Statement};
use serde_json::{Value, json};

use super::support::*;

const REGION: &str = "us-east-1";

fn trust(service: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": [service]}}]})
}

fn allow(action: &str, resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [action], "Resource": [resource]}]})
}

async fn role(aws: &Aws, name: &str) -> String {
    let inputs = json!({"name": name, "assume_role_policy": trust("lambda.amazonaws.com"), "description": "", "path": "/", "max_session_duration": 3600, "tags": {}});
    create(aws, &ctx("aws:iam/role", name), inputs)
        .await
        .expect("role")
        .0
        .id
}

#[tokio::test]
async fn role_lifecycle() {
    let aws = aws(REGION);
    let name = iac_tests::unique("lambda-role");
    let c = ctx("aws:iam/role", &name);
    let inputs = json!({"name": name, "assume_role_policy": trust("lambda.amazonaws.com"), "description": "runs the function", "path": "/", "max_session_duration": 3600, "tags": {"team": "payments"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, name);
    assert!(
        created.outputs["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":role/{name}"))
    );
    assert_eq!(read(&aws, &c, &name).await.unwrap().inputs, inputs);

    let changed = json!({"name": name, "assume_role_policy": trust("edgelambda.amazonaws.com"), "description": "changed", "path": "/", "max_session_duration": 7200, "tags": {"team": "core"}});
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

    let mut renamed = changed.clone();
    renamed["name"] = json!("other");
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["name"]);

    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        name
    );
    let stranger = ctx("aws:iam/role", "someone-else");
    assert!(
        lookup(&aws, &stranger, "other-token", inputs.clone())
            .await
            .is_none(),
        "lookup never adopts a role the stack did not make"
    );
    delete(&aws, &c, &name, changed, created.outputs).await;
    assert!(read(&aws, &c, &name).await.is_none());
}

#[tokio::test]
async fn managed_policy_versions_and_attachment() {
    let aws = aws(REGION);
    let role_name = role(&aws, &iac_tests::unique("attach-role")).await;
    let name = iac_tests::unique("bucket-read");
    let c = ctx("aws:iam/policy", &name);
    let inputs = json!({"name": name, "document": allow("s3:GetObject", "arn:aws:s3:::b/*"), "description": "read", "path": "/", "tags": {}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("policy");
    let arn = created.id.clone();
    assert_eq!(read(&aws, &c, &arn).await.unwrap().inputs, inputs);
    let mut changed = inputs.clone();
    changed["document"] = allow("s3:PutObject", "arn:aws:s3:::b/*");
    changed["tags"] = json!({"x": "y"});
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    // Six updates cross IAM's limit of five versions: the oldest is pruned.
    let mut last = inputs.clone();
    for i in 0..6 {
        let mut next = changed.clone();
        next["document"] = allow(&format!("s3:PutObject{i}"), "arn:aws:s3:::b/*");
        update(
            &aws,
            &c,
            &arn,
            last.clone(),
            next.clone(),
            created.outputs.clone(),
        )
        .await;
        last = next;
    }
    assert_eq!(read(&aws, &c, &arn).await.unwrap().inputs, last);
    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        arn
    );

    let ac = ctx("aws:iam/rolePolicyAttachment", "attach");
    for policy in [
        arn.as_str(),
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    ] {
        let a = json!({"role": role_name, "policy_arn": policy});
        let (att, tok) = create(&aws, &ac, a.clone()).await.expect("attach");
        assert_eq!(read(&aws, &ac, &att.id).await.unwrap().inputs, a);
        assert_eq!(lookup(&aws, &ac, &tok, a.clone()).await.unwrap().id, att.id);
        let mut other = a.clone();
        other["role"] = json!("other");
        assert_eq!(replace_keys(&aws, &ac, &a, &other), ["role"]);
        delete(&aws, &ac, &att.id, a, att.outputs).await;
        assert!(read(&aws, &ac, &att.id).await.is_none());
    }
    delete(&aws, &c, &arn, last, created.outputs).await;
    assert!(read(&aws, &c, &arn).await.is_none());
}

#[tokio::test]
async fn inline_policy_lifecycle_and_drift() {
    let aws = aws(REGION);
    let role_name = role(&aws, &iac_tests::unique("inline-role")).await;
    let c = ctx("aws:iam/rolePolicy", "inline");
    let inputs = json!({"role": role_name, "name": "secrets", "document": allow("secretsmanager:GetSecretValue", "*")});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("put");
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, inputs);
    let mut changed = inputs.clone();
    changed["document"] = allow("kms:Decrypt", "*");
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
    assert!(lookup(&aws, &c, &token, changed.clone()).await.is_some());

    // Drift: the document rewritten and then the policy deleted behind the provider's back.
    let raw = aws_sdk_iam::Client::new(&iac_tests::Moto::shared().sdk_config(REGION));
    raw.put_role_policy()
        .role_name(&role_name)
        .policy_name("secrets")
        .policy_document(allow("s3:*", "*").to_string())
        .send()
        .await
        .unwrap();
    let seen = read(&aws, &c, &created.id).await.unwrap();
    assert_eq!(
        seen.inputs["document"],
        allow("s3:*", "*"),
        "a rewritten document shows"
    );
    raw.delete_role_policy()
        .role_name(&role_name)
        .policy_name("secrets")
        .send()
        .await
        .unwrap();
    assert!(
        read(&aws, &c, &created.id).await.is_none(),
        "a deleted policy reads as gone"
    );
    delete(&aws, &c, &created.id, changed, created.outputs).await;
}

#[tokio::test]
async fn bad_role_arguments_are_reported_together_before_any_request() {
    let args = RoleArgs::new("payments role!", PolicyDocument::new())
        .path("no-slashes")
        .max_session_duration(60);
    let mut errors = FieldErrors::default();
    args.validate(&mut errors);
    let text = format!("{errors:?}");
    for field in [
        "\"name\"",
        "\"path\"",
        "max_session_duration",
        "assume_role_policy",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    let doc =
        PolicyDocument::new().statement(Statement::allow().action("s3:GetObject").resource("*"));
    let mut ok = FieldErrors::default();
    RoleArgs::new("fine", doc).validate(&mut ok);
    assert!(ok.is_empty(), "{ok:?}");

    let counter = iac_tests::RequestCounter::start();
    let aws = Aws::from_config(counter.sdk_config(REGION));
    let err = create(&aws, &ctx("aws:iam/role", "r"), json!({"name": "bad name", "assume_role_policy": trust("x"), "description": "", "path": "x", "max_session_duration": 1, "tags": {}}))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("name")
            && message.contains("path")
            && message.contains("max_session_duration"),
        "{message}"
    );
    assert_eq!(counter.connections(), 0);
}

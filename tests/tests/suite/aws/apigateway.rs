//! API Gateway REST APIs against the emulator.

use iac_dsl::{Op, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::apigateway::{
    ApiResourceArgs, BasePathMappingArgs, DeploymentArgs, DomainNameArgs, IntegrationArgs,
    IntegrationResponseArgs, MethodArgs, MethodResponseArgs, RestApiArgs, StageArgs,
};
use serde_json::json;

use super::support::*;

const REGION: &str = "us-east-1";
const CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";

fn client() -> aws_sdk_apigateway::Client {
    aws_sdk_apigateway::Client::new(&iac_tests::Moto::shared().sdk_config(REGION))
}

/// The reference's API: `POST /payment` proxied to a Lambda, `GET /health` answered by a
/// mock, a deployment of both, a `prod` stage and a custom domain mapped to it; the Lambda
/// integration's timeout is the knob the test turns.
fn api_stack(suffix: &str, timeout_ms: i32) -> Stack {
    let mut stack = Stack::new("tests", &format!("api-{suffix}"));
    stack.provider("aws", aws(REGION));
    let api = stack.add("api", RestApiArgs::new(format!("payment-api-{suffix}")));
    let payment = stack.add(
        "payment",
        ApiResourceArgs::new(api.id(), api.root_resource_id(), "payment"),
    );
    let post = stack.add(
        "payment-post",
        MethodArgs::new(api.id(), payment.id(), "POST"),
    );
    let invoke = format!(
        "arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/arn:aws:lambda:{REGION}:123456789012:function:payments-{suffix}/invocations"
    );
    let post_integration = stack.add(
        "payment-integration",
        IntegrationArgs::lambda_proxy(&post, invoke).timeout_ms(timeout_ms),
    );
    let health = stack.add(
        "health",
        ApiResourceArgs::new(api.id(), api.root_resource_id(), "health"),
    );
    let get = stack.add("health-get", MethodArgs::new(api.id(), health.id(), "GET"));
    let mock = stack.add("health-integration", IntegrationArgs::mock(&get));
    let ok = stack.add("health-200", MethodResponseArgs::new(&get, "200"));
    stack.add(
        "health-integration-200",
        IntegrationResponseArgs::new(&mock, &ok)
            .response_template("application/json", r#"{"status":"ok"}"#),
    );
    let deployment = stack.add(
        "deployment",
        DeploymentArgs::new(api.id())
            .method(&post)
            .integration(&post_integration)
            .method(&get)
            .integration(&mock),
    );
    let stage = stack.add(
        "stage",
        StageArgs::new(api.id(), &deployment, "prod").variable("environment", suffix),
    );
    let domain = stack.add(
        "domain",
        DomainNameArgs::regional(format!("api-{suffix}.payments.example.com"), CERT),
    );
    stack.add(
        "mapping",
        BasePathMappingArgs::new(domain.domain_name(), &stage),
    );
    stack.export::<String>("url", stage.invoke_url());
    stack
}

#[tokio::test]
async fn an_api_deploys_redeploys_when_an_integration_changes_and_is_destroyed() {
    let suffix = iac_tests::unique("a").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let options = RunOptions::default();
    succeeded(
        engine::up(
            api_stack(&suffix, 29_000),
            store.clone(),
            &options,
            false,
            &mut |_| true,
        )
        .await,
        "up",
    );
    let state = store.load(api_stack(&suffix, 29_000).id()).unwrap();
    let url = state.outputs["url"].as_str().unwrap().to_string();
    assert!(
        url.ends_with(".execute-api.us-east-1.amazonaws.com/prod"),
        "{url}"
    );
    let id_of = |name: &str| {
        state
            .resources
            .iter()
            .find(|r| r.name == name)
            .unwrap()
            .id
            .clone()
    };
    let api_id = id_of("api");
    let gw = client();
    let resources = gw
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    let mut paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
    paths.sort();
    assert_eq!(paths, ["/", "/health", "/payment"]);
    let payment_id = id_of("payment").split('/').nth(1).unwrap().to_string();
    let integration = gw
        .get_integration()
        .rest_api_id(&api_id)
        .resource_id(&payment_id)
        .http_method("POST")
        .send()
        .await
        .unwrap();
    assert_eq!(integration.r#type().unwrap().as_str(), "AWS_PROXY");
    assert_eq!(integration.http_method(), Some("POST"));
    let stage = gw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let first_deployment = stage.deployment_id().unwrap().to_string();
    assert_eq!(format!("{api_id}/{first_deployment}"), id_of("deployment"));
    let mapping = gw
        .get_base_path_mapping()
        .domain_name(format!("api-{suffix}.payments.example.com"))
        .base_path("(none)")
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.stage(), Some("prod"));

    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(&api_stack(&suffix, 29_000), &store, &refreshed, false)
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:?}", again.counts());

    // A changed integration replaces the deployment that serves it, and the stage moves
    // to the new deployment in place.
    let changed = api_stack(&suffix, 10_000);
    let plan = engine::preview(&changed, &store, &options, false)
        .await
        .unwrap();
    let ops: Vec<(&str, Op)> = plan
        .steps
        .iter()
        .filter(|s| s.op.is_change())
        .map(|s| (s.name.as_str(), s.op))
        .collect();
    assert!(
        ops.contains(&("payment-integration", Op::Update)),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("deployment", Op::ReplaceCreateFirst)),
        "{ops:?}"
    );
    assert_eq!(
        ops,
        [
            ("payment-integration", Op::Update),
            ("deployment", Op::ReplaceCreateFirst),
            ("stage", Op::Update)
        ]
    );
    succeeded(
        engine::up(changed, store.clone(), &options, false, &mut |_| true).await,
        "redeploy",
    );
    let stage = gw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    assert_ne!(stage.deployment_id().unwrap(), first_deployment);
    let deployments = gw
        .get_deployments()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deployments.items().len(),
        1,
        "the old deployment was deleted"
    );
    // What is gone reads as gone, not as an error or an empty object: a killed delete of
    // a deployment is reconciled by this read, and an integration never put must plan a
    // create. (moto answered the first with a 500 and the second with `{}`; the
    // emulator's corrections are in scripts/moto_server.py.)
    let aws = aws(REGION);
    let health_id = id_of("health").split('/').nth(1).unwrap().to_string();
    for (type_token, id) in [
        (
            "aws:apigateway/deployment",
            format!("{api_id}/{first_deployment}"),
        ),
        (
            "aws:apigateway/integration",
            format!("{api_id}/{payment_id}/PUT"),
        ),
        (
            "aws:apigateway/methodResponse",
            format!("{api_id}/{health_id}/GET/500"),
        ),
        (
            "aws:apigateway/integrationResponse",
            format!("{api_id}/{health_id}/GET/500"),
        ),
    ] {
        let got = read(&aws, &ctx(type_token, &suffix), &id).await;
        assert!(got.is_none(), "{type_token} {id} reads as gone: {got:?}");
    }

    succeeded(
        engine::up(
            api_stack(&suffix, 10_000),
            store.clone(),
            &options,
            true,
            &mut |_| true,
        )
        .await,
        "destroy",
    );
    iac_tests::assert_not_found(
        gw.get_rest_api().rest_api_id(&api_id).send().await,
        "NotFoundException",
        "the API is gone",
    );
    iac_tests::assert_not_found(
        gw.get_domain_name()
            .domain_name(format!("api-{suffix}.payments.example.com"))
            .send()
            .await,
        "NotFoundException",
        "the domain is gone",
    );
}

#[tokio::test]
async fn rest_api_lifecycle() {
    let aws = aws(REGION);
    let name = iac_tests::unique("payments-api");
    let c = ctx("aws:apigateway/restApi", &name);
    let inputs = json!({"name": name, "description": "payments", "endpoint_type": "REGIONAL", "tags": {"team": "payments"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.outputs["id"], created.id);
    assert_eq!(
        created.outputs["execution_arn"],
        format!("arn:aws:execute-api:{REGION}:123456789012:{}", created.id)
    );
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, inputs);
    // (Tags stay: the emulator has no TagResource for API Gateway.)
    let changed = json!({"name": name, "description": "payment processing", "endpoint_type": "REGIONAL", "tags": {"team": "payments"}});
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
    let mut edge = changed.clone();
    edge["endpoint_type"] = json!("EDGE");
    assert_eq!(replace_keys(&aws, &c, &changed, &edge), ["endpoint_type"]);
    assert_eq!(
        lookup(&aws, &c, &token, changed.clone()).await.unwrap().id,
        created.id
    );
    delete(&aws, &c, &created.id, changed, created.outputs).await;
    assert!(read(&aws, &c, &created.id).await.is_none());
}

#[tokio::test]
async fn a_lost_create_rest_api_answer_is_adopted() {
    let moto = iac_tests::Moto::shared();
    let name = iac_tests::unique("lossy-api");
    let proxy = iac_tests::LossyProxy::start(moto.endpoint(), &name, 1);
    let lossy = Aws::from_config(proxy.sdk_config(REGION));
    let c = ctx("aws:apigateway/restApi", &name);
    let inputs = json!({"name": name, "description": "", "endpoint_type": "REGIONAL", "tags": {}});
    let (created, _) = create(&lossy, &c, inputs).await.expect("adopted");
    assert_eq!(proxy.matched(), 1, "CreateRestApi was sent once");
    let all = client().get_rest_apis().limit(500).send().await.unwrap();
    let named: Vec<_> = all
        .items()
        .iter()
        .filter(|a| a.name() == Some(name.as_str()))
        .collect();
    assert_eq!(named.len(), 1, "exactly one API exists");
    assert_eq!(named[0].id(), Some(created.id.as_str()));
}

#[tokio::test]
async fn bad_api_declarations_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-api");
    stack.provider("aws", Aws::from_config(counter.sdk_config(REGION)));
    let api = stack.add("api", RestApiArgs::new("api").endpoint_type("GLOBAL"));
    let res = stack.add(
        "res",
        ApiResourceArgs::new(api.id(), api.root_resource_id(), "pay/ment"),
    );
    let m = stack.add("fetch", MethodArgs::new(api.id(), res.id(), "FETCH"));
    stack.add(
        "proxy",
        IntegrationArgs::lambda_proxy(&m, "arn:x").timeout_ms(40_000),
    );
    stack.add("teapot", MethodResponseArgs::new(&m, "999"));
    let deployment = stack.add("deployment", DeploymentArgs::new(api.id()));
    stack.add("stage", StageArgs::new(api.id(), &deployment, "prod stage"));
    stack.add("domain", DomainNameArgs::regional("not a domain", "cert"));
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let errors = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "no request was sent");
    for needle in [
        "api (aws:apigateway/restApi)",
        "GLOBAL",
        "res (aws:apigateway/resource)",
        "pay/ment",
        "fetch (aws:apigateway/method)",
        "FETCH",
        "proxy (aws:apigateway/integration)",
        "40000 ms",
        "teapot (aws:apigateway/methodResponse)",
        "999",
        "deployment (aws:apigateway/deployment)",
        "must name the methods",
        "stage (aws:apigateway/stage)",
        "prod stage",
        "domain (aws:apigateway/domainName)",
        "not a fully qualified domain name",
        "not an ACM certificate ARN",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }
}

#[tokio::test]
async fn a_mapping_of_a_domain_without_mappings_is_looked_up_as_not_made() {
    // A run killed between the domain's create and its mapping's: the emulator answers a
    // server error for any mapping of a domain that has none, and recovery must still
    // find out that the mapping was not made.
    let domain = format!("{}.example.com", iac_tests::unique("nomap").to_lowercase());
    client()
        .create_domain_name()
        .domain_name(&domain)
        .regional_certificate_arn(CERT)
        .send()
        .await
        .unwrap();
    let raw = client()
        .get_base_path_mapping()
        .domain_name(&domain)
        .base_path("(none)")
        .send()
        .await;
    assert!(
        raw.is_err(),
        "the domain has no mapping: {:?}",
        raw.map(|_| ())
    );
    let aws = aws(REGION);
    let c = ctx("aws:apigateway/basePathMapping", "mapping");
    let inputs =
        json!({"domain_name": domain, "rest_api_id": "abc123", "stage": "prod", "base_path": ""});
    assert_eq!(lookup(&aws, &c, "tok", inputs).await, None);
    client()
        .delete_domain_name()
        .domain_name(&domain)
        .send()
        .await
        .unwrap();
}

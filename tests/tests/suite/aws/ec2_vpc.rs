//! `aws:ec2/vpc` against the emulator.

use iac_dsl::{DiffRequest, Provider};
use serde_json::json;

use super::support::*;

const TYPE: &str = "aws:ec2/vpc";

#[tokio::test]
async fn vpc_lifecycle() {
    let aws = aws("us-east-1");
    let c = ctx(TYPE, &iac_tests::unique("vpc"));
    let inputs = json!({"cidr_block": "10.20.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": true, "tags": {"Name": "t"}});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert!(created.id.starts_with("vpc-"));
    assert_eq!(created.outputs["cidr_block"], "10.20.0.0/16");

    let found = read(&aws, &c, &created.id).await.expect("exists");
    assert_eq!(found.inputs, inputs, "read back equals what was asked");

    let changed = json!({"cidr_block": "10.20.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": false, "tags": {"Name": "u"}});
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

    let keys = vec!["cidr_block".to_string()];
    let verdict = aws
        .diff(&DiffRequest {
            ctx: &c,
            id: &created.id,
            old_inputs: &changed,
            new_inputs: &json!({"cidr_block": "10.21.0.0/16"}),
            old_outputs: &created.outputs,
            changed_keys: &keys,
        })
        .unwrap();
    assert_eq!(
        verdict.replace_keys, keys,
        "a new CIDR block replaces the VPC"
    );

    let adopted = lookup(&aws, &c, &token, inputs.clone())
        .await
        .expect("found by token");
    assert_eq!(adopted.id, created.id);

    delete(&aws, &c, &created.id, changed, created.outputs.clone()).await;
    assert!(read(&aws, &c, &created.id).await.is_none());
    assert!(lookup(&aws, &c, &token, inputs).await.is_none());
}

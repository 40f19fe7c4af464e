//! `aws:ec2/internetGateway`: an internet gateway and its attachment to a VPC.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, Input, LookupRequest, Props, ProviderError,
    ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
};
use serde::{Deserialize, Serialize};

use super::{Kind, create_tagged, lookup_tagged, read_by_filter, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{Same, done_if_duplicate};
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:ec2/internetGateway";

/// Arguments of an internet gateway, attached to `vpc_id`. Moving it to another VPC is a
/// detach and an attach, not a replacement.
#[derive(Debug, Clone)]
pub struct InternetGatewayArgs {
    vpc_id: Input<String>,
    tags: BTreeMap<String, Input<String>>,
}

impl InternetGatewayArgs {
    /// An internet gateway attached to `vpc_id`.
    pub fn new(vpc_id: impl Into<Input<String>>) -> Self {
        InternetGatewayArgs {
            vpc_id: vpc_id.into(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for InternetGatewayArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["vpc_id"], &[])
    }

    type Handle = InternetGateway;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("vpc_id", &self.vpc_id)
            .set("tags", &self.tags)
    }
}

handle! {
    /// A declared internet gateway.
    InternetGateway {
        /// The gateway id (`igw-...`).
        id: String,
        /// Its ARN.
        arn: String,
        /// The VPC it is attached to.
        vpc_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct IgwInputs {
    vpc_id: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What an internet gateway exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternetGatewayOutputs {
    /// The gateway id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The VPC it is attached to (empty when detached).
    pub vpc_id: String,
}

pub(super) struct InternetGatewayImpl;

#[async_trait]
impl ResourceImpl for InternetGatewayImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: IgwInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let made = create_tagged(aws, Kind::InternetGateway, &req.token, |once| {
            let tags = &tags;
            async move {
                let out = once
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(ResourceType::InternetGateway, tags))
                    .send()
                    .await
                    .op("CreateInternetGateway")?;
                let gateway = out.internet_gateway();
                Ok((
                    gateway
                        .and_then(|g| g.internet_gateway_id())
                        .unwrap_or_default()
                        .to_string(),
                    gateway
                        .and_then(|g| g.owner_id())
                        .unwrap_or_default()
                        .to_string(),
                ))
            }
        })
        .await?;
        let id = made.id;
        attach(aws, &id, &inputs.vpc_id).await?;
        // The answer names the owner, and the gateway is now attached to the declared VPC;
        // only an adopted one is read.
        let outputs = match made.answer {
            Some(owner) => to_json(&gateway_outputs(aws, &id, &owner, &inputs.vpc_id)),
            None => outputs(aws, &id).await?,
        };
        Ok(CreateResponse { id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let describe = |client: aws_sdk_ec2::Client, by| async move {
            let out = client.describe_internet_gateways().filters(by).send().await;
            Ok(out
                .op("DescribeInternetGateways")?
                .internet_gateways()
                .to_vec())
        };
        let id_of = aws_sdk_ec2::types::InternetGateway::internet_gateway_id;
        let shape = |r: &ReadRequest, x: &_| Ok(found(&r.id, Some(shape(aws, &r.id, x))));
        let (key, filter) = ("ec2:internet-gateways", "internet-gateway-id");
        let single = |r| self.read(aws, r);
        read_by_filter(
            aws, batch, reqs, key, filter, describe, id_of, shape, single,
        )
        .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: IgwInputs = decode(&req.old_inputs)?;
        let new: IgwInputs = decode(&req.new_inputs)?;
        if old.vpc_id != new.vpc_id {
            detach_all(aws, &req.id).await?;
            attach(aws, &req.id, &new.vpc_id).await?;
        }
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        outputs(aws, &req.id)
            .await
            .map(|outputs| UpdateResponse { outputs })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        if describe(aws, &req.id).await?.is_none() {
            return Ok(());
        }
        detach_all(aws, &req.id).await?;
        let result = aws
            .ec2()
            .await
            .delete_internet_gateway()
            .internet_gateway_id(&req.id)
            .send()
            .await
            .op("DeleteInternetGateway");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::InternetGateway, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

async fn attach(aws: &Aws, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
    let result = aws
        .ec2()
        .await
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc_id)
        .send()
        .await
        .op("AttachInternetGateway");
    // A retry after a lost answer finds the gateway attached: done if to this VPC.
    done_if_duplicate(result, &format!("attachment of {id}"), || async {
        let attached = describe(aws, id).await?.map(|(i, _)| i.vpc_id);
        Ok(match attached {
            Some(v) if v == vpc_id => Same::Yes,
            Some(v) => Same::No(format!("it is attached to {v}, not {vpc_id}")),
            None => Same::No("the gateway is gone".to_string()),
        })
    })
    .await
}

async fn detach_all(aws: &Aws, id: &str) -> Result<(), ProviderError> {
    let Some((inputs, _)) = describe(aws, id).await? else {
        return Ok(());
    };
    if inputs.vpc_id.is_empty() {
        return Ok(());
    }
    let result = aws
        .ec2()
        .await
        .detach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(&inputs.vpc_id)
        .send()
        .await
        .op("DetachInternetGateway");
    none_if_not_found(result).map(|_| ())
}

async fn outputs(aws: &Aws, id: &str) -> Result<serde_json::Value, ProviderError> {
    let (_, outputs) = describe(aws, id)
        .await?
        .ok_or_else(|| vanished("DescribeInternetGateways", "internet gateway", id))?;
    Ok(to_json(&outputs))
}

/// A gateway's outputs: its id, its ARN (from the owner) and the VPC it is attached to.
fn gateway_outputs(aws: &Aws, id: &str, owner: &str, vpc_id: &str) -> InternetGatewayOutputs {
    InternetGatewayOutputs {
        id: id.to_string(),
        arn: format!(
            "arn:aws:ec2:{}:{owner}:internet-gateway/{id}",
            aws.region_name()
        ),
        vpc_id: vpc_id.to_string(),
    }
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(IgwInputs, InternetGatewayOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_internet_gateways()
            .internet_gateway_ids(id)
            .send()
            .await
            .op("DescribeInternetGateways"),
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.internet_gateways().first())
        .map(|g| shape(aws, id, g)))
}

/// A gateway's inputs and outputs as AWS describes it.
fn shape(
    aws: &Aws,
    id: &str,
    g: &aws_sdk_ec2::types::InternetGateway,
) -> (IgwInputs, InternetGatewayOutputs) {
    let vpc_id = g
        .attachments()
        .first()
        .and_then(|a| a.vpc_id())
        .unwrap_or_default()
        .to_string();
    let outputs = gateway_outputs(aws, id, g.owner_id().unwrap_or_default(), &vpc_id);
    let inputs = IgwInputs {
        vpc_id,
        tags: aws.own_tags(tag_map(g.tags())),
    };
    (inputs, outputs)
}

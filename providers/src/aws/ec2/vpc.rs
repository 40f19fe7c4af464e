//! `aws:ec2/vpc`: a virtual private cloud.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, Vpc as Ec2Vpc, VpcAttributeName, VpcState,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::route_table::batch_tables;
use super::{ids, listed, tag_filter, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, TAG_TOKEN, create_once, decode, to_json};
use crate::cidr;

pub(super) const TYPE: &str = "aws:ec2/vpc";

/// Arguments of a VPC. AWS allows IPv4 blocks from /16 to /28.
#[derive(Debug, Clone)]
pub struct VpcArgs {
    cidr_block: Input<String>,
    enable_dns_support: Input<bool>,
    enable_dns_hostnames: Input<bool>,
    tags: BTreeMap<String, Input<String>>,
}

impl VpcArgs {
    /// A VPC with the IPv4 block `cidr_block`, DNS resolution on and DNS host names off
    /// (AWS's defaults).
    pub fn new(cidr_block: impl Into<Input<String>>) -> Self {
        VpcArgs {
            cidr_block: cidr_block.into(),
            enable_dns_support: Input::Value(true),
            enable_dns_hostnames: Input::Value(false),
            tags: BTreeMap::new(),
        }
    }

    /// Whether the Amazon DNS server resolves names in the VPC.
    pub fn enable_dns_support(mut self, on: impl Into<Input<bool>>) -> Self {
        self.enable_dns_support = on.into();
        self
    }

    /// Whether instances get public DNS host names.
    pub fn enable_dns_hostnames(mut self, on: impl Into<Input<bool>>) -> Self {
        self.enable_dns_hostnames = on.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for VpcArgs {
    type Handle = Vpc;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("cidr_block", &self.cidr_block)
            .set("enable_dns_support", &self.enable_dns_support)
            .set("enable_dns_hostnames", &self.enable_dns_hostnames)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("cidr_block", &self.cidr_block, |c| {
            cidr::check_prefix(c, 16, 28).map(|_| ())
        });
    }
}

handle! {
    /// A declared VPC: accessors for its outputs.
    Vpc {
        /// The VPC id (`vpc-...`).
        id: String,
        /// The VPC's ARN.
        arn: String,
        /// The IPv4 block.
        cidr_block: String,
        /// The main route table AWS created with the VPC.
        main_route_table_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct VpcInputs {
    cidr_block: String,
    enable_dns_support: bool,
    enable_dns_hostnames: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a VPC exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VpcOutputs {
    /// The VPC id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its IPv4 block.
    pub cidr_block: String,
    /// The owning account.
    pub owner_id: String,
    /// The main route table.
    pub main_route_table_id: String,
}

pub(super) struct VpcImpl;

#[async_trait]
impl ResourceImpl for VpcImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["cidr_block"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(c) = inputs.get("cidr_block").and_then(Value::as_str)
            && let Err(e) = cidr::check_prefix(c, 16, 28)
        {
            invalid.push(("cidr_block".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: VpcInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let once = aws.ec2_once().await;
        let client = aws.ec2().await;
        let (id, owner) = create_once(
            || async {
                let out = once
                    .create_vpc()
                    .cidr_block(&inputs.cidr_block)
                    .tag_specifications(tag_spec(ResourceType::Vpc, &tags))
                    .send()
                    .await
                    .op("CreateVpc")?;
                let vpc = out.vpc();
                let available = vpc.and_then(|v| v.state()) == Some(&VpcState::Available);
                Ok((
                    vpc.and_then(|v| v.vpc_id()).unwrap_or_default().to_string(),
                    vpc.and_then(|v| v.owner_id())
                        .map(|owner| (owner.to_string(), available)),
                ))
            },
            || async {
                Ok(find_by_token(&client, &req.token)
                    .await?
                    .map(|v| (v.id, None)))
            },
        )
        .await?;
        // Wait for a VPC the answer did not already say is available.
        if !owner.as_ref().is_some_and(|(_, available)| *available) {
            let wait = req.timeout.unwrap_or(Duration::from_secs(300));
            client
                .wait_until_vpc_available()
                .vpc_ids(&id)
                .wait(wait)
                .await
                .map_err(|e| {
                    ProviderError::new(iac_dsl::ErrorKind::Timeout, "DescribeVpcs", e.to_string())
                })?;
        }
        let owner = owner.map(|(owner, _)| owner);
        // A new VPC has AWS's defaults (DNS support on, hostnames off): only what differs
        // is set. An adopted one is set whole.
        let defaults = VpcInputs {
            enable_dns_support: true,
            enable_dns_hostnames: false,
            ..inputs.clone()
        };
        set_dns(&client, &id, &inputs, owner.as_ref().map(|_| &defaults)).await?;
        // The answer names the owner and the DNS settings are now the declared ones: only
        // the main route table is asked for. An adopted VPC is read whole.
        let outputs = match owner {
            Some(owner) => VpcOutputs {
                id: id.clone(),
                arn: format!("arn:aws:ec2:{}:{owner}:vpc/{id}", aws.region_name()),
                cidr_block: inputs.cidr_block.clone(),
                owner_id: owner,
                main_route_table_id: main_route_table(&client, &id).await?,
            },
            None => {
                describe(aws, &client, &id)
                    .await?
                    .ok_or_else(|| {
                        ProviderError::new(
                            iac_dsl::ErrorKind::NotFound,
                            "DescribeVpcs",
                            format!("VPC {id} vanished after create"),
                        )
                    })?
                    .1
            }
        };
        Ok(CreateResponse {
            id,
            outputs: serde_json::to_value(outputs).unwrap_or_default(),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.ec2().await;
        Ok(describe(aws, &client, &req.id)
            .await?
            .map(|(inputs, outputs)| ReadResponse {
                id: req.id.clone(),
                inputs: serde_json::to_value(inputs).unwrap_or_default(),
                outputs: serde_json::to_value(outputs).unwrap_or_default(),
            }))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let client = aws.ec2().await;
        let listed = listed(batch, "ec2:vpcs", "vpc-id", ids(&reqs), |by| {
            let client = client.clone();
            async move {
                let out = client
                    .describe_vpcs()
                    .filters(by)
                    .send()
                    .await
                    .op("DescribeVpcs")?;
                Ok(out
                    .vpcs()
                    .iter()
                    .map(|v| (v.vpc_id().unwrap_or_default().to_string(), v.clone()))
                    .collect())
            }
        })
        .await;
        // The main tables come with the batch's route tables (a failed listing is no
        // answer: each VPC then asks for its own).
        let tables = batch_tables(aws, batch).await.ok();
        let with_attributes = |r: ReadRequest, vpc: Ec2Vpc| {
            let (client, tables) = (&client, &tables);
            async move {
                let main = tables.as_ref().and_then(|t| {
                    t.values().find_map(|t| {
                        let main = t.associations().iter().any(|a| a.main() == Some(true));
                        (main && t.vpc_id() == Some(r.id.as_str()))
                            .then(|| t.route_table_id().unwrap_or_default().to_string())
                    })
                });
                let main = match main {
                    Some(main) => main,
                    None => main_route_table(client, &r.id).await?,
                };
                let (inputs, outputs) = complete(aws, client, &vpc, main).await?;
                Ok(Some(ReadResponse {
                    id: r.id.clone(),
                    inputs: to_json(&inputs),
                    outputs: to_json(&outputs),
                }))
            }
        };
        batch
            .pick_then(reqs, listed, with_attributes, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: VpcInputs = decode(&req.old_inputs)?;
        let new: VpcInputs = decode(&req.new_inputs)?;
        let client = aws.ec2().await;
        set_dns(&client, &req.id, &new, Some(&old)).await?;
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        let (_, outputs) = describe(aws, &client, &req.id).await?.ok_or_else(|| {
            ProviderError::new(
                iac_dsl::ErrorKind::NotFound,
                "DescribeVpcs",
                format!("VPC {} is gone", req.id),
            )
        })?;
        Ok(UpdateResponse {
            outputs: serde_json::to_value(outputs).unwrap_or_default(),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.ec2().await;
        let result = client
            .delete_vpc()
            .vpc_id(&req.id)
            .send()
            .await
            .op("DeleteVpc");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.ec2().await;
        let Some(found) = find_by_token(&client, &req.token).await? else {
            return Ok(None);
        };
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id: found.id,
                ..Default::default()
            },
        )
        .await
    }
}

struct Found {
    id: String,
}

async fn find_by_token(
    client: &aws_sdk_ec2::Client,
    token: &str,
) -> Result<Option<Found>, ProviderError> {
    let out = client
        .describe_vpcs()
        .filters(tag_filter(TAG_TOKEN, token))
        .send()
        .await
        .op("DescribeVpcs")?;
    Ok(out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(|id| Found { id: id.to_string() }))
}

async fn set_dns(
    client: &aws_sdk_ec2::Client,
    id: &str,
    new: &VpcInputs,
    old: Option<&VpcInputs>,
) -> Result<(), ProviderError> {
    // ModifyVpcAttribute takes one attribute per call.
    if old.is_none_or(|o| o.enable_dns_support != new.enable_dns_support) {
        client
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_support(
                AttributeBooleanValue::builder()
                    .value(new.enable_dns_support)
                    .build(),
            )
            .send()
            .await
            .op("ModifyVpcAttribute")?;
    }
    if old.is_none_or(|o| o.enable_dns_hostnames != new.enable_dns_hostnames) {
        client
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(
                AttributeBooleanValue::builder()
                    .value(new.enable_dns_hostnames)
                    .build(),
            )
            .send()
            .await
            .op("ModifyVpcAttribute")?;
    }
    Ok(())
}

/// The id of the VPC's main route table.
async fn main_route_table(client: &aws_sdk_ec2::Client, id: &str) -> Result<String, ProviderError> {
    Ok(client
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(id).build())
        .filters(
            Filter::builder()
                .name("association.main")
                .values("true")
                .build(),
        )
        .send()
        .await
        .op("DescribeRouteTables")?
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .to_string())
}

async fn describe(
    aws: &Aws,
    client: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<(VpcInputs, VpcOutputs)>, ProviderError> {
    let found = none_if_not_found(
        client
            .describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .op("DescribeVpcs"),
    )?;
    let Some(vpc) = found.and_then(|out| out.vpcs().first().cloned()) else {
        return Ok(None);
    };
    let main = main_route_table(client, id).await?;
    Ok(Some(complete(aws, client, &vpc, main).await?))
}

/// A VPC's inputs and outputs: what DescribeVpcs said of it, its DNS attributes (read
/// here, one call each) and its main route table `main`.
async fn complete(
    aws: &Aws,
    client: &aws_sdk_ec2::Client,
    vpc: &Ec2Vpc,
    main: String,
) -> Result<(VpcInputs, VpcOutputs), ProviderError> {
    let id = vpc.vpc_id().unwrap_or_default();
    let support = client
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .op("DescribeVpcAttribute")?
        .enable_dns_support()
        .and_then(|a| a.value())
        .unwrap_or(false);
    let hostnames = client
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .op("DescribeVpcAttribute")?
        .enable_dns_hostnames()
        .and_then(|a| a.value())
        .unwrap_or(false);
    let owner = vpc.owner_id().unwrap_or_default().to_string();
    let cidr_block = vpc.cidr_block().unwrap_or_default().to_string();
    let inputs = VpcInputs {
        cidr_block: cidr_block.clone(),
        enable_dns_support: support,
        enable_dns_hostnames: hostnames,
        tags: aws.own_tags(tag_map(vpc.tags())),
    };
    let outputs = VpcOutputs {
        id: id.to_string(),
        arn: format!("arn:aws:ec2:{}:{owner}:vpc/{id}", aws.region_name()),
        cidr_block,
        owner_id: owner,
        main_route_table_id: main,
    };
    Ok((inputs, outputs))
}

//! `aws:ec2/natGateway`: a NAT gateway in a public subnet, giving private subnets a way out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{NatGatewayState, ResourceType};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
};
use serde::{Deserialize, Serialize};

use super::{Kind, filter, listed, lookup_tagged, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{create_or_adopt, existing_by_tags};
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:ec2/natGateway";

/// Arguments of a public NAT gateway. Creating one takes minutes: the provider waits
/// until it is available (5 minutes unless the resource's create timeout says otherwise).
#[derive(Debug, Clone)]
pub struct NatGatewayArgs {
    subnet_id: Input<String>,
    allocation_id: Input<String>,
    tags: BTreeMap<String, Input<String>>,
}

impl NatGatewayArgs {
    /// A NAT gateway in the public subnet `subnet_id` with the Elastic IP `allocation_id`.
    pub fn new(
        subnet_id: impl Into<Input<String>>,
        allocation_id: impl Into<Input<String>>,
    ) -> Self {
        NatGatewayArgs {
            subnet_id: subnet_id.into(),
            allocation_id: allocation_id.into(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for NatGatewayArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["subnet_id", "allocation_id"], &[])
    }

    type Handle = NatGateway;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("subnet_id", &self.subnet_id)
            .set("allocation_id", &self.allocation_id)
            .set("tags", &self.tags)
    }
}

handle! {
    /// A declared NAT gateway.
    NatGateway {
        /// The gateway id (`nat-...`).
        id: String,
        /// Its public address.
        public_ip: String,
        /// Its private address in the subnet.
        private_ip: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct NatInputs {
    subnet_id: String,
    allocation_id: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a NAT gateway exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NatGatewayOutputs {
    /// The gateway id.
    pub id: String,
    /// Its public address.
    pub public_ip: String,
    /// Its private address.
    pub private_ip: String,
}

pub(super) struct NatGatewayImpl;

#[async_trait]
impl ResourceImpl for NatGatewayImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["subnet_id", "allocation_id"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: NatInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let client = aws.ec2().await;
        // CreateNatGateway is idempotent by client token in AWS; where a retry still meets
        // the address in use (an emulator, or a token's expiry), the gateway holding it is
        // adopted when it is ours.
        let made = async {
            let out = client
                .create_nat_gateway()
                .subnet_id(&inputs.subnet_id)
                .allocation_id(&inputs.allocation_id)
                .client_token(client_token(&req.token))
                .tag_specifications(tag_spec(ResourceType::Natgateway, &tags))
                .send()
                .await
                .op("CreateNatGateway")?;
            Ok(out
                .nat_gateway()
                .and_then(|g| g.nat_gateway_id())
                .unwrap_or_default()
                .to_string())
        };
        let what = format!("NAT gateway with address {}", inputs.allocation_id);
        let id = create_or_adopt(&what, made, || async {
            let holders = client
                .describe_nat_gateways()
                .filter(filter("subnet-id", &inputs.subnet_id))
                .filter(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
                .await
                .op("DescribeNatGateways")?;
            let holder = holders.nat_gateways().iter().find(|g| {
                g.nat_gateway_addresses()
                    .iter()
                    .any(|a| a.allocation_id() == Some(inputs.allocation_id.as_str()))
            });
            let found = holder.map(|g| {
                (
                    g.nat_gateway_id().unwrap_or_default().to_string(),
                    tag_map(g.tags()),
                )
            });
            Ok(existing_by_tags(
                found.as_ref().map(|(id, tags)| (id.clone(), tags)),
                &req.ctx,
                Some(&req.token),
            ))
        })
        .await?;
        let ready = client
            .wait_until_nat_gateway_available()
            .nat_gateway_ids(&id)
            .wait(req.timeout.unwrap_or(Duration::from_secs(300)))
            .await
            .map_err(|e| {
                ProviderError::new(ErrorKind::Timeout, "DescribeNatGateways", e.to_string())
            })?;
        // The waiter's last answer describes the available gateway: no read back.
        let (_, outputs) = ready
            .as_result()
            .ok()
            .and_then(|out| out.nat_gateways().first())
            .and_then(|g| shape(aws, id.as_str(), g))
            .ok_or_else(|| vanished("DescribeNatGateways", "NAT gateway", &id))?;
        Ok(CreateResponse {
            id,
            outputs: to_json(&outputs),
        })
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
        let shape = |r: &ReadRequest, x: &_| Ok(found(&r.id, shape(aws, &r.id, x)));
        let single = |r| self.read(aws, r);
        batch
            .pick(reqs, refresh_listing(aws, batch).await, shape, single)
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: NatInputs = decode(&req.old_inputs)?;
        let new: NatInputs = decode(&req.new_inputs)?;
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.ec2().await;
        let result = client
            .delete_nat_gateway()
            .nat_gateway_id(&req.id)
            .send()
            .await
            .op("DeleteNatGateway");
        if none_if_not_found(result)?.is_none() {
            return Ok(());
        }
        // Its address and subnet stay in use until it is gone.
        client
            .wait_until_nat_gateway_deleted()
            .nat_gateway_ids(&req.id)
            .wait(req.timeout.unwrap_or(Duration::from_secs(300)))
            .await
            .map_err(|e| {
                ProviderError::new(ErrorKind::Timeout, "DescribeNatGateways", e.to_string())
            })?;
        Ok(())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::NatGateway, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

/// EC2 client tokens are at most 64 ASCII characters.
fn client_token(token: &str) -> String {
    token.chars().take(64).collect()
}

/// The NAT gateways of a refresh (every one the batch reads), by id, from one
/// DescribeNatGateways with an id filter. Shared: the Elastic IPs of the refresh find
/// their public addresses in the same answer.
pub(super) async fn refresh_listing(
    aws: &Aws,
    batch: &ReadBatch,
) -> Result<Arc<BTreeMap<String, aws_sdk_ec2::types::NatGateway>>, ProviderError> {
    let client = aws.ec2().await;
    let ids = batch.of_type(TYPE).map(|r| r.id.clone()).collect();
    listed(batch, "ec2:nat-gateways", "nat-gateway-id", ids, |by| {
        let client = client.clone();
        async move {
            let out = client.describe_nat_gateways().filter(by).send().await;
            let out = out.op("DescribeNatGateways")?;
            Ok(out
                .nat_gateways()
                .iter()
                .filter_map(|g| Some((g.nat_gateway_id()?.to_string(), g.clone())))
                .collect())
        }
    })
    .await
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(NatInputs, NatGatewayOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
            .op("DescribeNatGateways"),
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.nat_gateways().first())
        .and_then(|g| shape(aws, id, g)))
}

/// A gateway's inputs and outputs as AWS describes it; `None` once it is deleted or failed.
fn shape(
    aws: &Aws,
    id: &str,
    g: &aws_sdk_ec2::types::NatGateway,
) -> Option<(NatInputs, NatGatewayOutputs)> {
    if matches!(
        g.state(),
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    ) {
        return None;
    }
    let address = g.nat_gateway_addresses().first();
    Some((
        NatInputs {
            subnet_id: g.subnet_id().unwrap_or_default().to_string(),
            allocation_id: address
                .and_then(|a| a.allocation_id())
                .unwrap_or_default()
                .to_string(),
            tags: aws.own_tags(tag_map(g.tags())),
        },
        NatGatewayOutputs {
            id: id.to_string(),
            public_ip: address
                .and_then(|a| a.public_ip())
                .unwrap_or_default()
                .to_string(),
            private_ip: address
                .and_then(|a| a.private_ip())
                .unwrap_or_default()
                .to_string(),
        },
    ))
}

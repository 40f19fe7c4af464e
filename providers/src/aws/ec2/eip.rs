//! `aws:ec2/eip`: an Elastic IP address for use in a VPC (for example by a NAT gateway).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, NatGatewayAddressStatus, NatGatewayState, ResourceType};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, Input, LookupRequest, Props, ProviderError,
    ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
};
use serde::{Deserialize, Serialize};

use super::{Kind, create_tagged, lookup_tagged, read_by_filter, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult, known_or};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:ec2/eip";

/// Arguments of an Elastic IP address in the VPC domain.
#[derive(Debug, Clone, Default)]
pub struct ElasticIpArgs {
    tags: BTreeMap<String, Input<String>>,
}

impl ElasticIpArgs {
    /// A new address.
    pub fn new() -> Self {
        ElasticIpArgs::default()
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for ElasticIpArgs {
    type Handle = ElasticIp;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new().set("tags", &self.tags)
    }
}

handle! {
    /// A declared Elastic IP address.
    ElasticIp {
        /// The allocation id (`eipalloc-...`), which is also the resource id.
        id: String,
        /// The allocation id.
        allocation_id: String,
        /// The public IPv4 address.
        public_ip: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct EipInputs {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What an Elastic IP exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ElasticIpOutputs {
    /// The allocation id.
    pub id: String,
    /// The allocation id.
    pub allocation_id: String,
    /// The public address.
    pub public_ip: String,
}

pub(super) struct ElasticIpImpl;

#[async_trait]
impl ResourceImpl for ElasticIpImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: EipInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let made = create_tagged(aws, Kind::Address, &req.token, |once| {
            let tags = &tags;
            async move {
                let out = once
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(tag_spec(ResourceType::ElasticIp, tags))
                    .send()
                    .await
                    .op("AllocateAddress")?;
                Ok((
                    out.allocation_id().unwrap_or_default().to_string(),
                    out.public_ip().unwrap_or_default().to_string(),
                ))
            }
        })
        .await?;
        let id = made.id;
        // The answer holds the address; only an adopted one is read.
        let outputs = match made.answer {
            Some(public_ip) => outputs(&id, &public_ip),
            None => {
                describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeAddresses", "address", &id))?
                    .1
            }
        };
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
        // An address that a NAT gateway of the refresh holds is in that gateway's answer
        // (its public IP), and its tags are in the tagging listing: no DescribeAddresses
        // for it. The others are described together.
        let held = held_by_nat_gateways(aws, batch).await;
        let known = |r: &ReadRequest| {
            let public_ip = held.get(&r.id)?;
            let tags = aws.listed_tags(&arn_of(r, aws)?)?;
            let inputs = EipInputs {
                tags: aws.own_tags(tags),
            };
            Some(Ok(found(&r.id, Some((inputs, outputs(&r.id, public_ip))))))
        };
        let described = |rest: Vec<ReadRequest>| async move {
            let describe = |client: aws_sdk_ec2::Client, by| async move {
                let out = client.describe_addresses().filters(by).send().await;
                Ok(out.op("DescribeAddresses")?.addresses().to_vec())
            };
            let id_of = aws_sdk_ec2::types::Address::allocation_id;
            let shape = |r: &ReadRequest, x: &_| Ok(found(&r.id, Some(shape(aws, &r.id, x))));
            let (key, filter) = ("ec2:addresses", "allocation-id");
            let single = |r| self.read(aws, r);
            read_by_filter(
                aws, batch, rest, key, filter, describe, id_of, shape, single,
            )
            .await
        };
        known_or(reqs, known, described).await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: EipInputs = decode(&req.old_inputs)?;
        let new: EipInputs = decode(&req.new_inputs)?;
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .ec2()
            .await
            .release_address()
            .allocation_id(&req.id)
            .send()
            .await
            .op("ReleaseAddress");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::Address, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

/// The ARN of the address a request reads, for the tagging listing; `None` while the
/// account is unknown.
pub(crate) fn arn_of(r: &ReadRequest, aws: &Aws) -> Option<String> {
    let (region, account) = (aws.region_name(), aws.known_account()?);
    Some(format!(
        "arn:aws:ec2:{region}:{account}:elastic-ip/{}",
        r.id
    ))
}

/// The public IP of each address (by allocation id) that an available NAT gateway of the
/// refresh holds, from the gateways' shared listing. An address is held only while
/// allocated, so the gateway's answer shows it exists; empty when the listing failed
/// (the addresses are then described).
async fn held_by_nat_gateways(aws: &Aws, batch: &ReadBatch) -> BTreeMap<String, String> {
    let Ok(gateways) = super::nat_gateway::refresh_listing(aws, batch).await else {
        return BTreeMap::new();
    };
    gateways
        .values()
        .filter(|g| g.state() == Some(&NatGatewayState::Available))
        .flat_map(|g| g.nat_gateway_addresses())
        .filter(|a| matches!(a.status(), None | Some(NatGatewayAddressStatus::Succeeded)))
        .filter_map(|a| Some((a.allocation_id()?.to_string(), a.public_ip()?.to_string())))
        .collect()
}

fn outputs(id: &str, public_ip: &str) -> ElasticIpOutputs {
    ElasticIpOutputs {
        id: id.to_string(),
        allocation_id: id.to_string(),
        public_ip: public_ip.to_string(),
    }
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(EipInputs, ElasticIpOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_addresses()
            .allocation_ids(id)
            .send()
            .await
            .op("DescribeAddresses"),
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.addresses().first())
        .map(|a| shape(aws, id, a)))
}

/// An address's inputs and outputs as AWS describes it.
fn shape(aws: &Aws, id: &str, a: &aws_sdk_ec2::types::Address) -> (EipInputs, ElasticIpOutputs) {
    (
        EipInputs {
            tags: aws.own_tags(tag_map(a.tags())),
        },
        outputs(id, a.public_ip().unwrap_or_default()),
    )
}

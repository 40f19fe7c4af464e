//! `aws:ec2/subnet`: a subnet of a VPC in one availability zone.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use iac_dsl::value::unknown_source;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, Stack, StackCheck, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::{Kind, create_tagged, lookup_tagged, read_by_filter, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};
use crate::cidr;

const TYPE: &str = "aws:ec2/subnet";

/// Arguments of a subnet. Its block must lie inside its VPC's and overlap no other subnet
/// of that VPC; when both blocks are known at declaration the stack checks this before
/// any request.
#[derive(Debug, Clone)]
pub struct SubnetArgs {
    vpc_id: Input<String>,
    cidr_block: Input<String>,
    availability_zone: Input<String>,
    map_public_ip_on_launch: Input<bool>,
    tags: BTreeMap<String, Input<String>>,
}

impl SubnetArgs {
    /// A subnet of `vpc_id` with the block `cidr_block` in `availability_zone`.
    pub fn new(
        vpc_id: impl Into<Input<String>>,
        cidr_block: impl Into<Input<String>>,
        availability_zone: impl Into<Input<String>>,
    ) -> Self {
        SubnetArgs {
            vpc_id: vpc_id.into(),
            cidr_block: cidr_block.into(),
            availability_zone: availability_zone.into(),
            map_public_ip_on_launch: Input::Value(false),
            tags: BTreeMap::new(),
        }
    }

    /// Whether instances launched here get a public IPv4 address (public subnets).
    pub fn map_public_ip_on_launch(mut self, on: impl Into<Input<bool>>) -> Self {
        self.map_public_ip_on_launch = on.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for SubnetArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["vpc_id", "availability_zone"], &[])
    }

    type Handle = Subnet;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("vpc_id", &self.vpc_id)
            .set("cidr_block", &self.cidr_block)
            .set("availability_zone", &self.availability_zone)
            .set("map_public_ip_on_launch", &self.map_public_ip_on_launch)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("cidr_block", &self.cidr_block, |c| {
            cidr::check_prefix(c, 16, 28).map(|_| ())
        });
        errors.check("availability_zone", &self.availability_zone, |z| {
            crate::validate::length(z, 1, 64)
        });
    }

    fn stack_check(&self) -> Option<StackCheck> {
        Some(check_layout)
    }
}

/// Every subnet must lie inside its VPC (when the VPC is declared in the stack with a known
/// block) and must not overlap another subnet of the same VPC.
fn check_layout(stack: &Stack) -> Vec<(String, String, String)> {
    let mut problems = Vec::new();
    let mut by_vpc: BTreeMap<String, Vec<(String, ipnet::Ipv4Net)>> = BTreeMap::new();
    for subnet in stack
        .declared()
        .iter()
        .filter(|d| d.reference.type_token() == TYPE)
    {
        let inputs = subnet.declared_inputs();
        let Some(net) = inputs["cidr_block"]
            .as_str()
            .and_then(|c| cidr::parse_network(c).ok())
        else {
            continue;
        };
        let vpc = &inputs["vpc_id"];
        let key = match (unknown_source(vpc), vpc.as_str()) {
            (Some(source), _) => source.to_string(),
            (None, Some(id)) => id.to_string(),
            _ => continue,
        };
        if let Some((vpc_name, "id")) = key.rsplit_once('.')
            && let Some(declared) = stack.find(vpc_name)
            && declared.reference.type_token() == "aws:ec2/vpc"
            && let Some(vpc_net) = declared.declared_inputs()["cidr_block"]
                .as_str()
                .and_then(|c| cidr::parse_network(c).ok())
            && !vpc_net.contains(&net)
        {
            problems.push((
                subnet.name().to_string(),
                "cidr_block".to_string(),
                format!("{net} is outside its VPC `{vpc_name}` ({vpc_net})"),
            ));
        }
        by_vpc
            .entry(key)
            .or_default()
            .push((subnet.name().to_string(), net));
    }
    for subnets in by_vpc.values() {
        for (i, (name, net)) in subnets.iter().enumerate() {
            if let Some((other, other_net)) =
                subnets[..i].iter().find(|(_, o)| cidr::overlaps(net, o))
            {
                problems.push((
                    name.clone(),
                    "cidr_block".to_string(),
                    format!("{net} overlaps subnet `{other}` ({other_net}) of the same VPC"),
                ));
            }
        }
    }
    problems
}

handle! {
    /// A declared subnet.
    Subnet {
        /// The subnet id (`subnet-...`).
        id: String,
        /// Its ARN.
        arn: String,
        /// Its block.
        cidr_block: String,
        /// Its availability zone.
        availability_zone: String,
        /// Its VPC.
        vpc_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SubnetInputs {
    vpc_id: String,
    cidr_block: String,
    availability_zone: String,
    map_public_ip_on_launch: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a subnet exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubnetOutputs {
    /// The subnet id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its block.
    pub cidr_block: String,
    /// Its availability zone.
    pub availability_zone: String,
    /// Its VPC.
    pub vpc_id: String,
}

pub(super) struct SubnetImpl;

#[async_trait]
impl ResourceImpl for SubnetImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["vpc_id", "cidr_block", "availability_zone"]
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
        let inputs: SubnetInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let made = create_tagged(aws, Kind::Subnet, &req.token, |once| {
            let (inputs, tags) = (&inputs, &tags);
            async move {
                let out = once
                    .create_subnet()
                    .vpc_id(&inputs.vpc_id)
                    .cidr_block(&inputs.cidr_block)
                    .availability_zone(&inputs.availability_zone)
                    .tag_specifications(tag_spec(ResourceType::Subnet, tags))
                    .send()
                    .await
                    .op("CreateSubnet")?;
                let subnet = out.subnet().cloned();
                let id = subnet.as_ref().and_then(|s| s.subnet_id());
                Ok((id.unwrap_or_default().to_string(), subnet))
            }
        })
        .await?;
        let id = made.id;
        let client = aws.ec2().await;
        if inputs.map_public_ip_on_launch {
            set_public_ip(&client, &id, true).await?;
        }
        // The answer describes the subnet whole; only an adopted one is read.
        let outputs = match made.answer.flatten() {
            Some(subnet) => shape(aws, &id, &subnet).1,
            None => {
                describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeSubnets", "subnet", &id))?
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
        let describe = |client: aws_sdk_ec2::Client, by| async move {
            let out = client.describe_subnets().filters(by).send().await;
            Ok(out.op("DescribeSubnets")?.subnets().to_vec())
        };
        let id_of = aws_sdk_ec2::types::Subnet::subnet_id;
        let shape = |r: &ReadRequest, x: &_| Ok(found(&r.id, Some(shape(aws, &r.id, x))));
        let (key, filter) = ("ec2:subnets", "subnet-id");
        let single = |r| self.read(aws, r);
        read_by_filter(
            aws, batch, reqs, key, filter, describe, id_of, shape, single,
        )
        .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: SubnetInputs = decode(&req.old_inputs)?;
        let new: SubnetInputs = decode(&req.new_inputs)?;
        if old.map_public_ip_on_launch != new.map_public_ip_on_launch {
            set_public_ip(&aws.ec2().await, &req.id, new.map_public_ip_on_launch).await?;
        }
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        let (_, outputs) = describe(aws, &req.id)
            .await?
            .ok_or_else(|| vanished("DescribeSubnets", "subnet", &req.id))?;
        Ok(UpdateResponse {
            outputs: to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .ec2()
            .await
            .delete_subnet()
            .subnet_id(&req.id)
            .send()
            .await
            .op("DeleteSubnet");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::Subnet, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

async fn set_public_ip(
    client: &aws_sdk_ec2::Client,
    id: &str,
    on: bool,
) -> Result<(), ProviderError> {
    client
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .op("ModifySubnetAttribute")?;
    Ok(())
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(SubnetInputs, SubnetOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .op("DescribeSubnets"),
    )?;
    let Some(s) = out.and_then(|o| o.subnets().first().cloned()) else {
        return Ok(None);
    };
    Ok(Some(shape(aws, id, &s)))
}

/// A subnet's inputs and outputs as AWS describes it (a describe or a create's answer).
fn shape(aws: &Aws, id: &str, s: &aws_sdk_ec2::types::Subnet) -> (SubnetInputs, SubnetOutputs) {
    let owner = s.owner_id().unwrap_or_default();
    let inputs = SubnetInputs {
        vpc_id: s.vpc_id().unwrap_or_default().to_string(),
        cidr_block: s.cidr_block().unwrap_or_default().to_string(),
        availability_zone: s.availability_zone().unwrap_or_default().to_string(),
        map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
        tags: aws.own_tags(tag_map(s.tags())),
    };
    let outputs = SubnetOutputs {
        id: id.to_string(),
        arn: s
            .subnet_arn()
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:ec2:{}:{owner}:subnet/{id}", aws.region_name())),
        cidr_block: inputs.cidr_block.clone(),
        availability_zone: inputs.availability_zone.clone(),
        vpc_id: inputs.vpc_id.clone(),
    };
    (inputs, outputs)
}

//! EC2: networking resources and the availability-zones data source.

mod azs;
pub(crate) mod eip;
mod internet_gateway;
mod nat_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use iac_dsl::ProviderError;

pub use azs::{AvailabilityZones, AvailabilityZonesArgs};
pub use eip::{ElasticIp, ElasticIpArgs, ElasticIpOutputs};
pub use internet_gateway::{InternetGateway, InternetGatewayArgs, InternetGatewayOutputs};
pub use nat_gateway::{NatGateway, NatGatewayArgs, NatGatewayOutputs};
pub use route_table::{
    Route, RouteTable, RouteTableArgs, RouteTableAssociation, RouteTableAssociationArgs,
    RouteTableOutputs,
};
pub use security_group::{
    SecurityGroup, SecurityGroupArgs, SecurityGroupOutputs, SecurityGroupRule,
};
pub use subnet::{Subnet, SubnetArgs, SubnetOutputs};
pub use vpc::{Vpc, VpcArgs, VpcOutputs};

use super::batch::ReadBatch;
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_TOKEN, create_once};

/// The EC2 resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &vpc::VpcImpl,
    &subnet::SubnetImpl,
    &internet_gateway::InternetGatewayImpl,
    &eip::ElasticIpImpl,
    &nat_gateway::NatGatewayImpl,
    &route_table::RouteTableImpl,
    &route_table::AssociationImpl,
    &security_group::SecurityGroupImpl,
];

/// The EC2 data sources.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[&azs::AvailabilityZonesImpl];

/// EC2 tags from a map.
pub(crate) fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tag specification that tags an object as it is created.
pub(crate) fn tag_spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(to_tags(tags)))
        .build()
}

/// A map from EC2 tags.
pub(crate) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The most values one EC2 filter takes.
const FILTER_VALUES: usize = 200;

/// The objects of one EC2 kind among `ids`, for a refresh batch, by id: `describe` is sent
/// once per 200 ids with the filter `filter_name` (a filter, unlike an id list, is not
/// refused whole when one id is gone). Shared in the batch under `key`.
pub(crate) async fn listed<T, F, Fut>(
    batch: &ReadBatch,
    key: &str,
    filter_name: &str,
    ids: Vec<String>,
    describe: F,
) -> Result<Arc<BTreeMap<String, T>>, ProviderError>
where
    T: Send + Sync + 'static,
    F: Fn(Filter) -> Fut,
    Fut: Future<Output = Result<Vec<(String, T)>, ProviderError>>,
{
    batch
        .shared(key, || async {
            let mut all = BTreeMap::new();
            for chunk in ids.chunks(FILTER_VALUES) {
                let by = Filter::builder()
                    .name(filter_name)
                    .set_values(Some(chunk.to_vec()))
                    .build();
                all.extend(describe(by).await?);
            }
            Ok(all)
        })
        .await
}

/// Answers a refresh batch's `reqs` of one EC2 kind from one listing: `describe` sends
/// one page of the kind's describe call with an id filter (`filter_name`), `id_of` names
/// a described object, `shape` makes a read's answer of one, and `single` reads on its
/// own an object the listing does not hold.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_by_filter<T, D, DF, I, S, R, RF>(
    aws: &Aws,
    batch: &ReadBatch,
    reqs: Vec<iac_dsl::ReadRequest>,
    key: &str,
    filter_name: &str,
    describe: D,
    id_of: I,
    shape: S,
    single: R,
) -> Vec<super::batch::ReadResult>
where
    T: Clone + Send + Sync + 'static,
    D: Fn(aws_sdk_ec2::Client, Filter) -> DF,
    DF: Future<Output = Result<Vec<T>, ProviderError>>,
    I: Fn(&T) -> Option<&str>,
    S: Fn(&iac_dsl::ReadRequest, &T) -> super::batch::ReadResult,
    R: Fn(iac_dsl::ReadRequest) -> RF,
    RF: Future<Output = super::batch::ReadResult>,
{
    let client = aws.ec2().await;
    let listed = listed(batch, key, filter_name, ids(&reqs), |by| {
        let (client, describe, id_of) = (client.clone(), &describe, &id_of);
        async move {
            let found = describe(client, by).await?;
            Ok(found
                .into_iter()
                .filter_map(|x| Some((id_of(&x)?.to_string(), x)))
                .collect())
        }
    })
    .await;
    batch.pick(reqs, listed, shape, single).await
}

/// The ids of a batch's requests.
pub(crate) fn ids(reqs: &[iac_dsl::ReadRequest]) -> Vec<String> {
    reqs.iter().map(|r| r.id.clone()).collect()
}

/// The filter that finds objects carrying `key=value`.
pub(crate) fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// A filter on one attribute.
pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The EC2 object kinds the provider creates, for finding them again by their token tag.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Subnet,
    InternetGateway,
    Address,
    NatGateway,
    RouteTable,
    SecurityGroup,
}

/// The id of the live object of `kind` tagged with `token`, if any. The answer's tags are
/// checked too, not only the filter: an emulator that ignores a tag filter (moto does on
/// DescribeNatGateways) would otherwise hand back another resource's object to adopt.
pub(crate) async fn find_tagged(
    client: &aws_sdk_ec2::Client,
    kind: Kind,
    token: &str,
) -> Result<Option<String>, ProviderError> {
    let by = tag_filter(TAG_TOKEN, token);
    let id = match kind {
        Kind::Subnet => client
            .describe_subnets()
            .filters(by)
            .send()
            .await
            .op("DescribeSubnets")?
            .subnets()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.subnet_id().map(str::to_string)),
        Kind::InternetGateway => client
            .describe_internet_gateways()
            .filters(by)
            .send()
            .await
            .op("DescribeInternetGateways")?
            .internet_gateways()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.internet_gateway_id().map(str::to_string)),
        Kind::Address => client
            .describe_addresses()
            .filters(by)
            .send()
            .await
            .op("DescribeAddresses")?
            .addresses()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.allocation_id().map(str::to_string)),
        Kind::NatGateway => client
            .describe_nat_gateways()
            .filter(by)
            .filter(
                Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .op("DescribeNatGateways")?
            .nat_gateways()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.nat_gateway_id().map(str::to_string)),
        Kind::RouteTable => client
            .describe_route_tables()
            .filters(by)
            .send()
            .await
            .op("DescribeRouteTables")?
            .route_tables()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.route_table_id().map(str::to_string)),
        Kind::SecurityGroup => client
            .describe_security_groups()
            .filters(by)
            .send()
            .await
            .op("DescribeSecurityGroups")?
            .security_groups()
            .iter()
            .find(|x| has_token(x.tags(), token))
            .and_then(|x| x.group_id().map(str::to_string)),
    };
    Ok(id)
}

/// Whether `tags` carry the create token `token`.
fn has_token(tags: &[aws_sdk_ec2::types::Tag], token: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(TAG_TOKEN) && t.value() == Some(token))
}

/// The object of `kind` carrying `token`, described by `describe`: the common `lookup`.
pub(crate) async fn lookup_tagged<I, O, F, Fut>(
    aws: &Aws,
    kind: Kind,
    token: &str,
    describe: F,
) -> Result<Option<iac_dsl::ReadResponse>, ProviderError>
where
    I: serde::Serialize,
    O: serde::Serialize,
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Option<(I, O)>, ProviderError>>,
{
    match find_tagged(&aws.ec2().await, kind, token).await? {
        Some(id) => Ok(super::found(&id, describe(id.clone()).await?)),
        None => Ok(None),
    }
}

/// A created object: its id, and what the create's answer said of it, from which the
/// create builds its outputs without reading the object back. `answer` is `None` when the
/// answer was lost and the object was found by its token tag instead; then a read says it.
pub(crate) struct Made<T> {
    /// The object's id.
    pub id: String,
    /// The object as the create's answer described it.
    pub answer: Option<T>,
}

/// Creates an object of `kind` through a client that does not retry, so that a lost answer
/// never makes a second object: a retry first looks for the object by its token tag.
/// `create` returns the new object's id and what its answer said of it.
pub(crate) async fn create_tagged<T, F, Fut>(
    aws: &Aws,
    kind: Kind,
    token: &str,
    create: F,
) -> Result<Made<T>, ProviderError>
where
    F: Fn(aws_sdk_ec2::Client) -> Fut,
    Fut: Future<Output = Result<(String, T), ProviderError>>,
{
    let once = aws.ec2_once().await;
    let client = aws.ec2().await;
    create_once(
        || async {
            let (id, answer) = create(once.clone()).await?;
            Ok(Made {
                id,
                answer: Some(answer),
            })
        },
        || async {
            Ok(find_tagged(&client, kind, token)
                .await?
                .map(|id| Made { id, answer: None }))
        },
    )
    .await
}

/// Updates the tags of `id` when a resource's own tags changed between `old` and `new`.
pub(crate) async fn update_tags(
    aws: &Aws,
    ctx: &iac_dsl::ResourceContext,
    id: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let client = &aws.ec2().await;
    super::idempotent::update_tags(
        aws,
        ctx,
        old,
        new,
        |keys| async move {
            let removed: Vec<Tag> = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
            client
                .delete_tags()
                .resources(id)
                .set_tags(Some(removed))
                .send()
                .await
                .op("DeleteTags")
                .map(|_| ())
        },
        |changed| async move {
            client
                .create_tags()
                .resources(id)
                .set_tags(Some(to_tags(&changed)))
                .send()
                .await
                .op("CreateTags")
                .map(|_| ())
        },
    )
    .await
}

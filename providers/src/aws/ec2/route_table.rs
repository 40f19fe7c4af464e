//! `aws:ec2/routeTable` (a route table with its routes) and `aws:ec2/routeTableAssociation`
//! (which subnet uses it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, RouteOrigin};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::{Kind, create_tagged, filter, listed, lookup_tagged, tag_map, tag_spec, update_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{Same, done_if_duplicate};
use crate::aws::{Aws, ErrorContext, ResourceImpl, create_once, decode, found, to_json, vanished};
use crate::cidr;

const TABLE: &str = "aws:ec2/routeTable";
const ASSOCIATION: &str = "aws:ec2/routeTableAssociation";

/// One route: traffic for a block goes to an internet gateway or a NAT gateway.
#[derive(Debug, Clone)]
pub struct Route {
    destination_cidr_block: Input<String>,
    gateway_id: Option<Input<String>>,
    nat_gateway_id: Option<Input<String>>,
}

impl Route {
    /// Sends `destination` (e.g. `0.0.0.0/0`) to the internet gateway `gateway_id`.
    pub fn to_internet_gateway(
        destination: impl Into<Input<String>>,
        gateway_id: impl Into<Input<String>>,
    ) -> Self {
        Route {
            destination_cidr_block: destination.into(),
            gateway_id: Some(gateway_id.into()),
            nat_gateway_id: None,
        }
    }

    /// Sends `destination` to the NAT gateway `nat_gateway_id`.
    pub fn to_nat_gateway(
        destination: impl Into<Input<String>>,
        nat_gateway_id: impl Into<Input<String>>,
    ) -> Self {
        Route {
            destination_cidr_block: destination.into(),
            gateway_id: None,
            nat_gateway_id: Some(nat_gateway_id.into()),
        }
    }

    fn props(&self) -> Props {
        Props::new()
            .set("destination_cidr_block", &self.destination_cidr_block)
            .set("gateway_id", &self.gateway_id)
            .set("nat_gateway_id", &self.nat_gateway_id)
    }
}

/// Arguments of a route table. Routes are managed as a set: changing one replaces that
/// route, not the table.
#[derive(Debug, Clone)]
pub struct RouteTableArgs {
    vpc_id: Input<String>,
    routes: Vec<Route>,
    tags: BTreeMap<String, Input<String>>,
}

impl RouteTableArgs {
    /// A route table of `vpc_id` with only the VPC's local route.
    pub fn new(vpc_id: impl Into<Input<String>>) -> Self {
        RouteTableArgs {
            vpc_id: vpc_id.into(),
            routes: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds a route.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for RouteTableArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["vpc_id", "routes"], &[])
    }

    type Handle = RouteTable;

    fn type_token(&self) -> &'static str {
        TABLE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("vpc_id", &self.vpc_id)
            .set(
                "routes",
                self.routes.iter().map(Route::props).collect::<Vec<_>>(),
            )
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let mut seen = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            let field = format!("routes[{i}].destination_cidr_block");
            errors.check(&field, &route.destination_cidr_block, |c| {
                cidr::parse_network(c).map(|_| ())
            });
            if let Some(c) = route.destination_cidr_block.known() {
                if seen.contains(c) {
                    errors.add(&field, format!("`{c}` has two routes"));
                }
                seen.push(c.clone());
            }
        }
    }
}

handle! {
    /// A declared route table.
    RouteTable {
        /// The table id (`rtb-...`).
        id: String,
        /// Its ARN.
        arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct RouteInputs {
    destination_cidr_block: String,
    #[serde(default)]
    gateway_id: Option<String>,
    #[serde(default)]
    nat_gateway_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct TableInputs {
    vpc_id: String,
    #[serde(default)]
    routes: Vec<RouteInputs>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a route table exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteTableOutputs {
    /// The table id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
}

pub(super) struct RouteTableImpl;

#[async_trait]
impl ResourceImpl for RouteTableImpl {
    fn type_token(&self) -> &'static str {
        TABLE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["vpc_id"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        for (i, route) in inputs["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(c) = route["destination_cidr_block"].as_str()
                && let Err(e) = cidr::parse_network(c)
            {
                invalid.push((format!("routes[{i}].destination_cidr_block"), e));
            }
            // Present means known or still unknown (`{"$unknown": ...}`), not absent.
            if route["gateway_id"].is_null() == route["nat_gateway_id"].is_null() {
                invalid.push((
                    format!("routes[{i}]"),
                    "needs exactly one of gateway_id and nat_gateway_id".to_string(),
                ));
            }
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: TableInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let made = create_tagged(aws, Kind::RouteTable, &req.token, |once| {
            let (inputs, tags) = (&inputs, &tags);
            async move {
                let out = once
                    .create_route_table()
                    .vpc_id(&inputs.vpc_id)
                    .tag_specifications(tag_spec(ResourceType::RouteTable, tags))
                    .send()
                    .await
                    .op("CreateRouteTable")?;
                let table = out.route_table();
                Ok((
                    table
                        .and_then(|t| t.route_table_id())
                        .unwrap_or_default()
                        .to_string(),
                    table
                        .and_then(|t| t.owner_id())
                        .unwrap_or_default()
                        .to_string(),
                ))
            }
        })
        .await?;
        let id = made.id;
        // A new table holds only its local route, so the declared routes are created
        // without reading it; an adopted one is read and made to match.
        let outputs = match made.answer {
            Some(owner) => {
                sync_routes(aws, &id, &[], &inputs.routes).await?;
                table_outputs(aws, &id, &owner)
            }
            None => {
                let (found, _) = describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeRouteTables", "route table", &id))?;
                sync_routes(aws, &id, &found.routes, &inputs.routes).await?;
                describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeRouteTables", "route table", &id))?
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
        let listed = batch_tables(aws, batch).await;
        let shape = |r: &ReadRequest, t: &_| Ok(found(&r.id, Some(shape(aws, &r.id, t))));
        batch.pick(reqs, listed, shape, |r| self.read(aws, r)).await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: TableInputs = decode(&req.old_inputs)?;
        let new: TableInputs = decode(&req.new_inputs)?;
        sync_routes(aws, &req.id, &old.routes, &new.routes).await?;
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .ec2()
            .await
            .delete_route_table()
            .route_table_id(&req.id)
            .send()
            .await
            .op("DeleteRouteTable");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::RouteTable, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

/// Brings the table's routes from `old` to `new`: removed destinations are deleted,
/// changed targets replaced, new destinations created.
async fn sync_routes(
    aws: &Aws,
    id: &str,
    old: &[RouteInputs],
    new: &[RouteInputs],
) -> Result<(), ProviderError> {
    let client = aws.ec2().await;
    for route in old {
        if !new
            .iter()
            .any(|r| r.destination_cidr_block == route.destination_cidr_block)
        {
            let result = client
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(&route.destination_cidr_block)
                .send()
                .await
                .op("DeleteRoute");
            none_if_not_found(result)?;
        }
    }
    for route in new {
        match old
            .iter()
            .find(|r| r.destination_cidr_block == route.destination_cidr_block)
        {
            Some(same) if same == route => {}
            Some(_) => replace_route(&client, id, route).await?,
            None => {
                let result = client
                    .create_route()
                    .route_table_id(id)
                    .destination_cidr_block(&route.destination_cidr_block)
                    .set_gateway_id(route.gateway_id.clone())
                    .set_nat_gateway_id(route.nat_gateway_id.clone())
                    .send()
                    .await
                    .op("CreateRoute");
                // A retry after a lost answer finds its own route; a route to the same
                // destination with another target (an earlier run's) is replaced.
                let what = format!("route to {} in {id}", route.destination_cidr_block);
                done_if_duplicate(result, &what, || async {
                    let live = describe(aws, id)
                        .await?
                        .ok_or_else(|| vanished("DescribeRouteTables", "route table", id))?
                        .0
                        .routes;
                    match route_difference(&live, route) {
                        None => Ok(Same::Yes),
                        Some(_) => {
                            replace_route(&client, id, route).await?;
                            Ok(Same::Yes)
                        }
                    }
                })
                .await?;
            }
        }
    }
    Ok(())
}

/// How the live route to `wanted`'s destination differs from it: `None` when it is the
/// same (same destination and target), else what it targets instead.
fn route_difference(live: &[RouteInputs], wanted: &RouteInputs) -> Option<String> {
    let found = live
        .iter()
        .find(|r| r.destination_cidr_block == wanted.destination_cidr_block);
    match found {
        Some(r) if r == wanted => None,
        Some(r) => Some(format!(
            "it targets {}",
            r.gateway_id
                .as_deref()
                .or(r.nat_gateway_id.as_deref())
                .unwrap_or("nothing")
        )),
        None => Some("it is not in the table".to_string()),
    }
}

async fn replace_route(
    client: &aws_sdk_ec2::Client,
    id: &str,
    route: &RouteInputs,
) -> Result<(), ProviderError> {
    client
        .replace_route()
        .route_table_id(id)
        .destination_cidr_block(&route.destination_cidr_block)
        .set_gateway_id(route.gateway_id.clone())
        .set_nat_gateway_id(route.nat_gateway_id.clone())
        .send()
        .await
        .op("ReplaceRoute")?;
    Ok(())
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(TableInputs, RouteTableOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .op("DescribeRouteTables"),
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.route_tables().first())
        .map(|t| shape(aws, id, t)))
}

/// A table's inputs (its routes sorted, without the local one) and outputs as AWS
/// describes it.
fn shape(
    aws: &Aws,
    id: &str,
    t: &aws_sdk_ec2::types::RouteTable,
) -> (TableInputs, RouteTableOutputs) {
    let mut routes: Vec<RouteInputs> = t
        .routes()
        .iter()
        .filter(|r| r.origin() != Some(&RouteOrigin::CreateRouteTable))
        .filter(|r| r.gateway_id() != Some("local"))
        .filter_map(|r| {
            Some(RouteInputs {
                destination_cidr_block: r.destination_cidr_block()?.to_string(),
                gateway_id: r.gateway_id().map(str::to_string),
                nat_gateway_id: r.nat_gateway_id().map(str::to_string),
            })
        })
        .collect();
    routes.sort();
    let owner = t.owner_id().unwrap_or_default();
    (
        TableInputs {
            vpc_id: t.vpc_id().unwrap_or_default().to_string(),
            routes,
            tags: aws.own_tags(tag_map(t.tags())),
        },
        table_outputs(aws, id, owner),
    )
}

/// Every route table of the VPCs a refresh batch reads (its VPCs, and the VPCs of its
/// route tables), by id: one DescribeRouteTables shared by the route tables, their
/// associations and the VPCs' main tables.
pub(super) async fn batch_tables(
    aws: &Aws,
    batch: &ReadBatch,
) -> Result<Arc<BTreeMap<String, aws_sdk_ec2::types::RouteTable>>, ProviderError> {
    let mut vpcs: BTreeSet<String> = batch
        .of_type(super::vpc::TYPE)
        .map(|r| r.id.clone())
        .collect();
    vpcs.extend(
        batch
            .of_type(TABLE)
            .filter_map(|r| r.inputs["vpc_id"].as_str().map(str::to_string)),
    );
    let client = aws.ec2().await;
    listed(
        batch,
        "ec2:route-tables",
        "vpc-id",
        vpcs.into_iter().collect(),
        |by| {
            let client = client.clone();
            async move {
                let out = client
                    .describe_route_tables()
                    .filters(by)
                    .send()
                    .await
                    .op("DescribeRouteTables")?;
                Ok(out
                    .route_tables()
                    .iter()
                    .map(|t| {
                        (
                            t.route_table_id().unwrap_or_default().to_string(),
                            t.clone(),
                        )
                    })
                    .collect())
            }
        },
    )
    .await
}

/// A table's outputs: its id and its ARN (from the owner).
fn table_outputs(aws: &Aws, id: &str, owner: &str) -> RouteTableOutputs {
    RouteTableOutputs {
        id: id.to_string(),
        arn: format!("arn:aws:ec2:{}:{owner}:route-table/{id}", aws.region_name()),
    }
}

/// Arguments of a route table association: the subnet `subnet_id` routes through
/// `route_table_id`. Both force a new association.
#[derive(Debug, Clone)]
pub struct RouteTableAssociationArgs {
    subnet_id: Input<String>,
    route_table_id: Input<String>,
}

impl RouteTableAssociationArgs {
    /// Associates `subnet_id` with `route_table_id`.
    pub fn new(
        subnet_id: impl Into<Input<String>>,
        route_table_id: impl Into<Input<String>>,
    ) -> Self {
        RouteTableAssociationArgs {
            subnet_id: subnet_id.into(),
            route_table_id: route_table_id.into(),
        }
    }
}

impl ResourceArgs for RouteTableAssociationArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["subnet_id", "route_table_id"], &[])
    }

    type Handle = RouteTableAssociation;

    fn type_token(&self) -> &'static str {
        ASSOCIATION
    }

    fn props(&self) -> Props {
        Props::new()
            .set("subnet_id", &self.subnet_id)
            .set("route_table_id", &self.route_table_id)
    }
}

handle! {
    /// A declared route table association.
    RouteTableAssociation {
        /// The association id (`rtbassoc-...`).
        id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct AssociationInputs {
    subnet_id: String,
    route_table_id: String,
}

pub(super) struct AssociationImpl;

#[async_trait]
impl ResourceImpl for AssociationImpl {
    fn type_token(&self) -> &'static str {
        ASSOCIATION
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["subnet_id", "route_table_id"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: AssociationInputs = decode(&req.inputs)?;
        let once = aws.ec2_once().await;
        let client = aws.ec2().await;
        // A subnet has at most one association, so finding it by subnet is exact.
        let id = create_once(
            || async {
                let out = once
                    .associate_route_table()
                    .subnet_id(&inputs.subnet_id)
                    .route_table_id(&inputs.route_table_id)
                    .send()
                    .await
                    .op("AssociateRouteTable")?;
                Ok(out.association_id().unwrap_or_default().to_string())
            },
            || async {
                Ok(find_association(&client, &inputs.subnet_id)
                    .await?
                    .filter(|(_, a)| a.route_table_id == inputs.route_table_id)
                    .map(|(id, _)| id))
            },
        )
        .await?;
        Ok(CreateResponse {
            outputs: serde_json::json!({ "id": id }),
            id,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let out = aws
            .ec2()
            .await
            .describe_route_tables()
            .filters(filter("association.route-table-association-id", &req.id))
            .send()
            .await
            .op("DescribeRouteTables")?;
        let association = out.route_tables().iter().find_map(|t| {
            t.associations()
                .iter()
                .find(|a| a.route_table_association_id() == Some(req.id.as_str()))
        });
        Ok(association.map(|a| association_read(&req.id, a)))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let listed = batch_tables(aws, batch).await.map(|tables| {
            Arc::new(
                tables
                    .values()
                    .flat_map(|t| t.associations())
                    .filter_map(|a| Some((a.route_table_association_id()?.to_string(), a.clone())))
                    .collect::<BTreeMap<_, _>>(),
            )
        });
        let shape = |r: &ReadRequest, a: &_| Ok(Some(association_read(&r.id, a)));
        batch.pick(reqs, listed, shape, |r| self.read(aws, r)).await
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .ec2()
            .await
            .disassociate_route_table()
            .association_id(&req.id)
            .send()
            .await
            .op("DisassociateRouteTable");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(subnet) = req.inputs["subnet_id"].as_str() else {
            return Ok(None);
        };
        Ok(find_association(&aws.ec2().await, subnet)
            .await?
            .map(|(id, inputs)| ReadResponse {
                outputs: serde_json::json!({ "id": id }),
                inputs: to_json(&inputs),
                id,
            }))
    }
}

/// What a read says of the association `id` as AWS describes it.
fn association_read(id: &str, a: &aws_sdk_ec2::types::RouteTableAssociation) -> ReadResponse {
    ReadResponse {
        id: id.to_string(),
        inputs: to_json(&AssociationInputs {
            subnet_id: a.subnet_id().unwrap_or_default().to_string(),
            route_table_id: a.route_table_id().unwrap_or_default().to_string(),
        }),
        outputs: serde_json::json!({ "id": id }),
    }
}

async fn find_association(
    client: &aws_sdk_ec2::Client,
    subnet_id: &str,
) -> Result<Option<(String, AssociationInputs)>, ProviderError> {
    let out = client
        .describe_route_tables()
        .filters(filter("association.subnet-id", subnet_id))
        .send()
        .await
        .op("DescribeRouteTables")?;
    Ok(out.route_tables().iter().find_map(|t| {
        t.associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet_id))
            .map(|a| {
                (
                    a.route_table_association_id()
                        .unwrap_or_default()
                        .to_string(),
                    AssociationInputs {
                        subnet_id: subnet_id.to_string(),
                        route_table_id: a.route_table_id().unwrap_or_default().to_string(),
                    },
                )
            })
    }))
}

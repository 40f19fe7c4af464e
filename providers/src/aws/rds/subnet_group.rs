//! `aws:rds/subnetGroup`: the subnets (in at least two zones) a cluster's instances use.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup as Described;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceOptions, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::cluster_instance;
use super::rules::{Arg, check_subnet_group_name};
use super::{already_exists, keep_order, list_tags, managed_by, not_managed, rds_tags, sync_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:rds/subnetGroup";

/// The description RDS requires when none is given.
const DEFAULT_DESCRIPTION: &str = "Managed by iac";

/// Arguments of a DB subnet group. Its name is its id; description, subnets and tags
/// change in place.
#[derive(Debug, Clone)]
pub struct DbSubnetGroupArgs {
    name: Input<String>,
    description: Input<String>,
    subnet_ids: Vec<Input<String>>,
    tags: BTreeMap<String, Input<String>>,
}

impl DbSubnetGroupArgs {
    /// A subnet group named `name` (see [`super::check_subnet_group_name`]) over
    /// `subnet_ids`, which must cover at least two availability zones.
    pub fn new(name: impl Into<Input<String>>, subnet_ids: Vec<Input<String>>) -> Self {
        DbSubnetGroupArgs {
            name: name.into(),
            description: Input::Value(DEFAULT_DESCRIPTION.to_string()),
            subnet_ids,
            tags: BTreeMap::new(),
        }
    }

    /// What the group is for.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for DbSubnetGroupArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["subnet_ids"], &[])
    }

    type Handle = DbSubnetGroup;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("description", &self.description)
            .set("subnet_ids", &self.subnet_ids)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let problems = problems(
            Arg::input(&self.name),
            Arg::input(&self.description),
            Some(self.subnet_ids.len()),
        );
        for (field, message) in problems {
            errors.add(field, message);
        }
    }

    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::new().delete_before_replace(true)
    }
}

fn problems(name: Arg<'_>, description: Arg<'_>, subnets: Option<usize>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    name.check("name", check_subnet_group_name, &mut problems);
    description.check(
        "description",
        |d| crate::validate::length(d, 1, 255),
        &mut problems,
    );
    if let Some(n) = subnets
        && n < 2
    {
        problems.push((
            "subnet_ids".to_string(),
            format!("needs subnets in at least two availability zones, got {n} subnet(s)"),
        ));
    }
    problems
}

handle! {
    /// A declared DB subnet group.
    DbSubnetGroup {
        /// The group's name (also its id).
        id: String,
        /// Its name, for a cluster's `db_subnet_group_name`.
        name: String,
        /// Its ARN.
        arn: String,
    }
}

/// What a DB subnet group exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DbSubnetGroupOutputs {
    /// The name (the id).
    pub id: String,
    /// The name.
    pub name: String,
    /// The ARN.
    pub arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SubnetGroupInputs {
    name: String,
    description: String,
    subnet_ids: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) struct SubnetGroupImpl;

#[async_trait]
impl ResourceImpl for SubnetGroupImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        problems(
            Arg::json(&inputs["name"]),
            Arg::json(&inputs["description"]),
            inputs["subnet_ids"].as_array().map(Vec::len),
        )
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        create(aws, &aws.rds().await, req).await
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.rds().await;
        Ok(found(
            &req.id,
            describe(aws, &client, &req.id, &req.inputs)
                .await?
                .map(|(i, o, _)| (i, o)),
        ))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // AWS describes an instance's DB subnet group whole in the instance's answer: a
        // group that an instance of the refresh uses needs no DescribeDBSubnetGroups. The
        // others (or all, when the instances could not be listed) are read on their own.
        let listed = cluster_instance::refresh_listing(aws, batch)
            .await
            .map(|all| {
                let live = all.iter().filter(|i| !cluster_instance::gone(i));
                let groups: Vec<&Described> = live.filter_map(|i| i.db_subnet_group()).collect();
                let of = |r: &ReadRequest| {
                    let named = |g: &&&Described| {
                        g.db_subnet_group_name()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&r.id))
                    };
                    Some((r.id.clone(), (*groups.iter().find(named)?).clone()))
                };
                reqs.iter().filter_map(of).collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default();
        let complete = |r: ReadRequest, group: Described| async move {
            let arn = group
                .db_subnet_group_arn()
                .or(r.outputs["arn"].as_str())
                .unwrap_or_default()
                .to_string();
            let client = aws.rds().await;
            let tags = aws.tags_or(&arn, || list_tags(&client, &arn)).await?;
            let (inputs, outputs, _) = shape(aws, &group, &r.id, &r.inputs, arn, tags);
            Ok(found(&r.id, Some((inputs, outputs))))
        };
        let single = |r| self.read(aws, r);
        batch
            .pick_then(reqs, Ok(Arc::new(listed)), complete, single)
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        update(aws, &aws.rds().await, req).await
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .rds()
            .await
            .delete_db_subnet_group()
            .db_subnet_group_name(&req.id)
            .send()
            .await
            .op("DeleteDBSubnetGroup");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        let client = aws.rds().await;
        let Some((inputs, outputs, tags)) = describe(aws, &client, name, &req.inputs).await? else {
            return Ok(None);
        };
        if !managed_by(&tags, &req.ctx, Some(&req.token)) {
            return Ok(None);
        }
        Ok(found(&outputs.id.clone(), Some((inputs, outputs))))
    }
}

async fn create(
    aws: &Aws,
    client: &Client,
    req: CreateRequest,
) -> Result<CreateResponse, ProviderError> {
    let inputs: SubnetGroupInputs = decode(&req.inputs)?;
    let name = inputs.name.clone();
    // The name is unique: a group already there is this resource's (a create whose answer
    // was lost) only when its tags say so.
    let adopt = |tags: &BTreeMap<String, String>| {
        if managed_by(tags, &req.ctx, Some(&req.token)) {
            Ok(())
        } else {
            Err(not_managed(
                "CreateDBSubnetGroup",
                "DB subnet group",
                &name,
                &req.ctx,
            ))
        }
    };
    let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
    let result = client
        .create_db_subnet_group()
        .db_subnet_group_name(&name)
        .db_subnet_group_description(&inputs.description)
        .set_subnet_ids(Some(inputs.subnet_ids.clone()))
        .set_tags(Some(rds_tags(&tags)))
        .send()
        .await
        .op("CreateDBSubnetGroup");
    let outputs = match result {
        // The answer names the group and its ARN: no read back.
        Ok(out) => {
            let group = out.db_subnet_group();
            let cloud_name = group
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or(&name)
                .to_string();
            DbSubnetGroupOutputs {
                id: cloud_name.clone(),
                name: cloud_name,
                arn: group
                    .and_then(|g| g.db_subnet_group_arn())
                    .unwrap_or_default()
                    .to_string(),
            }
        }
        Err(e) if already_exists(&e) => {
            let (_, outputs, tags) = describe(aws, client, &name, &req.inputs)
                .await?
                .ok_or_else(|| vanished("DescribeDBSubnetGroups", "DB subnet group", &name))?;
            adopt(&tags)?;
            outputs
        }
        Err(e) => return Err(e),
    };
    Ok(CreateResponse {
        id: name,
        outputs: to_json(&outputs),
    })
}

/// Updates description and subnets (one ModifyDBSubnetGroup call) and tags.
pub(super) async fn update(
    aws: &Aws,
    client: &Client,
    req: UpdateRequest,
) -> Result<UpdateResponse, ProviderError> {
    let old: SubnetGroupInputs = decode(&req.old_inputs)?;
    let new: SubnetGroupInputs = decode(&req.new_inputs)?;
    let same_subnets = {
        let (mut a, mut b) = (old.subnet_ids.clone(), new.subnet_ids.clone());
        a.sort();
        b.sort();
        a == b
    };
    if old.description != new.description || !same_subnets {
        client
            .modify_db_subnet_group()
            .db_subnet_group_name(&req.id)
            .db_subnet_group_description(&new.description)
            .set_subnet_ids(Some(new.subnet_ids.clone()))
            .send()
            .await
            .op("ModifyDBSubnetGroup")?;
    }
    if old.tags != new.tags {
        let arn = match req.old_outputs["arn"].as_str() {
            Some(arn) => arn.to_string(),
            None => {
                describe(aws, client, &req.id, &req.old_inputs)
                    .await?
                    .ok_or_else(|| vanished("DescribeDBSubnetGroups", "DB subnet group", &req.id))?
                    .1
                    .arn
            }
        };
        sync_tags(aws, client, &req.ctx, &arn, &old.tags, &new.tags).await?;
    }
    Ok(UpdateResponse {
        outputs: req.old_outputs,
    })
}

/// The group's inputs (as recorded where RDS reorders), outputs and every tag on it.
async fn describe(
    aws: &Aws,
    client: &Client,
    name: &str,
    recorded: &Value,
) -> Result<
    Option<(
        SubnetGroupInputs,
        DbSubnetGroupOutputs,
        BTreeMap<String, String>,
    )>,
    ProviderError,
> {
    let out = none_if_not_found(
        client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .op("DescribeDBSubnetGroups"),
    )?;
    let Some(group) = out.and_then(|o| o.db_subnet_groups().first().cloned()) else {
        return Ok(None);
    };
    let arn = group.db_subnet_group_arn().unwrap_or_default().to_string();
    let tags = aws.tags_or(&arn, || list_tags(client, &arn)).await?;
    Ok(Some(shape(aws, &group, name, recorded, arn, tags)))
}

/// The group's inputs (as recorded where RDS reorders), outputs and tags, from its
/// description (DescribeDBSubnetGroups, or the one embedded in an instance's answer).
fn shape(
    aws: &Aws,
    group: &Described,
    name: &str,
    recorded: &Value,
    arn: String,
    tags: BTreeMap<String, String>,
) -> (
    SubnetGroupInputs,
    DbSubnetGroupOutputs,
    BTreeMap<String, String>,
) {
    let cloud_name = group.db_subnet_group_name().unwrap_or(name).to_string();
    let subnets = group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    (
        SubnetGroupInputs {
            name: cloud_name.clone(),
            description: group
                .db_subnet_group_description()
                .unwrap_or_default()
                .to_string(),
            subnet_ids: keep_order(&recorded["subnet_ids"], subnets),
            tags: aws.own_tags(tags.clone()),
        },
        DbSubnetGroupOutputs {
            id: cloud_name.clone(),
            name: cloud_name,
            arn,
        },
        tags,
    )
}

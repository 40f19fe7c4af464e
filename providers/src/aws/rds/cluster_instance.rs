//! `aws:rds/clusterInstance`: a DB instance of an Aurora cluster (its writer or a reader).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types::DbInstance;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceOptions, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::rules::{Arg, check_engine, check_identifier, check_instance_class};
use super::{
    DEFAULT_TIMEOUT, already_exists, keep_spelling, last_answer, managed_by, not_managed, rds_tags,
    sync_tags, tag_map, waited, with_created,
};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:rds/clusterInstance";

/// Arguments of a cluster instance. The class changes in place (applied immediately,
/// with a short outage of that instance); identifier, cluster and engine do not.
#[derive(Debug, Clone)]
pub struct ClusterInstanceArgs {
    identifier: Input<String>,
    cluster_identifier: Input<String>,
    instance_class: Input<String>,
    engine: Input<String>,
    publicly_accessible: Input<bool>,
    tags: BTreeMap<String, Input<String>>,
}

impl ClusterInstanceArgs {
    /// An Aurora PostgreSQL instance `identifier` of class `instance_class` (e.g.
    /// `db.r6g.large`) in the cluster `cluster_identifier`, not publicly accessible.
    pub fn new(
        identifier: impl Into<Input<String>>,
        cluster_identifier: impl Into<Input<String>>,
        instance_class: impl Into<Input<String>>,
    ) -> Self {
        ClusterInstanceArgs {
            identifier: identifier.into(),
            cluster_identifier: cluster_identifier.into(),
            instance_class: instance_class.into(),
            engine: Input::Value("aurora-postgresql".to_string()),
            publicly_accessible: Input::Value(false),
            tags: BTreeMap::new(),
        }
    }

    /// The engine: the cluster's (`aurora-postgresql` by default, or `aurora-mysql`).
    pub fn engine(mut self, engine: impl Into<Input<String>>) -> Self {
        self.engine = engine.into();
        self
    }

    /// Gives the instance a public address (in a subnet with a route to the internet).
    pub fn publicly_accessible(mut self, on: impl Into<Input<bool>>) -> Self {
        self.publicly_accessible = on.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for ClusterInstanceArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["cluster_identifier"], &[])
    }

    type Handle = ClusterInstance;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("identifier", &self.identifier)
            .set("cluster_identifier", &self.cluster_identifier)
            .set("instance_class", &self.instance_class)
            .set("engine", &self.engine)
            .set("publicly_accessible", &self.publicly_accessible)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let problems = problems(
            Arg::input(&self.identifier),
            Arg::input(&self.cluster_identifier),
            Arg::input(&self.instance_class),
            Arg::input(&self.engine),
        );
        for (field, message) in problems {
            errors.add(field, message);
        }
    }

    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::new().delete_before_replace(true)
    }
}

fn problems(
    identifier: Arg<'_>,
    cluster: Arg<'_>,
    class: Arg<'_>,
    engine: Arg<'_>,
) -> Vec<(String, String)> {
    let mut p = Vec::new();
    identifier.check("identifier", check_identifier, &mut p);
    cluster.check("cluster_identifier", check_identifier, &mut p);
    class.check("instance_class", check_instance_class, &mut p);
    engine.check("engine", check_engine, &mut p);
    p
}

handle! {
    /// A declared cluster instance.
    ClusterInstance {
        /// The instance identifier (also its id).
        id: String,
        /// Its ARN.
        arn: String,
        /// The instance's own endpoint host name.
        endpoint: String,
        /// The port it listens on.
        port: i32,
    }
}

/// What a cluster instance exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterInstanceOutputs {
    /// The identifier.
    pub id: String,
    /// The ARN.
    pub arn: String,
    /// The instance endpoint.
    pub endpoint: String,
    /// The port.
    pub port: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct InstanceInputs {
    identifier: String,
    cluster_identifier: String,
    instance_class: String,
    engine: String,
    #[serde(default)]
    publicly_accessible: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) struct ClusterInstanceImpl;

#[async_trait]
impl ResourceImpl for ClusterInstanceImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["identifier", "cluster_identifier", "engine"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        problems(
            Arg::json(&inputs["identifier"]),
            Arg::json(&inputs["cluster_identifier"]),
            Arg::json(&inputs["instance_class"]),
            Arg::json(&inputs["engine"]),
        )
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let client = aws.rds().await;
        let inputs: InstanceInputs = decode(&req.inputs)?;
        let id = inputs.identifier.to_lowercase();
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let adopt = |i: &DbInstance| {
            if managed_by(&tag_map(i.tag_list()), &req.ctx, Some(&req.token)) {
                Ok(())
            } else {
                Err(not_managed(
                    "CreateDBInstance",
                    "DB instance",
                    &id,
                    &req.ctx,
                ))
            }
        };
        // Identifiers are unique in a region: an instance already there (a create whose
        // answer was lost, or a killed run) is refused with AlreadyExists and adopted when
        // its tags say it is this resource's.
        {
            let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
            let result = client
                .create_db_instance()
                .db_instance_identifier(&id)
                .db_cluster_identifier(&inputs.cluster_identifier)
                .db_instance_class(&inputs.instance_class)
                .engine(&inputs.engine)
                .publicly_accessible(inputs.publicly_accessible)
                .set_tags(Some(rds_tags(&tags)))
                .send()
                .await
                .op("CreateDBInstance");
            match result {
                Ok(_) => {}
                Err(e) if already_exists(&e) => match describe(&client, &id).await? {
                    Some(i) => adopt(&i)?,
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        let result = client
            .wait_until_db_instance_available()
            .db_instance_identifier(&id)
            .wait(timeout)
            .await;
        // The waiter's last answer describes the available instance: no read back.
        let polled = last_answer(&result, |out: &DescribeDbInstancesOutput| {
            out.db_instances().first()
        });
        let what = format!("DB instance `{id}` to become available");
        let ready = waited(result, "DescribeDBInstances", &what, timeout);
        let instance = match polled {
            Some(instance) => instance,
            None => describe(&client, &id)
                .await?
                .ok_or_else(|| vanished("DescribeDBInstances", "DB instance", &id))?,
        };
        let outputs = to_json(&outputs_of(&instance));
        ready.map_err(|e| with_created(e, &id, outputs.clone()))?;
        Ok(CreateResponse { id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.rds().await;
        let instance = describe(&client, &req.id).await?;
        Ok(found(
            &req.id,
            instance.map(|i| (inputs_of(aws, &i, &req.inputs), outputs_of(&i))),
        ))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let listed = refresh_listing(aws, batch).await.map(|all| {
            let of = |r: &ReadRequest| {
                let same = |i: &&DbInstance| {
                    i.db_instance_identifier()
                        .is_some_and(|x| x.eq_ignore_ascii_case(&r.id))
                };
                Some((r.id.clone(), all.iter().find(same)?.clone()))
            };
            Arc::new(reqs.iter().filter_map(of).collect::<BTreeMap<_, _>>())
        });
        let shape = |r: &ReadRequest, i: &DbInstance| {
            let pair = (!gone(i)).then(|| (inputs_of(aws, i, &r.inputs), outputs_of(i)));
            Ok(found(&r.id, pair))
        };
        batch.pick(reqs, listed, shape, |r| self.read(aws, r)).await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let client = aws.rds().await;
        let old: InstanceInputs = decode(&req.old_inputs)?;
        let new: InstanceInputs = decode(&req.new_inputs)?;
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if old.instance_class != new.instance_class
            || old.publicly_accessible != new.publicly_accessible
        {
            let mut call = client
                .modify_db_instance()
                .db_instance_identifier(&req.id)
                .apply_immediately(true);
            if old.instance_class != new.instance_class {
                call = call.db_instance_class(&new.instance_class);
            }
            if old.publicly_accessible != new.publicly_accessible {
                call = call.publicly_accessible(new.publicly_accessible);
            }
            call.send().await.op("ModifyDBInstance")?;
            wait_available(&client, &req.id, timeout).await?;
        }
        let instance = describe(&client, &req.id)
            .await?
            .ok_or_else(|| vanished("DescribeDBInstances", "DB instance", &req.id))?;
        let outputs = outputs_of(&instance);
        sync_tags(aws, &client, &req.ctx, &outputs.arn, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.rds().await;
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // An Aurora instance keeps no data of its own: its cluster's snapshot covers it.
        let result = client
            .delete_db_instance()
            .db_instance_identifier(&req.id)
            .skip_final_snapshot(true)
            .send()
            .await
            .op("DeleteDBInstance");
        if none_if_not_found(result)?.is_none() {
            return Ok(());
        }
        let result = client
            .wait_until_db_instance_deleted()
            .db_instance_identifier(&req.id)
            .wait(timeout)
            .await;
        let what = format!("DB instance `{}` to be deleted", req.id);
        waited(result, "DescribeDBInstances", &what, timeout)
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(id) = req.inputs["identifier"].as_str() else {
            return Ok(None);
        };
        let client = aws.rds().await;
        let Some(instance) = describe(&client, id).await? else {
            return Ok(None);
        };
        if !managed_by(&tag_map(instance.tag_list()), &req.ctx, Some(&req.token)) {
            return Ok(None);
        }
        let outputs = outputs_of(&instance);
        Ok(found(
            &outputs.id.clone(),
            Some((inputs_of(aws, &instance, &req.inputs), outputs)),
        ))
    }
}

async fn wait_available(client: &Client, id: &str, timeout: Duration) -> Result<(), ProviderError> {
    let result = client
        .wait_until_db_instance_available()
        .db_instance_identifier(id)
        .wait(timeout)
        .await;
    let what = format!("DB instance `{id}` to become available");
    waited(result, "DescribeDBInstances", &what, timeout)
}

/// The instance `id`, or `None` when it does not exist or is being deleted.
async fn describe(client: &Client, id: &str) -> Result<Option<DbInstance>, ProviderError> {
    let out = none_if_not_found(
        client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .op("DescribeDBInstances"),
    )?;
    Ok(out.and_then(|o| {
        o.db_instances()
            .iter()
            .find(|i| {
                i.db_instance_identifier()
                    .is_some_and(|x| x.eq_ignore_ascii_case(id))
                    && !gone(i)
            })
            .cloned()
    }))
}

/// Whether a described instance is on its way out (deleting, or deleted and still listed):
/// a read calls it gone.
pub(super) fn gone(i: &DbInstance) -> bool {
    matches!(i.db_instance_status(), Some("deleting" | "deleted"))
}

/// The instances of a refresh (every one the batch reads), from one DescribeDBInstances
/// per 100 of them. Shared: the refresh's DB subnet groups are described whole in the
/// answer of each instance that uses one.
pub(super) async fn refresh_listing(
    aws: &Aws,
    batch: &ReadBatch,
) -> Result<Arc<Vec<DbInstance>>, ProviderError> {
    let client = aws.rds().await;
    let ids: Vec<String> = batch.of_type(TYPE).map(|r| r.id.clone()).collect();
    batch
        .shared("rds:instances", || describe_many(&client, &ids))
        .await
}

/// The instances among `ids`, for a refresh batch: one DescribeDBInstances per 100 ids
/// (the `db-instance-id` filter; a filter is not refused when an id is gone).
async fn describe_many(client: &Client, ids: &[String]) -> Result<Vec<DbInstance>, ProviderError> {
    let mut all = Vec::new();
    for chunk in ids.chunks(100) {
        let mut marker: Option<String> = None;
        loop {
            let by = aws_sdk_rds::types::Filter::builder()
                .name("db-instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            let out = client
                .describe_db_instances()
                .filters(by)
                .set_marker(marker.take())
                .send()
                .await
                .op("DescribeDBInstances")?;
            all.extend(out.db_instances().iter().cloned());
            match out.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
    }
    Ok(all)
}

fn outputs_of(i: &DbInstance) -> ClusterInstanceOutputs {
    ClusterInstanceOutputs {
        id: i.db_instance_identifier().unwrap_or_default().to_string(),
        arn: i.db_instance_arn().unwrap_or_default().to_string(),
        endpoint: i
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_string(),
        port: i.endpoint().and_then(|e| e.port()).unwrap_or_default(),
    }
}

fn inputs_of(aws: &Aws, i: &DbInstance, recorded: &Value) -> InstanceInputs {
    InstanceInputs {
        identifier: keep_spelling(
            &recorded["identifier"],
            i.db_instance_identifier().unwrap_or_default(),
        ),
        cluster_identifier: keep_spelling(
            &recorded["cluster_identifier"],
            i.db_cluster_identifier().unwrap_or_default(),
        ),
        instance_class: i.db_instance_class().unwrap_or_default().to_string(),
        engine: i.engine().unwrap_or_default().to_string(),
        publicly_accessible: i.publicly_accessible().unwrap_or(false),
        tags: aws.own_tags(tag_map(i.tag_list())),
    }
}

//! `aws:rds/cluster`: an Aurora cluster, standalone or a member (the primary or a
//! secondary) of a global database.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::types::DbCluster;
use iac_dsl::value::secret;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceOptions, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::global_cluster;
use super::rules::{
    Arg, check_backup_retention, check_backup_window, check_database_name, check_engine,
    check_identifier, check_master_password, check_master_username, check_snapshot_identifier,
};
use super::{
    DEFAULT_TIMEOUT, already_exists, computed, keep_order, keep_spelling, last_answer, managed_by,
    not_managed, poll_until, rds_tags, retry_while_busy, short_id, sync_tags, tag_map, waited,
    with_created,
};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, to_json, vanished};

const TYPE: &str = "aws:rds/cluster";

/// What RDS answers while a cluster is changing state and cannot take the call yet.
const BUSY: &[&str] = &[
    "InvalidDBClusterStateFault",
    "InvalidGlobalClusterStateFault",
];

/// Arguments of an Aurora cluster. The master password is secret: the engine encrypts it
/// in state and redacts it in plans, and the provider never logs it or puts it in an
/// error or an output.
///
/// A standalone cluster and a global database's primary have master credentials; a
/// secondary (a cluster joining a global database that already has a primary) has none:
/// it replicates the primary's.
#[derive(Clone)]
pub struct ClusterArgs {
    identifier: Input<String>,
    engine: Input<String>,
    engine_version: Option<Input<String>>,
    database_name: Option<Input<String>>,
    master_username: Option<Input<String>>,
    master_password: Option<Input<String>>,
    global_cluster_identifier: Option<Input<String>>,
    member_generation: Option<u32>,
    db_subnet_group_name: Option<Input<String>>,
    vpc_security_group_ids: Vec<Input<String>>,
    storage_encrypted: Input<bool>,
    kms_key_id: Option<Input<String>>,
    backup_retention_period: Input<i32>,
    preferred_backup_window: Option<Input<String>>,
    skip_final_snapshot: bool,
    final_snapshot_identifier: Option<Input<String>>,
    deletion_protection: Input<bool>,
    tags: BTreeMap<String, Input<String>>,
}

impl fmt::Debug for ClusterArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterArgs")
            .field("identifier", &self.identifier)
            .field("engine", &self.engine)
            .field("global_cluster_identifier", &self.global_cluster_identifier)
            .field("master_username", &self.master_username)
            .field(
                "master_password",
                &self
                    .master_password
                    .as_ref()
                    .map(|_| iac_dsl::value::REDACTED),
            )
            .finish_non_exhaustive()
    }
}

impl ClusterArgs {
    /// An Aurora PostgreSQL cluster named `identifier`, keeping backups one day.
    pub fn new(identifier: impl Into<Input<String>>) -> Self {
        ClusterArgs {
            identifier: identifier.into(),
            engine: Input::Value("aurora-postgresql".to_string()),
            engine_version: None,
            database_name: None,
            master_username: None,
            master_password: None,
            global_cluster_identifier: None,
            member_generation: None,
            db_subnet_group_name: None,
            vpc_security_group_ids: Vec::new(),
            storage_encrypted: Input::Value(false),
            kms_key_id: None,
            backup_retention_period: Input::Value(1),
            preferred_backup_window: None,
            skip_final_snapshot: false,
            final_snapshot_identifier: None,
            deletion_protection: Input::Value(false),
            tags: BTreeMap::new(),
        }
    }

    /// The engine, `aurora-postgresql` (the default) or `aurora-mysql`.
    pub fn engine(mut self, engine: impl Into<Input<String>>) -> Self {
        self.engine = engine.into();
        self
    }

    /// The engine version (the default version of the engine when unset).
    pub fn engine_version(mut self, version: impl Into<Input<String>>) -> Self {
        self.engine_version = Some(version.into());
        self
    }

    /// The database created with the cluster (not for a secondary).
    pub fn database_name(mut self, name: impl Into<Input<String>>) -> Self {
        self.database_name = Some(name.into());
        self
    }

    /// The master user (not for a secondary).
    pub fn master_username(mut self, name: impl Into<Input<String>>) -> Self {
        self.master_username = Some(name.into());
        self
    }

    /// The master password (not for a secondary): 8 to 41 printable ASCII characters
    /// without `/`, `"`, `@` or spaces. Marked secret whatever its source.
    pub fn master_password(mut self, password: impl Into<Input<String>>) -> Self {
        self.master_password = Some(password.into());
        self
    }

    /// Makes the cluster a member of a global database (its primary when it has master
    /// credentials, else a secondary).
    pub fn global_cluster_identifier(mut self, id: impl Into<Input<String>>) -> Self {
        self.global_cluster_identifier = Some(id.into());
        self
    }

    /// The generation of its global database's membership this cluster was made in
    /// ([`super::GlobalClusterArgs::generation`]): raising it replaces the cluster by a
    /// new member (its data is discarded; the global database replicates into the new
    /// one).
    pub fn member_generation(mut self, generation: u32) -> Self {
        self.member_generation = Some(generation);
        self
    }

    /// The DB subnet group that places the cluster in a VPC.
    pub fn db_subnet_group_name(mut self, name: impl Into<Input<String>>) -> Self {
        self.db_subnet_group_name = Some(name.into());
        self
    }

    /// The VPC security groups of the cluster.
    pub fn vpc_security_group_ids(mut self, ids: Vec<Input<String>>) -> Self {
        self.vpc_security_group_ids = ids;
        self
    }

    /// Encrypts storage at rest (fixed at creation).
    pub fn storage_encrypted(mut self, on: impl Into<Input<bool>>) -> Self {
        self.storage_encrypted = on.into();
        self
    }

    /// The KMS key that encrypts storage (with `storage_encrypted`).
    pub fn kms_key_id(mut self, key: impl Into<Input<String>>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// Days automated backups are kept, 1 to 35.
    pub fn backup_retention_period(mut self, days: impl Into<Input<i32>>) -> Self {
        self.backup_retention_period = days.into();
        self
    }

    /// The daily backup window, `hh24:mi-hh24:mi` in UTC, at least 30 minutes.
    pub fn preferred_backup_window(mut self, window: impl Into<Input<String>>) -> Self {
        self.preferred_backup_window = Some(window.into());
        self
    }

    /// Deletes without a final snapshot. Without it, a final snapshot named by
    /// [`ClusterArgs::final_snapshot_identifier`] is taken (and required).
    pub fn skip_final_snapshot(mut self, skip: bool) -> Self {
        self.skip_final_snapshot = skip;
        self
    }

    /// The name of the snapshot taken when the cluster is deleted.
    pub fn final_snapshot_identifier(mut self, id: impl Into<Input<String>>) -> Self {
        self.final_snapshot_identifier = Some(id.into());
        self
    }

    /// Refuses deletion while set.
    pub fn deletion_protection(mut self, on: impl Into<Input<bool>>) -> Self {
        self.deletion_protection = on.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for ClusterArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(
            &[
                "db_subnet_group_name",
                "vpc_security_group_ids",
                "kms_key_id",
            ],
            &["global_cluster_identifier", "master_password"],
        )
    }

    type Handle = Cluster;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        let password = self.master_password.clone().map(Input::into_secret);
        Props::new()
            .set("identifier", &self.identifier)
            .set("engine", &self.engine)
            .set("engine_version", &self.engine_version)
            .set("database_name", &self.database_name)
            .set("master_username", &self.master_username)
            .set("master_password", &password)
            .set("global_cluster_identifier", &self.global_cluster_identifier)
            .set_opt(
                "member_generation",
                self.member_generation.map(Input::Value).as_ref(),
            )
            .set("db_subnet_group_name", &self.db_subnet_group_name)
            .set("vpc_security_group_ids", &self.vpc_security_group_ids)
            .set("storage_encrypted", &self.storage_encrypted)
            .set("kms_key_id", &self.kms_key_id)
            .set("backup_retention_period", &self.backup_retention_period)
            .set("preferred_backup_window", &self.preferred_backup_window)
            .value("skip_final_snapshot", &self.skip_final_snapshot)
            .set("final_snapshot_identifier", &self.final_snapshot_identifier)
            .set("deletion_protection", &self.deletion_protection)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let view = View {
            identifier: Arg::input(&self.identifier),
            engine: Arg::input(&self.engine),
            database_name: Arg::optional(&self.database_name),
            master_username: Arg::optional(&self.master_username),
            master_password: Arg::optional(&self.master_password),
            global_cluster_identifier: Arg::optional(&self.global_cluster_identifier),
            kms_key_id: Arg::optional(&self.kms_key_id),
            preferred_backup_window: Arg::optional(&self.preferred_backup_window),
            final_snapshot_identifier: Arg::optional(&self.final_snapshot_identifier),
            storage_encrypted: self.storage_encrypted.known().copied(),
            backup_retention_period: self.backup_retention_period.known().map(|d| i64::from(*d)),
            skip_final_snapshot: Some(self.skip_final_snapshot),
        };
        for (field, message) in view.problems() {
            errors.add(field, message);
        }
    }

    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::new().delete_before_replace(true)
    }
}

/// The arguments as validation sees them, from a builder or from JSON inputs.
struct View<'a> {
    identifier: Arg<'a>,
    engine: Arg<'a>,
    database_name: Arg<'a>,
    master_username: Arg<'a>,
    master_password: Arg<'a>,
    global_cluster_identifier: Arg<'a>,
    kms_key_id: Arg<'a>,
    preferred_backup_window: Arg<'a>,
    final_snapshot_identifier: Arg<'a>,
    storage_encrypted: Option<bool>,
    backup_retention_period: Option<i64>,
    skip_final_snapshot: Option<bool>,
}

impl View<'_> {
    fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        self.identifier
            .check("identifier", check_identifier, &mut p);
        self.engine.check("engine", check_engine, &mut p);
        self.database_name
            .check("database_name", check_database_name, &mut p);
        self.master_username
            .check("master_username", check_master_username, &mut p);
        self.master_password
            .check("master_password", check_master_password, &mut p);
        self.global_cluster_identifier
            .check("global_cluster_identifier", check_identifier, &mut p);
        self.preferred_backup_window
            .check("preferred_backup_window", check_backup_window, &mut p);
        self.final_snapshot_identifier.check(
            "final_snapshot_identifier",
            check_snapshot_identifier,
            &mut p,
        );
        if let Some(days) = self.backup_retention_period
            && let Err(e) = check_backup_retention(days)
        {
            p.push(("backup_retention_period".to_string(), e));
        }
        if self.skip_final_snapshot == Some(false) && !self.final_snapshot_identifier.is_present() {
            p.push((
                "final_snapshot_identifier".to_string(),
                "is required unless skip_final_snapshot is set: deleting the cluster takes a \
                 final snapshot under this name"
                    .to_string(),
            ));
        }
        if self.kms_key_id.is_present() && self.storage_encrypted == Some(false) {
            p.push((
                "kms_key_id".to_string(),
                "needs storage_encrypted".to_string(),
            ));
        }
        let global = self.global_cluster_identifier.is_present();
        let user = self.master_username.is_present();
        let password = self.master_password.is_present();
        if !global {
            if !user {
                p.push((
                    "master_username".to_string(),
                    "is required for a cluster outside a global database".to_string(),
                ));
            }
            if !password {
                p.push((
                    "master_password".to_string(),
                    "is required for a cluster outside a global database".to_string(),
                ));
            }
        } else if user && !password {
            p.push((
                "master_password".to_string(),
                "is required with master_username (a global database's primary)".to_string(),
            ));
        } else if !user {
            // A secondary replicates the primary's credentials and databases.
            let secondary = "a secondary cluster of a global database takes it from the \
                             primary; leave it unset (or set master_username for the primary)";
            if password {
                p.push(("master_password".to_string(), secondary.to_string()));
            }
            if self.database_name.is_present() {
                p.push(("database_name".to_string(), secondary.to_string()));
            }
        }
        p
    }
}

handle! {
    /// A declared Aurora cluster.
    Cluster {
        /// The cluster identifier (also its id).
        id: String,
        /// Its ARN.
        arn: String,
        /// The writer endpoint's host name.
        endpoint: String,
        /// The reader endpoint's host name.
        reader_endpoint: String,
        /// The port it listens on.
        port: i32,
        /// The region-unique, immutable resource id (`cluster-...`).
        cluster_resource_id: String,
    }
}

/// What a cluster exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterOutputs {
    /// The identifier.
    pub id: String,
    /// The ARN.
    pub arn: String,
    /// The writer endpoint.
    pub endpoint: String,
    /// The reader endpoint.
    pub reader_endpoint: String,
    /// The port.
    pub port: i32,
    /// The resource id.
    pub cluster_resource_id: String,
}

fn one() -> i32 {
    1
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct ClusterInputs {
    identifier: String,
    engine: String,
    #[serde(default)]
    engine_version: Option<String>,
    #[serde(default)]
    database_name: Option<String>,
    #[serde(default)]
    master_username: Option<String>,
    #[serde(default)]
    master_password: Option<String>,
    #[serde(default)]
    global_cluster_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member_generation: Option<u32>,
    #[serde(default)]
    db_subnet_group_name: Option<String>,
    #[serde(default)]
    vpc_security_group_ids: Vec<String>,
    #[serde(default)]
    storage_encrypted: bool,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default = "one")]
    backup_retention_period: i32,
    #[serde(default)]
    preferred_backup_window: Option<String>,
    #[serde(default)]
    skip_final_snapshot: bool,
    #[serde(default)]
    final_snapshot_identifier: Option<String>,
    #[serde(default)]
    deletion_protection: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl ClusterInputs {
    /// As JSON for the engine, the password (when known) marked secret.
    fn to_value(&self) -> Value {
        let mut v = to_json(self);
        if let Some(p) = &self.master_password {
            v["master_password"] = secret(Value::String(p.clone()));
        }
        v
    }

    /// Replaces the password by a marker in an error message, should the service ever
    /// repeat it.
    fn scrub(&self, mut e: ProviderError) -> ProviderError {
        if let Some(p) = self.master_password.as_deref().filter(|p| !p.is_empty()) {
            e.message = e.message.replace(p, iac_dsl::value::REDACTED);
        }
        e
    }
}

pub(super) struct ClusterImpl;

#[async_trait]
impl ResourceImpl for ClusterImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &[
            "identifier",
            "engine",
            "database_name",
            "master_username",
            "db_subnet_group_name",
            "storage_encrypted",
            "kms_key_id",
            "global_cluster_identifier",
            "member_generation",
        ]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        View {
            identifier: Arg::json(&inputs["identifier"]),
            engine: Arg::json(&inputs["engine"]),
            database_name: Arg::json(&inputs["database_name"]),
            master_username: Arg::json(&inputs["master_username"]),
            master_password: Arg::json(&inputs["master_password"]),
            global_cluster_identifier: Arg::json(&inputs["global_cluster_identifier"]),
            kms_key_id: Arg::json(&inputs["kms_key_id"]),
            preferred_backup_window: Arg::json(&inputs["preferred_backup_window"]),
            final_snapshot_identifier: Arg::json(&inputs["final_snapshot_identifier"]),
            storage_encrypted: inputs["storage_encrypted"].as_bool(),
            backup_retention_period: inputs["backup_retention_period"].as_i64(),
            skip_final_snapshot: inputs["skip_final_snapshot"].as_bool(),
        }
        .problems()
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let client = aws.rds().await;
        let inputs: ClusterInputs = decode(&req.inputs)?;
        let id = inputs.identifier.to_lowercase();
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // Identifiers are unique in a region: a cluster already there is this resource's
        // (a create whose answer was lost) only when its tags say so.
        let adopt = |c: &DbCluster| {
            if managed_by(&tag_map(c.tag_list()), &req.ctx, Some(&req.token)) {
                Ok(())
            } else {
                Err(not_managed("CreateDBCluster", "DB cluster", &id, &req.ctx))
            }
        };
        {
            let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
            let result = client
                .create_db_cluster()
                .db_cluster_identifier(&id)
                .engine(&inputs.engine)
                .set_engine_version(inputs.engine_version.clone())
                .set_database_name(inputs.database_name.clone())
                .set_master_username(inputs.master_username.clone())
                .set_master_user_password(inputs.master_password.clone())
                .set_global_cluster_identifier(inputs.global_cluster_identifier.clone())
                .set_db_subnet_group_name(inputs.db_subnet_group_name.clone())
                .set_vpc_security_group_ids(
                    (!inputs.vpc_security_group_ids.is_empty())
                        .then(|| inputs.vpc_security_group_ids.clone()),
                )
                .storage_encrypted(inputs.storage_encrypted)
                .set_kms_key_id(inputs.kms_key_id.clone())
                .backup_retention_period(inputs.backup_retention_period)
                .set_preferred_backup_window(inputs.preferred_backup_window.clone())
                .deletion_protection(inputs.deletion_protection)
                .set_tags(Some(rds_tags(&tags)))
                .send()
                .await
                .op("CreateDBCluster")
                .map_err(|e| inputs.scrub(e));
            match result {
                Ok(_) => {}
                Err(e) if already_exists(&e) => match describe(&client, &id).await? {
                    Some(c) => adopt(&c)?,
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        let result = client
            .wait_until_db_cluster_available()
            .db_cluster_identifier(&id)
            .wait(timeout)
            .await;
        // The waiter's last answer describes the available cluster: no read back.
        let polled = last_answer(&result, |out: &DescribeDbClustersOutput| {
            out.db_clusters().first()
        });
        let what = format!("DB cluster `{id}` to become available");
        let ready = waited(result, "DescribeDBClusters", &what, timeout);
        let cluster = match polled {
            Some(cluster) => cluster,
            None => describe(&client, &id)
                .await?
                .ok_or_else(|| vanished("DescribeDBClusters", "DB cluster", &id))?,
        };
        let outputs = to_json(&outputs_of(&cluster));
        ready.map_err(|e| with_created(e, &id, outputs.clone()))?;
        Ok(CreateResponse { id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.rds().await;
        Ok(describe(&client, &req.id).await?.map(|c| ReadResponse {
            id: req.id.clone(),
            inputs: inputs_of(aws, &c, &req.inputs).to_value(),
            outputs: to_json(&outputs_of(&c)),
        }))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let client = aws.rds().await;
        let old: ClusterInputs = decode(&req.old_inputs)?;
        let new: ClusterInputs = decode(&req.new_inputs)?;
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut call = client
            .modify_db_cluster()
            .db_cluster_identifier(&req.id)
            .apply_immediately(true);
        let mut changed = false;
        if old.backup_retention_period != new.backup_retention_period {
            call = call.backup_retention_period(new.backup_retention_period);
            changed = true;
        }
        if old.preferred_backup_window != new.preferred_backup_window
            && let Some(window) = &new.preferred_backup_window
        {
            call = call.preferred_backup_window(window);
            changed = true;
        }
        if old.master_password != new.master_password
            && let Some(password) = &new.master_password
        {
            call = call.master_user_password(password);
            changed = true;
        }
        let sorted = |ids: &[String]| {
            let mut ids = ids.to_vec();
            ids.sort();
            ids
        };
        if sorted(&old.vpc_security_group_ids) != sorted(&new.vpc_security_group_ids) {
            call = call.set_vpc_security_group_ids(Some(new.vpc_security_group_ids.clone()));
            changed = true;
        }
        if old.deletion_protection != new.deletion_protection {
            call = call.deletion_protection(new.deletion_protection);
            changed = true;
        }
        if old.engine_version != new.engine_version
            && let Some(version) = &new.engine_version
        {
            let major = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|v| v.split('.').next())
                    .map(str::to_string)
            };
            call = call.engine_version(version).allow_major_version_upgrade(
                major(&old.engine_version) != major(&new.engine_version),
            );
            changed = true;
        }
        if changed {
            call.send()
                .await
                .op("ModifyDBCluster")
                .map_err(|e| new.scrub(e))?;
            wait_available(&client, &req.id, timeout).await?;
        }
        let cluster = describe(&client, &req.id)
            .await?
            .ok_or_else(|| vanished("DescribeDBClusters", "DB cluster", &req.id))?;
        let outputs = outputs_of(&cluster);
        sync_tags(aws, &client, &req.ctx, &outputs.arn, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.rds().await;
        let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let Some(cluster) = describe(&client, &req.id).await? else {
            return Ok(());
        };
        // A member of a global database leaves it first: RDS deletes no member.
        if let (Some(global), Some(arn)) = (
            cluster.global_cluster_identifier().map(short_id),
            cluster.db_cluster_arn(),
        ) && global_cluster::has_member(&client, global, arn).await?
        {
            retry_while_busy(BUSY, deadline, || async {
                client
                    .remove_from_global_cluster()
                    .global_cluster_identifier(global)
                    .db_cluster_identifier(arn)
                    .send()
                    .await
                    .op("RemoveFromGlobalCluster")
            })
            .await?;
            // RDS refuses to delete a cluster it still counts as a member; the removal
            // takes effect a little after the call returns.
            let what = format!("cluster `{}` to leave global cluster `{global}`", req.id);
            poll_until(
                remaining(deadline),
                "RemoveFromGlobalCluster",
                &what,
                || async { Ok(!global_cluster::has_member(&client, global, arn).await?) },
            )
            .await?;
            wait_available(&client, &req.id, remaining(deadline)).await?;
        }
        let skip = req.inputs["skip_final_snapshot"].as_bool().unwrap_or(false);
        let snapshot = req.inputs["final_snapshot_identifier"]
            .as_str()
            .map(str::to_string);
        let deleted = retry_while_busy(BUSY, deadline, || async {
            let call = client.delete_db_cluster().db_cluster_identifier(&req.id);
            let call = if skip {
                call.skip_final_snapshot(true)
            } else {
                call.skip_final_snapshot(false)
                    .set_final_db_snapshot_identifier(snapshot.clone())
            };
            none_if_not_found(call.send().await.op("DeleteDBCluster"))
        })
        .await?;
        if deleted.is_none() {
            return Ok(());
        }
        let left = remaining(deadline);
        let result = client
            .wait_until_db_cluster_deleted()
            .db_cluster_identifier(&req.id)
            .wait(left)
            .await;
        let what = format!("DB cluster `{}` to be deleted", req.id);
        waited(result, "DescribeDBClusters", &what, timeout)
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
        let Some(cluster) = describe(&client, id).await? else {
            return Ok(None);
        };
        if !managed_by(&tag_map(cluster.tag_list()), &req.ctx, Some(&req.token)) {
            return Ok(None);
        }
        let outputs = outputs_of(&cluster);
        Ok(Some(ReadResponse {
            id: outputs.id.clone(),
            inputs: inputs_of(aws, &cluster, &req.inputs).to_value(),
            outputs: to_json(&outputs),
        }))
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn wait_available(client: &Client, id: &str, timeout: Duration) -> Result<(), ProviderError> {
    let result = client
        .wait_until_db_cluster_available()
        .db_cluster_identifier(id)
        .wait(timeout)
        .await;
    let what = format!("DB cluster `{id}` to become available");
    waited(result, "DescribeDBClusters", &what, timeout)
}

/// The cluster `id`, or `None` when it does not exist or is being deleted.
async fn describe(client: &Client, id: &str) -> Result<Option<DbCluster>, ProviderError> {
    let out = none_if_not_found(
        client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .op("DescribeDBClusters"),
    )?;
    Ok(out.and_then(|o| {
        o.db_clusters()
            .iter()
            .find(|c| {
                c.db_cluster_identifier()
                    .is_some_and(|x| x.eq_ignore_ascii_case(id))
                    && !matches!(c.status(), Some("deleting" | "deleted"))
            })
            .cloned()
    }))
}

fn outputs_of(c: &DbCluster) -> ClusterOutputs {
    ClusterOutputs {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        arn: c.db_cluster_arn().unwrap_or_default().to_string(),
        endpoint: c.endpoint().unwrap_or_default().to_string(),
        reader_endpoint: c.reader_endpoint().unwrap_or_default().to_string(),
        port: c.port().unwrap_or_default(),
        cluster_resource_id: c.db_cluster_resource_id().unwrap_or_default().to_string(),
    }
}

/// The inputs as found. What RDS cannot tell (the password, what delete does) is kept
/// from the recorded inputs; optional inputs RDS fills with defaults are reported only
/// when they were given.
fn inputs_of(aws: &Aws, c: &DbCluster, recorded: &Value) -> ClusterInputs {
    // A cluster detached and promoted by its global cluster's writer change has left the
    // global database on purpose; that is not a reason to replace it.
    let global = match c.global_cluster_identifier().map(short_id) {
        Some(g) => Some(keep_spelling(&recorded["global_cluster_identifier"], g)),
        None => recorded["global_cluster_identifier"]
            .as_str()
            .map(str::to_string),
    };
    let security_groups = c
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
        .collect();
    let recorded_groups = &recorded["vpc_security_group_ids"];
    let unset_groups =
        !recorded.is_null() && recorded_groups.as_array().is_none_or(|a| a.is_empty());
    ClusterInputs {
        identifier: keep_spelling(
            &recorded["identifier"],
            c.db_cluster_identifier().unwrap_or_default(),
        ),
        engine: c.engine().unwrap_or_default().to_string(),
        engine_version: computed(recorded, "engine_version", c.engine_version()),
        database_name: computed(recorded, "database_name", c.database_name()),
        master_username: computed(recorded, "master_username", c.master_username()),
        master_password: recorded["master_password"].as_str().map(str::to_string),
        global_cluster_identifier: global,
        member_generation: recorded["member_generation"]
            .as_u64()
            .and_then(|g| u32::try_from(g).ok()),
        db_subnet_group_name: computed(recorded, "db_subnet_group_name", c.db_subnet_group()),
        vpc_security_group_ids: if unset_groups {
            Vec::new()
        } else {
            keep_order(recorded_groups, security_groups)
        },
        storage_encrypted: c.storage_encrypted().unwrap_or(false),
        kms_key_id: computed(recorded, "kms_key_id", c.kms_key_id()),
        backup_retention_period: c.backup_retention_period().unwrap_or(1),
        preferred_backup_window: computed(
            recorded,
            "preferred_backup_window",
            c.preferred_backup_window(),
        ),
        skip_final_snapshot: recorded["skip_final_snapshot"].as_bool().unwrap_or(false),
        final_snapshot_identifier: recorded["final_snapshot_identifier"]
            .as_str()
            .map(str::to_string),
        deletion_protection: c.deletion_protection().unwrap_or(false),
        tags: aws.own_tags(tag_map(c.tag_list())),
    }
}

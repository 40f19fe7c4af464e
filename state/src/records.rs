//! The records the store reads and writes. They are storage types of their own: the engine
//! converts to and from them, it does not serialize its internal types into the file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A stack: a project (the program) and a stack name (an environment such as `prod-001`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StackId {
    /// The project, e.g. `payment-dr`.
    pub project: String,
    /// The stack name, e.g. `prod-001`.
    pub name: String,
}

impl StackId {
    /// A stack id.
    pub fn new(project: impl Into<String>, name: impl Into<String>) -> Self {
        StackId {
            project: project.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for StackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

/// Options recorded with a resource; they matter even when the resource is no longer
/// declared (a protected resource removed from the code is still protected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceOptionsRecord {
    /// Deleting or replacing it is refused.
    pub protect: bool,
    /// Deleting it only forgets it.
    pub retain_on_delete: bool,
    /// Replacing it deletes the old object first.
    pub delete_before_replace: bool,
    /// Input keys whose recorded values are kept.
    pub ignore_changes: Vec<String>,
}

/// Whether a recorded object is usable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// Created and healthy.
    #[default]
    Ok,
    /// Created, but its create did not finish well (for example it never became
    /// available): the next run replaces it.
    Tainted,
}

impl ResourceStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResourceStatus::Ok => "ok",
            ResourceStatus::Tainted => "tainted",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(ResourceStatus::Ok),
            "tainted" => Some(ResourceStatus::Tainted),
            _ => None,
        }
    }
}

/// One recorded resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Logical name, unique in its stack.
    pub name: String,
    /// Type token, e.g. `aws:ec2/vpc`.
    pub type_token: String,
    /// The provider (account and region) that manages it, e.g. `aws-primary`.
    pub provider: String,
    /// Physical id in the cloud.
    pub id: String,
    /// The inputs it was created or last updated with (secrets marked).
    pub inputs: Value,
    /// What it exposes (secrets marked).
    pub outputs: Value,
    /// Names of the resources it depends on.
    pub dependencies: Vec<String>,
    /// Its options.
    pub options: ResourceOptionsRecord,
    /// Whether it is usable.
    pub status: ResourceStatus,
    /// When it was first recorded (unix milliseconds; set by the store).
    pub created_at: i64,
    /// When it was last written (unix milliseconds; set by the store).
    pub updated_at: i64,
}

/// Everything recorded for one stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StackState {
    /// The stack.
    pub stack: StackId,
    /// Its resources, ordered by name.
    pub resources: Vec<ResourceRecord>,
    /// Its outputs.
    pub outputs: BTreeMap<String, Value>,
}

/// One line of `stacks()`.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSummary {
    /// The stack.
    pub stack: StackId,
    /// How many resources it records.
    pub resources: usize,
    /// Its latest deployment.
    pub last_deployment: Option<DeploymentRecord>,
}

/// Identifies a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeploymentId(pub i64);

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a deployment was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    /// `up`.
    Up,
    /// `destroy`.
    Destroy,
    /// `refresh`.
    Refresh,
    /// `import`.
    Import,
    /// A manual state edit.
    StateEdit,
    /// A failover drill: a writer change made to measure it; its report (timeline, RTO,
    /// RPO) is kept beside it ([`crate::StateStore::set_deployment_report`]).
    Drill,
}

impl DeploymentKind {
    /// Its word in the state and in `history` (`up`, `destroy`, `refresh`, `import`,
    /// `state_edit`, `drill`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Up => "up",
            DeploymentKind::Destroy => "destroy",
            DeploymentKind::Refresh => "refresh",
            DeploymentKind::Import => "import",
            DeploymentKind::StateEdit => "state_edit",
            DeploymentKind::Drill => "drill",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "up" => DeploymentKind::Up,
            "destroy" => DeploymentKind::Destroy,
            "refresh" => DeploymentKind::Refresh,
            "import" => DeploymentKind::Import,
            "state_edit" => DeploymentKind::StateEdit,
            "drill" => DeploymentKind::Drill,
            _ => return None,
        })
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentResult {
    /// Every step succeeded.
    Succeeded,
    /// Some steps failed; the message names the root causes.
    Failed(String),
    /// Ctrl-C stopped it.
    Interrupted,
}

impl DeploymentResult {
    /// Its word in the state and in `history`: `succeeded`, `failed` or `interrupted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeploymentResult::Succeeded => "succeeded",
            DeploymentResult::Failed(_) => "failed",
            DeploymentResult::Interrupted => "interrupted",
        }
    }
}

/// How many steps of each kind a deployment ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepCounts {
    /// Created.
    pub created: u64,
    /// Updated in place.
    pub updated: u64,
    /// Replaced.
    pub replaced: u64,
    /// Deleted or forgotten.
    pub deleted: u64,
    /// Unchanged.
    pub same: u64,
    /// Failed.
    pub failed: u64,
}

/// One recorded deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Its id.
    pub id: DeploymentId,
    /// What it was.
    pub kind: DeploymentKind,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended; `None` while running (or when its process died).
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// How it ended.
    pub result: Option<DeploymentResult>,
    /// Its step counts.
    pub counts: Option<StepCounts>,
}

/// One step of a deployment as the journal recorded it (see
/// [`crate::StateStore::journal_steps`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalStep {
    /// The resource's logical name.
    pub resource: String,
    /// Its type token.
    pub type_token: String,
    /// Its provider (a region, for AWS).
    pub provider: String,
    /// `create`, `update`, `delete`, ...
    pub operation: String,
    /// When its intent was recorded, in milliseconds since the epoch.
    pub started_at_ms: i64,
    /// When its result was recorded; `None` if it never was (an interrupted run).
    pub finished_at_ms: Option<i64>,
    /// How it ended (`written`, `deleted` or `failed`); `None` if it never did.
    pub outcome: Option<String>,
}

/// Identifies a journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IntentId(pub i64);

/// The kind of cloud call an intent announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create an object (the token is the idempotency token).
    Create,
    /// Update an object (the token is its physical id).
    Update,
    /// Delete an object (the token is its physical id).
    Delete,
    /// Adopt an existing object (the token is its physical id).
    Import,
}

impl Operation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Import => "import",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Operation::Create,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "import" => Operation::Import,
            _ => return None,
        })
    }
}

/// An intent to record before a cloud call.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntent {
    /// The stack.
    pub stack: StackId,
    /// The deployment it belongs to.
    pub deployment: Option<DeploymentId>,
    /// The resource's logical name.
    pub resource: String,
    /// Its type.
    pub type_token: String,
    /// Its provider.
    pub provider: String,
    /// The call.
    pub operation: Operation,
    /// The idempotency token (creates) or physical id (other calls).
    pub token: String,
    /// The inputs of the call (secrets marked; encrypted in the file).
    pub inputs: Value,
}

/// A recorded intent whose result is not recorded yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Its id.
    pub id: IntentId,
    /// The stack.
    pub stack: StackId,
    /// The resource's logical name.
    pub resource: String,
    /// Its type.
    pub type_token: String,
    /// Its provider.
    pub provider: String,
    /// The call.
    pub operation: Operation,
    /// The idempotency token (creates) or physical id (other calls).
    pub token: String,
    /// The inputs of the call.
    pub inputs: Value,
    /// When it was recorded (unix milliseconds).
    pub started_at: i64,
}

/// What a step's cloud call did, recorded together with clearing its intent.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The object exists as described: insert or replace the resource row.
    Written(ResourceRecord),
    /// The object is gone: remove the intent's resource row.
    Deleted,
    /// The call failed and changed nothing recorded.
    Failed {
        /// The error, kept in the journal.
        error: String,
    },
}

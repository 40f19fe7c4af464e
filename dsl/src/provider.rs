//! The interface between the engine and the providers that talk to clouds.
//!
//! Every method takes a request struct and returns a response struct, so adding a field
//! breaks no implementation (build requests with `..Default::default()`). The engine sees
//! JSON values here; each provider keeps its typed layer on top of this boundary.
//!
//! Inputs reach the provider with secret markers removed (it needs the real value to call
//! the API); a provider wraps secret outputs with [`crate::value::secret`] and never puts a
//! secret into an error message.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::OnceCell;

/// The listing answers one refresh shares between its providers, by key.
///
/// A provider per region still reads objects of the account's global services (IAM roles,
/// Route 53 zones): with this memo the first provider to need a listing makes the call and
/// every other provider of the refresh uses its answer. Keys must name what makes the
/// answer the same for every asker (the service, the endpoint, the account, the call).
/// The engine makes one per refresh; cloning shares it.
#[derive(Clone, Default)]
pub struct SharedReads {
    answers: Arc<Mutex<HashMap<String, Arc<OnceCell<SharedAnswer>>>>>,
}

type SharedAnswer = Arc<dyn Any + Send + Sync>;

impl fmt::Debug for SharedReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("SharedReads")
            .field("keys", &answers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SharedReads {
    /// The answer under `key`, made by `fetch` the first time it is asked for and shared
    /// by every later asker; a failed fetch is made again by the next asker. Asking for
    /// one key as two types is an error, never a panic.
    pub async fn get_or_fetch<T, F, Fut>(
        &self,
        key: &str,
        fetch: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            answers.entry(key.to_string()).or_default().clone()
        };
        let answer = cell
            .get_or_try_init(|| async { fetch().await.map(|t| Arc::new(t) as SharedAnswer) })
            .await?
            .clone();
        answer.downcast::<T>().map_err(|_| {
            ProviderError::new(
                ErrorKind::Service,
                "read",
                format!("the shared answer `{key}` was asked for as two different types"),
            )
        })
    }
}

/// Who is asking: the stack and the resource a call is made for. Providers tag what they
/// create with these so that [`Provider::lookup`] can find it again after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceContext {
    /// The stack, as `project/name` (e.g. `payment-dr/prod-001`).
    pub stack: String,
    /// The resource's logical name in the stack (component prefixes included).
    pub name: String,
    /// The resource type token, e.g. `aws:ec2/vpc`.
    pub type_token: String,
}

/// Which changed inputs force a replacement. The engine computes what changed; the
/// provider knows which of those its API cannot update in place.
#[derive(Debug, Clone)]
pub struct DiffRequest<'a> {
    /// The resource.
    pub ctx: &'a ResourceContext,
    /// The physical id recorded in state.
    pub id: &'a str,
    /// The inputs recorded in state.
    pub old_inputs: &'a Value,
    /// The declared inputs; parts may be `{"$unknown": ..}` until apply.
    pub new_inputs: &'a Value,
    /// The outputs recorded in state.
    pub old_outputs: &'a Value,
    /// The top-level input keys whose values differ (after `ignore_changes`).
    pub changed_keys: &'a [String],
}

/// The provider's verdict on a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffResponse {
    /// The changed keys that cannot be updated in place; non-empty means replace.
    pub replace_keys: Vec<String>,
    /// The replacement must delete the old object first (for example because the name is
    /// unique and kept), instead of the default create-before-delete.
    pub delete_before_replace: bool,
    /// Outputs that an in-place update will change (a digest of the inputs, a version):
    /// the plan shows them, and what depends on them, as known only after apply.
    pub unknown_outputs: Vec<String>,
    /// Changed keys whose old and new values differ only in form, not in meaning (a set
    /// of rules listed in another order, say): the engine drops them from the change, so
    /// a refreshed read in the cloud's canonical order plans no update.
    pub equivalent_keys: Vec<String>,
}

impl DiffResponse {
    /// The response for a type whose keys in `force_new` cannot be updated in place.
    pub fn replacing(changed: &[String], force_new: &[&str]) -> DiffResponse {
        DiffResponse {
            replace_keys: changed
                .iter()
                .filter(|k| force_new.contains(&k.as_str()))
                .cloned()
                .collect(),
            delete_before_replace: false,
            unknown_outputs: Vec::new(),
            equivalent_keys: Vec::new(),
        }
    }
}

/// Create a new object.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The resource.
    pub ctx: ResourceContext,
    /// Fully known inputs, secrets revealed.
    pub inputs: Value,
    /// An idempotency token recorded in the journal before this call: use it where the API
    /// takes one (EC2 `ClientToken`, Route 53 `CallerReference`), or tag the object with it.
    pub token: String,
    /// How long to wait for the object to become ready; `None` is the provider's default.
    pub timeout: Option<Duration>,
}

/// The object that was created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateResponse {
    /// The physical id (ARN, name or generated id) that read, update and delete take.
    pub id: String,
    /// What the object exposes to other resources.
    pub outputs: Value,
}

/// Read an object's current state.
#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    /// The resource.
    pub ctx: ResourceContext,
    /// The physical id.
    pub id: String,
    /// The inputs recorded in state (secrets revealed); `Null` when importing.
    pub inputs: Value,
    /// The outputs recorded in state; `Null` when importing.
    pub outputs: Value,
}

/// What the cloud holds for an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadResponse {
    /// The physical id.
    pub id: String,
    /// The inputs as found in the cloud, in the shape the resource takes them; keys the
    /// provider cannot read back are left out and keep their recorded values.
    pub inputs: Value,
    /// The outputs as found in the cloud.
    pub outputs: Value,
}

/// Change an object in place.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// The resource.
    pub ctx: ResourceContext,
    /// The physical id.
    pub id: String,
    /// The inputs recorded in state.
    pub old_inputs: Value,
    /// The new, fully known inputs.
    pub new_inputs: Value,
    /// The outputs recorded in state.
    pub old_outputs: Value,
    /// The top-level keys that changed.
    pub changed_keys: Vec<String>,
    /// How long to wait; `None` is the provider's default.
    pub timeout: Option<Duration>,
}

/// The object after an update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateResponse {
    /// The outputs after the update.
    pub outputs: Value,
}

/// Delete an object.
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    /// The resource.
    pub ctx: ResourceContext,
    /// The physical id.
    pub id: String,
    /// The inputs recorded in state.
    pub inputs: Value,
    /// The outputs recorded in state.
    pub outputs: Value,
    /// How long to wait; `None` is the provider's default.
    pub timeout: Option<Duration>,
}

/// Find an object whose create may have happened although its answer was lost.
#[derive(Debug, Clone, Default)]
pub struct LookupRequest {
    /// The resource.
    pub ctx: ResourceContext,
    /// The idempotency token that the interrupted create used.
    pub token: String,
    /// The inputs the create was made with (secrets revealed).
    pub inputs: Value,
}

/// Evaluate a data source (a read-only query such as a region's availability zones).
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    /// The data source token, e.g. `aws:ec2/availabilityZones`.
    pub token: String,
    /// Its arguments.
    pub args: Value,
}

/// What kind of failure a provider reports; the engine decides on retries and on what to
/// tell the user from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// The arguments are invalid; no request was sent.
    Validation,
    /// The object does not exist.
    NotFound,
    /// The call was throttled or failed transiently, and retries ran out.
    Transient,
    /// Waiting for the object timed out.
    Timeout,
    /// The service refused the call.
    #[default]
    Service,
    /// The provider cannot do this (for example an unknown resource type).
    Unsupported,
}

/// A provider failure, keeping the service's error code and message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The operation that failed, e.g. `CreateVpc`.
    pub operation: String,
    /// The service's error code, e.g. `InvalidParameterValue`.
    pub code: Option<String>,
    /// The message, never containing a secret.
    pub message: String,
    /// For a create that made the object but failed afterwards (for example while waiting
    /// for it to become available): the object, which the engine records as tainted so that
    /// it is replaced, never leaked.
    pub created: Option<CreateResponse>,
    /// For validation errors: each invalid field with what is wrong with it.
    pub fields: Vec<(String, String)>,
}

impl ProviderError {
    /// A failure of `operation` with `message`.
    pub fn new(kind: ErrorKind, operation: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            operation: operation.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    /// Invalid arguments: every field with what is wrong with it.
    pub fn validation(fields: Vec<(String, String)>) -> Self {
        let message = fields
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        ProviderError {
            kind: ErrorKind::Validation,
            operation: "validate".into(),
            message,
            fields,
            ..Default::default()
        }
    }

    /// An unknown resource or data source type.
    pub fn unsupported(type_token: &str) -> Self {
        ProviderError::new(
            ErrorKind::Unsupported,
            "dispatch",
            format!("this provider has no resource or data source type `{type_token}`"),
        )
    }

    /// Attaches the service's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for ProviderError {}

/// A provider: one instance per cloud account and region (or per non-cloud package such as
/// `random`), handling every resource type of its package by type token.
///
/// `diff` is pure; the other calls do I/O. The engine decides order and concurrency, records
/// every result, and never calls a provider while planning except for [`Provider::invoke`]
/// (data sources) and, in `refresh`, [`Provider::read`].
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The package of the types it handles: the part of a type token before `:` (`aws`).
    fn package(&self) -> &str;

    /// Which of the changed keys force a replacement. Pure: no I/O.
    fn diff(&self, req: &DiffRequest<'_>) -> Result<DiffResponse, ProviderError> {
        let _ = req;
        Ok(DiffResponse::default())
    }

    /// Validates fully known inputs of a resource before any call; returns every invalid
    /// field. The engine calls it during planning for inputs known then and again before
    /// create or update.
    fn check(&self, ctx: &ResourceContext, inputs: &Value) -> Vec<(String, String)> {
        let _ = (ctx, inputs);
        Vec::new()
    }

    /// Creates the object.
    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError>;

    /// Reads the object; `Ok(None)` when it no longer exists.
    async fn read(&self, req: ReadRequest) -> Result<Option<ReadResponse>, ProviderError>;

    /// Reads many objects, answering in the order of `reqs`. The engine's refresh calls it
    /// once per provider with every recorded resource of that provider, so that a provider
    /// whose API lists many objects in one call (EC2 describes by id list, one record
    /// listing per hosted zone) reads them together. The default reads each on its own,
    /// `parallelism` at a time.
    ///
    /// `shared` is the refresh's memo of listing answers across providers: a global
    /// service's listing (IAM, Route 53) is read once for every region's provider.
    async fn read_many(
        &self,
        reqs: Vec<ReadRequest>,
        parallelism: usize,
        shared: &SharedReads,
    ) -> Vec<Result<Option<ReadResponse>, ProviderError>> {
        let _ = shared;
        use futures::stream::{self, StreamExt};
        stream::iter(reqs)
            .map(|r| self.read(r))
            .buffered(parallelism.max(1))
            .collect()
            .await
    }

    /// Updates the object in place.
    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError>;

    /// Deletes the object. Deleting an object that is already gone succeeds.
    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError>;

    /// Finds the object an interrupted create may have made, by token, name or tag.
    async fn lookup(&self, req: LookupRequest) -> Result<Option<ReadResponse>, ProviderError>;

    /// The region it manages, when it has one: cross-region wiring is checked between
    /// resources of providers that say their region.
    fn region(&self) -> Option<&str> {
        None
    }

    /// The built-in policies for its types, run by every preview and before `up`.
    fn policies(&self) -> Vec<std::sync::Arc<dyn crate::policy::Policy>> {
        Vec::new()
    }

    /// The cost model pricing its types, for the preview's estimate.
    fn cost_model(&self) -> Option<std::sync::Arc<dyn crate::cost::CostModel>> {
        None
    }

    /// Evaluates a data source.
    async fn invoke(&self, req: InvokeRequest) -> Result<Value, ProviderError> {
        Err(ProviderError::unsupported(&req.token))
    }

    /// The calls this provider has sent so far, by `service:Operation`, each attempt
    /// counted; the engine reports a run's share. Providers that send none keep the default.
    fn call_counts(&self) -> std::collections::BTreeMap<String, u64> {
        std::collections::BTreeMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_shared_answer_is_fetched_once_a_failure_is_fetched_again_and_types_are_checked() {
        let shared = SharedReads::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ProviderError>(7u32)
        };
        // Two providers ask at once (one clone each): one call.
        let other = shared.clone();
        let (a, b) = tokio::join!(
            shared.get_or_fetch("iam:roles", fetch),
            other.get_or_fetch("iam:roles", fetch)
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        let failed = shared
            .get_or_fetch("zone", || async {
                Err::<u32, _>(ProviderError::new(ErrorKind::Service, "List", "throttled"))
            })
            .await;
        assert!(failed.is_err());
        let again = shared.get_or_fetch("zone", || async { Ok(3u32) }).await;
        assert_eq!(*again.unwrap(), 3, "a failed fetch is made again");

        let wrong = shared
            .get_or_fetch("iam:roles", || async { Ok(String::new()) })
            .await;
        assert!(
            wrong.unwrap_err().message.contains("two different types"),
            "a key asked for as another type is an error, not a panic"
        );
    }
}

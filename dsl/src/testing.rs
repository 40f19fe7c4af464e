//! A fake provider for engine tests and benchmarks: an in-memory (or file-backed) cloud
//! with sensible default behaviour, closures that override any call for chosen
//! resources, and a log of every call with its start and end order.
//!
//! The file-backed cloud survives the process, so a test can kill a child process in the
//! middle of `up` and check that the next run creates nothing twice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::output::Output;
use crate::provider::{
    CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse, ErrorKind,
    InvokeRequest, LookupRequest, Provider, ProviderError, ReadRequest, ReadResponse,
    ResourceContext, UpdateRequest, UpdateResponse,
};
use crate::resource::{DataSourceArgs, Props, ResourceArgs, ResourceRef};

/// One object in the fake cloud.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FakeObject {
    /// The logical name it was created for.
    pub name: String,
    /// The create token.
    pub token: String,
    /// Its current inputs.
    pub inputs: Value,
}

/// The fake cloud's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CloudData {
    /// Objects by id.
    pub objects: BTreeMap<String, FakeObject>,
    /// How many objects were ever created per logical name.
    pub creates: BTreeMap<String, u32>,
    /// The next id number.
    pub next_id: u64,
}

/// The fake cloud: in memory, or in a JSON file that survives the process.
#[derive(Debug, Clone, Default)]
pub struct FakeCloud {
    data: Arc<Mutex<CloudData>>,
    file: Option<PathBuf>,
}

impl FakeCloud {
    /// An empty in-memory cloud.
    pub fn new() -> Self {
        FakeCloud::default()
    }

    /// A cloud kept in `path` (read on every call, written after every change).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        FakeCloud {
            data: Arc::default(),
            file: Some(path.into()),
        }
    }

    /// Runs `f` on the contents, loading and saving the file when there is one.
    pub fn with<R>(&self, f: impl FnOnce(&mut CloudData) -> R) -> R {
        let mut guard = self.data.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = &self.file {
            *guard = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
        }
        let result = f(&mut guard);
        if let Some(path) = &self.file {
            let tmp = path.with_extension("tmp");
            let bytes = serde_json::to_vec(&*guard).unwrap_or_default();
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
        result
    }

    /// Creates an object for `req` (what the default create does), counting the create.
    pub fn create(&self, req: &CreateRequest) -> CreateResponse {
        self.with(|d| {
            d.next_id += 1;
            let id = format!("{}-{}", req.ctx.name.replace('/', "-"), d.next_id);
            d.objects.insert(
                id.clone(),
                FakeObject {
                    name: req.ctx.name.clone(),
                    token: req.token.clone(),
                    inputs: req.inputs.clone(),
                },
            );
            *d.creates.entry(req.ctx.name.clone()).or_insert(0) += 1;
            CreateResponse {
                outputs: outputs_of(&id, &req.inputs),
                id,
            }
        })
    }

    /// A copy of the contents.
    pub fn snapshot(&self) -> CloudData {
        self.with(|d| d.clone())
    }
}

/// One call the fake provider received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `create`, `read`, `update`, `delete`, `lookup` or `invoke`.
    pub op: &'static str,
    /// The resource (or data source token).
    pub name: String,
    /// Order in which the call started, across all calls.
    pub started: u64,
    /// Order in which it ended, on the same clock.
    pub finished: u64,
}

type Latency = Arc<dyn Fn(&str, &str) -> Duration + Send + Sync>;
type Check = Arc<dyn Fn(&ResourceContext, &Value) -> Vec<(String, String)> + Send + Sync>;
type Hook<Req, Resp> = Arc<dyn Fn(&Req) -> Option<Result<Resp, ProviderError>> + Send + Sync>;

/// A provider made of closures with defaults over a [`FakeCloud`]; records every call.
#[derive(Clone)]
pub struct FakeProvider {
    package: String,
    cloud: FakeCloud,
    calls: Arc<Mutex<Vec<Call>>>,
    clock: Arc<AtomicU64>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    force_new: Vec<String>,
    changing_outputs: Vec<String>,
    delete_first: bool,
    latency: Option<Latency>,
    on_create: Option<Hook<CreateRequest, CreateResponse>>,
    on_update: Option<Hook<UpdateRequest, UpdateResponse>>,
    on_delete: Option<Hook<DeleteRequest, ()>>,
    on_read: Option<Hook<ReadRequest, Option<ReadResponse>>>,
    on_invoke: Option<Hook<InvokeRequest, Value>>,
    check: Option<Check>,
}

impl Default for FakeProvider {
    fn default() -> Self {
        FakeProvider::new("fake", FakeCloud::new())
    }
}

impl FakeProvider {
    /// A fake provider for `package` over `cloud`.
    pub fn new(package: &str, cloud: FakeCloud) -> Self {
        FakeProvider {
            package: package.to_string(),
            cloud,
            calls: Arc::default(),
            clock: Arc::default(),
            running: Arc::default(),
            max_running: Arc::default(),
            force_new: vec!["replace_me".into()],
            changing_outputs: Vec::new(),
            delete_first: false,
            latency: None,
            on_create: None,
            on_update: None,
            on_delete: None,
            on_read: None,
            on_invoke: None,
            check: None,
        }
    }

    /// The cloud behind it.
    pub fn cloud(&self) -> &FakeCloud {
        &self.cloud
    }

    /// Input keys whose change forces replacement (default: `replace_me`).
    pub fn force_new(mut self, keys: &[&str]) -> Self {
        self.force_new = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// Outputs the provider says an update changes (shown as unknown until applied).
    pub fn outputs_changed_by_update(mut self, keys: &[&str]) -> Self {
        self.changing_outputs = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// Whether replacements delete first.
    pub fn delete_before_replace(mut self, yes: bool) -> Self {
        self.delete_first = yes;
        self
    }

    /// How long each call takes: `latency(op, name)`.
    pub fn latency(mut self, f: impl Fn(&str, &str) -> Duration + Send + Sync + 'static) -> Self {
        self.latency = Some(Arc::new(f));
        self
    }

    /// Overrides create; return `None` to fall back to the default.
    pub fn on_create(
        mut self,
        f: impl Fn(&CreateRequest) -> Option<Result<CreateResponse, ProviderError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.on_create = Some(Arc::new(f));
        self
    }

    /// Overrides update; return `None` to fall back to the default.
    pub fn on_update(
        mut self,
        f: impl Fn(&UpdateRequest) -> Option<Result<UpdateResponse, ProviderError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.on_update = Some(Arc::new(f));
        self
    }

    /// Overrides delete; return `None` to fall back to the default.
    pub fn on_delete(
        mut self,
        f: impl Fn(&DeleteRequest) -> Option<Result<(), ProviderError>> + Send + Sync + 'static,
    ) -> Self {
        self.on_delete = Some(Arc::new(f));
        self
    }

    /// Overrides read; return `None` to fall back to the default.
    pub fn on_read(
        mut self,
        f: impl Fn(&ReadRequest) -> Option<Result<Option<ReadResponse>, ProviderError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.on_read = Some(Arc::new(f));
        self
    }

    /// Overrides data sources; return `None` to fall back to the default (echo the args).
    pub fn on_invoke(
        mut self,
        f: impl Fn(&InvokeRequest) -> Option<Result<Value, ProviderError>> + Send + Sync + 'static,
    ) -> Self {
        self.on_invoke = Some(Arc::new(f));
        self
    }

    /// Validation of inputs.
    pub fn check_with(
        mut self,
        f: impl Fn(&ResourceContext, &Value) -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(f));
        self
    }

    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        calls.sort_by_key(|c| c.started);
        calls
    }

    /// The calls of kind `op`, by resource name.
    pub fn calls_of(&self, op: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.op == op)
            .map(|c| c.name)
            .collect()
    }

    /// The most calls that were ever running at once.
    pub fn max_concurrency(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }

    async fn track<T>(&self, op: &'static str, name: &str, body: impl FnOnce() -> T) -> T {
        let started = self.clock.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        if let Some(latency) = &self.latency {
            let d = latency(op, name);
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        }
        let result = body();
        self.running.fetch_sub(1, Ordering::SeqCst);
        let finished = self.clock.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                op,
                name: name.to_string(),
                started,
                finished,
            });
        }
        result
    }
}

fn outputs_of(id: &str, inputs: &Value) -> Value {
    let mut out = inputs.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("id".into(), json!(id));
    } else {
        out = json!({"id": id});
    }
    out
}

fn gone(op: &str, id: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, op, format!("no object {id}"))
}

#[async_trait]
impl Provider for FakeProvider {
    fn package(&self) -> &str {
        &self.package
    }

    fn diff(&self, req: &DiffRequest<'_>) -> Result<DiffResponse, ProviderError> {
        let keys: Vec<&str> = self.force_new.iter().map(String::as_str).collect();
        let mut r = DiffResponse::replacing(req.changed_keys, &keys);
        r.delete_before_replace = self.delete_first;
        r.unknown_outputs = self.changing_outputs.clone();
        Ok(r)
    }

    fn check(&self, ctx: &ResourceContext, inputs: &Value) -> Vec<(String, String)> {
        self.check
            .as_ref()
            .map(|f| f(ctx, inputs))
            .unwrap_or_default()
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = req.ctx.name.clone();
        self.track("create", &name, || {
            if let Some(r) = self.on_create.as_ref().and_then(|f| f(&req)) {
                return r;
            }
            Ok(self.cloud.create(&req))
        })
        .await
    }

    async fn read(&self, req: ReadRequest) -> Result<Option<ReadResponse>, ProviderError> {
        let name = req.ctx.name.clone();
        self.track("read", &name, || {
            if let Some(r) = self.on_read.as_ref().and_then(|f| f(&req)) {
                return r;
            }
            Ok(self.cloud.with(|d| {
                d.objects.get(&req.id).map(|o| ReadResponse {
                    id: req.id.clone(),
                    inputs: o.inputs.clone(),
                    outputs: outputs_of(&req.id, &o.inputs),
                })
            }))
        })
        .await
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req.ctx.name.clone();
        self.track("update", &name, || {
            if let Some(r) = self.on_update.as_ref().and_then(|f| f(&req)) {
                return r;
            }
            self.cloud.with(|d| match d.objects.get_mut(&req.id) {
                Some(o) => {
                    o.inputs = req.new_inputs.clone();
                    Ok(UpdateResponse {
                        outputs: outputs_of(&req.id, &req.new_inputs),
                    })
                }
                None => Err(gone("update", &req.id)),
            })
        })
        .await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let name = req.ctx.name.clone();
        self.track("delete", &name, || {
            if let Some(r) = self.on_delete.as_ref().and_then(|f| f(&req)) {
                return r;
            }
            self.cloud.with(|d| {
                d.objects.remove(&req.id);
            });
            Ok(())
        })
        .await
    }

    async fn lookup(&self, req: LookupRequest) -> Result<Option<ReadResponse>, ProviderError> {
        let name = req.ctx.name.clone();
        self.track("lookup", &name, || {
            Ok(self.cloud.with(|d| {
                d.objects
                    .iter()
                    .find(|(_, o)| o.token == req.token)
                    .map(|(id, o)| ReadResponse {
                        id: id.clone(),
                        inputs: o.inputs.clone(),
                        outputs: outputs_of(id, &o.inputs),
                    })
            }))
        })
        .await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<Value, ProviderError> {
        let token = req.token.clone();
        self.track("invoke", &token, || {
            if let Some(r) = self.on_invoke.as_ref().and_then(|f| f(&req)) {
                return r;
            }
            Ok(req.args.clone())
        })
        .await
    }
}

/// Arguments of a fake resource: any JSON-like properties, for engine tests.
#[derive(Clone, Default)]
pub struct FakeArgs {
    type_token: &'static str,
    props: Props,
}

impl FakeArgs {
    /// A resource of type `fake:test/thing`.
    pub fn new() -> Self {
        FakeArgs {
            type_token: "fake:test/thing",
            props: Props::new(),
        }
    }

    /// A resource of another fake type (package `fake`).
    pub fn typed(type_token: &'static str) -> Self {
        FakeArgs {
            type_token,
            props: Props::new(),
        }
    }

    /// Sets a property to a value known now.
    pub fn value<T: Serialize>(mut self, key: &str, value: T) -> Self {
        self.props = self.props.value(key, &value);
        self
    }

    /// Sets a property to an output of another resource.
    pub fn output<T>(mut self, key: &str, value: &Output<T>) -> Self {
        self.props = self.props.set(key, value);
        self
    }
}

impl ResourceArgs for FakeArgs {
    type Handle = FakeHandle;

    fn type_token(&self) -> &'static str {
        self.type_token
    }

    fn props(&self) -> Props {
        self.props.clone()
    }
}

/// The same arguments as a fake data source, whose token is the type token: the fake
/// provider's `invoke` answers with the arguments themselves unless told otherwise.
impl DataSourceArgs for FakeArgs {
    type Handle = FakeHandle;

    fn token(&self) -> &'static str {
        self.type_token
    }

    fn props(&self) -> Props {
        self.props.clone()
    }
}

/// A handle to a fake resource.
#[derive(Debug, Clone)]
pub struct FakeHandle(pub ResourceRef);

impl From<ResourceRef> for FakeHandle {
    fn from(r: ResourceRef) -> Self {
        FakeHandle(r)
    }
}

impl AsRef<ResourceRef> for FakeHandle {
    fn as_ref(&self) -> &ResourceRef {
        &self.0
    }
}

impl FakeHandle {
    /// The object's id.
    pub fn id(&self) -> Output<String> {
        self.0.output("id")
    }

    /// Any output field.
    pub fn out<T>(&self, path: &str) -> Output<T> {
        self.0.output(path)
    }
}

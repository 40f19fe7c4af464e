//! Shorthands for calling a provider directly, as the engine would.

use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, LookupRequest, Provider, ProviderError,
    ReadRequest, ReadResponse, ResourceContext, UpdateRequest, Value,
};
use iac_providers::aws::Aws;
use iac_tests::Moto;

/// An AWS provider for `region` pointed at the shared emulator.
pub fn aws(region: &str) -> Aws {
    Aws::from_config(Moto::shared().sdk_config(region))
        .with_default_tags([("ManagedBy", "iac-tests")])
}

/// The context of a test resource of `type_token` named `name`.
pub fn ctx(type_token: &str, name: &str) -> ResourceContext {
    ResourceContext {
        stack: "tests/suite".into(),
        name: name.into(),
        type_token: type_token.into(),
    }
}

/// Creates with a fresh token.
pub async fn create(
    p: &impl Provider,
    ctx: &ResourceContext,
    inputs: Value,
) -> Result<(CreateResponse, String), ProviderError> {
    let token = iac_tests::unique("tok");
    let created = p
        .create(CreateRequest {
            ctx: ctx.clone(),
            inputs,
            token: token.clone(),
            timeout: None,
        })
        .await?;
    Ok((created, token))
}

/// Reads by id.
pub async fn read(p: &impl Provider, ctx: &ResourceContext, id: &str) -> Option<ReadResponse> {
    p.read(ReadRequest {
        ctx: ctx.clone(),
        id: id.into(),
        ..Default::default()
    })
    .await
    .expect("read succeeds")
}

/// Updates from `old` to `new` inputs.
pub async fn update(
    p: &impl Provider,
    ctx: &ResourceContext,
    id: &str,
    old: Value,
    new: Value,
    old_outputs: Value,
) -> Value {
    let changed = changed_keys(&old, &new);
    p.update(UpdateRequest {
        ctx: ctx.clone(),
        id: id.into(),
        old_inputs: old,
        new_inputs: new,
        old_outputs,
        changed_keys: changed,
        timeout: None,
    })
    .await
    .expect("update succeeds")
    .outputs
}

/// Deletes by id.
pub async fn delete(
    p: &impl Provider,
    ctx: &ResourceContext,
    id: &str,
    inputs: Value,
    outputs: Value,
) {
    p.delete(DeleteRequest {
        ctx: ctx.clone(),
        id: id.into(),
        inputs,
        outputs,
        timeout: None,
    })
    .await
    .expect("delete succeeds")
}

/// Looks up by token.
pub async fn lookup(
    p: &impl Provider,
    ctx: &ResourceContext,
    token: &str,
    inputs: Value,
) -> Option<ReadResponse> {
    p.lookup(LookupRequest {
        ctx: ctx.clone(),
        token: token.into(),
        inputs,
    })
    .await
    .expect("lookup succeeds")
}

/// The top-level keys whose values differ.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The keys of a change from `old` to `new` inputs that the provider says force a
/// replacement (empty: the change is an update in place).
pub fn replace_keys(
    p: &impl Provider,
    ctx: &ResourceContext,
    old: &Value,
    new: &Value,
) -> Vec<String> {
    let changed = changed_keys(old, new);
    p.diff(&iac_dsl::DiffRequest {
        ctx,
        id: "any",
        old_inputs: old,
        new_inputs: new,
        old_outputs: &Value::Null,
        changed_keys: &changed,
    })
    .expect("diff succeeds")
    .replace_keys
}

/// A state store in `dir`, with a key file so that secrets can be recorded.
pub fn open_store(dir: &tempfile::TempDir) -> std::sync::Arc<iac_state::StateStore> {
    std::sync::Arc::new(
        iac_state::StateStore::open(
            &dir.path().join("state.db"),
            iac_state::OpenOptions {
                secrets: iac_state::SecretsKey::KeyFile(dir.path().join("state.key")),
                create: true,
            },
        )
        .expect("the state store opens"),
    )
}

/// The report of an `engine::up` (or destroy) that must have applied a plan and
/// succeeded: fails the test with every failed step otherwise.
#[track_caller]
pub fn succeeded(
    deployment: Result<iac_dsl::engine::Deployment, iac_dsl::engine::EngineError>,
    what: &str,
) -> iac_dsl::ApplyReport {
    let deployment = deployment.unwrap_or_else(|e| panic!("{what}: {e}"));
    let report = deployment
        .report
        .unwrap_or_else(|| panic!("{what}: the plan had no changes"));
    assert!(report.succeeded(), "{what}: {:#?}", report.failures());
    report
}

/// Runs `engine::up` (or destroy) of `stack` on `store` with default options and returns
/// its report, failing the test unless it applied a plan and every step succeeded.
pub fn apply_ok(
    stack: iac_dsl::Stack,
    store: &std::sync::Arc<iac_state::StateStore>,
    destroy: bool,
    what: &'static str,
) -> impl std::future::Future<Output = iac_dsl::ApplyReport> {
    let store = store.clone();
    async move {
        succeeded(
            iac_dsl::engine::up(
                stack,
                store,
                &iac_dsl::RunOptions::default(),
                destroy,
                &mut |_| true,
            )
            .await,
            what,
        )
    }
}

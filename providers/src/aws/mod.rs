//! AWS resources on the official SDK: one module per service, one file per resource type.
//!
//! [`Aws`] is a provider for one account and region. Its SDK configuration is loaded on
//! first use (never while declaring), from the standard sources: credentials, and the
//! endpoint from `AWS_ENDPOINT_URL` or the profile, so a local emulator needs no special
//! code path. Tests hand in a ready configuration with [`Aws::from_config`].

pub mod acm;
pub mod apigateway;
pub mod checks;
pub mod cloudwatch;
pub mod ec2;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod observe;

pub mod rds;
pub mod route53;
pub mod s3;
pub mod secretsmanager;
pub mod sns;

mod batch;
mod calls;
mod error;
mod idempotent;
mod limits;
mod registry;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse, ErrorKind,
    InvokeRequest, LookupRequest, Provider, ProviderError, ReadRequest, ReadResponse,
    ResourceContext, UpdateRequest, UpdateResponse, Value,
};
use tokio::sync::OnceCell;

pub use error::{ErrorContext, sdk_error};
pub(crate) use registry::{
    DataSourceImpl, ResourceImpl, create_once, decode, found, to_json, vanished,
};

/// Tag key recording the stack that owns an object.
pub const TAG_STACK: &str = "iac:stack";
/// Tag key recording the object's logical name in its stack.
pub const TAG_NAME: &str = "iac:name";
/// Tag key recording the idempotency token of the create that made the object.
pub const TAG_TOKEN: &str = "iac:token";

/// How many attempts the SDK makes for calls that are safe to repeat.
const MAX_ATTEMPTS: u32 = 5;

/// An AWS provider: one account and region, with default tags for everything it creates.
#[derive(Clone)]
pub struct Aws {
    inner: Arc<Inner>,
    /// In a refresh: the tags the tagging API listed, checked against the record before
    /// use (see [`Aws::tags_or`]); `None` everywhere else.
    hints: Option<Arc<batch::TagHints>>,
}

struct Inner {
    region: String,
    default_tags: BTreeMap<String, String>,
    preset: Option<SdkConfig>,
    loaded: OnceCell<SdkConfig>,
    account: OnceCell<String>,
    calls: calls::CallCounter,
    /// Requests in flight to EC2 and to IAM (see `limits`).
    ec2_permits: Arc<tokio::sync::Semaphore>,
    iam_permits: Arc<tokio::sync::Semaphore>,
    /// The HTTP client the limited clients wrap when the configuration names none (one,
    /// so its connection pool is shared by every EC2 and IAM client of the provider).
    default_client: aws_smithy_runtime_api::client::http::SharedHttpClient,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("region", &self.inner.region)
            .field("default_tags", &self.inner.default_tags)
            .finish()
    }
}

/// Service clients on the provider's configuration, each carrying the call counter: one
/// method per `name => sdk_crate;` line (its doc comment above it). `[permits]` after the
/// crate limits the client's requests in flight to the provider's semaphore `permits`
/// (see `limits`); `, disabled` makes a client whose calls the SDK never retries (its
/// callers retry after looking the object up, see `create_once`).
macro_rules! clients {
    ($($(#[$doc:meta])* $name:ident => $krate:ident $([$permits:ident])? $(, $retry:ident)?;)*) => {$(
        $(#[$doc])*
        pub async fn $name(&self) -> $krate::Client {
            let conf = $krate::config::Builder::from(self.sdk_config().await)
                .interceptor(self.inner.calls.clone());
            $(let conf = conf.http_client(self.limited(&self.inner.$permits).await);)?
            $(let conf = conf.retry_config(RetryConfig::$retry());)?
            $krate::Client::from_conf(conf.build())
        }
    )*};
}

impl Aws {
    /// A provider for `region`, configured from the environment when first used.
    pub fn region(region: impl Into<String>) -> Aws {
        Aws::build(region.into(), BTreeMap::new(), None)
    }

    /// A provider using a ready SDK configuration (its region included), for tests and
    /// for programs that build their own configuration.
    pub fn from_config(config: SdkConfig) -> Aws {
        let region = config
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default();
        Aws::build(region, BTreeMap::new(), Some(config))
    }

    fn build(
        region: String,
        default_tags: BTreeMap<String, String>,
        preset: Option<SdkConfig>,
    ) -> Aws {
        Aws {
            inner: Arc::new(Inner {
                region,
                default_tags,
                preset,
                loaded: OnceCell::new(),
                account: OnceCell::new(),
                calls: calls::CallCounter::default(),
                ec2_permits: Arc::new(tokio::sync::Semaphore::new(limits::EC2)),
                iam_permits: Arc::new(tokio::sync::Semaphore::new(limits::IAM)),
                default_client: limits::default_client(),
            }),
            hints: None,
        }
    }

    /// Adds tags applied to every taggable object this provider creates (like Terraform's
    /// `default_tags`). A resource's own tags win over these.
    pub fn with_default_tags<I, K, V>(self, tags: I) -> Aws
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut default_tags = self.inner.default_tags.clone();
        default_tags.extend(tags.into_iter().map(|(k, v)| (k.into(), v.into())));
        let (region, preset) = (self.inner.region.clone(), self.inner.preset.clone());
        Aws::build(region, default_tags, preset)
    }

    /// The tags of the object `arn` for a read: in a refresh, what the Resource Groups
    /// Tagging API listed for it, when that is what the record says; otherwise (or when
    /// the listing has no word on it) what `fetch` reads from the service. The listing can
    /// lag behind a tag change, so it never alone makes a refresh report drift.
    pub(crate) async fn tags_or<F, Fut>(
        &self,
        arn: &str,
        fetch: F,
    ) -> Result<BTreeMap<String, String>, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<BTreeMap<String, String>, ProviderError>>,
    {
        if let Some(tags) = self.listed_tags(arn) {
            return Ok(tags);
        }
        fetch().await
    }

    /// In a refresh, every tag the Resource Groups Tagging API listed for the object
    /// `arn`, when its own tags among them are what the record says; `None` otherwise
    /// (the service is then asked). See [`Aws::tags_or`].
    pub(crate) fn listed_tags(&self, arn: &str) -> Option<BTreeMap<String, String>> {
        self.hints.as_ref().and_then(|h| h.agreeing(self, arn))
    }

    /// The account, when it is known without a call (read from a recorded ARN or asked
    /// before); `None` otherwise.
    pub(crate) fn known_account(&self) -> Option<&str> {
        self.inner.account.get().map(String::as_str)
    }

    /// The region this provider manages.
    pub fn region_name(&self) -> &str {
        &self.inner.region
    }

    /// The default tags.
    pub fn default_tags(&self) -> &BTreeMap<String, String> {
        &self.inner.default_tags
    }

    /// The SDK configuration, loaded on first use.
    pub async fn sdk_config(&self) -> &SdkConfig {
        if let Some(preset) = &self.inner.preset {
            return preset;
        }
        self.inner
            .loaded
            .get_or_init(|| async {
                aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(self.inner.region.clone()))
                    .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
                    .load()
                    .await
            })
            .await
    }

    /// The tags for an object: default tags, then the resource's own, then the engine's
    /// tags that let [`Provider::lookup`] find it again (stack, logical name and, on
    /// create, the idempotency token).
    pub fn tags_for(
        &self,
        ctx: &ResourceContext,
        own: &BTreeMap<String, String>,
        token: Option<&str>,
    ) -> BTreeMap<String, String> {
        let mut tags = self.inner.default_tags.clone();
        tags.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags.insert(TAG_STACK.to_string(), ctx.stack.clone());
        tags.insert(TAG_NAME.to_string(), ctx.name.clone());
        if let Some(token) = token {
            tags.insert(TAG_TOKEN.to_string(), token.to_string());
        }
        tags
    }

    /// The resource's own tags among those found on an object: without the engine's tags
    /// and without default tags that still have their default value.
    pub fn own_tags(&self, found: BTreeMap<String, String>) -> BTreeMap<String, String> {
        found
            .into_iter()
            .filter(|(k, v)| !k.starts_with("iac:") && self.inner.default_tags.get(k) != Some(v))
            .collect()
    }

    /// The account the credentials belong to (STS GetCallerIdentity, asked once), for
    /// ARNs that AWS does not return whole, such as an API's execution ARN.
    pub async fn account_id(&self) -> Result<String, ProviderError> {
        self.inner
            .account
            .get_or_try_init(|| async {
                let out = aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(self.sdk_config().await)
                        .interceptor(self.inner.calls.clone())
                        .build(),
                )
                .get_caller_identity()
                .send()
                .await
                .op("GetCallerIdentity")?;
                Ok(out.account().unwrap_or_default().to_string())
            })
            .await
            .cloned()
    }

    /// The configuration's HTTP client (or, when it names none, as a configuration loaded
    /// from the environment does, the SDK's default one) limited to the requests in flight
    /// `permits` allows.
    async fn limited(&self, permits: &Arc<tokio::sync::Semaphore>) -> limits::Limited {
        let inner = self.sdk_config().await.http_client();
        let inner = inner.unwrap_or_else(|| self.inner.default_client.clone());
        limits::Limited::new(inner, permits.clone())
    }

    /// An S3 client; path-style addressing when a custom endpoint (an emulator) is set.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let config = self.sdk_config().await;
        let conf = aws_sdk_s3::config::Builder::from(config)
            .interceptor(self.inner.calls.clone())
            .force_path_style(config.endpoint_url().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    clients! {
        /// An EC2 client. Calls through every client retry throttling and transient
        /// errors; EC2 and IAM calls are also limited in number at once.
        ec2 => aws_sdk_ec2 [ec2_permits];
        /// An EC2 client that never retries by itself, for create calls that are not
        /// idempotent: `create_once` retries them after looking the object up.
        ec2_once => aws_sdk_ec2 [ec2_permits], disabled;
        /// An IAM client.
        iam => aws_sdk_iam [iam_permits];
        /// A KMS client.
        kms => aws_sdk_kms;
        /// A KMS client without automatic retries (CreateKey is not idempotent).
        kms_once => aws_sdk_kms, disabled;
        /// A Secrets Manager client.
        secretsmanager => aws_sdk_secretsmanager;
        /// A Secrets Manager client without automatic retries, for calls that an emulator
        /// or a lost answer can make twice (replicating to a region): the caller checks
        /// first.
        secretsmanager_once => aws_sdk_secretsmanager, disabled;
        /// An RDS client.
        rds => aws_sdk_rds;
        /// A Lambda client.
        lambda => aws_sdk_lambda;
        /// A Lambda client without automatic retries, for AddPermission: where a repeated
        /// statement is not refused it would be added twice, so the caller looks first.
        lambda_once => aws_sdk_lambda, disabled;
        /// An API Gateway client.
        apigateway => aws_sdk_apigateway;
        /// An API Gateway client without automatic retries (CreateRestApi is not
        /// idempotent).
        apigateway_once => aws_sdk_apigateway, disabled;
        /// An ACM client.
        acm => aws_sdk_acm;
        /// A Route 53 client.
        route53 => aws_sdk_route53;
        /// A Resource Groups Tagging API client.
        tagging => aws_sdk_resourcegroupstagging;
        /// A CloudWatch client.
        cloudwatch => aws_sdk_cloudwatch;
        /// An SNS client.
        sns => aws_sdk_sns;
    }

    fn resource(&self, type_token: &str) -> Result<&'static dyn ResourceImpl, ProviderError> {
        registry::resource(type_token).ok_or_else(|| ProviderError::unsupported(type_token))
    }
}

/// The account named by an ARN among recorded outputs (`arn:partition:service:region:account:...`).
fn recorded_account(outputs: &Value) -> Option<String> {
    outputs.as_object()?.values().find_map(|v| {
        let account = v.as_str()?.strip_prefix("arn:")?.split(':').nth(3)?;
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            .then(|| account.to_string())
    })
}

#[async_trait]
impl Provider for Aws {
    fn package(&self) -> &str {
        "aws"
    }

    fn call_counts(&self) -> BTreeMap<String, u64> {
        self.inner.calls.snapshot()
    }

    fn region(&self) -> Option<&str> {
        Some(self.region_name()).filter(|r| !r.is_empty())
    }

    fn policies(&self) -> Vec<Arc<dyn iac_dsl::Policy>> {
        checks::policies::pack()
    }

    fn cost_model(&self) -> Option<Arc<dyn iac_dsl::CostModel>> {
        Some(Arc::new(checks::cost::AwsCostModel))
    }

    fn diff(&self, req: &DiffRequest<'_>) -> Result<DiffResponse, ProviderError> {
        let imp = self.resource(&req.ctx.type_token)?;
        let null = Value::Null;
        let (equivalent, changed): (Vec<String>, Vec<String>) =
            req.changed_keys.iter().cloned().partition(|k| {
                imp.equivalent(
                    k,
                    req.old_inputs.get(k).unwrap_or(&null),
                    req.new_inputs.get(k).unwrap_or(&null),
                )
            });
        let mut response = DiffResponse::replacing(&changed, imp.force_new());
        let replacing = !response.replace_keys.is_empty();
        if let Some(why) = imp.refuse_change(req.old_inputs, req.new_inputs, replacing) {
            return Err(ProviderError::new(ErrorKind::Validation, "diff", why));
        }
        response.equivalent_keys = equivalent;
        response.delete_before_replace = imp.delete_before_replace();
        response.unknown_outputs = imp
            .outputs_changed_by_update()
            .iter()
            .map(|k| k.to_string())
            .collect();
        Ok(response)
    }

    fn check(&self, ctx: &ResourceContext, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Err(e) = crate::validate::region(self.region_name()) {
            invalid.push(("region".to_string(), format!("provider region: {e}")));
        }
        match self.resource(&ctx.type_token) {
            Ok(imp) => invalid.extend(imp.check(inputs)),
            Err(e) => invalid.push(("type".to_string(), e.message)),
        }
        invalid
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let imp = self.resource(&req.ctx.type_token)?;
        let invalid = self.check(&req.ctx, &req.inputs);
        if !invalid.is_empty() {
            return Err(ProviderError::validation(invalid));
        }
        imp.create(self, req).await
    }

    async fn read(&self, req: ReadRequest) -> Result<Option<ReadResponse>, ProviderError> {
        self.resource(&req.ctx.type_token)?.read(self, req).await
    }

    async fn read_many(
        &self,
        reqs: Vec<ReadRequest>,
        parallelism: usize,
        shared: &iac_dsl::SharedReads,
    ) -> Vec<Result<Option<ReadResponse>, ProviderError>> {
        // The account is in the ARNs the state records: no GetCallerIdentity for the
        // outputs that are built from it (an API's execution ARN).
        if self.inner.account.get().is_none()
            && let Some(account) = reqs.iter().find_map(|r| recorded_account(&r.outputs))
        {
            let _ = self.inner.account.set(account);
        }
        let mut batch = batch::ReadBatch::new(reqs.clone(), parallelism);
        // Global services' listings are shared with the refresh's providers of the same
        // endpoint and account (the other regions).
        if let Some(account) = self.inner.account.get() {
            let endpoint = self
                .sdk_config()
                .await
                .endpoint_url()
                .unwrap_or("aws")
                .to_string();
            batch = batch.sharing(shared, format!("aws|{endpoint}|{account}"));
        }
        // One listing of the tags that services keep apart from their describe calls.
        let hinted = Aws {
            inner: self.inner.clone(),
            hints: batch::TagHints::list(self, &reqs).await.map(Arc::new),
        };
        let this = &hinted;
        let mut by_type: BTreeMap<String, Vec<(usize, ReadRequest)>> = BTreeMap::new();
        let count = reqs.len();
        for (i, r) in reqs.into_iter().enumerate() {
            by_type
                .entry(r.ctx.type_token.clone())
                .or_default()
                .push((i, r));
        }
        let reads = by_type.into_iter().map(|(token, items)| {
            let batch = &batch;
            async move {
                let (at, reqs): (Vec<usize>, Vec<ReadRequest>) = items.into_iter().unzip();
                let reads = match this.resource(&token) {
                    Ok(imp) => imp.read_many(this, batch, reqs).await,
                    Err(e) => batch::failed_all(&reqs, &e),
                };
                at.into_iter().zip(reads).collect::<Vec<_>>()
            }
        });
        let mut answers: Vec<Option<batch::ReadResult>> = vec![None; count];
        for (i, read) in futures::future::join_all(reads).await.into_iter().flatten() {
            answers[i] = Some(read);
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(ProviderError::new(
                        ErrorKind::Service,
                        "read",
                        "a resource type answered fewer reads than it was asked",
                    ))
                })
            })
            .collect()
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let imp = self.resource(&req.ctx.type_token)?;
        let invalid = imp.check(&req.new_inputs);
        if !invalid.is_empty() {
            return Err(ProviderError::validation(invalid));
        }
        imp.update(self, req).await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        self.resource(&req.ctx.type_token)?.delete(self, req).await
    }

    async fn lookup(&self, req: LookupRequest) -> Result<Option<ReadResponse>, ProviderError> {
        self.resource(&req.ctx.type_token)?.lookup(self, req).await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<Value, ProviderError> {
        let imp = registry::data_source(&req.token)
            .ok_or_else(|| ProviderError::unsupported(&req.token))?;
        imp.invoke(self, req.args).await
    }
}

#[cfg(test)]
mod tests {
    use super::recorded_account;
    use serde_json::json;

    #[test]
    fn the_account_is_read_from_a_recorded_arn_and_only_from_one() {
        let api =
            json!({"id": "a1", "execution_arn": "arn:aws:execute-api:eu-west-1:123456789012:a1"});
        assert_eq!(recorded_account(&api).as_deref(), Some("123456789012"));
        let bucket = json!({"arn": "arn:aws:s3:::payments", "region": "eu-west-1"});
        assert_eq!(
            recorded_account(&bucket),
            None,
            "an S3 ARN names no account"
        );
        assert_eq!(
            recorded_account(&json!({"arn": "arn:aws:iam::aws:policy/x"})),
            None
        );
        assert_eq!(recorded_account(&json!(null)), None);
    }
}

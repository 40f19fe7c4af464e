//! The per-type implementations behind [`super::Aws`], and helpers they share.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LookupRequest, ProviderError,
    ReadRequest, ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use serde::de::DeserializeOwned;

use super::Aws;
use super::batch::{ReadBatch, ReadResult};

/// One AWS resource type's lifecycle. Inputs arrive as JSON with secrets revealed;
/// implementations decode them into their typed form with [`decode`].
#[async_trait]
pub(crate) trait ResourceImpl: Send + Sync + 'static {
    /// The type token, e.g. `aws:ec2/vpc`.
    fn type_token(&self) -> &'static str;

    /// Input keys that cannot change in place: a change replaces the object.
    fn force_new(&self) -> &'static [&'static str] {
        &[]
    }

    /// Outputs an in-place update changes (digests of the inputs), shown as unknown until
    /// the update has run so that what depends on them plans a change too.
    fn outputs_changed_by_update(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether a replacement must delete the old object first (unique, fixed names).
    fn delete_before_replace(&self) -> bool {
        false
    }

    /// Whether the changed input `key` means the same in `old` and `new` although its JSON
    /// differs (a set written in another order): such keys plan no update.
    fn equivalent(&self, key: &str, old: &Value, new: &Value) -> bool {
        let _ = (key, old, new);
        false
    }

    /// Why a change from `old` to `new` inputs cannot be made as planned (`replacing`:
    /// the plan replaces the object), said at plan time, before any request; `None` when
    /// it can.
    fn refuse_change(&self, _old: &Value, _new: &Value, _replacing: bool) -> Option<String> {
        None
    }

    /// Every invalid field of fully or partly known inputs (unknown parts are skipped).
    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let _ = inputs;
        Vec::new()
    }

    /// Creates the object.
    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError>;

    /// Reads the object; `None` when it is gone.
    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError>;

    /// Reads every object of this type in one refresh, answering in the order of `reqs`.
    /// Types whose API describes many objects in one call override it and take their
    /// objects from that answer (see [`ReadBatch`]); the default reads each on its own.
    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        batch.each(reqs, |r| self.read(aws, r)).await
    }

    /// Updates the object in place. Types whose every input forces replacement keep the
    /// default, which the engine never calls.
    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let _ = (aws, req);
        Err(ProviderError::new(
            ErrorKind::Unsupported,
            "update",
            format!("{} cannot be updated in place", self.type_token()),
        ))
    }

    /// Deletes the object; succeeds when it is already gone.
    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError>;

    /// Finds the object an interrupted create made, by token, name or tag.
    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError>;
}

/// One AWS data source.
#[async_trait]
pub(crate) trait DataSourceImpl: Send + Sync + 'static {
    /// The token, e.g. `aws:ec2/availabilityZones`.
    fn token(&self) -> &'static str;

    /// Evaluates the query.
    async fn invoke(&self, aws: &Aws, args: Value) -> Result<Value, ProviderError>;
}

/// Every resource type of the AWS provider.
fn resources() -> impl Iterator<Item = &'static dyn ResourceImpl> {
    [
        super::acm::RESOURCES,
        super::apigateway::RESOURCES,
        super::cloudwatch::RESOURCES,
        super::ec2::RESOURCES,
        super::iam::RESOURCES,
        super::kms::RESOURCES,
        super::lambda::RESOURCES,
        super::rds::RESOURCES,
        super::route53::RESOURCES,
        super::s3::RESOURCES,
        super::secretsmanager::RESOURCES,
        super::sns::RESOURCES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// Every data source of the AWS provider.
fn data_sources() -> impl Iterator<Item = &'static dyn DataSourceImpl> {
    [
        super::acm::DATA_SOURCES,
        super::apigateway::DATA_SOURCES,
        super::cloudwatch::DATA_SOURCES,
        super::ec2::DATA_SOURCES,
        super::iam::DATA_SOURCES,
        super::kms::DATA_SOURCES,
        super::lambda::DATA_SOURCES,
        super::rds::DATA_SOURCES,
        super::route53::DATA_SOURCES,
        super::s3::DATA_SOURCES,
        super::secretsmanager::DATA_SOURCES,
        super::sns::DATA_SOURCES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

pub(super) fn resource(type_token: &str) -> Option<&'static dyn ResourceImpl> {
    resources().find(|r| r.type_token() == type_token)
}

pub(super) fn data_source(token: &str) -> Option<&'static dyn DataSourceImpl> {
    data_sources().find(|d| d.token() == token)
}

/// Decodes inputs into a type's typed form; a mismatch is a validation error naming the
/// field serde complains about.
pub(crate) fn decode<T: DeserializeOwned>(inputs: &Value) -> Result<T, ProviderError> {
    serde_json::from_value(inputs.clone())
        .map_err(|e| ProviderError::validation(vec![("inputs".to_string(), e.to_string())]))
}

/// A typed value as JSON for the engine (inputs and outputs structs always serialize).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// What `read` returns for an object found as `(inputs, outputs)`, or `None` when gone.
pub(crate) fn found<I: serde::Serialize, O: serde::Serialize>(
    id: &str,
    pair: Option<(I, O)>,
) -> Option<ReadResponse> {
    pair.map(|(inputs, outputs)| ReadResponse {
        id: id.to_string(),
        inputs: to_json(&inputs),
        outputs: to_json(&outputs),
    })
}

/// The error for an object that vanished while the provider was working on it.
pub(crate) fn vanished(operation: &str, what: &str, id: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        operation,
        format!("{what} {id} is gone"),
    )
}

/// Runs a create call that is not idempotent by itself (made with a client that does not
/// retry) so that a lost answer never makes a second object: after a transient failure it
/// looks the object up (by its token tag) and adopts it when found, and only otherwise
/// tries again, with backoff.
pub(crate) async fn create_once<T, C, CF, L, LF>(
    mut create: C,
    mut lookup: L,
) -> Result<T, ProviderError>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, ProviderError>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>, ProviderError>>,
{
    const ATTEMPTS: u32 = 4;
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match create().await {
            Ok(created) => return Ok(created),
            Err(e) if e.kind == ErrorKind::Transient && attempt < ATTEMPTS => {
                tokio::time::sleep(delay).await;
                if let Some(found) = lookup().await? {
                    return Ok(found);
                }
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> ProviderError {
        ProviderError::new(ErrorKind::Transient, "Create", "connection closed")
    }

    #[tokio::test]
    async fn create_once_adopts_instead_of_creating_twice() {
        let creates = AtomicU32::new(0);
        let got = create_once(
            || async {
                creates.fetch_add(1, Ordering::SeqCst);
                Err::<u32, _>(transient())
            },
            || async { Ok(Some(7)) },
        )
        .await
        .unwrap();
        assert_eq!(got, 7);
        assert_eq!(creates.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn create_once_retries_when_nothing_was_made_and_stops_on_service_errors() {
        let creates = AtomicU32::new(0);
        let got = create_once(
            || async {
                if creates.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(transient())
                } else {
                    Ok(1)
                }
            },
            || async { Ok(None) },
        )
        .await
        .unwrap();
        assert_eq!((got, creates.load(Ordering::SeqCst)), (1, 2));
        let err = create_once(
            || async { Err::<u32, _>(ProviderError::new(ErrorKind::Service, "Create", "denied")) },
            || async { Ok(None) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Service);
    }
}

//! Turning SDK errors into [`ProviderError`]s that keep the service's code and message and
//! say what kind of failure it was.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use iac_dsl::{ErrorKind, ProviderError};

/// Converts an SDK error from `operation` (e.g. `CreateVpc`).
pub fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let kind = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Transient
        }
        SdkError::ServiceError(_) => match classify(code.as_deref()) {
            // A 5xx without a code we know (an empty or garbled body, a proxy's answer):
            // the call may have been carried out or not, which is what "transient" means.
            ErrorKind::Service if code.is_none() && server_error(&err) => ErrorKind::Transient,
            kind => kind,
        },
        _ => ErrorKind::Service,
    };
    let message = match &err {
        // No answer at all: the chain of causes says why (refused, timed out, DNS), without
        // the SDK's debug dump of the connector.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => causes(&err),
        _ => err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
    };
    ProviderError {
        kind,
        operation: operation.to_string(),
        code,
        message,
        ..Default::default()
    }
}

/// An error and its sources, each once, joined with `: ` (a source whose text its parent
/// already shows is left out).
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) && !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Whether the service answered with a 5xx status.
fn server_error<E, R: 'static>(err: &SdkError<E, R>) -> bool {
    err.raw_response()
        .is_some_and(|r| status_of(r).is_some_and(|s| s >= 500))
}

/// The HTTP status of a raw response: the SDK's responses are `HttpResponse`, read
/// through `Any` so that [`sdk_error`] stays generic over the response type.
fn status_of<R: 'static>(raw: &R) -> Option<u16> {
    let any: &dyn std::any::Any = raw;
    any.downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .map(|r| r.status().as_u16())
}

/// Whether an error code means "not found", "throttled" or another service refusal.
fn classify(code: Option<&str>) -> ErrorKind {
    let Some(code) = code else {
        return ErrorKind::Service;
    };
    if code.contains("NotFound") || code.starts_with("NoSuch") {
        ErrorKind::NotFound
    } else if matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "PriorRequestNotComplete"
            | "SlowDown"
            | "RequestThrottled"
            | "ServiceUnavailable"
            | "InternalError"
            | "InternalFailure"
    ) {
        ErrorKind::Transient
    } else {
        ErrorKind::Service
    }
}

/// Adds the operation name to an SDK result: `client.create_vpc()...send().await.op("CreateVpc")?`.
pub trait ErrorContext<T> {
    /// Converts the error with [`sdk_error`].
    fn op(self, operation: &str) -> Result<T, ProviderError>;
}

impl<T, E, R> ErrorContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn op(self, operation: &str) -> Result<T, ProviderError> {
        self.map_err(|e| sdk_error(operation, e))
    }
}

/// `Ok(None)` for a not-found error, so that `read` can report a deleted object.
pub(crate) fn none_if_not_found<T>(
    result: Result<T, ProviderError>,
) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify(Some("InvalidVpcID.NotFound")), ErrorKind::NotFound);
        assert_eq!(classify(Some("NoSuchBucket")), ErrorKind::NotFound);
        assert_eq!(classify(Some("RequestLimitExceeded")), ErrorKind::Transient);
        assert_eq!(classify(Some("InvalidParameterValue")), ErrorKind::Service);
        assert_eq!(classify(None), ErrorKind::Service);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_said_plainly() {
        // A port nothing listens on: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(aws_sdk_sts::config::Credentials::for_tests())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let err = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .op("GetCallerIdentity")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient);
        let text = err.to_string();
        assert!(text.contains("Connection refused"), "{text}");
        assert!(!text.contains("DispatchFailure"), "no debug dump: {text}");
    }
}

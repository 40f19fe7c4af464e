//! The request handler: routing, `POST /payment` and `GET /health`, independent of Lambda.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::deps::{CheckResult, HealthProbe, PutOutcome, StoreError, TransactionStore};
use crate::payment::{PaymentError, PaymentRequest, TransactionRecord, object_key, parse_payment};

/// How long one health check may take before it counts as failed.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The handler's dependencies.
#[derive(Debug, Clone)]
pub struct Deps<S, H> {
    /// The region the function serves (written into records and the health report).
    pub region: String,
    /// Where transaction records are kept.
    pub store: S,
    /// The dependencies' health checks.
    pub probe: H,
    /// How long each health check may take ([`DEFAULT_CHECK_TIMEOUT`] by default).
    pub check_timeout: Duration,
}

impl<S, H> Deps<S, H> {
    /// Dependencies for `region` with the default check timeout.
    pub fn new(region: impl Into<String>, store: S, probe: H) -> Deps<S, H> {
        Deps {
            region: region.into(),
            store,
            probe,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }
}

/// The handler's answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// JSON response body.
    pub body: Value,
    /// The `Allow` header of a 405 answer.
    pub allow: Option<&'static str>,
}

impl HttpReply {
    fn new(status: u16, body: Value) -> HttpReply {
        HttpReply {
            status,
            body,
            allow: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Payment,
    Health,
}

/// The route a path ends with, whatever stage prefix precedes it (`/prod/payment`).
fn route(path: &str) -> Option<Route> {
    let path = path.trim_end_matches('/');
    if path == "/payment" || path.ends_with("/payment") || path == "payment" {
        Some(Route::Payment)
    } else if path == "/health" || path.ends_with("/health") || path == "health" {
        Some(Route::Health)
    } else {
        None
    }
}

/// Handles one request: `POST …/payment` records a payment, `GET …/health` checks the
/// dependencies; another method on those paths is 405, any other path 404. Logs one info
/// line with the method, path, status and transaction id (never card data).
pub async fn handle<S: TransactionStore, H: HealthProbe>(
    deps: &Deps<S, H>,
    method: &str,
    path: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> HttpReply {
    let reply = match (route(path), method) {
        (Some(Route::Payment), "POST") => payment(deps, body, now).await,
        (Some(Route::Health), "GET") => health(deps).await,
        (Some(Route::Payment), _) => method_not_allowed("POST"),
        (Some(Route::Health), _) => method_not_allowed("GET"),
        (None, _) => HttpReply::new(
            404,
            json!({"error": "not found", "routes": ["POST /payment", "GET /health"]}),
        ),
    };
    let transaction_id = reply
        .body
        .get("transaction_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    tracing::info!(
        method,
        path,
        status = reply.status,
        transaction_id,
        "request handled"
    );
    reply
}

fn method_not_allowed(allow: &'static str) -> HttpReply {
    HttpReply {
        status: 405,
        body: json!({"error": "method not allowed", "allow": allow}),
        allow: Some(allow),
    }
}

async fn payment<S: TransactionStore, H>(
    deps: &Deps<S, H>,
    body: &[u8],
    now: OffsetDateTime,
) -> HttpReply {
    let request = match parse_payment(body) {
        Ok(request) => request,
        Err(PaymentError::Malformed(message)) => {
            return HttpReply::new(
                400,
                json!({"error": "malformed request body", "message": message}),
            );
        }
        Err(PaymentError::Invalid(fields)) => {
            return HttpReply::new(400, json!({"error": "invalid payment", "fields": fields}));
        }
    };
    let key = object_key(&request.idempotency_key);
    match deps.store.get(&key).await {
        Ok(Some(stored)) => return replay(&request, &stored),
        Ok(None) => {}
        Err(err) => return store_failure(&err),
    }
    let record = TransactionRecord::new(&request, &deps.region, now);
    let bytes = match serde_json::to_vec(&record) {
        Ok(bytes) => bytes,
        Err(err) => return internal_error(&format!("cannot encode the record: {err}")),
    };
    match deps.store.put_if_absent(&key, bytes).await {
        Ok(PutOutcome::Written) => HttpReply::new(201, record_json(&record)),
        // A concurrent request with the same key won the write: answer with its record.
        Ok(PutOutcome::AlreadyExists) => match deps.store.get(&key).await {
            Ok(Some(stored)) => replay(&request, &stored),
            Ok(None) => HttpReply::new(
                503,
                json!({"error": "transaction store unavailable", "message": "a concurrent request with this idempotency key is still being recorded; retry"}),
            ),
            Err(err) => store_failure(&err),
        },
        Err(err) => store_failure(&err),
    }
}

/// The answer to a request whose idempotency key already has a record: the first record
/// (200) when the request is the same payment, a conflict (409) when it is not.
fn replay(request: &PaymentRequest, stored: &[u8]) -> HttpReply {
    let record: TransactionRecord = match serde_json::from_slice(stored) {
        Ok(record) => record,
        Err(err) => return internal_error(&format!("stored record is unreadable: {err}")),
    };
    if record.same_payment(request) {
        HttpReply::new(200, record_json(&record))
    } else {
        HttpReply::new(
            409,
            json!({
                "error": "idempotency key conflict",
                "message": "idempotency_key was already used for a different payment (amount, currency, merchant_id or card_token differ)",
            }),
        )
    }
}

fn record_json(record: &TransactionRecord) -> Value {
    serde_json::to_value(record).unwrap_or_else(|err| json!({"error": err.to_string()}))
}

fn store_failure(err: &StoreError) -> HttpReply {
    tracing::error!(error = %err, "transaction store failed");
    HttpReply::new(503, json!({"error": "transaction store unavailable"}))
}

fn internal_error(why: &str) -> HttpReply {
    tracing::error!(error = why, "internal error");
    HttpReply::new(500, json!({"error": "internal error"}))
}

async fn health<S, H: HealthProbe>(deps: &Deps<S, H>) -> HttpReply {
    let limit = deps.check_timeout;
    let (bucket, db_secret, db_endpoint, lag) = tokio::join!(
        within(limit, deps.probe.bucket()),
        within(limit, deps.probe.db_secret()),
        within(limit, deps.probe.db_endpoint()),
        tokio::time::timeout(limit, deps.probe.replication_lag_ms()),
    );
    let lag = match lag {
        Ok(Ok(ms)) => json!(ms),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "replication lag unavailable");
            Value::Null
        }
        Err(_) => Value::Null,
    };
    let checks = [
        ("bucket", bucket),
        ("db_secret", db_secret),
        ("db_endpoint", db_endpoint),
    ];
    let healthy = checks.iter().all(|(_, result)| result.is_ok());
    let mut report = serde_json::Map::new();
    for (name, result) in checks {
        let entry = match result {
            Ok(()) => json!({"ok": true}),
            Err(error) => {
                tracing::warn!(check = name, error = %error, "health check failed");
                json!({"ok": false, "error": error})
            }
        };
        report.insert(name.to_string(), entry);
    }
    HttpReply::new(
        if healthy { 200 } else { 503 },
        json!({
            "region": deps.region,
            "status": if healthy { "healthy" } else { "unhealthy" },
            "checks": report,
            "replication_lag_ms": lag,
        }),
    )
}

async fn within(limit: Duration, check: impl Future<Output = CheckResult>) -> CheckResult {
    tokio::time::timeout(limit, check)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {} ms", limit.as_millis())))
}

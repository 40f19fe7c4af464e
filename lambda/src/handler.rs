//! The request handler: routing, `POST /payment` and `GET /health`, independent of Lambda.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::deps::{
    CheckResult, HealthProbe, PaymentLedger, Recorded, StoreError, TransactionStore,
};
use crate::payment::{PaymentError, TransactionRecord, object_key, parse_payment};

/// How long one health check may take before it counts as failed.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The handler's dependencies.
#[derive(Debug, Clone)]
pub struct Deps<L, S, H> {
    /// The region the function serves (written into records and the health report).
    pub region: String,
    /// The system of record for payments (the database).
    pub ledger: L,
    /// The transaction log, written after the ledger's commit (the bucket).
    pub store: S,
    /// The dependencies' health checks.
    pub probe: H,
    /// How long each health check may take ([`DEFAULT_CHECK_TIMEOUT`] by default).
    pub check_timeout: Duration,
}

impl<L, S, H> Deps<L, S, H> {
    /// Dependencies for `region` with the default check timeout.
    pub fn new(region: impl Into<String>, ledger: L, store: S, probe: H) -> Deps<L, S, H> {
        Deps {
            region: region.into(),
            ledger,
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
pub async fn handle<L: PaymentLedger, S: TransactionStore, H: HealthProbe>(
    deps: &Deps<L, S, H>,
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

/// Records a payment: first in the ledger (one transaction, keyed by the idempotency key),
/// then, after the commit, in the transaction log. A repeat of the key finds the stored
/// payment, answers with it (200, or 409 when it is another payment) and writes the log
/// object if an earlier attempt could not, so a retry completes what a failure left.
async fn payment<L: PaymentLedger, S: TransactionStore, H>(
    deps: &Deps<L, S, H>,
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
    let (status, record) = match deps
        .ledger
        .record(&TransactionRecord::new(&request, &deps.region, now))
        .await
    {
        Ok(Recorded::New(record)) => (201, record),
        Ok(Recorded::Existing(record)) if record.same_payment(&request) => (200, record),
        Ok(Recorded::Existing(_)) => {
            return HttpReply::new(
                409,
                json!({
                    "error": "idempotency key conflict",
                    "message": "idempotency_key was already used for a different payment (amount, currency, merchant_id or card_token differ)",
                }),
            );
        }
        Err(err) => {
            tracing::error!(error = %err, "payments database failed");
            return HttpReply::new(503, json!({"error": "payments database unavailable"}));
        }
    };
    let bytes = match serde_json::to_vec(&record) {
        Ok(bytes) => bytes,
        Err(err) => return internal_error(&format!("cannot encode the record: {err}")),
    };
    // Written or already there: either way the log holds this key's record.
    match deps
        .store
        .put_if_absent(&object_key(&record.idempotency_key), bytes)
        .await
    {
        Ok(_) => HttpReply::new(status, record_json(&record)),
        Err(err) => store_failure(&err),
    }
}

fn record_json(record: &TransactionRecord) -> Value {
    serde_json::to_value(record).unwrap_or_else(|err| json!({"error": err.to_string()}))
}

/// The transaction log failed after the payment was committed: the client retries with
/// the same key, which answers with the stored payment and writes the log.
fn store_failure(err: &StoreError) -> HttpReply {
    tracing::error!(error = %err, "transaction log failed after the payment was recorded");
    HttpReply::new(
        503,
        json!({
            "error": "transaction log unavailable",
            "message": "the payment is recorded; retry with the same idempotency_key to complete it",
        }),
    )
}

fn internal_error(why: &str) -> HttpReply {
    tracing::error!(error = why, "internal error");
    HttpReply::new(500, json!({"error": "internal error"}))
}

/// Checks every dependency concurrently, each under the check timeout, and reports each
/// one's status and latency; any failure makes the answer 503 (so that the Route 53 health
/// check fails over). The replication lag is shown, not judged.
async fn health<L, S, H: HealthProbe>(deps: &Deps<L, S, H>) -> HttpReply {
    let limit = deps.check_timeout;
    let (bucket, db_secret, database, lag) = tokio::join!(
        within(limit, deps.probe.bucket()),
        within(limit, deps.probe.db_secret()),
        within(limit, deps.probe.database()),
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
        ("database", database),
    ];
    let healthy = checks.iter().all(|(_, (result, _))| result.is_ok());
    let mut report = serde_json::Map::new();
    for (name, (result, took)) in checks {
        // Milliseconds with microsecond precision.
        let latency_ms = (took.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let entry = match result {
            Ok(()) => json!({"ok": true, "latency_ms": latency_ms}),
            Err(error) => {
                tracing::warn!(check = name, error = %error, latency_ms, "health check failed");
                json!({"ok": false, "latency_ms": latency_ms, "error": error})
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

/// Runs a check under `limit`: its result and how long it took.
async fn within(
    limit: Duration,
    check: impl Future<Output = CheckResult>,
) -> (CheckResult, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(limit, check)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {} ms", limit.as_millis())));
    (result, started.elapsed())
}

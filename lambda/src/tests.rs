//! Handler tests with in-memory dependencies (the suite runs the real ones against
//! PostgreSQL and moto).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::*;

const TOKEN: &str = "tok_visa_4eC39HqLyjWDarjtT1zdp7dc";
const NOW: OffsetDateTime = datetime!(2025-03-01 12:00:00 UTC);

/// The ledger: payments by idempotency key.
#[derive(Default)]
struct MemoryLedger {
    payments: Mutex<HashMap<String, TransactionRecord>>,
    /// Fail every call.
    broken: AtomicBool,
}

impl MemoryLedger {
    fn len(&self) -> usize {
        self.payments.lock().unwrap().len()
    }
}

impl PaymentLedger for MemoryLedger {
    async fn record(&self, record: &TransactionRecord) -> Result<Recorded, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError("database is down".into()));
        }
        let mut payments = self.payments.lock().unwrap();
        match payments.get(&record.idempotency_key) {
            Some(stored) => Ok(Recorded::Existing(stored.clone())),
            None => {
                payments.insert(record.idempotency_key.clone(), record.clone());
                Ok(Recorded::New(record.clone()))
            }
        }
    }
}

/// The transaction log.
#[derive(Default)]
struct MemoryStore {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    puts: AtomicUsize,
    /// Fail every call.
    broken: AtomicBool,
}

impl MemoryStore {
    fn objects(&self) -> HashMap<String, Vec<u8>> {
        self.objects.lock().unwrap().clone()
    }
}

impl TransactionStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError("store is down".into()));
        }
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<PutOutcome, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError("store is down".into()));
        }
        let mut objects = self.objects.lock().unwrap();
        if objects.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        objects.insert(key.to_string(), body);
        Ok(PutOutcome::Written)
    }
}

#[derive(Clone)]
struct FakeProbe {
    bucket: CheckResult,
    db_secret: CheckResult,
    database: CheckResult,
    /// Make the bucket check hang.
    slow_bucket: bool,
    /// The replication lag the probe reports.
    lag: Option<f64>,
}

impl FakeProbe {
    fn healthy() -> FakeProbe {
        FakeProbe {
            bucket: Ok(()),
            db_secret: Ok(()),
            database: Ok(()),
            slow_bucket: false,
            lag: None,
        }
    }
}

impl HealthProbe for FakeProbe {
    async fn bucket(&self) -> CheckResult {
        if self.slow_bucket {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        self.bucket.clone()
    }
    async fn db_secret(&self) -> CheckResult {
        self.db_secret.clone()
    }
    async fn database(&self) -> CheckResult {
        self.database.clone()
    }
    async fn replication_lag_ms(&self) -> Result<Option<f64>, String> {
        Ok(self.lag)
    }
}

type MemoryDeps = Deps<MemoryLedger, MemoryStore, FakeProbe>;

fn deps() -> MemoryDeps {
    Deps::new(
        "us-east-1",
        MemoryLedger::default(),
        MemoryStore::default(),
        FakeProbe::healthy(),
    )
}

fn payment() -> Value {
    json!({
        "amount": 1250,
        "currency": "EUR",
        "merchant_id": "merchant-42",
        "card_token": TOKEN,
        "idempotency_key": "order-1001",
    })
}

async fn post(deps: &MemoryDeps, body: &Value) -> HttpReply {
    handle(deps, "POST", "/payment", body.to_string().as_bytes(), NOW).await
}

fn invalid_fields(reply: &HttpReply) -> Vec<String> {
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], "invalid payment");
    reply.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
            f["field"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn valid_payment_is_recorded_with_201() {
    let deps = deps();
    let reply = post(&deps, &payment()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let body = &reply.body;
    let id = body["transaction_id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    assert_eq!(body["amount"], 1250);
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["merchant_id"], "merchant-42");
    assert_eq!(body["region"], "us-east-1");
    assert_eq!(body["created_at"], "2025-03-01T12:00:00Z");
    assert_eq!(body["idempotency_key"], "order-1001");
    let objects = deps.store.objects();
    assert_eq!(objects.len(), 1);
    let stored: Value = serde_json::from_slice(&objects[&object_key("order-1001")]).unwrap();
    assert_eq!(&stored, body);
    let recorded = deps.ledger.payments.lock().unwrap()["order-1001"].clone();
    assert_eq!(serde_json::to_value(recorded).unwrap(), *body);
}

#[tokio::test]
async fn card_token_is_never_stored_or_echoed() {
    let deps = deps();
    let reply = post(&deps, &payment()).await;
    assert!(!reply.body.to_string().contains(TOKEN));
    assert!(reply.body.get("card_token").is_none());
    for bytes in deps.store.objects().values() {
        assert!(!String::from_utf8_lossy(bytes).contains(TOKEN));
    }
    // Nor in a rejection, even of a raw card number.
    let mut bad = payment();
    bad["card_token"] = json!("4242424242424242");
    bad["amount"] = json!(0);
    let reply = post(&deps, &bad).await;
    assert_eq!(invalid_fields(&reply), ["amount", "card_token"]);
    assert!(!reply.body.to_string().contains("4242424242424242"));
}

#[tokio::test]
async fn each_invalid_field_is_named() {
    let cases = [
        ("amount", json!(-1)),
        ("currency", json!("XYZ")),
        ("merchant_id", json!("")),
        ("card_token", json!("5555555555554444")),
        ("idempotency_key", json!("x".repeat(129))),
    ];
    let deps = deps();
    for (field, value) in cases {
        let mut body = payment();
        body[field] = value;
        assert_eq!(invalid_fields(&post(&deps, &body).await), [field]);
    }
    assert!(deps.store.objects().is_empty());
}

#[tokio::test]
async fn several_invalid_fields_are_all_named() {
    let body = json!({"amount": "12", "currency": "eur", "merchant_id": "bad id", "card_token": "", "idempotency_key": ""});
    let reply = post(&deps(), &body).await;
    assert_eq!(
        invalid_fields(&reply),
        [
            "amount",
            "currency",
            "merchant_id",
            "card_token",
            "idempotency_key"
        ]
    );
    let missing = post(&deps(), &json!({"currency": "USD"})).await;
    assert_eq!(
        invalid_fields(&missing),
        ["amount", "merchant_id", "card_token", "idempotency_key"]
    );
}

#[tokio::test]
async fn malformed_json_is_rejected() {
    let deps = deps();
    for body in [&b"{\"amount\": "[..], b"", b"[]"] {
        let reply = handle(&deps, "POST", "/payment", body, NOW).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["error"], "malformed request body");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("request body")
        );
    }
}

#[tokio::test]
async fn duplicate_payment_returns_the_first_record() {
    let deps = deps();
    let first = post(&deps, &payment()).await;
    assert_eq!(first.status, 201);
    let later = handle(
        &deps,
        "POST",
        "/payment",
        payment().to_string().as_bytes(),
        NOW + time::Duration::minutes(5),
    )
    .await;
    assert_eq!(later.status, 200);
    assert_eq!(later.body, first.body);
    assert_eq!(deps.store.puts.load(Ordering::SeqCst), 1);
    assert_eq!(deps.store.objects().len(), 1);
}

#[tokio::test]
async fn the_log_is_written_only_after_the_ledger_commits() {
    let deps = deps();
    deps.ledger.broken.store(true, Ordering::SeqCst);
    let reply = post(&deps, &payment()).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.body["error"], "payments database unavailable");
    assert!(deps.store.objects().is_empty(), "no log without a commit");
    deps.ledger.broken.store(false, Ordering::SeqCst);
    assert_eq!(post(&deps, &payment()).await.status, 201);
}

#[tokio::test]
async fn a_retry_writes_the_log_that_failed_after_the_commit() {
    let deps = deps();
    deps.store.broken.store(true, Ordering::SeqCst);
    let failed = post(&deps, &payment()).await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(failed.body["error"], "transaction log unavailable");
    assert!(failed.body["message"].as_str().unwrap().contains("retry"));
    assert_eq!(deps.ledger.len(), 1, "the payment is committed");
    assert!(deps.store.objects().is_empty());

    deps.store.broken.store(false, Ordering::SeqCst);
    let retried = post(&deps, &payment()).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let stored = deps.ledger.payments.lock().unwrap()["order-1001"].clone();
    assert_eq!(retried.body, serde_json::to_value(&stored).unwrap());
    let objects = deps.store.objects();
    let logged: Value = serde_json::from_slice(&objects[&object_key("order-1001")]).unwrap();
    assert_eq!(logged, retried.body);
    assert_eq!(deps.ledger.len(), 1);
}

#[tokio::test]
async fn reused_key_for_another_payment_conflicts() {
    let deps = deps();
    assert_eq!(post(&deps, &payment()).await.status, 201);
    for (field, value) in [
        ("amount", json!(1251)),
        ("currency", json!("USD")),
        ("merchant_id", json!("merchant-43")),
        ("card_token", json!("tok_other")),
    ] {
        let mut other = payment();
        other[field] = value;
        let reply = post(&deps, &other).await;
        assert_eq!(reply.status, 409, "{field}: {}", reply.body);
        assert_eq!(reply.body["error"], "idempotency key conflict");
    }
    assert_eq!(deps.store.puts.load(Ordering::SeqCst), 1);
    assert_eq!(deps.ledger.len(), 1);
}

#[tokio::test]
async fn healthy_dependencies_give_200() {
    let reply = handle(&deps(), "GET", "/prod/health", b"", NOW).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["region"], "us-east-1");
    assert_eq!(reply.body["status"], "healthy");
    assert_eq!(reply.body["replication_lag_ms"], Value::Null);
    let checks = reply.body["checks"].as_object().unwrap();
    assert_eq!(
        checks.keys().collect::<Vec<_>>(),
        ["bucket", "db_secret", "database"]
    );
    for (name, check) in checks {
        assert_eq!(check["ok"], true, "{name}");
        assert!(check["latency_ms"].as_f64().unwrap() >= 0.0, "{name}");
        assert!(check.get("error").is_none(), "{name}");
    }
}

#[tokio::test]
async fn the_health_report_shows_the_replication_lag_without_judging_it() {
    let mut deps = deps();
    deps.probe.lag = Some(12_500.0);
    let reply = handle(&deps, "GET", "/health", b"", NOW).await;
    assert_eq!(
        reply.status, 200,
        "a lag above the alarm's threshold is the alarm's call"
    );
    assert_eq!(reply.body["replication_lag_ms"], json!(12_500.0));
}

#[tokio::test]
async fn failing_dependency_gives_503_and_is_named() {
    let mut deps = deps();
    deps.probe.db_secret = Err("secret db: HTTP 400 ResourceNotFoundException".into());
    let reply = handle(&deps, "GET", "/health", b"", NOW).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["status"], "unhealthy");
    assert_eq!(reply.body["checks"]["bucket"]["ok"], true);
    assert_eq!(reply.body["checks"]["db_secret"]["ok"], false);
    assert!(
        reply.body["checks"]["db_secret"]["error"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFound")
    );
    assert_eq!(reply.body["checks"]["database"]["ok"], true);
}

#[tokio::test]
async fn a_database_that_does_not_answer_gives_503() {
    let mut deps = deps();
    deps.probe.database = Err("database 10.0.1.5:5432/payments (select 1): timed out".into());
    let reply = handle(&deps, "GET", "/health", b"", NOW).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["status"], "unhealthy");
    let database = &reply.body["checks"]["database"];
    assert_eq!(database["ok"], false);
    assert!(database["error"].as_str().unwrap().contains("timed out"));
    assert!(database["latency_ms"].is_number());
}

#[tokio::test]
async fn hanging_check_times_out() {
    let mut deps = deps();
    deps.probe.slow_bucket = true;
    deps.check_timeout = Duration::from_millis(50);
    let reply = handle(&deps, "GET", "/health", b"", NOW).await;
    assert_eq!(reply.status, 503);
    let bucket = &reply.body["checks"]["bucket"];
    assert!(bucket["error"].as_str().unwrap().contains("timed out"));
    let latency = bucket["latency_ms"].as_f64().unwrap();
    assert!((50.0..5_000.0).contains(&latency), "{latency}");
}

#[tokio::test]
async fn routing() {
    let deps = deps();
    let cases = [
        ("GET", "/payment", 405),
        ("DELETE", "/v1/health", 405),
        ("GET", "/", 404),
        ("POST", "/payments", 404),
        ("GET", "/healthz", 404),
        ("GET", "/health/", 200),
    ];
    for (method, path, status) in cases {
        let reply = handle(&deps, method, path, b"", NOW).await;
        assert_eq!(reply.status, status, "{method} {path}");
    }
    let reply = handle(&deps, "GET", "/payment", b"", NOW).await;
    assert_eq!(reply.allow, Some("POST"));
    let staged = handle(
        &deps,
        "POST",
        "/prod/payment",
        payment().to_string().as_bytes(),
        NOW,
    )
    .await;
    assert_eq!(staged.status, 201);
}

#[test]
fn reply_becomes_a_json_response() {
    let response = HttpReply {
        status: 405,
        body: json!({"error": "method not allowed"}),
        allow: Some("POST"),
    }
    .into_response();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        response.body().as_ref(),
        br#"{"error":"method not allowed"}"#
    );
}

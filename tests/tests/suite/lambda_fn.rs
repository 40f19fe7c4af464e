//! The payment processor Lambda's handler with its real dependencies: a real PostgreSQL
//! (started by the test support) as the payments database, and moto for the bucket (the
//! transaction log) and the database secret. Payments are stored once per idempotency key
//! in both; `/health` follows the database and the bucket.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use iac_tests::{PgDatabase, PgServer};
use payment_processor::{
    AwsProbe, Config, Deps, HttpReply, PgLedger, S3Store, aws_deps, handle, object_key,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

const REGION: &str = "us-east-1";

type RealDeps = Deps<PgLedger, S3Store, AwsProbe>;

fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

async fn create_bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = iac_tests::unique("payments");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// Creates a database secret holding `value` in `region` and returns its ARN.
async fn create_secret(sdk: &aws_config::SdkConfig, region: &str, value: &str) -> String {
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .region(aws_sdk_secretsmanager::config::Region::new(
                region.to_string(),
            ))
            .build(),
    );
    let created = secrets
        .create_secret()
        .name(iac_tests::unique("payments-db"))
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    created.arn().expect("secret ARN").to_string()
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// One function's surroundings: a fresh database, a bucket, the database secret, and the
/// function's configuration over them.
struct Fixture {
    sdk: aws_config::SdkConfig,
    db: PgDatabase,
    s3: aws_sdk_s3::Client,
    bucket: String,
    config: Config,
}

impl Fixture {
    /// A fixture on `server`. With `bare_secret` the secret is the bare password and the
    /// login comes from `DB_USER`, as the stack deploys it; otherwise the secret is JSON
    /// with `username` and `password`, and `DB_USER` is unset.
    async fn new(server: &PgServer, bare_secret: bool) -> Fixture {
        let sdk = iac_tests::Moto::shared().sdk_config(REGION);
        let db = server.create_database("payments");
        let s3 = s3_client(&sdk);
        let bucket = create_bucket(&s3).await;
        let (secret, user) = if bare_secret {
            (db.password.clone(), Some(db.user.as_str()))
        } else {
            let json = json!({"username": db.user, "password": db.password});
            (json.to_string(), None)
        };
        let secret_arn = create_secret(&sdk, REGION, &secret).await;
        let config = config(&bucket, &secret_arn, &db, user);
        Fixture {
            sdk,
            db,
            s3,
            bucket,
            config,
        }
    }

    /// One function instance (its own database connection).
    fn instance(&self) -> RealDeps {
        aws_deps(&self.sdk, &self.config)
    }
}

/// The function's configuration for `bucket`, the secret `secret_arn` and `db`, with
/// `DB_USER` set when `user` is given.
fn config(bucket: &str, secret_arn: &str, db: &PgDatabase, user: Option<&str>) -> Config {
    let endpoint = db.endpoint();
    Config::from_lookup(|name| {
        Some(
            match name {
                "REGION" => REGION,
                "S3_BUCKET" => bucket,
                "DB_ENDPOINT" => &endpoint,
                "DB_NAME" => &db.name,
                "DB_SECRET_ARN" => secret_arn,
                "DB_USER" => user?,
                "ENVIRONMENT_SUFFIX" => "test",
                _ => return None,
            }
            .to_string(),
        )
    })
    .expect("config")
}

/// The rows of `payments` for `key`, as (transaction id, amount, currency, region).
async fn stored(db: &PgDatabase, key: &str) -> Vec<(String, i64, String, String)> {
    db.connect()
        .await
        .query(
            "select transaction_id::text, amount, currency, region from payments where idempotency_key = $1",
            &[&key],
        )
        .await
        .expect("query payments")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

async fn get(deps: &RealDeps, path: &str) -> HttpReply {
    handle(deps, "GET", path, b"", OffsetDateTime::now_utc()).await
}

async fn post(deps: &RealDeps, body: &Value) -> HttpReply {
    handle(
        deps,
        "POST",
        "/prod/payment",
        body.to_string().as_bytes(),
        OffsetDateTime::now_utc(),
    )
    .await
}

fn a_payment(token: &str) -> Value {
    json!({
        "amount": 4999,
        "currency": "GBP",
        "merchant_id": "merchant_7",
        "card_token": token,
        "idempotency_key": iac_tests::unique("order"),
    })
}

#[tokio::test]
async fn retried_payment_is_stored_once_in_the_database_and_the_bucket() {
    let fixture = Fixture::new(PgServer::shared(), true).await;
    let Fixture { db, s3, bucket, .. } = &fixture;
    let deps = fixture.instance();
    let client = db.connect().await;
    let table = "select to_regclass('payments')::text";
    let before: Option<String> = client.query_one(table, &[]).await.unwrap().get(0);
    assert_eq!(before, None, "a fresh database has no payments table");

    let token = "tok_mastercard_8bN2xQ";
    let payment = a_payment(token);
    let key = payment["idempotency_key"].as_str().unwrap();
    let first = post(&deps, &payment).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let after: Option<String> = client.query_one(table, &[]).await.unwrap().get(0);
    assert_eq!(after.as_deref(), Some("payments"), "made on first use");
    let second = post(&deps, &payment).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body, first.body);

    let id = first.body["transaction_id"].as_str().unwrap().to_string();
    let row = (id, 4999, "GBP".to_string(), REGION.to_string());
    assert_eq!(stored(db, key).await, std::slice::from_ref(&row));
    let s3_key = object_key(key);
    assert_eq!(keys(s3, bucket).await, std::slice::from_ref(&s3_key));
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&s3_key)
        .send()
        .await
        .expect("get record");
    let bytes = object.body.collect().await.unwrap().into_bytes();
    let logged: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(logged, first.body);
    assert!(!String::from_utf8_lossy(&bytes).contains(token));

    let mut conflicting = payment.clone();
    conflicting["amount"] = json!(5000);
    assert_eq!(post(&deps, &conflicting).await.status, 409);
    assert_eq!(stored(db, key).await, [row]);
    assert_eq!(keys(s3, bucket).await.len(), 1);
    let count: i64 = client
        .query_one("select count(*) from payments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn concurrent_instances_store_one_payment_per_key() {
    // A JSON secret names its own login: no DB_USER.
    let fixture = Fixture::new(PgServer::shared(), false).await;
    let Fixture { db, s3, bucket, .. } = &fixture;
    // Four function instances, each with its own connection, racing on one key and on
    // the first use of the schema.
    let instances: Vec<RealDeps> = (0..4).map(|_| fixture.instance()).collect();
    let payment = a_payment("tok_visa_race");
    let replies =
        futures::future::join_all(instances.iter().map(|deps| post(deps, &payment))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "exactly one instance stores it: {statuses:?} {:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    for reply in &replies {
        assert_eq!(reply.body, replies[0].body);
    }
    let key = payment["idempotency_key"].as_str().unwrap();
    assert_eq!(stored(db, key).await.len(), 1);
    assert_eq!(keys(s3, bucket).await, [object_key(key)]);
}

#[tokio::test]
async fn health_turns_503_when_the_database_stops_and_recovers_when_it_returns() {
    // Its own server: this test stops it.
    let server = PgServer::start();
    let fixture = Fixture::new(&server, true).await;
    let Fixture { db, s3, bucket, .. } = &fixture;
    let deps = fixture.instance();

    let healthy = get(&deps, "/prod/health").await;
    assert_eq!(healthy.status, 200, "{}", healthy.body);
    assert_eq!(healthy.body["status"], "healthy");
    for name in ["bucket", "db_secret", "database"] {
        let check = &healthy.body["checks"][name];
        assert_eq!(check["ok"], true, "{name}: {}", healthy.body);
        let latency = check["latency_ms"].as_f64().expect("latency_ms");
        assert!((0.0..5_000.0).contains(&latency), "{name}: {latency}");
    }
    // The connection is kept: a payment and a second check reuse it.
    assert_eq!(post(&deps, &a_payment("tok_amex_1")).await.status, 201);
    assert_eq!(get(&deps, "/health").await.status, 200);
    let backends = format!(
        "select count(*) from pg_stat_activity where datname = '{}' and application_name = 'payment-processor'",
        db.name
    );
    assert_eq!(server.psql(&backends).unwrap(), "1", "one kept connection");
    // The server ends the kept connection (as a writer change does): the next
    // invocation connects again instead of failing, whether the connection has noticed
    // the end by then or learns it from the query (a race; three rounds see both).
    let terminate = format!(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{}' and application_name = 'payment-processor'",
        db.name
    );
    for round in 0..3 {
        assert_eq!(server.psql(&terminate).unwrap(), "t", "round {round}");
        let again = get(&deps, "/health").await;
        assert_eq!(again.status, 200, "round {round}: {}", again.body);
        assert_eq!(server.psql(&backends).unwrap(), "1", "round {round}");
    }

    server.stop();
    let down = get(&deps, "/health").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["status"], "unhealthy");
    let database = &down.body["checks"]["database"];
    assert_eq!(database["ok"], false);
    let error = database["error"].as_str().unwrap();
    assert!(
        error.contains(&db.endpoint()),
        "names the endpoint: {error}"
    );
    assert!(database["latency_ms"].is_number());
    assert_eq!(down.body["checks"]["bucket"]["ok"], true);
    assert_eq!(down.body["checks"]["db_secret"]["ok"], true);
    assert!(!down.body.to_string().contains(&db.password));
    // No payment is accepted, and none reaches the log, while the database is down.
    let refused = post(&deps, &a_payment("tok_amex_2")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"], "payments database unavailable");
    assert_eq!(keys(s3, bucket).await.len(), 1);

    server.restart();
    let back = get(&deps, "/health").await;
    assert_eq!(
        back.status, 200,
        "reconnects after a restart: {}",
        back.body
    );
    assert_eq!(post(&deps, &a_payment("tok_amex_2")).await.status, 201);
}

#[tokio::test]
async fn health_follows_the_bucket() {
    let moto = iac_tests::Moto::shared();
    let sdk = moto.sdk_config(REGION);
    let s3 = s3_client(&sdk);
    let bucket = create_bucket(&s3).await;
    let db = PgServer::shared().create_database("payments");
    // The secret lives in another region: the probe must read it there.
    let secret = json!({"username": db.user, "password": db.password}).to_string();
    let secret_arn = create_secret(&sdk, "us-west-2", &secret).await;
    let config = config(&bucket, &secret_arn, &db, None);
    assert_eq!(config.secret_region(), "us-west-2");
    let deps = aws_deps(&sdk, &config);
    // The replication lag CloudWatch holds for the cluster (the endpoint's first label:
    // an Aurora endpoint starts with its cluster's identifier; here it is `127`).
    iac_tests::put_replication_lag(&sdk, "127", 1234.0, std::time::SystemTime::now()).await;

    let healthy = get(&deps, "/prod/health").await;
    assert_eq!(healthy.status, 200, "{}", healthy.body);
    assert_eq!(
        healthy.body["replication_lag_ms"],
        json!(1234.0),
        "{}",
        healthy.body
    );
    assert_eq!(healthy.body["status"], "healthy");
    assert_eq!(healthy.body["region"], REGION);

    // Give the bucket an object, then empty and delete it.
    let payment = json!({"amount": 100, "currency": "USD", "merchant_id": "m1", "card_token": "tok_x", "idempotency_key": iac_tests::unique("k")});
    assert_eq!(post(&deps, &payment).await.status, 201);
    let objects = keys(&s3, &bucket)
        .await
        .into_iter()
        .map(|key| ObjectIdentifier::builder().key(key).build().unwrap())
        .collect::<Vec<_>>();
    s3.delete_objects()
        .bucket(&bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("empty bucket");
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete bucket");

    let unhealthy = get(&deps, "/health").await;
    assert_eq!(unhealthy.status, 503, "{}", unhealthy.body);
    assert_eq!(unhealthy.body["status"], "unhealthy");
    let checks = &unhealthy.body["checks"];
    assert_eq!(checks["bucket"]["ok"], false);
    assert!(
        checks["bucket"]["error"]
            .as_str()
            .unwrap()
            .contains(&bucket)
    );
    assert_eq!(checks["db_secret"]["ok"], true);
    assert_eq!(checks["database"]["ok"], true);
    assert!(!unhealthy.body.to_string().contains(&db.password));
}

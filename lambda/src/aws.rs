//! The real dependencies: the S3 transaction log, and health checks over S3, Secrets
//! Manager and the database ([`PgLedger`]).

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::config::{Config, host_port};
use crate::db::PgLedger;
use crate::deps::{CheckResult, HealthProbe, PutOutcome, StoreError, TransactionStore};
use crate::handler::Deps;

/// Transaction records as objects of one S3 bucket.
///
/// Writes are conditional (`If-None-Match: *`, a 412 answer meaning the object exists);
/// the object is also looked up first, so that S3 emulators without conditional writes keep
/// the at-most-once behaviour for sequential retries.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// A store over `bucket`, using a prepared client.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3Store {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl TransactionStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(output) => {
                let data =
                    output.body.collect().await.map_err(|e| {
                        StoreError(format!("reading s3://{}/{key}: {e}", self.bucket))
                    })?;
                Ok(Some(data.into_bytes().to_vec()))
            }
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || (status(&err) == Some(404) && err.code() != Some("NoSuchBucket")) =>
            {
                Ok(None)
            }
            Err(err) => Err(StoreError(format!(
                "reading s3://{}/{key}: {}",
                self.bucket,
                describe(&err)
            ))),
        }
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<PutOutcome, StoreError> {
        if self.get(key).await?.is_some() {
            return Ok(PutOutcome::AlreadyExists);
        }
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) if status(&err) == Some(412) || err.code() == Some("PreconditionFailed") => {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(err) => Err(StoreError(format!(
                "writing s3://{}/{key}: {}",
                self.bucket,
                describe(&err)
            ))),
        }
    }
}

/// Health checks over AWS: the bucket (`HeadBucket`), the database secret
/// (`GetSecretValue`; the value is dropped unread) and the database itself (`select 1`
/// over the function's cached connection, [`PgLedger::ping`]).
#[derive(Debug, Clone)]
pub struct AwsProbe {
    s3: aws_sdk_s3::Client,
    bucket: String,
    secrets: aws_sdk_secretsmanager::Client,
    secret_id: String,
    database: PgLedger,
    lag: Option<(aws_sdk_cloudwatch::Client, String)>,
}

impl AwsProbe {
    /// Also reports the Aurora global database's replication lag of `cluster_id`, read
    /// from CloudWatch (`AuroraGlobalDBReplicationLag`, the last five minutes).
    pub fn with_replication_lag(
        mut self,
        cloudwatch: aws_sdk_cloudwatch::Client,
        cluster_id: impl Into<String>,
    ) -> AwsProbe {
        self.lag = Some((cloudwatch, cluster_id.into()));
        self
    }

    /// Checks of `bucket` through `s3`, of the secret `secret_id` (ARN or name) through
    /// `secrets` (a client for the secret's region), and of `database`.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        secrets: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        database: PgLedger,
    ) -> AwsProbe {
        AwsProbe {
            s3,
            bucket: bucket.into(),
            secrets,
            secret_id: secret_id.into(),
            database,
            lag: None,
        }
    }
}

impl HealthProbe for AwsProbe {
    async fn bucket(&self) -> CheckResult {
        self.s3
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(drop)
            .map_err(|err| format!("bucket {}: {}", self.bucket, describe(&err)))
    }

    async fn db_secret(&self) -> CheckResult {
        let output = self
            .secrets
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| format!("secret {}: {}", self.secret_id, describe(&err)))?;
        if output.secret_string().is_some() || output.secret_binary().is_some() {
            Ok(())
        } else {
            Err(format!("secret {} has no value", self.secret_id))
        }
    }

    async fn database(&self) -> CheckResult {
        self.database.ping().await.map_err(|err| err.0)
    }

    async fn replication_lag_ms(&self) -> Result<Option<f64>, String> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let Some((cloudwatch, cluster)) = &self.lag else {
            return Ok(None);
        };
        let now = std::time::SystemTime::now();
        let out = cloudwatch
            .get_metric_statistics()
            .namespace("AWS/RDS")
            .metric_name("AuroraGlobalDBReplicationLag")
            .dimensions(
                Dimension::builder()
                    .name("DBClusterIdentifier")
                    .value(cluster)
                    .build(),
            )
            .start_time(DateTime::from(now - std::time::Duration::from_secs(300)))
            // A minute ahead: the end is exclusive and may be sent in whole seconds.
            .end_time(DateTime::from(now + std::time::Duration::from_secs(60)))
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .map_err(|err| format!("replication lag of {cluster}: {}", describe(&err)))?;
        Ok(out
            .datapoints()
            .iter()
            .filter_map(|d| Some((d.timestamp()?.secs(), d.maximum()?)))
            .max_by_key(|(at, _)| *at)
            .map(|(_, lag)| lag))
    }
}

/// The function's real dependencies from an SDK configuration: the region's database
/// ([`PgLedger`]), an [`S3Store`] and an [`AwsProbe`], whose Secrets Manager client targets
/// the secret's own region ([`Config::secret_region`]). S3 uses path-style addressing when
/// the configuration has a custom endpoint (an emulator). The ledger and the probe share
/// one database connection.
pub fn aws_deps(sdk: &aws_config::SdkConfig, config: &Config) -> Deps<PgLedger, S3Store, AwsProbe> {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build(),
    );
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .region(aws_sdk_secretsmanager::config::Region::new(
                config.secret_region().to_string(),
            ))
            .build(),
    );
    // An Aurora endpoint's first label is its cluster's identifier.
    let cluster = host_port(&config.db_endpoint)
        .0
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let ledger = PgLedger::new(
        secrets.clone(),
        &config.db_secret_arn,
        config.db_user.clone(),
        &config.db_endpoint,
        &config.db_name,
    );
    let probe = AwsProbe::new(
        s3.clone(),
        &config.bucket,
        secrets,
        &config.db_secret_arn,
        ledger.clone(),
    )
    .with_replication_lag(aws_sdk_cloudwatch::Client::new(sdk), cluster);
    Deps::new(
        &config.region,
        ledger,
        S3Store::new(s3, &config.bucket),
        probe,
    )
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A one-line description of an SDK error: status, code and message of a service error,
/// or the error chain of a transport failure.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().unwrap_or("no error code");
            match context.err().message() {
                Some(message) => format!("HTTP {status} {code}: {message}"),
                None => format!("HTTP {status} {code}"),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A one-bucket S3 endpoint answering GET with 404 NoSuchKey and PUT with `put_status`,
    /// recording each request's method and headers.
    fn fake_s3(put_status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if head.contains("transfer-encoding: chunked") {
                    // Skip the chunks up to the last (empty) one and the blank line after it.
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        if line == "0\r\n" {
                            let _ = reader.read_line(&mut line);
                            break;
                        }
                        line.clear();
                    }
                }
                let (status, code) = match (head.starts_with("put"), put_status) {
                    (true, 412) => (412, "PreconditionFailed"),
                    (true, other) => (other, "AccessDenied"),
                    (false, _) => (404, "NoSuchKey"),
                };
                log.lock().unwrap().push(head);
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>fake</Message></Error>"
                );
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Fake\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{xml}",
                    xml.len()
                );
            }
        });
        (endpoint, seen)
    }

    fn client(endpoint: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    #[tokio::test]
    async fn precondition_failed_means_already_exists() {
        let (endpoint, seen) = fake_s3(412);
        let store = S3Store::new(client(&endpoint), "payments");
        let outcome = store
            .put_if_absent("transactions/k.json", b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(outcome, PutOutcome::AlreadyExists);
        let seen = seen.lock().unwrap();
        let put = seen.iter().find(|h| h.starts_with("put")).expect("a PUT");
        assert!(put.contains("if-none-match: *"), "{put}");
    }

    #[tokio::test]
    async fn other_put_failures_are_errors() {
        let (endpoint, _) = fake_s3(403);
        let store = S3Store::new(client(&endpoint), "payments");
        let err = store
            .put_if_absent("transactions/k.json", b"{}".to_vec())
            .await
            .unwrap_err();
        assert!(err.0.contains("HTTP 403"), "{err}");
    }

    #[tokio::test]
    async fn missing_key_reads_as_none() {
        let (endpoint, _) = fake_s3(412);
        let store = S3Store::new(client(&endpoint), "payments");
        assert_eq!(store.get("transactions/k.json").await.unwrap(), None);
    }
}

//! Support code for the integration suite: starts the moto AWS emulator in server mode on
//! 127.0.0.1 with a free port, hands out SDK configurations pointed at it, and offers a
//! counting endpoint that proves a validation error was raised before any request.
//!
//! One emulator serves the whole test binary. Tests share it, so every test keeps to its own
//! resource names (use [`unique`]). The server stops when the test process exits: it runs
//! under a small shell watchdog that kills it as soon as the test process's end of a pipe
//! closes, which happens even when the test binary is killed.
//!
//! [`PgServer`] does the same for PostgreSQL: a throwaway server from the installed server
//! binaries, in a temporary directory, on a free port of 127.0.0.1.

pub mod pg;
pub mod proxy;

pub use pg::{PG_INSTALL_HINT, PgDatabase, PgServer};
pub use proxy::{FaultPolicy, FaultProxy, Loss, ProxyStats};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The moto version that `scripts/setup` installs.
pub const MOTO_VERSION: &str = "5.2.5";

/// Access key id the suite uses; moto accepts any credentials.
pub const ACCESS_KEY_ID: &str = "testing";
/// Secret access key the suite uses.
pub const SECRET_ACCESS_KEY: &str = "testing";

/// A running moto server shared by every test of this binary.
pub struct Moto {
    endpoint: String,
    // Keeps the watchdog's stdin open; dropping it (at process exit) stops moto.
    _watchdog: Mutex<Child>,
}

impl Moto {
    /// The emulator of this test binary, started on first use.
    ///
    /// Panics (failing the calling test) with installation instructions when moto is not
    /// installed or does not answer: tests that need the emulator never skip.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| match Moto::start() {
            Ok(moto) => moto,
            Err(why) => panic!(
                "the moto AWS emulator is required for this test and could not be started: {why}\n\
                 install it with `scripts/setup` (it puts moto[server]=={MOTO_VERSION} into .venv/), \
                 or point MOTO_SERVER at a moto_server executable (scripts/moto-server adds the \
                 project's corrections to moto; see ARCHITECTURE.md)"
            ),
        })
    }

    /// The base URL of the emulator, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for `region` pointed at the emulator with test credentials.
    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint, region)
    }

    /// Environment variables that point a child process (such as the stack binary) at the
    /// emulator through the standard AWS variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    }

    fn start() -> Result<Moto, String> {
        let exe = moto_executable()?;
        let port = free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        // The watchdog starts moto, then blocks reading its stdin; when the test process
        // exits the pipe closes, `read` returns and the watchdog kills moto.
        let script = r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read -r _; kill $pid 2>/dev/null; wait $pid 2>/dev/null"#;
        let log = std::env::temp_dir().join(format!("moto-{port}.log"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&exe)
            .arg(port.to_string())
            .arg(&log)
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "false")
            // moto issues a DNS-validated certificate this many seconds after the request
            // (60 by default); 10 keeps the pending state observable and the suite quick.
            .env(
                "MOTO_ACM_VALIDATION_WAIT",
                std::env::var("MOTO_ACM_VALIDATION_WAIT").unwrap_or_else(|_| "10".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if http_get_ok(port, "/moto-api/data.json") {
                return Ok(Moto {
                    endpoint,
                    _watchdog: Mutex::new(child),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!(
            "{} did not answer on port {port} within 180 s (a loaded machine starts it slowly); its log:\n{tail}",
            exe.display()
        ))
    }
}

/// `program` (a stack binary) run in `dir` against the shared emulator: no colours, no
/// passphrase (the key file beside the state is used), no profile or region of the
/// user's, and the emulator's endpoint and credentials.
pub fn stack_command(program: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("IAC_PASSPHRASE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    for (k, v) in Moto::shared().env() {
        cmd.env(k, v);
    }
    cmd
}

/// An SDK configuration for `region` pointed at `endpoint` with the suite's credentials.
pub fn sdk_config_for(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
        None,
        "iac-tests",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}

/// A name unique to this test run, for resources in the shared emulator:
/// `prefix-<pid>-<counter>`, lower case, safe for S3, RDS and IAM names.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A local endpoint that accepts connections, counts them and closes them at once.
///
/// Point a provider at it to prove that a validation error was raised before any request
/// was sent: after the call, [`RequestCounter::connections`] must still be zero.
pub struct RequestCounter {
    endpoint: String,
    count: Arc<AtomicUsize>,
}

impl RequestCounter {
    /// Starts the counter on a free port of 127.0.0.1.
    pub fn start() -> RequestCounter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        RequestCounter {
            endpoint: format!("http://127.0.0.1:{port}"),
            count,
        }
    }

    /// The counter's URL, e.g. `http://127.0.0.1:40124`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for `region` pointed at the counter.
    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint, region)
    }

    /// How many connections reached the counter so far.
    pub fn connections(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// The repository root (the workspace folder), found from this crate's manifest folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn moto_executable() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    // moto from `.venv/`, started through the launcher that applies the project's
    // corrections to it (scripts/moto_server.py).
    let venv = repo_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return Ok(repo_root().join("scripts/moto-server"));
    }
    Err(format!("{} does not exist", venv.display()))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status = String::new();
    if BufReader::new(&mut stream).read_line(&mut status).is_err() {
        return false;
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200")
}

/// A local HTTP proxy in front of the emulator that loses answers: it forwards every
/// request, but for the first `times` requests whose text contains `needle` (e.g.
/// `Action=CreateVpc`) it drops the connection instead of returning the response. The
/// object is made on the server and the client never hears of it, which is what a network
/// failure after a non-idempotent create looks like.
pub struct LossyProxy {
    endpoint: String,
    matched: Arc<AtomicUsize>,
}

impl LossyProxy {
    /// Starts the proxy on a free port of 127.0.0.1, forwarding to `upstream`
    /// (`http://127.0.0.1:port`).
    pub fn start(upstream: &str, needle: &str, times: usize) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let needle = needle.to_string();
        let matched = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&matched);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, needle, seen) = (upstream.clone(), needle.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &upstream, &needle, times, &seen);
                });
            }
        });
        LossyProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            matched,
        }
    }

    /// An SDK configuration for `region` pointed at the proxy.
    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint, region)
    }

    /// How many requests containing the needle went through (answered or not).
    pub fn matched(&self) -> usize {
        self.matched.load(Ordering::SeqCst)
    }
}

/// Serves one client connection: each request goes upstream on its own connection (asked
/// to close, so the whole answer is read), and comes back unless it is to be lost.
fn serve(
    client: TcpStream,
    upstream: &str,
    needle: &str,
    times: usize,
    seen: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if !lower.starts_with("connection:") {
                head.extend_from_slice(line.as_bytes());
            }
        }
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(&head)?;
        up.write_all(&body)?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&body);
        let matches = text.contains(needle) || String::from_utf8_lossy(&head).contains(needle);
        if matches && seen.fetch_add(1, Ordering::SeqCst) < times {
            return Ok(()); // made upstream, answer lost
        }
        // The answer says `Connection: close`, so the client opens a new connection.
        client.write_all(&answer)
    }
}

/// Asserts that `result` is the service's not-found error `code` (`NotFound`,
/// `ResourceNotFoundException`, `InvalidVpcID.NotFound`, ...): a refused connection, a
/// throttle or any other error is no proof that something is gone.
#[track_caller]
pub fn assert_not_found<T, E>(result: Result<T, E>, code: &str, what: &str)
where
    T: std::fmt::Debug,
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match result {
        Err(e) if e.code() == Some(code) => {}
        other => panic!("{what}: expected the service's `{code}` error, got {other:?}"),
    }
}

/// The bytes of a SQLite state file and of its write-ahead log (`<file>-wal`), where
/// recent writes live until a checkpoint: scans for plain text must read both.
pub fn state_file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("cannot read the state file {}: {e}", path.display()));
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

/// Publishes an `AuroraGlobalDBReplicationLag` datapoint (milliseconds) for the cluster
/// `cluster` at `at` into the CloudWatch of `sdk`'s region: what Aurora publishes for a
/// secondary, which the emulator does not.
pub async fn put_replication_lag(
    sdk: &aws_config::SdkConfig,
    cluster: &str,
    lag_ms: f64,
    at: std::time::SystemTime,
) {
    aws_sdk_cloudwatch::Client::new(sdk)
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("AuroraGlobalDBReplicationLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBClusterIdentifier")
                        .value(cluster)
                        .build(),
                )
                .value(lag_ms)
                .timestamp(at.into())
                .build(),
        )
        .send()
        .await
        .expect("put an AuroraGlobalDBReplicationLag datapoint");
}

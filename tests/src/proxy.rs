//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the emulator.
//!
//! [`FaultProxy`] forwards every request to an upstream endpoint (the shared moto server)
//! and, following a seeded [`FaultPolicy`], makes the failures that a real network and a
//! real AWS produce:
//!
//! - a **lost answer** of a mutating call: the request is forwarded, so the emulator acts,
//!   and the client then gets a `503` with an empty or a garbled body, or a closed
//!   connection. Either the first N times each distinct call is seen (the SDK's own retry
//!   resends the same body, so N = 2 loses the answer and the retry's answer), or with a
//!   probability;
//! - **added latency** on every call, and extra latency for named operations (a slow
//!   create, such as a NAT gateway's or an Aurora instance's, modelled as a slow answer);
//! - **dropped connections** before forwarding (nothing reaches the emulator);
//! - an **unreachable region**: every request whose SigV4 credential scope names one of the
//!   given regions is dropped before forwarding.
//!
//! Whether a call mutates is decided by protocol: for awsQuery and EC2 the `Action=` of the
//! form body, for awsJson the `X-Amz-Target` header (`Describe*`, `List*`, `Get*` are reads
//! in both), for the REST protocols (S3, Lambda, API Gateway, Route 53) the HTTP method
//! (`GET` and `HEAD` are reads).
//!
//! The proxy counts calls per operation and the faults it injected ([`FaultProxy::stats`]).
//! It runs on its own thread and runtime, so it serves clients of any runtime and child
//! processes alike, and it stops when the [`FaultProxy`] is dropped.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, TRANSFER_ENCODING,
};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How a lost answer reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loss {
    /// `503 Service Unavailable` with an empty body.
    Empty503,
    /// `503 Service Unavailable` with a body that is not XML or JSON.
    Garbled503,
    /// The connection is closed without an answer.
    Close,
}

/// What the proxy does to the calls it forwards. The default forwards everything unharmed.
#[derive(Debug, Clone)]
pub struct FaultPolicy {
    /// Seed of the random choices (probabilities, latency, the kind of loss).
    pub seed: u64,
    /// Lose the answer of each distinct mutating call the first this many times it is seen
    /// (same method, path, operation and body). `2` loses a call's answer and its retry's.
    pub lose_first: u32,
    /// Lose the answer of a mutating call with this probability (0 to 1), after
    /// `lose_first` is used up.
    pub lose_probability: f64,
    /// How lost answers are lost; one is picked at random per loss. Empty means
    /// [`Loss::Empty503`].
    pub losses: Vec<Loss>,
    /// Latency added to every call, uniformly picked in this range (inclusive).
    pub latency: Option<(Duration, Duration)>,
    /// Extra latency for calls whose operation (as [`classify`] names it, e.g.
    /// `ec2.CreateNatGateway`) ends with the given string; the first match counts.
    pub slow_operations: Vec<(String, Duration)>,
    /// Close the connection of any call, before forwarding it, with this probability.
    pub drop_probability: f64,
    /// Drop every call (before forwarding) whose SigV4 credential scope names one of
    /// these regions.
    pub unreachable_regions: Vec<String>,
    /// Only calls whose operation contains one of these strings are subject to lost
    /// answers and drops (empty: every call). Latency and unreachable regions apply to all.
    pub only_operations: Vec<String>,
}

impl Default for FaultPolicy {
    fn default() -> Self {
        FaultPolicy {
            seed: 0,
            lose_first: 0,
            lose_probability: 0.0,
            losses: vec![Loss::Empty503, Loss::Garbled503, Loss::Close],
            latency: None,
            slow_operations: Vec::new(),
            drop_probability: 0.0,
            unreachable_regions: Vec::new(),
            only_operations: Vec::new(),
        }
    }
}

impl FaultPolicy {
    /// Loses each distinct mutating call's answer the first `times` times it is seen.
    pub fn lose_each(times: u32, seed: u64) -> FaultPolicy {
        FaultPolicy {
            seed,
            lose_first: times,
            ..FaultPolicy::default()
        }
    }
}

/// Counts kept by the proxy, per operation (`Service.Operation` for awsQuery, EC2 and
/// awsJson, `service METHOD` for the REST protocols).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Calls received, per operation.
    pub calls: BTreeMap<String, u64>,
    /// Answers lost after forwarding, per operation.
    pub lost: BTreeMap<String, u64>,
    /// Lost answers per way of losing them.
    pub losses: BTreeMap<String, u64>,
    /// Connections dropped before forwarding (at random), per operation.
    pub dropped: BTreeMap<String, u64>,
    /// Calls dropped because their region is unreachable, per region.
    pub unreachable: BTreeMap<String, u64>,
    /// The most calls the proxy was handling at once.
    pub most_in_flight: u64,
}

impl ProxyStats {
    /// Every call received.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Every fault injected: lost answers, dropped connections, unreachable calls.
    pub fn total_faults(&self) -> u64 {
        self.lost.values().sum::<u64>()
            + self.dropped.values().sum::<u64>()
            + self.unreachable.values().sum::<u64>()
    }

    /// Lost answers of all operations.
    pub fn total_lost(&self) -> u64 {
        self.lost.values().sum()
    }
}

/// One call as the proxy classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The operation, e.g. `ec2.CreateVpc`, `TrentService.CreateAlias`, `s3 PUT`.
    pub operation: String,
    /// Whether the call changes something.
    pub mutating: bool,
    /// The region of the SigV4 credential scope, when signed.
    pub region: Option<String>,
}

/// Classifies a request by protocol (see the module documentation).
pub fn classify(method: &Method, headers: &hyper::HeaderMap, body: &[u8]) -> Call {
    let scope = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(credential_scope);
    let (region, service) = match scope {
        Some((r, s)) => (Some(r), s),
        None => (None, "unsigned".to_string()),
    };
    let read_name =
        |op: &str| op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Get");
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let op = target.rsplit('.').next().unwrap_or(target);
        return Call {
            operation: target.to_string(),
            mutating: !read_name(op),
            region,
        };
    }
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form && let Some(action) = form_action(body) {
        return Call {
            operation: format!("{service}.{action}"),
            mutating: !read_name(&action),
            region,
        };
    }
    Call {
        operation: format!("{service} {method}"),
        mutating: !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS),
        region,
    }
}

/// `(region, service)` of `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn credential_scope(authorization: &str) -> Option<(String, String)> {
    let rest = &authorization[authorization.find("Credential=")? + "Credential=".len()..];
    let scope = rest.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [.., _date, region, service, "aws4_request"] => {
            Some((region.to_string(), service.to_string()))
        }
        _ => None,
    }
}

/// The `Action` of a form body.
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}

/// The mutable part shared by the connections.
struct Shared {
    policy: FaultPolicy,
    rng: StdRng,
    seen: HashMap<u64, u32>,
    stats: ProxyStats,
    /// Calls being handled now.
    in_flight: u64,
}

/// What to do with one call, decided before it is forwarded.
enum Verdict {
    Forward { lose: Option<Loss> },
    Drop,
}

/// A running fault-injecting proxy; stops when dropped.
pub struct FaultProxy {
    endpoint: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts the proxy on a free port of 127.0.0.1, forwarding to `upstream`
    /// (`http://127.0.0.1:port`, e.g. [`crate::Moto::endpoint`]).
    pub fn start(upstream: &str, policy: FaultPolicy) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the upstream is http://<ip>:<port>");
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the proxy");
        std_listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = std_listener.local_addr().expect("local address").port();
        let shared = Arc::new(Mutex::new(Shared {
            rng: StdRng::seed_from_u64(policy.seed),
            policy,
            seen: HashMap::new(),
            stats: ProxyStats::default(),
            in_flight: 0,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(std_listener).expect("the proxy's listener");
                    tokio::select! {
                        _ = accept_loop(listener, upstream, state) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_background();
            })
            .expect("the proxy's thread");
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The proxy's URL, e.g. `http://127.0.0.1:40125`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for `region` pointed at the proxy, with the suite's
    /// credentials and the providers' retry settings (5 attempts) but a short backoff.
    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        let base = crate::sdk_config_for(&self.endpoint, region);
        base.into_builder()
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(20))
                    .with_max_backoff(Duration::from_millis(200)),
            )
            .build()
    }

    /// Replaces the policy (the counts and the record of calls seen are kept).
    pub fn set_policy(&self, policy: FaultPolicy) {
        let mut shared = self.shared.lock().expect("proxy state");
        shared.rng = StdRng::seed_from_u64(policy.seed);
        shared.policy = policy;
    }

    /// The counts so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.lock().expect("proxy state").stats.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Mutex<Shared>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = serve(stream, upstream, shared).await;
        });
    }
}

/// One request as read from a client.
struct Incoming {
    method: Method,
    target: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// Serves one client connection (HTTP/1.1 with keep-alive) until it closes, or until a
/// fault closes it.
async fn serve(
    stream: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Mutex<Shared>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader).await? else {
            return Ok(());
        };
        let close = request
            .headers
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        {
            let mut s = shared.lock().expect("proxy state");
            s.in_flight += 1;
            s.stats.most_in_flight = s.stats.most_in_flight.max(s.in_flight);
        }
        let answer = handle(request, upstream, &shared).await;
        shared.lock().expect("proxy state").in_flight -= 1;
        let Some(answer) = answer else {
            return Ok(()); // dropped: the connection closes without an answer
        };
        reader.get_mut().write_all(&answer).await?;
        reader.get_mut().flush().await?;
        if close {
            return Ok(());
        }
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one request: `None` when the client closed the connection between requests.
async fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Incoming>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts
        .next()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| invalid("no method"))?;
    let target = parts
        .next()
        .ok_or_else(|| invalid("no target"))?
        .to_string();
    let mut headers = hyper::HeaderMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(invalid("headers cut short"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| invalid("bad header"))?;
        let name = hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| invalid("bad header name"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| invalid("bad header value"))?;
        headers.append(name, value);
    }
    let chunked = headers
        .get(TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        headers.remove(TRANSFER_ENCODING);
        read_chunked(reader).await?
    } else {
        let length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        body
    };
    Ok(Some(Incoming {
        method,
        target,
        headers,
        body: Bytes::from(body),
    }))
}

/// A chunked body, decoded (trailers are dropped).
async fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).await?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer).await? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).await?;
        chunk.truncate(size);
        body.extend_from_slice(&chunk);
    }
}

/// Applies the policy to one request: the bytes of the answer to send, or `None` to close
/// the connection without one.
async fn handle(
    request: Incoming,
    upstream: SocketAddr,
    shared: &Mutex<Shared>,
) -> Option<Vec<u8>> {
    let call = classify(&request.method, &request.headers, &request.body);
    let (verdict, latency) = {
        let mut guard = shared.lock().expect("proxy state");
        decide(
            &mut guard,
            &request.method,
            &request.target,
            &call,
            &request.body,
        )
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let lose = match verdict {
        Verdict::Drop => return None,
        Verdict::Forward { lose } => lose,
    };
    let answer = forward(upstream, &request).await;
    match (lose, answer) {
        (None, Ok(answer)) => Some(answer),
        (None, Err(_)) => Some(unavailable(b"")),
        (Some(Loss::Close), _) => None,
        (Some(Loss::Empty503), _) => Some(unavailable(b"")),
        (Some(Loss::Garbled503), _) => Some(unavailable(
            b"\x00\x7f<<upstream answer lost by the fault proxy",
        )),
    }
}

/// Decides a call's fate and counts it.
fn decide(
    shared: &mut Shared,
    method: &Method,
    path: &str,
    call: &Call,
    body: &[u8],
) -> (Verdict, Option<Duration>) {
    let Shared {
        policy,
        rng,
        seen,
        stats,
        ..
    } = shared;
    *stats.calls.entry(call.operation.clone()).or_default() += 1;
    let base = policy.latency.map(|(lo, hi)| {
        if hi <= lo {
            lo
        } else {
            rng.random_range(lo..=hi)
        }
    });
    let slow = policy
        .slow_operations
        .iter()
        .find(|(op, _)| call.operation.ends_with(op.as_str()))
        .map(|(_, extra)| *extra);
    let latency = match (base, slow) {
        (None, None) => None,
        (base, slow) => Some(base.unwrap_or_default() + slow.unwrap_or_default()),
    };
    if let Some(region) = &call.region
        && policy.unreachable_regions.iter().any(|r| r == region)
    {
        *stats.unreachable.entry(region.clone()).or_default() += 1;
        return (Verdict::Drop, latency);
    }
    let subject = policy.only_operations.is_empty()
        || policy
            .only_operations
            .iter()
            .any(|o| call.operation.contains(o.as_str()));
    if !subject {
        return (Verdict::Forward { lose: None }, latency);
    }
    if policy.drop_probability > 0.0 && rng.random_bool(policy.drop_probability.min(1.0)) {
        *stats.dropped.entry(call.operation.clone()).or_default() += 1;
        return (Verdict::Drop, latency);
    }
    if !call.mutating {
        return (Verdict::Forward { lose: None }, latency);
    }
    let mut hasher = DefaultHasher::new();
    (method.as_str(), path, &call.operation, body).hash(&mut hasher);
    let times = seen.entry(hasher.finish()).or_default();
    *times += 1;
    let lose = *times <= policy.lose_first
        || (policy.lose_probability > 0.0 && rng.random_bool(policy.lose_probability.min(1.0)));
    if !lose {
        return (Verdict::Forward { lose: None }, latency);
    }
    let loss = if policy.losses.is_empty() {
        Loss::Empty503
    } else {
        policy.losses[rng.random_range(0..policy.losses.len())]
    };
    *stats.lost.entry(call.operation.clone()).or_default() += 1;
    *stats.losses.entry(format!("{loss:?}")).or_default() += 1;
    (Verdict::Forward { lose: Some(loss) }, latency)
}

/// A `503 Service Unavailable` answer with `body`.
fn unavailable(body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// Sends the request upstream on a connection of its own and returns the whole answer as
/// the bytes to write back.
async fn forward(
    upstream: SocketAddr,
    incoming: &Incoming,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(incoming.method.clone())
        .uri(incoming.target.as_str());
    for (name, value) in &incoming.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            request = request.header(name, value);
        }
    }
    if !incoming.headers.contains_key(HOST) {
        request = request.header(HOST, upstream.to_string());
    }
    let request = request
        .header(CONTENT_LENGTH, incoming.body.len())
        .body(Full::new(incoming.body.clone()))?;
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            answer.extend_from_slice(name.as_str().as_bytes());
            answer.extend_from_slice(b": ");
            answer.extend_from_slice(value.as_bytes());
            answer.extend_from_slice(b"\r\n");
        }
    }
    answer.extend_from_slice(format!("content-length: {}\r\n\r\n", bytes.len()).as_bytes());
    answer.extend_from_slice(&bytes);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> hyper::HeaderMap {
        let mut map = hyper::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=abc";

    #[test]
    fn calls_are_classified_by_protocol() {
        let form = headers(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", AUTH),
        ]);
        let c = classify(&Method::POST, &form, b"Action=CreateVpc&Version=2016-11-15");
        assert_eq!(c.operation, "ec2.CreateVpc");
        assert!(c.mutating);
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        let c = classify(&Method::POST, &form, b"Version=1&Action=DescribeVpcs");
        assert!(!c.mutating);

        let json = headers(&[("x-amz-target", "TrentService.CreateAlias")]);
        let c = classify(&Method::POST, &json, b"{}");
        assert_eq!(
            (c.operation.as_str(), c.mutating),
            ("TrentService.CreateAlias", true)
        );
        let json = headers(&[("x-amz-target", "secretsmanager.GetSecretValue")]);
        assert!(!classify(&Method::POST, &json, b"{}").mutating);

        let rest = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-2/s3/aws4_request,SignedHeaders=host",
        )]);
        let c = classify(&Method::PUT, &rest, b"");
        assert_eq!((c.operation.as_str(), c.mutating), ("s3 PUT", true));
        assert_eq!(c.region.as_deref(), Some("us-east-2"));
        assert!(!classify(&Method::GET, &rest, b"").mutating);
        assert!(!classify(&Method::HEAD, &rest, b"").mutating);
        assert!(classify(&Method::DELETE, &rest, b"").mutating);
    }

    #[test]
    fn the_first_sightings_of_a_call_lose_their_answers_then_it_passes() {
        let mut shared = Shared {
            policy: FaultPolicy::lose_each(2, 7),
            rng: StdRng::seed_from_u64(7),
            seen: HashMap::new(),
            stats: ProxyStats::default(),
            in_flight: 0,
        };
        let call = Call {
            operation: "ec2.CreateRoute".into(),
            mutating: true,
            region: None,
        };
        let lost = |s: &mut Shared, body: &[u8]| {
            matches!(
                decide(s, &Method::POST, "/", &call, body).0,
                Verdict::Forward { lose: Some(_) }
            )
        };
        assert!(lost(&mut shared, b"a"));
        assert!(lost(&mut shared, b"a"));
        assert!(!lost(&mut shared, b"a"), "the third sighting passes");
        assert!(lost(&mut shared, b"b"), "another body is another call");
        let read = Call {
            mutating: false,
            ..call.clone()
        };
        assert!(matches!(
            decide(&mut shared, &Method::POST, "/", &read, b"a").0,
            Verdict::Forward { lose: None }
        ));
        assert_eq!(shared.stats.total_lost(), 3);
        assert_eq!(shared.stats.calls["ec2.CreateRoute"], 5);
    }

    #[test]
    fn an_unreachable_region_is_dropped_before_forwarding() {
        let mut shared = Shared {
            policy: FaultPolicy {
                unreachable_regions: vec!["eu-west-1".into()],
                ..FaultPolicy::default()
            },
            rng: StdRng::seed_from_u64(1),
            seen: HashMap::new(),
            stats: ProxyStats::default(),
            in_flight: 0,
        };
        let call = Call {
            operation: "ec2.DescribeVpcs".into(),
            mutating: false,
            region: Some("eu-west-1".into()),
        };
        assert!(matches!(
            decide(&mut shared, &Method::POST, "/", &call, b"").0,
            Verdict::Drop
        ));
        let other = Call {
            region: Some("us-east-1".into()),
            ..call
        };
        assert!(matches!(
            decide(&mut shared, &Method::POST, "/", &other, b"").0,
            Verdict::Forward { lose: None }
        ));
        assert_eq!(shared.stats.unreachable["eu-west-1"], 1);
    }

    #[test]
    fn credential_scopes_are_parsed() {
        assert_eq!(
            credential_scope(AUTH),
            Some(("eu-west-1".to_string(), "ec2".to_string()))
        );
        assert_eq!(credential_scope("Bearer x"), None);
    }
}

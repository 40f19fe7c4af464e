//! A throwaway PostgreSQL server for tests, started from the installed server binaries.
//!
//! [`PgServer::start`] runs `initdb` into a temporary directory, starts `postgres` on
//! 127.0.0.1 with a free port (its Unix socket in the same directory, never the system's),
//! waits until it accepts connections and hands out databases with their own password
//! login ([`PgServer::create_database`]). Password logins over TCP use SCRAM-SHA-256, as
//! Aurora PostgreSQL does; the superuser logs in over the private socket only.
//!
//! The server is stopped, and its directory removed, when the [`PgServer`] is dropped, and
//! also when the test process dies without dropping it: like the moto server, it runs under
//! a small shell watchdog that stops it and removes the directory as soon as the test
//! process's end of a pipe closes. As root (initdb refuses to run as root), the server runs
//! as the unprivileged `postgres` account that the distribution's package creates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What to install when the PostgreSQL server binaries are missing; every test that needs
/// a server fails with this text.
pub const PG_INSTALL_HINT: &str = "install the PostgreSQL server with `scripts/setup` (on Debian/Ubuntu it runs \
`apt-get install -y postgresql`); elsewhere install the PostgreSQL server package (Fedora: \
postgresql-server, macOS: `brew install postgresql`), or point PG_BINDIR at the folder \
holding `initdb` and `postgres`";

/// The superuser's name in every test server; it logs in over the private socket only.
const SUPERUSER: &str = "postgres";

/// How long a server may take to accept connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server of the tests, with its data in a temporary directory.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// The account the server runs as when the tests run as root.
    run_as: Option<Account>,
    /// Whether commits are flushed to disk (off for tests, on for benchmarks).
    durable: bool,
    // The watchdog's stdin: closing it stops the server. `None` while stopped.
    watchdog: Mutex<Option<Child>>,
}

/// One database of a [`PgServer`], owned by a role of the same name that logs in with a
/// password over TCP.
#[derive(Clone)]
pub struct PgDatabase {
    /// Host to connect to: always `127.0.0.1`.
    pub host: String,
    /// The server's TCP port.
    pub port: u16,
    /// The database's name, also its owner's role name.
    pub name: String,
    /// The owner role's login name.
    pub user: String,
    /// The owner role's password (random per database).
    pub password: String,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl PgDatabase {
    /// The connection URL, `postgres://user:password@127.0.0.1:port/name`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.user, self.password, self.host, self.port, self.name
        )
    }

    /// The endpoint as `host:port`.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Connects with tokio-postgres (no TLS) and drives the connection on a spawned task;
    /// panics naming the database when the connection fails.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to test database {} on {}: {e}",
                    self.name,
                    self.endpoint()
                )
            });
        tokio::spawn(connection);
        client
    }
}

impl PgServer {
    /// A server shared by the whole test binary, started on first use; each test makes its
    /// own database on it with [`PgServer::create_database`]. Tests that stop the server
    /// start their own with [`PgServer::start`].
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<PgServer> = OnceLock::new();
        SERVER.get_or_init(PgServer::start)
    }

    /// Starts a new server. Panics (failing the calling test) with installation
    /// instructions when the server binaries are missing, and with the server's log when
    /// it does not start: tests that need PostgreSQL never skip.
    pub fn start() -> PgServer {
        PgServer::try_start().unwrap_or_else(|why| {
            panic!("a PostgreSQL server is required for this test and could not be started: {why}")
        })
    }

    /// Starts a new server with PostgreSQL's durable defaults (`fsync`, full page writes,
    /// synchronous commits), for benchmarks that compare it with SQLite's
    /// `synchronous=FULL`; [`PgServer::start`] turns them off for speed. Panics as
    /// [`PgServer::start`] does.
    pub fn start_durable() -> PgServer {
        PgServer::try_start_with(true).unwrap_or_else(|why| {
            panic!("a PostgreSQL server is required and could not be started: {why}")
        })
    }

    /// Starts a new server, or says why it could not.
    pub fn try_start() -> Result<PgServer, String> {
        PgServer::try_start_with(false)
    }

    fn try_start_with(durable: bool) -> Result<PgServer, String> {
        let bin = server_bindir().map_err(|why| format!("{why}; {PG_INSTALL_HINT}"))?;
        let run_as = if is_root() {
            let account = Account::lookup(SUPERUSER).map_err(|why| {
                format!(
                    "the tests run as root, and PostgreSQL refuses to; they start it as the \
                     `{SUPERUSER}` account, but {why}; {PG_INSTALL_HINT}"
                )
            })?;
            if !in_path("setpriv") {
                return Err(
                    "the tests run as root and start PostgreSQL as another account with \
                     `setpriv`, which is not installed (it is part of util-linux)"
                        .into(),
                );
            }
            Some(account)
        } else {
            None
        };
        let dir = temp_dir()?;
        let server = PgServer {
            bin,
            dir,
            port: free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?,
            run_as,
            durable,
            watchdog: Mutex::new(None),
        };
        server.init()?;
        server.launch()?;
        Ok(server)
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's private directory (data, socket, log), removed when it is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a database owned by a new login role of the same name (`prefix` made
    /// unique with a process-wide counter) with a random password.
    pub fn create_database(&self, prefix: &str) -> PgDatabase {
        let name = unique(prefix).replace('-', "_");
        let password = format!("pw-{}", uuid_like());
        // Two commands: `create database` cannot run in the transaction of a multi-statement
        // command.
        self.psql(&format!("create role {name} login password '{password}'"))
            .and_then(|_| self.psql(&format!("create database {name} owner {name}")))
            .unwrap_or_else(|why| panic!("cannot create test database {name}: {why}"));
        PgDatabase {
            host: "127.0.0.1".into(),
            port: self.port,
            name: name.clone(),
            user: name,
            password,
        }
    }

    /// Runs SQL as the superuser (over the private socket, in the `postgres` database) and
    /// returns its output (unaligned, tuples only). Several statements run in one
    /// transaction.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let output = self
            .command("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", &self.socket_dir().to_string_lossy()])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }

    /// Stops the server (fast shutdown: open connections are closed) and waits until it
    /// has exited; its data stays for [`PgServer::restart`]. Stopping a stopped server does
    /// nothing.
    pub fn stop(&self) {
        let child = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut child) = child {
            // Closing the watchdog's stdin makes it stop the server; a line says to keep
            // the data directory.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"keep\n");
            }
            let _ = child.wait();
        }
    }

    /// Starts a stopped server again on the same port with the same data.
    pub fn restart(&self) {
        self.stop();
        self.launch()
            .unwrap_or_else(|why| panic!("the PostgreSQL test server did not restart: {why}"));
    }

    /// Whether the server is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command for one of the server's programs, run as the server's account.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(account) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={}", account.uid))
                    .arg(format!("--regid={}", account.gid))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(exe)
                    .env("HOME", &self.dir);
                command
            }
            None => Command::new(exe),
        }
    }

    fn init(&self) -> Result<(), String> {
        let pwfile = self.dir.join("superuser-password");
        std::fs::write(&pwfile, format!("su-{}\n", uuid_like()))
            .map_err(|e| format!("cannot write {}: {e}", pwfile.display()))?;
        if let Some(account) = &self.run_as {
            account.own(&self.dir)?;
            account.own(&pwfile)?;
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.join("initdb").display()))?;
        let _ = std::fs::remove_file(&pwfile);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Starts `postgres` under the watchdog and waits until it accepts connections.
    fn launch(&self) -> Result<(), String> {
        // The watchdog starts the server, then blocks reading its stdin. A line (from
        // `stop`) stops the server and keeps its files; end of file (the test process
        // dropped the server, or died) also removes the directory. SIGINT is PostgreSQL's
        // fast shutdown.
        let script = r#"dir="$1"; shift; "$@" & pid=$!
if read -r _; then keep=1; else keep=0; fi
kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null
[ "$keep" = 1 ] || rm -rf "$dir""#;
        let server = self.command("postgres");
        // A throwaway server: durability is not under test, speed is (unless asked for).
        let fast: &[&str] = if self.durable {
            &[]
        } else {
            &[
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
            ]
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("pg-watchdog")
            .arg(&self.dir)
            .arg(server.get_program())
            .args(server.get_args())
            .arg("-D")
            .arg(self.data_dir())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.socket_dir())
            .args(fast)
            .args(["-c", "max_connections=100"])
            .envs(server.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file(&self.log_path())?);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run the PostgreSQL watchdog (sh): {e}"))?;
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.psql("select 1").is_ok_and(|out| out == "1") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        self.stop();
        Err(format!(
            "postgres did not accept connections on 127.0.0.1:{} within {} s; its log:\n{log}",
            self.port,
            START_TIMEOUT.as_secs()
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let child = self
            .watchdog
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut child) = child {
            // End of file: the watchdog stops the server and removes the directory.
            drop(child.stdin.take());
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The folder holding `initdb` and `postgres`: `PG_BINDIR`, else `pg_config --bindir` when
/// it holds them, else the newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu
/// keep the server out of PATH), else PATH.
pub fn server_bindir() -> Result<PathBuf, String> {
    server_bindir_from(std::env::var_os("PG_BINDIR"))
}

/// [`server_bindir`] with `pg_bindir` standing for the `PG_BINDIR` variable.
pub fn server_bindir_from(pg_bindir: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = pg_bindir {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "PG_BINDIR={} holds no initdb and postgres",
                dir.display()
            ))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, dir)| dir));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| has_server(dir))
        .ok_or_else(|| {
            "the PostgreSQL server programs (initdb, postgres) are not installed: not in \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH"
                .to_string()
        })
}

/// An operating-system account the server runs as.
struct Account {
    uid: u32,
    gid: u32,
}

impl Account {
    /// The account `name` from `/etc/passwd`.
    fn lookup(name: &str) -> Result<Account, String> {
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| format!("/etc/passwd is unreadable: {e}"))?;
        passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.first() == Some(&name))
            .and_then(|fields| {
                Some(Account {
                    uid: fields.get(2)?.parse().ok()?,
                    gid: fields.get(3)?.parse().ok()?,
                })
            })
            .ok_or_else(|| format!("there is no `{name}` account in /etc/passwd"))
    }

    fn own(&self, path: &Path) -> Result<(), String> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| format!("cannot give {} to uid {}: {e}", path.display(), self.uid))
    }
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    // The effective uid, from the kernel's view of this process (no unsafe libc call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1)?.parse::<u32>().ok())
        })
        == Some(0)
}

/// A new private directory for one server: `$TMPDIR/iac-pg-<pid>-<n>`, mode 0700.
fn temp_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "iac-pg-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // A directory left by an earlier process with the same pid is stale.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// A free TCP port of 127.0.0.1 (bound and released: free when asked).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `prefix` made unique in this process and among the processes of one machine.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// 32 random hex digits (passwords of throwaway roles).
fn uuid_like() -> String {
    use rand::Rng;
    let value: u128 = rand::rng().random();
    format!("{value:032x}")
}

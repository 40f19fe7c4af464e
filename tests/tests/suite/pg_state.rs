//! A team's shared state: the stack binary (`fake-stack`) with `--state` / `IAC_STATE` set
//! to a database of a real PostgreSQL server (started by the test support): two runs at
//! once, a run killed with SIGKILL, and `state migrate` between a file and the database.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::cli::assert_cloud_whole;

const PASSPHRASE: &str = "team passphrase";

/// The binary in `dir` with the state at `state` (a path or a URL, through `IAC_STATE`).
fn command(dir: &Path, state: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fake-stack"));
    c.args(args)
        .current_dir(dir)
        .env("IAC_PASSPHRASE", PASSPHRASE)
        .env("IAC_STATE", state)
        .env_remove("IAC_KEY_FILE")
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, state: &str, args: &[&str]) -> Output {
    command(dir, state, args)
        .output()
        .expect("the fake stack binary runs")
}

fn spawn(dir: &Path, state: &str, args: &[&str]) -> Child {
    command(dir, state, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn database() -> (String, iac_tests::PgDatabase) {
    let db = iac_tests::PgServer::shared().create_database("team_state");
    (db.url(), db)
}

/// Every text the state tables hold, as the server has it.
fn all_text(db: &iac_tests::PgDatabase) -> String {
    let mut client = postgres::Client::connect(&db.url(), postgres::NoTls).unwrap();
    client
        .query_one(
            "SELECT coalesce(string_agg(t, ' '), '') FROM ( \
               SELECT inputs || outputs AS t FROM resources \
               UNION ALL SELECT value FROM outputs \
               UNION ALL SELECT inputs FROM journal) x",
            &[],
        )
        .unwrap()
        .get(0)
}

fn recorded(dir: &Path, state: &str) -> usize {
    let list = run(dir, state, &["state", "list", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn two_runs_at_once_on_a_shared_stack_one_is_refused_naming_the_other() {
    let (url, _db) = database();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fake.toml"),
        "name = \"dev\"\ncount = 10\ndelay_ms = 100\n",
    )
    .unwrap();
    // Both start together; the server's advisory lock lets one in.
    let a = spawn(d, &url, &["up", "--yes", "--parallelism", "2"]);
    let b = spawn(d, &url, &["up", "--yes", "--parallelism", "2"]);
    let (pa, pb) = (a.id(), b.id());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [oa.status.code(), ob.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(1)],
        "one ran, one was refused:\n{}\n{}",
        text(&oa),
        text(&ob)
    );
    let (refused, winner) = if oa.status.code() == Some(1) {
        (text(&oa), pb)
    } else {
        (text(&ob), pa)
    };
    assert!(
        refused.contains("locked by")
            && refused.contains(&format!("pid {winner}"))
            && refused.contains("still going"),
        "the refusal names the live holder: {refused}"
    );
    assert!(
        !refused.contains(&url),
        "no password in messages: {refused}"
    );
    assert_eq!(recorded(d, &url), 10);
    assert_cloud_whole(d, 10);
    let preview = run(d, &url, &["preview", "--detailed-exitcode"]);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview));
}

#[test]
fn a_run_killed_on_a_shared_stack_never_blocks_the_next() {
    let (url, _db) = database();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A chain of 40 steps of 250 ms: the run lasts 10 s, long enough for what follows.
    std::fs::write(
        d.join("fake.toml"),
        "name = \"dev\"\ncount = 40\ndelay_ms = 250\n",
    )
    .unwrap();
    let mut child = spawn(d, &url, &["up", "--yes", "--parallelism", "2"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(d.join("fake-cloud.json"))
        .unwrap_or_default()
        .contains("\"r0\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started creating"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = run(d, &url, &["up", "--yes"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        text(&second).contains(&format!("pid {}", child.id())),
        "{}",
        text(&second)
    );
    let unlock = run(d, &url, &["state", "force-unlock"]);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run is still going"
    );
    assert_ne!(unlock.status.code(), Some(0), "{}", text(&unlock));
    assert!(text(&unlock).contains("still going"), "{}", text(&unlock));

    // SIGKILL: the process's kernel closes its connections, the server ends the session
    // and its advisory lock with it.
    child.kill().unwrap();
    child.wait().unwrap();

    let again = run(d, &url, &["up", "--yes"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "no manual step: {}",
        text(&again)
    );
    assert_eq!(recorded(d, &url), 40);
    assert_cloud_whole(d, 40);
    let preview = run(d, &url, &["preview", "--detailed-exitcode"]);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview));
}

#[test]
fn state_migrate_moves_a_stack_between_a_file_and_a_database_both_ways() {
    let (url, db) = database();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = "hunter2-migrated";
    std::fs::write(
        d.join("fake.toml"),
        format!("name = \"dev\"\ncount = 4\npassword = \"{secret}\"\n"),
    )
    .unwrap();
    let file = ".iac/state.db";
    let up = run(d, file, &["up", "--yes"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));

    // File -> database.
    let m = run(d, file, &["state", "migrate", "--to", &url]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let said = text(&m);
    assert!(
        said.contains("copied stack fake/dev") && said.contains("4 resource(s)"),
        "{said}"
    );
    assert!(said.contains("passes the integrity check"), "{said}");
    assert!(!said.contains(&db.password), "no password shown: {said}");
    assert!(said.contains("***@127.0.0.1"), "{said}");
    let stored = all_text(&db);
    assert!(
        stored.contains("$ciphertext"),
        "secrets are sealed: {stored}"
    );
    assert!(
        !stored.contains(secret),
        "no plain-text secret in the database"
    );
    // The database's copy is the stack: nothing to do, the secret reads back.
    let preview = run(d, &url, &["preview", "--detailed-exitcode"]);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview));
    let out = run(d, &url, &["outputs", "--show-secrets"]);
    assert!(text(&out).contains(secret), "{}", text(&out));

    // A second copy onto a non-empty stack is refused unless forced.
    let again = run(d, file, &["state", "migrate", "--to", &url]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    let forced = run(d, file, &["state", "migrate", "--to", &url, "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert!(text(&forced).contains("replacing"), "{}", text(&forced));

    // Database -> a new file; the team's passphrase opens it.
    let back = "back/state.db";
    let m = run(d, &url, &["state", "migrate", "--to", back]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let preview = run(d, back, &["preview", "--detailed-exitcode"]);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview));
    assert_eq!(recorded(d, back), 4);
    let bytes = std::fs::read(d.join(back)).unwrap();
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "no plain-text secret in the file"
    );
    let out = run(d, back, &["outputs", "--show-secrets"]);
    assert!(text(&out).contains(secret), "{}", text(&out));
}

#[test]
fn a_database_url_password_is_never_printed() {
    let (url, db) = database();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fake.toml"), "name = \"dev\"\ncount = 1\n").unwrap();
    let wrong = url.replace(&db.password, "not-the-password");
    let o = run(d, &wrong, &["state", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("password authentication failed"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("not-the-password"), "{}", text(&o));
    let help = run(d, &url, &["--help"]);
    assert!(!text(&help).contains(&db.password), "{}", text(&help));
    // Without a shared key the database is not opened with a made-up one.
    let o = command(d, &url, &["state", "list"])
        .env_remove("IAC_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("IAC_KEY_FILE"), "{}", text(&o));
}

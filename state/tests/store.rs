//! The state store against real SQLite files in temporary folders, including other
//! processes that hold locks or are killed in the middle of a write.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use iac_state::*;
use serde_json::{Value, json};

const PASSPHRASE: &str = "state test passphrase";
const CHILD_ROLE: &str = "IAC_STATE_TEST_CHILD";
const CHILD_PATH: &str = "IAC_STATE_TEST_PATH";

fn stack() -> StackId {
    StackId::new("payment-dr", "prod-001")
}

fn options() -> OpenOptions {
    OpenOptions {
        secrets: SecretsKey::Passphrase(PASSPHRASE.to_string().into()),
        create: true,
    }
}

fn open(path: &Path) -> StateStore {
    StateStore::open(path, options()).expect("state opens")
}

fn record(name: &str, deps: &[&str], inputs: Value) -> ResourceRecord {
    ResourceRecord {
        name: name.into(),
        type_token: "aws:ec2/vpc".into(),
        provider: "aws-primary".into(),
        id: format!("id-{name}"),
        inputs,
        outputs: json!({"id": format!("id-{name}")}),
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

fn intent(name: &str, token: &str) -> NewIntent {
    NewIntent {
        stack: stack(),
        deployment: None,
        resource: name.into(),
        type_token: "aws:ec2/vpc".into(),
        provider: "aws-primary".into(),
        operation: Operation::Create,
        token: token.into(),
        inputs: json!({}),
    }
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        all.extend(std::fs::read(PathBuf::from(p)).unwrap_or_default());
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn spawn_child(role: &str, path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_PATH, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the child's output (after the test harness's own lines) up to a line starting
/// with `prefix`.
fn wait_for(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended before printing `{prefix}`"
        );
        // libtest prints `test child_process ... ` on the same line before the child's own.
        if let Some(at) = line.find(prefix) {
            return line[at..].to_string();
        }
    }
}

/// What a child process does, chosen by the parent test; does nothing when run directly.
#[test]
fn child_process() {
    let (Ok(role), Ok(path)) = (std::env::var(CHILD_ROLE), std::env::var(CHILD_PATH)) else {
        return;
    };
    let store = open(Path::new(&path));
    match role.as_str() {
        "hold-lock" => {
            let lock = store.lock(&stack(), "child").unwrap();
            println!("locked {}", std::process::id());
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            lock.release().unwrap();
            println!("released");
        }
        "write-forever" => {
            println!("writing");
            std::io::stdout().flush().unwrap();
            for i in 0.. {
                let name = format!("r{i}");
                let ids = store
                    .record_intents(&[intent(&name, &format!("tok-{i}"))])
                    .unwrap();
                let payload = "x".repeat(20_000);
                let rec = record(&name, &[], json!({"step": i, "payload": payload}));
                store
                    .complete_steps(&[(ids[0], StepOutcome::Written(rec))])
                    .unwrap();
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn a_second_process_is_refused_the_lock_until_the_holder_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    open(&path);
    let mut child = spawn_child("hold-lock", &path);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for(&mut out, "locked ");
    let pid: u32 = line
        .trim()
        .strip_prefix("locked ")
        .expect("child locked")
        .parse()
        .unwrap();

    let store = open(&path);
    match store.lock(&stack(), "parent") {
        Err(StateError::Locked {
            info,
            stale,
            os_lock,
            ..
        }) => {
            assert_eq!(
                (info.holder.as_str(), info.pid, stale, os_lock),
                ("child", pid, false, true)
            );
            let message = StateError::Locked {
                stack: stack(),
                info,
                stale,
                os_lock,
            }
            .to_string();
            assert!(
                message.contains("locked by child (pid") && message.contains("payment-dr/prod-001"),
                "{message}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(wait_for(&mut out, "released").trim(), "released");
    child.wait().unwrap();
    let lock = store
        .lock(&stack(), "parent")
        .expect("free after the holder finished");
    assert_eq!(
        store.lock_info(&stack()).unwrap().map(|i| i.holder),
        Some("parent".to_string())
    );
    lock.release().unwrap();
    assert!(store.lock_info(&stack()).unwrap().is_none());
}

#[test]
fn force_unlock_never_takes_the_lock_of_a_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    open(&path);
    let mut child = spawn_child("hold-lock", &path);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_for(&mut out, "locked ");
    let store = open(&path);
    let err = store.force_unlock(&stack()).unwrap_err();
    assert!(
        matches!(&err, StateError::LockedByLiveRun { info, .. } if info.holder == "child"),
        "{err:?}"
    );
    assert!(err.to_string().contains("still going"), "{err}");
    // The holder still holds it.
    assert!(store.lock(&stack(), "parent").is_err());
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    wait_for(&mut out, "released");
    child.wait().unwrap();
    store
        .lock(&stack(), "parent")
        .expect("free once the run ended");
}

#[test]
fn a_run_killed_while_holding_the_lock_never_blocks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    open(&path);
    let mut child = spawn_child("hold-lock", &path);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for(&mut out, "locked ");
    let pid: u32 = line.trim()["locked ".len()..].parse().unwrap();
    child.kill().unwrap(); // SIGKILL: no code of the child runs after this
    child.wait().unwrap();

    let store = open(&path);
    assert_eq!(
        store.lock_info(&stack()).unwrap().map(|i| i.pid),
        Some(pid),
        "the dead run's row is still there"
    );
    let lock = store
        .lock(&stack(), "parent")
        .expect("the kernel released the dead run's lock: no force-unlock needed");
    let info = store.lock_info(&stack()).unwrap().unwrap();
    assert_eq!(
        (info.holder.as_str(), info.pid),
        ("parent", std::process::id())
    );
    assert!(lock.is_os_lock());
    lock.release().unwrap();
    assert!(store.lock_info(&stack()).unwrap().is_none());

    // A row that no OS lock backs (left by an older version) is replaced the same way,
    // and force-unlock removes one and says whose it was.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO locks (stack_id, holder, pid, host, acquired_at) \
         SELECT id, 'old version', 999999, 'elsewhere', 0 FROM stacks",
        [],
    )
    .unwrap();
    // A child process that another test of this binary forks in the meantime holds a
    // copy of every descriptor (the OS lock's too) until it execs; on a loaded machine
    // that lasts long enough to be seen, so give it a moment.
    let mut tries = 0;
    let removed = loop {
        match store.force_unlock(&stack()) {
            Err(iac_state::StateError::LockedByLiveRun { .. }) if tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => break other.unwrap().expect("a row was there"),
        }
    };
    assert_eq!(removed.holder, "old version");
    assert!(store.lock_info(&stack()).unwrap().is_none());
}

#[test]
fn a_process_killed_mid_write_leaves_whole_steps_only() {
    for delay_ms in [30u64, 90, 200] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        open(&path);
        let mut child = spawn_child("write-forever", &path);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        wait_for(&mut out, "writing");
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
        let store = open(&path);
        store.check(&stack()).expect("the store's own check passes");
        let state = store.load(&stack()).unwrap();
        let pending = store.pending_intents(&stack()).unwrap();
        assert!(pending.len() <= 1, "at most the step in flight is pending");
        // Every recorded step is whole: its row carries the payload of its own step, and
        // the steps recorded are exactly 0..n with no gap.
        let mut steps: Vec<i64> = state
            .resources
            .iter()
            .map(|r| {
                assert_eq!(
                    r.inputs["payload"].as_str().map(str::len),
                    Some(20_000),
                    "{} is half written",
                    r.name
                );
                assert_eq!(format!("r{}", r.inputs["step"]), r.name);
                r.inputs["step"].as_i64().unwrap()
            })
            .collect();
        steps.sort();
        assert_eq!(steps, (0..steps.len() as i64).collect::<Vec<_>>());
        if let Some(p) = pending.first() {
            assert_eq!(
                p.resource,
                format!("r{}", steps.len()),
                "the pending intent is the next step"
            );
        }
    }
}

#[test]
fn secrets_never_reach_the_file_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = open(&path);
    let secret = "Sup3r-Secret-Passw0rd";
    let rec = record(
        "db",
        &[],
        json!({"user": "admin", "password": {"$secret": secret}}),
    );
    let mut with_secret_output = rec.clone();
    with_secret_output.outputs =
        json!({"id": "id-db", "conn": {"$secret": format!("postgres://admin:{secret}@h")}});
    let ids = store
        .record_intents(&[NewIntent {
            inputs: rec.inputs.clone(),
            ..intent("db", "tok")
        }])
        .unwrap();
    store
        .complete_steps(&[(ids[0], StepOutcome::Written(with_secret_output.clone()))])
        .unwrap();
    store
        .set_outputs(
            &stack(),
            &BTreeMap::from([("password".to_string(), json!({"$secret": secret}))]),
        )
        .unwrap();
    let loaded = store.load(&stack()).unwrap();
    assert_eq!(
        loaded.resources[0].inputs["password"],
        json!({"$secret": secret})
    );
    assert_eq!(loaded.outputs["password"], json!({"$secret": secret}));
    let export = store.export(&stack()).unwrap().to_string();
    assert!(!export.contains(secret), "exports keep secrets encrypted");
    drop(store);
    let bytes = file_bytes(&path);
    assert!(!bytes.is_empty());
    assert!(
        !contains(&bytes, secret.as_bytes()),
        "plain text found in the database or WAL"
    );
}

#[test]
fn a_wrong_passphrase_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    open(&path);
    let err = StateStore::open(
        &path,
        OpenOptions {
            secrets: SecretsKey::Passphrase("not it".to_string().into()),
            create: false,
        },
    )
    .unwrap_err();
    assert!(matches!(err, StateError::WrongKey { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn files_are_created_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let key = dir.path().join("state.key");
    let store = StateStore::open(
        &path,
        OpenOptions {
            secrets: SecretsKey::KeyFile(key.clone()),
            create: true,
        },
    )
    .unwrap();
    store
        .put_resource(&stack(), &record("vpc", &[], json!({})))
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let mode = std::fs::metadata(PathBuf::from(&p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{p:?}");
    }
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_file_of_the_first_schema_version_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite"),
        &path,
    )
    .unwrap();
    let store = open(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let state = store.load(&stack()).unwrap();
    let names: Vec<&str> = state.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["subnet", "vpc"]);
    let subnet = &state.resources[0];
    assert_eq!(subnet.dependencies, vec!["vpc".to_string()]);
    assert!(subnet.options.protect);
    assert_eq!(
        subnet.status,
        ResourceStatus::Ok,
        "the column added by version 2 has its default"
    );
    assert_eq!(state.outputs["vpc_id"], "vpc-0abc");
    assert_eq!(
        store.history(&stack()).unwrap()[0]
            .counts
            .as_ref()
            .map(|c| c.created),
        Some(2)
    );
}

#[test]
fn bad_files_are_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // A directory.
    let err = StateStore::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(err, StateError::IsDirectory { .. })
            && err.to_string().contains(&dir.path().display().to_string())
    );

    // A file that is not SQLite.
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "these are my notes, not a database\n").unwrap();
    let err = StateStore::open(&text, options()).unwrap_err();
    assert!(matches!(err, StateError::NotSqlite { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.db"));
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "these are my notes, not a database\n"
    );

    // A file from a newer schema.
    let newer = dir.path().join("newer.db");
    open(&newer);
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    let err = StateStore::open(&newer, options()).unwrap_err();
    assert!(
        matches!(err, StateError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer.db") && err.to_string().contains("upgrade"));
    assert_eq!(std::fs::read(&newer).unwrap(), before, "nothing modified");

    // A missing file when creating is not allowed.
    let missing = dir.path().join("missing.db");
    let err = StateStore::open(
        &missing,
        OpenOptions {
            create: false,
            ..options()
        },
    )
    .unwrap_err();
    assert!(matches!(err, StateError::NotFound { .. }));
    assert!(!missing.exists());
}

#[test]
fn a_corrupted_json_column_names_the_resource_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = open(&path);
    store
        .put_resource(
            &stack(),
            &record("vpc", &[], json!({"cidr": "10.0.0.0/16"})),
        )
        .unwrap();
    store
        .put_resource(&stack(), &record("subnet", &["vpc"], json!({})))
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE resources SET outputs = '{\"id\": ' WHERE name = 'subnet'",
        [],
    )
    .unwrap();
    let err = store.load(&stack()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::BadJson { .. }), "{err:?}");
    assert!(
        message.contains("`subnet`")
            && message.contains("`outputs`")
            && message.contains("state.db"),
        "{message}"
    );
    let still: String = conn
        .query_row(
            "SELECT outputs FROM resources WHERE name = 'subnet'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        still, "{\"id\": ",
        "the bad row is left for the user to inspect"
    );

    // Well-formed JSON of the wrong shape in a typed column is named the same way.
    conn.execute(
        "UPDATE resources SET outputs = '{}', dependencies = '{\"vpc\": 1}' WHERE name = 'subnet'",
        [],
    )
    .unwrap();
    let message = store.load(&stack()).unwrap_err().to_string();
    assert!(
        message.contains("`subnet`") && message.contains("`dependencies`"),
        "{message}"
    );
}

#[test]
fn the_integrity_check_accepts_dependencies_on_unrecorded_names_and_cycles() {
    // The engine records what a resource depends on; a data source (read anew by every
    // run) or a row removed by `state delete` is not recorded, and records written by
    // different runs can form a cycle. None of that is refused: the store never refuses
    // a state the engine wrote.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("state.db"));
    store
        .put_resource(
            &stack(),
            &record("a", &["dr/availability-zones"], json!({})),
        )
        .unwrap();
    store
        .put_resource(&stack(), &record("p", &["q"], json!({})))
        .unwrap();
    store
        .put_resource(&stack(), &record("q", &["p"], json!({})))
        .unwrap();
    let state = store.load(&stack()).expect("the state loads");
    assert_eq!(state.resources.len(), 3);
    store.check(&stack()).expect("and passes its check");
    // What is still refused: a record without a physical id.
    let mut empty = record("e", &[], json!({}));
    empty.id.clear();
    store.put_resource(&stack(), &empty).unwrap();
    let err = store.check(&stack()).unwrap_err();
    assert!(err.to_string().contains("`e` has no physical id"), "{err}");
}

#[test]
fn a_file_whose_records_name_data_sources_is_repaired_by_the_migration() {
    // A state written by an engine that recorded data sources among the dependencies
    // (version 2): it opens, and the names that are not recorded are dropped.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite"),
        &path,
    )
    .unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE resources SET dependencies = '[\"dr/availability-zones\",\"vpc\"]' WHERE name = 'subnet'",
            [],
        )
        .unwrap();
    }
    let store = open(&path);
    let state = store.load(&stack()).expect("the repaired state loads");
    let subnet = state.resources.iter().find(|r| r.name == "subnet").unwrap();
    assert_eq!(subnet.dependencies, vec!["vpc".to_string()]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let raw: String = conn
        .query_row(
            "SELECT dependencies FROM resources WHERE name = 'subnet'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw, "[\"vpc\"]", "the file itself is repaired");
    let untouched: String = conn
        .query_row(
            "SELECT dependencies FROM resources WHERE name = 'vpc'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(untouched, "[]");
}

#[test]
fn journal_intents_stay_pending_until_their_result_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("state.db"));
    let ids = store
        .record_intents(&[intent("a", "tok-a"), intent("b", "tok-b")])
        .unwrap();
    let pending = store.pending_intents(&stack()).unwrap();
    assert_eq!(
        pending.iter().map(|i| i.token.as_str()).collect::<Vec<_>>(),
        vec!["tok-a", "tok-b"]
    );
    store
        .complete_steps(&[
            (ids[0], StepOutcome::Written(record("a", &[], json!({})))),
            (
                ids[1],
                StepOutcome::Failed {
                    error: "quota".into(),
                },
            ),
        ])
        .unwrap();
    assert!(store.pending_intents(&stack()).unwrap().is_empty());
    assert_eq!(store.load(&stack()).unwrap().resources.len(), 1);
    let again = store
        .complete_steps(&[(ids[0], StepOutcome::Deleted)])
        .unwrap_err();
    assert!(
        matches!(again, StateError::UnknownIntent { .. }),
        "a step completes once"
    );
    let del = store
        .record_intents(&[NewIntent {
            operation: Operation::Delete,
            ..intent("a", "id-a")
        }])
        .unwrap();
    store
        .complete_steps(&[(del[0], StepOutcome::Deleted)])
        .unwrap();
    assert!(store.load(&stack()).unwrap().resources.is_empty());
}

#[test]
fn export_and_import_move_a_stack_between_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("a.db"));
    a.put_resource(
        &stack(),
        &record("vpc", &[], json!({"pw": {"$secret": "s3cret"}})),
    )
    .unwrap();
    a.put_resource(&stack(), &record("subnet", &["vpc"], json!({})))
        .unwrap();
    a.set_outputs(
        &stack(),
        &BTreeMap::from([("vpc_id".to_string(), json!("id-vpc"))]),
    )
    .unwrap();
    let doc = a.export(&stack()).unwrap();

    let b = open(&dir.path().join("b.db"));
    b.import(&stack(), &doc).unwrap();
    let (sa, sb) = (a.load(&stack()).unwrap(), b.load(&stack()).unwrap());
    assert_eq!(sa.outputs, sb.outputs);
    assert_eq!(sa.resources.len(), sb.resources.len());
    assert_eq!(sb.resources[1].inputs["pw"], json!({"$secret": "s3cret"}));
    let again = b.import(&stack(), &doc).unwrap_err();
    assert!(
        again.to_string().contains("already has 2 resource(s)"),
        "{again}"
    );

    let other_key = StateStore::open(
        &dir.path().join("c.db"),
        OpenOptions {
            secrets: SecretsKey::Passphrase("another".to_string().into()),
            create: true,
        },
    )
    .unwrap();
    let err = other_key.import(&stack(), &doc).unwrap_err();
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    assert!(
        other_key.load(&stack()).unwrap().resources.is_empty(),
        "nothing half imported"
    );

    let mut broken = doc.clone();
    broken["resources"][0]["id"] = json!("");
    let err = open(&dir.path().join("d.db"))
        .import(&stack(), &broken)
        .unwrap_err();
    assert!(err.to_string().contains("has no physical id"), "{err}");
    // A dependency on something not recorded (a data source, in an export of an older
    // version) is no reason to refuse.
    let mut old = doc.clone();
    old["resources"][0]["dependencies"] = json!(["zones"]);
    open(&dir.path().join("e.db"))
        .import(&stack(), &old)
        .expect("imported");
}

//! The random provider through the engine: a generated password stays secret in state,
//! plans and outputs, and is generated once.

use std::sync::Arc;

use iac_dsl::{RunOptions, Stack, engine};
use iac_providers::random::{PasswordArgs, Random};
use iac_state::{OpenOptions, SecretsKey, StateStore};

fn stack() -> Stack {
    let mut stack = Stack::new("tests", "random");
    stack.provider("random", Random::new());
    let pw = stack.add("db-password", PasswordArgs::aurora(32));
    stack.export::<String>("password", pw.result());
    stack
}

#[tokio::test]
async fn a_password_is_generated_once_and_never_stored_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let open = || {
        StateStore::open(
            &path,
            OpenOptions {
                secrets: SecretsKey::Passphrase("correct horse".to_string().into()),
                create: true,
            },
        )
        .map(Arc::new)
        .unwrap()
    };
    let store = open();
    super::support::apply_ok(stack(), &store, false, "up").await;
    let first = store.load(stack().id()).unwrap();
    let record = first
        .resources
        .iter()
        .find(|r| r.name == "db-password")
        .unwrap();
    let value = iac_dsl::value::reveal(&record.outputs["result"]);
    let password = value.as_str().unwrap().to_string();
    assert_eq!(password.len(), 32);
    assert!(iac_dsl::value::is_secret(&record.outputs["result"]));

    let again = engine::preview(&stack(), &store, &RunOptions::default(), false)
        .await
        .expect("preview");
    assert!(
        !again.has_changes(),
        "an unchanged declaration keeps the password"
    );
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    for ext in ["db-wal", "db-shm"] {
        bytes.extend(std::fs::read(path.with_extension(ext)).unwrap_or_default());
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(
        !hay.contains(&password),
        "the password is not in the state file in plain text"
    );
    let _ = open();
}

#[test]
fn impossible_passwords_are_declaration_errors() {
    let mut stack = Stack::new("tests", "bad-random");
    stack.provider("random", Random::new());
    stack.add("short", PasswordArgs::aurora(3));
    stack.add(
        "nothing",
        PasswordArgs::new(8)
            .lower(false)
            .upper(false)
            .numeric(false)
            .special(false),
    );
    let text = stack.validate().unwrap_err().to_string();
    assert!(
        text.contains("short (random:password): invalid `length`"),
        "{text}"
    );
    assert!(
        text.contains("nothing (random:password): invalid `lower`"),
        "{text}"
    );
}

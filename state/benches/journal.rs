//! State store benchmark (a bench binary, not a timed test): journal throughput with full
//! durability, and loading a large stack; on an SQLite file (`synchronous=FULL`) and, with
//! the argument `postgres`, also on a PostgreSQL database of a local throwaway server with
//! its durable defaults (`fsync`, synchronous commits), side by side.
//!
//! `cargo bench -p iac-state --bench journal [-- postgres]`

use std::sync::OnceLock;
use std::time::Instant;

use iac_state::*;
use serde_json::json;

/// The backends measured.
#[derive(Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty state of `kind` (a file in `dir`, or a new database on the server).
fn store(kind: Kind, dir: &tempfile::TempDir) -> StateStore {
    static SERVER: OnceLock<iac_test_pg::PgServer> = OnceLock::new();
    let location = match kind {
        Kind::Sqlite => Location::File(dir.path().join("state.db")),
        Kind::Postgres => Location::parse(
            &SERVER
                .get_or_init(iac_test_pg::PgServer::start_durable)
                .create_database("bench")
                .url(),
        ),
    };
    StateStore::open_location(
        &location,
        OpenOptions {
            secrets: SecretsKey::KeyFile(dir.path().join("key")),
            create: true,
        },
    )
    .expect("state opens")
}

fn record(i: usize) -> ResourceRecord {
    ResourceRecord {
        name: format!("r{i}"),
        type_token: "aws:ec2/subnet".into(),
        provider: "aws-primary".into(),
        id: format!("subnet-{i:08x}"),
        inputs: json!({"vpc_id": "vpc-0123", "cidr_block": "10.0.0.0/20", "availability_zone": "us-east-1a", "tags": {"Name": format!("r{i}")}}),
        outputs: json!({"id": format!("subnet-{i:08x}"), "arn": format!("arn:aws:ec2:us-east-1:123456789012:subnet/subnet-{i:08x}")}),
        dependencies: if i == 0 { vec![] } else { vec!["r0".into()] },
        ..Default::default()
    }
}

fn intent(i: usize) -> NewIntent {
    NewIntent {
        stack: StackId::new("bench", "dev"),
        deployment: None,
        resource: format!("r{i}"),
        type_token: "aws:ec2/subnet".into(),
        provider: "aws-primary".into(),
        operation: Operation::Create,
        token: format!("token-{i}"),
        inputs: record(i).inputs,
    }
}

fn journal(kind: Kind, steps: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(kind, &dir);
    let t = Instant::now();
    for start in (0..steps).step_by(batch) {
        let range: Vec<usize> = (start..(start + batch).min(steps)).collect();
        let intents: Vec<NewIntent> = range.iter().map(|&i| intent(i)).collect();
        let ids = store.record_intents(&intents).expect("intents");
        let results: Vec<(IntentId, StepOutcome)> = ids
            .into_iter()
            .zip(&range)
            .map(|(id, &i)| (id, StepOutcome::Written(record(i))))
            .collect();
        store.complete_steps(&results).expect("results");
    }
    t.elapsed().as_secs_f64()
}

/// Loads a stack of 100,000 resources (recorded first, untimed); seconds.
fn load(kind: Kind) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(kind, &dir);
    let stack = StackId::new("bench", "dev");
    for chunk in (0..100_000).collect::<Vec<_>>().chunks(5_000) {
        let intents: Vec<NewIntent> = chunk.iter().map(|&i| intent(i)).collect();
        let ids = store.record_intents(&intents).expect("intents");
        let results: Vec<(IntentId, StepOutcome)> = ids
            .into_iter()
            .zip(chunk)
            .map(|(id, &i)| (id, StepOutcome::Written(record(i))))
            .collect();
        store.complete_steps(&results).expect("results");
    }
    let t = Instant::now();
    let state = store.load(&stack).expect("load");
    let load = t.elapsed().as_secs_f64();
    assert_eq!(state.resources.len(), 100_000);
    load
}

fn main() {
    let postgres = std::env::args().any(|a| a == "postgres");
    let kinds: &[Kind] = if postgres {
        &[Kind::Sqlite, Kind::Postgres]
    } else {
        &[Kind::Sqlite]
    };
    let row = |label: &str, f: &dyn Fn(Kind) -> f64| {
        let cells: Vec<String> = kinds.iter().map(|&k| format!("{:.3}", f(k))).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    if postgres {
        println!("| measurement | SQLite (s) | PostgreSQL (s) |");
        println!("|---|---:|---:|");
    } else {
        println!("| measurement | seconds |");
        println!("|---|---:|");
    }
    for batch in [1, 16, 64] {
        row(
            &format!("10,000 journaled steps (intent + result), batches of {batch}"),
            &|k| journal(k, 10_000, batch),
        );
    }
    row(
        "load a stack of 100,000 resources (with its integrity check)",
        &load,
    );
}

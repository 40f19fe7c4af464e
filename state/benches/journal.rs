//! State store benchmark (a bench binary, not a timed test): journal throughput with FULL
//! durability, and loading a large stack.
//!
//! `cargo bench -p iac-state --bench journal`

use std::time::Instant;

use iac_state::*;
use serde_json::json;

fn store(dir: &tempfile::TempDir) -> StateStore {
    StateStore::open(
        &dir.path().join("state.db"),
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

fn journal(steps: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(&dir);
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

fn main() {
    println!("| measurement | seconds |");
    println!("|---|---:|");
    for batch in [1, 16, 64] {
        println!(
            "| 10,000 journaled steps (intent + result), batches of {batch} | {:.3} |",
            journal(10_000, batch)
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(&dir);
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
    println!("| load a stack of 100,000 resources (with its integrity check) | {load:.3} |");
}

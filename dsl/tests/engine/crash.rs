//! Crash test: `up` of a 50-resource stack runs in a child process that aborts right
//! after its k-th create reached the (file-backed) cloud, before the engine could record
//! it. After each abort, a plain `up` (no unlock, nothing by hand) converges to the declared stack with no duplicate
//! create and no leftover intent. Done for every k.

use std::path::Path;
use std::process::Command;

use iac_dsl::Stack;
use iac_dsl::testing::{FakeArgs, FakeCloud, FakeHandle, FakeProvider};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::support::*;

const RESOURCES: usize = 50;
const CHILD_ENV: &str = "IAC_CRASH_CHILD_DIR";
const ABORT_AT_ENV: &str = "IAC_CRASH_ABORT_AT";

/// Ten chains of five: wide and deep enough for concurrency and ordering to matter.
fn declare(s: &mut Stack) {
    let mut last: Vec<Option<FakeHandle>> = vec![None; 10];
    for i in 0..RESOURCES {
        let lane = i % 10;
        let mut args = FakeArgs::new().value("n", i);
        if let Some(parent) = &last[lane] {
            args = args.output("parent", &parent.id());
        }
        last[lane] = Some(s.add(&format!("r{i:02}"), args));
    }
}

fn world_in(dir: &Path, fake: FakeProvider) -> (Arc<iac_state::StateStore>, Stack) {
    let store = Arc::new(
        iac_state::StateStore::open(
            &dir.join("state.db"),
            iac_state::OpenOptions {
                secrets: iac_state::SecretsKey::Passphrase("crash".to_string().into()),
                create: true,
            },
        )
        .unwrap(),
    );
    let mut stack = Stack::new("test", "dev");
    stack.provider("fake", fake);
    declare(&mut stack);
    (store, stack)
}

/// The child's side: runs `up` and aborts after the k-th create. Does nothing when not
/// started by [`every_crash_point_converges`].
#[test]
fn crash_child() {
    let (Ok(dir), Ok(at)) = (std::env::var(CHILD_ENV), std::env::var(ABORT_AT_ENV)) else {
        return;
    };
    let at: usize = at.parse().unwrap();
    let dir = Path::new(&dir).to_path_buf();
    let cloud = FakeCloud::file(dir.join("cloud.json"));
    let count = Arc::new(AtomicUsize::new(0));
    let fake = FakeProvider::new("fake", cloud.clone()).on_create(move |req| {
        let created = cloud.create(req);
        if count.fetch_add(1, Ordering::SeqCst) == at {
            std::process::abort();
        }
        Some(Ok(created))
    });
    let (store, stack) = world_in(&dir, fake);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let options = iac_dsl::RunOptions {
        parallelism: 4,
        ..Default::default()
    };
    let _ = rt.block_on(iac_dsl::engine::up(
        stack,
        store,
        &options,
        false,
        &mut |_| true,
    ));
    // Reaching here means the abort point was never hit: the parent treats a clean exit
    // as a test failure.
    std::process::exit(3);
}

#[tokio::test]
async fn every_crash_point_converges() {
    let exe = std::env::current_exe().unwrap();
    for k in 0..RESOURCES {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(ABORT_AT_ENV, k.to_string())
            .output()
            .unwrap();
        assert!(
            !status.status.success() && status.status.code() != Some(3),
            "child for k={k} did not abort: {status:?}"
        );
        let cloud = FakeCloud::file(dir.path().join("cloud.json"));
        assert!(
            cloud.snapshot().objects.len() > k,
            "k={k}: the child created at least k+1 objects"
        );

        let (store, stack) = world_in(dir.path(), FakeProvider::new("fake", cloud.clone()));
        // The aborted run's lock went with its process: the next plain `up` runs, with
        // no `force-unlock` or any other step by a person.
        let d = iac_dsl::engine::up(
            stack,
            store.clone(),
            &Default::default(),
            false,
            &mut |_| true,
        )
        .await
        .unwrap();
        assert!(
            !d.recovered.is_empty(),
            "k={k}: the interrupted create was reconciled"
        );
        assert!(d.report.is_none_or(|r| r.succeeded()), "k={k}");
        let data = cloud.snapshot();
        assert_eq!(
            data.objects.len(),
            RESOURCES,
            "k={k}: no orphan and nothing missing"
        );
        assert!(
            data.creates.values().all(|&n| n == 1),
            "k={k}: a resource was created twice: {:?}",
            data.creates
        );
        let state = store.load(&id()).unwrap();
        assert_eq!(state.resources.len(), RESOURCES, "k={k}");
        assert!(
            store.pending_intents(&id()).unwrap().is_empty(),
            "k={k}: leftover intent"
        );
        for r in &state.resources {
            assert!(
                data.objects.contains_key(&r.id),
                "k={k}: {} records an object that does not exist",
                r.name
            );
        }
    }
}

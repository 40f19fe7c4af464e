//! Composing stacks: stack references (another stack's recorded outputs as outputs of
//! this one) and saved plans (`preview --out`, `up --plan`), against the fake provider and
//! real SQLite state files.

use std::sync::Arc;

use iac_dsl::engine::saved::{PlanMoved, SavedPlan};
use iac_dsl::engine::{self, RunOptions};
use iac_dsl::testing::FakeArgs;
use iac_dsl::value::{is_secret, reveal};
use iac_dsl::{EngineError, Op, Output, Plan, Stack, StackId, StateLocation};
use iac_state::{OpenOptions, SecretsKey, StateStore};
use serde_json::json;

use super::support::*;

const PASSWORD: &str = "pw-7f3a9c1e-never-in-plain-text";

/// The producing stack `net/prod`: one resource and two outputs, one of them secret.
fn producer(w: &World) -> Stack {
    let mut stack = Stack::new("net", "prod");
    stack.provider("fake", w.fake.clone());
    let vpc = stack.add("vpc", FakeArgs::new().value("cidr", "10.0.0.0/16"));
    stack.export_output("vpc_id", &vpc.id());
    stack.export_output(
        "db_password",
        &Output::<String>::known(PASSWORD.to_string()).into_secret(),
    );
    stack
}

/// The consuming stack `test/dev`, reading `net/prod` (or `stack`) through a reference.
fn consumer(w: &World, stack_id: StackId, location: StateLocation, output: &str) -> Stack {
    w.stack(|s| {
        let net = s.stack_reference_at("net", stack_id, location);
        s.add(
            "app",
            FakeArgs::new()
                .output("vpc", &net.output::<String>(output))
                .output("password", &net.output::<String>("db_password")),
        );
    })
}

/// The consuming stack reading `net/prod`'s `vpc_id` from the world's own store.
fn reader(w: &World) -> Stack {
    consumer(
        w,
        StackId::new("net", "prod"),
        StateLocation::Current,
        "vpc_id",
    )
}

async fn deploy(w: &World, stack: Stack) {
    let d = w.up(stack).await.expect("up");
    assert!(d.report.is_none_or(|r| r.succeeded()));
}

#[tokio::test]
async fn a_reference_reads_recorded_outputs_as_dependencies_and_keeps_secrets_secret() {
    let w = World::new();
    deploy(&w, producer(&w)).await;
    let vpc_id = w.store.load(&StackId::new("net", "prod")).unwrap().outputs["vpc_id"].clone();

    let stack = reader(&w);
    assert_eq!(stack.find("app").unwrap().dependencies(), ["net"]);
    let plan = w.preview(&stack).await.unwrap();
    // The preview says what it read: which stack, which outputs, the secret masked.
    assert_eq!(plan.references.len(), 1);
    let read = &plan.references[0];
    assert_eq!(read.stack, StackId::new("net", "prod"));
    assert_eq!(read.outputs["vpc_id"], vpc_id);
    assert!(is_secret(&read.outputs["db_password"]));
    let shown = serde_json::to_string(&plan).unwrap();
    assert!(shown.contains("\"db_password\":\"[secret]\""), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let app = plan.steps.iter().find(|s| s.name == "app").unwrap();
    assert_eq!((app.op, &app.inputs["vpc"]), (Op::Create, &vpc_id));

    deploy(&w, stack).await;
    let state = w.state();
    let app = state.resources.iter().find(|r| r.name == "app").unwrap();
    assert_eq!(app.inputs["vpc"], vpc_id);
    assert!(is_secret(&app.inputs["password"]), "{:?}", app.inputs);
    assert_eq!(reveal(&app.inputs["password"]), json!(PASSWORD));
    // Recorded dependencies name resources only: the reference is read anew each run.
    assert!(app.dependencies.is_empty(), "{:?}", app.dependencies);
    let bytes = std::fs::read(w.dir.path().join("state.db")).unwrap();
    assert!(
        !bytes
            .windows(PASSWORD.len())
            .any(|b| b == PASSWORD.as_bytes())
    );
}

#[tokio::test]
async fn a_stack_reading_a_destroyed_stack_can_still_be_destroyed() {
    let w = World::new();
    deploy(&w, producer(&w)).await;
    let stack = || reader(&w);
    deploy(&w, stack()).await;
    let gone = w.destroy(producer(&w)).await.unwrap();
    assert!(gone.report.is_some_and(|r| r.succeeded()));
    // Its outputs are gone: an `up` is refused, a destroy goes ahead.
    let refused = w.up(stack()).await;
    assert!(
        matches!(refused, Err(EngineError::Reference(_))),
        "{refused:?}"
    );
    let d = w.destroy(stack()).await.unwrap();
    assert!(d.report.is_some_and(|r| r.succeeded()));
    assert!(w.state().resources.is_empty());
}

#[tokio::test]
async fn a_reference_reads_another_state_file() {
    let w = World::new();
    let other = tempfile::tempdir().unwrap();
    let path = other.path().join("net.db");
    let store = Arc::new(
        StateStore::open(
            &path,
            OpenOptions {
                secrets: SecretsKey::KeyFile(other.path().join("net.db.key")),
                create: true,
            },
        )
        .unwrap(),
    );
    engine::up(
        producer(&w),
        store,
        &RunOptions::default(),
        false,
        &mut |_: &Plan| true,
    )
    .await
    .unwrap();
    let stack = consumer(
        &w,
        StackId::new("net", "prod"),
        StateLocation::File(path.clone()),
        "vpc_id",
    );
    let plan = w.preview(&stack).await.unwrap();
    assert_eq!(plan.references[0].location, path.display().to_string());
    assert_eq!(
        reveal(&plan.references[0].outputs["db_password"]),
        json!(PASSWORD)
    );
}

#[tokio::test]
async fn a_missing_stack_is_refused_before_any_request_naming_it() {
    let w = World::new();
    deploy(&w, producer(&w)).await;
    let calls = w.fake.calls().len();
    let mut stack = consumer(
        &w,
        StackId::new("net", "staging"),
        StateLocation::Current,
        "vpc_id",
    );
    // A data source would be read before planning: it must not be.
    stack.data("zones", FakeArgs::new().value("region", "r1"), None);
    for result in [
        w.preview(&stack).await.map(|_| ()),
        w.up(stack).await.map(|_| ()),
    ] {
        let Err(EngineError::Reference(e)) = result else {
            panic!("expected a reference error, got {result:?}");
        };
        let text = e.to_string();
        assert!(
            text.contains("`net`") && text.contains("net/staging"),
            "{text}"
        );
        assert!(text.contains("is not recorded"), "{text}");
    }
    assert_eq!(w.fake.calls().len(), calls, "no provider call was made");
    assert!(w.store.load(&id()).unwrap().resources.is_empty());
}

#[tokio::test]
async fn a_missing_output_is_refused_naming_the_stack_and_the_output() {
    let w = World::new();
    deploy(&w, producer(&w)).await;
    let calls = w.fake.calls().len();
    let stack = consumer(
        &w,
        StackId::new("net", "prod"),
        StateLocation::Current,
        "subnet_ids",
    );
    let err = w.up(stack).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Reference(_)), "{text}");
    assert!(
        text.contains("net/prod") && text.contains("no output `subnet_ids`"),
        "{text}"
    );
    assert!(
        text.contains("db_password, vpc_id"),
        "lists what it records: {text}"
    );
    assert_eq!(w.fake.calls().len(), calls);
}

fn chain(stack: &mut Stack, size: &str, c_colour: &str) {
    let a = stack.add("a", FakeArgs::new().value("size", size));
    let b = stack.add("b", FakeArgs::new().output("parent", &a.id()));
    stack.add(
        "c",
        FakeArgs::new()
            .output("parent", &b.id())
            .value("colour", c_colour)
            .output(
                "token",
                &Output::<String>::known(PASSWORD.to_string()).into_secret(),
            ),
    );
}

/// Previews `stack` and saves the plan to a file in the world's directory, as `preview
/// --out` does; returns the file and the plan read back from it.
async fn save(w: &World, stack: &Stack) -> (std::path::PathBuf, SavedPlan) {
    let state = w.state();
    let plan = w.preview(stack).await.unwrap();
    let file = w.dir.path().join("plan.json");
    SavedPlan::new(stack, &state, &plan, false, &[])
        .write(&file)
        .unwrap();
    let saved = SavedPlan::read(&file).unwrap();
    (file, saved)
}

async fn up_saved(w: &World, stack: Stack, saved: &SavedPlan) -> Result<Plan, EngineError> {
    let d = engine::up_saved(
        stack,
        w.store.clone(),
        &RunOptions::default(),
        saved,
        "plan.json",
        &mut |_: &Plan| true,
    )
    .await?;
    Ok(d.plan)
}

/// Applies `saved` to `stack`, expecting a refusal: what moved, and the error's text.
async fn refused(w: &World, stack: Stack, saved: &SavedPlan) -> (PlanMoved, String) {
    match up_saved(w, stack, saved).await {
        Err(EngineError::PlanMoved(moved)) => {
            let text = moved.to_string();
            (moved, text)
        }
        other => panic!("expected the plan to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly() {
    let w = World::new();
    deploy(&w, w.stack(|s| chain(s, "small", "red"))).await;
    let (_, saved) = save(&w, &w.stack(|s| chain(s, "large", "red"))).await;
    let before = w.mutations().len();
    let applied = up_saved(&w, w.stack(|s| chain(s, "large", "red")), &saved)
        .await
        .unwrap();
    assert_eq!(w.mutations()[before..], ["update a".to_string()]);
    assert_eq!(serde_json::to_value(&applied).unwrap(), saved.plan);
    let a = w.record("a");
    assert_eq!(a.inputs["size"], "large");
}

#[tokio::test]
async fn a_saved_plan_is_refused_after_another_up_moved_the_state_naming_the_resource() {
    let w = World::new();
    deploy(&w, w.stack(|s| chain(s, "small", "red"))).await;
    let (_, saved) = save(&w, &w.stack(|s| chain(s, "large", "red"))).await;
    // Another run deploys something else first.
    deploy(&w, w.stack(|s| chain(s, "small", "blue"))).await;
    let before = w.mutations().len();
    let (moved, err) = refused(&w, w.stack(|s| chain(s, "large", "red")), &saved).await;
    assert_eq!(moved.state, ["c"]);
    assert!(moved.declarations.is_empty(), "{err}");
    assert!(
        err.contains("the state changed since the plan was made: c"),
        "{err}"
    );
    assert_eq!(w.mutations().len(), before, "nothing was changed");
    assert!(
        w.store.lock_info(&id()).unwrap().is_none(),
        "the lock is released"
    );
}

#[tokio::test]
async fn a_saved_plan_is_refused_after_the_declarations_changed_naming_the_resource() {
    let w = World::new();
    deploy(&w, w.stack(|s| chain(s, "small", "red"))).await;
    let (_, saved) = save(&w, &w.stack(|s| chain(s, "large", "red"))).await;
    let before = w.mutations().len();
    let (moved, err) = refused(&w, w.stack(|s| chain(s, "large", "green")), &saved).await;
    assert_eq!(moved.declarations, ["c"]);
    assert!(moved.state.is_empty());
    assert!(
        err.contains("the declarations changed since the plan was made: c"),
        "{err}"
    );
    assert_eq!(w.mutations().len(), before);
}

#[tokio::test]
async fn a_saved_plan_is_refused_when_a_referenced_stack_moved() {
    let w = World::new();
    deploy(&w, producer(&w)).await;
    let stack = || reader(&w);
    let (_, saved) = save(&w, &stack()).await;
    // The referenced stack's `vpc_id` output now reads another field: its value moves.
    let moved_producer = {
        let mut s = Stack::new("net", "prod");
        s.provider("fake", w.fake.clone());
        let vpc = s.add("vpc", FakeArgs::new().value("cidr", "10.0.0.0/16"));
        s.export_output("vpc_id", &vpc.out::<String>("cidr"));
        s.export_output(
            "db_password",
            &Output::<String>::known(PASSWORD.to_string()).into_secret(),
        );
        s
    };
    deploy(&w, moved_producer).await;
    let (moved, err) = refused(&w, stack(), &saved).await;
    assert_eq!(moved.plan, ["app", "reference:net"], "{err}");
}

#[tokio::test]
async fn the_plan_file_holds_no_plain_text_secret() {
    let w = World::new();
    let stack = w.stack(|s| chain(s, "small", "red"));
    let (file, saved) = save(&w, &stack).await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        text.contains("[secret]"),
        "the plan shows the secret masked"
    );
    // Applied, the secret reaches the provider and the state keeps it encrypted.
    up_saved(&w, stack, &saved).await.unwrap();
    let c = w.record("c");
    assert_eq!(reveal(&c.inputs["token"]), json!(PASSWORD));
}

#[tokio::test]
async fn malformed_and_foreign_plan_files_are_refused_with_a_clear_error() {
    let w = World::new();
    let stack = w.stack(|s| chain(s, "small", "red"));
    let (file, saved) = save(&w, &stack).await;
    let write = |text: &str| {
        std::fs::write(&file, text).unwrap();
        SavedPlan::read(&file).unwrap_err()
    };
    let e = write("{ not json");
    assert!(e.contains("not valid JSON"), "{e}");
    let e = write(r#"{"format": "iac-state-export", "version": 1}"#);
    assert!(e.contains("`format` is `iac-state-export`"), "{e}");
    let mut doc = serde_json::to_value(&saved).unwrap();
    doc["version"] = json!(2);
    let e = write(&doc.to_string());
    assert!(e.contains("`version` 2 is not supported"), "{e}");
    doc["version"] = json!(1);
    doc["engine"] = json!("0.0.1");
    let e = write(&doc.to_string());
    assert!(e.contains("engine version 0.0.1"), "{e}");
    doc["engine"] = serde_json::to_value(&saved).unwrap()["engine"].clone();
    doc.as_object_mut().unwrap().remove("state");
    let e = write(&doc.to_string());
    assert!(e.contains("malformed") && e.contains("`state`"), "{e}");

    let other = Stack::new("test", "prod");
    let err = engine::up_saved(
        other,
        w.store.clone(),
        &RunOptions::default(),
        &saved,
        "plan.json",
        &mut |_: &Plan| true,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("plan.json is a plan for stack test/dev (`stack`), not for test/prod"),
        "{err}"
    );
    assert!(w.mutations().is_empty());
}

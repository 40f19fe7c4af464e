//! The lifecycle of resources, as a specification: each test states one rule.

use std::collections::BTreeSet;

use iac_dsl::testing::{FakeArgs, FakeCloud, FakeProvider};
use iac_dsl::{EngineError, ErrorKind, Op, Output, ProviderError, ResourceOptions, StepStatus};
use serde_json::json;

use super::support::*;

fn chain(stack: &mut iac_dsl::Stack, size: &str) {
    let a = stack.add("a", FakeArgs::new().value("size", size));
    let b = stack.add("b", FakeArgs::new().output("parent", &a.id()));
    stack.add("c", FakeArgs::new().output("parent", &b.id()));
}

#[tokio::test]
async fn up_from_empty_creates_everything_in_dependency_order() {
    let w = World::new();
    let d = w.up(w.stack(|s| chain(s, "small"))).await.unwrap();
    let report = d.report.expect("applied");
    assert!(report.succeeded());
    assert_eq!(w.mutations(), vec!["create a", "create b", "create c"]);
    let state = w.state();
    let names: Vec<&str> = state.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    let b = state.resources.iter().find(|r| r.name == "b").unwrap();
    let a = state.resources.iter().find(|r| r.name == "a").unwrap();
    assert_eq!(
        b.inputs["parent"],
        json!(a.id),
        "b was created with a's real id"
    );
    assert_eq!(b.dependencies, vec!["a".to_string()]);
    assert!(w.store.pending_intents(&id()).unwrap().is_empty());
    let history = w.store.history(&id()).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].counts.as_ref().map(|c| c.created), Some(3));
}

#[tokio::test]
async fn second_run_changes_nothing_and_calls_no_mutation() {
    let w = World::new();
    w.up(w.stack(|s| chain(s, "small"))).await.unwrap();
    let before = w.mutations().len();
    let d = w.up(w.stack(|s| chain(s, "small"))).await.unwrap();
    assert!(!d.plan.has_changes());
    assert!(d.report.is_none());
    assert_eq!(w.mutations().len(), before);
}

#[tokio::test]
async fn a_changed_value_updates_in_place_with_a_property_diff() {
    let w = World::new();
    w.up(w.stack(|s| chain(s, "small"))).await.unwrap();
    let plan = w.preview(&w.stack(|s| chain(s, "large"))).await.unwrap();
    let changed: Vec<_> = plan.steps.iter().filter(|s| s.op.is_change()).collect();
    assert_eq!(changed.len(), 1);
    assert_eq!((changed[0].name.as_str(), changed[0].op), ("a", Op::Update));
    assert_eq!(changed[0].diffs[0].path, "size");
    assert_eq!(changed[0].diffs[0].new, Some(json!("large")));
    w.up(w.stack(|s| chain(s, "large"))).await.unwrap();
    assert_eq!(w.mutations().last().unwrap(), "update a");
    let a = w
        .state()
        .resources
        .into_iter()
        .find(|r| r.name == "a")
        .unwrap();
    assert_eq!(a.inputs["size"], "large");
}

#[tokio::test]
async fn outputs_an_update_changes_reach_their_dependents_in_the_plan() {
    let fake = FakeProvider::new("fake", FakeCloud::new()).outputs_changed_by_update(&["size"]);
    let w = World::with(fake);
    let declare = |size: &'static str| {
        move |s: &mut iac_dsl::Stack| {
            let a = s.add("a", FakeArgs::new().value("size", size));
            let size: Output<String> = a.0.output("size");
            s.add("b", FakeArgs::new().output("parent_size", &size));
        }
    };
    w.up(w.stack(declare("small"))).await.unwrap();
    let plan = w.preview(&w.stack(declare("large"))).await.unwrap();
    let changed: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.op.is_change())
        .map(|s| (s.name.as_str(), s.op))
        .collect();
    assert_eq!(changed, [("a", Op::Update), ("b", Op::Update)]);
    let b = plan.steps.iter().find(|s| s.name == "b").unwrap();
    assert_eq!(b.inputs["parent_size"], json!({"$unknown": "a.size"}));
    w.up(w.stack(declare("large"))).await.unwrap();
    let state = w.state();
    let b = state.resources.iter().find(|r| r.name == "b").unwrap();
    assert_eq!(b.inputs["parent_size"], "large");
}

#[tokio::test]
async fn replace_creates_the_new_object_before_deleting_the_old_one() {
    let w = World::new();
    let declare = |v: &'static str| {
        move |s: &mut iac_dsl::Stack| {
            let a = s.add("a", FakeArgs::new().value("replace_me", v));
            s.add("b", FakeArgs::new().output("parent", &a.id()));
        }
    };
    w.up(w.stack(declare("1"))).await.unwrap();
    let old_a = w
        .state()
        .resources
        .into_iter()
        .find(|r| r.name == "a")
        .unwrap()
        .id;
    let plan = w.preview(&w.stack(declare("2"))).await.unwrap();
    let a_step = plan.steps.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a_step.op, Op::ReplaceCreateFirst);
    assert!(
        a_step
            .diffs
            .iter()
            .any(|d| d.path == "replace_me" && d.replaces)
    );
    let b_step = plan.steps.iter().find(|s| s.name == "b").unwrap();
    assert_eq!(
        b_step.op,
        Op::Update,
        "b's parent becomes known after apply"
    );
    w.up(w.stack(declare("2"))).await.unwrap();
    let m = w.mutations();
    assert_eq!(
        &m[2..],
        &["create a", "update b", "delete a"],
        "create, move dependents, then delete"
    );
    let state = w.state();
    assert_eq!(
        state.resources.len(),
        2,
        "no leftover row of the old object"
    );
    let new_a = state.resources.iter().find(|r| r.name == "a").unwrap();
    assert_ne!(new_a.id, old_a);
    let cloud = w.fake.cloud().snapshot();
    assert!(!cloud.objects.contains_key(&old_a));
    assert_eq!(cloud.objects.len(), 2);
}

#[tokio::test]
async fn delete_before_replace_deletes_first() {
    let w = World::new();
    let declare = |v: &'static str| {
        move |s: &mut iac_dsl::Stack| {
            s.add_with(
                "a",
                FakeArgs::new().value("replace_me", v),
                ResourceOptions::new().delete_before_replace(true),
            );
        }
    };
    w.up(w.stack(declare("1"))).await.unwrap();
    let plan = w.preview(&w.stack(declare("2"))).await.unwrap();
    assert_eq!(plan.steps[0].op, Op::ReplaceDeleteFirst);
    w.up(w.stack(declare("2"))).await.unwrap();
    assert_eq!(w.mutations(), vec!["create a", "delete a", "create a"]);
    assert_eq!(w.fake.cloud().snapshot().objects.len(), 1);
}

#[tokio::test]
async fn removed_resources_are_deleted_dependents_first() {
    let w = World::new();
    w.up(w.stack(|s| chain(s, "x"))).await.unwrap();
    let d = w.up(w.stack(|_| {})).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    assert_eq!(&w.mutations()[3..], &["delete c", "delete b", "delete a"]);
    assert!(w.state().resources.is_empty());
    assert!(w.fake.cloud().snapshot().objects.is_empty());
}

#[tokio::test]
async fn protected_resources_cannot_be_deleted_or_replaced() {
    let w = World::new();
    w.up(w.stack(|s| {
        s.add_with(
            "db",
            FakeArgs::new().value("replace_me", "1"),
            ResourceOptions::new().protect(true),
        );
    }))
    .await
    .unwrap();
    let before = w.state();
    let replace = w
        .up(w.stack(|s| {
            s.add_with(
                "db",
                FakeArgs::new().value("replace_me", "2"),
                ResourceOptions::new().protect(true),
            );
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&replace, EngineError::Plan(p) if p.to_string().contains("db is protected")),
        "{replace}"
    );
    let delete = w.destroy(w.stack(|_| {})).await.unwrap_err();
    assert!(delete.to_string().contains("db is protected"), "{delete}");
    // A stack that says how its user lifts `protect` has it said once, after the list.
    let hinted = w
        .destroy(w.stack(|s| s.unprotect_hint("set keep_data = false first")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        hinted.contains("(1 problem(s))"),
        "the hint is no problem: {hinted}"
    );
    assert!(
        hinted
            .trim_end()
            .ends_with("to lift `protect` here: set keep_data = false first"),
        "{hinted}"
    );
    assert_eq!(w.mutations(), vec!["create db"], "nothing was called");
    assert_eq!(w.state(), before, "nothing was written");
}

#[tokio::test]
async fn retained_resources_are_forgotten_not_deleted() {
    let w = World::new();
    w.up(w.stack(|s| {
        s.add_with(
            "logs",
            FakeArgs::new(),
            ResourceOptions::new().retain_on_delete(true),
        );
    }))
    .await
    .unwrap();
    let plan = w.preview(&w.stack(|_| {})).await.unwrap();
    assert_eq!(plan.steps[0].op, Op::Forget);
    w.up(w.stack(|_| {})).await.unwrap();
    assert_eq!(w.mutations(), vec!["create logs"]);
    assert!(w.state().resources.is_empty());
    assert_eq!(
        w.fake.cloud().snapshot().objects.len(),
        1,
        "the object stays in the cloud"
    );
}

#[tokio::test]
async fn ignored_changes_keep_the_recorded_value() {
    let w = World::new();
    let declare = |v: &'static str, size: u32| {
        move |s: &mut iac_dsl::Stack| {
            s.add_with(
                "a",
                FakeArgs::new().value("tags", v).value("size", size),
                ResourceOptions::new().ignore_changes(["tags"]),
            );
        }
    };
    w.up(w.stack(declare("one", 1))).await.unwrap();
    let plan = w.preview(&w.stack(declare("two", 1))).await.unwrap();
    assert!(!plan.has_changes());

    // The positive control: a field that is not ignored still plans, and only it.
    let plan = w.preview(&w.stack(declare("two", 2))).await.unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].op, Op::Update);
    let paths: Vec<&str> = plan.steps[0]
        .diffs
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(paths, ["size"], "{:#?}", plan.steps[0].diffs);
    let d = w.up(w.stack(declare("two", 2))).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    let a = w
        .state()
        .resources
        .into_iter()
        .find(|r| r.name == "a")
        .unwrap();
    assert_eq!(a.inputs["size"], json!(2));
    assert_eq!(
        a.inputs["tags"],
        json!("one"),
        "the ignored field keeps its value"
    );
}

#[tokio::test]
async fn depends_on_orders_resources_that_share_no_outputs() {
    let w = World::new().fake_latency();
    w.up(w.stack(|s| {
        let a = s.add("a", FakeArgs::new());
        s.add_with("b", FakeArgs::new(), ResourceOptions::new().depends_on(&a));
    }))
    .await
    .unwrap();
    let calls = w.fake.calls();
    let a = calls.iter().find(|c| c.name == "a").unwrap();
    let b = calls.iter().find(|c| c.name == "b").unwrap();
    assert!(a.finished < b.started, "b started only after a finished");
}

#[tokio::test]
async fn a_targeted_run_touches_only_the_target_and_its_dependencies() {
    let w = World::new();
    let stack = w.stack(|s| {
        let a = s.add("a", FakeArgs::new());
        s.add("b", FakeArgs::new().output("p", &a.id()));
        s.add("x", FakeArgs::new());
    });
    let options = iac_dsl::RunOptions {
        targets: vec!["b".into()],
        ..Default::default()
    };
    let d = w.up_with(stack, options).await.unwrap();
    let report = d.report.unwrap();
    assert!(report.succeeded());
    let created: BTreeSet<String> = w.fake.calls_of("create").into_iter().collect();
    assert_eq!(created, BTreeSet::from(["a".to_string(), "b".to_string()]));
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "x" && s.status == StepStatus::Excluded)
    );
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_independent_branches_finish() {
    let fake = FakeProvider::new("fake", FakeCloud::new()).on_create(|req| {
        (req.ctx.name == "a").then(|| {
            Err(
                ProviderError::new(ErrorKind::Service, "CreateThing", "quota exceeded")
                    .with_code("LimitExceeded"),
            )
        })
    });
    let w = World::with(fake);
    let d = w
        .up(w.stack(|s| {
            let a = s.add("a", FakeArgs::new());
            let b = s.add("b", FakeArgs::new().output("p", &a.id()));
            s.add("c", FakeArgs::new().output("p", &b.id()));
            let x = s.add("x", FakeArgs::new());
            s.add("y", FakeArgs::new().output("p", &x.id()));
        }))
        .await
        .unwrap();
    let report = d.report.unwrap();
    let failures: Vec<&str> = report.failures().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(failures, vec!["a"], "the root cause only");
    let status = |n: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == n)
            .unwrap()
            .status
            .clone()
    };
    assert!(
        matches!(status("a"), StepStatus::Failed { error } if error.contains("LimitExceeded") && error.contains("quota exceeded"))
    );
    assert_eq!(
        status("b"),
        StepStatus::Skipped {
            because: "a".into()
        }
    );
    assert_eq!(
        status("c"),
        StepStatus::Skipped {
            because: "a".into()
        },
        "named by its root cause"
    );
    assert_eq!(status("x"), StepStatus::Done);
    assert_eq!(status("y"), StepStatus::Done);
    let names: BTreeSet<String> = w.state().resources.into_iter().map(|r| r.name).collect();
    assert_eq!(names, BTreeSet::from(["x".to_string(), "y".to_string()]));
    assert!(w.store.pending_intents(&id()).unwrap().is_empty());
    // The next run picks up where this one failed.
    let w2 = World {
        fake: FakeProvider::new("fake", w.fake.cloud().clone()),
        ..w
    };
    let d = w2
        .up(w2.stack(|s| {
            let a = s.add("a", FakeArgs::new());
            let b = s.add("b", FakeArgs::new().output("p", &a.id()));
            s.add("c", FakeArgs::new().output("p", &b.id()));
            let x = s.add("x", FakeArgs::new());
            s.add("y", FakeArgs::new().output("p", &x.id()));
        }))
        .await
        .unwrap();
    assert!(d.report.unwrap().succeeded());
    assert_eq!(w2.mutations(), vec!["create a", "create b", "create c"]);
}

#[tokio::test]
async fn a_resource_named_before_it_is_declared_is_still_created_first() {
    let w = World::new();
    let declare = |s: &mut iac_dsl::Stack| {
        s.add(
            "app",
            FakeArgs::new().output("db", &Output::<String>::field("db", "id")),
        );
        s.add("db", FakeArgs::new());
        s.add("log", FakeArgs::new());
    };
    let plan = w.preview(&w.stack(declare)).await.unwrap();
    let order: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        order,
        vec!["db", "app", "log"],
        "db moved ahead, log kept last"
    );
    let d = w.up(w.stack(declare)).await.unwrap();
    assert!(d.report.expect("applied").succeeded());
    let done = w.mutations();
    let at = |m: &str| done.iter().position(|x| x == m).expect(m);
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(at("create db") < at("create app"), "{done:?}");
    at("create log");
    let state = w.state();
    let db = state.resources.iter().find(|r| r.name == "db").unwrap();
    let app = state.resources.iter().find(|r| r.name == "app").unwrap();
    assert_eq!(app.inputs["db"], json!(db.id));
    assert_eq!(app.dependencies, vec!["db".to_string()]);
}

#[tokio::test]
async fn bad_declarations_are_all_reported_before_state_is_touched() {
    let w = World::new();
    let stack = w.stack(|s| {
        s.add("dup", FakeArgs::new());
        s.add("dup", FakeArgs::new());
        s.add(
            "orphan",
            FakeArgs::new().output("p", &Output::<String>::field("ghost", "id")),
        );
        s.add(
            "p",
            FakeArgs::new().output("x", &Output::<String>::field("q", "id")),
        );
        s.add(
            "q",
            FakeArgs::new().output("x", &Output::<String>::field("p", "id")),
        );
    });
    let err = w.up(stack).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Declaration(_)));
    assert!(text.contains("`dup` is declared more than once"), "{text}");
    assert!(text.contains("orphan refers to `ghost`"), "{text}");
    assert!(text.contains("dependency cycle: p -> q -> p"), "{text}");
    assert!(
        w.store.history(&id()).unwrap().is_empty(),
        "no deployment recorded"
    );
    assert!(w.fake.calls().is_empty());
}

#[tokio::test]
async fn refresh_turns_out_of_band_changes_into_a_plan() {
    let w = World::new();
    w.up(w.stack(|s| {
        s.add("kept", FakeArgs::new().value("size", 1));
        s.add("gone", FakeArgs::new());
    }))
    .await
    .unwrap();
    // Behind the engine's back: one object changes, one disappears.
    w.fake.cloud().with(|d| {
        for o in d.objects.values_mut() {
            if o.name == "kept" {
                o.inputs["size"] = json!(2);
            }
        }
        d.objects.retain(|_, o| o.name != "gone");
    });
    let stack = w.stack(|s| {
        s.add("kept", FakeArgs::new().value("size", 1));
        s.add("gone", FakeArgs::new());
    });
    // A refreshed preview says what it found before its plan, by key.
    let options = iac_dsl::RunOptions {
        refresh: true,
        ..Default::default()
    };
    let refreshed = iac_dsl::engine::preview(&stack, &w.store, &options, false)
        .await
        .unwrap();
    use iac_dsl::DriftKind;
    let drift: Vec<(String, DriftKind, Vec<String>)> = refreshed
        .drift
        .iter()
        .map(|d| (d.name.clone(), d.change, d.inputs.clone()))
        .collect();
    assert_eq!(
        drift,
        [
            ("gone".to_string(), DriftKind::Gone, vec![]),
            (
                "kept".to_string(),
                DriftKind::Drifted,
                vec!["size".to_string()]
            ),
        ]
    );
    let report = iac_dsl::engine::refresh(&stack, &w.store, &Default::default())
        .await
        .unwrap();
    assert_eq!(report.changes.len(), 2);
    assert_eq!(report.resources, 2);
    let plan = w.preview(&stack).await.unwrap();
    let op = |n: &str| plan.steps.iter().find(|s| s.name == n).unwrap().op;
    assert_eq!(
        op("kept"),
        Op::Update,
        "drift shows as an update back to the declaration"
    );
    assert_eq!(op("gone"), Op::Create, "a deleted object is created again");
}

#[tokio::test]
async fn secret_outputs_stay_secret_in_state_and_plan() {
    let w = World::new();
    let stack = w.stack(|s| {
        let pw = s.add("pw", FakeArgs::new().value("length", 16));
        let secret = pw
            .out::<u32>("length")
            .map(|n| format!("p@ss-{n}-word"))
            .into_secret();
        s.add("db", FakeArgs::new().output("password", &secret));
        s.export_output("password", &secret);
    });
    let d = w.up(stack).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    let db = w
        .state()
        .resources
        .into_iter()
        .find(|r| r.name == "db")
        .unwrap();
    assert_eq!(
        db.inputs["password"],
        json!({"$secret": "p@ss-16-word"}),
        "decrypted on load, still marked"
    );
    let plan_json = serde_json::to_string(&d.plan).unwrap();
    assert!(!plan_json.contains("p@ss-16-word"));
    let bytes = [
        std::fs::read(w.dir.path().join("state.db")).unwrap(),
        std::fs::read(w.dir.path().join("state.db-wal")).unwrap_or_default(),
    ]
    .concat();
    assert!(
        !bytes.windows(12).any(|win| win == b"p@ss-16-word"),
        "no plain text in the file"
    );
}

impl World {
    fn fake_latency(self) -> World {
        World {
            fake: self
                .fake
                .clone()
                .latency(|_, _| std::time::Duration::from_millis(5)),
            ..self
        }
    }
}

#[tokio::test]
async fn a_resource_still_needed_by_a_failed_update_is_kept_not_deleted() {
    // b depends on a; the new declaration drops a and points b elsewhere, but b's update
    // fails: deleting a would leave b's record naming a resource that is gone.
    let fake = FakeProvider::new("fake", FakeCloud::new()).on_update(|req| {
        (req.ctx.name == "b").then(|| {
            Err(ProviderError::new(
                ErrorKind::Service,
                "UpdateThing",
                "denied",
            ))
        })
    });
    let w = World::with(fake);
    w.up(w.stack(|s| {
        let a = s.add("a", FakeArgs::new());
        s.add("b", FakeArgs::new().output("p", &a.id()));
    }))
    .await
    .unwrap();
    let d = w
        .up(w.stack(|s| {
            s.add("b", FakeArgs::new().value("p", "elsewhere"));
        }))
        .await
        .unwrap();
    let report = d.report.unwrap();
    let a = report.steps.iter().find(|s| s.name == "a").unwrap();
    assert!(
        matches!(&a.status, StepStatus::Failed { error } if error.contains("still needed by b")),
        "{a:?}"
    );
    w.store.check(&id()).expect("the state stays consistent");
    assert!(w.fake.calls_of("delete").is_empty());
}

#[tokio::test]
async fn an_object_made_by_a_failed_create_is_recorded_tainted_and_replaced_next_run() {
    let cloud = FakeCloud::new();
    let made = cloud.clone();
    let fake = FakeProvider::new("fake", cloud.clone()).on_create(move |req| {
        // The object is created, then never becomes healthy.
        let created = made.create(req);
        Some(Err(ProviderError {
            created: Some(created),
            ..ProviderError::new(
                ErrorKind::Timeout,
                "WaitUntilAvailable",
                "not available after 10 minutes",
            )
        }))
    });
    let w = World::with(fake);
    let d = w
        .up(w.stack(|s| {
            s.add("nat", FakeArgs::new());
        }))
        .await
        .unwrap();
    assert!(!d.report.unwrap().succeeded());
    let recorded = w.state().resources;
    assert_eq!(recorded.len(), 1, "the object is recorded, not leaked");
    assert_eq!(recorded[0].status, iac_state::ResourceStatus::Tainted);

    let w2 = World {
        fake: FakeProvider::new("fake", cloud.clone()),
        ..w
    };
    let plan = w2
        .preview(&w2.stack(|s| {
            s.add("nat", FakeArgs::new());
        }))
        .await
        .unwrap();
    assert_eq!(plan.steps[0].op, Op::ReplaceCreateFirst);
    w2.up(w2.stack(|s| {
        s.add("nat", FakeArgs::new());
    }))
    .await
    .unwrap();
    assert_eq!(
        w2.state().resources[0].status,
        iac_state::ResourceStatus::Ok
    );
    assert_eq!(
        cloud.snapshot().objects.len(),
        1,
        "the unhealthy object was deleted"
    );
}

#[tokio::test]
async fn a_notice_from_a_provider_call_reaches_the_event_sink_named_for_its_resource() {
    // The name servers of a new zone must reach the user while `up` still runs.
    let fake = FakeProvider::new("fake", FakeCloud::new()).on_create(|req| {
        if req.ctx.name == "zone" {
            iac_dsl::notice("delegate the domain to ns-1.example");
        }
        None
    });
    let w = World::with(fake);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = iac_dsl::RunOptions {
        events: Some(std::sync::Arc::new(move |e: iac_dsl::Event| {
            if let iac_dsl::Event::Notice { name, message } = e {
                seen.lock().unwrap().push((name, message));
            }
        })),
        ..Default::default()
    };
    let stack = w.stack(|s| {
        s.add("zone", FakeArgs::new().value("size", "1"));
        s.add("other", FakeArgs::new().value("size", "2"));
    });
    let d = w.up_with(stack, options).await.unwrap();
    assert!(d.report.expect("applied").succeeded());
    assert_eq!(
        *events.lock().unwrap(),
        [(
            "zone".to_string(),
            "delegate the domain to ns-1.example".to_string()
        )]
    );
    // Outside a run with a sink (a provider called directly), a notice goes nowhere.
    iac_dsl::notice("dropped");
}

#[tokio::test]
async fn a_delete_first_replacement_keeps_its_unchanged_dependents_and_says_its_warning() {
    // b depends on a and keeps its recorded reference (ignore_changes): a's delete-first
    // replacement is not kept for b, since the name a is made again in the same run; the
    // plan carries a's declared replacement warning.
    let fake = FakeProvider::new("fake", FakeCloud::new()).delete_before_replace(true);
    let w = World::with(fake);
    let declare = |size: &'static str| {
        move |s: &mut iac_dsl::Stack| {
            let a = s.add_with(
                "a",
                FakeArgs::new().value("replace_me", size),
                ResourceOptions::new().replacement_warning("its data is discarded"),
            );
            s.add_with(
                "b",
                FakeArgs::new().output("parent", &a.id()),
                ResourceOptions::new().ignore_changes(["parent"]),
            );
        }
    };
    w.up(w.stack(declare("small"))).await.unwrap();
    let plan = w.preview(&w.stack(declare("large"))).await.unwrap();
    let ops: Vec<(&str, Op, Option<&str>)> = plan
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.op, s.warning.as_deref()))
        .collect();
    assert_eq!(
        ops,
        [
            ("a", Op::ReplaceDeleteFirst, Some("its data is discarded")),
            ("b", Op::Same, None)
        ]
    );
    let d = w.up(w.stack(declare("large"))).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    assert_eq!(w.fake.calls_of("delete").len(), 1);
    let state = w.state();
    assert_eq!(state.resources.len(), 2);
    w.store.check(&id()).expect("the state stays consistent");
}

#[tokio::test]
async fn a_plan_names_only_the_outputs_it_changes() {
    let w = World::new();
    let declare = |label: &'static str, second: bool| {
        move |s: &mut iac_dsl::Stack| {
            let pw = s.add("pw", FakeArgs::new().value("length", 16));
            let secret = pw
                .out::<u32>("length")
                .map(|n| format!("p@ss-{n}-word"))
                .into_secret();
            s.export_output("password", &secret);
            s.export_output("pw_id", &pw.id());
            s.export::<String>("label", label.to_string());
            if second {
                s.export::<u32>("extra", 1);
            } else {
                s.export::<u32>("dropped", 1);
            }
        }
    };
    let first = w.preview(&w.stack(declare("one", false))).await.unwrap();
    assert_eq!(
        first.outputs_changed,
        ["dropped", "label", "password", "pw_id"],
        "before the first deploy every output is new"
    );
    assert!(w.up(w.stack(declare("one", false))).await.is_ok());
    let same = w.preview(&w.stack(declare("one", false))).await.unwrap();
    assert!(
        same.outputs_changed.is_empty() && same.outputs_removed.is_empty(),
        "recorded values, the secret's included, are not changes: {:?}",
        same.outputs_changed
    );
    let moved = w.preview(&w.stack(declare("two", true))).await.unwrap();
    assert!(!moved.has_changes(), "no resource changes");
    assert_eq!(moved.outputs_changed, ["extra", "label"]);
    assert_eq!(moved.outputs_removed, ["dropped"]);
}

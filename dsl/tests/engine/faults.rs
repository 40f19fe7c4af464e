//! Specifications for the paths where things go wrong: a state that names a data source,
//! a create whose answer is lost or whose later call fails after the object exists, and
//! errors that quote a secret.

use iac_dsl::testing::{FakeArgs, FakeCloud, FakeProvider};
use iac_dsl::{ErrorKind, Op, Output, ProviderError};

use super::support::*;

/// A resource placed by a data source (as subnets are placed in the zones a region
/// reports), and one that depends on it.
fn placed(s: &mut iac_dsl::Stack) {
    let zones = s.data(
        "zones",
        FakeArgs::typed("fake:test/zones").value("names", ["a", "b"]),
        None,
    );
    let first: Output<String> = zones.out("names.0");
    let subnet = s.add("subnet", FakeArgs::new().output("zone", &first));
    s.add("route", FakeArgs::new().output("subnet", &subnet.id()));
}

#[tokio::test]
async fn a_stack_that_reads_a_data_source_is_deployed_previewed_updated_and_destroyed() {
    let w = World::new();
    let d = w.up(w.stack(placed)).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    let state = w.state();
    let subnet = state.resources.iter().find(|r| r.name == "subnet").unwrap();
    assert!(
        subnet.dependencies.is_empty(),
        "the data source is not recorded as a dependency: {:?}",
        subnet.dependencies
    );
    // Every later command works on that state.
    let plan = w
        .preview(&w.stack(placed))
        .await
        .expect("preview loads the state");
    assert!(!plan.has_changes(), "{plan:?}");
    let again = w.up(w.stack(placed)).await.expect("a second up");
    assert!(again.report.is_none(), "nothing to do");
    let gone = w.destroy(w.stack(placed)).await.expect("destroy");
    assert!(gone.report.unwrap().succeeded());
    assert!(w.state().resources.is_empty());
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_adopted_not_made_twice() {
    let cloud = FakeCloud::new();
    let made = cloud.clone();
    // The cloud acts, then the answer is lost (what the SDK's retries run out on).
    let fake = FakeProvider::new("fake", cloud.clone()).on_create(move |req| {
        made.create(req);
        Some(Err(ProviderError::new(
            ErrorKind::Transient,
            "CreateThing",
            "connection reset after the request was sent",
        )))
    });
    let w = World::with(fake);
    let declare = |s: &mut iac_dsl::Stack| {
        s.add("group", FakeArgs::new().value("rules", ["a", "b"]));
    };
    let d = w.up(w.stack(declare)).await.unwrap();
    assert!(
        !d.report.unwrap().succeeded(),
        "the run reports the failure"
    );
    let recorded = w.state().resources;
    assert_eq!(
        recorded.len(),
        1,
        "the object found by its token is recorded"
    );
    assert_eq!(recorded[0].status, iac_state::ResourceStatus::Ok);

    // The next run, with answers arriving again, has nothing left to do.
    let w2 = World {
        fake: FakeProvider::new("fake", cloud.clone()),
        ..w
    };
    let d = w2.up(w2.stack(declare)).await.unwrap();
    assert!(d.report.is_none(), "converged: {:?}", d.plan.steps);
    let data = cloud.snapshot();
    assert_eq!(data.objects.len(), 1, "exactly one object");
    assert!(data.creates.values().all(|&n| n == 1), "{:?}", data.creates);
}

#[tokio::test]
async fn a_create_that_fails_after_its_object_exists_is_recorded_as_found_and_updated() {
    let cloud = FakeCloud::new();
    let made = cloud.clone();
    // The object is made with only part of its configuration (its rules failed).
    let fake = FakeProvider::new("fake", cloud.clone()).on_create(move |req| {
        let mut partial = req.clone();
        partial.inputs["rules"] = serde_json::json!([]);
        made.create(&partial);
        Some(Err(ProviderError::new(
            ErrorKind::Service,
            "AuthorizeSecurityGroupEgress",
            "rule limit exceeded",
        )))
    });
    let w = World::with(fake);
    let declare = |s: &mut iac_dsl::Stack| {
        s.add("group", FakeArgs::new().value("rules", ["a", "b"]));
    };
    let d = w.up(w.stack(declare)).await.unwrap();
    assert!(!d.report.unwrap().succeeded());
    let recorded = &w.state().resources[0];
    assert_eq!(
        recorded.inputs["rules"],
        serde_json::json!([]),
        "recorded as read, not as planned"
    );

    let w2 = World {
        fake: FakeProvider::new("fake", cloud.clone()),
        ..w
    };
    let plan = w2.preview(&w2.stack(declare)).await.unwrap();
    assert_eq!(plan.steps[0].op, Op::Update, "{:?}", plan.steps);
    let d = w2.up(w2.stack(declare)).await.unwrap();
    assert!(d.report.unwrap().succeeded());
    let data = cloud.snapshot();
    assert_eq!(data.objects.len(), 1);
    let object = data.objects.values().next().unwrap();
    assert_eq!(object.inputs["rules"], serde_json::json!(["a", "b"]));
}

#[tokio::test]
async fn a_failed_call_never_stores_or_reports_a_secret_it_was_given() {
    const PASSWORD: &str = "hunter2-but-longer";
    let fake = FakeProvider::new("fake", FakeCloud::new()).on_create(|req| {
        // A service that quotes the request in its error.
        Some(Err(ProviderError::new(
            ErrorKind::Validation,
            "CreateDBCluster",
            format!(
                "password {} has a character that is not allowed",
                req.inputs["password"].as_str().unwrap_or("")
            ),
        )))
    });
    let w = World::with(fake);
    let d = w
        .up(w.stack(|s| {
            s.add(
                "db",
                FakeArgs::new().value("password", iac_dsl::value::secret(PASSWORD.into())),
            );
        }))
        .await
        .unwrap();
    let report = d.report.unwrap();
    let failure = report.failures()[0].clone();
    let shown = format!("{failure:?}");
    assert!(shown.contains("not allowed"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let conn = rusqlite::Connection::open(w.dir.path().join("state.db")).unwrap();
    let errors: Vec<String> = conn
        .prepare("SELECT coalesce(error, '') FROM journal")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        errors.iter().any(|e| e.contains("not allowed")),
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| !e.contains(PASSWORD)), "{errors:?}");
}

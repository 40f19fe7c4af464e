//! Policies as the engine runs them, with the fake provider: a stack's own policy sees
//! its resources' declared inputs and graph neighbours; a mandatory violation stops `up`
//! before any provider call; a level change or a waiver (whose reason stays in the
//! report) lets it run; a waiver of an unknown policy or resource is a declaration error.

use iac_dsl::policy::{Policy, PolicyContext, Subject, Violation};
use iac_dsl::testing::FakeArgs;
use iac_dsl::{EngineError, Level, Stack};

use crate::support::World;

/// A `fake:test/thing` with `public = true` needs a `fake:test/guard` that refers to it.
struct GuardedWhenPublic;

impl Policy for GuardedWhenPublic {
    fn id(&self) -> &str {
        "guarded-when-public"
    }

    fn description(&self) -> &str {
        "public things have a guard"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        let public = s.input("public").and_then(|v| v.as_bool()) == Some(true);
        let guarded = s
            .dependents
            .iter()
            .any(|n| n.type_token == "fake:test/guard");
        if s.type_token == "fake:test/thing" && public && !guarded {
            vec![Violation::new(
                "public",
                "public without a guard",
                "add a guard",
            )]
        } else {
            Vec::new()
        }
    }
}

fn declare(stack: &mut Stack, guard: bool) {
    stack.add_policy(GuardedWhenPublic);
    let open = stack.add("open", FakeArgs::new().value("public", true));
    stack.add("closed", FakeArgs::new().value("public", false));
    if guard {
        stack.add(
            "guard",
            FakeArgs::typed("fake:test/guard").output("target", &open.id()),
        );
    }
}

#[tokio::test]
async fn a_mandatory_violation_stops_up_before_any_provider_call() {
    let w = World::new();
    let stack = w.stack(|s| declare(s, false));
    let report = iac_dsl::policy::evaluate(&stack);
    let found: Vec<(&str, &str)> = report
        .blocking()
        .map(|f| (f.resource.as_str(), f.field.as_str()))
        .collect();
    assert_eq!(found, [("open", "public")]);
    match w.up(stack).await {
        Err(EngineError::Policy(r)) => {
            assert!(r.to_string().contains("[guarded-when-public] open"))
        }
        other => panic!(
            "expected a policy refusal, got {:?}",
            other.map(|d| d.plan.steps.len())
        ),
    }
    assert!(w.fake.calls().is_empty(), "{:?}", w.fake.calls());

    // The neighbour that refers to it satisfies the rule.
    let stack = w.stack(|s| declare(s, true));
    assert!(iac_dsl::policy::evaluate(&stack).passes());
    w.up(stack).await.unwrap();
    assert_eq!(w.fake.calls_of("create").len(), 3);
}

#[tokio::test]
async fn an_advisory_level_or_a_waiver_lets_up_run_and_keeps_the_finding() {
    let w = World::new();
    let stack = w.stack(|s| {
        declare(s, false);
        s.set_policy_level("guarded-when-public", Level::Advisory);
    });
    let report = iac_dsl::policy::evaluate(&stack);
    assert!(report.passes());
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].level, Level::Advisory);
    w.up(stack).await.unwrap();

    let w = World::new();
    let stack = w.stack(|s| {
        declare(s, false);
        s.waive(
            "guarded-when-public",
            "open",
            "a demo bucket of public data",
        );
    });
    let report = iac_dsl::policy::evaluate(&stack);
    assert!(report.passes());
    assert_eq!(
        report.findings[0].waived.as_deref(),
        Some("a demo bucket of public data")
    );
    w.up(stack).await.unwrap();
}

#[tokio::test]
async fn a_waiver_of_nothing_is_a_declaration_error() {
    let w = World::new();
    let stack = w.stack(|s| {
        declare(s, true);
        s.waive("guarded-when-public", "missing", "because");
        s.waive("no-such-rule", "open", "");
        s.set_policy_level("nor-this", Level::Advisory);
        s.set_usage("widgets_per_month", 3.0);
    });
    let text = stack.validate().unwrap_err().to_string();
    for needle in [
        "`missing` is not a resource of this stack",
        "no policy `no-such-rule` (known: guarded-when-public)",
        "a waiver needs a reason",
        "level of `nor-this`",
        "usage assumption `widgets_per_month`",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from {text}");
    }
    assert!(matches!(
        w.up(stack).await,
        Err(EngineError::Declaration(_))
    ));
    assert!(w.fake.calls().is_empty());
}

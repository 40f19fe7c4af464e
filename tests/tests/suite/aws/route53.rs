//! Route 53 hosted zones, health checks and records against the emulator.

use iac_dsl::{ErrorKind, Provider, RunOptions, Stack, engine};
use iac_providers::aws::Aws;
use iac_providers::aws::acm::CertificateArgs;
use iac_providers::aws::route53::{Failover, HealthCheckArgs, HostedZoneArgs, RecordArgs};
use serde_json::{Value, json};

use super::support::*;

/// Route 53 is global; the provider's region does not matter.
const REGION: &str = "eu-west-1";

fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&iac_tests::Moto::shared().sdk_config(REGION))
}

fn zone_name() -> String {
    format!("{}.example.com", iac_tests::unique("pay"))
}

fn zone_inputs(name: &str, force_destroy: bool) -> Value {
    json!({"name": name, "comment": "payments", "force_destroy": force_destroy, "tags": {"team": "payments"}})
}

/// Every zone in the emulator whose name is `name`.
async fn zones_named(name: &str) -> Vec<String> {
    let out = route53()
        .list_hosted_zones_by_name()
        .dns_name(name)
        .send()
        .await
        .unwrap();
    out.hosted_zones()
        .iter()
        .filter(|z| z.name().trim_end_matches('.') == name)
        .map(|z| z.id().to_string())
        .collect()
}

#[tokio::test]
async fn zone_lifecycle_and_force_destroy() {
    let aws = aws(REGION);
    let name = zone_name();
    let c = ctx("aws:route53/zone", "zone");
    let inputs = zone_inputs(&name, false);
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    let id = created.id.clone();
    assert!(!id.starts_with('/') && !id.is_empty(), "{id}");
    assert_eq!(created.outputs["zone_id"], id.as_str());
    assert_eq!(created.outputs["name"], name.as_str());
    assert_eq!(
        created.outputs["arn"],
        format!("arn:aws:route53:::hostedzone/{id}")
    );
    assert!(
        !created.outputs["name_servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let back = read(&aws, &c, &id).await.unwrap();
    // Read keeps force_destroy from state (Route 53 does not store it).
    assert_eq!(back.inputs["name"], inputs["name"]);
    assert_eq!(back.inputs["comment"], inputs["comment"]);
    assert_eq!(back.inputs["tags"], inputs["tags"]);
    assert_eq!(back.outputs, created.outputs);

    // Comment and tags change in place; the name replaces the zone.
    let changed = json!({"name": format!("{name}."), "comment": "payments (prod)", "force_destroy": false, "tags": {"team": "risk"}});
    assert_eq!(replace_keys(&aws, &c, &inputs, &changed), ["name"]);
    let same_name = json!({"name": name, "comment": "payments (prod)", "force_destroy": false, "tags": {"team": "risk"}});
    assert!(replace_keys(&aws, &c, &inputs, &same_name).is_empty());
    update(
        &aws,
        &c,
        &id,
        inputs.clone(),
        same_name.clone(),
        created.outputs.clone(),
    )
    .await;
    let mut recorded = aws
        .read(iac_dsl::ReadRequest {
            ctx: c.clone(),
            id: id.clone(),
            inputs: same_name.clone(),
            outputs: created.outputs.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.inputs, same_name);
    // A declaration with a trailing dot names the same zone: no change.
    recorded = aws
        .read(iac_dsl::ReadRequest {
            ctx: c.clone(),
            id: id.clone(),
            inputs: changed.clone(),
            outputs: created.outputs.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.inputs["name"], format!("{name}."));

    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        id
    );
    assert!(
        lookup(&aws, &c, "another-token", inputs.clone())
            .await
            .is_none(),
        "lookup finds only the zone made with this token"
    );

    // A record stops a plain delete, which names the zone and the way out...
    let record = ctx("aws:route53/record", "www");
    let record_inputs = json!({"zone_id": id, "name": format!("www.{name}"), "type": "A", "ttl": 60,
        "records": ["192.0.2.10"], "alias": null, "failover": null, "set_identifier": null, "health_check_id": null});
    create(&aws, &record, record_inputs).await.expect("record");
    let err = aws
        .delete(iac_dsl::DeleteRequest {
            ctx: c.clone(),
            id: id.clone(),
            inputs: same_name.clone(),
            outputs: created.outputs.clone(),
            timeout: None,
        })
        .await
        .unwrap_err();
    assert!(
        err.message.contains(&id) && err.message.contains("force_destroy"),
        "{err}"
    );
    assert!(read(&aws, &c, &id).await.is_some(), "the zone is kept");
    // ...and force_destroy deletes the records first.
    let mut forced = same_name.clone();
    forced["force_destroy"] = json!(true);
    delete(&aws, &c, &id, forced.clone(), created.outputs.clone()).await;
    assert!(read(&aws, &c, &id).await.is_none());
    assert!(zones_named(&name).await.is_empty());
    delete(&aws, &c, &id, forced, created.outputs).await;
}

#[tokio::test]
async fn a_lost_create_hosted_zone_answer_is_adopted() {
    let moto = iac_tests::Moto::shared();
    let proxy = iac_tests::LossyProxy::start(moto.endpoint(), "<CreateHostedZoneRequest", 1);
    let lossy = Aws::from_config(proxy.sdk_config(REGION));
    let name = zone_name();
    let c = ctx("aws:route53/zone", &iac_tests::unique("lossy-zone"));
    let inputs = json!({"name": name, "comment": "", "force_destroy": false, "tags": {}});
    let (created, token) = create(&lossy, &c, inputs.clone())
        .await
        .expect("create adopts");
    assert_eq!(
        proxy.matched(),
        1,
        "CreateHostedZone was sent once and never repeated"
    );
    let zones = zones_named(&name).await;
    assert_eq!(zones.len(), 1, "exactly one zone for the name: {zones:?}");
    assert!(zones[0].ends_with(&created.id), "{zones:?} {}", created.id);
    let direct = aws(REGION);
    let found = lookup(&direct, &c, &token, inputs).await.unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(found.inputs["tags"], json!({}));
}

fn check_inputs() -> Value {
    json!({"type": "HTTPS", "fqdn": "api.payments.example.com", "resource_path": "/health", "port": 443,
           "failure_threshold": 3, "request_interval": 30, "measure_latency": false,
           "search_string": "", "tags": {"team": "payments"}})
}

#[tokio::test]
async fn health_check_lifecycle() {
    let aws = aws(REGION);
    let c = ctx("aws:route53/healthCheck", &iac_tests::unique("hc"));
    let inputs = check_inputs();
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.outputs["id"], created.id.as_str());
    assert_eq!(
        created.outputs["arn"],
        format!("arn:aws:route53:::healthcheck/{}", created.id)
    );
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, inputs);

    let mut changed = inputs.clone();
    changed["port"] = json!(8443);
    changed["resource_path"] = json!("/ready");
    changed["failure_threshold"] = json!(5);
    changed["fqdn"] = json!("dr.payments.example.com");
    changed["tags"] = json!({"team": "risk"});
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    update(
        &aws,
        &c,
        &created.id,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, changed);
    for (key, value) in [
        ("request_interval", json!(10)),
        ("type", json!("HTTP")),
        ("measure_latency", json!(true)),
    ] {
        let mut other = changed.clone();
        other[key] = value;
        assert_eq!(replace_keys(&aws, &c, &changed, &other), [key]);
    }

    assert_eq!(
        lookup(&aws, &c, &token, inputs).await.unwrap().id,
        created.id
    );
    delete(
        &aws,
        &c,
        &created.id,
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert!(read(&aws, &c, &created.id).await.is_none());
    delete(&aws, &c, &created.id, changed, created.outputs).await;
}

fn record(zone_id: &str, name: &str) -> Value {
    json!({"zone_id": zone_id, "name": name, "type": "A", "ttl": 60, "records": ["192.0.2.10", "192.0.2.11"],
           "alias": null, "failover": null, "set_identifier": null, "health_check_id": null})
}

#[tokio::test]
async fn record_lifecycle_adoption_and_alias_switch() {
    let aws = aws(REGION);
    let name = zone_name();
    let zc = ctx("aws:route53/zone", "records-zone");
    let zone_in = json!({"name": name, "comment": "", "force_destroy": true, "tags": {}});
    let zone = create(&aws, &zc, zone_in.clone()).await.unwrap().0;
    let c = ctx("aws:route53/record", "api");
    let fqdn = format!("api.{name}");
    let inputs = record(&zone.id, &fqdn);
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    assert_eq!(created.id, format!("{}_{fqdn}_A", zone.id));
    assert_eq!(created.outputs["fqdn"], fqdn.as_str());
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, inputs);
    // Import: read by id alone.
    let imported = aws
        .read(iac_dsl::ReadRequest {
            ctx: c.clone(),
            id: created.id.clone(),
            inputs: Value::Null,
            outputs: Value::Null,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.inputs, inputs);

    // A retried create finds its identical record and adopts it...
    let (again, _) = create(&aws, &c, inputs.clone()).await.expect("adopt");
    assert_eq!(again.id, created.id);
    // ...but never a record with other values.
    let mut other = inputs.clone();
    other["records"] = json!(["198.51.100.1"]);
    let err = create(&aws, &ctx("aws:route53/record", "other"), other)
        .await
        .unwrap_err();
    assert!(err.message.contains("already exists"), "{err}");
    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        created.id
    );

    // TTL and values change in place; name, type, zone and set identifier replace.
    let mut changed = inputs.clone();
    changed["ttl"] = json!(300);
    changed["records"] = json!(["198.51.100.7"]);
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    update(
        &aws,
        &c,
        &created.id,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, changed);
    let mut renamed = changed.clone();
    renamed["name"] = json!(format!("web.{name}"));
    renamed["type"] = json!("AAAA");
    assert_eq!(replace_keys(&aws, &c, &changed, &renamed), ["name", "type"]);

    // A simple record becomes an alias in one atomic change.
    let alias = json!({"zone_id": zone.id, "name": fqdn, "type": "A", "ttl": null, "records": [],
        "alias": {"name": "payments-lb-123.eu-west-1.elb.amazonaws.com", "zone_id": "Z32O12XQLNTSW2", "evaluate_target_health": true},
        "failover": null, "set_identifier": null, "health_check_id": null});
    update(
        &aws,
        &c,
        &created.id,
        changed.clone(),
        alias.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &created.id).await.unwrap().inputs, alias);

    delete(
        &aws,
        &c,
        &created.id,
        alias.clone(),
        created.outputs.clone(),
    )
    .await;
    assert!(read(&aws, &c, &created.id).await.is_none());
    delete(&aws, &c, &created.id, alias, created.outputs).await;
    delete(&aws, &zc, &zone.id, zone_in, zone.outputs).await;
}

/// A failover pair: the primary region's endpoint answers while its health check
/// passes, the DR region's otherwise.
fn failover_stack(suffix: &str, zone: &str, threshold: i32) -> Stack {
    let mut stack = Stack::new("tests", &format!("dns-{suffix}"));
    stack.provider("aws", aws(REGION));
    let zone = stack.add("zone", HostedZoneArgs::new(zone).force_destroy(true));
    let primary_check = stack.add(
        "primary-check",
        HealthCheckArgs::https(format!("api-use1.{suffix}.example.net"), "/health")
            .failure_threshold(threshold)
            .request_interval(10),
    );
    let dr_check = stack.add(
        "dr-check",
        HealthCheckArgs::https(format!("api-usw2.{suffix}.example.net"), "/health"),
    );
    let primary = stack.add(
        "api-primary",
        RecordArgs::new(zone.zone_id(), format!("api.{}", zone_name_of(suffix)), "A")
            .alias(
                "payments-use1-123.us-east-1.elb.amazonaws.com",
                "Z35SXDOTRQ7X7K",
                true,
            )
            .failover(Failover::Primary, "primary")
            .health_check_id(primary_check.id()),
    );
    let dr = stack.add(
        "api-dr",
        RecordArgs::new(zone.zone_id(), format!("api.{}", zone_name_of(suffix)), "A")
            .ttl(60)
            .records(["198.51.100.20"])
            .failover(Failover::Secondary, "dr")
            .health_check_id(dr_check.id()),
    );
    stack.export_output("zone_id", &zone.zone_id());
    stack.export_output("primary", &primary.id());
    stack.export_output("dr", &dr.id());
    stack.export_output("primary_check", &primary_check.id());
    stack
}

fn zone_name_of(suffix: &str) -> String {
    format!("{suffix}.example.com")
}

#[tokio::test]
async fn failover_pair_deploys_reads_back_and_is_destroyed() {
    let suffix = iac_tests::unique("fo");
    let zone = zone_name_of(&suffix);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let options = RunOptions::default();
    let report = succeeded(
        engine::up(
            failover_stack(&suffix, &zone, 3),
            store.clone(),
            &options,
            false,
            &mut |_| true,
        )
        .await,
        "up",
    );
    let outputs = &report.outputs;
    let zone_id = outputs["zone_id"].as_str().unwrap().to_string();
    assert_eq!(
        outputs["primary"],
        format!("{zone_id}_api.{zone}_A_primary").as_str()
    );

    let listed = route53()
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(format!("api.{zone}"))
        .start_record_type(aws_sdk_route53::types::RrType::A)
        .send()
        .await
        .unwrap();
    let pair: Vec<_> = listed
        .resource_record_sets()
        .iter()
        .filter(|s| s.name().trim_end_matches('.') == format!("api.{zone}"))
        .collect();
    assert_eq!(pair.len(), 2, "{pair:?}");
    let primary = pair
        .iter()
        .find(|s| s.set_identifier() == Some("primary"))
        .unwrap();
    assert_eq!(primary.failover().unwrap().as_str(), "PRIMARY");
    assert_eq!(primary.health_check_id(), outputs["primary_check"].as_str());
    assert_eq!(
        primary
            .alias_target()
            .unwrap()
            .dns_name()
            .trim_end_matches('.'),
        "payments-use1-123.us-east-1.elb.amazonaws.com"
    );
    let dr = pair
        .iter()
        .find(|s| s.set_identifier() == Some("dr"))
        .unwrap();
    assert_eq!(dr.failover().unwrap().as_str(), "SECONDARY");
    assert_eq!(dr.resource_records()[0].value(), "198.51.100.20");
    assert_eq!(dr.ttl(), Some(60));

    // Everything reads back as declared: a refreshed preview has nothing to do.
    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(
        &failover_stack(&suffix, &zone, 3),
        &store,
        &refreshed,
        false,
    )
    .await
    .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.counts());
    // A new failure threshold is an update in place.
    let tuned = engine::preview(
        &failover_stack(&suffix, &zone, 5),
        &store,
        &refreshed,
        false,
    )
    .await
    .unwrap();
    let changes: Vec<_> = tuned
        .steps
        .iter()
        .filter(|s| s.op.is_change())
        .map(|s| (s.name.as_str(), s.op))
        .collect();
    assert_eq!(changes, [("primary-check", iac_dsl::Op::Update)]);

    succeeded(
        engine::up(
            failover_stack(&suffix, &zone, 3),
            store.clone(),
            &options,
            true,
            &mut |_| true,
        )
        .await,
        "destroy",
    );
    assert!(zones_named(&zone).await.is_empty());
}

#[tokio::test]
async fn bad_dns_declarations_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let mut stack = Stack::new("tests", "bad-dns");
    stack.provider("aws", Aws::from_config(counter.sdk_config(REGION)));
    let zone = stack.add("zone", HostedZoneArgs::new("payments.example.com"));
    stack.add(
        "interval",
        HealthCheckArgs::https("api.payments.example.com", "/health").request_interval(15),
    );
    stack.add(
        "threshold",
        HealthCheckArgs::https("api.payments.example.com", "/health").failure_threshold(11),
    );
    stack.add(
        "both",
        RecordArgs::new(zone.zone_id(), "api.payments.example.com", "A")
            .records(["192.0.2.1"])
            .alias("lb.example.com", "Z35SXDOTRQ7X7K", false),
    );
    stack.add(
        "no-set",
        RecordArgs::new(zone.zone_id(), "dr.payments.example.com", "A")
            .records(["192.0.2.2"])
            .failover(Failover::Secondary, ""),
    );
    stack.add("cert", CertificateArgs::dns("pay ments.example.com"));
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let errors = engine::preview(&stack, &store, &RunOptions::default(), false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(counter.connections(), 0, "no request was sent");
    for needle in [
        "interval (aws:route53/healthCheck): invalid `request_interval`",
        "(10 or 30)",
        "threshold (aws:route53/healthCheck): invalid `failure_threshold`",
        "both (aws:route53/record): invalid `records`",
        "not both",
        "no-set (aws:route53/record): invalid `set_identifier`",
        "cert (aws:acm/certificate): invalid `domain_name`",
    ] {
        assert!(
            errors.contains(needle),
            "`{needle}` missing from:\n{errors}"
        );
    }

    // The provider refuses the same inputs itself, again before any request.
    let aws = Aws::from_config(counter.sdk_config(REGION));
    let mut bad = check_inputs();
    bad["request_interval"] = json!(15);
    let err = create(&aws, &ctx("aws:route53/healthCheck", "hc"), bad)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation);
    assert!(
        err.fields.iter().any(|(f, _)| f == "request_interval"),
        "{err}"
    );
    assert_eq!(counter.connections(), 0);
}

//! ACM certificates and their validation against the emulator.
//!
//! The emulator (moto) keeps a requested certificate `PENDING_VALIDATION` for
//! `MOTO_ACM_VALIDATION_WAIT` seconds (10, as the test support starts it) and then reports
//! it `ISSUED`; certificates from a private CA are issued at once.

use std::time::{Duration, Instant};

use iac_dsl::{
    CreateRequest, CustomTimeouts, ErrorKind, Provider, ResourceOptions, RunOptions, Stack, engine,
};
use iac_providers::aws::acm::{CertificateArgs, CertificateValidationArgs};
use iac_providers::aws::route53::{HostedZoneArgs, RecordArgs};
use serde_json::{Value, json};

use super::support::*;

const REGION: &str = "us-east-1";

fn acm() -> aws_sdk_acm::Client {
    aws_sdk_acm::Client::new(&iac_tests::Moto::shared().sdk_config(REGION))
}

fn domain() -> String {
    format!("{}.example.com", iac_tests::unique("pay"))
}

fn cert_inputs(domain: &str) -> Value {
    json!({"domain_name": format!("api.{domain}"), "subject_alternative_names": [format!("www.{domain}")],
           "key_algorithm": "RSA_2048", "tags": {"team": "payments"}})
}

#[tokio::test]
async fn certificate_lifecycle() {
    let aws = aws(REGION);
    let domain = domain();
    let c = ctx("aws:acm/certificate", &iac_tests::unique("cert"));
    let inputs = cert_inputs(&domain);
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("create");
    let arn = created.id.clone();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:"), "{arn}");
    assert_eq!(created.outputs["arn"], arn.as_str());
    assert_eq!(created.outputs["domain_name"], format!("api.{domain}"));
    assert_eq!(created.outputs["status"], "PENDING_VALIDATION");
    let options = created.outputs["domain_validation_options"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = options
        .iter()
        .map(|o| o["domain_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [format!("api.{domain}"), format!("www.{domain}")],
        "the domain name first, then the alternative names in order"
    );
    for option in options {
        assert_eq!(option["resource_record_type"], "CNAME");
        assert!(
            option["resource_record_name"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{}.", option["domain_name"].as_str().unwrap())),
            "{option}"
        );
        assert!(!option["resource_record_value"].as_str().unwrap().is_empty());
    }
    let back = read(&aws, &c, &arn).await.unwrap();
    assert_eq!(back.inputs, inputs);
    assert_eq!(back.outputs, created.outputs);

    // The same create token gives the same certificate (ACM's idempotency token).
    let again = aws
        .create(CreateRequest {
            ctx: c.clone(),
            inputs: inputs.clone(),
            token: token.clone(),
            timeout: None,
        })
        .await
        .unwrap();
    assert_eq!(again.id, arn);

    // Tags change in place; names and key algorithm replace the certificate.
    let mut changed = inputs.clone();
    changed["tags"] = json!({"team": "risk", "env": "prod"});
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    update(
        &aws,
        &c,
        &arn,
        inputs.clone(),
        changed.clone(),
        created.outputs.clone(),
    )
    .await;
    assert_eq!(read(&aws, &c, &arn).await.unwrap().inputs, changed);
    for (key, value) in [
        ("domain_name", json!(format!("pay.{domain}"))),
        (
            "subject_alternative_names",
            json!([format!("www.{domain}"), format!("m.{domain}")]),
        ),
        ("key_algorithm", json!("EC_prime256v1")),
    ] {
        let mut other = changed.clone();
        other[key] = value;
        assert_eq!(replace_keys(&aws, &c, &changed, &other), [key]);
    }

    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        arn
    );
    assert!(
        lookup(&aws, &c, "another-token", inputs.clone())
            .await
            .is_none()
    );
    delete(&aws, &c, &arn, changed.clone(), created.outputs.clone()).await;
    assert!(read(&aws, &c, &arn).await.is_none());
    assert!(lookup(&aws, &c, &token, inputs).await.is_none());
    delete(&aws, &c, &arn, changed, created.outputs).await;
}

#[tokio::test]
async fn validation_of_a_pending_certificate_times_out_naming_it() {
    let aws = aws(REGION);
    let domain = domain();
    let (cert, _) = create(
        &aws,
        &ctx("aws:acm/certificate", "pending"),
        cert_inputs(&domain),
    )
    .await
    .unwrap();
    let c = ctx("aws:acm/certificateValidation", "pending-validation");
    let inputs = json!({"certificate_arn": cert.id, "validation_record_fqdns": []});
    let started = Instant::now();
    let err = aws
        .create(CreateRequest {
            ctx: c.clone(),
            inputs: inputs.clone(),
            token: iac_tests::unique("tok"),
            timeout: Some(Duration::from_secs(2)),
        })
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(
        err.message.contains(&cert.id) && err.message.contains("PENDING_VALIDATION"),
        "{err}"
    );
    assert!(
        err.message.contains(&format!("api.{domain}")),
        "names the records ACM looks for: {err}"
    );
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert!(
        read(&aws, &c, &cert.id).await.is_none(),
        "not validated yet"
    );
    // A certificate that does not exist is a clear error, not a wait.
    let missing =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    let err = create(
        &aws,
        &c,
        json!({"certificate_arn": missing, "validation_record_fqdns": []}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn validation_of_an_issued_certificate_completes() {
    let aws = aws(REGION);
    // A certificate from a private CA is issued at once.
    let arn = acm()
        .request_certificate()
        .domain_name(format!("internal.{}", domain()))
        .certificate_authority_arn(
            "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012",
        )
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    let c = ctx("aws:acm/certificateValidation", "issued");
    let inputs =
        json!({"certificate_arn": arn, "validation_record_fqdns": ["_x.internal.example.com"]});
    let (created, token) = create(&aws, &c, inputs.clone()).await.expect("issued");
    assert_eq!(created.id, arn);
    assert_eq!(created.outputs, json!({"certificate_arn": arn}));
    // The record names are kept from state (ACM does not know them).
    let back = aws
        .read(iac_dsl::ReadRequest {
            ctx: c.clone(),
            id: arn.clone(),
            inputs: inputs.clone(),
            outputs: created.outputs.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.inputs, inputs);
    assert_eq!(
        read(&aws, &c, &arn).await.unwrap().inputs["certificate_arn"],
        arn.as_str()
    );
    let mut changed = inputs.clone();
    changed["validation_record_fqdns"] = json!([]);
    assert!(replace_keys(&aws, &c, &inputs, &changed).is_empty());
    assert_eq!(
        replace_keys(
            &aws,
            &c,
            &inputs,
            &json!({"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/other", "validation_record_fqdns": []})
        ),
        ["certificate_arn"]
    );
    assert_eq!(
        lookup(&aws, &c, &token, inputs.clone()).await.unwrap().id,
        arn
    );
    // Deleting the validation forgets it; the certificate stays.
    delete(&aws, &c, &arn, inputs, created.outputs).await;
    assert!(
        acm()
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn bad_certificate_arguments_fail_before_any_request() {
    let counter = iac_tests::RequestCounter::start();
    let aws = iac_providers::aws::Aws::from_config(counter.sdk_config(REGION));
    let err = create(
        &aws,
        &ctx("aws:acm/certificate", "c"),
        json!({"domain_name": "-bad-.example.com", "subject_alternative_names": ["ok.example.com", "x y.example.com"],
               "key_algorithm": "RSA_1024", "tags": {}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation);
    let fields: Vec<&str> = err.fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["domain_name", "subject_alternative_names", "key_algorithm"],
        "{err}"
    );
    let err = create(
        &aws,
        &ctx("aws:acm/certificateValidation", "v"),
        json!({"certificate_arn": "not-an-arn", "validation_record_fqdns": []}),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("certificate_arn"), "{err}");
    assert_eq!(counter.connections(), 0);
}

/// The reference's TLS setup: a zone, a certificate for two names in it, the validation
/// records taken from the certificate's outputs, and the wait for the certificate.
fn tls_stack(suffix: &str, zone_name: &str) -> Stack {
    let mut stack = Stack::new("tests", &format!("tls-{suffix}"));
    stack.provider("aws", aws(REGION));
    let zone = stack.add("zone", HostedZoneArgs::new(zone_name).force_destroy(true));
    let cert = stack.add(
        "cert",
        CertificateArgs::dns(format!("api.{zone_name}"))
            .subject_alternative_names([format!("www.{zone_name}")]),
    );
    let records: Vec<_> = (0..2)
        .map(|i| {
            stack.add(
                &format!("validation-record-{i}"),
                RecordArgs::new(
                    zone.zone_id(),
                    cert.validation_record_name(i),
                    cert.validation_record_type(i),
                )
                .ttl(60)
                .record(cert.validation_record_value(i)),
            )
        })
        .collect();
    let validation = stack.add_with(
        "cert-validation",
        CertificateValidationArgs::new(cert.arn())
            .validation_record_fqdns(records.iter().map(|r| r.fqdn())),
        ResourceOptions::default().timeouts(CustomTimeouts {
            create: Some(Duration::from_secs(180)),
            ..CustomTimeouts::default()
        }),
    );
    stack.export_output("certificate_arn", &validation.certificate_arn());
    stack.export_output("status", &cert.status());
    stack
}

#[tokio::test]
async fn a_certificate_is_validated_through_route53_records() {
    let suffix = iac_tests::unique("tls");
    let zone_name = format!("{suffix}.example.com");
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let options = RunOptions::default();
    let report = succeeded(
        engine::up(
            tls_stack(&suffix, &zone_name),
            store.clone(),
            &options,
            false,
            &mut |_| true,
        )
        .await,
        "up",
    );
    let arn = report.outputs["certificate_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = acm()
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail.certificate().unwrap().status().unwrap().as_str(),
        "ISSUED"
    );

    // The validation records exist in the zone with the certificate's values.
    let zone_id = aws_sdk_route53::Client::new(&iac_tests::Moto::shared().sdk_config(REGION))
        .list_hosted_zones_by_name()
        .dns_name(&zone_name)
        .send()
        .await
        .unwrap()
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == zone_name)
        .unwrap()
        .id()
        .to_string();
    let sets = aws_sdk_route53::Client::new(&iac_tests::Moto::shared().sdk_config(REGION))
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let mut in_zone: Vec<(String, String)> = sets
        .resource_record_sets()
        .iter()
        .filter(|s| s.r#type().as_str() == "CNAME")
        .map(|s| {
            let values: Vec<&str> = s.resource_records().iter().map(|r| r.value()).collect();
            assert_eq!(values.len(), 1, "{s:?}");
            (
                s.name().trim_end_matches('.').to_string(),
                values[0].trim_end_matches('.').to_string(),
            )
        })
        .collect();
    in_zone.sort();
    let mut asked: Vec<(String, String)> = detail
        .certificate()
        .unwrap()
        .domain_validation_options()
        .iter()
        .map(|o| {
            let record = o.resource_record().expect("a DNS validation record");
            assert_eq!(record.r#type().as_str(), "CNAME");
            (
                record.name().trim_end_matches('.').to_string(),
                record.value().trim_end_matches('.').to_string(),
            )
        })
        .collect();
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), 2, "one record per name: {asked:?}");
    assert_eq!(
        in_zone, asked,
        "the zone holds exactly the records the certificate asks for"
    );

    // The certificate reads back as declared; only its status moved on.
    let refreshed = RunOptions {
        refresh: true,
        ..RunOptions::default()
    };
    let again = engine::preview(&tls_stack(&suffix, &zone_name), &store, &refreshed, false)
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.counts());

    succeeded(
        engine::up(
            tls_stack(&suffix, &zone_name),
            store.clone(),
            &options,
            true,
            &mut |_| true,
        )
        .await,
        "destroy",
    );
    iac_tests::assert_not_found(
        acm()
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await,
        "ResourceNotFoundException",
        "the certificate is deleted",
    );
}

//! The built-in policy pack of the AWS provider: rules over planned AWS resources, each
//! pure and tested with a passing and a failing case.
//!
//! Inputs reach a policy as declared: constants known, references as
//! `{"$unknown": "<resource>.<field>"}` markers, which [`source_of`] follows to the
//! neighbour they name (a bucket's encryption is a separate resource that refers to it).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use iac_dsl::policy::{Neighbour, Policy, PolicyContext, Subject, Violation};
use iac_dsl::value::unknown_source;
use iac_dsl::{Level, Value};

const BUCKET: &str = "aws:s3/bucket";
const ENCRYPTION: &str = "aws:s3/bucketEncryption";
const PUBLIC_ACCESS_BLOCK: &str = "aws:s3/bucketPublicAccessBlock";
const VERSIONING: &str = "aws:s3/bucketVersioning";
const REPLICATION: &str = "aws:s3/bucketReplication";
const CLUSTER: &str = "aws:rds/cluster";
const GLOBAL_CLUSTER: &str = "aws:rds/globalCluster";
const INSTANCE: &str = "aws:rds/clusterInstance";
const SECRET: &str = "aws:secretsmanager/secret";
const TOPIC: &str = "aws:sns/topic";
const KEY: &str = "aws:kms/key";
const SECURITY_GROUP: &str = "aws:ec2/securityGroup";
const FUNCTION: &str = "aws:lambda/function";
const IAM_POLICY: &str = "aws:iam/policy";
const ROLE_POLICY: &str = "aws:iam/rolePolicy";

/// Ports of databases and remote administration that must never be open to the world.
pub const SENSITIVE_PORTS: &[(i64, &str)] = &[
    (22, "SSH"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (2049, "NFS"),
    (3306, "MySQL"),
    (3389, "RDP"),
    (5432, "PostgreSQL"),
    (5439, "Redshift"),
    (5984, "CouchDB"),
    (6379, "Redis"),
    (9200, "Elasticsearch"),
    (11211, "Memcached"),
    (27017, "MongoDB"),
];

/// Types whose loss loses data: in production they need deletion protection or the
/// engine's `protect`.
pub const STATEFUL_TYPES: &[&str] = &[CLUSTER, GLOBAL_CLUSTER, BUCKET, SECRET, KEY];

/// Every policy of the pack.
pub fn pack() -> Vec<Arc<dyn Policy>> {
    vec![
        Arc::new(EncryptedAtRest),
        Arc::new(SnsTopicEncrypted),
        Arc::new(NoPublicDatabase),
        Arc::new(NoOpenAdminIngress),
        Arc::new(IamNoWildcardAction),
        Arc::new(IamWildcardResource),
        Arc::new(S3PublicAccessBlocked),
        Arc::new(S3ReplicatedVersioning),
        Arc::new(ProductionBackups),
        Arc::new(ProductionDeletionProtection),
        Arc::new(ProductionLambdaInVpc),
    ]
}

/// The IAM actions without resource-level permissions, from the data file beside this one.
pub fn actions_without_resource_permissions() -> &'static BTreeSet<String> {
    static LIST: OnceLock<BTreeSet<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("actions_without_resource_permissions.txt")
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

/// The neighbour a reference marker in `value` names (`primary/bucket.bucket` names
/// `primary/bucket`), if `value` is one.
pub fn source_of<'a>(value: &Value, neighbours: &'a [Neighbour<'a>]) -> Option<&'a Neighbour<'a>> {
    let source = unknown_source(value)?;
    neighbours.iter().find(|n| {
        source
            .strip_prefix(n.name)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The dependents of `subject` of type `type_token` that refer to it through `field`.
fn companions<'a>(
    subject: &'a Subject<'a>,
    type_token: &str,
    field: &str,
) -> Vec<&'a Neighbour<'a>> {
    subject
        .dependents
        .iter()
        .filter(|n| n.type_token == type_token)
        .filter(|n| {
            n.inputs
                .get(field)
                .and_then(unknown_source)
                .and_then(|s| s.strip_prefix(subject.name))
                .is_some_and(|rest| rest.starts_with('.'))
        })
        .collect()
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn strings(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) if !other.is_null() => vec![other],
        _ => Vec::new(),
    }
}

/// RDS clusters, S3 buckets, secrets (and SNS topics that set a key) encrypted at rest.
struct EncryptedAtRest;

impl Policy for EncryptedAtRest {
    fn id(&self) -> &str {
        "encrypted-at-rest"
    }

    fn description(&self) -> &str {
        "storage is encrypted at rest (Aurora clusters, S3 buckets, secrets, SNS topics with a key)"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        match s.type_token {
            CLUSTER | GLOBAL_CLUSTER if !is_true(s.input("storage_encrypted")) => {
                vec![Violation::new(
                    "storage_encrypted",
                    "the cluster's storage is not encrypted",
                    "set storage_encrypted(true) (with kms_key_id for a key of your own); it cannot be turned on later without a new cluster",
                )]
            }
            BUCKET if companions(s, ENCRYPTION, "bucket").is_empty() => vec![Violation::new(
                "bucketEncryption",
                "no aws:s3/bucketEncryption resource names this bucket",
                "add BucketEncryptionArgs::new(bucket.bucket()) (SSE-S3, or SSE-KMS with a key)",
            )],
            SECRET | TOPIC => {
                let field = if s.type_token == SECRET {
                    "kms_key_id"
                } else {
                    "kms_master_key_id"
                };
                match s.input(field) {
                    Some(Value::String(k)) if k.trim().is_empty() => vec![Violation::new(
                        field,
                        "the key is set to an empty string, which leaves the default",
                        "name a KMS key (its ARN, id or alias), or leave the field out",
                    )],
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }
}

/// SNS topics encrypted with a customer key (advisory: alarms cannot publish to a topic
/// under the AWS-managed `alias/aws/sns` key).
struct SnsTopicEncrypted;

impl Policy for SnsTopicEncrypted {
    fn id(&self) -> &str {
        "sns-topic-encrypted"
    }

    fn description(&self) -> &str {
        "SNS topics encrypt messages at rest with a customer KMS key"
    }

    fn level(&self) -> Level {
        Level::Advisory
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        if s.type_token == TOPIC && s.input("kms_master_key_id").is_none() {
            vec![Violation::new(
                "kms_master_key_id",
                "the topic stores messages unencrypted",
                "set kms_master_key_id to a customer key whose policy lets the publishers (cloudwatch.amazonaws.com for alarms) use it; the AWS-managed alias/aws/sns key refuses CloudWatch",
            )]
        } else {
            Vec::new()
        }
    }
}

/// No database instance reachable from the internet.
struct NoPublicDatabase;

impl Policy for NoPublicDatabase {
    fn id(&self) -> &str {
        "no-public-database"
    }

    fn description(&self) -> &str {
        "no database instance is publicly accessible"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        if s.type_token == INSTANCE && is_true(s.input("publicly_accessible")) {
            vec![Violation::new(
                "publicly_accessible",
                "the instance gets a public address",
                "set publicly_accessible(false) and reach it from inside the VPC",
            )]
        } else {
            Vec::new()
        }
    }
}

/// No ingress from anywhere to database or administration ports.
struct NoOpenAdminIngress;

impl Policy for NoOpenAdminIngress {
    fn id(&self) -> &str {
        "no-open-admin-ingress"
    }

    fn description(&self) -> &str {
        "no ingress from 0.0.0.0/0 or ::/0 to database or administration ports"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        if s.type_token != SECURITY_GROUP {
            return Vec::new();
        }
        let mut found = Vec::new();
        for (i, rule) in strings(s.input("ingress")).into_iter().enumerate() {
            let open = strings(rule.get("cidr_blocks"))
                .into_iter()
                .chain(strings(rule.get("ipv6_cidr_blocks")))
                .filter_map(Value::as_str)
                .find(|c| matches!(*c, "0.0.0.0/0" | "::/0"))
                .map(str::to_string);
            let Some(open) = open else { continue };
            let all = rule.get("protocol").and_then(Value::as_str) == Some("-1");
            let from = rule.get("from_port").and_then(Value::as_i64).unwrap_or(0);
            let to = rule.get("to_port").and_then(Value::as_i64).unwrap_or(65535);
            let exposed: Vec<String> = SENSITIVE_PORTS
                .iter()
                .filter(|(p, _)| all || (from..=to).contains(p))
                .map(|(p, name)| format!("{p} ({name})"))
                .collect();
            if !exposed.is_empty() {
                found.push(Violation::new(
                    format!("ingress[{i}]"),
                    format!("open to {open} on {}", exposed.join(", ")),
                    "allow the VPC's CIDR or a security group instead of the whole internet",
                ));
            }
        }
        found
    }
}

/// The Allow statements of the policy documents a resource carries, with their field.
fn allow_statements<'a>(s: &'a Subject<'a>) -> Vec<(String, &'a Value)> {
    if !matches!(s.type_token, IAM_POLICY | ROLE_POLICY) {
        return Vec::new();
    }
    strings(s.input("document.Statement"))
        .into_iter()
        .enumerate()
        .filter(|(_, st)| st.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .map(|(i, st)| (format!("document.Statement[{i}]"), st))
        .collect()
}

/// No `*` action in an IAM policy.
struct IamNoWildcardAction;

impl Policy for IamNoWildcardAction {
    fn id(&self) -> &str {
        "iam-no-wildcard-action"
    }

    fn description(&self) -> &str {
        "IAM policies allow no `*` action"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        allow_statements(s)
            .into_iter()
            .filter(|(_, st)| {
                strings(st.get("Action"))
                    .into_iter()
                    .any(|a| a.as_str().is_some_and(|a| a == "*" || a.ends_with(":*")))
            })
            .map(|(field, _)| {
                Violation::new(
                    format!("{field}.Action"),
                    "allows every action (`*`) of a service or of AWS",
                    "list the actions the code calls",
                )
            })
            .collect()
    }
}

/// A `*` resource only for actions without resource-level permissions.
struct IamWildcardResource;

impl Policy for IamWildcardResource {
    fn id(&self) -> &str {
        "iam-wildcard-resource"
    }

    fn description(&self) -> &str {
        "IAM policies grant `*` resources only to actions that have no resource-level permissions"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        let known = actions_without_resource_permissions();
        let mut found = Vec::new();
        for (field, st) in allow_statements(s) {
            let star = strings(st.get("Resource"))
                .into_iter()
                .any(|r| r.as_str() == Some("*"));
            if !star {
                continue;
            }
            let scoped: Vec<&str> = strings(st.get("Action"))
                .into_iter()
                .filter_map(Value::as_str)
                .filter(|a| !known.contains(&a.to_ascii_lowercase()))
                .collect();
            if !scoped.is_empty() {
                found.push(Violation::new(
                    format!("{field}.Resource"),
                    format!(
                        "`*` resource for {}, which can be limited to resources",
                        scoped.join(", ")
                    ),
                    "name the ARNs these actions act on (the pack's list of actions without resource-level permissions is providers/src/aws/checks/actions_without_resource_permissions.txt)",
                ));
            }
        }
        found
    }
}

/// Every bucket has a public access block with all four settings on.
struct S3PublicAccessBlocked;

impl Policy for S3PublicAccessBlocked {
    fn id(&self) -> &str {
        "s3-public-access-blocked"
    }

    fn description(&self) -> &str {
        "every S3 bucket blocks public access (all four settings)"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        if s.type_token != BUCKET {
            return Vec::new();
        }
        let blocks = companions(s, PUBLIC_ACCESS_BLOCK, "bucket");
        let complete = blocks.iter().any(|b| {
            [
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            ]
            .iter()
            .all(|k| is_true(b.inputs.get(*k)))
        });
        if complete {
            Vec::new()
        } else if blocks.is_empty() {
            vec![Violation::new(
                "bucketPublicAccessBlock",
                "no aws:s3/bucketPublicAccessBlock resource names this bucket",
                "add BucketPublicAccessBlockArgs::new(bucket.bucket()) (all four settings on)",
            )]
        } else {
            vec![Violation::new(
                "bucketPublicAccessBlock",
                format!("{} leaves a setting off", blocks[0].name),
                "turn on block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets",
            )]
        }
    }
}

/// Buckets that replicate, or are replicated to, have versioning enabled.
struct S3ReplicatedVersioning;

impl Policy for S3ReplicatedVersioning {
    fn id(&self) -> &str {
        "s3-replicated-versioning"
    }

    fn description(&self) -> &str {
        "buckets that replicate or receive replicas have versioning enabled"
    }

    fn check(&self, s: &Subject<'_>, _: &PolicyContext) -> Vec<Violation> {
        if s.type_token != REPLICATION {
            return Vec::new();
        }
        let mut ends: Vec<(String, &Value)> = Vec::new();
        if let Some(v) = s.input("bucket") {
            ends.push(("bucket".into(), v));
        }
        for (i, rule) in strings(s.input("rules")).into_iter().enumerate() {
            if let Some(v) = rule.get("destination_bucket") {
                ends.push((format!("rules[{i}].destination_bucket"), v));
            }
        }
        let mut found = Vec::new();
        for (field, value) in ends {
            let versioned = source_of(value, &s.dependencies).is_some_and(|n| {
                n.type_token == VERSIONING
                    && n.inputs.get("status").and_then(Value::as_str) == Some("Enabled")
            });
            if !versioned {
                found.push(Violation::new(
                    field,
                    "does not come from an enabled aws:s3/bucketVersioning of this stack",
                    "refer to the bucket through its BucketVersioningArgs handle (status Enabled)",
                ));
            }
        }
        found
    }
}

/// In production, Aurora clusters keep backups for at least 7 days.
struct ProductionBackups;

impl Policy for ProductionBackups {
    fn id(&self) -> &str {
        "production-backups"
    }

    fn description(&self) -> &str {
        "in production, Aurora clusters keep backups for at least 7 days"
    }

    fn check(&self, s: &Subject<'_>, c: &PolicyContext) -> Vec<Violation> {
        if !c.production || s.type_token != CLUSTER {
            return Vec::new();
        }
        let days = s.input("backup_retention_period").and_then(Value::as_i64);
        match days {
            Some(d) if d >= 7 => Vec::new(),
            _ => vec![Violation::new(
                "backup_retention_period",
                format!(
                    "keeps backups for {} day(s)",
                    days.map_or("the default 1".to_string(), |d| d.to_string())
                ),
                "set backup_retention_period(7) or more",
            )],
        }
    }
}

/// In production, stateful resources cannot be deleted by accident.
struct ProductionDeletionProtection;

impl Policy for ProductionDeletionProtection {
    fn id(&self) -> &str {
        "production-deletion-protection"
    }

    fn description(&self) -> &str {
        "in production, stateful resources have deletion protection or the engine's `protect`"
    }

    fn check(&self, s: &Subject<'_>, c: &PolicyContext) -> Vec<Violation> {
        if !c.production || !STATEFUL_TYPES.contains(&s.type_token) || s.protect {
            return Vec::new();
        }
        if is_true(s.input("deletion_protection")) {
            return Vec::new();
        }
        vec![Violation::new(
            "protect",
            "can be deleted by a plan or by hand",
            "declare it with ResourceOptions::protect(true) (and deletion_protection(true) where the type has it)",
        )]
    }
}

/// In production, a Lambda function that reaches a database runs in a VPC.
struct ProductionLambdaInVpc;

impl Policy for ProductionLambdaInVpc {
    fn id(&self) -> &str {
        "production-lambda-in-vpc"
    }

    fn description(&self) -> &str {
        "in production, Lambda functions that reach a database run in a VPC"
    }

    fn check(&self, s: &Subject<'_>, c: &PolicyContext) -> Vec<Violation> {
        if !c.production || s.type_token != FUNCTION {
            return Vec::new();
        }
        let database = s
            .dependencies
            .iter()
            .find(|n| matches!(n.type_token, CLUSTER | INSTANCE | GLOBAL_CLUSTER));
        let in_vpc = !strings(s.input("subnet_ids")).is_empty();
        match database {
            Some(db) if !in_vpc => vec![Violation::new(
                "subnet_ids",
                format!("reaches the database {} from outside any VPC", db.name),
                "place it in the database's private subnets with .vpc(subnet_ids, security_group_ids)",
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs the policy `id` over `subject` and returns the violated fields.
    fn fields(id: &str, s: &Subject<'_>, production: bool) -> Vec<String> {
        let pack = pack();
        let policy = pack
            .iter()
            .find(|p| p.id() == id)
            .expect("policy in the pack");
        policy
            .check(s, &PolicyContext { production })
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    fn subject<'a>(name: &'a str, type_token: &'a str, inputs: &'a Value) -> Subject<'a> {
        Subject {
            name,
            type_token,
            inputs,
            provider: "aws",
            region: Some("us-east-1"),
            protect: false,
            dependencies: Vec::new(),
            dependents: Vec::new(),
        }
    }

    fn neighbour<'a>(name: &'a str, type_token: &'a str, inputs: &'a Value) -> Neighbour<'a> {
        Neighbour {
            name,
            type_token,
            inputs,
            region: Some("us-east-1"),
        }
    }

    fn marker(source: &str) -> Value {
        json!({"$unknown": source})
    }

    #[test]
    fn encrypted_at_rest_passes_an_encrypted_cluster_and_fails_a_plain_one() {
        let good = json!({"storage_encrypted": true});
        let bad = json!({"storage_encrypted": false});
        let unset = json!({});
        assert!(fields("encrypted-at-rest", &subject("db", CLUSTER, &good), false).is_empty());
        assert_eq!(
            fields("encrypted-at-rest", &subject("db", CLUSTER, &bad), false),
            ["storage_encrypted"]
        );
        assert_eq!(
            fields(
                "encrypted-at-rest",
                &subject("g", GLOBAL_CLUSTER, &unset),
                false
            ),
            ["storage_encrypted"]
        );
    }

    #[test]
    fn encrypted_at_rest_wants_an_encryption_resource_naming_the_bucket() {
        let bucket = json!({"bucket": "b"});
        let enc = json!({"bucket": marker("logs.bucket")});
        let other = json!({"bucket": marker("other.bucket")});
        let mut s = subject("logs", BUCKET, &bucket);
        assert_eq!(fields("encrypted-at-rest", &s, false), ["bucketEncryption"]);
        s.dependents = vec![neighbour("other-enc", ENCRYPTION, &other)];
        assert_eq!(fields("encrypted-at-rest", &s, false), ["bucketEncryption"]);
        s.dependents = vec![neighbour("logs-enc", ENCRYPTION, &enc)];
        assert!(fields("encrypted-at-rest", &s, false).is_empty());
    }

    #[test]
    fn encrypted_at_rest_refuses_an_empty_key_on_secrets_and_topics() {
        let good = json!({"kms_key_id": marker("key.arn")});
        let bad = json!({"kms_key_id": " "});
        let topic_bad = json!({"kms_master_key_id": ""});
        assert!(fields("encrypted-at-rest", &subject("s", SECRET, &good), false).is_empty());
        assert_eq!(
            fields("encrypted-at-rest", &subject("s", SECRET, &bad), false),
            ["kms_key_id"]
        );
        assert_eq!(
            fields("encrypted-at-rest", &subject("t", TOPIC, &topic_bad), false),
            ["kms_master_key_id"]
        );
    }

    #[test]
    fn sns_topic_encrypted_is_advisory_and_wants_a_key() {
        let pack = pack();
        let policy = pack
            .iter()
            .find(|p| p.id() == "sns-topic-encrypted")
            .unwrap();
        assert_eq!(policy.level(), Level::Advisory);
        let good = json!({"kms_master_key_id": marker("key.arn")});
        let bad = json!({"name": "alarms"});
        assert!(fields("sns-topic-encrypted", &subject("t", TOPIC, &good), false).is_empty());
        assert_eq!(
            fields("sns-topic-encrypted", &subject("t", TOPIC, &bad), false),
            ["kms_master_key_id"]
        );
    }

    #[test]
    fn no_public_database_fails_a_public_instance_only() {
        let good = json!({"publicly_accessible": false});
        let bad = json!({"publicly_accessible": true});
        assert!(fields("no-public-database", &subject("i", INSTANCE, &good), false).is_empty());
        assert_eq!(
            fields("no-public-database", &subject("i", INSTANCE, &bad), false),
            ["publicly_accessible"]
        );
    }

    #[test]
    fn no_open_admin_ingress_fails_world_open_database_and_admin_ports() {
        let good = json!({"ingress": [
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/16"]},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}
        ]});
        let bad = json!({"ingress": [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
            {"protocol": "tcp", "from_port": 5000, "to_port": 6000, "cidr_blocks": ["0.0.0.0/0"]},
            {"protocol": "-1", "from_port": 0, "to_port": 0, "ipv6_cidr_blocks": ["::/0"]}
        ]});
        let s = subject("sg", SECURITY_GROUP, &good);
        assert!(fields("no-open-admin-ingress", &s, false).is_empty());
        let s = subject("sg", SECURITY_GROUP, &bad);
        assert_eq!(
            fields("no-open-admin-ingress", &s, false),
            ["ingress[1]", "ingress[2]"]
        );
    }

    #[test]
    fn iam_no_wildcard_action_fails_star_and_service_star() {
        let good = json!({"document": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]},
            {"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}
        ]}});
        let bad = json!({"document": {"Statement": [
            {"Effect": "Allow", "Action": ["*"], "Resource": ["arn:aws:s3:::b"]},
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b"]}
        ]}});
        let s = subject("p", IAM_POLICY, &good);
        assert!(fields("iam-no-wildcard-action", &s, false).is_empty());
        let s = subject("p", ROLE_POLICY, &bad);
        assert_eq!(
            fields("iam-no-wildcard-action", &s, false),
            [
                "document.Statement[0].Action",
                "document.Statement[1].Action"
            ]
        );
    }

    #[test]
    fn iam_wildcard_resource_accepts_only_actions_without_resource_permissions() {
        let good = json!({"document": {"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricStatistics", "ec2:DescribeNetworkInterfaces"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [marker("bucket.arn")]}
        ]}});
        let bad = json!({"document": {"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricStatistics", "s3:GetObject"], "Resource": ["*"]}
        ]}});
        let s = subject("p", ROLE_POLICY, &good);
        assert!(fields("iam-wildcard-resource", &s, false).is_empty());
        let s = subject("p", ROLE_POLICY, &bad);
        assert_eq!(
            fields("iam-wildcard-resource", &s, false),
            ["document.Statement[0].Resource"]
        );
        assert!(actions_without_resource_permissions().contains("sts:getcalleridentity"));
    }

    #[test]
    fn s3_public_access_blocked_wants_all_four_settings() {
        let bucket = json!({"bucket": "b"});
        let full = json!({"bucket": marker("b.bucket"), "block_public_acls": true,
            "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true});
        let partial = json!({"bucket": marker("b.bucket"), "block_public_acls": true,
            "block_public_policy": false, "ignore_public_acls": true, "restrict_public_buckets": true});
        let mut s = subject("b", BUCKET, &bucket);
        assert_eq!(
            fields("s3-public-access-blocked", &s, false),
            ["bucketPublicAccessBlock"]
        );
        s.dependents = vec![neighbour("b-pab", PUBLIC_ACCESS_BLOCK, &partial)];
        assert_eq!(
            fields("s3-public-access-blocked", &s, false),
            ["bucketPublicAccessBlock"]
        );
        s.dependents = vec![neighbour("b-pab", PUBLIC_ACCESS_BLOCK, &full)];
        assert!(fields("s3-public-access-blocked", &s, false).is_empty());
    }

    #[test]
    fn s3_replicated_versioning_wants_both_ends_through_enabled_versioning() {
        let enabled = json!({"bucket": marker("src.bucket"), "status": "Enabled"});
        let dest_enabled = json!({"bucket": marker("dst.bucket"), "status": "Enabled"});
        let suspended = json!({"bucket": marker("dst.bucket"), "status": "Suspended"});
        let good = json!({"bucket": marker("src-v.bucket"),
            "rules": [{"destination_bucket": marker("dst-v.bucket_arn")}]});
        let bare = json!({"bucket": marker("src.bucket"),
            "rules": [{"destination_bucket": marker("dst-v.bucket_arn")}]});
        let plain = json!({"bucket": "payments"});
        let mut s = subject("r", REPLICATION, &good);
        s.dependencies = vec![
            neighbour("src-v", VERSIONING, &enabled),
            neighbour("dst-v", VERSIONING, &dest_enabled),
        ];
        assert!(fields("s3-replicated-versioning", &s, false).is_empty());
        s.dependencies[1] = neighbour("dst-v", VERSIONING, &suspended);
        assert_eq!(
            fields("s3-replicated-versioning", &s, false),
            ["rules[0].destination_bucket"]
        );
        let mut s = subject("r", REPLICATION, &bare);
        s.dependencies = vec![
            neighbour("src", BUCKET, &plain),
            neighbour("dst-v", VERSIONING, &dest_enabled),
        ];
        assert_eq!(fields("s3-replicated-versioning", &s, false), ["bucket"]);
    }

    #[test]
    fn production_backups_want_seven_days_in_production_only() {
        let good = json!({"backup_retention_period": 7});
        let short = json!({"backup_retention_period": 3});
        let unset = json!({});
        assert!(fields("production-backups", &subject("c", CLUSTER, &good), true).is_empty());
        assert!(fields("production-backups", &subject("c", CLUSTER, &unset), false).is_empty());
        assert_eq!(
            fields("production-backups", &subject("c", CLUSTER, &short), true),
            ["backup_retention_period"]
        );
        assert_eq!(
            fields("production-backups", &subject("c", CLUSTER, &unset), true),
            ["backup_retention_period"]
        );
    }

    #[test]
    fn production_deletion_protection_accepts_protect_or_the_service_flag() {
        let plain = json!({});
        let flagged = json!({"deletion_protection": true});
        let mut s = subject("k", KEY, &plain);
        assert!(fields("production-deletion-protection", &s, false).is_empty());
        assert_eq!(
            fields("production-deletion-protection", &s, true),
            ["protect"]
        );
        s.protect = true;
        assert!(fields("production-deletion-protection", &s, true).is_empty());
        let s = subject("c", CLUSTER, &flagged);
        assert!(fields("production-deletion-protection", &s, true).is_empty());
        let s = subject("vpc", "aws:ec2/vpc", &plain);
        assert!(fields("production-deletion-protection", &s, true).is_empty());
    }

    #[test]
    fn production_lambda_in_vpc_when_it_reaches_a_database() {
        let cluster = json!({"identifier": "db"});
        let outside = json!({"environment": {"DB": marker("db.endpoint")}});
        let inside = json!({"subnet_ids": [marker("subnet.id")]});
        let mut s = subject("fn", FUNCTION, &outside);
        assert!(fields("production-lambda-in-vpc", &s, true).is_empty());
        s.dependencies = vec![neighbour("db", CLUSTER, &cluster)];
        assert_eq!(fields("production-lambda-in-vpc", &s, true), ["subnet_ids"]);
        assert!(fields("production-lambda-in-vpc", &s, false).is_empty());
        let mut s = subject("fn", FUNCTION, &inside);
        s.dependencies = vec![neighbour("db", CLUSTER, &cluster)];
        assert!(fields("production-lambda-in-vpc", &s, true).is_empty());
    }
}

//! `aws:route53/record`: one record set of a hosted zone, simple (a TTL and values) or an
//! alias to another AWS name, optionally part of a failover pair.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget as SdkAliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, IntoProp,
    LookupRequest, Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{bare_zone_id, built, check_dns_name, keep_form, normalize_name, wait_in_sync};
use crate::aws::batch::{ReadBatch, ReadResult, failed_all, whole};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json};

const TYPE: &str = "aws:route53/record";

/// The record types Route 53 serves.
const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
    "SSHFP", "SVCB", "TLSA", "TXT",
];

/// The largest TTL Route 53 takes (2^31 - 1 seconds).
const MAX_TTL: i64 = 2_147_483_647;

/// The TTL of a simple record that does not set one.
const DEFAULT_TTL: i64 = 300;

/// The role of a record in a failover pair: Route 53 answers with the primary while its
/// health check passes, and with the secondary otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failover {
    /// Served while healthy.
    Primary,
    /// Served when the primary is unhealthy.
    Secondary,
}

impl Failover {
    /// The API's name for it, `PRIMARY` or `SECONDARY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Failover::Primary => "PRIMARY",
            Failover::Secondary => "SECONDARY",
        }
    }
}

/// Where an alias record points: an AWS name (load balancer, CloudFront distribution,
/// API Gateway domain, another record of the zone) and the hosted zone id that name
/// lives in.
#[derive(Debug, Clone)]
struct AliasTarget {
    name: Input<String>,
    zone_id: Input<String>,
    evaluate_target_health: Input<bool>,
}

/// Arguments of a record set.
#[derive(Debug, Clone)]
pub struct RecordArgs {
    zone_id: Input<String>,
    name: Input<String>,
    record_type: Input<String>,
    ttl: Option<Input<i64>>,
    records: Vec<Input<String>>,
    alias: Option<AliasTarget>,
    failover: Option<Failover>,
    set_identifier: Option<Input<String>>,
    health_check_id: Option<Input<String>>,
}

impl RecordArgs {
    /// A record set `name` (a full name in the zone, e.g. `api.payments.example.com`) of
    /// `record_type` (`A`, `AAAA`, `CNAME`, `TXT`, `MX`, ...) in the zone `zone_id`. Give it
    /// [`RecordArgs::records`] (with a TTL, 300 seconds unless set) or an
    /// [`RecordArgs::alias`].
    pub fn new(
        zone_id: impl Into<Input<String>>,
        name: impl Into<Input<String>>,
        record_type: impl Into<Input<String>>,
    ) -> Self {
        RecordArgs {
            zone_id: zone_id.into(),
            name: name.into(),
            record_type: record_type.into(),
            ttl: None,
            records: Vec::new(),
            alias: None,
            failover: None,
            set_identifier: None,
            health_check_id: None,
        }
    }

    /// Seconds resolvers may cache the answer (0 to 2147483647; simple records only).
    pub fn ttl(mut self, seconds: impl Into<Input<i64>>) -> Self {
        self.ttl = Some(seconds.into());
        self
    }

    /// The record's values (addresses, a host name, quoted texts, ...).
    pub fn records<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Input<String>>,
    {
        self.records.extend(values.into_iter().map(Into::into));
        self
    }

    /// Adds one value.
    pub fn record(mut self, value: impl Into<Input<String>>) -> Self {
        self.records.push(value.into());
        self
    }

    /// Makes this an alias of `target_dns_name` in the hosted zone `target_zone_id`
    /// (aliases take no TTL and no values). With `evaluate_target_health`, Route 53 treats
    /// the record as unhealthy when the target is.
    pub fn alias(
        mut self,
        target_dns_name: impl Into<Input<String>>,
        target_zone_id: impl Into<Input<String>>,
        evaluate_target_health: impl Into<Input<bool>>,
    ) -> Self {
        self.alias = Some(AliasTarget {
            name: target_dns_name.into(),
            zone_id: target_zone_id.into(),
            evaluate_target_health: evaluate_target_health.into(),
        });
        self
    }

    /// Makes this one side of a failover pair; `set_identifier` tells the two records of
    /// the same name and type apart (e.g. `primary`, `dr`).
    pub fn failover(mut self, role: Failover, set_identifier: impl Into<Input<String>>) -> Self {
        self.failover = Some(role);
        self.set_identifier = Some(set_identifier.into());
        self
    }

    /// The health check that decides whether Route 53 serves this record.
    pub fn health_check_id(mut self, id: impl Into<Input<String>>) -> Self {
        self.health_check_id = Some(id.into());
        self
    }

    /// The arguments as the provider sees them, with parts not known yet marked unknown.
    fn known_view(&self) -> Value {
        fn known<T: Serialize>(input: &Input<T>) -> Value {
            input
                .known()
                .map(to_json)
                .unwrap_or_else(|| json!({ "$unknown": "declared" }))
        }
        let opt = |input: &Option<Input<String>>| input.as_ref().map(known).unwrap_or(Value::Null);
        json!({
            "zone_id": known(&self.zone_id),
            "name": known(&self.name),
            "type": known(&self.record_type),
            "ttl": self.ttl_input().as_ref().map(known).unwrap_or(Value::Null),
            "records": self.records.iter().map(known).collect::<Vec<_>>(),
            "alias": self.alias.as_ref().map(|a| json!({
                "name": known(&a.name),
                "zone_id": known(&a.zone_id),
                "evaluate_target_health": known(&a.evaluate_target_health),
            })).unwrap_or(Value::Null),
            "failover": self.failover.map(|f| json!(f.as_str())).unwrap_or(Value::Null),
            "set_identifier": opt(&self.set_identifier),
            "health_check_id": opt(&self.health_check_id),
        })
    }

    /// The TTL to declare: the one set, or the default for a simple record.
    fn ttl_input(&self) -> Option<Input<i64>> {
        match (&self.ttl, &self.alias) {
            (Some(ttl), _) => Some(ttl.clone()),
            (None, None) => Some(Input::Value(DEFAULT_TTL)),
            (None, Some(_)) => None,
        }
    }
}

impl ResourceArgs for RecordArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(
            &[],
            &[
                "zone_id",
                "name",
                "type",
                "records",
                "alias",
                "health_check_id",
            ],
        )
    }

    type Handle = Record;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        let alias = match &self.alias {
            Some(a) => Props::new()
                .set("name", &a.name)
                .set("zone_id", &a.zone_id)
                .set("evaluate_target_health", &a.evaluate_target_health)
                .into_expr(),
            None => (&None::<Input<String>>).into_expr(),
        };
        Props::new()
            .set("zone_id", &self.zone_id)
            .set("name", &self.name)
            .set("type", &self.record_type)
            .set("ttl", &self.ttl_input())
            .set("records", &self.records)
            .set("alias", alias)
            .value("failover", &self.failover.map(Failover::as_str))
            .set("set_identifier", &self.set_identifier)
            .set("health_check_id", &self.health_check_id)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        for (field, message) in check_inputs(&self.known_view()) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared record set.
    Record {
        /// `{zone_id}_{name}_{type}` (and `_{set_identifier}` for failover records).
        id: String,
        /// The record's name, lower case, without the trailing dot.
        fqdn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct AliasInputs {
    name: String,
    zone_id: String,
    #[serde(default)]
    evaluate_target_health: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RecordInputs {
    zone_id: String,
    name: String,
    #[serde(rename = "type")]
    record_type: String,
    #[serde(default)]
    ttl: Option<i64>,
    #[serde(default)]
    records: Vec<String>,
    #[serde(default)]
    alias: Option<AliasInputs>,
    #[serde(default)]
    failover: Option<String>,
    #[serde(default)]
    set_identifier: Option<String>,
    #[serde(default)]
    health_check_id: Option<String>,
}

/// What a record exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordOutputs {
    /// The record's id.
    pub id: String,
    /// Its name, normalized.
    pub fqdn: String,
}

/// What identifies a record set in its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    zone_id: String,
    /// As declared (Route 53 compares names normalized).
    name: String,
    record_type: String,
    set_identifier: Option<String>,
}

impl Key {
    fn of(inputs: &RecordInputs) -> Key {
        Key {
            zone_id: bare_zone_id(&inputs.zone_id).to_string(),
            name: inputs.name.clone(),
            record_type: inputs.record_type.clone(),
            set_identifier: inputs.set_identifier.clone().filter(|s| !s.is_empty()),
        }
    }

    fn id(&self) -> String {
        let mut id = format!(
            "{}_{}_{}",
            self.zone_id,
            normalize_name(&self.name),
            self.record_type
        );
        if let Some(set) = &self.set_identifier {
            id.push('_');
            id.push_str(set);
        }
        id
    }

    /// Parses an id made by [`Key::id`]. Names are lower case and types upper case, so the
    /// first `_TYPE` followed by the end or `_` ends the name.
    fn parse(id: &str) -> Option<Key> {
        let (zone_id, rest) = id.split_once('_')?;
        for (at, _) in rest.match_indices('_') {
            let after = &rest[at + 1..];
            for t in RECORD_TYPES {
                let Some(tail) = after.strip_prefix(t) else {
                    continue;
                };
                let set_identifier = match tail {
                    "" => None,
                    t if t.starts_with('_') && t.len() > 1 => Some(t[1..].to_string()),
                    _ => continue,
                };
                return Some(Key {
                    zone_id: zone_id.to_string(),
                    name: rest[..at].to_string(),
                    record_type: (*t).to_string(),
                    set_identifier,
                });
            }
        }
        None
    }
}

fn check_type(value: &str) -> Result<(), String> {
    if RECORD_TYPES.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a Route 53 record type ({})",
            RECORD_TYPES.join(", ")
        ))
    }
}

/// Every invalid field of (partly) known record inputs; unknown parts are objects
/// (`{"$unknown": ..}`) and skipped.
fn check_inputs(inputs: &Value) -> Vec<(String, String)> {
    let mut invalid: Vec<(String, String)> = Vec::new();
    let mut add = |field: &str, message: String| invalid.push((field.to_string(), message));
    if inputs["zone_id"].as_str() == Some("") {
        add("zone_id", "the hosted zone id is empty".to_string());
    }
    if let Some(Err(e)) = inputs["name"].as_str().map(|n| check_dns_name(n, true)) {
        add("name", e);
    }
    let record_type = inputs["type"].as_str();
    if let Some(Err(e)) = record_type.map(check_type) {
        add("type", e);
    }
    let records = inputs["records"].as_array().cloned().unwrap_or_default();
    let alias = &inputs["alias"];
    let has_alias = alias.is_object() && alias.get("$unknown").is_none();
    match (records.is_empty(), has_alias) {
        (false, true) => add(
            "records",
            "a record is either simple (records and a ttl) or an alias, not both".to_string(),
        ),
        (true, false) => add(
            "records",
            "give the record's values (records) or an alias target".to_string(),
        ),
        _ => {}
    }
    if let Some(ttl) = inputs["ttl"].as_i64() {
        if has_alias {
            add(
                "ttl",
                "an alias record takes no ttl (it answers with the target's)".to_string(),
            );
        } else if !(0..=MAX_TTL).contains(&ttl) {
            add("ttl", format!("{ttl} is not within 0..={MAX_TTL} seconds"));
        }
    } else if inputs["ttl"].is_u64() || inputs["ttl"].is_f64() {
        add(
            "ttl",
            format!("{} is not within 0..={MAX_TTL} seconds", inputs["ttl"]),
        );
    }
    let values: Vec<&str> = records.iter().filter_map(Value::as_str).collect();
    for value in &values {
        let bad = match record_type {
            Some("A") if value.parse::<std::net::Ipv4Addr>().is_err() => {
                Some(format!("`{value}` is not an IPv4 address"))
            }
            Some("AAAA") if value.parse::<std::net::Ipv6Addr>().is_err() => {
                Some(format!("`{value}` is not an IPv6 address"))
            }
            _ if value.is_empty() => Some("a record value is empty".to_string()),
            _ => None,
        };
        if let Some(message) = bad {
            add("records", message);
        }
    }
    if record_type == Some("CNAME") && records.len() > 1 {
        add(
            "records",
            format!(
                "a CNAME record has exactly one value, not {}",
                records.len()
            ),
        );
    }
    if has_alias {
        if let Some(Err(e)) = alias["name"].as_str().map(|n| check_dns_name(n, false)) {
            add("alias", format!("target name: {e}"));
        }
        if alias["zone_id"].as_str() == Some("") {
            add("alias", "the target's hosted zone id is empty".to_string());
        }
    }
    let set_identifier = &inputs["set_identifier"];
    match inputs["failover"].as_str() {
        Some("PRIMARY" | "SECONDARY") => {
            if set_identifier.is_null() || set_identifier.as_str() == Some("") {
                add(
                    "set_identifier",
                    "a failover record needs a set identifier that tells it from the other \
                     record of its pair"
                        .to_string(),
                );
            }
        }
        Some(other) => add("failover", format!("`{other}` is not PRIMARY or SECONDARY")),
        None => {
            if set_identifier.as_str().is_some_and(|s| !s.is_empty()) {
                add(
                    "failover",
                    "a set identifier needs a routing policy (failover)".to_string(),
                );
            }
        }
    }
    if let Some(Err(e)) = set_identifier
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| crate::validate::length(s, 1, 128))
    {
        add("set_identifier", e);
    }
    invalid
}

/// The record set to send for `inputs`.
fn record_set(inputs: &RecordInputs) -> Result<ResourceRecordSet, ProviderError> {
    const OP: &str = "ChangeResourceRecordSets";
    let mut set = ResourceRecordSet::builder()
        .name(&inputs.name)
        .r#type(RrType::from(inputs.record_type.as_str()))
        .set_ttl(inputs.ttl.filter(|_| inputs.alias.is_none()))
        .set_set_identifier(inputs.set_identifier.clone().filter(|s| !s.is_empty()))
        .set_health_check_id(inputs.health_check_id.clone().filter(|s| !s.is_empty()))
        .set_failover(
            inputs
                .failover
                .as_deref()
                .map(ResourceRecordSetFailover::from),
        );
    match &inputs.alias {
        Some(alias) => {
            set = set.alias_target(built(
                SdkAliasTarget::builder()
                    .dns_name(&alias.name)
                    .hosted_zone_id(bare_zone_id(&alias.zone_id))
                    .evaluate_target_health(alias.evaluate_target_health)
                    .build(),
                OP,
            )?);
        }
        None => {
            for value in &inputs.records {
                set = set
                    .resource_records(built(ResourceRecord::builder().value(value).build(), OP)?);
            }
        }
    }
    built(set.build(), OP)
}

/// The inputs a found record set stands for, in the spelling of `recorded` where it means
/// the same.
fn inputs_of(key: &Key, set: &ResourceRecordSet, recorded: Option<&RecordInputs>) -> RecordInputs {
    let values: Vec<String> = set
        .resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    let records = match recorded {
        // Route 53 may answer with the values in another order.
        Some(r) if sorted(&r.records) == sorted(&values) => r.records.clone(),
        _ => values,
    };
    let alias = set.alias_target().map(|a| AliasInputs {
        name: keep_form(
            recorded
                .and_then(|r| r.alias.as_ref())
                .map(|x| x.name.as_str()),
            a.dns_name(),
        ),
        zone_id: a.hosted_zone_id().to_string(),
        evaluate_target_health: a.evaluate_target_health(),
    });
    RecordInputs {
        zone_id: recorded
            .map(|r| r.zone_id.clone())
            .unwrap_or_else(|| key.zone_id.clone()),
        name: keep_form(recorded.map(|r| r.name.as_str()), set.name()),
        record_type: set.r#type().as_str().to_string(),
        ttl: set.ttl(),
        records,
        alias,
        failover: set.failover().map(|f| f.as_str().to_string()),
        set_identifier: set.set_identifier().map(str::to_string),
        health_check_id: set.health_check_id().map(str::to_string),
    }
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut v = values.to_vec();
    v.sort();
    v
}

/// Whether two record inputs describe the same record set (names and zone ids compared
/// as Route 53 does, values in any order).
fn same_record(a: &RecordInputs, b: &RecordInputs) -> bool {
    let canon = |r: &RecordInputs| {
        (
            bare_zone_id(&r.zone_id).to_string(),
            normalize_name(&r.name),
            r.record_type.clone(),
            r.ttl.filter(|_| r.alias.is_none()),
            sorted(&r.records),
            r.alias.as_ref().map(|a| {
                (
                    normalize_name(&a.name),
                    bare_zone_id(&a.zone_id).to_string(),
                    a.evaluate_target_health,
                )
            }),
            r.failover.clone(),
            r.set_identifier.clone().filter(|s| !s.is_empty()),
            r.health_check_id.clone().filter(|s| !s.is_empty()),
        )
    };
    canon(a) == canon(b)
}

/// The record set `key` names, or `None` when it (or its zone) is gone.
async fn find_record(aws: &Aws, key: &Key) -> Result<Option<ResourceRecordSet>, ProviderError> {
    let client = aws.route53().await;
    let wanted = normalize_name(&key.name);
    let mut start_name = key.name.clone();
    let mut start_type = RrType::from(key.record_type.as_str());
    let mut start_identifier: Option<String> = None;
    loop {
        let page = none_if_not_found(
            client
                .list_resource_record_sets()
                .hosted_zone_id(&key.zone_id)
                .start_record_name(&start_name)
                .start_record_type(start_type.clone())
                .set_start_record_identifier(start_identifier.clone())
                .send()
                .await
                .op("ListResourceRecordSets"),
        )?;
        let Some(page) = page else {
            return Ok(None);
        };
        for set in page.resource_record_sets() {
            if normalize_name(set.name()) != wanted || set.r#type().as_str() != key.record_type {
                // Listed in name and type order: past the wanted name and type.
                return Ok(None);
            }
            if set.set_identifier() == key.set_identifier.as_deref() {
                return Ok(Some(set.clone()));
            }
        }
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind))
                if normalize_name(name) == wanted && kind.as_str() == key.record_type =>
            {
                start_name = name.to_string();
                start_type = kind.clone();
                start_identifier = page.next_record_identifier().map(str::to_string);
            }
            _ => return Ok(None),
        }
    }
}

/// The record sets of `zone`, for a refresh batch: at most `pages` pages of 300 (a set
/// not listed is read on its own); none when the zone is gone.
async fn list_zone(
    aws: &Aws,
    zone: &str,
    pages: usize,
) -> Result<Vec<ResourceRecordSet>, ProviderError> {
    let client = aws.route53().await;
    let mut sets = Vec::new();
    let mut start: Option<(String, RrType, Option<String>)> = None;
    for _ in 0..pages.max(1) {
        let mut call = client
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .max_items(300);
        if let Some((name, kind, identifier)) = start.take() {
            call = call
                .start_record_name(name)
                .start_record_type(kind)
                .set_start_record_identifier(identifier);
        }
        let Some(page) = none_if_not_found(call.send().await.op("ListResourceRecordSets"))? else {
            break;
        };
        sets.extend(page.resource_record_sets().iter().cloned());
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) => {
                let identifier = page.next_record_identifier().map(str::to_string);
                start = Some((name.to_string(), kind.clone(), identifier));
            }
            _ => break,
        }
    }
    Ok(sets)
}

/// Sends one change batch and waits until it is in sync.
async fn change(
    aws: &Aws,
    zone_id: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
    timeout: Option<Duration>,
) -> Result<(), ProviderError> {
    const OP: &str = "ChangeResourceRecordSets";
    let changes = changes
        .into_iter()
        .map(|(action, set)| {
            built(
                Change::builder()
                    .action(action)
                    .resource_record_set(set)
                    .build(),
                OP,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = aws
        .route53()
        .await
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(built(
            ChangeBatch::builder().set_changes(Some(changes)).build(),
            OP,
        )?)
        .send()
        .await
        .op(OP)?;
    wait_in_sync(aws, out.change_info(), timeout).await
}

fn outputs_of(key: &Key) -> Value {
    to_json(&RecordOutputs {
        id: key.id(),
        fqdn: normalize_name(&key.name),
    })
}

fn already_exists(key: &Key) -> ProviderError {
    ProviderError::new(
        ErrorKind::Service,
        "ChangeResourceRecordSets",
        format!(
            "a {} record `{}`{} already exists in hosted zone {} with other values; \
             import it or remove it first",
            key.record_type,
            normalize_name(&key.name),
            key.set_identifier
                .as_deref()
                .map(|s| format!(" (set `{s}`)"))
                .unwrap_or_default(),
            key.zone_id
        ),
    )
}

/// The key of a recorded resource: from its inputs when they are there, else its id.
fn key_for(id: &str, inputs: &Value) -> Option<(Key, Option<RecordInputs>)> {
    match decode::<RecordInputs>(inputs) {
        Ok(recorded) => Some((Key::of(&recorded), Some(recorded))),
        Err(_) => Key::parse(id).map(|k| (k, None)),
    }
}

pub(super) struct RecordImpl;

#[async_trait]
impl ResourceImpl for RecordImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["zone_id", "name", "type", "set_identifier"]
    }

    fn delete_before_replace(&self) -> bool {
        // A failover pair allows one record per role, so a record with a new set
        // identifier can only take over after the old one is gone; and a name that
        // changed only in spelling (case, trailing dot) is the very same record set,
        // which create-then-delete would adopt and then delete.
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        check_inputs(inputs)
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: RecordInputs = decode(&req.inputs)?;
        let key = Key::of(&inputs);
        let adopt = |found: Option<ResourceRecordSet>| -> Result<bool, ProviderError> {
            match found {
                None => Ok(false),
                Some(set) if same_record(&inputs_of(&key, &set, Some(&inputs)), &inputs) => {
                    Ok(true)
                }
                Some(_) => Err(already_exists(&key)),
            }
        };
        // A record with exactly these values (a retry after a lost answer, or a killed
        // run) makes the create fail with "already exists", and is then adopted.
        {
            let result = change(
                aws,
                &key.zone_id,
                vec![(ChangeAction::Create, record_set(&inputs)?)],
                req.timeout,
            )
            .await;
            match result {
                Ok(()) => {}
                Err(e)
                    if e.code.as_deref() == Some("InvalidChangeBatch")
                        && e.message.contains("already exists") =>
                {
                    if !adopt(find_record(aws, &key).await?)? {
                        return Err(e);
                    }
                }
                Err(mut e) if e.kind == ErrorKind::Timeout => {
                    // Made, but not yet served everywhere: recorded (tainted), not leaked.
                    e.created = Some(CreateResponse {
                        id: key.id(),
                        outputs: outputs_of(&key),
                    });
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(CreateResponse {
            id: key.id(),
            outputs: outputs_of(&key),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((key, recorded)) = key_for(&req.id, &req.inputs) else {
            return Ok(None);
        };
        let found_record = find_record(aws, &key)
            .await?
            .map(|set| (inputs_of(&key, &set, recorded.as_ref()), outputs_of(&key)));
        Ok(found(&req.id, found_record))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let keys: Vec<Option<(Key, Option<RecordInputs>)>> =
            reqs.iter().map(|r| key_for(&r.id, &r.inputs)).collect();
        let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
        for (key, _) in keys.iter().flatten() {
            *wanted.entry(key.zone_id.as_str()).or_default() += 1;
        }
        let mut listed = BTreeMap::new();
        for (zone, count) in wanted {
            let key = format!("route53:records:{zone}");
            // A page holds up to 300 sets: listing a zone costs no more pages than reading
            // its wanted records one by one would cost calls. Route 53 is global: one
            // listing serves every region's provider of the refresh.
            let sets = batch
                .shared_global(&key, || list_zone(aws, zone, count))
                .await;
            let sets = match sets {
                Ok(sets) => sets,
                Err(e) => return failed_all(&reqs, &e),
            };
            for (r, (key, recorded)) in reqs
                .iter()
                .zip(&keys)
                .filter_map(|(r, k)| Some((r, k.as_ref()?)))
            {
                if key.zone_id != zone {
                    continue;
                }
                let wanted = normalize_name(&key.name);
                let set = sets.iter().find(|s| {
                    normalize_name(s.name()) == wanted
                        && s.r#type().as_str() == key.record_type
                        && s.set_identifier() == key.set_identifier.as_deref()
                });
                if let Some(set) = set {
                    let pair = (inputs_of(key, set, recorded.as_ref()), outputs_of(key));
                    listed.insert(r.id.clone(), pair);
                }
            }
        }
        batch
            .pick(reqs, Ok(Arc::new(listed)), whole, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: RecordInputs = decode(&req.old_inputs)?;
        let new: RecordInputs = decode(&req.new_inputs)?;
        let key = Key::of(&new);
        let current = find_record(aws, &Key::of(&old)).await?;
        let changes = match current {
            // Route 53 cannot turn a simple record into an alias (or back) in place: one
            // atomic batch deletes the old form and creates the new one.
            Some(set) if set.alias_target().is_some() != new.alias.is_some() => vec![
                (ChangeAction::Delete, set),
                (ChangeAction::Create, record_set(&new)?),
            ],
            _ => vec![(ChangeAction::Upsert, record_set(&new)?)],
        };
        change(aws, &key.zone_id, changes, req.timeout).await?;
        Ok(UpdateResponse {
            outputs: outputs_of(&key),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((key, _)) = key_for(&req.id, &req.inputs) else {
            return Ok(());
        };
        // Route 53 deletes a record set only when given its current values exactly.
        let Some(set) = find_record(aws, &key).await? else {
            return Ok(());
        };
        match change(
            aws,
            &key.zone_id,
            vec![(ChangeAction::Delete, set)],
            req.timeout,
        )
        .await
        {
            Err(e)
                if e.code.as_deref() == Some("InvalidChangeBatch")
                    && e.message.contains("not found") =>
            {
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        // Records carry no tags: the record is the one at this name and type, when it
        // holds the values the interrupted create was sending.
        let Ok(inputs) = decode::<RecordInputs>(&req.inputs) else {
            return Ok(None);
        };
        let key = Key::of(&inputs);
        let Some(set) = find_record(aws, &key).await? else {
            return Ok(None);
        };
        let now = inputs_of(&key, &set, Some(&inputs));
        if !same_record(&now, &inputs) {
            return Ok(None);
        }
        Ok(found(&key.id(), Some((now, outputs_of(&key)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple() -> Value {
        json!({"zone_id": "Z1", "name": "api.example.com", "type": "A", "ttl": 60,
               "records": ["10.0.0.1"], "alias": null, "failover": null,
               "set_identifier": null, "health_check_id": null})
    }

    #[test]
    fn ids_round_trip() {
        for key in [
            Key {
                zone_id: "Z1".into(),
                name: "_acme.api_x.example.com".into(),
                record_type: "CNAME".into(),
                set_identifier: None,
            },
            Key {
                zone_id: "Z1".into(),
                name: "api.example.com".into(),
                record_type: "A".into(),
                set_identifier: Some("primary_A".into()),
            },
        ] {
            assert_eq!(Key::parse(&key.id()), Some(key.clone()), "{}", key.id());
        }
        assert_eq!(Key::parse("nonsense"), None);
    }

    #[test]
    fn simple_and_alias_records_are_checked() {
        assert!(check_inputs(&simple()).is_empty());
        let mut both = simple();
        both["alias"] =
            json!({"name": "lb.example.com", "zone_id": "Z2", "evaluate_target_health": true});
        let fields: Vec<String> = check_inputs(&both).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["records", "ttl"]);
        let mut neither = simple();
        neither["records"] = json!([]);
        assert_eq!(check_inputs(&neither)[0].0, "records");
        let mut bad = simple();
        bad["records"] = json!(["10.0.0.300"]);
        bad["ttl"] = json!(-1);
        bad["type"] = json!("AXFR");
        let fields: Vec<String> = check_inputs(&bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["type", "ttl"],
            "an unknown type skips value checks"
        );
        bad["type"] = json!("A");
        let fields: Vec<String> = check_inputs(&bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["ttl", "records"]);
    }

    #[test]
    fn failover_records_need_a_set_identifier() {
        let mut f = simple();
        f["failover"] = json!("PRIMARY");
        assert_eq!(check_inputs(&f)[0].0, "set_identifier");
        f["set_identifier"] = json!("primary");
        assert!(check_inputs(&f).is_empty());
        f["failover"] = Value::Null;
        assert_eq!(check_inputs(&f)[0].0, "failover");
        let mut unknown = simple();
        unknown["records"] = json!([{"$unknown": "eip.public_ip"}]);
        assert!(check_inputs(&unknown).is_empty());
    }

    #[test]
    fn declarations_are_checked_on_what_is_known() {
        let mut errors = FieldErrors::default();
        RecordArgs::new("Z1", "api.example.com", "A")
            .records(["10.0.0.1"])
            .alias("lb.example.com", "Z2", true)
            .validate(&mut errors);
        RecordArgs::new("Z1", "api.example.com", "A")
            .records(["10.0.0.1"])
            .failover(Failover::Secondary, "")
            .validate(&mut errors);
        let text = format!("{errors:?}");
        assert!(
            text.contains("not both") && text.contains("set identifier"),
            "{text}"
        );
        let mut ok = FieldErrors::default();
        RecordArgs::new("Z1", "api.example.com", "A")
            .alias(
                "lb.example.com",
                iac_dsl::Output::<String>::field("lb", "zone_id"),
                true,
            )
            .validate(&mut ok);
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn same_record_ignores_spelling_and_order() {
        let a: RecordInputs = serde_json::from_value(simple()).unwrap();
        let mut b = a.clone();
        b.name = "API.example.com.".into();
        b.zone_id = "/hostedzone/Z1".into();
        assert!(same_record(&a, &b));
        b.records = vec!["10.0.0.2".into()];
        assert!(!same_record(&a, &b));
    }
}

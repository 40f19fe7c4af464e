//! `aws:route53/zone`: a public hosted zone.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecordSet, RrType, TagResourceType,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
    Value,
};
use serde::{Deserialize, Serialize};

use super::{
    bare_zone_id, built, caller_reference, change_tags, check_dns_name, keep_form, normalize_name,
    route53_once, tags_of, wait_in_sync,
};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, create_once, decode, found, to_json};

const TYPE: &str = "aws:route53/zone";

/// Arguments of a public hosted zone.
#[derive(Debug, Clone)]
pub struct HostedZoneArgs {
    name: Input<String>,
    comment: Input<String>,
    force_destroy: bool,
    tags: BTreeMap<String, Input<String>>,
}

impl HostedZoneArgs {
    /// A public hosted zone for the domain `name` (e.g. `payments.example.com`).
    pub fn new(name: impl Into<Input<String>>) -> Self {
        HostedZoneArgs {
            name: name.into(),
            comment: Input::Value(String::new()),
            force_destroy: false,
            tags: BTreeMap::new(),
        }
    }

    /// A comment shown with the zone (at most 256 characters).
    pub fn comment(mut self, text: impl Into<Input<String>>) -> Self {
        self.comment = text.into();
        self
    }

    /// Deletes every record of the zone (except its own SOA and NS records) when the zone
    /// is deleted. Without it, deleting a zone that still has records fails and names it.
    pub fn force_destroy(mut self, on: bool) -> Self {
        self.force_destroy = on;
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn check_zone_name(name: &str) -> Result<(), String> {
    check_dns_name(name, false)
}

fn check_comment(comment: &str) -> Result<(), String> {
    crate::validate::length(comment, 0, 256)
}

impl ResourceArgs for HostedZoneArgs {
    type Handle = HostedZone;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("comment", &self.comment)
            .value("force_destroy", &self.force_destroy)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_zone_name(n));
        errors.check("comment", &self.comment, |c| check_comment(c));
    }
}

handle! {
    /// A declared hosted zone.
    HostedZone {
        /// The zone id without the `/hostedzone/` prefix (also the resource's id).
        zone_id: String,
        /// The zone's domain name, lower case, without the trailing dot.
        name: String,
        /// The name servers to delegate the domain to.
        name_servers: Vec<String>,
        /// The zone's ARN.
        arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ZoneInputs {
    name: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    force_destroy: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a hosted zone exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostedZoneOutputs {
    /// The zone id without prefix.
    pub zone_id: String,
    /// The domain name, normalized.
    pub name: String,
    /// The delegation name servers.
    pub name_servers: Vec<String>,
    /// The ARN, `arn:aws:route53:::hostedzone/<id>`.
    pub arn: String,
}

pub(super) struct ZoneImpl;

#[async_trait]
impl ResourceImpl for ZoneImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(Err(e)) = inputs["name"].as_str().map(check_zone_name) {
            invalid.push(("name".to_string(), e));
        }
        if let Some(Err(e)) = inputs["comment"].as_str().map(check_comment) {
            invalid.push(("comment".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: ZoneInputs = decode(&req.inputs)?;
        let reference = caller_reference(&req.token);
        let once = route53_once(aws).await;
        // CreateHostedZone is not idempotent everywhere (a repeated reference is refused,
        // and emulators make a second zone): after a lost answer, look for the zone made
        // with this reference before trying again.
        let id = create_once(
            || async {
                let mut call = once
                    .create_hosted_zone()
                    .name(&inputs.name)
                    .caller_reference(&reference);
                if !inputs.comment.is_empty() {
                    call = call.hosted_zone_config(
                        HostedZoneConfig::builder().comment(&inputs.comment).build(),
                    );
                }
                match call.send().await.op("CreateHostedZone") {
                    Ok(out) => Ok(out
                        .hosted_zone()
                        .map(|z| bare_zone_id(z.id()).to_string())
                        .unwrap_or_default()),
                    Err(e) if e.code.as_deref() == Some("HostedZoneAlreadyExists") => {
                        find_by_reference(aws, &inputs.name, &reference)
                            .await?
                            .ok_or(e)
                    }
                    Err(e) => Err(e),
                }
            },
            || find_by_reference(aws, &inputs.name, &reference),
        )
        .await?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let tagged = change_tags(
            aws,
            TagResourceType::Hostedzone,
            &id,
            &BTreeMap::new(),
            &tags,
        )
        .await;
        let described = match tagged {
            Ok(()) => describe(aws, &id, None).await,
            Err(e) => Err(e),
        };
        match described {
            Ok(Some((_, outputs))) => {
                if !outputs.name_servers.is_empty() {
                    // Certificates validated by DNS in this zone are issued only once the
                    // domain resolves through it: the user must delegate it now.
                    iac_dsl::notice(format!(
                        "hosted zone {} ({id}) created; delegate the domain to its name servers at your registrar (or parent zone) now, since DNS-validated certificates are issued only once it resolves through them: {}",
                        outputs.name,
                        outputs.name_servers.join(" ")
                    ));
                }
                Ok(CreateResponse {
                    id,
                    outputs: to_json(&outputs),
                })
            }
            Ok(None) => Err(crate::aws::vanished("GetHostedZone", "hosted zone", &id)),
            // The zone exists: hand it to the engine (tainted) rather than leak it.
            Err(mut e) => {
                e.created = Some(CreateResponse {
                    id: id.clone(),
                    outputs: to_json(&HostedZoneOutputs {
                        zone_id: id.clone(),
                        name: normalize_name(&inputs.name),
                        name_servers: Vec::new(),
                        arn: zone_arn(&id),
                    }),
                });
                Err(e)
            }
        }
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let recorded = decode::<ZoneInputs>(&req.inputs).ok();
        Ok(found(
            &req.id,
            describe(aws, &req.id, recorded.as_ref()).await?,
        ))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: ZoneInputs = decode(&req.old_inputs)?;
        let new: ZoneInputs = decode(&req.new_inputs)?;
        if old.comment != new.comment {
            aws.route53()
                .await
                .update_hosted_zone_comment()
                .id(&req.id)
                .comment(&new.comment)
                .send()
                .await
                .op("UpdateHostedZoneComment")?;
        }
        if old.tags != new.tags {
            let before = aws.tags_for(&req.ctx, &old.tags, None);
            let after = aws.tags_for(&req.ctx, &new.tags, None);
            change_tags(aws, TagResourceType::Hostedzone, &req.id, &before, &after).await?;
        }
        // `force_destroy` only changes what delete does.
        let outputs = match describe(aws, &req.id, Some(&new)).await? {
            Some((_, outputs)) => to_json(&outputs),
            None => req.old_outputs,
        };
        Ok(UpdateResponse { outputs })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let force_destroy = req.inputs["force_destroy"].as_bool().unwrap_or(false);
        if force_destroy && !empty_zone(aws, &req.id, req.timeout).await? {
            return Ok(());
        }
        let result = aws
            .route53()
            .await
            .delete_hosted_zone()
            .id(&req.id)
            .send()
            .await
            .op("DeleteHostedZone");
        match result {
            Err(e) if e.code.as_deref() == Some("HostedZoneNotEmpty") => Err(ProviderError::new(
                ErrorKind::Service,
                "DeleteHostedZone",
                format!(
                    "hosted zone {} still has records other than its SOA and NS records; \
                     delete them first or set force_destroy",
                    req.id
                ),
            )
            .with_code("HostedZoneNotEmpty")),
            other => none_if_not_found(other).map(|_| ()),
        }
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        let Some(id) = find_by_reference(aws, name, &caller_reference(&req.token)).await? else {
            return Ok(None);
        };
        let recorded = decode::<ZoneInputs>(&req.inputs).ok();
        Ok(found(&id, describe(aws, &id, recorded.as_ref()).await?))
    }
}

fn zone_arn(id: &str) -> String {
    format!("arn:aws:route53:::hostedzone/{id}")
}

/// The zone named `name` that was created with `reference`, among the account's zones
/// of that name (ListHostedZonesByName lists them first, in name order).
async fn find_by_reference(
    aws: &Aws,
    name: &str,
    reference: &str,
) -> Result<Option<String>, ProviderError> {
    let client = aws.route53().await;
    let wanted = normalize_name(name);
    let mut dns_name = Some(wanted.clone());
    let mut zone_id: Option<String> = None;
    loop {
        let page = client
            .list_hosted_zones_by_name()
            .set_dns_name(dns_name)
            .set_hosted_zone_id(zone_id)
            .send()
            .await
            .op("ListHostedZonesByName")?;
        let mut past = false;
        for zone in page.hosted_zones() {
            if normalize_name(zone.name()) != wanted {
                past = true;
                continue;
            }
            if zone.caller_reference() == reference {
                return Ok(Some(bare_zone_id(zone.id()).to_string()));
            }
        }
        if past || !page.is_truncated() {
            return Ok(None);
        }
        dns_name = page.next_dns_name().map(str::to_string);
        zone_id = page.next_hosted_zone_id().map(str::to_string);
        if dns_name.is_none() {
            return Ok(None);
        }
    }
}

async fn describe(
    aws: &Aws,
    id: &str,
    recorded: Option<&ZoneInputs>,
) -> Result<Option<(ZoneInputs, HostedZoneOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.route53()
            .await
            .get_hosted_zone()
            .id(id)
            .send()
            .await
            .op("GetHostedZone"),
    )?;
    let Some(out) = out else {
        return Ok(None);
    };
    let Some(zone) = out.hosted_zone() else {
        return Ok(None);
    };
    let zone_id = bare_zone_id(zone.id()).to_string();
    let tags = tags_of(aws, TagResourceType::Hostedzone, &zone_id).await?;
    let name_servers = out
        .delegation_set()
        .map(|d| d.name_servers().to_vec())
        .unwrap_or_default();
    Ok(Some((
        ZoneInputs {
            name: keep_form(recorded.map(|r| r.name.as_str()), zone.name()),
            comment: zone
                .config()
                .and_then(|c| c.comment())
                .unwrap_or_default()
                .to_string(),
            force_destroy: recorded.is_some_and(|r| r.force_destroy),
            tags: aws.own_tags(tags),
        },
        HostedZoneOutputs {
            arn: zone_arn(&zone_id),
            zone_id,
            name: normalize_name(zone.name()),
            name_servers,
        },
    )))
}

/// Deletes every record of the zone except its apex SOA and NS records. `false` when the
/// zone is already gone.
async fn empty_zone(
    aws: &Aws,
    id: &str,
    timeout: Option<std::time::Duration>,
) -> Result<bool, ProviderError> {
    let client = aws.route53().await;
    let Some(zone) = none_if_not_found(
        client
            .get_hosted_zone()
            .id(id)
            .send()
            .await
            .op("GetHostedZone"),
    )?
    else {
        return Ok(false);
    };
    let apex = zone
        .hosted_zone()
        .map(|z| normalize_name(z.name()))
        .unwrap_or_default();
    let mut doomed: Vec<ResourceRecordSet> = Vec::new();
    let mut start: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut call = client.list_resource_record_sets().hosted_zone_id(id);
        if let Some((name, kind, identifier)) = start.take() {
            call = call
                .start_record_name(name)
                .start_record_type(kind)
                .set_start_record_identifier(identifier);
        }
        let page = none_if_not_found(call.send().await.op("ListResourceRecordSets"))?;
        let Some(page) = page else {
            return Ok(false);
        };
        for set in page.resource_record_sets() {
            let at_apex = normalize_name(set.name()) == apex;
            if at_apex && matches!(set.r#type(), RrType::Soa | RrType::Ns) {
                continue;
            }
            doomed.push(set.clone());
        }
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) => {
                start = Some((
                    name.to_string(),
                    kind.clone(),
                    page.next_record_identifier().map(str::to_string),
                ));
            }
            _ => break,
        }
    }
    for chunk in doomed.chunks(100) {
        let changes = chunk
            .iter()
            .map(|set| {
                built(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(set.clone())
                        .build(),
                    "ChangeResourceRecordSets",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .change_resource_record_sets()
            .hosted_zone_id(id)
            .change_batch(built(
                ChangeBatch::builder().set_changes(Some(changes)).build(),
                "ChangeResourceRecordSets",
            )?)
            .send()
            .await
            .op("ChangeResourceRecordSets")?;
        wait_in_sync(aws, out.change_info(), timeout).await?;
    }
    Ok(true)
}

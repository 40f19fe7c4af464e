//! `aws:ec2/securityGroup`: a security group with its ingress and egress rules.
//!
//! Rules are managed as a set of single permissions (protocol, ports, one source,
//! description): an update revokes what went away and authorizes what is new, so a rule
//! change never replaces the group. Like Terraform, the group's egress is exactly what is
//! declared: AWS's default allow-all egress rule is removed unless declared.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::{
    Kind, Made, create_tagged, filter, lookup_tagged, read_by_filter, tag_map, tag_spec,
    update_tags,
};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{
    Same, create_or_adopt, done_if_duplicate, done_if_not_found, existing_by_tags,
    is_already_exists, is_not_found,
};
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};
use crate::cidr;

const TYPE: &str = "aws:ec2/securityGroup";

/// One rule: a protocol and port range from (ingress) or to (egress) CIDR blocks and
/// other security groups.
#[derive(Debug, Clone)]
pub struct SecurityGroupRule {
    protocol: String,
    from_port: i32,
    to_port: i32,
    cidr_blocks: Vec<Input<String>>,
    security_groups: Vec<Input<String>>,
    description: Option<Input<String>>,
}

impl SecurityGroupRule {
    /// TCP on one port.
    pub fn tcp(port: i32) -> Self {
        Self::ports("tcp", port, port)
    }

    /// `protocol` (`tcp`, `udp` or `icmp`) on the ports `from..=to`.
    pub fn ports(protocol: &str, from: i32, to: i32) -> Self {
        SecurityGroupRule {
            protocol: protocol.to_string(),
            from_port: from,
            to_port: to,
            cidr_blocks: Vec::new(),
            security_groups: Vec::new(),
            description: None,
        }
    }

    /// Every protocol and port.
    pub fn all_traffic() -> Self {
        Self::ports("-1", 0, 0)
    }

    /// Allows the CIDR block `block`.
    pub fn cidr_block(mut self, block: impl Into<Input<String>>) -> Self {
        self.cidr_blocks.push(block.into());
        self
    }

    /// Allows members of the security group `group_id`.
    pub fn security_group(mut self, group_id: impl Into<Input<String>>) -> Self {
        self.security_groups.push(group_id.into());
        self
    }

    /// Says what the rule is for.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = Some(text.into());
        self
    }

    fn props(&self) -> Props {
        Props::new()
            .set("protocol", &Input::Value(self.protocol.clone()))
            .set("from_port", &Input::Value(self.from_port))
            .set("to_port", &Input::Value(self.to_port))
            .set("cidr_blocks", &self.cidr_blocks)
            .set("security_groups", &self.security_groups)
            .set("description", &self.description)
    }

    fn validate(&self, field: &str, errors: &mut FieldErrors) {
        if let Err(e) = check_rule(&self.protocol, self.from_port, self.to_port) {
            errors.add(field, e);
        }
        if self.cidr_blocks.is_empty() && self.security_groups.is_empty() {
            errors.add(field, "needs a CIDR block or a security group");
        }
        for (i, block) in self.cidr_blocks.iter().enumerate() {
            errors.check(&format!("{field}.cidr_blocks[{i}]"), block, |c| {
                cidr::parse_network(c).map(|_| ())
            });
        }
    }
}

fn check_rule(protocol: &str, from: i32, to: i32) -> Result<(), String> {
    match protocol {
        "-1" => Ok(()),
        "tcp" | "udp" if (0..=65535).contains(&from) && (from..=65535).contains(&to) => Ok(()),
        "tcp" | "udp" => Err(format!(
            "port range {from}..{to} is not within 0..65535 with from <= to"
        )),
        "icmp" => Ok(()),
        other => Err(format!(
            "protocol `{other}` is not one of tcp, udp, icmp, -1 (all)"
        )),
    }
}

/// Arguments of a security group.
#[derive(Debug, Clone)]
pub struct SecurityGroupArgs {
    name: Input<String>,
    description: Input<String>,
    vpc_id: Input<String>,
    ingress: Vec<SecurityGroupRule>,
    egress: Vec<SecurityGroupRule>,
    tags: BTreeMap<String, Input<String>>,
}

impl SecurityGroupArgs {
    /// A group named `name` (unique in its VPC) in `vpc_id`, with no rules.
    pub fn new(
        name: impl Into<Input<String>>,
        description: impl Into<Input<String>>,
        vpc_id: impl Into<Input<String>>,
    ) -> Self {
        SecurityGroupArgs {
            name: name.into(),
            description: description.into(),
            vpc_id: vpc_id.into(),
            ingress: Vec::new(),
            egress: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds an ingress rule.
    pub fn ingress(mut self, rule: SecurityGroupRule) -> Self {
        self.ingress.push(rule);
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: SecurityGroupRule) -> Self {
        self.egress.push(rule);
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for SecurityGroupArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["vpc_id", "ingress", "egress"], &[])
    }

    type Handle = SecurityGroup;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        let rules =
            |r: &[SecurityGroupRule]| r.iter().map(SecurityGroupRule::props).collect::<Vec<_>>();
        Props::new()
            .set("name", &self.name)
            .set("description", &self.description)
            .set("vpc_id", &self.vpc_id)
            .set("ingress", rules(&self.ingress))
            .set("egress", rules(&self.egress))
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_name(n));
        errors.check("description", &self.description, |d| check_description(d));
        for (i, rule) in self.ingress.iter().enumerate() {
            rule.validate(&format!("ingress[{i}]"), errors);
        }
        for (i, rule) in self.egress.iter().enumerate() {
            rule.validate(&format!("egress[{i}]"), errors);
        }
    }
}

/// Group names: 1 to 255 characters, not starting with `sg-`.
fn check_name(name: &str) -> Result<(), String> {
    crate::validate::length(name, 1, 255)?;
    if name.starts_with("sg-") {
        return Err("must not start with `sg-`".to_string());
    }
    if !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err("must be printable ASCII".to_string());
    }
    Ok(())
}

fn check_description(text: &str) -> Result<(), String> {
    crate::validate::length(text, 0, 255)?;
    if !text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err("must be printable ASCII".to_string());
    }
    Ok(())
}

handle! {
    /// A declared security group.
    SecurityGroup {
        /// The group id (`sg-...`).
        id: String,
        /// Its ARN.
        arn: String,
        /// Its name.
        name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RuleInputs {
    protocol: String,
    from_port: i32,
    to_port: i32,
    #[serde(default)]
    cidr_blocks: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct GroupInputs {
    name: String,
    description: String,
    vpc_id: String,
    #[serde(default)]
    ingress: Vec<RuleInputs>,
    #[serde(default)]
    egress: Vec<RuleInputs>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a security group exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecurityGroupOutputs {
    /// The group id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
}

/// One permission: the unit AWS authorizes and revokes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Atom {
    protocol: String,
    from_port: i32,
    to_port: i32,
    description: Option<String>,
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Cidr(String),
    Group(String),
}

fn atoms(rules: &[RuleInputs]) -> BTreeSet<Atom> {
    let mut set = BTreeSet::new();
    for r in rules {
        let ports = if r.protocol == "-1" {
            (0, 0)
        } else {
            (r.from_port, r.to_port)
        };
        let atom = |source| Atom {
            protocol: r.protocol.clone(),
            from_port: ports.0,
            to_port: ports.1,
            description: r.description.clone(),
            source,
        };
        set.extend(r.cidr_blocks.iter().map(|c| atom(Source::Cidr(c.clone()))));
        set.extend(
            r.security_groups
                .iter()
                .map(|g| atom(Source::Group(g.clone()))),
        );
    }
    set
}

/// Atoms grouped back into rules (one per protocol, ports and description).
fn rules(atoms: BTreeSet<Atom>) -> Vec<RuleInputs> {
    let mut grouped: BTreeMap<(String, i32, i32, Option<String>), RuleInputs> = BTreeMap::new();
    for a in atoms {
        let rule = grouped
            .entry((
                a.protocol.clone(),
                a.from_port,
                a.to_port,
                a.description.clone(),
            ))
            .or_insert_with(|| RuleInputs {
                protocol: a.protocol,
                from_port: a.from_port,
                to_port: a.to_port,
                cidr_blocks: Vec::new(),
                security_groups: Vec::new(),
                description: a.description,
            });
        match a.source {
            Source::Cidr(c) => rule.cidr_blocks.push(c),
            Source::Group(g) => rule.security_groups.push(g),
        }
    }
    grouped.into_values().collect()
}

fn permission(a: &Atom) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(&a.protocol);
    if a.protocol != "-1" {
        p = p.from_port(a.from_port).to_port(a.to_port);
    }
    match &a.source {
        Source::Cidr(c) => p
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .set_description(a.description.clone())
                    .build(),
            )
            .build(),
        Source::Group(g) => p
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(a.description.clone())
                    .build(),
            )
            .build(),
    }
}

fn from_permissions(perms: &[IpPermission]) -> BTreeSet<Atom> {
    let mut set = BTreeSet::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = if protocol == "-1" {
            (0, 0)
        } else {
            (p.from_port().unwrap_or(0), p.to_port().unwrap_or(0))
        };
        let atom = |source, description: Option<&str>| Atom {
            protocol: protocol.clone(),
            from_port: from,
            to_port: to,
            description: description.map(str::to_string),
            source,
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                set.insert(atom(Source::Cidr(c.to_string()), r.description()));
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                set.insert(atom(Source::Group(id.to_string()), g.description()));
            }
        }
    }
    set
}

pub(super) struct SecurityGroupImpl;

#[async_trait]
impl ResourceImpl for SecurityGroupImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name", "description", "vpc_id"]
    }

    /// Rules are a set: the same permissions declared in another order or grouping (the
    /// read returns them grouped and sorted) are no change.
    fn equivalent(&self, key: &str, old: &Value, new: &Value) -> bool {
        if key != "ingress" && key != "egress" {
            return false;
        }
        let decode = |v: &Value| serde_json::from_value::<Vec<RuleInputs>>(v.clone()).ok();
        match (decode(old), decode(new)) {
            (Some(a), Some(b)) => atoms(&a) == atoms(&b),
            _ => false,
        }
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(n) = inputs["name"].as_str()
            && let Err(e) = check_name(n)
        {
            invalid.push(("name".to_string(), e));
        }
        for side in ["ingress", "egress"] {
            for (i, rule) in inputs[side].as_array().into_iter().flatten().enumerate() {
                if let (Some(p), Some(f), Some(t)) = (
                    rule["protocol"].as_str(),
                    rule["from_port"].as_i64(),
                    rule["to_port"].as_i64(),
                ) && let Err(e) = check_rule(p, f as i32, t as i32)
                {
                    invalid.push((format!("{side}[{i}]"), e));
                }
            }
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: GroupInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let made = create_tagged(aws, Kind::SecurityGroup, &req.token, |once| {
            let (inputs, tags) = (&inputs, &tags);
            async move {
                let out = once
                    .create_security_group()
                    .group_name(&inputs.name)
                    .description(&inputs.description)
                    .vpc_id(&inputs.vpc_id)
                    .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
                    .send()
                    .await
                    .op("CreateSecurityGroup")?;
                Ok((
                    out.group_id().unwrap_or_default().to_string(),
                    out.security_group_arn().map(str::to_string),
                ))
            }
        });
        // A group of this name in this VPC made by an earlier run of this resource (its
        // answer or a later sub-call lost) is adopted; anyone else's is named.
        let what = format!("security group `{}` in {}", inputs.name, inputs.vpc_id);
        let made = create_or_adopt(&what, made, || async {
            let found = find_by_name(aws, &inputs.name, &inputs.vpc_id).await?;
            Ok(existing_by_tags(
                found.as_ref().map(|(id, tags)| {
                    (
                        Made {
                            id: id.clone(),
                            answer: None,
                        },
                        tags,
                    )
                }),
                &req.ctx,
                Some(&req.token),
            ))
        })
        .await?;
        let id = made.id;
        match made.answer {
            // A new group has AWS's allow-all egress and nothing else: make its rules what
            // is declared without reading it, and take the ARN from the answer.
            Some(Some(arn)) => {
                sync_rules_from(aws, &id, &fresh_rules(&inputs), &inputs).await?;
                let outputs = SecurityGroupOutputs {
                    id: id.clone(),
                    arn,
                    name: inputs.name.clone(),
                };
                Ok(CreateResponse {
                    id,
                    outputs: to_json(&outputs),
                })
            }
            // An adopted group (or an answer without the ARN) is read.
            _ => {
                sync_rules(aws, &id, &inputs).await?;
                let (_, outputs) = describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeSecurityGroups", "security group", &id))?;
                Ok(CreateResponse {
                    id,
                    outputs: to_json(&outputs),
                })
            }
        }
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let describe = |client: aws_sdk_ec2::Client, by| async move {
            let out = client.describe_security_groups().filters(by).send().await;
            Ok(out.op("DescribeSecurityGroups")?.security_groups().to_vec())
        };
        let id_of = aws_sdk_ec2::types::SecurityGroup::group_id;
        let shape = |r: &ReadRequest, x: &_| Ok(found(&r.id, Some(shape(aws, &r.id, x))));
        let (key, filter) = ("ec2:security-groups", "group-id");
        let single = |r| self.read(aws, r);
        read_by_filter(
            aws, batch, reqs, key, filter, describe, id_of, shape, single,
        )
        .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: GroupInputs = decode(&req.old_inputs)?;
        let new: GroupInputs = decode(&req.new_inputs)?;
        sync_rules(aws, &req.id, &new).await?;
        update_tags(aws, &req.ctx, &req.id, &old.tags, &new.tags).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .ec2()
            .await
            .delete_security_group()
            .group_id(&req.id)
            .send()
            .await
            .op("DeleteSecurityGroup");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        lookup_tagged(aws, Kind::SecurityGroup, &req.token, |id| async move {
            describe(aws, &id).await
        })
        .await
    }
}

/// Makes the group's rules what `new` declares, against the rules it has now (so a repeat
/// after a lost answer, or an earlier run's partial work, is met where it stands): revokes
/// the live permissions not declared, then authorizes the declared ones not live. A
/// "not found" on a revoke or a "duplicate" on an authorize (an SDK retry meeting its own
/// effect) is checked against the rules read again, one permission at a time.
/// The rules of a group AWS has just created: no ingress, and egress of all traffic to
/// anywhere (IPv4; the stack's VPCs have no IPv6 block).
fn fresh_rules(declared: &GroupInputs) -> GroupInputs {
    GroupInputs {
        ingress: Vec::new(),
        egress: vec![RuleInputs {
            protocol: "-1".into(),
            from_port: 0,
            to_port: 0,
            cidr_blocks: vec!["0.0.0.0/0".into()],
            security_groups: Vec::new(),
            description: None,
        }],
        ..declared.clone()
    }
}

/// Makes the group's rules `new`, reading what it has first.
async fn sync_rules(aws: &Aws, id: &str, new: &GroupInputs) -> Result<(), ProviderError> {
    let live = live_rules(aws, id).await?;
    sync_rules_from(aws, id, &live, new).await
}

/// Makes the group's rules `new`, from `live`, what it is known to have.
async fn sync_rules_from(
    aws: &Aws,
    id: &str,
    live: &GroupInputs,
    new: &GroupInputs,
) -> Result<(), ProviderError> {
    let client = aws.ec2().await;
    for ingress in [true, false] {
        let pick = |g: &GroupInputs| atoms(if ingress { &g.ingress } else { &g.egress });
        let (before, after) = (pick(live), pick(new));
        let gone: Vec<Atom> = before.difference(&after).cloned().collect();
        let added: Vec<Atom> = after.difference(&before).cloned().collect();
        if !gone.is_empty()
            && let Err(e) = change(&client, id, ingress, false, &gone).await
        {
            if !is_not_found(&e) {
                return Err(e);
            }
            let now = pick(&live_rules(aws, id).await?);
            for atom in gone.iter().filter(|a| now.contains(*a)) {
                done_if_not_found(
                    change(&client, id, ingress, false, std::slice::from_ref(atom)).await,
                )?;
            }
        }
        if !added.is_empty()
            && let Err(e) = change(&client, id, ingress, true, &added).await
        {
            if !is_already_exists(&e) {
                return Err(e);
            }
            let now = pick(&live_rules(aws, id).await?);
            for atom in added.iter().filter(|a| !now.contains(*a)) {
                let result = change(&client, id, ingress, true, std::slice::from_ref(atom)).await;
                let what = format!(
                    "{} rule {} of security group {id}",
                    side(ingress),
                    show(atom)
                );
                done_if_duplicate(result, &what, || async {
                    // AWS knows a rule by protocol, ports and source: a duplicate that is
                    // not ours differs in its description.
                    Ok(Same::No("another rule with the same protocol, ports and source but another description is there".to_string()))
                })
                .await?;
            }
        }
    }
    Ok(())
}

fn side(ingress: bool) -> &'static str {
    if ingress { "ingress" } else { "egress" }
}

fn show(a: &Atom) -> String {
    let source = match &a.source {
        Source::Cidr(c) => c.clone(),
        Source::Group(g) => g.clone(),
    };
    format!("{} {}-{} {source}", a.protocol, a.from_port, a.to_port)
}

async fn live_rules(aws: &Aws, id: &str) -> Result<GroupInputs, ProviderError> {
    Ok(describe(aws, id)
        .await?
        .ok_or_else(|| vanished("DescribeSecurityGroups", "security group", id))?
        .0)
}

/// Authorizes (`add`) or revokes the permissions `atoms` on one side of the group.
async fn change(
    client: &aws_sdk_ec2::Client,
    id: &str,
    ingress: bool,
    add: bool,
    atoms: &[Atom],
) -> Result<(), ProviderError> {
    let perms = Some(atoms.iter().map(permission).collect::<Vec<_>>());
    match (ingress, add) {
        (true, true) => client
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(perms)
            .send()
            .await
            .op("AuthorizeSecurityGroupIngress")
            .map(|_| ()),
        (false, true) => client
            .authorize_security_group_egress()
            .group_id(id)
            .set_ip_permissions(perms)
            .send()
            .await
            .op("AuthorizeSecurityGroupEgress")
            .map(|_| ()),
        (true, false) => client
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(perms)
            .send()
            .await
            .op("RevokeSecurityGroupIngress")
            .map(|_| ()),
        (false, false) => client
            .revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(perms)
            .send()
            .await
            .op("RevokeSecurityGroupEgress")
            .map(|_| ()),
    }
}

/// The group named `name` in `vpc_id` with every tag on it, if any.
async fn find_by_name(
    aws: &Aws,
    name: &str,
    vpc_id: &str,
) -> Result<Option<(String, BTreeMap<String, String>)>, ProviderError> {
    let out = aws
        .ec2()
        .await
        .describe_security_groups()
        .filters(filter("group-name", name))
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .op("DescribeSecurityGroups")?;
    Ok(out.security_groups().first().map(|g| {
        (
            g.group_id().unwrap_or_default().to_string(),
            tag_map(g.tags()),
        )
    }))
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(GroupInputs, SecurityGroupOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.ec2()
            .await
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .op("DescribeSecurityGroups"),
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.security_groups().first())
        .map(|g| shape(aws, id, g)))
}

/// A group's inputs and outputs as AWS describes it, its rules as sets.
fn shape(
    aws: &Aws,
    id: &str,
    g: &aws_sdk_ec2::types::SecurityGroup,
) -> (GroupInputs, SecurityGroupOutputs) {
    let owner = g.owner_id().unwrap_or_default();
    let name = g.group_name().unwrap_or_default().to_string();
    (
        GroupInputs {
            name: name.clone(),
            description: g.description().unwrap_or_default().to_string(),
            vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            ingress: rules(from_permissions(g.ip_permissions())),
            egress: rules(from_permissions(g.ip_permissions_egress())),
            tags: aws.own_tags(tag_map(g.tags())),
        },
        SecurityGroupOutputs {
            id: id.to_string(),
            arn: format!(
                "arn:aws:ec2:{}:{owner}:security-group/{id}",
                aws.region_name()
            ),
            name,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(port: i32, cidrs: &[&str]) -> Value {
        json!({"protocol": "tcp", "from_port": port, "to_port": port, "cidr_blocks": cidrs,
               "security_groups": [], "description": null})
    }

    #[test]
    fn rules_are_compared_as_sets_of_permissions() {
        let imp = SecurityGroupImpl;
        let declared = json!([
            rule(8443, &["10.0.2.0/24", "10.0.1.0/24"]),
            rule(443, &["10.0.9.0/24"]),
            rule(443, &["10.0.3.0/24"])
        ]);
        let read = json!([
            rule(443, &["10.0.3.0/24", "10.0.9.0/24"]),
            rule(8443, &["10.0.1.0/24", "10.0.2.0/24"])
        ]);
        assert!(imp.equivalent("ingress", &read, &declared));
        assert!(imp.equivalent("egress", &read, &declared));
        let grown = json!([
            rule(443, &["10.0.3.0/24", "10.0.9.0/24"]),
            rule(8443, &["10.0.1.0/24"])
        ]);
        assert!(
            !imp.equivalent("ingress", &read, &grown),
            "a missing block is a change"
        );
        let unknown = json!([{"protocol": "tcp", "from_port": 1, "to_port": 1,
            "cidr_blocks": [{"$unknown": "vpc.cidr"}], "security_groups": [], "description": null}]);
        assert!(
            !imp.equivalent("ingress", &read, &unknown),
            "an unknown is never the same"
        );
        assert!(
            !imp.equivalent("tags", &json!({}), &json!({})),
            "only the rule lists are sets"
        );
    }
}

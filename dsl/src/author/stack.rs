//! `Stack`: the declared resources, data sources, providers and outputs of one stack.
//!
//! Declaring is pure and synchronous: nothing here calls a provider or opens state.
//! Problems found while declaring (duplicate names, invalid arguments, unknown providers)
//! are collected and reported all at once by [`Stack::validate`], together with the
//! graph's own checks (references to resources not in the stack, cycles).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::output::{Node, Output};
use crate::provider::Provider;
use crate::resource::{DataSourceArgs, ResourceArgs, ResourceOptions, ResourceRef};
use crate::value::Value;
use iac_state::order::IndexGraph;

/// A stack's identity: the project (the program) and the stack name (an environment such
/// as `prod-001`). One state file holds many stacks.
pub use iac_state::StackId;

/// A handle to a provider registered on a stack, for [`ResourceOptions::provider`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRef {
    name: Arc<str>,
}

impl ProviderRef {
    /// The provider's name in the stack (and in state), e.g. `aws-primary`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Whether a node is a managed resource or a read-only data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A managed resource: created, updated and deleted by the engine.
    Resource,
    /// A data source: read during preview, never changed.
    Data,
    /// Another stack's recorded outputs ([`crate::reference::StackReference`]): read from
    /// the state store before planning, never changed.
    Reference,
}

/// One declared resource or data source, as the engine sees it.
#[derive(Clone)]
pub struct Declared {
    /// Its handle (name and type).
    pub reference: ResourceRef,
    /// Resource or data source.
    pub kind: NodeKind,
    pub(crate) inputs: Arc<Node>,
    /// Its options; `None` for the defaults, which most resources have: a large stack
    /// then holds a pointer per resource instead of a whole set of options.
    pub(crate) options: Option<Box<ResourceOptions>>,
    /// Its dependencies, sorted, computed once when it is declared.
    pub(crate) deps: Vec<String>,
}

impl Declared {
    /// Logical name.
    pub fn name(&self) -> &str {
        self.reference.name()
    }

    /// Its options (protect, timeouts, the provider it names, ...).
    pub(crate) fn options(&self) -> &ResourceOptions {
        static DEFAULTS: ResourceOptions = ResourceOptions::DEFAULT;
        self.options.as_deref().unwrap_or(&DEFAULTS)
    }

    /// Whether it is protected: a plan deleting or replacing it is refused
    /// ([`ResourceOptions::protect`]).
    pub fn is_protected(&self) -> bool {
        self.options().protect
    }

    /// The input keys whose recorded values it keeps ([`ResourceOptions::ignore_changes`]).
    pub fn ignored_changes(&self) -> &[String] {
        &self.options().ignore_changes
    }

    /// The provider it names, if any (otherwise its package's default).
    pub(crate) fn provider(&self) -> Option<&str> {
        self.options().provider.as_deref()
    }

    /// Every resource it depends on: those whose outputs its inputs read, plus
    /// `depends_on`; sorted, without repeats.
    pub fn dependencies(&self) -> &[String] {
        &self.deps
    }

    /// Its inputs as far as they are known at declaration: values of other resources'
    /// outputs appear as unknown markers naming their source (`vpc.id`), which is how
    /// cross-resource checks ([`crate::resource::StackCheck`]) find what refers to what.
    pub fn declared_inputs(&self) -> Value {
        self.inputs.eval(&NothingKnown).unwrap_or(Value::Null)
    }

    fn compute_dependencies(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        self.inputs.collect_resources(&mut names);
        let mut deps: BTreeSet<String> = names.into_iter().map(|n| n.to_string()).collect();
        deps.extend(
            self.options()
                .depends_on
                .iter()
                .map(|r| r.name().to_string()),
        );
        deps.into_iter().collect()
    }
}

/// A resolver that knows no outputs: evaluation shows every reference as an unknown
/// marker naming its source.
pub(crate) struct NothingKnown;

impl crate::output::Resolver for NothingKnown {
    fn outputs(&self, _: &str) -> Option<&Value> {
        None
    }
}

/// A problem with a declaration, found before state is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclarationError {
    /// Two resources share a logical name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// An argument is invalid.
    InvalidArgument {
        /// The resource.
        resource: String,
        /// Its type.
        type_token: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A resource reads or depends on a resource that is not in this stack.
    UnknownReference {
        /// The resource that refers.
        resource: String,
        /// The name it refers to.
        missing: String,
    },
    /// Resources depend on each other in a circle.
    Cycle {
        /// Every name on the cycle, in order.
        names: Vec<String>,
    },
    /// No provider, or an unknown one, for a resource.
    Provider {
        /// The resource.
        resource: String,
        /// What is wrong.
        message: String,
    },
    /// A stack output is declared twice.
    DuplicateOutput {
        /// The output name.
        name: String,
    },
    /// A resource refers, through a field AWS requires in its own region, to a resource
    /// of a provider in another region.
    CrossRegion {
        /// The resource that refers.
        resource: String,
        /// Its region.
        region: String,
        /// The field it refers through.
        field: String,
        /// The resource referred to.
        target: String,
        /// That resource's region.
        target_region: String,
    },
    /// A policy waiver, level change or usage assumption is invalid.
    Checks {
        /// What it concerns (`waiver of `x` for `y``).
        subject: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for DeclarationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclarationError::DuplicateName { name } => {
                write!(f, "resource name `{name}` is declared more than once")
            }
            DeclarationError::InvalidArgument {
                resource,
                type_token,
                field,
                message,
            } => write!(f, "{resource} ({type_token}): invalid `{field}`: {message}"),
            DeclarationError::UnknownReference { resource, missing } => write!(
                f,
                "{resource} refers to `{missing}`, which is not declared in this stack"
            ),
            DeclarationError::Cycle { names } => {
                let mut ring = names.clone();
                if let Some(first) = names.first() {
                    ring.push(first.clone());
                }
                write!(f, "dependency cycle: {}", ring.join(" -> "))
            }
            DeclarationError::Provider { resource, message } => write!(f, "{resource}: {message}"),
            DeclarationError::DuplicateOutput { name } => {
                write!(f, "stack output `{name}` is declared more than once")
            }
            DeclarationError::CrossRegion {
                resource,
                region,
                field,
                target,
                target_region,
            } => write!(
                f,
                "{resource} (in {region}) refers through `{field}` to {target} (in {target_region}); AWS requires both in one region"
            ),
            DeclarationError::Checks { subject, message } => write!(f, "{subject}: {message}"),
        }
    }
}

/// Every problem found in a stack's declarations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclarationErrors(pub Vec<DeclarationError>);

impl fmt::Display for DeclarationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the stack declaration has {} problem(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeclarationErrors {}

/// The resources, data sources, providers and outputs of one stack.
pub struct Stack {
    id: StackId,
    prefix: Vec<String>,
    pub(crate) nodes: Vec<Declared>,
    /// Names to positions in `nodes`; keys share the names' allocations.
    index: foldhash::HashMap<Arc<str>, usize>,
    pub(crate) providers: BTreeMap<String, Arc<dyn Provider>>,
    provider_order: Vec<String>,
    pub(crate) outputs: Vec<(String, Arc<Node>)>,
    /// The stack references declared, read by the engine before planning.
    pub(crate) references: Vec<crate::reference::ReferenceSpec>,
    errors: Vec<DeclarationError>,
    checks: BTreeMap<&'static str, crate::resource::StackCheck>,
    /// Each declared type's reference fields by region rule.
    region_fields: BTreeMap<&'static str, crate::resource::RegionFields>,
    /// Policies added, levels changed, waivers, production.
    pub(crate) policy: crate::policy::PolicySettings,
    /// Usage assumptions overridden for the cost estimate.
    pub(crate) usage: BTreeMap<String, f64>,
    /// `(node, dependency)` index pairs, resolved as each node is declared, when the
    /// names it depends on were just declared and are still in cache.
    edges: Vec<(usize, usize)>,
    /// `(node, position in its dependencies)` of names not declared yet when it was.
    later: Vec<(usize, usize)>,
    /// The dependency graph over indices, built once for the declarations as they are
    /// (validation and every plan use it) and dropped when a declaration is added.
    resolved: OnceLock<Resolved>,
    /// How a user of this stack lifts `protect` ([`Stack::unprotect_hint`]).
    pub(crate) unprotect: Option<String>,
}

/// The declared graph over node indices.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Edges to declared resources.
    pub(crate) graph: IndexGraph,
    /// How many dependencies name nothing declared (validation reports them).
    missing: usize,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("id", &self.id)
            .field("resources", &self.nodes.len())
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Stack {
    /// An empty stack of `project` named `name` (e.g. `Stack::new("payment-dr", "prod-001")`).
    pub fn new(project: &str, name: &str) -> Self {
        Stack {
            id: StackId {
                project: project.to_string(),
                name: name.to_string(),
            },
            prefix: Vec::new(),
            nodes: Vec::new(),
            index: foldhash::HashMap::default(),
            providers: BTreeMap::new(),
            provider_order: Vec::new(),
            outputs: Vec::new(),
            references: Vec::new(),
            errors: Vec::new(),
            checks: BTreeMap::new(),
            region_fields: BTreeMap::new(),
            policy: crate::policy::PolicySettings::default(),
            usage: BTreeMap::new(),
            edges: Vec::new(),
            later: Vec::new(),
            resolved: OnceLock::new(),
            unprotect: None,
        }
    }

    /// The stack's identity.
    pub fn id(&self) -> &StackId {
        &self.id
    }

    /// The same declarations under another stack name (for `--stack`).
    pub fn renamed(mut self, name: &str) -> Self {
        self.id.name = name.to_string();
        self
    }

    /// The declared dependency graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.graph().to_dot(&self.id.to_string())
    }

    /// The dependency graph over node indices (built on first use).
    pub(crate) fn resolved(&self) -> &Resolved {
        self.resolved.get_or_init(|| {
            let mut missing = 0;
            // Names that were not declared yet when their dependent was: look them up now.
            let late = self.later.iter().filter_map(|&(i, at)| {
                let found = self.index.get(self.nodes[i].deps[at].as_str());
                missing += usize::from(found.is_none());
                found.map(|&j| (i, j))
            });
            let graph =
                IndexGraph::from_edges(self.nodes.len(), self.edges.iter().copied().chain(late));
            Resolved { graph, missing }
        })
    }

    fn graph(&self) -> crate::graph::Graph {
        crate::graph::Graph::from_edges(
            self.nodes.iter().map(|n| n.name().to_string()),
            self.nodes.iter().flat_map(|n| {
                n.dependencies()
                    .iter()
                    .filter(|d| self.index.contains_key(d.as_str()))
                    .map(move |d| (d.clone(), n.name().to_string()))
            }),
        )
    }

    /// Registers a provider under `name` (e.g. `aws-primary`), returning the handle that
    /// resource options name it with. The first provider of a package is the default for
    /// resources of that package that name none.
    pub fn provider(&mut self, name: &str, provider: impl Provider) -> ProviderRef {
        self.provider_arc(name, Arc::new(provider))
    }

    /// Like [`Stack::provider`] for a provider shared with other stacks. A second
    /// provider under a name already taken is a declaration error; the first one stays
    /// registered (resources already declared on it keep the provider they were given).
    pub fn provider_arc(&mut self, name: &str, provider: Arc<dyn Provider>) -> ProviderRef {
        match self.providers.entry(name.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => {
                self.errors.push(DeclarationError::Provider {
                    resource: format!("provider `{name}`"),
                    message: "a provider of this name is registered twice".into(),
                });
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(provider);
                self.provider_order.push(name.to_string());
            }
        }
        ProviderRef {
            name: Arc::from(name),
        }
    }

    /// The handle of the provider registered under `name`, if any: components that need
    /// a provider of a conventional name (`aws-primary`, `random`) use the host stack's
    /// own when it has one and register theirs only when it does not.
    pub fn registered_provider(&self, name: &str) -> Option<ProviderRef> {
        self.providers.contains_key(name).then(|| ProviderRef {
            name: Arc::from(name),
        })
    }

    /// The provider registered under `name`, or `make()`'s registered under that name
    /// when the stack has none yet (what [`Stack::registered_provider`] is for, in one call).
    pub fn provider_or_register<P: Provider>(
        &mut self,
        name: &str,
        make: impl FnOnce() -> P,
    ) -> ProviderRef {
        match self.registered_provider(name) {
            Some(found) => found,
            None => self.provider(name, make()),
        }
    }

    /// Records a problem found while building the stack outside any resource's arguments
    /// (an asset that cannot be built, say): it is reported with the declaration errors,
    /// before state is opened or any request is sent.
    pub fn invalid(&mut self, resource: &str, kind: &str, field: &str, message: impl Into<String>) {
        let resource = self.full_name(resource);
        self.errors.push(DeclarationError::InvalidArgument {
            resource,
            type_token: kind.to_string(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Declares a resource named `name` with default options.
    pub fn add<A: ResourceArgs>(&mut self, name: &str, args: A) -> A::Handle {
        self.add_with(name, args, ResourceOptions::default())
    }

    /// Declares a resource named `name` with `options`.
    pub fn add_with<A: ResourceArgs>(
        &mut self,
        name: &str,
        args: A,
        options: ResourceOptions,
    ) -> A::Handle {
        let full = self.full_name(name);
        let reference = ResourceRef::new(&full, args.type_token());
        let mut field_errors = crate::resource::FieldErrors::default();
        args.validate(&mut field_errors);
        for (field, message) in field_errors.into_vec() {
            self.errors.push(DeclarationError::InvalidArgument {
                resource: full.clone(),
                type_token: args.type_token().to_string(),
                field,
                message,
            });
        }
        if let Some(check) = args.stack_check() {
            self.checks.insert(args.type_token(), check);
        }
        let fields = args.region_fields();
        if fields != crate::resource::RegionFields::NONE {
            self.region_fields.insert(args.type_token(), fields);
        }
        let options = options.merge_defaults(args.default_options());
        let inputs = args.props().into_node();
        self.insert(Declared {
            reference: reference.clone(),
            kind: NodeKind::Resource,
            inputs,
            options: (!options.is_default()).then(|| Box::new(options)),
            deps: Vec::new(),
        });
        A::Handle::from(reference)
    }

    /// Declares a data source, read during preview, with the provider `provider` (or the
    /// package's default).
    pub fn data<D: DataSourceArgs>(
        &mut self,
        name: &str,
        args: D,
        provider: Option<&ProviderRef>,
    ) -> D::Handle {
        let full = self.full_name(name);
        let reference = ResourceRef::new(&full, args.token());
        self.insert(Declared {
            reference: reference.clone(),
            kind: NodeKind::Data,
            inputs: args.props().into_node(),
            options: provider.map(|p| {
                Box::new(ResourceOptions {
                    provider: Some(p.name().to_string()),
                    ..ResourceOptions::default()
                })
            }),
            deps: Vec::new(),
        });
        D::Handle::from(reference)
    }

    /// Declares resources under a name prefix: inside `build`, `stack.add("vpc", ..)` is
    /// named `prefix/vpc`. Components nest.
    pub fn component<R>(&mut self, prefix: &str, build: impl FnOnce(&mut Stack) -> R) -> R {
        self.prefix.push(prefix.to_string());
        let result = build(self);
        self.prefix.pop();
        result
    }

    /// Exports `value` as the stack output `name` (`outputs` prints them).
    pub fn export<T: Serialize>(&mut self, name: &str, value: impl Into<crate::Input<T>>) {
        let node = value.into().to_node();
        if self.outputs.iter().any(|(n, _)| n == name) {
            self.errors.push(DeclarationError::DuplicateOutput {
                name: name.to_string(),
            });
            return;
        }
        self.outputs.push((name.to_string(), node));
    }

    /// Exports an output as the stack output `name`.
    pub fn export_output<T>(&mut self, name: &str, value: &Output<T>) {
        if self.outputs.iter().any(|(n, _)| n == name) {
            self.errors.push(DeclarationError::DuplicateOutput {
                name: name.to_string(),
            });
            return;
        }
        self.outputs.push((name.to_string(), value.node.clone()));
    }

    /// The declared resources and data sources, in declaration order.
    pub fn declared(&self) -> &[Declared] {
        &self.nodes
    }

    /// The declared resource named `name` (its full name, with component prefixes).
    pub fn find(&self, name: &str) -> Option<&Declared> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// The names of the stack outputs, in declaration order.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Checks the whole declaration: duplicate names, invalid arguments, providers,
    /// references to undeclared resources and cycles. Every problem is reported at once.
    pub fn validate(&self) -> Result<(), DeclarationErrors> {
        let mut errors = self.errors.clone();
        let resolved = self.resolved();
        for node in &self.nodes {
            if resolved.missing > 0 {
                for dep in node.dependencies() {
                    if !self.index.contains_key(dep.as_str()) {
                        errors.push(DeclarationError::UnknownReference {
                            resource: node.name().to_string(),
                            missing: dep.clone(),
                        });
                    }
                }
            }
            if node.kind == NodeKind::Reference {
                continue;
            }
            if let Err(message) =
                self.provider_name_for(node.reference.type_token(), node.provider())
            {
                errors.push(DeclarationError::Provider {
                    resource: node.name().to_string(),
                    message,
                });
            }
        }
        for (output, node) in &self.outputs {
            let mut names = BTreeSet::new();
            node.collect_resources(&mut names);
            for name in names {
                if !self.index.contains_key(name.as_ref()) {
                    errors.push(DeclarationError::UnknownReference {
                        resource: format!("stack output `{output}`"),
                        missing: name.to_string(),
                    });
                }
            }
        }
        for (type_token, check) in &self.checks {
            for (resource, field, message) in check(self) {
                errors.push(DeclarationError::InvalidArgument {
                    resource,
                    type_token: type_token.to_string(),
                    field,
                    message,
                });
            }
        }
        errors.extend(self.cross_region_errors());
        for (subject, message) in crate::policy::settings_problems(self) {
            errors.push(DeclarationError::Checks { subject, message });
        }
        for name in crate::cost::usage_of(self).2 {
            errors.push(DeclarationError::Checks {
                subject: format!("usage assumption `{name}`"),
                message: "no cost model of the stack's providers names it".into(),
            });
        }
        // Kahn's count over indices is cheap; the named graph is built only to report.
        if resolved.graph.has_cycle() {
            for cycle in self.graph().cycles() {
                errors.push(DeclarationError::Cycle { names: cycle });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DeclarationErrors(errors))
        }
    }

    /// Adds a policy of the stack's own, run with the providers' packs (a policy with the
    /// id of a built-in one replaces it).
    pub fn add_policy(&mut self, policy: impl crate::policy::Policy) {
        self.policy.own.push(Arc::new(policy));
    }

    /// Changes the level of the policy `id` in this stack.
    pub fn set_policy_level(&mut self, id: &str, level: crate::policy::Level) {
        self.policy.levels.insert(id.to_string(), level);
    }

    /// Waives the policy `policy` for the resource `resource` (its full name), recording
    /// why; the finding stays in every report with the reason. Validation refuses an
    /// unknown policy or resource and an empty reason.
    pub fn waive(&mut self, policy: &str, resource: &str, reason: &str) {
        self.policy.waivers.push(crate::policy::Waiver {
            policy: policy.to_string(),
            resource: resource.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Marks the stack as production: the policies' production rules apply.
    pub fn set_production(&mut self, production: bool) {
        self.policy.production = production;
    }

    /// Says how a user of this stack lifts `protect` (e.g. "`up --set
    /// protect_data=false` first"): a plan refused because it would delete or replace a
    /// protected resource ends with it, once, where the engine alone can only say "remove
    /// `protect`".
    pub fn unprotect_hint(&mut self, how: impl Into<String>) {
        self.unprotect = Some(how.into());
    }

    /// Overrides the usage assumption `name` of the cost estimate (validation refuses a
    /// name no cost model uses).
    pub fn set_usage(&mut self, name: &str, value: f64) {
        self.usage.insert(name.to_string(), value);
    }

    /// The waivers the stack records.
    pub fn waivers(&self) -> &[crate::policy::Waiver] {
        &self.policy.waivers
    }

    /// The region of the provider that manages `node`, when that provider has one.
    pub fn region_of(&self, node: &Declared) -> Option<&str> {
        let name = self
            .provider_name_for(node.reference.type_token(), node.provider())
            .ok()?;
        self.providers.get(name)?.region()
    }

    /// The reference fields by region rule declared for `type_token`.
    pub fn region_fields(&self, type_token: &str) -> crate::resource::RegionFields {
        self.region_fields
            .get(type_token)
            .copied()
            .unwrap_or(crate::resource::RegionFields::NONE)
    }

    /// The names each top-level input field of `node` refers to, by field.
    pub fn references_by_field(&self, node: &Declared) -> Vec<(String, Vec<String>)> {
        let Node::Object(members) = &*node.inputs else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|(key, sub)| {
                let mut names = BTreeSet::new();
                sub.collect_resources(&mut names);
                (!names.is_empty())
                    .then(|| (key.clone(), names.iter().map(|n| n.to_string()).collect()))
            })
            .collect()
    }

    /// References through `same`-region fields to resources of another region.
    fn cross_region_errors(&self) -> Vec<DeclarationError> {
        let mut errors = Vec::new();
        if self.region_fields.is_empty() {
            return errors;
        }
        for node in &self.nodes {
            let fields = self.region_fields(node.reference.type_token());
            if fields.same.is_empty() {
                continue;
            }
            let Some(region) = self.region_of(node) else {
                continue;
            };
            for (field, targets) in self.references_by_field(node) {
                if !fields.same.contains(&field.as_str()) {
                    continue;
                }
                for target in targets {
                    let Some(other) = self.get(&target) else {
                        continue;
                    };
                    if let Some(target_region) = self.region_of(other)
                        && target_region != region
                    {
                        errors.push(DeclarationError::CrossRegion {
                            resource: node.name().to_string(),
                            region: region.to_string(),
                            field: field.clone(),
                            target,
                            target_region: target_region.to_string(),
                        });
                    }
                }
            }
        }
        errors
    }

    /// The position of the declared node `name`.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The provider named for a resource of `type_token`, or the default of its package.
    pub(crate) fn provider_name_for(
        &self,
        type_token: &str,
        named: Option<&str>,
    ) -> Result<&str, String> {
        let package = type_token.split(':').next().unwrap_or_default();
        if let Some(name) = named {
            return match self.providers.get_key_value(name) {
                Some((name, p)) if p.package() == package => Ok(name),
                Some((_, p)) => Err(format!(
                    "provider `{name}` handles package `{}`, not `{package}` of type {type_token}",
                    p.package()
                )),
                None => Err(format!("provider `{name}` is not registered on the stack")),
            };
        }
        self.provider_order
            .iter()
            .find(|name| self.providers.get(*name).is_some_and(|p| p.package() == package))
            .map(String::as_str)
            .ok_or_else(|| format!("no provider for package `{package}` (type {type_token}) is registered on the stack"))
    }

    pub(crate) fn full_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix.join("/"))
        }
    }

    pub(crate) fn insert(&mut self, mut declared: Declared) {
        self.resolved.take();
        declared.deps = declared.compute_dependencies();
        let name = declared.reference.shared_name();
        if let Some(message) = invalid_name(&name) {
            self.errors.push(DeclarationError::InvalidArgument {
                resource: name.to_string(),
                type_token: declared.reference.type_token().to_string(),
                field: "name".into(),
                message,
            });
        }
        match self.index.entry(name) {
            Entry::Occupied(taken) => {
                let name = taken.key().to_string();
                self.errors.push(DeclarationError::DuplicateName { name });
            }
            Entry::Vacant(slot) => {
                let i = self.nodes.len();
                slot.insert(i);
                for (at, dep) in declared.deps.iter().enumerate() {
                    match self.index.get(dep.as_str()) {
                        Some(&j) => self.edges.push((i, j)),
                        None => self.later.push((i, at)),
                    }
                }
                self.nodes.push(declared);
            }
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Declared> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// The dependencies of `node` that the state records: the declared resources it
    /// depends on. Data sources are read anew by every run and never recorded, so a
    /// record naming one would name something the state does not hold.
    pub(crate) fn recorded_dependencies(&self, node: &Declared) -> Vec<String> {
        node.dependencies()
            .iter()
            .filter(|d| self.get(d).is_none_or(|n| n.kind == NodeKind::Resource))
            .cloned()
            .collect()
    }
}

/// Logical names are printable, without `#` (reserved for the engine's own rows) and
/// without surrounding spaces.
fn invalid_name(name: &str) -> Option<String> {
    if name.is_empty() || name.ends_with('/') {
        Some("a resource name cannot be empty".into())
    } else if name.contains('#') {
        Some("`#` is reserved for the engine and cannot appear in a resource name".into())
    } else if name.trim() != name || name.chars().any(char::is_control) {
        Some("a resource name cannot contain control characters or surrounding spaces".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeCloud, FakeProvider};

    #[test]
    fn a_second_provider_of_a_name_is_an_error_and_the_first_one_stays() {
        let mut stack = Stack::new("p", "s");
        let first: Arc<dyn Provider> = Arc::new(FakeProvider::new("fake", FakeCloud::new()));
        stack.provider_arc("fake", Arc::clone(&first));
        stack.provider("fake", FakeProvider::new("other", FakeCloud::new()));
        assert!(Arc::ptr_eq(&stack.providers["fake"], &first));
        assert_eq!(stack.provider_order, ["fake"]);
        let errors = stack
            .validate()
            .expect_err("a duplicate provider is refused");
        assert!(errors.to_string().contains("registered twice"), "{errors}");
    }

    #[test]
    fn provider_or_register_keeps_the_host_stacks_provider() {
        let mut stack = Stack::new("p", "s");
        assert!(stack.registered_provider("fake").is_none());
        let host: Arc<dyn Provider> = Arc::new(FakeProvider::new("fake", FakeCloud::new()));
        stack.provider_arc("fake", Arc::clone(&host));
        let found =
            stack.provider_or_register("fake", || FakeProvider::new("component", FakeCloud::new()));
        assert_eq!(found.name(), "fake");
        assert!(Arc::ptr_eq(&stack.providers["fake"], &host));
        let made = stack.provider_or_register("own", || FakeProvider::new("own", FakeCloud::new()));
        assert_eq!(
            stack
                .registered_provider("own")
                .map(|p| p.name().to_string()),
            Some(made.name().to_string())
        );
        assert!(stack.validate().is_ok());
    }
}

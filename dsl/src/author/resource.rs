//! What a typed resource declaration looks like to the stack: its arguments as a property
//! tree ([`Props`]), its validation, its options, and the handle the stack gives back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::output::{Input, Node, Output, to_value};

/// A reference to a declared resource or data source: its logical name and type. Typed
/// handles wrap it and offer accessors that return [`Output`]s of its fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    name: Arc<str>,
    /// Type tokens are constants of the argument types, so nothing is copied per resource.
    type_token: &'static str,
}

impl ResourceRef {
    pub(crate) fn new(name: &str, type_token: &'static str) -> Self {
        ResourceRef {
            name: Arc::from(name),
            type_token,
        }
    }

    /// The logical name (component prefixes included), unique in its stack.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The logical name, shared rather than copied (the stack indexes by it).
    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The type token, e.g. `aws:ec2/vpc`.
    pub fn type_token(&self) -> &'static str {
        self.type_token
    }

    /// The output field `path` (dotted) of this resource.
    pub fn output<T>(&self, path: &str) -> Output<T> {
        Output::field(&self.name, path)
    }
}

impl AsRef<ResourceRef> for ResourceRef {
    fn as_ref(&self) -> &ResourceRef {
        self
    }
}

/// The typed arguments of one resource type: what `Stack::add` takes.
///
/// Providers implement it for their argument builders; the handle type gives typed
/// accessors to the outputs.
pub trait ResourceArgs {
    /// The handle `Stack::add` returns.
    type Handle: From<ResourceRef>;

    /// The type token, `package:service/type` (e.g. `aws:ec2/vpc`).
    fn type_token(&self) -> &'static str;

    /// The arguments as a property tree; outputs of other resources become graph edges.
    fn props(&self) -> Props;

    /// Reports every invalid argument that is known at declaration. What is known only
    /// after apply is checked by the provider then.
    fn validate(&self, errors: &mut FieldErrors) {
        let _ = errors;
    }

    /// Option defaults of this type (for example `delete_before_replace` for a type whose
    /// name is unique and fixed).
    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::default()
    }

    /// A check across every declared resource of this type and those they refer to (for
    /// example: subnets of one VPC must not overlap and must lie inside it). The stack
    /// runs it once per type in [`crate::Stack::validate`], before any plan or request.
    fn stack_check(&self) -> Option<StackCheck> {
        None
    }

    /// Which of its input fields must refer only to resources of its own region, and
    /// which may cross regions. [`crate::Stack::validate`] reports a reference through a
    /// `same` field to a resource of a provider in another region, naming both.
    fn region_fields(&self) -> RegionFields {
        RegionFields::NONE
    }
}

/// A type's reference fields by region rule: top-level input keys; every reference
/// anywhere inside a listed key's value is held to the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionFields {
    /// Fields whose references AWS requires in the resource's own region (a subnet's VPC).
    pub same: &'static [&'static str],
    /// Fields that may refer to another region (a replication destination, a Route 53
    /// alias target); declared so that every reference field of a type says which it is.
    pub cross: &'static [&'static str],
}

impl RegionFields {
    /// No reference field declared.
    pub const NONE: RegionFields = RegionFields {
        same: &[],
        cross: &[],
    };

    /// `same` fields must share the region; `cross` fields may cross.
    pub const fn new(same: &'static [&'static str], cross: &'static [&'static str]) -> Self {
        RegionFields { same, cross }
    }

    /// Whether `field` is declared either way.
    pub fn declares(&self, field: &str) -> bool {
        self.same.contains(&field) || self.cross.contains(&field)
    }
}

/// A check over a whole declared stack: every problem as `(resource, field, message)`.
pub type StackCheck = fn(&crate::Stack) -> Vec<(String, String, String)>;

/// The typed arguments of a data source: a read-only query evaluated during preview.
pub trait DataSourceArgs {
    /// The handle `Stack::data` returns.
    type Handle: From<ResourceRef>;

    /// The data source token, e.g. `aws:ec2/availabilityZones`.
    fn token(&self) -> &'static str;

    /// The query's arguments. They must be known at declaration.
    fn props(&self) -> Props;
}

/// Invalid fields found while validating one resource's arguments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors {
    errors: Vec<(String, String)>,
}

impl FieldErrors {
    /// Records that `field` is invalid, saying why.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push((field.into(), message.into()));
    }

    /// Runs `check` on `input` when its value is known now, recording its error.
    pub fn check<T>(
        &mut self,
        field: &str,
        input: &Input<T>,
        check: impl FnOnce(&T) -> Result<(), String>,
    ) {
        if let Some(v) = input.known()
            && let Err(message) = check(v)
        {
            self.add(field, message);
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded `(field, message)` pairs.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.errors
    }
}

/// A resource's arguments as a tree of properties; each leaf is known now or an output.
#[derive(Clone, Default)]
pub struct Props {
    members: Vec<(String, Arc<Node>)>,
}

impl Props {
    /// An empty property object.
    pub fn new() -> Self {
        Props::default()
    }

    /// Sets `key` to an input, output, nested `Props`, or list or map of inputs.
    pub fn set(mut self, key: &str, value: impl IntoProp) -> Self {
        self.members.push((key.to_string(), value.into_expr().0));
        self
    }

    /// Sets `key` when `value` is `Some`; leaves it out otherwise.
    pub fn set_opt<P: IntoProp>(self, key: &str, value: Option<P>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` to a plain value known now.
    pub fn value<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Self {
        self.members
            .push((key.to_string(), Arc::new(Node::Const(to_value(value)))));
        self
    }

    pub(crate) fn into_node(self) -> Arc<Node> {
        Arc::new(Node::Object(self.members))
    }
}

/// What can stand as a property: implemented for inputs, outputs, props and their lists
/// and maps, by reference so that builders keep their fields.
pub trait IntoProp {
    /// The property's expression.
    fn into_expr(self) -> Expr;
}

/// An opaque property expression: a known value, an output reference, or a tree of them.
#[derive(Clone)]
pub struct Expr(pub(crate) Arc<Node>);

impl<T: Serialize> IntoProp for &Input<T> {
    fn into_expr(self) -> Expr {
        Expr(self.to_node())
    }
}

impl<T> IntoProp for &Output<T> {
    fn into_expr(self) -> Expr {
        Expr(self.node.clone())
    }
}

impl IntoProp for Expr {
    fn into_expr(self) -> Expr {
        self
    }
}

impl IntoProp for Props {
    fn into_expr(self) -> Expr {
        Expr(Props::into_node(self))
    }
}

impl<T: Serialize> IntoProp for &Option<Input<T>> {
    fn into_expr(self) -> Expr {
        Expr(match self {
            Some(input) => input.to_node(),
            None => Arc::new(Node::Const(Value::Null)),
        })
    }
}

impl<T: Serialize> IntoProp for &Vec<Input<T>> {
    fn into_expr(self) -> Expr {
        Expr(Arc::new(Node::List(
            self.iter().map(Input::to_node).collect(),
        )))
    }
}

impl IntoProp for Vec<Props> {
    fn into_expr(self) -> Expr {
        Expr(Arc::new(Node::List(
            self.into_iter().map(Props::into_node).collect(),
        )))
    }
}

impl<T: Serialize> IntoProp for &BTreeMap<String, Input<T>> {
    fn into_expr(self) -> Expr {
        Expr(Arc::new(Node::Object(
            self.iter().map(|(k, v)| (k.clone(), v.to_node())).collect(),
        )))
    }
}

/// How long the engine lets a provider wait on one operation of a resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CustomTimeouts {
    /// Limit for create.
    pub create: Option<Duration>,
    /// Limit for update.
    pub update: Option<Duration>,
    /// Limit for delete.
    pub delete: Option<Duration>,
}

/// Options that change how the engine treats a resource, not what it is.
#[derive(Debug, Clone)]
pub struct ResourceOptions {
    pub(crate) depends_on: Vec<ResourceRef>,
    pub(crate) protect: bool,
    pub(crate) retain_on_delete: bool,
    pub(crate) ignore_changes: Vec<String>,
    pub(crate) delete_before_replace: bool,
    pub(crate) timeouts: CustomTimeouts,
    pub(crate) provider: Option<String>,
    pub(crate) replacement_warning: Option<String>,
}

impl Default for ResourceOptions {
    fn default() -> Self {
        ResourceOptions::DEFAULT
    }
}

impl ResourceOptions {
    /// The defaults, as a constant: `Default` gives this value, and declared resources
    /// with these options share one static copy instead of storing their own.
    pub(crate) const DEFAULT: ResourceOptions = ResourceOptions {
        depends_on: Vec::new(),
        protect: false,
        retain_on_delete: false,
        ignore_changes: Vec::new(),
        delete_before_replace: false,
        timeouts: CustomTimeouts {
            create: None,
            update: None,
            delete: None,
        },
        provider: None,
        replacement_warning: None,
    };

    /// Whether every option has its default value ([`ResourceOptions::DEFAULT`]).
    pub(crate) fn is_default(&self) -> bool {
        let ResourceOptions {
            depends_on,
            protect,
            retain_on_delete,
            ignore_changes,
            delete_before_replace,
            timeouts,
            provider,
            replacement_warning,
        } = self;
        depends_on.is_empty()
            && !protect
            && !retain_on_delete
            && ignore_changes.is_empty()
            && !delete_before_replace
            && timeouts.create.is_none()
            && timeouts.update.is_none()
            && timeouts.delete.is_none()
            && provider.is_none()
            && replacement_warning.is_none()
    }

    /// Default options.
    pub fn new() -> Self {
        ResourceOptions::default()
    }

    /// Adds an explicit dependency on a resource whose outputs this one does not read.
    pub fn depends_on(mut self, resource: impl AsRef<ResourceRef>) -> Self {
        self.depends_on.push(resource.as_ref().clone());
        self
    }

    /// Refuses to delete or replace the resource: such a plan is an error until the option
    /// is removed.
    pub fn protect(mut self, protect: bool) -> Self {
        self.protect = protect;
        self
    }

    /// When the resource leaves the stack (or the stack is destroyed), forget it in state
    /// but leave the cloud object in place.
    pub fn retain_on_delete(mut self, retain: bool) -> Self {
        self.retain_on_delete = retain;
        self
    }

    /// Keeps the recorded value of these top-level input keys, ignoring changes to them in
    /// the code or in the cloud.
    pub fn ignore_changes<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ignore_changes.extend(keys.into_iter().map(Into::into));
        self
    }

    /// A warning every plan that replaces this resource gives, next to the step and
    /// after the plan (e.g. that the old object's data is discarded).
    pub fn replacement_warning(mut self, warning: impl Into<String>) -> Self {
        self.replacement_warning = Some(warning.into());
        self
    }

    /// The warning a plan gives when it replaces this resource
    /// ([`ResourceOptions::replacement_warning`]).
    pub fn replacement_warning_text(&self) -> Option<&str> {
        self.replacement_warning.as_deref()
    }

    /// Replaces by deleting the old object first, instead of creating the new one first.
    pub fn delete_before_replace(mut self, yes: bool) -> Self {
        self.delete_before_replace = yes;
        self
    }

    /// Limits how long create, update and delete may wait.
    pub fn timeouts(mut self, timeouts: CustomTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The provider (account and region) that manages the resource.
    pub fn provider(mut self, provider: &crate::stack::ProviderRef) -> Self {
        self.provider = Some(provider.name().to_string());
        self
    }

    pub(crate) fn merge_defaults(mut self, defaults: ResourceOptions) -> Self {
        self.protect |= defaults.protect;
        self.retain_on_delete |= defaults.retain_on_delete;
        self.delete_before_replace |= defaults.delete_before_replace;
        self.ignore_changes.extend(defaults.ignore_changes);
        self.depends_on.extend(defaults.depends_on);
        if self.provider.is_none() {
            self.provider = defaults.provider;
        }
        self
    }
}

/// A handle that only knows its resource's name and type: for types without typed
/// accessors, and for tests.
#[derive(Debug, Clone)]
pub struct Handle(pub ResourceRef);

impl From<ResourceRef> for Handle {
    fn from(r: ResourceRef) -> Self {
        Handle(r)
    }
}

impl AsRef<ResourceRef> for Handle {
    fn as_ref(&self) -> &ResourceRef {
        &self.0
    }
}

impl Handle {
    /// The output field `path` of the resource.
    pub fn output<T>(&self, path: &str) -> Output<T> {
        self.0.output(path)
    }
}

//! `Output<T>` (a reference to a value another resource will produce) and `Input<T>` (a
//! value known now, or an `Output<T>`).
//!
//! Outputs are references, not futures: each is a small expression tree over resource
//! fields, constants and pure transforms. The whole graph is therefore known before anything
//! runs, which is what lets the engine compute a plan offline and show which values are
//! "known after apply".

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::value::{self, get_path, is_secret, reveal, secret, unknown, unknown_source};

type ApplyFn = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// One node of an output expression.
#[derive(Clone)]
pub(crate) enum Node {
    /// A value known at declaration.
    Const(Value),
    /// A field (dotted path) of a resource's or data source's outputs.
    Field { resource: Arc<str>, path: Arc<str> },
    /// A pure function of other nodes; unknown when any argument is unknown.
    Apply { args: Vec<Arc<Node>>, f: ApplyFn },
    /// An object whose members stay individually known or unknown.
    Object(Vec<(String, Arc<Node>)>),
    /// A list whose items stay individually known or unknown.
    List(Vec<Arc<Node>>),
    /// Marks the value of the inner node as secret.
    Secret(Arc<Node>),
}

/// Where evaluation finds the outputs of resources: `None` means "not known yet" (the
/// resource will be created or replaced by the plan being computed).
pub(crate) trait Resolver {
    fn outputs(&self, resource: &str) -> Option<&Value>;
}

impl Node {
    /// Evaluates the node. Unknown parts become `{"$unknown": source}` markers; secret parts
    /// stay wrapped. Errors come only from transforms.
    pub(crate) fn eval(&self, resolver: &dyn Resolver) -> Result<Value, String> {
        match self {
            Node::Const(v) => Ok(v.clone()),
            Node::Field { resource, path } => match resolver.outputs(resource) {
                None => Ok(unknown(format!("{resource}.{path}"))),
                Some(outputs) => Ok(get_path(outputs, path).unwrap_or(Value::Null)),
            },
            Node::Apply { args, f } => {
                let mut values = Vec::with_capacity(args.len());
                let mut hidden = false;
                for arg in args {
                    let v = arg.eval(resolver)?;
                    if let Some(source) = first_unknown(&v) {
                        return Ok(unknown(source));
                    }
                    hidden |= value::contains_secret(&v);
                    values.push(if hidden { reveal(&v) } else { v });
                }
                let values: Vec<Value> = values.iter().map(reveal).collect();
                let out = f(&values)?;
                Ok(if hidden { secret(out) } else { out })
            }
            Node::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, node) in members {
                    map.insert(key.clone(), node.eval(resolver)?);
                }
                Ok(Value::Object(map))
            }
            Node::List(items) => items
                .iter()
                .map(|n| n.eval(resolver))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Node::Secret(inner) => {
                let v = inner.eval(resolver)?;
                Ok(if unknown_source(&v).is_some() || is_secret(&v) {
                    v
                } else {
                    secret(v)
                })
            }
        }
    }

    /// Adds to `into` the first path segment of every field of `resource` this node
    /// reads (the output names a stack reference is read for).
    pub(crate) fn collect_fields_of(&self, resource: &str, into: &mut BTreeSet<String>) {
        match self {
            Node::Const(_) => {}
            Node::Field { resource: r, path } => {
                if r.as_ref() == resource {
                    into.insert(path.split('.').next().unwrap_or_default().to_string());
                }
            }
            Node::Apply { args, .. } | Node::List(args) => {
                args.iter()
                    .for_each(|a| a.collect_fields_of(resource, into));
            }
            Node::Object(members) => members
                .iter()
                .for_each(|(_, n)| n.collect_fields_of(resource, into)),
            Node::Secret(inner) => inner.collect_fields_of(resource, into),
        }
    }

    /// Adds the names of every resource this node reads to `into`.
    pub(crate) fn collect_resources(&self, into: &mut BTreeSet<Arc<str>>) {
        match self {
            Node::Const(_) => {}
            Node::Field { resource, .. } => {
                into.insert(resource.clone());
            }
            Node::Apply { args, .. } | Node::List(args) => {
                args.iter().for_each(|a| a.collect_resources(into));
            }
            Node::Object(members) => members.iter().for_each(|(_, n)| n.collect_resources(into)),
            Node::Secret(inner) => inner.collect_resources(into),
        }
    }
}

fn first_unknown(v: &Value) -> Option<String> {
    if let Some(source) = unknown_source(v) {
        return Some(source.to_string());
    }
    match v {
        Value::Object(map) => map.values().find_map(first_unknown),
        Value::Array(items) => items.iter().find_map(first_unknown),
        _ => None,
    }
}

/// A value that becomes known when the resource producing it has been created: a field of
/// a resource's outputs, possibly transformed.
///
/// Use it as another resource's input (this adds a dependency edge) or as a stack output.
/// Transforms ([`Output::map`], [`Output::format`]) are pure and run when the value is
/// known; a secret stays secret through every transform.
pub struct Output<T> {
    pub(crate) node: Arc<Node>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        Output::from_node(self.node.clone())
    }
}

impl<T> fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = BTreeSet::new();
        self.node.collect_resources(&mut names);
        f.debug_struct("Output").field("reads", &names).finish()
    }
}

impl<T> Output<T> {
    pub(crate) fn from_node(node: Arc<Node>) -> Self {
        Output {
            node,
            _type: PhantomData,
        }
    }

    /// A reference to the output field `path` (dotted) of the resource named `resource`.
    /// Provider handles use it for their typed accessors.
    pub fn field(resource: &str, path: &str) -> Self {
        Output::from_node(Arc::new(Node::Field {
            resource: Arc::from(resource),
            path: Arc::from(path),
        }))
    }

    /// The same output without its static type, e.g. to pass it to [`Output::format`].
    pub fn erase(&self) -> Output<Value> {
        Output::from_node(self.node.clone())
    }

    /// The same output, marked secret: every display redacts it and state encrypts it.
    pub fn into_secret(self) -> Self {
        Output::from_node(Arc::new(Node::Secret(self.node)))
    }

    /// The names of the resources this output reads.
    pub fn resources(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        self.node.collect_resources(&mut names);
        names.into_iter().map(|n| n.to_string()).collect()
    }
}

impl<T: Serialize> Output<T> {
    /// An output whose value is known now.
    pub fn known(value: T) -> Self {
        Output::from_node(Arc::new(Node::Const(to_value(&value))))
    }
}

impl<T: DeserializeOwned + 'static> Output<T> {
    /// Applies a pure function to the value once it is known.
    pub fn map<U: Serialize, F>(&self, f: F) -> Output<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.try_map(move |t| Ok(f(t)))
    }

    /// Like [`Output::map`] for a function that can fail; the error names the resource at
    /// apply time.
    pub fn try_map<U: Serialize, F>(&self, f: F) -> Output<U>
    where
        F: Fn(T) -> Result<U, String> + Send + Sync + 'static,
    {
        let f: ApplyFn = Arc::new(move |args: &[Value]| {
            let t: T = serde_json::from_value(args[0].clone())
                .map_err(|e| format!("output has an unexpected shape: {e}"))?;
            f(t).map(|u| to_value(&u))
        });
        Output::from_node(Arc::new(Node::Apply {
            args: vec![self.node.clone()],
            f,
        }))
    }
}

impl Output<String> {
    /// Formats several outputs into a string: each `{}` in `template` takes the next
    /// argument (strings as they are, other values as JSON). Known when all are known.
    ///
    /// ```
    /// # use iac_dsl::Output;
    /// let arn: Output<String> = Output::known("arn:aws:s3:::b".to_string());
    /// let objects = Output::format("{}/*", [arn.erase()]);
    /// ```
    pub fn format<I>(template: &str, args: I) -> Output<String>
    where
        I: IntoIterator<Item = Output<Value>>,
    {
        let template = template.to_string();
        let args: Vec<Arc<Node>> = args.into_iter().map(|o| o.node).collect();
        let f: ApplyFn = Arc::new(move |values: &[Value]| {
            let mut out = String::with_capacity(template.len());
            let mut values = values.iter();
            let mut rest = template.as_str();
            while let Some(at) = rest.find("{}") {
                out.push_str(&rest[..at]);
                match values.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {
                        return Err(format!(
                            "template `{template}` has more {{}} than arguments"
                        ));
                    }
                }
                rest = &rest[at + 2..];
            }
            out.push_str(rest);
            Ok(Value::String(out))
        });
        Output::from_node(Arc::new(Node::Apply { args, f }))
    }
}

impl<T> Output<Vec<T>> {
    /// One output holding the values of all `items`, in order.
    pub fn all<I>(items: I) -> Output<Vec<T>>
    where
        I: IntoIterator<Item = Output<T>>,
    {
        Output::from_node(Arc::new(Node::List(
            items.into_iter().map(|o| o.node).collect(),
        )))
    }
}

/// Formats outputs into an `Output<String>`: `format_output!("{}/*", bucket.arn())`.
#[macro_export]
macro_rules! format_output {
    ($template:expr $(, $arg:expr)* $(,)?) => {
        $crate::Output::<String>::format($template, [$( $crate::Output::erase(&$arg) ),*])
    };
}

/// A resource argument: a value known now, or an [`Output`] of another resource (which
/// makes the argument's resource depend on that one).
pub enum Input<T> {
    /// Known at declaration.
    Value(T),
    /// Known once another resource has been created.
    Output(Output<T>),
}

impl<T: Clone> Clone for Input<T> {
    fn clone(&self) -> Self {
        match self {
            Input::Value(v) => Input::Value(v.clone()),
            Input::Output(o) => Input::Output(o.clone()),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Value(v) => v.fmt(f),
            Input::Output(o) => o.fmt(f),
        }
    }
}

impl<T> Input<T> {
    /// The value, when it is known at declaration. Validation uses it: what is only known
    /// after apply is validated by the provider then.
    pub fn known(&self) -> Option<&T> {
        match self {
            Input::Value(v) => Some(v),
            Input::Output(_) => None,
        }
    }
}

impl<T: Serialize> Input<T> {
    /// The same input, marked secret (a plain value becomes a secret constant): for
    /// arguments that are secret by nature, such as a secret's value.
    pub fn into_secret(self) -> Input<T> {
        let node = Arc::new(Node::Secret(self.to_node()));
        Input::Output(Output::from_node(node))
    }

    pub(crate) fn to_node(&self) -> Arc<Node> {
        match self {
            Input::Value(v) => Arc::new(Node::Const(to_value(v))),
            Input::Output(o) => o.node.clone(),
        }
    }
}

impl<T> From<T> for Input<T> {
    fn from(value: T) -> Self {
        Input::Value(value)
    }
}

impl<T> From<Output<T>> for Input<T> {
    fn from(output: Output<T>) -> Self {
        Input::Output(output)
    }
}

impl<T> From<&Output<T>> for Input<T> {
    fn from(output: &Output<T>) -> Self {
        Input::Output(output.clone())
    }
}

impl From<&str> for Input<String> {
    fn from(value: &str) -> Self {
        Input::Value(value.to_string())
    }
}

impl From<&String> for Input<String> {
    fn from(value: &String) -> Self {
        Input::Value(value.clone())
    }
}

pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    // Serializing plain data (strings, numbers, maps with string keys) cannot fail; a type
    // that can fail here is a programming error in a provider's argument type.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    struct Known(HashMap<String, Value>);
    impl Resolver for Known {
        fn outputs(&self, resource: &str) -> Option<&Value> {
            self.0.get(resource)
        }
    }

    fn resolver(pairs: &[(&str, Value)]) -> Known {
        Known(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn field_is_unknown_until_its_resource_has_outputs() {
        let id: Output<String> = Output::field("vpc", "id");
        assert_eq!(
            id.node.eval(&resolver(&[])).unwrap(),
            json!({"$unknown": "vpc.id"})
        );
        let r = resolver(&[("vpc", json!({"id": "vpc-1"}))]);
        assert_eq!(id.node.eval(&r).unwrap(), json!("vpc-1"));
    }

    #[test]
    fn format_joins_several_outputs() {
        let arn: Output<String> = Output::field("bucket", "arn");
        let name: Output<String> = Output::field("bucket", "name");
        let s = format_output!("{}/*:{}", arn, name);
        let r = resolver(&[("bucket", json!({"arn": "arn:b", "name": "b"}))]);
        assert_eq!(s.node.eval(&r).unwrap(), json!("arn:b/*:b"));
        assert_eq!(s.resources(), vec!["bucket".to_string()]);
    }

    #[test]
    fn secrets_survive_transforms() {
        let pw: Output<String> = Output::field("pw", "result");
        let conn = pw.map(|p| format!("postgres://u:{p}@h"));
        let r = resolver(&[("pw", json!({"result": {"$secret": "s3cr3t"}}))]);
        let v = conn.node.eval(&r).unwrap();
        assert_eq!(v, json!({"$secret": "postgres://u:s3cr3t@h"}));
        let marked = Output::known("x".to_string()).into_secret();
        assert_eq!(marked.node.eval(&r).unwrap(), json!({"$secret": "x"}));
    }

    #[test]
    fn objects_keep_known_members_known() {
        let node = Node::Object(vec![
            ("cidr".into(), Arc::new(Node::Const(json!("10.0.0.0/16")))),
            ("vpc".into(), Output::<String>::field("vpc", "id").node),
        ]);
        assert_eq!(
            node.eval(&resolver(&[])).unwrap(),
            json!({"cidr": "10.0.0.0/16", "vpc": {"$unknown": "vpc.id"}})
        );
    }

    #[test]
    fn map_errors_are_reported() {
        let n: Output<u32> = Output::field("r", "n");
        let bad = n.try_map(|_| Err::<u32, _>("no".to_string()));
        let r = resolver(&[("r", json!({"n": 1}))]);
        assert_eq!(bad.node.eval(&r).unwrap_err(), "no");
    }
}

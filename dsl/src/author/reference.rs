//! Stack references: reading another stack's recorded outputs as [`Output`] values.
//!
//! A [`StackReference`] is declared like a data source, but its "provider" is the state
//! store: the engine reads the referenced stack's outputs before planning and before any
//! request (a missing stack or output is an error naming both), and every
//! [`StackReference::output`] is an ordinary output expression over the reference, so
//! whatever reads it depends on it and a secret output stays secret.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::output::{Node, Output};
use crate::resource::ResourceRef;
use crate::stack::{Declared, NodeKind, Stack, StackId};

/// The type token of a stack reference's node in the graph.
pub const STACK_REFERENCE_TYPE: &str = "iac:stack/reference";

/// Where the referenced stack is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// The state store the referring stack itself uses (`--state`).
    Current,
    /// Another state file (its secrets key is found as the CLI finds one: `IAC_PASSPHRASE`
    /// or the key file beside it).
    File(PathBuf),
}

impl std::fmt::Display for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateLocation::Current => f.write_str("the current state store"),
            StateLocation::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What the engine needs to read one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSpec {
    /// The reference's node name in the referring stack.
    pub name: String,
    /// The stack whose outputs it reads.
    pub stack: StackId,
    /// Where that stack is recorded.
    pub location: StateLocation,
}

/// A typed handle to another stack's recorded outputs.
///
/// ```
/// # use iac_dsl::{Stack, StackId, Output};
/// let mut stack = Stack::new("monitoring", "dev");
/// let dr = stack.stack_reference("dr", StackId::new("payment-dr", "dev-001"));
/// let function: Output<String> = dr.output("primary_lambda_function_name");
/// ```
#[derive(Debug, Clone)]
pub struct StackReference {
    name: Arc<str>,
    stack: StackId,
}

impl StackReference {
    /// The recorded output `name` of the referenced stack (a dotted path reads inside an
    /// object output). Known at preview (it is read before planning); a secret output
    /// stays secret through every transform.
    pub fn output<T>(&self, name: &str) -> Output<T> {
        Output::field(&self.name, name)
    }

    /// Like [`StackReference::output`], and marked secret even when the other stack
    /// recorded it in plain text.
    pub fn secret_output<T>(&self, name: &str) -> Output<T> {
        self.output(name).into_secret()
    }

    /// The referenced stack.
    pub fn stack(&self) -> &StackId {
        &self.stack
    }

    /// The reference's node name in the referring stack.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Stack {
    /// Declares a reference named `name` to the outputs of `stack`, recorded in the same
    /// state store as this stack.
    pub fn stack_reference(&mut self, name: &str, stack: StackId) -> StackReference {
        self.stack_reference_at(name, stack, StateLocation::Current)
    }

    /// Declares a reference named `name` to the outputs of `stack` recorded at `location`.
    pub fn stack_reference_at(
        &mut self,
        name: &str,
        stack: StackId,
        location: StateLocation,
    ) -> StackReference {
        let full = self.full_name(name);
        let shown = match &location {
            StateLocation::Current => json!({ "stack": stack.to_string() }),
            StateLocation::File(path) => {
                json!({ "stack": stack.to_string(), "location": path.display().to_string() })
            }
        };
        self.insert(Declared {
            reference: ResourceRef::new(&full, STACK_REFERENCE_TYPE),
            kind: NodeKind::Reference,
            inputs: Arc::new(Node::Const(shown)),
            options: None,
            deps: Vec::new(),
        });
        self.references.push(ReferenceSpec {
            name: full.clone(),
            stack: stack.clone(),
            location,
        });
        StackReference {
            name: Arc::from(full.as_str()),
            stack,
        }
    }

    /// The stack references declared, in declaration order.
    pub fn references(&self) -> &[ReferenceSpec] {
        &self.references
    }

    /// The output names each reference is read for: every field of it that a resource's
    /// inputs or a stack output uses (the first segment of its path), sorted.
    pub fn referenced_outputs(&self, reference: &str) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        let nodes = self.nodes.iter().map(|n| &n.inputs);
        for node in nodes.chain(self.outputs.iter().map(|(_, n)| n)) {
            node.collect_fields_of(reference, &mut names);
        }
        names.into_iter().collect()
    }
}

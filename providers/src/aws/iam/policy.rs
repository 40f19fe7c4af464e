//! Typed IAM policy documents. Stack authors build them from statements whose actions,
//! resources and principals may be outputs of other resources (a bucket's ARN known only
//! after apply); the document becomes AWS's JSON only when the provider sends it.

use std::collections::BTreeMap;

use iac_dsl::{FieldErrors, Input, IntoProp, Props};
use serde_json::{Map, Value};

/// A policy document: version `2012-10-17` and its statements.
#[derive(Debug, Clone, Default)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

impl PolicyDocument {
    /// An empty document; add statements with [`PolicyDocument::statement`].
    pub fn new() -> Self {
        PolicyDocument::default()
    }

    /// The trust policy that lets `service` (e.g. `lambda.amazonaws.com`) assume a role.
    pub fn assume_role_by_service(service: &str) -> Self {
        PolicyDocument::new().statement(
            Statement::allow()
                .action("sts:AssumeRole")
                .principal("Service", service),
        )
    }

    /// Adds a statement.
    pub fn statement(mut self, statement: Statement) -> Self {
        self.statements.push(statement);
        self
    }

    /// Reports a document without statements and statements without actions.
    pub fn validate(&self, field: &str, errors: &mut FieldErrors) {
        if self.statements.is_empty() {
            errors.add(field, "a policy document needs at least one statement");
        }
        for (i, s) in self.statements.iter().enumerate() {
            if s.actions.is_empty() {
                errors.add(
                    format!("{field}.Statement[{i}]"),
                    "a statement needs an action",
                );
            }
        }
    }

    pub(crate) fn props(&self) -> Props {
        Props::new()
            .set("Version", &Input::Value("2012-10-17".to_string()))
            .set(
                "Statement",
                self.statements
                    .iter()
                    .map(Statement::props)
                    .collect::<Vec<_>>(),
            )
    }
}

impl IntoProp for &PolicyDocument {
    fn into_expr(self) -> iac_dsl::Expr {
        self.props().into_expr()
    }
}

/// One statement: an effect, actions, resources, and (in trust policies) principals.
#[derive(Debug, Clone)]
pub struct Statement {
    sid: Option<String>,
    effect: &'static str,
    actions: Vec<Input<String>>,
    resources: Vec<Input<String>>,
    principals: BTreeMap<String, Vec<Input<String>>>,
    conditions: Option<Value>,
}

impl Statement {
    /// A statement that allows.
    pub fn allow() -> Self {
        Self::with_effect("Allow")
    }

    /// A statement that denies.
    pub fn deny() -> Self {
        Self::with_effect("Deny")
    }

    fn with_effect(effect: &'static str) -> Self {
        Statement {
            sid: None,
            effect,
            actions: Vec::new(),
            resources: Vec::new(),
            principals: BTreeMap::new(),
            conditions: None,
        }
    }

    /// Names the statement.
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Adds an action, e.g. `s3:GetObject`.
    pub fn action(mut self, action: impl Into<Input<String>>) -> Self {
        self.actions.push(action.into());
        self
    }

    /// Adds several actions.
    pub fn actions<I: IntoIterator<Item = S>, S: Into<Input<String>>>(
        mut self,
        actions: I,
    ) -> Self {
        self.actions.extend(actions.into_iter().map(Into::into));
        self
    }

    /// Adds a resource ARN (or pattern such as an ARN plus `/*`).
    pub fn resource(mut self, arn: impl Into<Input<String>>) -> Self {
        self.resources.push(arn.into());
        self
    }

    /// Adds a principal of `kind` (`Service`, `AWS`, `Federated`).
    pub fn principal(mut self, kind: &str, id: impl Into<Input<String>>) -> Self {
        self.principals
            .entry(kind.to_string())
            .or_default()
            .push(id.into());
        self
    }

    /// Sets the condition block (AWS's JSON form).
    pub fn condition(mut self, condition: Value) -> Self {
        self.conditions = Some(condition);
        self
    }

    fn props(&self) -> Props {
        let mut props = Props::new()
            .set_opt("Sid", self.sid.clone().map(Input::Value).as_ref())
            .set("Effect", &Input::Value(self.effect.to_string()))
            .set("Action", &self.actions);
        if !self.resources.is_empty() {
            props = props.set("Resource", &self.resources);
        }
        if !self.principals.is_empty() {
            let mut principals = Props::new();
            for (kind, ids) in &self.principals {
                principals = principals.set(kind, ids);
            }
            props = props.set("Principal", principals);
        }
        props.set_opt(
            "Condition",
            self.conditions.clone().map(Input::Value).as_ref(),
        )
    }
}

/// The document in a canonical form for comparison: single strings where AWS allows a
/// list become one-element lists, so a document read back from AWS equals the one sent.
pub(crate) fn canonical(document: &Value) -> Value {
    let mut doc = document.clone();
    if let Some(statements) = doc.get_mut("Statement") {
        if statements.is_object() {
            *statements = Value::Array(vec![statements.take()]);
        }
        for s in statements.as_array_mut().into_iter().flatten() {
            for key in ["Action", "NotAction", "Resource", "NotResource"] {
                listify(s.get_mut(key));
            }
            if let Some(Value::Object(p)) = s.get_mut("Principal") {
                p.values_mut().for_each(|v| listify(Some(v)));
            }
        }
    }
    doc
}

fn listify(value: Option<&mut Value>) {
    if let Some(v) = value
        && v.is_string()
    {
        *v = Value::Array(vec![v.take()]);
    }
}

/// Parses a document as IAM returns it (URL-encoded JSON) into its canonical form.
pub(crate) fn parse_returned(text: &str) -> Value {
    let decoded = percent_decode(text);
    serde_json::from_str::<Value>(&decoded)
        .or_else(|_| serde_json::from_str::<Value>(text))
        .map(|v| canonical(&v))
        .unwrap_or(Value::Object(Map::new()))
}

/// Decodes `%XX` escapes (and `+` is kept: IAM encodes spaces as `%20`).
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_compare_after_canonical_form_and_decoding() {
        let sent = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]});
        let returned = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F*%22%7D%7D";
        assert_eq!(parse_returned(returned), sent);
        assert_eq!(canonical(&sent), sent);
    }

    #[test]
    fn statements_take_outputs_and_empty_documents_are_invalid() {
        let bucket = iac_dsl::Output::<String>::known("arn:aws:s3:::b".into());
        let doc = PolicyDocument::new().statement(
            Statement::allow()
                .action("s3:GetObject")
                .resource(bucket.map(|arn| format!("{arn}/*"))),
        );
        let mut errors = FieldErrors::default();
        doc.validate("policy", &mut errors);
        assert!(errors.is_empty());
        PolicyDocument::new().validate("policy", &mut errors);
        PolicyDocument::new()
            .statement(Statement::deny())
            .validate("policy", &mut errors);
        let text = format!("{errors:?}");
        assert!(
            text.contains("at least one statement") && text.contains("Statement[0]"),
            "{text}"
        );
    }
}

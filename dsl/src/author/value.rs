//! The JSON values the engine moves between the stack, the state store and the providers,
//! and the two markers that may appear inside them.
//!
//! - `{"$secret": v}` marks `v` as secret. It survives every transform, is encrypted by the
//!   state store and is redacted by every display. Providers receive inputs with the marker
//!   removed ([`reveal`]) and wrap secret outputs themselves ([`secret`]).
//! - `{"$unknown": "vpc.id"}` stands for a value that is only known after apply; the string
//!   names where it comes from. It appears only in plans, never in state or provider calls.

use serde_json::Map;
/// The JSON value type of the provider boundary and of state.
pub use serde_json::Value;

/// Marker key of a secret value: `{"$secret": <value>}`.
pub const SECRET_KEY: &str = iac_state::SECRET_KEY;

/// Marker key of a value not known until apply: `{"$unknown": "<source>"}`.
pub const UNKNOWN_KEY: &str = "$unknown";

/// What displays show instead of a secret value.
pub const REDACTED: &str = "[secret]";

/// Wraps `value` as secret. Wrapping an already secret value does nothing.
pub fn secret(value: Value) -> Value {
    if is_secret(&value) {
        return value;
    }
    // Sized for its one key (an empty map would reserve room for several).
    let mut map = Map::with_capacity(1);
    map.insert(SECRET_KEY.to_string(), value);
    Value::Object(map)
}

/// A placeholder for a value known only after apply, naming its `source` (e.g. `vpc.id`).
pub fn unknown(source: impl Into<String>) -> Value {
    // Sized for its one key: one marker per unknown input adds up in a large plan.
    let mut map = Map::with_capacity(1);
    map.insert(UNKNOWN_KEY.to_string(), Value::String(source.into()));
    Value::Object(map)
}

/// Whether `value` itself is a secret marker.
pub fn is_secret(value: &Value) -> bool {
    single_key(value, SECRET_KEY).is_some()
}

/// The source named by an unknown marker, if `value` is one.
pub fn unknown_source(value: &Value) -> Option<&str> {
    single_key(value, UNKNOWN_KEY).and_then(Value::as_str)
}

/// Whether `value` holds an unknown marker anywhere inside it.
pub fn contains_unknown(value: &Value) -> bool {
    match value {
        Value::Object(map) => unknown_source(value).is_some() || map.values().any(contains_unknown),
        Value::Array(items) => items.iter().any(contains_unknown),
        _ => false,
    }
}

/// Whether `value` holds a secret marker anywhere inside it.
pub fn contains_secret(value: &Value) -> bool {
    match value {
        Value::Object(map) => is_secret(value) || map.values().any(contains_secret),
        Value::Array(items) => items.iter().any(contains_secret),
        _ => false,
    }
}

/// `value` with every secret marker replaced by the value it wraps: what a provider needs
/// to make its call. Never display or log the result.
pub fn reveal(value: &Value) -> Value {
    match value {
        Value::Object(map) => match single_key(value, SECRET_KEY) {
            Some(inner) => reveal(inner),
            None => Value::Object(map.iter().map(|(k, v)| (k.clone(), reveal(v))).collect()),
        },
        Value::Array(items) => Value::Array(items.iter().map(reveal).collect()),
        other => other.clone(),
    }
}

/// `value` with every secret replaced by [`REDACTED`]: safe to display and log.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            if is_secret(value) {
                Value::String(REDACTED.to_string())
            } else {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), redact(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// `text` with every secret string held in `values` replaced by [`REDACTED`]: for error
/// messages, which a provider builds from what a service said and which may quote a
/// request (a password rejected for its characters, say). Secrets shorter than four
/// characters are left alone: replacing them would garble the text, not protect it.
pub fn redact_text(text: &str, values: &[&Value]) -> String {
    fn collect<'a>(v: &'a Value, inside: bool, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                let secret = inside || is_secret(v);
                map.values().for_each(|x| collect(x, secret, out));
            }
            Value::Array(items) => items.iter().for_each(|x| collect(x, inside, out)),
            Value::String(s) if inside && s.len() >= 4 => out.push(s),
            _ => {}
        }
    }
    let mut secrets = Vec::new();
    for v in values {
        collect(v, false, &mut secrets);
    }
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

/// `outputs` with every top-level field whose input of the same name is secret marked
/// secret too: a provider that echoes a secret input into its outputs (many do) cannot leak
/// it into state or displays.
pub fn mark_echoed_secrets(inputs: &Value, outputs: Value) -> Value {
    let (Some(ins), Value::Object(mut outs)) = (inputs.as_object(), outputs.clone()) else {
        return outputs;
    };
    for (key, input) in ins {
        if contains_secret(input)
            && let Some(out) = outs.get_mut(key)
            && !is_secret(out)
        {
            *out = secret(out.take());
        }
    }
    Value::Object(outs)
}

/// The value at a dotted `path` (`"endpoint"`, `"tags.Name"`, `"names.0"`), looking through
/// secret markers; a secret found on the way keeps the result secret.
pub fn get_path(value: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(value.clone());
    }
    let mut current = value;
    let mut hidden = false;
    for part in path.split('.') {
        if let Some(inner) = single_key(current, SECRET_KEY) {
            hidden = true;
            current = inner;
        }
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    let found = current.clone();
    Some(if hidden { secret(found) } else { found })
}

fn single_key<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reveal_and_redact_reach_nested_secrets() {
        let v = json!({"user": "admin", "auth": {"password": secret(json!("hunter2"))}, "list": [secret(json!(1))]});
        assert_eq!(
            reveal(&v),
            json!({"user": "admin", "auth": {"password": "hunter2"}, "list": [1]})
        );
        let shown = redact(&v).to_string();
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains(REDACTED));
        assert!(contains_secret(&v));
    }

    #[test]
    fn get_path_keeps_secrecy_of_parents() {
        let v = json!({"conn": secret(json!({"host": "db", "port": 5432}))});
        assert_eq!(get_path(&v, "conn.port"), Some(secret(json!(5432))));
        assert_eq!(get_path(&v, "conn.missing"), None);
        assert_eq!(get_path(&json!({"a": [1, 2]}), "a.1"), Some(json!(2)));
    }

    #[test]
    fn unknown_markers_are_found_anywhere() {
        let v = json!({"a": [1, {"b": unknown("vpc.id")}]});
        assert!(contains_unknown(&v));
        assert_eq!(unknown_source(&unknown("x.y")), Some("x.y"));
        assert!(!contains_unknown(&json!({"$unknown": "x", "other": 1})));
    }
}

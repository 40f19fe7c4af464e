//! JSON columns parsed into `serde_json::Value` with objects sized to fit.
//!
//! `serde_json` builds an object by inserting into an empty map, which grows by doubling:
//! a four-key object ends with room for seven, and its storage is copied on the way. A
//! state of 100,000 resources holds 200,000 such objects, so the spare room and the copies
//! are a good part of a load's memory and time. Here each object's members are gathered
//! first and the map is made with exactly their number.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON value whose objects have no spare capacity.
pub(crate) fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Fitted.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The visitor that builds fitted values.
#[derive(Clone, Copy)]
struct Fitted;

impl<'de> DeserializeSeed<'de> for Fitted {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fitted {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so every parsed float is a number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Fitted)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut members: Vec<(String, Value)> = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            members.push((key, access.next_value_seed(Fitted)?));
        }
        // A repeated key keeps its last value, as `serde_json` does.
        let mut map = Map::with_capacity(members.len());
        map.extend(members);
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_same_values_as_serde_json() {
        for text in [
            r#"{"index":1,"size":"small","parent":"r0-1","id":"r1-2"}"#,
            r#"{"a":[1,-2,3.5,true,null,{"b":{"c":"d"}}],"e":{}, "f":[]}"#,
            r#"{"dup":1,"dup":2}"#,
            r#""plain""#,
            "18446744073709551615",
            "-9223372036854775808",
            "[]",
        ] {
            let ours = from_slice(text.as_bytes()).expect("valid JSON");
            let theirs: Value = serde_json::from_str(text).expect("valid JSON");
            assert_eq!(ours, theirs, "{text}");
            assert_eq!(ours.to_string(), theirs.to_string(), "key order of {text}");
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for text in [r#"{"a":1"#, r#"{"a":1} trailing"#, "", r#"{1:2}"#] {
            assert!(from_slice(text.as_bytes()).is_err(), "{text}");
        }
    }
}

//! The dynamic value type that WAMP dictionaries and arguments are made of.
//!
//! WAMP's JSON serializer has no binary type, so the spec carries bytes as a string
//! that starts with a NUL character followed by the base64 of the bytes
//! (`rfc/text/basic/serializations.md`, "Binary conversion of JSON Strings").
//! [`Value`] hides that: binary is [`Value::Bytes`] in every codec, written as a
//! MessagePack `bin` or as the NUL-prefixed string, depending on whether the
//! serializer is human readable.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A WAMP dictionary: string keys, any values. Ordered so output is deterministic.
pub type Dict = BTreeMap<String, Value>;

/// Any value that can travel in a WAMP message.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` / `nil`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer too large for `i64`.
    UInt(u64),
    /// A floating point number.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// Raw bytes (MessagePack `bin`, or JSON's NUL-prefixed base64 string).
    Bytes(Vec<u8>),
    /// An ordered list.
    List(Vec<Value>),
    /// A dictionary.
    Dict(Dict),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as a dictionary, if it is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value as a list, if it is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v.into())
            }
        })*
    };
}

value_from!(
    bool => Bool, i64 => Int, i32 => Int, u32 => Int, f64 => Float,
    String => String, &str => String, Vec<Value> => List, Dict => Dict,
);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::UInt(v), Value::Int)
    }
}

/// The prefix that marks a JSON string as base64-encoded bytes.
const JSON_BINARY_PREFIX: char = '\0';

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) if serializer.is_human_readable() => {
                let mut s = String::with_capacity(1 + b.len().div_ceil(3) * 4);
                s.push(JSON_BINARY_PREFIX);
                base64::engine::general_purpose::STANDARD.encode_string(b, &mut s);
                serializer.serialize_str(&s)
            }
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Dict(dict) => {
                let mut map = serializer.serialize_map(Some(dict.len()))?;
                for (k, v) in dict {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let human_readable = deserializer.is_human_readable();
        deserializer.deserialize_any(ValueVisitor { human_readable })
    }
}

#[derive(Clone, Copy)]
struct ValueVisitor {
    /// Only a human-readable format (JSON) uses the NUL-prefixed binary strings.
    human_readable: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        if self.human_readable {
            if let Some(encoded) = v.strip_prefix(JSON_BINARY_PREFIX) {
                // A NUL-prefixed string that is not base64 is kept as text: it was
                // never binary, and refusing it would make relaying fallible.
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                    return Ok(Value::Bytes(bytes));
                }
            }
        }
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        if self.human_readable && v.starts_with(JSON_BINARY_PREFIX) {
            return self.visit_str(&v);
        }
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut dict = Dict::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            dict.insert(key, value);
        }
        Ok(Value::Dict(dict))
    }
}

impl<'de> de::DeserializeSeed<'de> for ValueVisitor {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_binary_strings_become_bytes_and_back() {
        let v: Value = serde_json::from_str("\"\\u0000AQID\"").unwrap();
        assert_eq!(v, Value::Bytes(vec![1, 2, 3]));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"\\u0000AQID\"");
    }

    #[test]
    fn msgpack_carries_bytes_as_bin() {
        let v = Value::Bytes(vec![9, 8]);
        let bytes = rmp_serde::to_vec(&v).unwrap();
        assert_eq!(bytes[0], 0xc4, "bin8 marker");
        assert_eq!(rmp_serde::from_slice::<Value>(&bytes).unwrap(), v);
    }

    #[test]
    fn nul_prefixed_text_that_is_not_base64_stays_a_string() {
        let v: Value = serde_json::from_str("\"\\u0000***\"").unwrap();
        assert_eq!(v, Value::String("\0***".into()));
    }

    #[test]
    fn large_unsigned_integers_survive() {
        let v: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(v, Value::UInt(u64::MAX));
        assert_eq!(Value::from(5u64), Value::Int(5));
    }
}

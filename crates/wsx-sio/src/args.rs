//! Event and ack arguments: JSON values that may hold binary placeholders, plus the
//! attachments the placeholders refer to (the wire form, see [`crate::packet::binary`]).

use crate::packet::binary::{self, BinaryError, Data};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The arguments of an event or an acknowledgement.
///
/// Binary values sit in [`Self::values`] as placeholders `{"_placeholder":true,"num":N}`
/// referring to [`Self::attachments`]`[N]`; [`Self::attach`] makes one, [`Self::binary`]
/// resolves one, [`Self::into_data`] replaces them all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The arguments, in order.
    pub values: Vec<Value>,
    /// The binary attachments.
    pub attachments: Vec<Bytes>,
}

impl Args {
    /// No arguments.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// One JSON argument.
    ///
    /// # Errors
    /// `value` cannot be represented as JSON (a map with non-string keys, for example).
    pub fn one(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self {
            values: vec![serde_json::to_value(value)?],
            attachments: Vec::new(),
        })
    }

    /// Appends an argument (use [`Self::attach`] to put binary inside it).
    #[must_use]
    pub fn arg(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Adds an attachment and returns the placeholder to put where it belongs, at any depth
    /// of any argument.
    pub fn attach(&mut self, data: impl Into<Bytes>) -> Value {
        self.attachments.push(data.into());
        binary::placeholder(self.attachments.len() - 1)
    }

    /// Appends a binary argument.
    #[must_use]
    pub fn binary_arg(mut self, data: impl Into<Bytes>) -> Self {
        let placeholder = self.attach(data);
        self.values.push(placeholder);
        self
    }

    /// The attachment a placeholder value refers to.
    #[must_use]
    pub fn binary(&self, value: &Value) -> Option<&Bytes> {
        match binary::placeholder_num(value)? {
            Ok(n) => self.attachments.get(n),
            Err(()) => None,
        }
    }

    /// Arguments from values with binary leaves.
    #[must_use]
    pub fn from_data(values: Vec<Data>) -> Self {
        let (values, attachments) = binary::deconstruct(values);
        Self {
            values,
            attachments,
        }
    }

    /// The arguments with every placeholder replaced by its attachment.
    ///
    /// # Errors
    /// A placeholder refers to no attachment.
    pub fn into_data(self) -> Result<Vec<Data>, BinaryError> {
        binary::reconstruct(self.values, &self.attachments)
    }

    /// Whether the arguments hold binary attachments.
    #[must_use]
    pub fn has_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// Converts into a handler's argument type (see [`FromArgs`]).
    ///
    /// # Errors
    /// The arguments do not deserialize into `T`.
    pub fn parse<T: FromArgs>(self) -> Result<T, serde_json::Error> {
        T::from_args(self)
    }
}

/// What an event handler or an ack can take as its arguments.
///
/// [`Args`] takes them all as they are. Any other type is deserialized with serde: from the
/// single argument when there is exactly one (`socket.emit("chat", msg)` gives a `ChatMessage`),
/// from the array of all arguments otherwise (a tuple takes several), and from `null` when
/// there are none (so `()` and `Option<T>` work). Binary values appear as their placeholders.
pub trait FromArgs: Sized {
    /// Converts.
    ///
    /// # Errors
    /// The arguments do not fit.
    fn from_args(args: Args) -> Result<Self, serde_json::Error>;
}

impl FromArgs for Args {
    fn from_args(args: Args) -> Result<Self, serde_json::Error> {
        Ok(args)
    }
}

impl<T: DeserializeOwned> FromArgs for T {
    fn from_args(args: Args) -> Result<Self, serde_json::Error> {
        let mut values = args.values;
        match values.len() {
            0 => T::deserialize(Value::Null).or_else(|_| T::deserialize(Value::Array(values))),
            1 => {
                let one = values.pop().unwrap_or_default();
                T::deserialize(one)
            }
            _ => T::deserialize(Value::Array(values)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Chat {
        text: String,
    }

    #[test]
    fn typed_arguments() {
        let one = Args::new().arg(json!({"text": "hi"}));
        assert_eq!(
            one.clone().parse::<Chat>().ok(),
            Some(Chat { text: "hi".into() })
        );
        assert_eq!(one.parse::<Value>().ok(), Some(json!({"text": "hi"})));
        let two = Args::new().arg("room").arg(5);
        assert_eq!(
            two.clone().parse::<(String, u8)>().ok(),
            Some(("room".into(), 5))
        );
        assert_eq!(two.parse::<Value>().ok(), Some(json!(["room", 5])));
        assert_eq!(Args::new().parse::<()>().ok(), Some(()));
        assert_eq!(Args::new().parse::<Option<u8>>().ok(), Some(None));
        assert_eq!(Args::new().parse::<Vec<u8>>().ok(), Some(vec![]));
        assert!(Args::new().arg("x").parse::<u8>().is_err());
    }

    #[test]
    fn binary_placeholders() {
        let mut args = Args::new();
        let a = args.attach(Bytes::from_static(b"a"));
        args = args.arg(json!({"deep": [a]})).binary_arg(Bytes::new());
        assert_eq!(args.values[1], json!({"_placeholder": true, "num": 1}));
        assert_eq!(
            args.binary(&args.values[0]["deep"][0]),
            Some(&Bytes::from_static(b"a"))
        );
        assert_eq!(args.binary(&args.values[1]), Some(&Bytes::new()));
        let data = args.clone().into_data().expect("data");
        assert_eq!(Args::from_data(data), args);
    }
}

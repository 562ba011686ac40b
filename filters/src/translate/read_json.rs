//! Reading JSON the way the translation needs it: an object as its raw members (so that a
//! member nobody took is noticed and named), arrays element by element without collecting
//! them, and small scalars. Values stay borrowed slices of the input.

use super::TranslateError;
use crate::usage::ApiFormat;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A JSON object as its members in order. Translators take the members they translate; any
/// member left at the end has no translation and is refused by [`Members::refuse_rest`].
pub(super) struct Members<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Members<'a> {
    /// A whole request body.
    pub fn of_body(body: &'a [u8]) -> Result<Self, TranslateError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let fields = de
            .deserialize_map(MembersVisitor)
            .and_then(|fields| de.end().map(|()| fields))
            .map_err(|e| {
                TranslateError::invalid("", &format!("request body is not a JSON object: {e}"))
            })?;
        Self::unique(fields, "")
    }

    /// The object `raw`, found at `path`.
    pub fn of(raw: &'a RawValue, path: &str) -> Result<Self, TranslateError> {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let fields = de
            .deserialize_map(MembersVisitor)
            .map_err(|_| TranslateError::invalid(path, "must be a JSON object"))?;
        Self::unique(fields, path)
    }

    fn unique(
        fields: Vec<(Cow<'a, str>, &'a RawValue)>,
        path: &str,
    ) -> Result<Self, TranslateError> {
        for (i, (k, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(prev, _)| prev == k) {
                return Err(TranslateError::invalid(
                    join(path, k),
                    "appears more than once",
                ));
            }
        }
        Ok(Members { fields })
    }

    /// Removes and returns a member, `null` included.
    pub fn take(&mut self, key: &str) -> Option<&'a RawValue> {
        let i = self.fields.iter().position(|(k, _)| k == key)?;
        Some(self.fields.remove(i).1)
    }

    /// Removes a member; `None` when it is absent or `null`.
    pub fn take_value(&mut self, key: &str) -> Option<&'a RawValue> {
        self.take(key).filter(|v| !is_null(v))
    }

    /// Removes a member that must be absent, `null`, or a value that asks for nothing
    /// (`neutral`); any other value cannot be expressed in `target`.
    pub fn take_neutral(
        &mut self,
        key: &str,
        path: &str,
        target: ApiFormat,
        neutral: impl Fn(&str) -> bool,
        reason: &str,
    ) -> Result<(), TranslateError> {
        match self.take_value(key) {
            Some(v) if !neutral(v.get()) => Err(TranslateError::inexpressible(
                target,
                join(path, key),
                reason,
            )),
            _ => Ok(()),
        }
    }

    /// Refuses the first member nobody took.
    pub fn refuse_rest(self, path: &str, target: ApiFormat) -> Result<(), TranslateError> {
        match self.fields.first() {
            None => Ok(()),
            Some((k, _)) => Err(TranslateError::inexpressible(
                target,
                join(path, k),
                "no equivalent field",
            )),
        }
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(8);
        while let Some(Text(key)) = map.next_key()? {
            fields.push((key, map.next_value()?));
        }
        Ok(fields)
    }
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON string, borrowed when it has no escapes.
pub(super) struct Text<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The decoded string `raw`, or `None` when it is not a string.
pub(super) fn text(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text>(raw.get()).ok().map(|t| t.0)
}

/// The decoded string `raw`, or an error naming `path`.
pub(super) fn required_text<'a>(
    raw: &'a RawValue,
    path: &str,
) -> Result<Cow<'a, str>, TranslateError> {
    text(raw).ok_or_else(|| TranslateError::invalid(path, "must be a string"))
}

pub(super) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

pub(super) fn number(raw: &RawValue) -> Option<f64> {
    serde_json::from_str::<f64>(raw.get()).ok()
}

/// `raw` is the number 0 (`0`, `0.0`, `-0`, ...).
pub(super) fn is_zero(raw: &str) -> bool {
    serde_json::from_str::<f64>(raw).is_ok_and(|n| n == 0.0)
}

/// Calls `f` with each element of the array `raw` and its index, without collecting them.
/// Stops at the first error `f` returns. An element that does not deserialize as `T`, or
/// `raw` not being an array, is an error naming `path`.
pub(super) fn each<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    path: &str,
    mut f: impl FnMut(usize, T) -> Result<(), TranslateError>,
) -> Result<(), TranslateError> {
    let mut failure = None;
    let visitor = EachVisitor {
        f: &mut f,
        failure: &mut failure,
        element: PhantomData,
    };
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let parsed = de.deserialize_seq(visitor);
    match (failure, parsed) {
        (Some(e), _) => Err(e),
        (None, Ok(())) => Ok(()),
        (None, Err(_)) => Err(TranslateError::invalid(
            path,
            "must be an array of the expected objects",
        )),
    }
}

struct EachVisitor<'f, F, T> {
    f: &'f mut F,
    failure: &'f mut Option<TranslateError>,
    element: PhantomData<T>,
}

impl<'de, F, T> Visitor<'de> for EachVisitor<'_, F, T>
where
    T: Deserialize<'de>,
    F: FnMut(usize, T) -> Result<(), TranslateError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(element) = seq.next_element::<T>()? {
            if let Err(e) = (self.f)(i, element) {
                *self.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            i += 1;
        }
        Ok(())
    }
}

/// Deserializes only the first element of an array (the rest is validated and skipped):
/// translated responses have one choice.
pub(super) struct First<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        deserializer.deserialize_seq(FirstVisitor(PhantomData))
    }
}

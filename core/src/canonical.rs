//! Canonical JSON (OLPC, as TUF signs it: keys sorted, no whitespace, only `"` and `\` escaped,
//! strings in NFC), byte for byte what `olpc_cjson::CanonicalFormatter` writes, in one pass.
//!
//! Why not olpc-cjson itself: it boxes a writer for every fragment, normalises every string
//! character by character and copies each object into a fresh map; a product role with 100k
//! targets took about 2 s to sign that way. Here everything goes into one buffer; each object
//! records where its keys and values are and is reordered in place when it ends; ASCII strings
//! (all of airlock's names and fields) are copied as they are.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use std::io::{Error, ErrorKind, Result, Write};
use unicode_normalization::UnicodeNormalization;

/// The canonical JSON bytes of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> std::result::Result<Vec<u8>, serde_json::Error> {
    let mut state = State::default();
    let mut ser = serde_json::Serializer::with_formatter(std::io::sink(), Canonical(&mut state));
    value.serialize(&mut ser)?;
    Ok(state.buf)
}

/// Where one entry of an object is in the buffer.
#[derive(Clone, Copy)]
struct Entry {
    key: (usize, usize),
    value: (usize, usize),
}

#[derive(Default)]
struct Object {
    /// Offset just after `{`.
    start: usize,
    entries: Vec<Entry>,
    key_start: usize,
    key_end: usize,
    value_start: usize,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    objects: Vec<Object>,
}

struct Canonical<'a>(&'a mut State);

fn float() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "floating point numbers are not allowed in canonical JSON",
    )
}

fn no_object() -> Error {
    Error::other("object entry outside an object")
}

macro_rules! integer {
    ($f:ident, $t:ty) => {
        fn $f<W: Write + ?Sized>(&mut self, _w: &mut W, value: $t) -> Result<()> {
            write!(self.0.buf, "{value}")
        }
    };
}

impl Formatter for Canonical<'_> {
    fn write_null<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.extend_from_slice(b"null");
        Ok(())
    }
    fn write_bool<W: Write + ?Sized>(&mut self, _w: &mut W, value: bool) -> Result<()> {
        self.0
            .buf
            .extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }
    integer!(write_i8, i8);
    integer!(write_i16, i16);
    integer!(write_i32, i32);
    integer!(write_i64, i64);
    integer!(write_i128, i128);
    integer!(write_u8, u8);
    integer!(write_u16, u16);
    integer!(write_u32, u32);
    integer!(write_u64, u64);
    integer!(write_u128, u128);
    fn write_f32<W: Write + ?Sized>(&mut self, _w: &mut W, _value: f32) -> Result<()> {
        Err(float())
    }
    fn write_f64<W: Write + ?Sized>(&mut self, _w: &mut W, _value: f64) -> Result<()> {
        Err(float())
    }
    fn write_number_str<W: Write + ?Sized>(&mut self, _w: &mut W, value: &str) -> Result<()> {
        if value.contains(['.', 'e', 'E']) {
            return Err(float());
        }
        self.0.buf.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn begin_string<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b'"');
        Ok(())
    }
    fn end_string<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b'"');
        Ok(())
    }
    fn write_string_fragment<W: Write + ?Sized>(
        &mut self,
        _w: &mut W,
        fragment: &str,
    ) -> Result<()> {
        if fragment.is_ascii() {
            // NFC leaves ASCII as it is.
            self.0.buf.extend_from_slice(fragment.as_bytes());
        } else {
            for ch in fragment.nfc() {
                self.0
                    .buf
                    .extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        Ok(())
    }
    fn write_char_escape<W: Write + ?Sized>(
        &mut self,
        _w: &mut W,
        escape: CharEscape,
    ) -> Result<()> {
        // Only quotes and backslashes are escaped; everything else is written as it is.
        let byte = match escape {
            CharEscape::Quote => {
                self.0.buf.push(b'\\');
                b'"'
            }
            CharEscape::ReverseSolidus => {
                self.0.buf.push(b'\\');
                b'\\'
            }
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => b'\x08',
            CharEscape::FormFeed => b'\x0c',
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(byte) => byte,
        };
        self.0.buf.push(byte);
        Ok(())
    }
    fn write_byte_array<W: Write + ?Sized>(&mut self, w: &mut W, value: &[u8]) -> Result<()> {
        self.begin_array(w)?;
        for (i, b) in value.iter().enumerate() {
            self.begin_array_value(w, i == 0)?;
            self.write_u8(w, *b)?;
        }
        self.end_array(w)
    }
    fn begin_array<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b'[');
        Ok(())
    }
    fn end_array<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b']');
        Ok(())
    }
    fn begin_array_value<W: Write + ?Sized>(&mut self, _w: &mut W, first: bool) -> Result<()> {
        if !first {
            self.0.buf.push(b',');
        }
        Ok(())
    }
    fn end_array_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        Ok(())
    }
    fn begin_object<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b'{');
        let start = self.0.buf.len();
        self.0.objects.push(Object {
            start,
            ..Object::default()
        });
        Ok(())
    }
    fn begin_object_key<W: Write + ?Sized>(&mut self, _w: &mut W, _first: bool) -> Result<()> {
        let at = self.0.buf.len();
        self.0.objects.last_mut().ok_or_else(no_object)?.key_start = at;
        Ok(())
    }
    fn end_object_key<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        let at = self.0.buf.len();
        self.0.objects.last_mut().ok_or_else(no_object)?.key_end = at;
        Ok(())
    }
    fn begin_object_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        let at = self.0.buf.len();
        self.0.objects.last_mut().ok_or_else(no_object)?.value_start = at;
        Ok(())
    }
    fn end_object_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        let at = self.0.buf.len();
        let o = self.0.objects.last_mut().ok_or_else(no_object)?;
        let entry = Entry {
            key: (o.key_start, o.key_end),
            value: (o.value_start, at),
        };
        o.entries.push(entry);
        Ok(())
    }
    fn end_object<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        let State { buf, objects } = &mut *self.0;
        let mut o = objects.pop().ok_or_else(no_object)?;
        // Sorted by the key as written (quotes and escapes included), as olpc-cjson sorts.
        let sorted = o.entries.windows(2).all(|w| match w {
            [x, y] => buf.get(x.key.0..x.key.1) < buf.get(y.key.0..y.key.1),
            _ => true,
        });
        if !sorted {
            o.entries
                .sort_by(|x, y| buf.get(x.key.0..x.key.1).cmp(&buf.get(y.key.0..y.key.1)));
        }
        let mut out = Vec::with_capacity(buf.len().saturating_sub(o.start) + o.entries.len() * 2);
        let mut first = true;
        for (i, e) in o.entries.iter().enumerate() {
            // Keys equal once normalised: the last one wins, as in olpc-cjson's map.
            let key = buf.get(e.key.0..e.key.1);
            if o.entries
                .get(i + 1)
                .is_some_and(|n| buf.get(n.key.0..n.key.1) == key)
            {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(buf.get(e.key.0..e.key.1).unwrap_or_default());
            out.push(b':');
            out.extend_from_slice(buf.get(e.value.0..e.value.1).unwrap_or_default());
        }
        buf.truncate(o.start);
        buf.extend_from_slice(&out);
        buf.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn olpc(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
        value.serialize(&mut ser).unwrap();
        out
    }

    #[test]
    fn same_bytes_as_olpc_cjson_on_tricky_keys_and_strings() {
        let v = json!({
            "b": [1, -2, {"z": null, "a": true}],
            "a": "quote \" backslash \\ newline \n tab \t",
            "a!": 1, "a ": 2, "a\"": 3, "a\\": 4, "": 5, "é": "café", "e\u{301}": "cafe\u{301}",
            "nested": {"y": {"x": {"w": []}}, "a": {}},
            "n": 18446744073709551615u64
        });
        assert_eq!(
            String::from_utf8(to_vec(&v).unwrap()).unwrap(),
            String::from_utf8(olpc(&v)).unwrap()
        );
        assert!(to_vec(&json!({"f": 1.5})).is_err());
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~é\u{301}\"\\\\\n]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[ -~é\"\\\\]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn same_bytes_as_olpc_cjson(v in value()) {
            prop_assert_eq!(to_vec(&v).unwrap(), olpc(&v));
        }
    }
}

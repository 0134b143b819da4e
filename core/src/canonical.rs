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

/// Roles with fewer targets than this are encoded in one pass ([`to_vec`]).
const PARALLEL_FROM: usize = 1024;

/// The canonical JSON of a targets role (a product role as airlock signs it): the same bytes as
/// [`to_vec`] (property-tested), with the target entries encoded on every core and sorted once.
/// A role with delegations or unknown fields, or a small one, is encoded by [`to_vec`].
pub fn targets_role(
    role: &tough::schema::Targets,
) -> std::result::Result<Vec<u8>, serde_json::Error> {
    use rayon::prelude::*;
    let plain = role
        .delegations
        .as_ref()
        .is_none_or(|d| d.keys.is_empty() && d.roles.is_empty())
        && role._extra.is_empty();
    if !plain || role.targets.len() < PARALLEL_FROM {
        return to_vec(role);
    }
    // The role without its targets: `"targets":{}` occurs once in it (no other object of a
    // plain role has a key "targets"); the sorted entries go between those braces.
    let mut shell =
        tough::schema::Targets::new(role.spec_version.clone(), role.version, role.expires);
    shell.delegations = role.delegations.clone();
    let shell = to_vec(&shell)?;
    const EMPTY_TARGETS: &[u8] = b"\"targets\":{}";
    let mut at = shell
        .windows(EMPTY_TARGETS.len())
        .enumerate()
        .filter(|(_, w)| *w == EMPTY_TARGETS)
        .map(|(i, _)| i + EMPTY_TARGETS.len() - 1);
    let (Some(close), None) = (at.next(), at.next()) else {
        return to_vec(role);
    };
    let (Some(head), Some(tail)) = (shell.get(..close), shell.get(close..)) else {
        return to_vec(role);
    };
    // Each name as written (quotes and escapes: the order of `to_vec`'s objects), sorted; then
    // one chunk of consecutive entries per core, each encoded as one object whose braces are
    // dropped (its entries come sorted already, so nothing moves).
    let mut names = role
        .targets
        .par_iter()
        .map(|(name, target)| Ok((to_vec(name.raw())?, name.raw(), target)))
        .collect::<std::result::Result<Vec<_>, serde_json::Error>>()?;
    names.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let chunk = names
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    let parts = names
        .par_chunks(chunk)
        .map(|c| to_vec(&SortedEntries(c)))
        .collect::<std::result::Result<Vec<Vec<u8>>, serde_json::Error>>()?;
    // with room for what a signer puts in front of the signed bytes (the signatures)
    let mut out =
        Vec::with_capacity(shell.len() + parts.iter().map(Vec::len).sum::<usize>() + 2048);
    out.extend_from_slice(head);
    for (i, part) in parts.iter().enumerate() {
        // `{...}` without its braces
        let inner = part
            .get(1..part.len().saturating_sub(1))
            .unwrap_or_default();
        if i > 0 && !inner.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(inner);
    }
    out.extend_from_slice(tail);
    Ok(out)
}

/// Consecutive entries of a targets map, already in canonical order, serialized as one object.
struct SortedEntries<'a>(&'a [(Vec<u8>, &'a str, &'a tough::schema::Target)]);

impl Serialize for SortedEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (_, name, target) in self.0 {
            map.serialize_entry(name, &SortedTarget(target))?;
        }
        map.end()
    }
}

/// A target entry with its keys in canonical order (`custom`, `hashes`, `length`) and its custom
/// fields sorted, so that the encoder finds its objects in order and moves nothing. The same
/// bytes as the entry itself: an object that still comes out of order (a key with a quote or a
/// backslash, unknown fields) is sorted by the encoder as any other.
struct SortedTarget<'a>(&'a tough::schema::Target);

impl Serialize for SortedTarget<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let t = self.0;
        if !t._extra.is_empty() {
            return t.serialize(s);
        }
        let mut map = s.serialize_map(Some(3))?;
        if !t.custom.is_empty() {
            let mut custom: Vec<(&String, &serde_json::Value)> = t.custom.iter().collect();
            custom.sort_unstable_by(|a, b| a.0.cmp(b.0));
            map.serialize_entry("custom", &SortedMap(&custom))?;
        }
        map.serialize_entry("hashes", &t.hashes)?;
        map.serialize_entry("length", &t.length)?;
        map.end()
    }
}

struct SortedMap<'a>(&'a [(&'a String, &'a serde_json::Value)]);

impl Serialize for SortedMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
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

impl State {
    /// Records the current output offset in a field of the innermost open object.
    fn mark(&mut self, field: fn(&mut Object) -> &mut usize) -> Result<()> {
        let at = self.buf.len();
        *field(self.objects.last_mut().ok_or_else(no_object)?) = at;
        Ok(())
    }
}

macro_rules! integer {
    ($f:ident, $t:ty) => {
        fn $f<W: Write + ?Sized>(&mut self, _w: &mut W, value: $t) -> Result<()> {
            write!(self.0.buf, "{value}")
        }
    };
}

/// A method that writes one fixed byte (a string's quote, an array's bracket).
macro_rules! byte {
    ($f:ident, $b:expr) => {
        fn $f<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
            self.0.buf.push($b);
            Ok(())
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
    byte!(begin_string, b'"');
    byte!(end_string, b'"');
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
    byte!(begin_array, b'[');
    byte!(end_array, b']');
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
    fn begin_object_key<W: Write + ?Sized>(&mut self, _w: &mut W, first: bool) -> Result<()> {
        // The comma goes in now: an object whose keys come sorted is then final as written.
        if !first {
            self.0.buf.push(b',');
        }
        self.0.mark(|o| &mut o.key_start)
    }
    fn end_object_key<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.mark(|o| &mut o.key_end)
    }
    fn begin_object_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> Result<()> {
        self.0.buf.push(b':');
        self.0.mark(|o| &mut o.value_start)
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
        if sorted {
            // strictly ascending: no key twice, nothing to move
            buf.push(b'}');
            return Ok(());
        }
        o.entries
            .sort_by(|x, y| buf.get(x.key.0..x.key.1).cmp(&buf.get(y.key.0..y.key.1)));
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

        /// The parallel encoding of a large targets role is byte for byte the one-pass encoding
        /// (of the role, and of the delegated role the signer signs), for names and custom
        /// fields with quotes, backslashes, non-ASCII and decomposed characters.
        #[test]
        fn targets_role_is_the_one_pass_encoding(
            names in prop::collection::btree_set("[a-z]{1,3}/[ -~é\u{301}\"\\\\]{1,6}", 0..40),
            custom in prop::collection::btree_map("[ -~é\"]{0,4}", value(), 0..4),
            extra_targets in 0usize..1200,
            delegations in any::<bool>(),
        ) {
            let mut role = tough::schema::Targets::new(
                "1.0.0".into(),
                std::num::NonZeroU64::new(7).unwrap(),
                "2030-01-01T00:00:00Z".parse().unwrap(),
            );
            if !delegations {
                role.delegations = None;
            }
            // every seventh entry with unknown fields (in the entry and in its hashes)
            let extra = |n: u64| -> std::collections::HashMap<String, Value> {
                if n % 7 == 3 {
                    [("zz".to_string(), json!(n)), ("a\\".to_string(), json!("x"))].into()
                } else {
                    std::collections::HashMap::new()
                }
            };
            let entry = |n: u64| tough::schema::Target {
                length: n,
                hashes: tough::schema::Hashes {
                    sha256: vec![n as u8; 32].into(),
                    _extra: extra(n + 1),
                },
                custom: custom.clone().into_iter().collect(),
                _extra: extra(n),
            };
            for (i, name) in names.iter().enumerate() {
                if let Ok(name) = tough::TargetName::new(name.clone()) {
                    role.targets.insert(name, entry(i as u64));
                }
            }
            for i in 0..extra_targets {
                role.targets.insert(
                    tough::TargetName::new(format!("acme-cam/fw-{i}.bin")).unwrap(),
                    entry(i as u64),
                );
            }
            let fast = targets_role(&role).unwrap();
            prop_assert_eq!(&fast, &to_vec(&role).unwrap());
            let delegated = tough::schema::DelegatedTargets { name: "acme-cam".into(), targets: role };
            prop_assert_eq!(&fast, &to_vec(&delegated).unwrap());
        }
    }
}

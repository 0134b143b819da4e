//! Names on the wire and on disk: percent-encoding of role names and target paths, and which
//! target paths a delegation covers (TUF 4.5 `paths` / `path_hash_prefixes`).

use sha2::Digest;

use super::metadata::DelegatedRole;

/// Percent-encodes everything except ASCII letters, digits and `_.-~`, so that a role name or
/// target path becomes one safe URL path segment and one flat file name ("../x" -> "..%2Fx").
pub fn encode_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// TUF 5.6.7.2: whether `role` is trusted for `target_path`.
pub fn role_covers(role: &DelegatedRole, target_path: &str) -> bool {
    if let Some(patterns) = &role.paths {
        return patterns.iter().any(|p| path_matches(p, target_path));
    }
    if let Some(prefixes) = &role.path_hash_prefixes {
        let digest = hex::encode(sha2::Sha256::digest(target_path.as_bytes()));
        return prefixes.iter().any(|p| digest.starts_with(p.as_str()));
    }
    // A delegation with neither list delegates nothing.
    false
}

/// TUF 4.5 PATHPATTERN: shell-style wildcards where a wildcard never matches the separator `/`,
/// so the pattern and the path must have the same number of segments and each segment matches.
pub fn path_matches(pattern: &str, target_path: &str) -> bool {
    let pattern_parts: Vec<&str> = pattern.split('/').collect();
    let path_parts: Vec<&str> = target_path.split('/').collect();
    pattern_parts.len() == path_parts.len()
        && pattern_parts.iter().zip(&path_parts).all(|(p, s)| {
            let pattern: Vec<char> = p.chars().collect();
            let segment: Vec<char> = s.chars().collect();
            segment_matches(&pattern, &segment)
        })
}

/// fnmatch on one segment: `*` any run, `?` one character, `[abc]`, `[a-z]`, `[!abc]`.
fn segment_matches(pattern: &[char], text: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return text.is_empty();
    };
    match first {
        '*' => (0..=text.len()).any(|skip| segment_matches(rest, &text[skip..])),
        '?' => !text.is_empty() && segment_matches(rest, &text[1..]),
        '[' => match (parse_class(rest), text.split_first()) {
            (Some((class, after)), Some((&c, text_rest))) => {
                class.matches(c) && segment_matches(after, text_rest)
            }
            // An unterminated '[' is a literal character, as in fnmatch.
            (None, Some((&c, text_rest))) => c == '[' && segment_matches(rest, text_rest),
            (_, None) => false,
        },
        literal => text
            .split_first()
            .is_some_and(|(&c, text_rest)| c == literal && segment_matches(rest, text_rest)),
    }
}

struct CharClass {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// Parses the inside of `[...]` (after the `[`); returns the class and the pattern after `]`.
fn parse_class(pattern: &[char]) -> Option<(CharClass, &[char])> {
    let mut i = 0;
    let negated = matches!(pattern.first(), Some('!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let start = i;
    while i < pattern.len() {
        let c = pattern[i];
        if c == ']' && i > start {
            return Some((CharClass { negated, ranges }, &pattern[i + 1..]));
        }
        if i + 2 < pattern.len() && pattern[i + 1] == '-' && pattern[i + 2] != ']' {
            ranges.push((c, pattern[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_role_names_become_one_segment() {
        assert_eq!(encode_component("../delegatedrole"), "..%2Fdelegatedrole");
        assert_eq!(encode_component("/delegatedrole"), "%2Fdelegatedrole");
        assert_eq!(encode_component("?"), "%3F");
        assert_eq!(encode_component("#"), "%23");
        assert_eq!(encode_component("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(encode_component("targets"), "targets");
    }

    #[test]
    fn wildcards_do_not_cross_separators() {
        assert!(path_matches("*.md", "README.md"));
        assert!(!path_matches("*.md", "releases/README.md"));
        assert!(path_matches("releases/*/*", "releases/x/x_v1"));
        assert!(!path_matches("releases/*", "releases/x/x_v1"));
        assert!(path_matches("*", "missingpath"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(path_matches("foo-?.tgz", "foo-1.tgz"));
        assert!(!path_matches("foo-?.tgz", "foo-alpha.tgz"));
        assert!(path_matches("v[0-9].bin", "v7.bin"));
        assert!(!path_matches("v[!0-9].bin", "v7.bin"));
        assert!(path_matches("a[.bin", "a[.bin"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!path_matches("*.md", "README.MD"));
    }

    #[test]
    fn hash_prefixes_select_by_sha256_of_the_path() {
        let digest = hex::encode(sha2::Sha256::digest(b"file.txt"));
        let role = |prefixes: Vec<String>| DelegatedRole {
            name: "bin".to_owned(),
            keyids: vec![],
            threshold: 1,
            terminating: false,
            paths: None,
            path_hash_prefixes: Some(prefixes),
        };
        assert!(role_covers(&role(vec![digest[..2].to_owned()]), "file.txt"));
        let other = if digest.starts_with('0') { "1" } else { "0" };
        assert!(!role_covers(&role(vec![other.to_owned()]), "file.txt"));
    }
}

//! How the askama templates (`templates/*.html`) escape every value they show: `& < > " '`
//! as the named entities `&amp; &lt; &gt; &quot;` and `&#39;` (what the server's pages have
//! always served; askama's own escaper writes numeric ones). Escaping stays askama's job: a
//! template cannot show a value unescaped unless it says `|safe`.

use std::fmt::{self, Write};

#[derive(Debug, Clone, Copy)]
pub struct NamedEntities;

impl askama::filters::Escaper for NamedEntities {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut rest = string;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            dest.write_str(&rest[..at])?;
            dest.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        dest.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::filters::Escaper;

    #[test]
    fn markup_and_quotes_are_escaped() {
        let mut out = String::new();
        NamedEntities
            .write_escaped_str(&mut out, "<a href=\"x\">&'ü")
            .unwrap();
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;ü");
    }
}

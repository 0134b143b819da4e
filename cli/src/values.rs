//! Values of the command line that users type in several forms: dates, timestamps, versions and
//! server URLs. [`crate::command`] gives every argument of these types the parser here, whose
//! error names the accepted form (clap prints it after "invalid value 'X' for '--flag'").

use std::any::TypeId;

/// A calendar date, `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<jiff::civil::Date, String> {
    text.trim().parse().map_err(|e: jiff::Error| {
        let looks_iso = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-');
        if looks_iso {
            // the right shape, an impossible day (2030-02-30)
            format!("{e}")
        } else {
            let hint = day_month_year(text)
                .map(|iso| format!(" ({text} is {iso})"))
                .unwrap_or_default();
            format!("use YYYY-MM-DD, e.g. 2030-12-31{hint}")
        }
    })
}

/// `31/12/2030` or `31.12.2030` as `2030-12-31`, when the day cannot be a month.
fn day_month_year(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(['/', '.', '-']).collect();
    let [d, m, y] = parts.as_slice() else {
        return None;
    };
    let (d, m, y): (u8, u8, u16) = (d.parse().ok()?, m.parse().ok()?, y.parse().ok()?);
    (d > 12 && (1..=12).contains(&m) && y >= 1000).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// An instant: RFC 3339 with a time and `Z` or an offset.
pub fn timestamp(text: &str) -> Result<jiff::Timestamp, String> {
    text.trim().parse().map_err(|e: jiff::Error| {
        if date(text).is_ok() {
            format!(
                "give a time and a zone too: {}T00:00:00Z (RFC 3339)",
                text.trim()
            )
        } else {
            format!("use RFC 3339, e.g. 2026-06-30T09:00:00Z ({e})")
        }
    })
}

/// A semantic version, `MAJOR.MINOR.PATCH` (with an optional `-pre` and `+build`).
pub fn version(text: &str) -> Result<semver::Version, String> {
    let t = text.trim();
    semver::Version::parse(t).map_err(|e| {
        if let Some(rest) = t.strip_prefix(['v', 'V']) {
            if semver::Version::parse(rest).is_ok() {
                return format!("drop the leading 'v': {rest}");
            }
        }
        let numbers: Vec<&str> = t.split('.').collect();
        if numbers.len() < 3 && numbers.iter().all(|n| n.parse::<u64>().is_ok()) {
            let mut full = numbers.clone();
            full.resize(3, "0");
            return format!(
                "use MAJOR.MINOR.PATCH (semantic versioning), e.g. {}",
                full.join(".")
            );
        }
        format!("use MAJOR.MINOR.PATCH (semantic versioning), e.g. 1.2.0 ({e})")
    })
}

/// A server's base URL with its scheme: `http://host:port` or `https://...` (`file://` for a
/// directory where a command reads a static repository).
pub fn url(text: &str) -> Result<url::Url, String> {
    let t = text.trim();
    let with_scheme = || format!("give the scheme: http://{t} (or https://{t})");
    match url::Url::parse(t) {
        Ok(u) if matches!(u.scheme(), "http" | "https" | "file") => Ok(u),
        // `localhost:8080` parses as the scheme "localhost"
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Err(with_scheme()),
        Err(e) => Err(format!("{e}: use e.g. http://127.0.0.1:8080")),
    }
}

/// The parser of this module for a value of type `id`, if it has one.
pub(crate) fn parser_for(id: impl PartialEq<TypeId>) -> Option<clap::builder::ValueParser> {
    use clap::builder::ValueParser;
    if id == TypeId::of::<jiff::civil::Date>() {
        Some(ValueParser::new(date))
    } else if id == TypeId::of::<jiff::Timestamp>() {
        Some(ValueParser::new(timestamp))
    } else if id == TypeId::of::<semver::Version>() {
        Some(ValueParser::new(version))
    } else if id == TypeId::of::<url::Url>() {
        Some(ValueParser::new(url))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_accepted_form() {
        let e = date("31/12/2030").unwrap_err();
        assert!(e.contains("YYYY-MM-DD") && e.contains("2030-12-31"), "{e}");
        assert!(date("2030-02-30").is_err());
        assert_eq!(date("2030-12-31").unwrap().to_string(), "2030-12-31");
        let e = timestamp("2026-01-01").unwrap_err();
        assert!(e.contains("2026-01-01T00:00:00Z"), "{e}");
        assert!(timestamp("2026-01-01T10:00:00Z").is_ok());
        assert_eq!(
            version("v1.2.0").unwrap_err(),
            "drop the leading 'v': 1.2.0"
        );
        assert!(version("1.2").unwrap_err().contains("e.g. 1.2.0"));
        assert!(version("1.2.0-rc.1").is_ok());
        assert!(url("127.0.0.1:8080")
            .unwrap_err()
            .contains("http://127.0.0.1:8080"));
        assert!(url("localhost:8080")
            .unwrap_err()
            .contains("http://localhost:8080"));
        assert!(url("https://updates.example").is_ok());
    }
}

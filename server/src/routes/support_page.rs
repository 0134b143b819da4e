//! The public support page of a product (HTML), rendered through an askama template
//! (`templates/support_page.html`) that escapes every value ([`crate::html`]).

use askama::Template;

use airlock_core::support::SupportChange;

use super::public::SupportStatement;

/// One row of the page's table: a label and its value, shown as text, bold or a link.
pub struct Row {
    pub label: &'static str,
    pub text: String,
    pub strong: bool,
    pub link: bool,
}

impl Row {
    fn text(label: &'static str, text: impl ToString) -> Row {
        Row {
            label,
            text: text.to_string(),
            strong: false,
            link: false,
        }
    }
}

#[derive(Template)]
#[template(path = "support_page.html")]
pub struct SupportPage<'a> {
    pub product: &'a str,
    pub statement: &'a str,
    pub rows: Vec<Row>,
    pub history: &'a [SupportChange],
    pub json: String,
    pub signed: &'a str,
    pub sha256: &'a str,
}

impl<'a> SupportPage<'a> {
    pub fn new(product: &'a str, s: &'a SupportStatement) -> Self {
        let r = &s.record;
        let mut rows = vec![
            Row::text("Status", s.status.words()),
            Row::text(
                "Support period",
                format!("{} to {}", r.support_start, r.security_updates_until),
            ),
            Row::text("Feature updates until", r.feature_updates_until),
            Row {
                strong: true,
                ..Row::text("Security updates until", r.security_updates_until)
            },
            Row::text(
                "Updatable",
                if r.updatable {
                    "yes, over the air (signed updates)"
                } else {
                    "no: this product cannot be updated"
                },
            ),
            Row::text("Minimum security version", r.min_security_version),
        ];
        let link = |label, url: &String| Row {
            link: true,
            ..Row::text(label, url)
        };
        if let Some(x) = &r.support_period_rationale {
            rows.push(Row::text("Why this support period", x));
        }
        if let Some(x) = &r.successor {
            rows.push(Row::text("Successor", x));
        }
        if let Some(x) = &r.notice_url {
            rows.push(link("More information", x));
        }
        if let Some(x) = &r.security_contact {
            rows.push(link("Report a vulnerability", x));
        }
        if let Some(x) = &r.disclosure_policy {
            rows.push(link("Disclosure policy", x));
        }
        SupportPage {
            product,
            statement: &r.statement,
            rows,
            history: &r.history,
            json: format!("/v1/products/{product}/support"),
            signed: &s.signed_record.url,
            sha256: &s.signed_record.sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::public::{SignedRecord, SupportStatus};

    fn statement(text: &str, contact: &str) -> SupportStatement {
        SupportStatement {
            record: serde_json::from_value(serde_json::json!({
                "product": "acme-cam",
                "support_start": "2026-01-01",
                "feature_updates_until": "2028-12-31",
                "security_updates_until": "2030-12-31",
                "statement": text,
                "security_contact": contact,
                "history": [{"at": "2026-06-01T00:00:00Z", "action": "extend", "reason": "<i>why</i>"}],
            }))
            .unwrap(),
            status: SupportStatus::Supported,
            signed_record: SignedRecord {
                target: "acme-cam/support.json".into(),
                sha256: "ab".repeat(32),
                length: 10,
                url: "/tuf/targets/acme-cam/x.support.json".into(),
                role: "acme-cam".into(),
                role_metadata: "/tuf/metadata/1.acme-cam.json".into(),
            },
        }
    }

    #[test]
    fn quotes_and_angle_brackets_in_a_statement_are_escaped() {
        let s = statement(
            "It's <script>alert(1)</script> & more",
            "mailto:psirt@example.com\"><b>x</b>",
        );
        let page = SupportPage::new("acme-cam", &s).render().unwrap();
        assert!(!page.contains("It's"), "{page}");
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(
            page.contains("&#60;script&#62;") && page.contains("&#38; more"),
            "{page}"
        );
        assert!(
            page.contains("It&#39;s") || page.contains("It&#x27;s"),
            "{page}"
        );
        assert!(
            !page.contains("\"><b>"),
            "an attribute cannot be closed: {page}"
        );
    }

    #[test]
    fn page_shows_the_record() {
        let page = SupportPage::new("acme-cam", &statement("Three years.", "mailto:a@b"))
            .render()
            .unwrap();
        for part in [
            "<title>acme-cam: support period</title>",
            "<tr><th>Security updates until</th><td><strong>2030-12-31</strong></td></tr>",
            "<tr><th>Support period</th><td>2026-01-01 to 2030-12-31</td></tr>",
            "<a href=\"mailto:a@b\">mailto:a@b</a>",
            "<h2>Changes</h2>",
            "<li>2026-06-01T00:00:00Z: extend (&#60;i&#62;why&#60;/i&#62;)</li>",
            "vendor's signed support record",
        ] {
            assert!(page.contains(part), "{part} missing from {page}");
        }
    }
}

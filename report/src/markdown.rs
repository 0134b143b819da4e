//! The Markdown form of a [`Document`] (GitHub flavour: pipe tables).

use crate::document::{Block, Document};

/// One line of a Markdown table cell: no line breaks, `|` escaped.
fn md_cell(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        "-".to_string()
    } else {
        one_line.replace('|', "\\|")
    }
}

/// Markdown (GitHub flavour: pipe tables).
pub fn markdown(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for b in &doc.blocks {
        out.push('\n');
        match b {
            Block::Heading(level, text) => {
                out += &format!("{} {text}\n", "#".repeat(usize::from((*level).clamp(2, 6))));
            }
            Block::Paragraph(text) => out += &format!("{text}\n"),
            Block::Alert(text) => out += &format!("> **WARNING:** {text}\n"),
            Block::Quote(text) => {
                for line in text.lines() {
                    out += &format!("> {line}\n");
                }
            }
            Block::List(items) => {
                for item in items {
                    out += &format!("- {item}\n");
                }
            }
            Block::Table { header, rows } => md_table(&mut out, header, rows),
            Block::Chart(chart) => {
                let (header, rows) = chart.table();
                out += &format!("{}:\n\n", chart.title);
                md_table(&mut out, &header, &rows);
            }
        }
    }
    out
}

fn md_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let columns = header
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    out.push('|');
    for i in 0..columns {
        match header.get(i).filter(|h| !h.trim().is_empty()) {
            Some(h) => *out += &format!(" {} |", md_cell(h)),
            None => *out += " |",
        }
    }
    out.push('\n');
    *out += &format!("|{}\n", "---|".repeat(columns));
    for row in rows {
        let cells: Vec<String> = (0..columns)
            .map(|i| md_cell(row.get(i).map(String::as_str).unwrap_or("")))
            .collect();
        *out += &format!("| {} |\n", cells.join(" | "));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::document::Chart;

    pub(crate) fn sample() -> Document {
        let mut d = Document::new("Report <x>");
        d.heading(2, "Section");
        d.quote("signed statement");
        d.key_values(vec![("Support period", "2025-01-01 to 2030-12-31".into())]);
        d.table(
            &["a", "b"],
            vec![vec!["x | y".into(), "multi\nline".into()], vec!["".into()]],
        );
        d.list(vec!["one".into()]);
        d
    }

    pub(crate) fn chart() -> Chart {
        let at = |s: i64| jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Chart {
            title: "Devices by version".into(),
            unit: "devices".into(),
            instants: vec![at(1_800_000_000), at(1_800_003_600)],
            series: vec![
                ("1.2.0".into(), vec![0, 2]),
                ("1.0.0<x>".into(), vec![3, 1]),
            ],
        }
    }

    #[test]
    fn markdown_tables_escape_pipes_and_keep_rows_on_one_line() {
        let md = markdown(&sample());
        assert!(md.starts_with("# Report <x>\n"), "{md}");
        assert!(md.contains("\n## Section\n"));
        assert!(md.contains("> signed statement\n"));
        assert!(md.contains("| | |\n|---|---|\n| Support period | 2025-01-01 to 2030-12-31 |\n"));
        assert!(md.contains("| x \\| y | multi line |\n"), "{md}");
        assert!(md.contains("| - | - |\n"), "short rows are padded: {md}");
        assert!(md.contains("- one\n"));
    }

    #[test]
    fn a_chart_is_a_table_in_markdown_and_in_plain_text() {
        let mut d = Document::new("Report");
        d.chart(chart());
        let md = markdown(&d);
        assert!(
            md.contains("| time (UTC) | 1.2.0 | 1.0.0<x> |\n|---|---|---|\n| 2027-01-15 08:00 | 0 | 3 |\n| 2027-01-15 09:00 | 2 | 1 |\n"),
            "{md}"
        );
        assert!(d.plain_text().contains("2027-01-15 09:00 2 1"));
    }
}

//! A small document model (headings, paragraphs, lists, tables) that the compliance report and
//! the statements of compliance are built as, and its Markdown and HTML forms. The PDF form is
//! in [`super::pdf`]. One model for every format, so the formats say the same thing.

/// A document: a title and its blocks, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading: level 2 (section) or 3 (subsection); the title is level 1.
    Heading(u8, String),
    Paragraph(String),
    /// A quoted statement (the signed support statement).
    Quote(String),
    List(Vec<String>),
    /// A table; an empty header makes a two-column key/value table without header text.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Counts over time: a line chart in HTML, its table in Markdown and PDF.
    Chart(Chart),
}

/// Series of counts at the same instants (a chart of fleet versions over time).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// What is counted (the y axis), e.g. `devices`.
    pub unit: String,
    pub instants: Vec<jiff::Timestamp>,
    /// (name, one count per instant).
    pub series: Vec<(String, Vec<u64>)>,
}

impl Chart {
    /// An instant as the chart and its table show it (UTC, to the minute).
    pub fn label(at: jiff::Timestamp) -> String {
        at.strftime("%Y-%m-%d %H:%M").to_string()
    }

    /// The chart as a table: one row per instant, one column per series.
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["time (UTC)".to_string()];
        header.extend(self.series.iter().map(|(name, _)| name.clone()));
        let rows = self
            .instants
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let mut row = vec![Chart::label(*at)];
                row.extend(
                    self.series
                        .iter()
                        .map(|(_, counts)| counts.get(i).copied().unwrap_or(0).to_string()),
                );
                row
            })
            .collect();
        (header, rows)
    }
}

impl Document {
    pub fn new(title: impl Into<String>) -> Self {
        Document {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }

    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    pub fn quote(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Quote(text.into()));
    }

    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
    }

    pub fn chart(&mut self, chart: Chart) {
        self.blocks.push(Block::Chart(chart));
    }

    /// A two-column table of (label, value) pairs.
    pub fn key_values(&mut self, pairs: Vec<(&str, String)>) {
        self.blocks.push(Block::Table {
            header: Vec::new(),
            rows: pairs
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v])
                .collect(),
        });
    }

    /// The text of every block, in order (for tests and the PDF text check).
    pub fn plain_text(&self) -> String {
        let mut out = self.title.clone();
        for b in &self.blocks {
            out.push('\n');
            match b {
                Block::Heading(_, t) | Block::Paragraph(t) | Block::Quote(t) => out += t,
                Block::List(items) => out += &items.join("\n"),
                Block::Table { header, rows } => plain_table(&mut out, header, rows),
                Block::Chart(chart) => {
                    let (header, rows) = chart.table();
                    out += &chart.title;
                    out.push('\n');
                    plain_table(&mut out, &header, &rows);
                }
            }
        }
        out
    }
}

fn plain_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    *out += &header.join(" ");
    for r in rows {
        out.push('\n');
        *out += &r.join(" ");
    }
}

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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped text with Markdown `code` spans as `<code>` (an unpaired mark stays as it is).
fn inline(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return esc(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(p))
            } else {
                esc(p)
            }
        })
        .collect()
}

/// A self-contained HTML page (no scripts, no external resources).
pub fn html(doc: &Document) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n\
<style>body{{font-family:Helvetica,Arial,sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.4}}\
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}}\
th{{background:#eee}}blockquote{{border-left:4px solid #bbb;margin:1em 0;padding:.2em 1em}}figure{{margin:1em 0}}figure svg{{max-width:100%;height:auto}}</style></head><body>\n<h1>{}</h1>\n",
        esc(&doc.title),
        esc(&doc.title)
    );
    for b in &doc.blocks {
        match b {
            Block::Heading(level, text) => {
                let level = (*level).clamp(2, 6);
                out += &format!("<h{level}>{}</h{level}>\n", esc(text));
            }
            Block::Paragraph(text) => out += &format!("<p>{}</p>\n", inline(text)),
            Block::Quote(text) => out += &format!("<blockquote>{}</blockquote>\n", inline(text)),
            Block::List(items) => {
                out += "<ul>\n";
                for item in items {
                    out += &format!("<li>{}</li>\n", inline(item));
                }
                out += "</ul>\n";
            }
            Block::Table { header, rows } => html_table(&mut out, header, rows),
            Block::Chart(chart) => match super::chart::svg(chart) {
                Ok(svg) => {
                    out += &format!(
                        "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
                        esc(&chart.title)
                    );
                }
                // the numbers still, when the drawing fails
                Err(_) => {
                    let (header, rows) = chart.table();
                    out += &format!("<p>{}:</p>\n", esc(&chart.title));
                    html_table(&mut out, &header, &rows);
                }
            },
        }
    }
    out + "</body></html>\n"
}

fn html_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    *out += "<table>\n";
    if !header.is_empty() {
        *out += "<tr>";
        for h in header {
            *out += &format!("<th>{}</th>", esc(h));
        }
        *out += "</tr>\n";
    }
    for row in rows {
        *out += "<tr>";
        for (i, cell) in row.iter().enumerate() {
            // the label column of a key/value table
            if header.is_empty() && i == 0 {
                *out += &format!("<th>{}</th>", esc(cell));
            } else {
                *out += &format!("<td>{}</td>", inline(cell));
            }
        }
        *out += "</tr>\n";
    }
    *out += "</table>\n";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
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

    fn chart() -> Chart {
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
    fn a_chart_is_a_table_in_markdown_and_an_svg_in_html() {
        let mut d = Document::new("Report");
        d.chart(chart());
        let md = markdown(&d);
        assert!(
            md.contains("| time (UTC) | 1.2.0 | 1.0.0<x> |\n|---|---|---|\n| 2027-01-15 08:00 | 0 | 3 |\n| 2027-01-15 09:00 | 2 | 1 |\n"),
            "{md}"
        );
        let h = html(&d);
        assert!(h.contains("<figure>\n<svg"), "{h}");
        assert!(h.contains("1.2.0\n</text>"), "{h}");
        assert!(h.contains("1.0.0&lt;x&gt;") && !h.contains("<x>"), "{h}");
        assert!(d.plain_text().contains("2027-01-15 09:00 2 1"));
    }

    #[test]
    fn html_escapes_text_and_has_real_tables() {
        let h = html(&sample());
        assert!(h.contains("<title>Report &lt;x&gt;</title>"));
        assert!(h.contains("<th>Support period</th><td>2025-01-01 to 2030-12-31</td>"));
        assert!(h.contains("<tr><th>a</th><th>b</th></tr>"));
        assert!(!h.contains("<x>"));
        assert_eq!(inline("a `b<c>` d"), "a <code>b&lt;c&gt;</code> d");
        assert_eq!(inline("one ` mark"), "one ` mark");
    }
}

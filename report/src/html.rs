//! The HTML form of a [`Document`]: one self-contained page (no scripts, no external
//! resources), made by the askama template `templates/document.html`, which escapes every
//! value (`&`, `<`, `>`, `"`, `'`) unless it is marked safe; only the chart's SVG is, and
//! plotters escapes the text in it.

use askama::Template;

use crate::chart;
use crate::document::{Block, Chart, Document};

/// A run of text: plain, or a Markdown `code` span shown as `<code>`.
struct Span {
    code: bool,
    text: String,
}

/// Text with its Markdown `code` spans (an unpaired mark stays as it is).
fn spans(s: &str) -> Vec<Span> {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return vec![Span {
            code: false,
            text: s.to_string(),
        }];
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| Span {
            code: i % 2 == 1,
            text: part.to_string(),
        })
        .collect()
}

/// A table cell: a label (`<th>`, text as it is) or a value (`<td>`, with code spans).
struct Cell {
    label: bool,
    text: Vec<Span>,
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

fn table(header: &[String], rows: &[Vec<String>]) -> Table {
    Table {
        header: header.to_vec(),
        rows: rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        // the label column of a key/value table
                        let label = header.is_empty() && i == 0;
                        Cell {
                            label,
                            text: if label {
                                vec![Span {
                                    code: false,
                                    text: cell.clone(),
                                }]
                            } else {
                                spans(cell)
                            },
                        }
                    })
                    .collect()
            })
            .collect(),
    }
}

/// A block as the template shows it.
enum Part {
    Heading(u8, String),
    Paragraph(Vec<Span>),
    Quote(Vec<Span>),
    Alert(Vec<Span>),
    List(Vec<Vec<Span>>),
    Table(Table),
    /// A chart drawn as SVG (markup from [`chart`], inserted as it is) with its caption.
    Figure {
        svg: String,
        caption: String,
    },
    /// A chart whose drawing failed: the numbers still, as a table.
    ChartTable {
        caption: String,
        table: Table,
    },
}

fn part(block: &Block) -> Part {
    match block {
        Block::Heading(level, text) => Part::Heading((*level).clamp(2, 6), text.clone()),
        Block::Paragraph(text) => Part::Paragraph(spans(text)),
        Block::Quote(text) => Part::Quote(spans(text)),
        Block::Alert(text) => Part::Alert(spans(text)),
        Block::List(items) => Part::List(items.iter().map(|i| spans(i)).collect()),
        Block::Table { header, rows } => Part::Table(table(header, rows)),
        Block::Chart(c) => chart_part(c),
    }
}

fn chart_part(c: &Chart) -> Part {
    match chart::time_series_svg(c) {
        Ok(svg) => Part::Figure {
            svg,
            caption: c.title.clone(),
        },
        Err(_) => {
            let (header, rows) = c.table();
            Part::ChartTable {
                caption: c.title.clone(),
                table: table(&header, &rows),
            }
        }
    }
}

#[derive(Template)]
#[template(path = "document.html")]
struct Page<'a> {
    title: &'a str,
    parts: Vec<Part>,
}

/// A self-contained HTML page (no scripts, no external resources).
pub fn html(doc: &Document) -> String {
    let page = Page {
        title: &doc.title,
        parts: doc.blocks.iter().map(part).collect(),
    };
    // Rendering only writes into a String; the template has no fallible filter.
    page.render().unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::tests::{chart, sample};

    fn inline(s: &str) -> String {
        let mut d = Document::new("t");
        d.paragraph(s);
        let h = html(&d);
        let start = h.find("<p>").unwrap_or(0) + 3;
        let end = h.find("</p>").unwrap_or(h.len());
        h[start..end].to_string()
    }

    #[test]
    fn html_escapes_text_and_has_real_tables() {
        let h = html(&sample());
        // askama writes numeric character references: `&#60;` is `&lt;`
        assert!(h.contains("<title>Report &#60;x&#62;</title>"), "{h}");
        assert!(h.contains("<th>Support period</th><td>2025-01-01 to 2030-12-31</td>"));
        assert!(h.contains("<tr><th>a</th><th>b</th></tr>"));
        assert!(!h.contains("<x>"));
        assert_eq!(inline("a `b<c>` d"), "a <code>b&#60;c&#62;</code> d");
        assert_eq!(inline("one ` mark"), "one ` mark");
    }

    #[test]
    fn html_escapes_quotes_and_apostrophes() {
        let mut d = Document::new("O'Brien's \"cam\"");
        d.paragraph("it's <b>");
        d.key_values(vec![("a'b", "c'd".into())]);
        let h = html(&d);
        assert!(!h.contains('\''), "{h}");
        assert!(!h.contains("\"cam\""), "{h}");
        assert!(h.contains("it&#39;s &#60;b&#62;"), "{h}");
        assert!(
            h.contains("<title>O&#39;Brien&#39;s &#34;cam&#34;</title>"),
            "{h}"
        );
    }

    #[test]
    fn a_chart_is_an_svg_in_html() {
        let mut d = Document::new("Report");
        d.chart(chart());
        let h = html(&d);
        assert!(h.contains("<figure>\n<svg"), "{h}");
        assert!(h.contains("1.2.0\n</text>"), "{h}");
        assert!(h.contains("1.0.0&lt;x&gt;") && !h.contains("<x>"), "{h}");
        assert!(h.contains("<figcaption>Devices by version</figcaption>\n</figure>\n"));
    }
}

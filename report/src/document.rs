//! A small document model (headings, paragraphs, lists, tables, charts) that the compliance
//! report and the statements of compliance are built as. Its forms: [`crate::markdown()`],
//! [`crate::html()`] and the PDF of [`crate::pdf`]. One model for every format, so the formats
//! say the same thing.

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
    /// A warning the reader must not miss (red in HTML and PDF, bold in Markdown): a
    /// requirement every regime asks for is missing, or the document is a draft.
    Alert(String),
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

    pub fn alert(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Alert(text.into()));
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
                Block::Heading(_, t) | Block::Paragraph(t) | Block::Quote(t) | Block::Alert(t) => {
                    out += t
                }
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

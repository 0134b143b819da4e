//! The PDF form of a [`Document`]: A4 pages, the PDF base-14 Helvetica fonts (nothing to
//! embed), text wrapped with Helvetica's metrics, tables as aligned rows whose header repeats on
//! every page they continue on, and "page i of n" in each footer. Drawn with `printpdf`.

use printpdf::{
    BuiltinFont, Color, IndirectFontRef, Line, Mm, OffsetDateTime, PdfDocument,
    PdfDocumentReference, PdfLayerReference, Point, Rect, Rgb,
};

use crate::document::{Block, Document};

/// Why the PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("adding a base-14 font to the PDF")]
    Font(#[source] printpdf::Error),
    #[error("writing the PDF")]
    Write(#[source] printpdf::Error),
}

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 18.0;
/// Lowest baseline of body text (above the footer).
const BOTTOM: f32 = 20.0;
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const MM_PER_PT: f32 = 25.4 / 72.0;

const BODY_PT: f32 = 10.0;
const TABLE_PT: f32 = 8.0;
const CELL_PAD: f32 = 1.2;

/// Advance widths (1/1000 em) of Helvetica for ASCII 32..=126 (Adobe's AFM for the base-14
/// fonts); Helvetica-Oblique has the same widths.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Advance widths of Helvetica-Bold for ASCII 32..=126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Regular,
    Bold,
    Oblique,
}

/// Text the base-14 fonts can show (WinAnsiEncoding): common typography is spelled in ASCII,
/// Latin-1 letters are kept, anything else becomes `?` rather than vanishing.
pub fn pdf_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // Markdown code marks: the PDF has one typeface for prose
            '`' => {}
            ' '..='~' | '\u{a0}'..='\u{ff}' => out.push(c),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{2013}' | '\u{2014}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201c}' | '\u{201d}' => out.push('"'),
            '\u{2265}' => out.push_str(">="),
            '\u{2264}' => out.push_str("<="),
            '\u{2192}' => out.push_str("->"),
            '\u{2026}' => out.push_str("..."),
            '\u{2022}' => out.push('-'),
            _ => out.push('?'),
        }
    }
    out
}

fn char_width(c: char, style: Style) -> f32 {
    let table = match style {
        Style::Bold => &HELVETICA_BOLD,
        Style::Regular | Style::Oblique => &HELVETICA,
    };
    let code = c as u32;
    let units = if (32..=126).contains(&code) {
        table[(code - 32) as usize]
    } else {
        // Latin-1 letters: about the width of an average lowercase letter
        556
    };
    f32::from(units)
}

/// Width in mm of `text` at `size` points.
fn text_width(text: &str, size: f32, style: Style) -> f32 {
    text.chars().map(|c| char_width(c, style)).sum::<f32>() / 1000.0 * size * MM_PER_PT
}

/// Greedy word wrap to `width` mm; a word longer than a line is broken between characters.
fn wrap(text: &str, width: f32, size: f32, style: Style) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, size, style) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if text_width(word, size, style) <= width {
            line = word.to_string();
        } else {
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                if !line.is_empty() && text_width(&next, size, style) > width {
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                } else {
                    line = next;
                }
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn line_height(size: f32) -> f32 {
    size * 1.3 * MM_PER_PT
}

/// Column widths (mm) for a table `total` mm wide: each column as wide as its longest line if
/// everything fits; otherwise each gets at least its longest word and the rest of the room in
/// proportion to how much more it would need.
fn column_widths(
    cells: &[Vec<String>],
    columns: usize,
    total: f32,
    style_of: impl Fn(usize, usize) -> Style,
) -> Vec<f32> {
    let mut natural = vec![8.0f32; columns];
    let mut minimum = vec![8.0f32; columns];
    for (r, row) in cells.iter().enumerate() {
        for (i, cell) in row.iter().enumerate().take(columns) {
            let style = style_of(r, i);
            natural[i] = natural[i].max(text_width(cell, TABLE_PT, style) + 2.0 * CELL_PAD);
            let longest_word = cell
                .split_whitespace()
                .map(|w| text_width(w, TABLE_PT, style))
                .fold(0.0f32, f32::max);
            minimum[i] = minimum[i].max((longest_word + 2.0 * CELL_PAD).min(total * 0.3));
        }
    }
    let natural_sum: f32 = natural.iter().sum();
    if natural_sum <= total {
        if let Some(last) = natural.last_mut() {
            *last += total - natural_sum;
        }
        return natural;
    }
    let minimum_sum: f32 = minimum.iter().sum();
    if minimum_sum >= total {
        return minimum.iter().map(|w| w * total / minimum_sum).collect();
    }
    let wanted: Vec<f32> = natural
        .iter()
        .zip(&minimum)
        .map(|(n, m)| (n - m).max(0.0))
        .collect();
    let wanted_sum: f32 = wanted.iter().sum::<f32>().max(f32::EPSILON);
    minimum
        .iter()
        .zip(&wanted)
        .map(|(m, w)| m + (total - minimum_sum) * w / wanted_sum)
        .collect()
}

struct Writer {
    doc: PdfDocumentReference,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    oblique: IndirectFontRef,
    pages: Vec<PdfLayerReference>,
    /// Top of the free space on the current page (mm from the bottom edge).
    y: f32,
}

fn grey(level: f32) -> Color {
    Color::Rgb(Rgb::new(level, level, level, None))
}

impl Writer {
    fn layer(&self) -> &PdfLayerReference {
        // there is always a page: `render` makes the first before writing
        &self.pages[self.pages.len() - 1]
    }

    fn new_page(&mut self) {
        let (page, layer) = self
            .doc
            .add_page(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), "content");
        self.pages.push(self.doc.get_page(page).get_layer(layer));
        self.y = PAGE_HEIGHT - MARGIN;
    }

    /// Starts a new page unless `height` mm fit above the bottom margin.
    fn room_for(&mut self, height: f32) -> bool {
        if self.y - height < BOTTOM {
            self.new_page();
            true
        } else {
            false
        }
    }

    fn font(&self, style: Style) -> &IndirectFontRef {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
            Style::Oblique => &self.oblique,
        }
    }

    /// One line of text with its top at `top` (mm); the baseline is placed below it.
    fn text_at(&self, text: &str, x: f32, top: f32, size: f32, style: Style) {
        let baseline = top - size * 0.95 * MM_PER_PT;
        self.layer()
            .use_text(text, size, Mm(x), Mm(baseline), self.font(style));
    }

    fn rule(&self, x1: f32, x2: f32, y: f32, level: f32, thickness: f32) {
        let layer = self.layer();
        layer.set_outline_color(grey(level));
        layer.set_outline_thickness(thickness);
        layer.add_line(Line {
            points: vec![
                (Point::new(Mm(x1), Mm(y)), false),
                (Point::new(Mm(x2), Mm(y)), false),
            ],
            is_closed: false,
        });
    }

    /// Wrapped text at `indent` mm from the margin, moving down; pages break between lines.
    fn flow(&mut self, text: &str, indent: f32, size: f32, style: Style) {
        let height = line_height(size);
        for line in wrap(text, TEXT_WIDTH - indent, size, style) {
            self.room_for(height);
            self.text_at(&line, MARGIN + indent, self.y, size, style);
            self.y -= height;
        }
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = if level <= 2 { 13.0 } else { 11.0 };
        self.y -= if level <= 2 { 5.0 } else { 3.0 };
        // keep a heading with at least a few lines of what follows
        self.room_for(line_height(size) + 4.0 * line_height(BODY_PT));
        self.flow(text, 0.0, size, Style::Bold);
        self.y -= 1.0;
    }

    fn table(&mut self, header: &[String], rows: &[Vec<String>]) {
        let columns = header
            .len()
            .max(rows.iter().map(Vec::len).max().unwrap_or(0));
        if columns == 0 {
            return;
        }
        let has_header = !header.is_empty();
        let mut all: Vec<Vec<String>> = Vec::new();
        if has_header {
            all.push(header.to_vec());
        }
        all.extend(rows.iter().cloned());
        // the label column of a key/value table is bold, as is a header
        let label = !has_header && columns == 2;
        let widths = column_widths(&all, columns, TEXT_WIDTH, |r, i| {
            if (has_header && r == 0) || (label && i == 0) {
                Style::Bold
            } else {
                Style::Regular
            }
        });
        let lines_of = |row: &[String], style: Style| -> Vec<Vec<String>> {
            (0..columns)
                .map(|i| {
                    let text = row.get(i).map(String::as_str).unwrap_or("");
                    wrap(text, widths[i] - 2.0 * CELL_PAD, TABLE_PT, style)
                })
                .collect()
        };
        let header_lines = has_header.then(|| lines_of(header, Style::Bold));
        let line = line_height(TABLE_PT);
        let row_height = |cells: &[Vec<String>]| {
            cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * line + 2.0 * CELL_PAD
        };
        let draw_header = |w: &mut Writer| {
            if let Some(cells) = &header_lines {
                let height = row_height(cells);
                w.layer().set_fill_color(grey(0.9));
                w.layer().add_rect(Rect::new(
                    Mm(MARGIN),
                    Mm(w.y - height),
                    Mm(MARGIN + TEXT_WIDTH),
                    Mm(w.y),
                ));
                w.layer().set_fill_color(grey(0.0));
                w.draw_row(cells, &widths, 0, usize::MAX, |_| Style::Bold);
            }
        };
        self.y -= 1.5;
        let first_height = header_lines.as_deref().map_or(0.0, row_height)
            + rows
                .first()
                .map_or(0.0, |r| row_height(&lines_of(r, Style::Regular)).min(40.0));
        self.room_for(first_height);
        draw_header(self);
        for row in rows {
            let cells = lines_of(row, Style::Regular);
            let tallest = cells.iter().map(Vec::len).max().unwrap_or(1);
            let mut from = 0;
            let mut fresh_page = false;
            while from < tallest {
                let mut fit = ((self.y - BOTTOM - 2.0 * CELL_PAD) / line).floor().max(0.0) as usize;
                if fit == 0 {
                    if !fresh_page {
                        self.new_page();
                        draw_header(self);
                        fresh_page = true;
                        continue;
                    }
                    // a header taller than a page: write on rather than loop
                    fit = 1;
                }
                fresh_page = false;
                let to = (from + fit).min(tallest);
                self.draw_row(&cells, &widths, from, to, |i| {
                    if label && i == 0 {
                        Style::Bold
                    } else {
                        Style::Regular
                    }
                });
                from = to;
                if from < tallest {
                    self.new_page();
                    draw_header(self);
                }
            }
        }
        self.y -= 2.0;
    }

    /// Lines `from..to` of each cell of a row, each cell in `style_of(column)`, then a thin
    /// rule under the row.
    fn draw_row(
        &mut self,
        cells: &[Vec<String>],
        widths: &[f32],
        from: usize,
        to: usize,
        style_of: impl Fn(usize) -> Style,
    ) {
        let line = line_height(TABLE_PT);
        let mut x = MARGIN;
        let mut used = 0;
        for (i, cell) in cells.iter().enumerate() {
            let end = to.min(cell.len());
            for (n, text) in cell.iter().enumerate().take(end).skip(from) {
                let top = self.y - CELL_PAD - (n - from) as f32 * line;
                self.text_at(text, x + CELL_PAD, top, TABLE_PT, style_of(i));
            }
            used = used.max(end.saturating_sub(from));
            x += widths[i];
        }
        self.y -= used.max(1) as f32 * line + 2.0 * CELL_PAD;
        self.rule(MARGIN, MARGIN + TEXT_WIDTH, self.y, 0.75, 0.4);
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Heading(level, text) => self.heading(*level, &pdf_text(text)),
            Block::Paragraph(text) => {
                self.y -= 1.5;
                self.flow(&pdf_text(text), 0.0, BODY_PT, Style::Regular);
            }
            Block::Alert(text) => {
                self.y -= 1.5;
                self.layer()
                    .set_fill_color(Color::Rgb(Rgb::new(0.75, 0.0, 0.0, None)));
                self.flow(
                    &pdf_text(&format!("WARNING: {text}")),
                    0.0,
                    BODY_PT,
                    Style::Bold,
                );
                self.layer().set_fill_color(grey(0.0));
            }
            Block::Quote(text) => {
                self.y -= 1.5;
                let top = self.y;
                self.flow(&pdf_text(text), 5.0, BODY_PT, Style::Oblique);
                if self.y < top {
                    let layer = self.layer();
                    layer.set_outline_color(grey(0.6));
                    layer.set_outline_thickness(1.5);
                    layer.add_line(Line {
                        points: vec![
                            (Point::new(Mm(MARGIN + 1.5), Mm(top)), false),
                            (Point::new(Mm(MARGIN + 1.5), Mm(self.y + 1.0)), false),
                        ],
                        is_closed: false,
                    });
                }
            }
            Block::List(items) => {
                self.y -= 1.5;
                for item in items {
                    self.room_for(line_height(BODY_PT));
                    self.text_at("-", MARGIN + 1.0, self.y, BODY_PT, Style::Regular);
                    self.flow(&pdf_text(item), 5.0, BODY_PT, Style::Regular);
                }
            }
            Block::Table { header, rows } => {
                let header: Vec<String> = header.iter().map(|h| pdf_text(h)).collect();
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| pdf_text(c)).collect())
                    .collect();
                self.table(&header, &rows);
            }
            // the chart's numbers: a table reads as well on paper and is searchable
            Block::Chart(chart) => {
                self.y -= 1.5;
                self.flow(
                    &pdf_text(&format!("{}:", chart.title)),
                    0.0,
                    BODY_PT,
                    Style::Regular,
                );
                let (header, rows) = chart.table();
                let header: Vec<String> = header.iter().map(|h| pdf_text(h)).collect();
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| pdf_text(c)).collect())
                    .collect();
                self.table(&header, &rows);
            }
        }
    }
}

/// The document as PDF bytes; `created` becomes the PDF's creation and modification date.
pub fn render(doc: &Document, footer: &str, created: jiff::Timestamp) -> Result<Vec<u8>, PdfError> {
    use sha2::Digest;
    let title = pdf_text(&doc.title);
    let date = OffsetDateTime::from_unix_timestamp(created.as_second())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let id = hex::encode(&sha2::Sha256::digest(format!("{title}\n{created}").as_bytes())[..16]);
    let (pdf, page, layer) = PdfDocument::new(&title, Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), "content");
    let pdf = pdf
        .with_creation_date(date)
        .with_mod_date(date)
        .with_metadata_date(date)
        .with_document_id(id)
        .with_producer("airlock")
        .with_creator("airlock compliance");
    let font = |f: BuiltinFont| pdf.add_builtin_font(f).map_err(PdfError::Font);
    let mut w = Writer {
        regular: font(BuiltinFont::Helvetica)?,
        bold: font(BuiltinFont::HelveticaBold)?,
        oblique: font(BuiltinFont::HelveticaOblique)?,
        pages: vec![pdf.get_page(page).get_layer(layer)],
        doc: pdf,
        y: PAGE_HEIGHT - MARGIN,
    };
    w.flow(&title, 0.0, 17.0, Style::Bold);
    w.y -= 1.0;
    w.rule(MARGIN, MARGIN + TEXT_WIDTH, w.y, 0.3, 0.8);
    w.y -= 2.0;
    for block in &doc.blocks {
        w.block(block);
    }
    let footer = pdf_text(footer);
    let total = w.pages.len();
    for (i, layer) in w.pages.iter().enumerate() {
        let page_no = format!("page {} of {total}", i + 1);
        layer.set_fill_color(grey(0.35));
        let width = text_width(&page_no, 8.0, Style::Regular);
        let room = TEXT_WIDTH - width - 6.0;
        let footer_line = wrap(&footer, room, 8.0, Style::Regular)
            .into_iter()
            .next()
            .unwrap_or_default();
        layer.use_text(footer_line, 8.0, Mm(MARGIN), Mm(10.0), &w.regular);
        layer.use_text(
            page_no,
            8.0,
            Mm(MARGIN + TEXT_WIDTH - width),
            Mm(10.0),
            &w.regular,
        );
    }
    let Writer { doc, pages, .. } = w;
    drop(pages);
    doc.save_to_bytes().map_err(PdfError::Write)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pages_and_text(bytes: &[u8]) -> (usize, String) {
        let doc = printpdf::lopdf::Document::load_mem(bytes).unwrap();
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        let text = doc.extract_text(&pages).unwrap_or_default();
        (pages.len(), text)
    }

    #[test]
    fn wrap_fits_lines_and_breaks_long_words() {
        let lines = wrap(
            "the quick brown fox jumps over the lazy dog",
            20.0,
            10.0,
            Style::Regular,
        );
        assert!(lines.len() > 1);
        assert!(lines
            .iter()
            .all(|l| text_width(l, 10.0, Style::Regular) <= 20.0));
        assert_eq!(
            lines.join(" "),
            "the quick brown fox jumps over the lazy dog"
        );
        let long = "a".repeat(200);
        let parts = wrap(&long, 30.0, 8.0, Style::Regular);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), long);
        assert_eq!(wrap("", 30.0, 8.0, Style::Regular), vec![String::new()]);
    }

    #[test]
    fn columns_share_the_width_and_fit_their_longest_word() {
        let cells = vec![
            vec!["ref".into(), "a long requirement text ".repeat(8)],
            vec!["CRA Art. 13(8)".into(), "short".into()],
        ];
        let widths = column_widths(&cells, 2, 170.0, |r, _| {
            if r == 0 {
                Style::Bold
            } else {
                Style::Regular
            }
        });
        assert!(
            (widths.iter().sum::<f32>() - 170.0).abs() < 0.01,
            "{widths:?}"
        );
        assert!(widths[0] >= text_width("CRA Art. 13(8)", TABLE_PT, Style::Regular) * 0.5);
        assert!(widths[1] > widths[0]);
    }

    #[test]
    fn text_is_kept_to_what_the_base_fonts_show() {
        assert_eq!(
            pdf_text("5.3-1 … 5.3-16 ≥ 5 years – “ok” ¶ é"),
            "5.3-1 ... 5.3-16 >= 5 years - \"ok\" ¶ é"
        );
        assert_eq!(pdf_text("日本"), "??");
    }

    #[test]
    fn a_long_document_spans_pages_with_its_text() {
        let mut d = Document::new("Compliance report: acme-cam");
        d.paragraph("Generated from the signed repository.");
        d.table(
            &["version", "kind", "advisories"],
            (0..150)
                .map(|i| {
                    vec![
                        format!("1.{i}.0"),
                        "security".into(),
                        format!("CVE-2026-{i:04}"),
                    ]
                })
                .collect(),
        );
        d.heading(2, "Crosswalk");
        d.quote("Security updates until 2030-12-31.");
        d.list(vec!["one item".into()]);
        let t = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let bytes = render(&d, "acme-cam compliance report", t).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let (pages, text) = pages_and_text(&bytes);
        assert!((3..=8).contains(&pages), "{pages} pages");
        for needle in [
            "Compliance report: acme-cam",
            "1.149.0",
            "CVE-2026-0000",
            "Crosswalk",
            "page 1 of",
        ] {
            assert!(text.contains(needle), "{needle:?} not in the PDF text");
        }
    }
}

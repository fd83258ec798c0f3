//! S3's three CORS rule formats, read into [`RuleSpec`]s with enough position data to
//! point a later validation error at the exact line and column the user wrote.
//!
//! It owns format detection (XML `<CORSConfiguration>`, the CLI's `{"CORSRules": [...]}`,
//! the console's bare array; spec §1.2), the syntax of each, and the hints for the classic
//! mistakes (CloudFormation key names, plural XML elements, wrong case). It must not
//! validate values: S3's PutBucketCors checks (methods, wildcards, rule count) live in
//! `cors`, which reports a [`Location`] that [`ParsedRules::position`] maps back here.
//! Values are stored verbatim: order and case kept, nothing normalised.
//!
//! Layout: `xml.rs` and `json.rs` hold one reader each; this file holds the shared
//! types, detection, the offset → line:column index and the "did you mean" hints.

use std::fmt;

use crate::cors::{Field, Location, RuleSpec};

mod json;
mod xml;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesFormat {
    /// `<CORSConfiguration>` as PutBucketCors takes it.
    Xml,
    /// `{"CORSRules": [...]}` as `aws s3api put-bucket-cors` takes it.
    CorsRulesJson,
    /// The S3 console's bare JSON array of rules.
    ConsoleJson,
}

impl fmt::Display for RulesFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RulesFormat::Xml => "S3 XML (<CORSConfiguration>)",
            RulesFormat::CorsRulesJson => "AWS CLI JSON ({\"CORSRules\": [...]})",
            RulesFormat::ConsoleJson => "S3 console JSON ([...])",
        })
    }
}

/// Rules read from a document, with enough position data to point at any value.
#[derive(Debug, Clone)]
pub struct ParsedRules {
    pub format: RulesFormat,
    pub rules: Vec<RuleSpec>,
    /// Where each rule, field and value sits, parallel to `rules`; private because
    /// it only exists to answer [`ParsedRules::position`].
    positions: Positions,
}

impl ParsedRules {
    /// Rules that did not come from a file (built in code or tests): every position
    /// is (1,1).
    pub fn without_positions(format: RulesFormat, rules: Vec<RuleSpec>) -> Self {
        ParsedRules {
            format,
            rules,
            positions: Positions::default(),
        }
    }

    /// 1-based (line, column) of the value `at` names; falls back to the field, then
    /// the rule, then the document start.
    ///
    /// A document-level location (`rule: None`, e.g. "no rules at all") points at the
    /// root (`<CORSConfiguration>`, `[` or the `CORSRules` array), which is (1,1) unless
    /// a declaration or comment comes first. For a single-valued field (`ID`,
    /// `MaxAgeSeconds`) `item: None` points at the value itself, since that is what an
    /// error about the field is about; for a list field it points at the key/element.
    pub fn position(&self, at: Location) -> (usize, usize) {
        let p = &self.positions;
        let Some(rule) = at.rule.and_then(|i| p.rules.get(i)) else {
            return p.root.into();
        };
        let Some(field) = at
            .field
            .and_then(|f| rule.fields.iter().find(|fp| fp.field == f))
        else {
            return rule.at.into();
        };
        match at.item {
            Some(i) => field.items.get(i).copied().unwrap_or(field.at).into(),
            None if is_single(field.field) => {
                field.items.first().copied().unwrap_or(field.at).into()
            }
            None => field.at.into(),
        }
    }
}

/// A document that could not be read as any of the three formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// What every "wrong format" message offers instead.
const EXPECTED_FORMATS: &str = "expected S3 CORS rules as XML (<CORSConfiguration>...), \
     AWS CLI JSON ({\"CORSRules\": [...]}) or the S3 console's JSON array ([...])";

/// Detects the format from the content and parses it. Returns every error found.
///
/// Detection looks at the first non-whitespace character after an optional UTF-8
/// BOM: `<` is XML, `{` the CLI object, `[` the console array. Positions are counted
/// after the BOM (editors do not show it), columns in characters.
pub fn parse(text: &str) -> Result<ParsedRules, Vec<SyntaxError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let index = LineIndex::new(text);
    let Some(first) = text.find(|c: char| !c.is_whitespace()) else {
        return Err(vec![
            index.error(0, format!("the rules file is empty; {EXPECTED_FORMATS}"))
        ]);
    };
    match text.as_bytes()[first] {
        b'<' => xml::parse(text, &index),
        b'{' => json::parse(text, &index, RulesFormat::CorsRulesJson),
        b'[' => {
            // `[` also opens a TOML table header, so JSON that does not even parse
            // may be TOML; shape errors in valid JSON are reported as such.
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                if let Some(errors) = toml_instead(text, &index, first) {
                    return Err(errors);
                }
            }
            json::parse(text, &index, RulesFormat::ConsoleJson)
        }
        _ => Err(toml_instead(text, &index, first).unwrap_or_else(|| {
            vec![index.error(
                first,
                format!("unrecognised rules format; {EXPECTED_FORMATS}"),
            )]
        })),
    }
}

/// The error for a TOML document passed as rules (likely the corsgate config itself),
/// or `None` if the text is not TOML.
fn toml_instead(text: &str, index: &LineIndex, first: usize) -> Option<Vec<SyntaxError>> {
    // An empty table (a comments-only file) says nothing about intent.
    text.parse::<toml::Table>().ok().filter(|t| !t.is_empty())?;
    Some(vec![index.error(
        first,
        format!(
            "this is a TOML file (perhaps the corsgate config itself), not CORS rules; \
             {EXPECTED_FORMATS}"
        ),
    )])
}

/// A resolved 1-based position, stored instead of byte offsets so [`ParsedRules`]
/// need not keep the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl Default for Pos {
    fn default() -> Self {
        Pos { line: 1, column: 1 }
    }
}

impl From<Pos> for (usize, usize) {
    fn from(p: Pos) -> Self {
        (p.line, p.column)
    }
}

#[derive(Debug, Clone, Default)]
struct Positions {
    root: Pos,
    /// Parallel to `ParsedRules::rules`.
    rules: Vec<RulePos>,
}

#[derive(Debug, Clone)]
struct RulePos {
    /// `<CORSRule>` or the rule's `{`.
    at: Pos,
    /// In document order; a field repeated in XML keeps its first element here.
    fields: Vec<FieldPos>,
}

#[derive(Debug, Clone)]
struct FieldPos {
    field: Field,
    /// The first element of the field, or the JSON key's opening quote.
    at: Pos,
    /// One per stored value, parallel to the `RuleSpec` list (or the one value of a
    /// single field).
    items: Vec<Pos>,
}

impl RulePos {
    fn new(at: Pos) -> Self {
        RulePos {
            at,
            fields: Vec::new(),
        }
    }

    /// The entry for `field`, created at `at` the first time the field is seen.
    fn field(&mut self, field: Field, at: Pos) -> &mut FieldPos {
        let i = match self.fields.iter().position(|f| f.field == field) {
            Some(i) => i,
            None => {
                self.fields.push(FieldPos {
                    field,
                    at,
                    items: Vec::new(),
                });
                self.fields.len() - 1
            }
        };
        &mut self.fields[i]
    }
}

fn is_single(field: Field) -> bool {
    matches!(field, Field::Id | Field::MaxAgeSeconds)
}

/// Byte offset → 1-based line and character column.
struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts; `\n` ends a line (a `\r` before it is just
    /// part of the previous line, so CRLF files count the same as LF files).
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        // `offset` may land inside a multi-byte char when it came from a byte column;
        // counting chars that *start* before it handles that.
        let column = self.text.as_bytes()[start..offset]
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .count()
            + 1;
        Pos {
            line: line + 1,
            column,
        }
    }

    /// Offset of a 1-based line and *byte* column, as serde_json reports them.
    fn offset_of(&self, line: usize, byte_column: usize) -> usize {
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        (start + byte_column.saturating_sub(1)).min(self.text.len())
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> SyntaxError {
        let Pos { line, column } = self.pos(offset);
        SyntaxError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// Why a name was not recognised: the most specific hint we can give, or `None`.
///
/// `known` are the accepted names in this context; `traps` pairs known wrong names
/// with a full explanation (the CloudFormation spellings, spec §1.2 item 4).
/// `show` renders a name the way the format writes it (`<ID>` or `"ID"`).
fn hint(
    name: &str,
    known: &[&str],
    traps: &[(&str, &str)],
    show: impl Fn(&str) -> String,
) -> Option<String> {
    if let Some((_, why)) = traps.iter().find(|(wrong, _)| *wrong == name) {
        return Some((*why).to_string());
    }
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(format!(
            "names are case-sensitive: did you mean {}?",
            show(k)
        ));
    }
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= (k.len() / 4).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("did you mean {}?", show(k)))
}

/// Levenshtein distance over chars; names are short, so the O(n·m) table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

//! The PutBucketCors XML body (`<CORSConfiguration>`, spec §1.2 item 1), read with
//! quick-xml's streaming reader so every value keeps its byte offset.
//!
//! Structure errors (unknown or repeated elements, stray text, a bad MaxAgeSeconds)
//! are collected and reading goes on, so one run reports all of them; a
//! well-formedness error from quick-xml stops the read, as nothing after it can be
//! trusted.
//!
//! Whitespace: S3 stores values verbatim, so `<AllowedHeader> x </AllowedHeader>` keeps
//! its spaces. But when the whitespace around a value contains a line break, the value
//! was pretty-printed onto its own line and that whitespace is layout, not content: it
//! is removed from both ends. Whitespace written as character references (`&#32;`) or
//! inside CDATA is always content.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{hint, LineIndex, ParsedRules, Positions, RulePos, RulesFormat, SyntaxError};
use crate::cors::{Field, RuleSpec};

const ROOT: &str = "CORSConfiguration";
const RULE: &str = "CORSRule";
/// The only namespace S3 accepts on the root; the AWS samples omit it entirely.
const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

const RULE_ELEMENTS: &[&str] = &[
    "ID",
    "AllowedOrigin",
    "AllowedMethod",
    "AllowedHeader",
    "ExposeHeader",
    "MaxAgeSeconds",
];

/// CloudFormation and JSON names that people paste into XML.
const TRAPS: &[(&str, &str)] = &[
    (
        "ExposedHeader",
        "did you mean <ExposeHeader>? \"ExposedHeader\" is the CloudFormation spelling",
    ),
    (
        "ExposedHeaders",
        "did you mean <ExposeHeader>? \"ExposedHeaders\" is the CloudFormation spelling",
    ),
    (
        "MaxAge",
        "did you mean <MaxAgeSeconds>? \"MaxAge\" is the CloudFormation spelling",
    ),
    (
        "Id",
        "did you mean <ID>? \"Id\" is the CloudFormation spelling",
    ),
    (
        "CorsRules",
        "did you mean <CORSRule>? \"CorsRules\" is the CloudFormation spelling",
    ),
];

fn field_of(name: &str) -> Option<Field> {
    Some(match name {
        "ID" => Field::Id,
        "AllowedOrigin" => Field::AllowedOrigin,
        "AllowedMethod" => Field::AllowedMethod,
        "AllowedHeader" => Field::AllowedHeader,
        "ExposeHeader" => Field::ExposeHeader,
        "MaxAgeSeconds" => Field::MaxAgeSeconds,
        _ => return None,
    })
}

fn element_name(field: Field) -> &'static str {
    match field {
        Field::Id => "ID",
        Field::AllowedOrigin => "AllowedOrigin",
        Field::AllowedMethod => "AllowedMethod",
        Field::AllowedHeader => "AllowedHeader",
        Field::ExposeHeader => "ExposeHeader",
        Field::MaxAgeSeconds => "MaxAgeSeconds",
    }
}

fn tag(name: &str) -> String {
    format!("<{name}>")
}

/// XML's whitespace (XML 1.0 §2.3 `S`), narrower than `char::is_whitespace`.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A piece of an element's text: raw source text, or text that came from a
/// reference or CDATA (which whitespace trimming must not touch).
enum Part {
    Raw(String, usize),
    Literal(String, usize),
}

/// The field element being read.
struct Open {
    field: Field,
    /// Offset of the element's `<`.
    at: usize,
    parts: Vec<Part>,
    /// A second `<ID>` or `<MaxAgeSeconds>`: reported, read, then dropped.
    duplicate: bool,
}

/// Where the reader is relative to the root element.
#[derive(PartialEq, Eq)]
enum Stage {
    Before,
    Inside,
    After,
}

struct Parser<'t, 'i> {
    index: &'i LineIndex<'t>,
    errors: Vec<SyntaxError>,
    stage: Stage,
    /// Depth inside an element we already reported and now ignore.
    skip: usize,
    rule: Option<(RuleSpec, RulePos)>,
    open: Option<Open>,
    rules: Vec<RuleSpec>,
    positions: Positions,
}

pub(super) fn parse(text: &str, index: &LineIndex<'_>) -> Result<ParsedRules, Vec<SyntaxError>> {
    let mut reader = Reader::from_str(text);
    // Defaults matter here: no trimming (we decide about whitespace), end names
    // checked, `<X/>` reported as Empty so it becomes an empty value.
    let mut p = Parser {
        index,
        errors: Vec::new(),
        stage: Stage::Before,
        skip: 0,
        rule: None,
        open: None,
        rules: Vec::new(),
        positions: Positions::default(),
    };
    loop {
        let at = offset(reader.buffer_position());
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let at = offset(reader.error_position());
                p.error(at, format!("malformed XML: {e}"));
                return Err(p.errors);
            }
        };
        match event {
            Event::Start(e) => {
                if p.start(&e, at).is_err() {
                    return Err(p.errors);
                }
            }
            Event::Empty(e) => {
                if p.start(&e, at).is_err() {
                    return Err(p.errors);
                }
                p.end();
            }
            Event::End(_) => p.end(),
            Event::Text(t) => p.text(Part::Raw(t.to_string(), at)),
            Event::CData(t) => {
                p.text(Part::Literal(t.to_string(), at + "<![CDATA[".len()));
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r).map(String::from),
                    Err(_) => None,
                };
                match resolved {
                    Some(s) => p.text(Part::Literal(s, at)),
                    None => p.error(
                        at,
                        format!(
                            "unknown entity &{}; (XML defines only &amp; &lt; &gt; &quot; \
                             &apos; and &#NN;)",
                            &*r
                        ),
                    ),
                }
            }
            Event::DocType(_) => p.error(
                at,
                "a CORS configuration may not have a <!DOCTYPE>: S3 reads only <CORSConfiguration>",
            ),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    let end = text.len();
    match p.stage {
        Stage::Before => p.error(end, format!("no {} element found", tag(ROOT))),
        Stage::Inside => {
            let innermost = match (&p.open, &p.rule) {
                (Some(open), _) => element_name(open.field),
                (None, Some(_)) => RULE,
                (None, None) => ROOT,
            };
            let message = format!(
                "unexpected end of document: {} is not closed",
                tag(innermost)
            );
            p.error(end, message);
        }
        Stage::After => {}
    }
    if p.errors.is_empty() {
        Ok(ParsedRules {
            format: RulesFormat::Xml,
            rules: p.rules,
            positions: p.positions,
        })
    } else {
        Err(p.errors)
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// `Err` means the error is fatal (the wrong root element).
struct Fatal;

impl Parser<'_, '_> {
    fn error(&mut self, at: usize, message: impl Into<String>) {
        self.errors.push(self.index.error(at, message));
    }

    fn unknown(&mut self, name: &str, parent: &str, known: &[&str], at: usize) {
        let mut message = format!("unknown element {} in {}", tag(name), tag(parent));
        match hint(name, known, TRAPS, tag) {
            Some(h) => message += &format!(" ({h})"),
            None => {
                let list: Vec<String> = known.iter().map(|k| tag(k)).collect();
                message += &format!(" (expected {})", list.join(", "));
            }
        }
        self.error(at, message);
        self.skip = 1;
    }

    fn start(&mut self, e: &BytesStart<'_>, at: usize) -> Result<(), Fatal> {
        let name = e.name().0.to_string();
        if self.skip > 0 {
            self.skip += 1;
        } else if let Some(open) = &self.open {
            let parent = tag(element_name(open.field));
            self.error(
                at,
                format!(
                    "element {} is not allowed inside {parent}, which holds text only",
                    tag(&name)
                ),
            );
            self.skip = 1;
        } else if let Some((spec, pos)) = &self.rule {
            let Some(field) = field_of(&name) else {
                self.unknown(&name, RULE, RULE_ELEMENTS, at);
                return Ok(());
            };
            let duplicate = match field {
                Field::Id => spec.id.is_some(),
                Field::MaxAgeSeconds => pos.fields.iter().any(|f| f.field == field),
                _ => false,
            };
            if duplicate {
                self.error(
                    at,
                    format!(
                        "more than one {} in a {}: at most one is allowed",
                        tag(&name),
                        tag(RULE)
                    ),
                );
            }
            self.open = Some(Open {
                field,
                at,
                parts: Vec::new(),
                duplicate,
            });
        } else {
            match self.stage {
                Stage::Inside if name == RULE => {
                    let pos = RulePos::new(self.index.pos(at));
                    self.rule = Some((RuleSpec::default(), pos));
                }
                Stage::Inside => self.unknown(&name, ROOT, &[RULE], at),
                Stage::After => {
                    self.error(
                        at,
                        format!(
                            "element {} after </{ROOT}>: a document has one root",
                            tag(&name)
                        ),
                    );
                    self.skip = 1;
                }
                Stage::Before if name == ROOT => {
                    self.check_namespace(e, at);
                    self.positions.root = self.index.pos(at);
                    self.stage = Stage::Inside;
                }
                Stage::Before => {
                    let mut message = format!(
                        "the root element must be {}, found {}",
                        tag(ROOT),
                        tag(&name)
                    );
                    if let Some(h) = hint(&name, &[ROOT], TRAPS, tag) {
                        message += &format!(" ({h})");
                    }
                    self.error(at, message);
                    return Err(Fatal);
                }
            }
        }
        Ok(())
    }

    fn check_namespace(&mut self, e: &BytesStart<'_>, at: usize) {
        for attr in e.attributes() {
            match attr {
                Ok(a) if a.key.0 == "xmlns" && a.value != S3_NAMESPACE => {
                    let value = a.value.to_string();
                    self.error(
                        at,
                        format!(
                            "{} has namespace \"{value}\"; S3 expects \
                             xmlns=\"{S3_NAMESPACE}\" or no namespace",
                            tag(ROOT)
                        ),
                    );
                }
                Ok(_) => {}
                Err(err) => self.error(at, format!("malformed attribute on {}: {err}", tag(ROOT))),
            }
        }
    }

    fn end(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
        } else if let Some(open) = self.open.take() {
            self.finish_value(open);
        } else if let Some((spec, pos)) = self.rule.take() {
            self.rules.push(spec);
            self.positions.rules.push(pos);
        } else if self.stage == Stage::Inside {
            self.stage = Stage::After;
        }
        // Any other end tag is unmatched, which quick-xml reports itself.
    }

    fn text(&mut self, part: Part) {
        if self.skip > 0 {
            return;
        }
        if let Some(open) = &mut self.open {
            open.parts.push(part);
            return;
        }
        let (text, at) = match &part {
            Part::Raw(s, at) => (s.as_str(), *at),
            Part::Literal(s, at) => (s.as_str(), *at),
        };
        let Some(lead) = text.find(|c| !is_xml_space(c)) else {
            return; // Indentation between elements.
        };
        let place = match (&self.rule, &self.stage) {
            (Some(_), _) => format!("inside {}", tag(RULE)),
            (None, Stage::Inside) => format!("inside {}", tag(ROOT)),
            (None, _) => format!("outside {}", tag(ROOT)),
        };
        let shown: String = text.trim_matches(is_xml_space).chars().take(30).collect();
        let at = if matches!(part, Part::Raw(..)) {
            at + lead
        } else {
            at
        };
        self.error(
            at,
            format!("unexpected text \"{shown}\" {place}: values go inside elements such as <AllowedOrigin>"),
        );
    }

    fn finish_value(&mut self, open: Open) {
        if open.duplicate {
            return;
        }
        let (value, value_at) = assemble(&open.parts, open.at);
        let mut max_age = None;
        if open.field == Field::MaxAgeSeconds {
            // XML Schema's integer allows surrounding whitespace, so any is trimmed.
            match value.trim_matches(is_xml_space).parse::<i64>() {
                Ok(n) => max_age = Some(n),
                Err(_) => {
                    let message = format!(
                        "<MaxAgeSeconds> must be a whole number of seconds, e.g. \
                         <MaxAgeSeconds>3000</MaxAgeSeconds>; found \"{value}\""
                    );
                    self.error(value_at, message);
                    return;
                }
            }
        }
        let (at, item) = (self.index.pos(open.at), self.index.pos(value_at));
        let Some((spec, pos)) = &mut self.rule else {
            return;
        };
        match open.field {
            Field::Id => spec.id = Some(value),
            Field::AllowedOrigin => spec.allowed_origins.push(value),
            Field::AllowedMethod => spec.allowed_methods.push(value),
            Field::AllowedHeader => spec.allowed_headers.push(value),
            Field::ExposeHeader => spec.expose_headers.push(value),
            Field::MaxAgeSeconds => spec.max_age_seconds = max_age,
        }
        pos.field(open.field, at).items.push(item);
    }
}

/// Joins an element's text parts into its value and the offset of the value's first
/// character (the element's `<` when the value is empty). See the module comment for
/// the whitespace rule.
fn assemble(parts: &[Part], element_at: usize) -> (String, usize) {
    let lead = match parts.first() {
        Some(Part::Raw(s, _)) => &s[..s.len() - s.trim_start_matches(is_xml_space).len()],
        _ => "",
    };
    let trail = match parts.last() {
        Some(Part::Raw(s, _)) => &s[s.trim_end_matches(is_xml_space).len()..],
        _ => "",
    };
    let layout = lead.contains('\n') || trail.contains('\n');
    let last = parts.len().saturating_sub(1);
    let mut value = String::new();
    let mut value_at = None;
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Raw(s, at) => {
                let mut s = s.as_str();
                let mut at = *at;
                if layout && i == 0 {
                    let t = s.trim_start_matches(is_xml_space);
                    at += s.len() - t.len();
                    s = t;
                }
                if layout && i == last {
                    s = s.trim_end_matches(is_xml_space);
                }
                if !s.is_empty() {
                    value_at.get_or_insert(at);
                    // XML 1.0 §2.11: a parser normalises CRLF and lone CR to LF.
                    value.push_str(&s.replace("\r\n", "\n").replace('\r', "\n"));
                }
            }
            Part::Literal(s, at) => {
                if !s.is_empty() {
                    value_at.get_or_insert(*at);
                    value.push_str(s);
                }
            }
        }
    }
    (value, value_at.unwrap_or(element_at))
}

//! The two JSON forms (spec §1.2 items 2 and 3): `{"CORSRules": [...]}` as
//! `aws s3api put-bucket-cors` takes it, and the S3 console's bare array.
//!
//! serde_json gives no spans, so reading is two passes: serde_json first checks the
//! syntax (its error positions are good), then a small walker over the now known-valid
//! text records the byte offset of every value. The walker only finds token
//! boundaries; decoding strings (escapes) and numbers is handed back to serde_json.
//! Shape errors (unknown keys, wrong types) are collected across all rules.

use serde_json::Number;

use super::{hint, LineIndex, ParsedRules, Positions, RulePos, RulesFormat, SyntaxError};
use crate::cors::{Field, RuleSpec};

const TOP_KEY: &str = "CORSRules";

const TOP_TRAPS: &[(&str, &str)] = &[
    (
        "CorsRules",
        "\"CorsRules\" is the CloudFormation spelling; S3 uses \"CORSRules\"",
    ),
    (
        "CorsConfiguration",
        "\"CorsConfiguration\" is CloudFormation's wrapper; write {\"CORSRules\": [...]} \
         at the top level",
    ),
    (
        "CORSConfiguration",
        "<CORSConfiguration> is the XML root; the JSON form is {\"CORSRules\": [...]} \
         at the top level",
    ),
];

const RULE_KEYS: &[&str] = &[
    "ID",
    "AllowedOrigins",
    "AllowedMethods",
    "AllowedHeaders",
    "ExposeHeaders",
    "MaxAgeSeconds",
];

const RULE_TRAPS: &[(&str, &str)] = &[
    (
        "ExposedHeaders",
        "\"ExposedHeaders\" is the CloudFormation spelling; S3 uses \"ExposeHeaders\"",
    ),
    (
        "MaxAge",
        "\"MaxAge\" is the CloudFormation spelling; S3 uses \"MaxAgeSeconds\"",
    ),
    (
        "Id",
        "\"Id\" is the CloudFormation spelling; S3 uses \"ID\"",
    ),
];

fn field_of(key: &str) -> Option<Field> {
    Some(match key {
        "ID" => Field::Id,
        "AllowedOrigins" => Field::AllowedOrigin,
        "AllowedMethods" => Field::AllowedMethod,
        "AllowedHeaders" => Field::AllowedHeader,
        "ExposeHeaders" => Field::ExposeHeader,
        "MaxAgeSeconds" => Field::MaxAgeSeconds,
        _ => return None,
    })
}

fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// A JSON value with the byte offset of its first character.
struct Node {
    at: usize,
    value: Value,
}

enum Value {
    Null,
    Bool,
    Number(Number),
    String(String),
    Array(Vec<Node>),
    /// Members in document order, duplicates kept so they can be reported.
    Object(Vec<Member>),
}

struct Member {
    key_at: usize,
    key: String,
    value: Node,
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

pub(super) fn parse(
    text: &str,
    index: &LineIndex<'_>,
    format: RulesFormat,
) -> Result<ParsedRules, Vec<SyntaxError>> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        // serde_json's column counts bytes; LineIndex turns it into characters.
        let at = index.offset_of(e.line(), e.column());
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(cut) => &message[..cut],
            None => &message,
        };
        return Err(vec![index.error(at, format!("invalid JSON: {message}"))]);
    }
    let root = Walker { text, i: 0 }
        .document()
        .map_err(|(at, message)| vec![index.error(at, message)])?;
    let mut reader = Reader {
        index,
        errors: Vec::new(),
        rules: Vec::new(),
        positions: Positions::default(),
    };
    match (format, root.value) {
        (RulesFormat::ConsoleJson, Value::Array(items)) => {
            reader.positions.root = index.pos(root.at);
            reader.rules_array(items);
        }
        (_, Value::Object(members)) => reader.top_object(root.at, members),
        (_, other) => reader.error(
            root.at,
            format!(
                "expected an array of rules or {{\"CORSRules\": [...]}}, found {}",
                other.kind()
            ),
        ),
    }
    if reader.errors.is_empty() {
        Ok(ParsedRules {
            format,
            rules: reader.rules,
            positions: reader.positions,
        })
    } else {
        Err(reader.errors)
    }
}

struct Reader<'t, 'i> {
    index: &'i LineIndex<'t>,
    errors: Vec<SyntaxError>,
    rules: Vec<RuleSpec>,
    positions: Positions,
}

impl Reader<'_, '_> {
    fn error(&mut self, at: usize, message: impl Into<String>) {
        self.errors.push(self.index.error(at, message));
    }

    /// Reports a duplicate key; serde_json would silently keep the last one.
    fn duplicate(&mut self, seen: &mut Vec<String>, member: &Member, place: &str) -> bool {
        if seen.contains(&member.key) {
            self.error(
                member.key_at,
                format!("duplicate key \"{}\" in {place}", member.key),
            );
            return true;
        }
        seen.push(member.key.clone());
        false
    }

    fn unknown_key(
        &mut self,
        member: &Member,
        place: &str,
        known: &[&str],
        traps: &[(&str, &str)],
    ) {
        let hint = hint(&member.key, known, traps, quote).unwrap_or_else(|| {
            let list: Vec<String> = known.iter().map(|k| quote(k)).collect();
            format!("expected {}", list.join(", "))
        });
        self.error(
            member.key_at,
            format!("unknown key \"{}\" in {place} ({hint})", member.key),
        );
    }

    fn top_object(&mut self, at: usize, members: Vec<Member>) {
        let mut seen = Vec::new();
        let mut found = false;
        let mut misnamed = None;
        for member in members {
            if self.duplicate(&mut seen, &member, "the top-level object") {
                continue;
            }
            if member.key == TOP_KEY {
                found = true;
                self.positions.root = self.index.pos(member.value.at);
                match member.value.value {
                    Value::Array(items) => self.rules_array(items),
                    other => self.error(
                        member.value.at,
                        format!(
                            "\"CORSRules\" must be an array of rule objects, found {}",
                            other.kind()
                        ),
                    ),
                }
            } else {
                self.unknown_key(&member, "the top-level object", &[TOP_KEY], TOP_TRAPS);
                if member.key == "CorsRules" {
                    misnamed = Some(member.value);
                }
            }
        }
        if found {
            return;
        }
        if let Some(Node {
            value: Value::Array(items),
            ..
        }) = misnamed
        {
            // Read the misnamed list anyway: its rules likely hold more CloudFormation
            // names, and reporting them now saves a round trip.
            self.rules_array(items);
        } else if self.errors.is_empty() {
            self.error(
                at,
                "a JSON object must hold the rules as {\"CORSRules\": [...]} \
                 (the aws s3api put-bucket-cors form); the S3 console form is a bare array [...]",
            );
        }
    }

    fn rules_array(&mut self, items: Vec<Node>) {
        for (i, node) in items.into_iter().enumerate() {
            match node.value {
                Value::Object(members) => self.rule(i, node.at, members),
                other => self.error(
                    node.at,
                    format!(
                        "rule {} must be an object such as {{\"AllowedOrigins\": [\"*\"], \
                         \"AllowedMethods\": [\"GET\"]}}, found {}",
                        i + 1,
                        other.kind()
                    ),
                ),
            }
        }
    }

    fn rule(&mut self, i: usize, at: usize, members: Vec<Member>) {
        let place = format!("rule {}", i + 1);
        let mut spec = RuleSpec::default();
        let mut pos = RulePos::new(self.index.pos(at));
        let mut seen = Vec::new();
        for member in members {
            if self.duplicate(&mut seen, &member, &place) {
                continue;
            }
            let Some(field) = field_of(&member.key) else {
                self.unknown_key(&member, &place, RULE_KEYS, RULE_TRAPS);
                continue;
            };
            let key = member.key;
            let node = member.value;
            let mut items = Vec::new();
            match (field, node.value) {
                (Field::Id, Value::String(s)) => {
                    spec.id = Some(s);
                    items.push(self.index.pos(node.at));
                }
                (Field::MaxAgeSeconds, Value::Number(n)) => match n.as_i64() {
                    Some(n) => {
                        spec.max_age_seconds = Some(n);
                        items.push(self.index.pos(node.at));
                    }
                    None => self.error(
                        node.at,
                        format!(
                            "\"MaxAgeSeconds\" must be a whole number of seconds, e.g. 3000; \
                             found {n}"
                        ),
                    ),
                },
                (Field::MaxAgeSeconds, other) => self.error(
                    node.at,
                    format!(
                        "\"MaxAgeSeconds\" must be a whole number of seconds, e.g. 3000; \
                         found {}",
                        other.kind()
                    ),
                ),
                (Field::Id, other) => self.error(
                    node.at,
                    format!("\"ID\" must be a string, found {}", other.kind()),
                ),
                (_, Value::Array(values)) => {
                    let list = match field {
                        Field::AllowedOrigin => &mut spec.allowed_origins,
                        Field::AllowedMethod => &mut spec.allowed_methods,
                        Field::AllowedHeader => &mut spec.allowed_headers,
                        _ => &mut spec.expose_headers,
                    };
                    for (j, v) in values.into_iter().enumerate() {
                        match v.value {
                            Value::String(s) => {
                                list.push(s);
                                items.push(self.index.pos(v.at));
                            }
                            other => {
                                let message = format!(
                                    "item {} of \"{key}\" must be a string, found {}",
                                    j + 1,
                                    other.kind()
                                );
                                self.errors.push(self.index.error(v.at, message));
                            }
                        }
                    }
                }
                (_, Value::String(s)) => self.error(
                    node.at,
                    format!(
                        "\"{key}\" must be an array of strings: write [{}]",
                        serde_json::to_string(&s).unwrap_or_default()
                    ),
                ),
                (_, other) => self.error(
                    node.at,
                    format!(
                        "\"{key}\" must be an array of strings, e.g. [\"*\"]; found {}",
                        other.kind()
                    ),
                ),
            }
            let field_pos = pos.field(field, self.index.pos(member.key_at));
            field_pos.items = items;
        }
        self.rules.push(spec);
        self.positions.rules.push(pos);
    }
}

/// Walks JSON that serde_json already accepted, recording where each value starts.
/// Its errors can only come from a disagreement with serde_json, so they are terse.
struct Walker<'a> {
    text: &'a str,
    i: usize,
}

type WalkError = (usize, String);

impl Walker<'_> {
    fn document(mut self) -> Result<Node, WalkError> {
        self.value()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, WalkError> {
        Err((self.i, format!("invalid JSON: {what}")))
    }

    fn expect(&mut self, byte: u8) -> Result<(), WalkError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            self.fail(&format!("expected `{}`", byte as char))
        }
    }

    fn value(&mut self) -> Result<Node, WalkError> {
        self.skip_ws();
        let at = self.i;
        let value = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool)?,
            Some(b'f') => self.literal("false", Value::Bool)?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(_) => self.number()?,
            None => return self.fail("unexpected end"),
        };
        Ok(Node { at, value })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, WalkError> {
        if self.text[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(value)
        } else {
            self.fail("unexpected token")
        }
    }

    fn number(&mut self) -> Result<Value, WalkError> {
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        match serde_json::from_str::<Number>(&self.text[start..self.i]) {
            Ok(n) => Ok(Value::Number(n)),
            Err(e) => Err((start, format!("invalid JSON number: {e}"))),
        }
    }

    /// Finds the closing quote (skipping escaped characters) and lets serde_json
    /// decode the escapes.
    fn string(&mut self) -> Result<String, WalkError> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek() {
                Some(b'\\') => self.i += 2,
                Some(b'"') => break,
                Some(_) => self.i += 1,
                None => return self.fail("unterminated string"),
            }
        }
        self.i += 1;
        serde_json::from_str::<String>(&self.text[start..self.i])
            .map_err(|e| (start, format!("invalid JSON string: {e}")))
    }

    fn array(&mut self) -> Result<Value, WalkError> {
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return self.fail("expected `,` or `]`"),
            }
        }
    }

    fn object(&mut self) -> Result<Value, WalkError> {
        self.i += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            let key_at = self.i;
            if self.peek() != Some(b'"') {
                return self.fail("expected a key");
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            members.push(Member { key_at, key, value });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                _ => return self.fail("expected `,` or `}`"),
            }
        }
    }
}

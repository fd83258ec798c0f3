//! Table-driven tests for the three rule formats: the AWS documentation samples,
//! exact positions, and the messages for the mistakes people actually make.

use super::*;
use crate::cors::Field;

fn ok(text: &str) -> ParsedRules {
    parse(text).unwrap_or_else(|e| panic!("expected {text:?} to parse, got {e:#?}"))
}

/// Errors as `(line, column, message)` for compact assertions.
fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match parse(text) {
        Ok(p) => panic!("expected {text:?} to fail, got {:#?}", p.rules),
        Err(e) => e
            .into_iter()
            .map(|e| (e.line, e.column, e.message))
            .collect(),
    }
}

fn one_error(text: &str) -> (usize, usize, String) {
    let mut e = errors(text);
    assert_eq!(e.len(), 1, "expected one error for {text:?}, got {e:#?}");
    e.remove(0)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn rule(
    origins: &[&str],
    methods: &[&str],
    headers: &[&str],
    expose: &[&str],
    max_age: Option<i64>,
) -> RuleSpec {
    RuleSpec {
        id: None,
        allowed_origins: strings(origins),
        allowed_methods: strings(methods),
        allowed_headers: strings(headers),
        expose_headers: strings(expose),
        max_age_seconds: max_age,
    }
}

fn at(rule: Option<usize>, field: Option<Field>, item: Option<usize>) -> Location {
    Location { rule, field, item }
}

// ---- AWS documentation samples -------------------------------------------------

/// The S3 user guide's three-rule XML example (ManageCorsUsing.html).
const AWS_XML: &str = r#"<CORSConfiguration>
 <CORSRule>
   <AllowedOrigin>http://www.example1.com</AllowedOrigin>

   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>

   <AllowedHeader>*</AllowedHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>http://www.example2.com</AllowedOrigin>

   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>

   <AllowedHeader>*</AllowedHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>*</AllowedOrigin>
   <AllowedMethod>GET</AllowedMethod>
 </CORSRule>
</CORSConfiguration>
"#;

/// The user guide's example with MaxAgeSeconds and ExposeHeader, with the namespace
/// and declaration the API reference shows.
const AWS_XML_EXPOSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 <CORSRule>
   <AllowedOrigin>http://www.example.com</AllowedOrigin>
   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>
   <AllowedHeader>*</AllowedHeader>
  <MaxAgeSeconds>3000</MaxAgeSeconds>
  <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>
  <ExposeHeader>x-amz-request-id</ExposeHeader>
  <ExposeHeader>x-amz-id-2</ExposeHeader>
 </CORSRule>
</CORSConfiguration>
"#;

/// The user guide's console (JSON array) version of [`AWS_XML`].
const AWS_CONSOLE: &str = r#"[
    {
        "AllowedHeaders": [
            "*"
        ],
        "AllowedMethods": [
            "PUT",
            "POST",
            "DELETE"
        ],
        "AllowedOrigins": [
            "http://www.example1.com"
        ],
        "ExposeHeaders": []
    },
    {
        "AllowedHeaders": [
            "*"
        ],
        "AllowedMethods": [
            "PUT",
            "POST",
            "DELETE"
        ],
        "AllowedOrigins": [
            "http://www.example2.com"
        ],
        "ExposeHeaders": []
    },
    {
        "AllowedHeaders": [],
        "AllowedMethods": [
            "GET"
        ],
        "AllowedOrigins": [
            "*"
        ],
        "ExposeHeaders": []
    }
]
"#;

/// The `aws s3api put-bucket-cors` reference example.
const AWS_CLI: &str = r#"{
  "CORSRules": [
    {
      "AllowedOrigins": ["http://www.example.com"],
      "AllowedHeaders": ["*"],
      "AllowedMethods": ["PUT", "POST", "DELETE"],
      "MaxAgeSeconds": 3000,
      "ExposeHeaders": ["x-amz-server-side-encryption"]
    },
    {
      "AllowedOrigins": ["*"],
      "AllowedHeaders": ["Authorization"],
      "AllowedMethods": ["GET"],
      "MaxAgeSeconds": 3000
    }
  ]
}
"#;

fn three_rules() -> Vec<RuleSpec> {
    let write = ["PUT", "POST", "DELETE"];
    vec![
        rule(&["http://www.example1.com"], &write, &["*"], &[], None),
        rule(&["http://www.example2.com"], &write, &["*"], &[], None),
        rule(&["*"], &["GET"], &[], &[], None),
    ]
}

#[test]
fn aws_samples_parse_in_order() {
    let cases: Vec<(&str, &str, RulesFormat, Vec<RuleSpec>)> = vec![
        ("xml", AWS_XML, RulesFormat::Xml, three_rules()),
        (
            "console",
            AWS_CONSOLE,
            RulesFormat::ConsoleJson,
            three_rules(),
        ),
        (
            "xml expose",
            AWS_XML_EXPOSE,
            RulesFormat::Xml,
            vec![rule(
                &["http://www.example.com"],
                &["PUT", "POST", "DELETE"],
                &["*"],
                &[
                    "x-amz-server-side-encryption",
                    "x-amz-request-id",
                    "x-amz-id-2",
                ],
                Some(3000),
            )],
        ),
        (
            "cli",
            AWS_CLI,
            RulesFormat::CorsRulesJson,
            vec![
                rule(
                    &["http://www.example.com"],
                    &["PUT", "POST", "DELETE"],
                    &["*"],
                    &["x-amz-server-side-encryption"],
                    Some(3000),
                ),
                rule(&["*"], &["GET"], &["Authorization"], &[], Some(3000)),
            ],
        ),
    ];
    for (name, text, format, rules) in cases {
        let parsed = ok(text);
        assert_eq!(parsed.format, format, "{name}");
        assert_eq!(parsed.rules, rules, "{name}");
    }
}

#[test]
fn values_are_verbatim_case_and_order_kept() {
    let xml = "<CORSConfiguration><CORSRule><ID>Mixed Case ID</ID>\
        <AllowedOrigin>HTTP://B.example:80</AllowedOrigin><AllowedOrigin>http://a.example/</AllowedOrigin>\
        <AllowedMethod>put</AllowedMethod><AllowedMethod>GET</AllowedMethod>\
        <AllowedHeader>x-AMZ-server-SIDE-encryption</AllowedHeader>\
        <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>-5</MaxAgeSeconds>\
        </CORSRule></CORSConfiguration>";
    let json = r#"[{"ID": "Mixed Case ID",
        "AllowedOrigins": ["HTTP://B.example:80", "http://a.example/"],
        "AllowedMethods": ["put", "GET"],
        "AllowedHeaders": ["x-AMZ-server-SIDE-encryption"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": -5}]"#;
    let mut expected = rule(
        &["HTTP://B.example:80", "http://a.example/"],
        &["put", "GET"],
        &["x-AMZ-server-SIDE-encryption"],
        &["ETag"],
        Some(-5),
    );
    expected.id = Some("Mixed Case ID".into());
    for text in [xml, json] {
        assert_eq!(ok(text).rules, vec![expected.clone()], "{text}");
    }
}

// ---- positions -----------------------------------------------------------------

const POS_XML: &str = r#"<CORSConfiguration>
  <CORSRule>
    <ID>r1</ID>
    <AllowedOrigin>https://a.example</AllowedOrigin>
    <AllowedOrigin>https://b.example</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <MaxAgeSeconds>60</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedMethod/>
    <AllowedHeader>
      x-amz-*
    </AllowedHeader>
  </CORSRule>
</CORSConfiguration>
"#;

const POS_JSON: &str = r#"{"CORSRules": [
  {
    "ID": "r1",
    "AllowedOrigins": ["https://a.example", "https://b.example"],
    "AllowedMethods": ["GET"],
    "MaxAgeSeconds": 60
  },
  {"AllowedMethods": [""]}
]}
"#;

#[test]
fn positions_point_at_values_with_fallbacks() {
    use Field::*;
    type Case = (Location, (usize, usize));
    let xml: Vec<Case> = vec![
        (at(None, None, None), (1, 1)),
        (at(Some(0), None, None), (2, 3)),
        (at(Some(0), Some(Id), None), (3, 9)),
        (at(Some(0), Some(AllowedOrigin), None), (4, 5)),
        (at(Some(0), Some(AllowedOrigin), Some(0)), (4, 20)),
        (at(Some(0), Some(AllowedOrigin), Some(1)), (5, 20)),
        (at(Some(0), Some(AllowedOrigin), Some(9)), (4, 5)),
        (at(Some(0), Some(AllowedMethod), Some(0)), (6, 20)),
        (at(Some(0), Some(MaxAgeSeconds), None), (7, 20)),
        (at(Some(0), Some(AllowedHeader), Some(0)), (2, 3)),
        // Empty element: its `<`; pretty-printed value: the first kept character.
        (at(Some(1), Some(AllowedMethod), Some(0)), (10, 5)),
        (at(Some(1), Some(AllowedHeader), Some(0)), (12, 7)),
        (at(Some(7), Some(AllowedMethod), Some(0)), (1, 1)),
    ];
    let parsed = ok(POS_XML);
    assert_eq!(parsed.rules[1].allowed_methods, strings(&[""]));
    assert_eq!(parsed.rules[1].allowed_headers, strings(&["x-amz-*"]));
    for (loc, want) in xml {
        assert_eq!(parsed.position(loc), want, "xml {loc:?}");
    }

    let json: Vec<Case> = vec![
        (at(None, None, None), (1, 15)),
        (at(Some(0), None, None), (2, 3)),
        (at(Some(0), Some(Id), None), (3, 11)),
        (at(Some(0), Some(Id), Some(0)), (3, 11)),
        (at(Some(0), Some(AllowedOrigin), None), (4, 5)),
        (at(Some(0), Some(AllowedOrigin), Some(0)), (4, 24)),
        (at(Some(0), Some(AllowedOrigin), Some(1)), (4, 45)),
        (at(Some(0), Some(MaxAgeSeconds), None), (6, 22)),
        (at(Some(0), Some(ExposeHeader), None), (2, 3)),
        (at(Some(1), None, None), (8, 3)),
        (at(Some(1), Some(AllowedMethod), Some(0)), (8, 23)),
    ];
    let parsed = ok(POS_JSON);
    for (loc, want) in json {
        assert_eq!(parsed.position(loc), want, "json {loc:?}");
    }
}

#[test]
fn columns_count_characters_and_skip_the_bom() {
    let parsed = ok("\u{feff}[{\"ID\": \"é\", \"AllowedOrigins\": [\"o\"]}]");
    let loc = at(Some(0), Some(Field::AllowedOrigin), Some(0));
    assert_eq!(parsed.position(loc), (1, 33));
    assert_eq!(parsed.position(at(Some(0), None, None)), (1, 2));

    let parsed = ok("\u{feff}<CORSConfiguration><CORSRule/></CORSConfiguration>");
    assert_eq!(parsed.format, RulesFormat::Xml);
    assert_eq!(parsed.position(at(Some(0), None, None)), (1, 20));
}

#[test]
fn crlf_files_count_lines_like_lf() {
    let text = POS_JSON.replace('\n', "\r\n");
    let parsed = ok(&text);
    let loc = at(Some(0), Some(Field::AllowedOrigin), Some(1));
    assert_eq!(parsed.position(loc), (4, 45));
}

// ---- XML specifics -------------------------------------------------------------

fn xml_rule(body: &str) -> String {
    format!("<CORSConfiguration><CORSRule>{body}</CORSRule></CORSConfiguration>")
}

#[test]
fn xml_values() {
    // (rule body, expected AllowedOrigin values)
    let cases: &[(&str, &[&str])] = &[
        (
            "<AllowedOrigin>http://a/?x=1&amp;y=2</AllowedOrigin>",
            &["http://a/?x=1&y=2"],
        ),
        (
            "<AllowedOrigin>&lt;&gt;&quot;&apos;&#42;&#x2A;</AllowedOrigin>",
            &["<>\"'**"],
        ),
        (
            "<AllowedOrigin><![CDATA[http://a/?a&b]]></AllowedOrigin>",
            &["http://a/?a&b"],
        ),
        ("<AllowedOrigin/><AllowedOrigin></AllowedOrigin>", &["", ""]),
        // One-line values keep their spaces; S3 stores them verbatim.
        ("<AllowedOrigin> http://a </AllowedOrigin>", &[" http://a "]),
        // Pretty-printed values lose the layout whitespace around them only.
        (
            "<AllowedOrigin>\n   http://a b\n </AllowedOrigin>",
            &["http://a b"],
        ),
        (
            "<AllowedOrigin>\r\n\thttp://a\r\n</AllowedOrigin>",
            &["http://a"],
        ),
        // Whitespace written as a reference is content.
        ("<AllowedOrigin>\n&#32;x\n</AllowedOrigin>", &[" x"]),
        (
            "<!-- c --><AllowedOrigin>a<!-- c -->b</AllowedOrigin>",
            &["ab"],
        ),
    ];
    for (body, want) in cases {
        let parsed = ok(&xml_rule(body));
        assert_eq!(parsed.rules[0].allowed_origins, strings(want), "{body:?}");
    }
}

#[test]
fn xml_documents_that_parse() {
    let cases: &[(&str, usize)] = &[
        ("<CORSConfiguration/>", 0),
        ("<CORSConfiguration></CORSConfiguration>", 0),
        ("<CORSConfiguration><CORSRule/></CORSConfiguration>", 1),
        (
            "<?xml version=\"1.0\"?>\n<!-- rules -->\n<CORSConfiguration \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><CORSRule/><CORSRule/>\
             </CORSConfiguration>\n<!-- end -->\n",
            2,
        ),
    ];
    for (text, n) in cases {
        assert_eq!(ok(text).rules.len(), *n, "{text}");
    }
}

#[test]
fn xml_structure_errors() {
    let cases: &[(&str, (usize, usize, &str))] = &[
        (
            "<CORSConfiguration><CORSRule><AllowedOrigins>*</AllowedOrigins></CORSRule></CORSConfiguration>",
            (1, 30, "unknown element <AllowedOrigins> in <CORSRule> (did you mean <AllowedOrigin>?)"),
        ),
        (
            "<CORSConfiguration><CORSRule><allowedmethod>GET</allowedmethod></CORSRule></CORSConfiguration>",
            (1, 30, "unknown element <allowedmethod> in <CORSRule> (names are case-sensitive: did you mean <AllowedMethod>?)"),
        ),
        (
            "<CORSConfiguration><CORSRule><MaxAge>5</MaxAge></CORSRule></CORSConfiguration>",
            (1, 30, "unknown element <MaxAge> in <CORSRule> (did you mean <MaxAgeSeconds>? \"MaxAge\" is the CloudFormation spelling)"),
        ),
        (
            "<CORSConfiguration><CORSRule><Foo/></CORSRule></CORSConfiguration>",
            (1, 30, "unknown element <Foo> in <CORSRule> (expected <ID>, <AllowedOrigin>, <AllowedMethod>, <AllowedHeader>, <ExposeHeader>, <MaxAgeSeconds>)"),
        ),
        (
            "<CORSConfiguration><CORSRules/></CORSConfiguration>",
            (1, 20, "unknown element <CORSRules> in <CORSConfiguration> (did you mean <CORSRule>?)"),
        ),
        (
            "<CorsConfiguration/>",
            (1, 1, "the root element must be <CORSConfiguration>, found <CorsConfiguration> (names are case-sensitive: did you mean <CORSConfiguration>?)"),
        ),
        (
            "<CORSConfiguration xmlns=\"http://example.com/\"/>",
            (1, 1, "<CORSConfiguration> has namespace \"http://example.com/\"; S3 expects xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" or no namespace"),
        ),
        (
            "<CORSConfiguration><CORSRule><ID>a</ID><ID>b</ID></CORSRule></CORSConfiguration>",
            (1, 40, "more than one <ID> in a <CORSRule>: at most one is allowed"),
        ),
        (
            "<CORSConfiguration><CORSRule><MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            (1, 62, "more than one <MaxAgeSeconds> in a <CORSRule>: at most one is allowed"),
        ),
        (
            "<CORSConfiguration><CORSRule><MaxAgeSeconds>30s</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            (1, 45, "<MaxAgeSeconds> must be a whole number of seconds, e.g. <MaxAgeSeconds>3000</MaxAgeSeconds>; found \"30s\""),
        ),
        (
            "<CORSConfiguration><CORSRule>\n  GET\n</CORSRule></CORSConfiguration>",
            (2, 3, "unexpected text \"GET\" inside <CORSRule>: values go inside elements such as <AllowedOrigin>"),
        ),
        (
            "<CORSConfiguration><CORSRule><AllowedOrigin><b>x</b></AllowedOrigin></CORSRule></CORSConfiguration>",
            (1, 45, "element <b> is not allowed inside <AllowedOrigin>, which holds text only"),
        ),
        (
            "<CORSConfiguration><CORSRule><AllowedOrigin>&nbsp;</AllowedOrigin></CORSRule></CORSConfiguration>",
            (1, 45, "unknown entity &nbsp; (XML defines only &amp; &lt; &gt; &quot; &apos; and &#NN;)"),
        ),
        (
            "<CORSConfiguration/>\n<CORSConfiguration/>",
            (2, 1, "element <CORSConfiguration> after </CORSConfiguration>: a document has one root"),
        ),
    ];
    for (text, (line, column, message)) in cases {
        assert_eq!(
            one_error(text),
            (*line, *column, message.to_string()),
            "{text}"
        );
    }
}

#[test]
fn xml_reports_every_unknown_element() {
    let text = "<CORSConfiguration>\n\
        <CORSRule><AllowedOrigins>*</AllowedOrigins><AllowedMethod>GET</AllowedMethod></CORSRule>\n\
        <CORSRule><AllowedOrigin>*</AllowedOrigin><ExposedHeader>ETag</ExposedHeader></CORSRule>\n\
        </CORSConfiguration>";
    let got: Vec<(usize, usize)> = errors(text).iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(got, vec![(2, 11), (3, 43)]);
}

#[test]
fn xml_syntax_errors_have_positions() {
    let e = one_error("<CORSConfiguration><CORSRule><AllowedOrigin>a");
    assert_eq!(
        e.2,
        "unexpected end of document: <AllowedOrigin> is not closed"
    );
    let cases: &[(&str, (usize, usize))] = &[
        // Mismatched end tag.
        (
            "<CORSConfiguration>\n<CORSRule></CORSRul>\n</CORSConfiguration>",
            (2, 11),
        ),
        // Unclosed root at end of input.
        ("<CORSConfiguration>\n<CORSRule/>\n", (3, 1)),
        ("<CORSConfiguration><CORSRule><ID>x", (1, 35)),
        // Bare `&`.
        (
            "<CORSConfiguration><CORSRule><ID>a & b</ID></CORSRule></CORSConfiguration>",
            (1, 36),
        ),
    ];
    for (text, want) in cases {
        let e = one_error(text);
        assert_eq!((e.0, e.1), *want, "{text}: {}", e.2);
    }
}

// ---- JSON specifics ------------------------------------------------------------

#[test]
fn json_values_decode_escapes() {
    let parsed = ok(
        r#"[{"AllowedOrigins": ["http://\u00e9.example/\"q\"", "a\\b"], "AllowedMethods": []}]"#,
    );
    assert_eq!(
        parsed.rules[0].allowed_origins,
        strings(&["http://é.example/\"q\"", "a\\b"])
    );
    assert_eq!(ok("[]").rules, vec![]);
    assert_eq!(ok(r#"{"CORSRules": []}"#).rules, vec![]);
    assert_eq!(ok("[{}]").rules, vec![RuleSpec::default()]);
}

#[test]
fn json_shape_errors() {
    let cases: &[(&str, (usize, usize, &str))] = &[
        (
            r#"[{"AllowedOrigins": ["*"], "ExposedHeaders": ["ETag"]}]"#,
            (1, 28, r#"unknown key "ExposedHeaders" in rule 1 ("ExposedHeaders" is the CloudFormation spelling; S3 uses "ExposeHeaders")"#),
        ),
        (
            r#"[{"MaxAge": 5}]"#,
            (1, 3, r#"unknown key "MaxAge" in rule 1 ("MaxAge" is the CloudFormation spelling; S3 uses "MaxAgeSeconds")"#),
        ),
        (
            r#"[{"Id": "x"}]"#,
            (1, 3, r#"unknown key "Id" in rule 1 ("Id" is the CloudFormation spelling; S3 uses "ID")"#),
        ),
        (
            r#"[{"AllowedOrigin": ["*"]}]"#,
            (1, 3, r#"unknown key "AllowedOrigin" in rule 1 (did you mean "AllowedOrigins"?)"#),
        ),
        (
            r#"[{"allowedMethods": ["GET"]}]"#,
            (1, 3, r#"unknown key "allowedMethods" in rule 1 (names are case-sensitive: did you mean "AllowedMethods"?)"#),
        ),
        (
            r#"{"CorsRules": []}"#,
            (1, 2, r#"unknown key "CorsRules" in the top-level object ("CorsRules" is the CloudFormation spelling; S3 uses "CORSRules")"#),
        ),
        (
            "{}",
            (1, 1, "a JSON object must hold the rules as {\"CORSRules\": [...]} (the aws s3api put-bucket-cors form); the S3 console form is a bare array [...]"),
        ),
        (
            r#"{"CORSRules": {}}"#,
            (1, 15, r#""CORSRules" must be an array of rule objects, found an object"#),
        ),
        (
            r#"[{"AllowedOrigins": "*"}]"#,
            (1, 21, r#""AllowedOrigins" must be an array of strings: write ["*"]"#),
        ),
        (
            r#"[{"AllowedMethods": ["GET", 1]}]"#,
            (1, 29, r#"item 2 of "AllowedMethods" must be a string, found a number"#),
        ),
        (
            r#"[{"MaxAgeSeconds": "3000"}]"#,
            (1, 20, r#""MaxAgeSeconds" must be a whole number of seconds, e.g. 3000; found a string"#),
        ),
        (
            r#"[{"MaxAgeSeconds": 1.5}]"#,
            (1, 20, r#""MaxAgeSeconds" must be a whole number of seconds, e.g. 3000; found 1.5"#),
        ),
        (
            r#"[{"ID": 7}]"#,
            (1, 9, r#""ID" must be a string, found a number"#),
        ),
        (
            r#"["*"]"#,
            (1, 2, r#"rule 1 must be an object such as {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}, found a string"#),
        ),
        (
            r#"[{"ID": "a", "ID": "b"}]"#,
            (1, 14, r#"duplicate key "ID" in rule 1"#),
        ),
    ];
    for (text, (line, column, message)) in cases {
        assert_eq!(
            one_error(text),
            (*line, *column, message.to_string()),
            "{text}"
        );
    }
}

#[test]
fn json_reports_errors_across_rules() {
    let text = r#"{"CorsRules": [
  {"AllowedOrigins": ["*"], "ExposedHeaders": []},
  {"AllowedOrigins": "*", "MaxAge": 3}
]}"#;
    let got: Vec<(usize, usize)> = errors(text).iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(got, vec![(1, 2), (2, 29), (3, 22), (3, 27)]);
}

#[test]
fn json_syntax_errors_have_positions() {
    let cases: &[(&str, (usize, usize))] = &[
        ("[\n  {\"AllowedOrigins\": [\"*\"],}\n]", (2, 28)),
        ("{\"CORSRules\": [}", (1, 16)),
        ("[{\"ID\": \"é\" \"x\"}]", (1, 13)),
    ];
    for (text, want) in cases {
        let e = one_error(text);
        assert_eq!((e.0, e.1), *want, "{text}: {}", e.2);
        assert!(e.2.starts_with("invalid JSON: "), "{}", e.2);
    }
}

// ---- detection -----------------------------------------------------------------

#[test]
fn wrong_documents_are_named() {
    let cases: &[(&str, (usize, usize, &str))] = &[
        ("", (1, 1, "the rules file is empty")),
        ("\u{feff} \n\t", (1, 1, "the rules file is empty")),
        (
            "[cors]\nrules = \"rules.xml\"\n",
            (1, 1, "this is a TOML file"),
        ),
        (
            "\nlisten = \"0.0.0.0:8080\"\n",
            (2, 1, "this is a TOML file"),
        ),
        ("AllowedOrigin: '*'", (1, 1, "unrecognised rules format")),
    ];
    for (text, (line, column, start)) in cases {
        let (l, c, m) = one_error(text);
        assert_eq!((l, c), (*line, *column), "{text:?}: {m}");
        assert!(m.starts_with(start), "{text:?}: {m}");
        assert!(m.contains("<CORSConfiguration>"), "{m}");
    }
}

#[test]
fn syntax_error_displays_position() {
    let e = SyntaxError {
        line: 3,
        column: 7,
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "3:7: boom");
}

#[test]
fn rules_without_positions_point_at_the_start() {
    let parsed = ParsedRules::without_positions(RulesFormat::Xml, three_rules());
    let loc = at(Some(2), Some(Field::AllowedOrigin), Some(0));
    assert_eq!(parsed.position(loc), (1, 1));
}

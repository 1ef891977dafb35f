//! Reading PREVAIL's YAML test files: a stream of documents (`---`), each one test case with
//! the keys of PREVAIL's `test-schema.yaml`: `test-case`, `pre`, `code`, `post` (required),
//! `options`, `messages`, `observe`, `expected-exception` (optional). `observe` is accepted and
//! dropped; any other key is an error, as in the schema.
//!
//! The parser is `yaml-rust2`, which follows YAML 1.2 strictly where PREVAIL's `yaml-cpp` (and
//! libyaml) are lenient: the data closes some multi-line flow sequences with a `]` in column 0
//! (`pre: [\n  "...",\n]`), which YAML 1.2 forbids (flow content must be indented more than
//! its key). [`parse_str`] indents such a line by one space first; that never changes a value
//! (a block scalar cannot reach column 0 under a top-level key, and quoted or plain scalars
//! fold leading spaces away).

use std::path::Path;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::{Yaml, YamlLoader};

use super::Case;

/// Reads every case of a PREVAIL `.yaml` file. Errors name the file (and the case).
pub fn read_file(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_str(&text, path)
}

/// Parses the text of a PREVAIL `.yaml` file; `file` is recorded in each [`Case`] and named in
/// errors.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<Case>, String> {
    let text = indent_flow_closers(text);
    check_shape(&text).map_err(|e| format!("{}:{e}", file.display()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut cases = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        // An empty document (a stray `---`) holds no case.
        if matches!(doc, Yaml::Null | Yaml::BadValue) {
            continue;
        }
        let case = parse_case(doc, file).map_err(|e| {
            let name = doc["test-case"]
                .as_str()
                .map_or_else(|| format!("document {}", i + 1), |n| format!("case `{n}`"));
            format!("{}: {name}: {e}", file.display())
        })?;
        cases.push(case);
    }
    Ok(cases)
}

/// How deeply collections may nest (a PREVAIL case needs 3: document, `code`, its labels).
const MAX_DEPTH: usize = 64;

/// How many nodes the documents may hold once every alias is expanded (the loader copies the
/// anchored node at each alias, so ten nested aliases of ten make ten billion).
const MAX_NODES: u64 = 1_000_000;

/// Refuses, before the loader builds a tree, YAML nested more than [`MAX_DEPTH`] deep (the
/// loader and the tree's destructor recurse once per level) or with more than [`MAX_NODES`]
/// nodes after alias expansion. Walks the parser's events with an explicit stack; the error is
/// `LINE:COL: message`.
fn check_shape(text: &str) -> Result<(), String> {
    let mut parser = Parser::new_from_str(text);
    // Nodes counted in each open collection, and the anchor it carries.
    let mut open: Vec<(u64, usize)> = Vec::new();
    // Expanded node count of each anchor.
    let mut anchors: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    let mut total: u64 = 0;
    loop {
        // Scanner errors are left to the loader, which reports them the same way.
        let Ok((ev, mark)) = parser.next_token() else {
            return Ok(());
        };
        let at = || format!("{}:{}", mark.line(), mark.col() + 1);
        let leaf = match ev {
            Event::StreamEnd => return Ok(()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((1, anchor));
                if open.len() > MAX_DEPTH {
                    return Err(format!(
                        "{}: YAML nested more than {MAX_DEPTH} deep (a PREVAIL test case needs 3 levels)",
                        at()
                    ));
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (n, anchor) = open.pop().unwrap_or((1, 0));
                if anchor != 0 {
                    anchors.insert(anchor, n);
                }
                Some(n)
            }
            Event::Scalar(_, _, anchor, _) => {
                if anchor != 0 {
                    anchors.insert(anchor, 1);
                }
                Some(1)
            }
            Event::Alias(id) => Some(anchors.get(&id).copied().unwrap_or(1)),
            _ => None,
        };
        if let Some(n) = leaf {
            match open.last_mut() {
                Some((count, _)) => *count = count.saturating_add(n),
                None => total = total.saturating_add(n),
            }
            if total.saturating_add(open.iter().map(|(c, _)| *c).fold(0, u64::saturating_add))
                > MAX_NODES
            {
                return Err(format!(
                    "{}: YAML too large: more than {MAX_NODES} nodes once aliases are expanded",
                    at()
                ));
            }
        }
    }
}

/// Indents lines that start with `]` or `}` in column 0 by one space (see the module doc).
fn indent_flow_closers(text: &str) -> std::borrow::Cow<'_, str> {
    let closer = |line: &str| line.starts_with(']') || line.starts_with('}');
    if !text.split('\n').any(closer) {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| if closer(line) { format!(" {line}") } else { line.to_string() })
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

fn parse_case(doc: &Yaml, file: &Path) -> Result<Case, String> {
    let Yaml::Hash(map) = doc else {
        return Err("a document is not a mapping".to_string());
    };
    let mut case = Case { file: file.to_path_buf(), ..Case::default() };
    let mut seen = [false; 4];
    for (key, value) in map {
        let key = key.as_str().ok_or_else(|| format!("key {key:?} is not a string"))?;
        match key {
            "test-case" => {
                case.name = scalar(value).ok_or("`test-case` is not a string")?;
                seen[0] = true;
            }
            "pre" => {
                case.pre = strings(value, key)?;
                seen[1] = true;
            }
            "code" => {
                case.code = code(value)?;
                seen[2] = true;
            }
            "post" => {
                case.post = strings(value, key)?;
                seen[3] = true;
            }
            "options" => case.options = optional_strings(value, key)?,
            "messages" => case.messages = optional_strings(value, key)?,
            "expected-exception" => {
                case.expected_exception = match value {
                    Yaml::Null => None,
                    v => Some(scalar(v).ok_or("`expected-exception` is not a string")?),
                };
            }
            // Observation checks at labels: not translated.
            "observe" => {}
            other => return Err(format!("unknown key `{other}`")),
        }
    }
    let required = ["test-case", "pre", "code", "post"];
    if let Some(missing) = seen.iter().position(|&s| !s) {
        return Err(format!("missing `{}`", required[missing]));
    }
    Ok(case)
}

/// A scalar as text (YAML may have read `5` or `true` as a number or a boolean).
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: &Yaml, key: &str) -> Result<Vec<String>, String> {
    let Yaml::Array(items) = v else {
        return Err(format!("`{key}` is not a list"));
    };
    items
        .iter()
        .map(|item| scalar(item).ok_or_else(|| format!("`{key}` has an item that is not a string")))
        .collect()
}

fn optional_strings(v: &Yaml, key: &str) -> Result<Vec<String>, String> {
    match v {
        Yaml::Null => Ok(Vec::new()),
        v => strings(v, key),
    }
}

fn code(v: &Yaml) -> Result<Vec<(String, String)>, String> {
    let Yaml::Hash(blocks) = v else {
        return Err("`code` is not a mapping".to_string());
    };
    blocks
        .iter()
        .map(|(label, text)| {
            let label = scalar(label).ok_or("a `code` label is not a string")?;
            let text = match text {
                Yaml::Null => String::new(),
                t => scalar(t).ok_or_else(|| format!("block {label} is not text"))?,
            };
            Ok((label, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# comment\n---\ntest-case: a\npre: []\ncode:\n  <start>: |\n    r0 = 1\n  <out>:\npost: []\n---\ntest-case: b\noptions: [termination]\npre: [\"r1.type=number\"]\ncode:\n  <start>: exit\npost: [\"_|_\"]\nmessages:\n  - \"0: x\"\nobserve:\n  - at: 0\n    constraints: []\n";

    #[test]
    fn reads_a_stream_in_order() {
        let cases = parse_str(TWO, Path::new("t.yaml")).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].name, "a");
        assert_eq!(
            cases[0].code,
            vec![
                ("<start>".to_string(), "r0 = 1\n".to_string()),
                ("<out>".to_string(), String::new())
            ]
        );
        assert!(!cases[0].expects_reject());
        assert_eq!(cases[1].options, vec!["termination"]);
        assert_eq!(cases[1].code[0].1, "exit");
        assert_eq!(cases[1].post, vec!["_|_"]);
        assert!(cases[1].expects_reject());
    }

    #[test]
    fn tolerates_a_flow_closer_in_column_0() {
        let text =
            "test-case: c\npre: [\n  \"r1.type=number\",\n]\ncode: {<start>: exit}\npost: []\n";
        let cases = parse_str(text, Path::new("c.yaml")).unwrap();
        assert_eq!(cases[0].pre, vec!["r1.type=number"]);
    }

    #[test]
    fn errors_name_the_file_and_case() {
        let e =
            parse_str("---\ntest-case: z\npre: []\npost: []\n", Path::new("f.yaml")).unwrap_err();
        assert!(e.contains("f.yaml") && e.contains("`z`") && e.contains("code"), "{e}");
        let e = parse_str("test-case: [\n", Path::new("g.yaml")).unwrap_err();
        assert!(e.starts_with("g.yaml: "), "{e}");
        let e = parse_str(
            "test-case: q\npre: []\ncode: {<start>: exit}\npost: []\nextra: 1\n",
            Path::new("h.yaml"),
        )
        .unwrap_err();
        assert!(e.contains("unknown key `extra`"), "{e}");
    }

    /// Deep nesting and alias bombs are refused, located, before the recursive loader runs.
    #[test]
    fn deep_and_exploding_yaml_is_refused() {
        let f = Path::new("x.yaml");
        let e = parse_str(&format!("{}x\n", "- ".repeat(50_000)), f).unwrap_err();
        assert!(e.starts_with("x.yaml:1:") && e.contains("nested more than 64"), "{e}");
        let e = parse_str(&format!("a: {}1{}", "{a: ".repeat(1_000), "}".repeat(1_000)), f)
            .unwrap_err();
        assert!(e.contains("nested more than 64"), "{e}");
        let mut laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..10 {
            laughs.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        let e = parse_str(&laughs, f).unwrap_err();
        assert!(e.contains("more than 1000000 nodes"), "{e}");
        // Nesting at the limit and a few aliases are fine for the check (the case is then
        // judged on its keys).
        let ok = format!("a: &a {}1{}\nb: [*a, *a]\n", "[".repeat(60), "]".repeat(60));
        assert!(check_shape(&ok).is_ok());
    }
}

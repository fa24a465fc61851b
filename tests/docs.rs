//! The README's span tables against the code: every attribute key and event name in
//! `span::attr` (src/span.rs) is documented in the README's "Spans" section, and every
//! key a table there lists is one the code can emit.

mod common;

use std::collections::BTreeSet;

use common::root;

/// The string constants of `pub mod attr` in src/span.rs.
fn attribute_constants() -> BTreeSet<String> {
    let source = std::fs::read_to_string(root().join("src/span.rs")).unwrap();
    let start = source.find("pub mod attr {").expect("span::attr exists");
    let end = start + source[start..].find("\n}\n").expect("span::attr ends");
    source[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split_once(": &str = \""))
        .map(|(_, v)| v.trim_end_matches("\";").to_string())
        .collect()
}

/// The README's "## Spans" section, up to the next level-2 heading.
fn spans_section() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("\n## Spans\n").expect("a Spans section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

/// The `code` spans of a piece of Markdown.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The keys the first column of each table row names, with `.suffix` shorthands
/// (`kapture.fetch.max_wait_ms`, `.min_bytes`) expanded against the row's first key.
fn table_keys(section: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        let mut prefix = String::new();
        for key in code_spans(first_cell) {
            if let Some(suffix) = key.strip_prefix('.') {
                keys.push(format!("{prefix}.{suffix}"));
            } else {
                prefix = key.rsplit_once('.').map_or("", |(p, _)| p).to_string();
                keys.push(key.to_string());
            }
        }
    }
    keys
}

#[test]
fn every_attribute_the_code_emits_is_documented() {
    let section = spans_section();
    let documented: BTreeSet<String> = table_keys(&section)
        .into_iter()
        .chain(code_spans(&section).into_iter().map(str::to_string))
        .collect();
    let constants = attribute_constants();
    assert!(constants.len() > 60, "found {} constants", constants.len());
    let missing: Vec<&String> = constants.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "not in the README's Spans section: {missing:?}"
    );
}

#[test]
fn every_key_the_span_tables_list_is_emitted() {
    let constants = attribute_constants();
    let keys = table_keys(&spans_section());
    assert!(keys.len() > 60, "found {} keys", keys.len());
    let unknown: Vec<&String> = keys.iter().filter(|k| !constants.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "documented but never emitted: {unknown:?}"
    );
}

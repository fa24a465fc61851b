//! Golden-file tests: each directory under `tests/golden/` holds `args` (kapture's
//! arguments, one per line, paths relative to the crate root), the `expected.jsonl`
//! output they must produce byte for byte, and a README saying what the capture holds
//! and what the case proves. `KAPTURE_BLESS=1 cargo test --test golden` rewrites the
//! expected files; read the diff before committing it.

mod common;

use common::*;

#[test]
fn golden_cases() {
    let dir = root().join("tests/golden");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let bless = std::env::var_os("KAPTURE_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        assert!(case.join("README.md").exists(), "{name}: README.md missing");
        let args: Vec<String> = std::fs::read_to_string(case.join("args"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        let mut full = vec!["-q".to_string()];
        full.extend(args);
        let out = kapture(&full);
        assert!(out.status.code().unwrap_or(99) <= 1, "{name}: {out:?}");
        let expected_path = case.join("expected.jsonl");
        if bless {
            std::fs::write(&expected_path, &out.stdout).unwrap();
            continue;
        }
        let expected = std::fs::read(&expected_path).unwrap_or_default();
        if expected != out.stdout {
            let actual = root().join(format!("target/golden-{name}.jsonl"));
            std::fs::write(&actual, &out.stdout).unwrap();
            failures.push(format!(
                "{name}: output differs from {} (actual written to {})",
                expected_path.display(),
                actual.display()
            ));
        }
        // The golden output must itself be valid: parse it back.
        assert!(!parse_spans(&out.stdout).is_empty(), "{name}: no spans");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

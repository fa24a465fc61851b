//! `--report`: the HTML page of a real capture, loaded in headless Chromium. No
//! console errors, nothing fetched, the charts (SVG) and tables present, and the
//! numbers in the page's latency table equal those of `--summary json` for the same
//! run. Saves a screenshot to `target/report.png` (the picture in `docs/report.png`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("KAPTURE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "\n\n!!!!!!!! tests/report.rs: no Chromium at {} (apt-get install -y chromium, or \
         set KAPTURE_CHROMIUM): the HTML report was NOT checked in a browser !!!!!!!!\n\n",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

fn headless(chromium: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// The text of the first `data-NAME` cell after `from` in `html`, and the value of
/// its attribute.
fn cell<'a>(html: &'a str, name: &str) -> (&'a str, &'a str) {
    let key = format!("data-{name}=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {html}"));
    let rest = &html[at + key.len()..];
    let attr = &rest[..rest.find('"').unwrap()];
    let text_at = rest.find('>').unwrap() + 1;
    let text = &rest[text_at..text_at + rest[text_at..].find('<').unwrap()];
    (attr, text)
}

#[test]
fn report_in_chromium_shows_the_json_summary_numbers() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .args([
            "testdata/netem.pcap",
            "--no-spans",
            "--summary",
            "json",
            "--report",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch (the SVG namespace is a name, not a link).
    let bare = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for bad in [
        "<script", "<link", "src=", "href=", "url(", "@import", "http://", "https://",
    ] {
        assert!(!bare.contains(bad), "the report holds {bad}");
    }

    let run = headless(&chromium, &["--dump-dom"], &page);
    let dom = String::from_utf8(run.stdout).unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "chromium failed: {log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(!log.contains("net::ERR"), "a fetch failed: {log}");

    // Charts: a timeline per API and broker, and the percentile bars.
    let latency = summary["latency"].as_array().unwrap();
    let pairs: std::collections::BTreeSet<(String, String)> = latency
        .iter()
        .map(|r| (r["api"].to_string(), r["broker"].to_string()))
        .collect();
    assert!(pairs.len() >= 2, "{pairs:?}");
    assert_eq!(dom.matches("data-chart=\"timeline\"").count(), pairs.len());
    assert_eq!(dom.matches("data-chart=\"percentiles\"").count(), 1);
    assert!(dom.matches("<svg").count() > pairs.len());
    assert!(dom.matches("<rect").count() > 20, "charts without marks");
    for id in ["latency", "slowest", "skipped"] {
        assert!(
            dom.contains(&format!("<table id=\"{id}\"")),
            "no {id} table"
        );
    }
    for label in ["Produce @ 10.200.0.1:9092", "Fetch @ 10.200.0.1:9092"] {
        assert!(dom.contains(label), "no chart titled {label}");
    }

    // The latency table, row by row and phase by phase, against the JSON.
    let table = &dom[dom.find("<table id=\"latency\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let mut rows = table.split("<tr data-row=").skip(1);
    for (i, r) in latency.iter().enumerate() {
        for phase in ["total", "write", "wait", "read"] {
            let p = &r[phase];
            if p.is_null() {
                continue;
            }
            let row = rows
                .next()
                .unwrap_or_else(|| panic!("row {i} {phase} missing"));
            assert!(
                row.starts_with(&format!("\"{i}\" data-phase=\"{phase}\"")),
                "{row}"
            );
            assert_eq!(cell(row, "count").1, r["count"].to_string());
            assert_eq!(cell(row, "errors").1, r["errors"].to_string());
            for q in ["p50", "p90", "p99", "max"] {
                let (ns, shown) = cell(row, q);
                assert_eq!(ns, p[format!("{q}_ns")].to_string(), "row {i} {phase} {q}");
                assert!(!shown.is_empty());
            }
        }
    }
    assert!(rows.next().is_none(), "more rows than the JSON");

    // The slowest exchanges: as long as --summary json's list allows, the same
    // exchanges in the same order.
    let slowest = summary["slowest"].as_array().unwrap();
    assert!(!slowest.is_empty());
    let page_totals: Vec<&str> = dom
        .split("data-total=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    for (s, shown) in slowest.iter().zip(&page_totals) {
        assert_eq!(s["total_ns"].to_string(), *shown);
    }
    // netem.pcap has retransmissions: the skipped table shows the JSON's count.
    let retrans = summary["skipped"]["retransmitted_segments"]
        .as_u64()
        .unwrap();
    assert!(retrans > 0);
    let skip = &dom[dom.find("data-skip=\"retransmitted_segments\"").unwrap()..];
    let shown = &skip[skip.find('>').unwrap() + 1..skip.find("</td>").unwrap()];
    assert_eq!(shown, retrans.to_string());

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let run = headless(
        &chromium,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1150,1500",
            "--hide-scrollbars",
        ],
        &page,
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot"
    );
    eprintln!("screenshot: {}", shot.display());
}

//! Results are never lost: a failed run leaves an earlier `-o` file as it was, a run
//! cut short keeps what it wrote under the final name and says so, a full disk and a
//! read-only directory give a clear message and exit status 3, and a signal ends a
//! live input without losing what came before it.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{kapture, parse_spans, testdata};

const PRECIOUS: &str = "precious results\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Files in `dir` other than `keep`: temporary files left behind.
fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_missing_capture_leaves_the_earlier_output() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.jsonl");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    let out = kapture(["nosuch.pcap".as_ref(), "-o".as_ref(), out_path.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PRECIOUS);
    let err = stderr(&out);
    assert!(err.contains("nosuch.pcap"), "{err}");
    assert!(err.contains("left as it was"), "{err}");
    // Nothing was read: no summary of nothing.
    assert!(!err.contains("packets in"), "{err}");
    assert_eq!(leftovers(dir.path(), "o.jsonl"), Vec::<String>::new());
}

#[test]
fn a_text_file_given_as_capture_leaves_the_earlier_output() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.jsonl");
    let text = dir.path().join("notes.txt");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    std::fs::write(&text, "not a capture\n").unwrap();
    let out = kapture([text.as_os_str(), "-o".as_ref(), out_path.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PRECIOUS);
    assert!(stderr(&out).contains("not a pcap or pcapng file"));
}

#[test]
fn a_successful_run_replaces_the_file_and_leaves_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.jsonl");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    let capture = testdata("acks0.pcap");
    let out = kapture([
        "-q".as_ref(),
        capture.as_os_str(),
        "-o".as_ref(),
        out_path.as_os_str(),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let spans = parse_spans(&std::fs::read(&out_path).unwrap());
    let stdout = kapture(["-q".as_ref(), capture.as_os_str()]).stdout;
    assert_eq!(spans.len(), parse_spans(&stdout).len());
    assert!(!spans.is_empty());
    assert_eq!(leftovers(dir.path(), "o.jsonl"), Vec::<String>::new());
}

#[test]
fn an_unreadable_later_input_keeps_the_spans_of_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.jsonl");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    let capture = testdata("acks0.pcap");
    let out = kapture([
        "-q".as_ref(),
        capture.as_os_str(),
        "nosuch.pcap".as_ref(),
        "-o".as_ref(),
        out_path.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let alone = parse_spans(&kapture(["-q".as_ref(), capture.as_os_str()]).stdout);
    let kept = parse_spans(&std::fs::read(&out_path).unwrap());
    assert_eq!(kept, alone);
    let err = stderr(&out);
    assert!(err.contains("incomplete"), "{err}");
    assert!(err.contains("an input could not be read"), "{err}");
}

/// A tmpfs of `size` at a fresh directory, unmounted when dropped; `None` where this
/// process may not mount.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        if !is_root() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_keeps_the_earlier_output_or_whole_lines() {
    let Some(fs) = Tmpfs::mount("16k") else {
        eprintln!("not root or no mount(8): the full-disk case is left to CI, which is root");
        return;
    };
    let out_path = fs.path().join("o.jsonl");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    // Far more than 16 KiB of spans.
    let mut args: Vec<std::ffi::OsString> = vec!["-q".into(), "--api".into(), "all".into()];
    for name in ["large-records.pcap", "group-confluent.pcap", "netem.pcap"] {
        args.push(testdata(name).into());
    }
    args.push("-o".into());
    args.push(out_path.clone().into());
    let out = kapture(&args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("o.jsonl"), "{err}");
    // No whole line fitted beside the earlier file: it stays, and the partial file
    // is gone.
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PRECIOUS);
    assert!(err.contains("left as it was"), "{err}");
    assert_eq!(leftovers(fs.path(), "o.jsonl"), Vec::<String>::new());
}

#[test]
fn a_full_disk_after_whole_lines_keeps_them() {
    let Some(fs) = Tmpfs::mount("1536k") else {
        eprintln!("not root or no mount(8): the full-disk case is left to CI, which is root");
        return;
    };
    let out_path = fs.path().join("o.jsonl");
    let mut args: Vec<std::ffi::OsString> = vec![
        "-q".into(),
        "--api".into(),
        "all".into(),
        "--phase-spans".into(),
    ];
    // Lines end at 1 MiB: eight copies of a capture of about 270 KB of spans write a
    // whole line, then fill the disk in the second.
    for _ in 0..8 {
        args.push(testdata("midstream.pcap").into());
    }
    args.push("-o".into());
    args.push(out_path.clone().into());
    let out = kapture(&args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("incomplete"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let kept = std::fs::read(&out_path).unwrap();
    assert!(kept.ends_with(b"\n"));
    // Whole lines only, each a TracesData.
    assert!(!parse_spans(&kept).is_empty());
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let out_path = ro.join("o.jsonl");
    std::fs::write(&out_path, PRECIOUS).unwrap();
    // Root ignores permission bits: a read-only mount instead.
    let _mounted = if is_root() {
        let ok = Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(&ro)
            .arg(&ro)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot bind-mount read-only here; skipped");
            return;
        }
        Some(Unmount(ro.clone()))
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    let capture = testdata("acks0.pcap");
    let out = kapture([capture.as_os_str(), "-o".as_ref(), out_path.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot write"), "{err}");
    assert!(err.contains("o.jsonl"), "{err}");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PRECIOUS);
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_signal_ends_a_live_input_and_keeps_everything_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.jsonl");
    let capture = std::fs::read(testdata("acks0.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .args(["-", "-o"])
        .arg(&out_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The whole capture, and the pipe kept open, as a live tcpdump keeps it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&capture).unwrap();
    stdin.flush().unwrap();
    // The output file is opened before the handlers go in: wait for it, then a little.
    let start = Instant::now();
    while leftovers(dir.path(), "").is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let err = stderr(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    assert!(err.contains("input from a pipe ended by a signal"), "{err}");
    let from_file = parse_spans(&kapture([testdata("acks0.pcap")]).stdout);
    let kept = parse_spans(&std::fs::read(&out_path).unwrap());
    assert_eq!(kept, from_file);
}

#[test]
fn an_explicit_summary_wins_over_quiet() {
    let capture = testdata("acks0.pcap");
    let out = kapture([
        "-q".as_ref(),
        "--summary".as_ref(),
        "json".as_ref(),
        "--no-spans".as_ref(),
        capture.as_os_str(),
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["packets"].as_u64().unwrap() > 0);
    // -q alone: nothing.
    let quiet = kapture(["-q".as_ref(), "--no-spans".as_ref(), capture.as_os_str()]);
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
}

#[test]
fn the_progress_bar_moves_while_a_pipe_is_read() {
    // The bar is drawn only on a terminal: script(1) gives kapture one.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no script(1) (util-linux): the terminal case is left to CI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tty.txt");
    let capture = testdata("netem.pcap");
    let inner = format!(
        "(cat {}; sleep 1) | {} - -o /dev/null",
        capture.display(),
        env!("CARGO_BIN_EXE_kapture")
    );
    let status = Command::new("script")
        .args(["-qfc", &inner])
        .arg(&log)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let screen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(screen.contains("reading a pipe: "), "{screen}");
    assert!(screen.contains("so far"), "{screen}");
    assert!(screen.contains("spans written"), "{screen}");
}

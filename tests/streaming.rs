//! The streaming pass through the binary: a pipe gives what the file gives, spans of a
//! live pipe come out before the pipe ends, and rotated pieces read with
//! `--continuous` give what the whole capture gives.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kapture"))
}

/// The legacy pcap file header and records of a capture, as byte ranges.
fn pcap_records(bytes: &[u8]) -> (&[u8], Vec<&[u8]>) {
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let mut records = Vec::new();
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        records.push(&bytes[pos..pos + 16 + incl]);
        pos += 16 + incl;
    }
    (&bytes[..24], records)
}

#[test]
fn a_pipe_gives_what_the_file_gives() {
    for (name, bytes) in all_captures() {
        let path = testdata(&name);
        let file = kapture(["-q", "--api", "all", path.to_str().unwrap()]);
        let mut child = bin()
            .args(["-q", "--api", "all", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            // Small writes, as tcpdump -U makes them.
            for piece in bytes.chunks(1000) {
                if stdin.write_all(piece).is_err() {
                    break;
                }
            }
        });
        let piped = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert_eq!(piped.status.code(), file.status.code(), "{name}");
        assert!(
            piped.stdout == file.stdout,
            "{name}: the pipe's spans differ"
        );
    }
}

#[test]
fn spans_of_a_live_pipe_come_out_before_it_ends() {
    let bytes = std::fs::read(testdata("java-failover.pcap")).unwrap();
    let (header, records) = pcap_records(&bytes);
    let half = records.len() / 2;
    let mut child = bin()
        .args(["-q", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, got) = mpsc::channel();
    let reading = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    stdin.write_all(header).unwrap();
    for r in &records[..half] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    // The pipe stays open: the spans of what was sent must come anyway.
    let first = got
        .recv_timeout(Duration::from_secs(10))
        .expect("spans of the first half before the pipe ends");
    let early = parse_spans(first.as_bytes()).len();
    assert!(early > 0);
    for r in &records[half..] {
        stdin.write_all(r).unwrap();
    }
    drop(stdin);
    let mut all = first;
    for line in got.iter() {
        all.push('\n');
        all.push_str(&line);
    }
    assert!(child.wait().unwrap().success());
    reading.join().unwrap();
    // The same spans as the file, in the same order (lines may be cut elsewhere).
    let file = kapture(["-q", testdata("java-failover.pcap").to_str().unwrap()]);
    let ids = |jsonl: &[u8]| {
        parse_spans(jsonl)
            .iter()
            .map(|s| s.span_id.clone())
            .collect::<Vec<_>>()
    };
    let from_file = ids(&file.stdout);
    assert!(early < from_file.len(), "the second half brought spans too");
    assert_eq!(ids(all.as_bytes()), from_file);
}

#[test]
fn rotated_pieces_read_continuously_are_one_capture() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["java-failover.pcap", "netem.pcap", "group-confluent.pcap"] {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let (header, records) = pcap_records(&bytes);
        // Three pieces: long connections run across them.
        let cuts = [0, records.len() / 3, 2 * records.len() / 3, records.len()];
        let mut pieces = Vec::new();
        for (i, w) in cuts.windows(2).enumerate() {
            let path = dir.path().join(format!("{name}.{i}"));
            let mut piece = header.to_vec();
            for r in &records[w[0]..w[1]] {
                piece.extend_from_slice(r);
            }
            std::fs::write(&path, piece).unwrap();
            pieces.push(path.display().to_string());
        }
        for apis in ["produce,fetch", "all"] {
            let whole = kapture(["-q", "--api", apis, testdata(name).to_str().unwrap()]);
            let mut args = vec![
                "-q".to_string(),
                "--api".into(),
                apis.into(),
                "--continuous".into(),
            ];
            args.extend(pieces.iter().cloned());
            let joined = kapture(&args);
            assert_eq!(joined.status.code(), whole.status.code(), "{name}");
            assert!(
                joined.stdout == whole.stdout,
                "{name} {apis}: pieces differ from the whole"
            );
        }
    }
}

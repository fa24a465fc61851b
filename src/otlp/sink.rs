//! Where the serialised spans go: the JSON Lines output, an OTLP/HTTP endpoint, or
//! both, optionally with every timestamp moved by `--rebase-time`.

use std::io::{self, Write};

use rayon::prelude::*;

use super::LineWriter;
use super::http::{ExportReport, Exporter};
use super::rebase::{self, RebaseTo};

/// Takes serialised spans in output order and hands them to the file output and the
/// exporter. Without `--rebase-time` spans pass straight through, and the file output
/// is byte for byte what [`LineWriter`] alone writes. With it, spans are held until
/// [`Sink::finish`], since the offset depends on the earliest span of the whole run.
pub struct Sink<W: Write> {
    writer: LineWriter<W>,
    exporter: Option<Exporter>,
    rebase: Option<RebaseTo>,
    held: Vec<Vec<u8>>,
}

impl<W: Write> Sink<W> {
    pub fn new(
        writer: LineWriter<W>,
        exporter: Option<Exporter>,
        rebase: Option<RebaseTo>,
    ) -> Self {
        Sink {
            writer,
            exporter,
            rebase,
            held: Vec::new(),
        }
    }

    /// Adds one serialised span.
    pub fn push(&mut self, span: &[u8]) -> io::Result<()> {
        if self.rebase.is_some() {
            self.held.push(span.to_vec());
            return Ok(());
        }
        self.forward(span)
    }

    /// Spans handed to the sink so far.
    pub fn spans(&self) -> u64 {
        self.writer.spans + self.held.len() as u64
    }

    fn forward(&mut self, span: &[u8]) -> io::Result<()> {
        self.writer.push(span)?;
        if let Some(exporter) = &mut self.exporter {
            exporter.push(span);
        }
        Ok(())
    }

    /// Writes and sends what is left; returns the file output and, when spans were
    /// replayed, what became of them.
    pub fn finish(mut self) -> io::Result<(W, Option<ExportReport>)> {
        if let Some(to) = self.rebase {
            let held = std::mem::take(&mut self.held);
            let earliest = held.iter().filter_map(|s| rebase::start_of(s)).min();
            let offset = earliest.map_or(0, |e| to.offset_from(e));
            let moved: Vec<Vec<u8>> = held
                .par_iter()
                .map(|s| rebase::shift_json(s, offset).unwrap_or_else(|_| s.clone()))
                .collect();
            drop(held);
            for span in &moved {
                self.forward(span)?;
            }
        }
        let out = self.writer.finish()?;
        Ok((out, self.exporter.map(Exporter::finish)))
    }
}

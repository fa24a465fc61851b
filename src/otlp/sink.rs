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
    held: Vec<(Vec<u8>, Option<Box<str>>)>,
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
        self.push_for(None, span)
    }

    /// Adds one span of client service `service` (`--service-name-from`).
    pub fn push_for(&mut self, service: Option<&str>, span: &[u8]) -> io::Result<()> {
        if self.rebase.is_some() {
            self.held.push((span.to_vec(), service.map(Box::from)));
            return Ok(());
        }
        self.forward(service, span)
    }

    /// The input went quiet: ends the open line and sends the open batch, so that
    /// what is written reaches its reader now (spans held for `--rebase-time` stay
    /// held: their offset is not known before the end).
    pub fn flush_quiet(&mut self) -> io::Result<()> {
        if self.rebase.is_some() {
            return Ok(());
        }
        self.writer.flush_line()?;
        if let Some(exporter) = &mut self.exporter {
            exporter.flush();
        }
        Ok(())
    }

    /// Spans handed to the sink so far.
    pub fn spans(&self) -> u64 {
        self.writer.spans + self.held.len() as u64
    }

    fn forward(&mut self, service: Option<&str>, span: &[u8]) -> io::Result<()> {
        self.writer.push_for(service, span)?;
        if let Some(exporter) = &mut self.exporter {
            exporter.push_for(service, span);
        }
        Ok(())
    }

    /// Writes and sends what is left; returns the file output and, when spans were
    /// replayed, what became of them.
    pub fn finish(mut self) -> io::Result<(W, Option<ExportReport>)> {
        if let Some(to) = self.rebase {
            let held = std::mem::take(&mut self.held);
            let earliest = held.iter().filter_map(|(s, _)| rebase::start_of(s)).min();
            let offset = earliest.map_or(0, |e| to.offset_from(e));
            let moved: Vec<(Vec<u8>, Option<Box<str>>)> = held
                .into_par_iter()
                .map(|(s, service)| {
                    let shifted = rebase::shift_json(&s, offset).unwrap_or(s);
                    (shifted, service)
                })
                .collect();
            for (span, service) in &moved {
                self.forward(service.as_deref(), span)?;
            }
        }
        let out = self.writer.finish()?;
        Ok((out, self.exporter.map(Exporter::finish)))
    }
}

//! The merger of the streaming engine: takes the workers' rounds, writes their outputs
//! in place order (each worker's outputs come in order; an output is written once every
//! worker has promised nothing will come before it), and counts each exchange and each
//! ended connection into the [`Summary`], with the names the capture had said by then.
//! Hands the serialised spans to the caller's sink.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use crate::diagnosis::Diagnosis;
use crate::kafka::ConnectionReport;
use crate::kafka::facts::Topic;
use crate::knowledge::Knowledge;
use crate::pipeline::PipelineConfig;
use crate::span::Origin;
use crate::summary::Summary;

use super::{Done, Key, Output, Place, Round};

/// Receives whole connections (their report with every exchange, in request order)
/// instead of spans: for callers that look at exchanges rather than write spans.
pub type Collect = Vec<ConnectionReport>;

/// A round's serialised spans and where each ends, shared by its outputs.
type RoundSpans = (Vec<u8>, Vec<usize>);

/// Writes outputs in order and counts them.
pub struct Merger<'a, 's> {
    config: &'a PipelineConfig,
    origin: Origin,
    queues: Vec<VecDeque<(Output, Arc<RoundSpans>)>>,
    marks: Vec<Key>,
    knowledge: Knowledge,
    topic_ids: BTreeSet<[u8; 16]>,
    summary: &'s mut Summary,
    /// Spans written so far (for the progress bar).
    pub spans: Arc<std::sync::atomic::AtomicU64>,
    collect: Option<std::collections::BTreeMap<u32, ConnectionReport>>,
    last: Place,
}

impl<'a, 's> Merger<'a, 's> {
    pub fn new(
        config: &'a PipelineConfig,
        workers: usize,
        origin: Origin,
        summary: &'s mut Summary,
        collect: bool,
    ) -> Self {
        summary.diagnosis.merge(Diagnosis::new(config.top));
        Merger {
            config,
            origin,
            queues: (0..workers).map(|_| VecDeque::new()).collect(),
            marks: vec![Key::default(); workers],
            knowledge: Knowledge {
                topics: config.topic_map.clone(),
                ..Knowledge::default()
            },
            topic_ids: BTreeSet::new(),
            summary,
            spans: Default::default(),
            collect: collect.then(Default::default),
            last: Place::default(),
        }
    }

    /// Runs until every worker has sent its last round, handing spans to `emit`.
    /// Returns the first output error; later rounds are then only drained.
    pub fn run(
        &mut self,
        rounds: Receiver<Round>,
        emit: &mut crate::pipeline::EmitSpan<'_>,
    ) -> std::io::Result<()> {
        let mut unflushed = false;
        loop {
            let round = match self.config.quiet_flush {
                None => match rounds.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
                Some(quiet) => match rounds.recv_timeout(quiet) {
                    Ok(r) => r,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        // Nothing new for a while (a live capture gone quiet): the
                        // sink writes out what it holds. An empty span says so.
                        if unflushed {
                            emit(&[], None)?;
                            unflushed = false;
                        }
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                },
            };
            unflushed |= !round.outputs.is_empty();
            let w = round.worker;
            if let Some(v) = &round.verdicts {
                self.summary.add_verdict_counts(v);
                self.summary.caps.add(&v.caps);
            }
            let spans = Arc::new((round.spans, round.ends));
            self.marks[w] = self.marks[w].max(round.mark);
            self.queues[w].extend(round.outputs.into_iter().map(|o| (o, spans.clone())));
            self.write_ready(emit)?;
        }
        self.write_ready(emit)
    }

    /// Writes every output no worker can still precede.
    fn write_ready(&mut self, emit: &mut crate::pipeline::EmitSpan<'_>) -> std::io::Result<()> {
        loop {
            let mut best: Option<(usize, Place)> = None;
            for (w, q) in self.queues.iter().enumerate() {
                if let Some((o, _)) = q.front() {
                    let p = o.place();
                    if best.is_none_or(|(_, b)| p < b) {
                        best = Some((w, p));
                    }
                }
            }
            let Some((w, place)) = best else {
                return Ok(());
            };
            // A worker with nothing queued may still send something before `place`.
            let safe = self
                .queues
                .iter()
                .zip(&self.marks)
                .all(|(q, &m)| !q.is_empty() || place.at <= m);
            if !safe {
                return Ok(());
            }
            let (output, spans) = self.queues[w].pop_front().expect("front");
            debug_assert!(place >= self.last, "outputs go out in order");
            self.last = place;
            self.write(output, &spans, emit)?;
        }
    }

    fn write(
        &mut self,
        output: Output,
        spans: &RoundSpans,
        emit: &mut crate::pipeline::EmitSpan<'_>,
    ) -> std::io::Result<()> {
        match output {
            Output::Ended(e) => {
                self.summary.decompressed_bytes += e.decompressed;
                let Some(report) = e.report else {
                    self.summary.count_verdict(e.verdict);
                    return Ok(());
                };
                self.summary.add_connection(&report, &self.knowledge);
                if let Some(c) = &mut self.collect {
                    let r = c
                        .entry(report.conn_id)
                        .or_insert_with(|| report.without_exchanges());
                    let exchanges = std::mem::take(&mut r.exchanges);
                    *r = *report;
                    r.exchanges = exchanges;
                    r.exchanges.sort_by_key(|x| x.seq);
                }
                Ok(())
            }
            Output::Done(d) => {
                self.count(&d);
                let Done {
                    report,
                    exchange,
                    span_index,
                    span_count,
                    service,
                    ..
                } = *d;
                if let Some(c) = &mut self.collect {
                    c.entry(report.conn_id)
                        .or_insert_with(|| report.without_exchanges())
                        .exchanges
                        .push(exchange);
                    return Ok(());
                }
                let (buf, ends) = spans;
                for i in span_index..span_index + span_count as usize {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    emit(&buf[start..ends[i]], service.as_deref())?;
                }
                Ok(())
            }
        }
    }

    /// Counts one exchange: what it is, whether the filters kept it, its latency.
    fn count(&mut self, d: &Done) {
        let (report, ex) = (&*d.report, &d.exchange);
        self.knowledge.learn(report, ex);
        for p in &ex.facts.partitions {
            if let Topic::Id(id) = &p.topic {
                self.topic_ids.insert(*id);
            }
        }
        let s = &mut self.summary;
        s.add_exchange(report, ex, &self.knowledge);
        s.written_unnamed += u64::from(d.released_unnamed);
        if !d.selected {
            s.filtered_out += 1;
            return;
        }
        s.emitted += 1;
        s.spans += u64::from(d.span_count);
        self.spans.fetch_add(
            u64::from(d.span_count),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Some(profile) = &mut s.profile {
            profile.add(report, ex, &self.knowledge);
        }
        if self.config.latency {
            s.latency.add(report, ex, &self.knowledge);
            s.diagnosis
                .add(report, ex, &self.knowledge, self.origin.file_index);
            if self.config.report {
                let timeline = s.latency.timeline.get_or_insert_default();
                timeline.add(report, ex, &self.knowledge, self.origin.file_index);
            }
        }
    }

    /// The run's counts, once every output is written; and the connections, when
    /// collected.
    pub fn finish(self) -> Option<Vec<ConnectionReport>> {
        for id in &self.topic_ids {
            if !self.knowledge.topics.contains_key(id) {
                self.summary
                    .unresolved_topic_ids
                    .insert(Topic::Id(*id).to_string());
            }
        }
        self.collect.map(|c| c.into_values().collect())
    }
}

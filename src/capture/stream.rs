//! Reads a pcap or pcapng capture from a pipe as it arrives (tcpdump -U, a capture
//! being copied), with one growable buffer: each packet borrows from it until the next
//! is asked for. Frame numbers, timestamps, warnings and damaged-file behaviour are
//! those of [`super::for_each_packet`] on the same bytes: both take the same steps
//! over the bytes at hand, and the stream reads more only when a step says that they
//! end inside a record.

use std::io::{ErrorKind, Read};

use super::{CaptureError, Damage, Packet, ReadReport, Reading, Step, legacy, pcapng};

/// The buffer's first size: a few packets, and far more than one pipe write.
const INITIAL_BUFFER: usize = 256 << 10;

/// A capture read from `R` one packet at a time.
///
/// ```no_run
/// # fn main() -> Result<(), kapture::capture::CaptureError> {
/// let mut reader = kapture::capture::StreamReader::new(std::io::stdin().lock());
/// while let Some(packet) = reader.next_packet()? {
///     println!("{} {}", packet.index, packet.data.len());
/// }
/// let report = reader.report().expect("a capture was read");
/// # let _ = report;
/// # Ok(())
/// # }
/// ```
pub struct StreamReader<R> {
    input: R,
    /// `buf[start..end]` is read from the input and not yet handed out.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset in the capture of `buf[0]`.
    base: u64,
    eof: bool,
    /// Set once the file header is read.
    opened: Option<(Reading, ReadReport)>,
    /// Reading stopped: the end of the capture, damage, or an error.
    done: bool,
}

/// The packet being handed out: its fields, and where its bytes lie in the buffer.
struct Found {
    index: u64,
    ts_ns: i64,
    link_type: u32,
    orig_len: u32,
    data: std::ops::Range<usize>,
}

impl<R: Read> StreamReader<R> {
    pub fn new(input: R) -> Self {
        StreamReader {
            input,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            opened: None,
            done: false,
        }
    }

    /// The next packet, or `None` at the end of the capture or where it is damaged
    /// ([`StreamReader::report`] then says where). Reads from the input only when
    /// the buffer ends inside a record, and then only what one `read` gives, so a
    /// packet is handed out as soon as its last byte has arrived.
    ///
    /// `Err` when the input is no capture (as [`super::for_each_packet`] says it), or
    /// when reading failed other than by interruption.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.find_packet() {
            Ok(Some(found)) => Ok(Some(Packet {
                index: found.index,
                ts_ns: found.ts_ns,
                link_type: found.link_type,
                data: &self.buf[found.data],
                orig_len: found.orig_len,
            })),
            Ok(None) => Ok(None),
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// Bytes of the capture read past: the records handed out and the blocks
    /// skipped, for a progress bar.
    pub fn consumed(&self) -> u64 {
        self.base + self.start as u64
    }

    /// What was read so far; after `next_packet` gave `None`, what the whole read
    /// delivered and any warning. `None` before the file header was read.
    pub fn report(&self) -> Option<&ReadReport> {
        self.opened.as_ref().map(|(_, report)| report)
    }

    /// [`StreamReader::report`], owned.
    pub fn into_report(self) -> Option<ReadReport> {
        self.opened.map(|(_, report)| report)
    }

    fn find_packet(&mut self) -> Result<Option<Found>, CaptureError> {
        if self.opened.is_none() {
            self.open()?;
        }
        while !self.done {
            let offset = self.consumed();
            let rest = &self.buf[self.start..self.end];
            if rest.is_empty() {
                if self.eof {
                    self.done = true;
                } else {
                    self.fill()?;
                }
                continue;
            }
            let Some((reading, report)) = self.opened.as_mut() else {
                unreachable!("opened above");
            };
            match reading.step(rest) {
                Ok(Step::Packet(packet, len)) => {
                    let packet = report.number(packet);
                    let from = packet.data.as_ptr() as usize - self.buf.as_ptr() as usize;
                    let found = Found {
                        index: packet.index,
                        ts_ns: packet.ts_ns,
                        link_type: packet.link_type,
                        orig_len: packet.orig_len,
                        data: from..from + packet.data.len(),
                    };
                    self.start += len;
                    return Ok(Some(found));
                }
                Ok(Step::Skip(len)) => self.start += len,
                Err(Damage::Cut(_)) if !self.eof => self.fill()?,
                Err(damage) if offset == 0 => {
                    return Err(pcapng::first_block_error(rest, damage));
                }
                Err(damage) => {
                    report.stop(usize::try_from(offset).unwrap_or(usize::MAX), damage);
                    self.done = true;
                }
            }
        }
        Ok(None)
    }

    /// Reads until the file header is in (24 bytes are enough for either format)
    /// or the input ends, and recognises the format.
    fn open(&mut self) -> Result<(), CaptureError> {
        while self.end < legacy::HEADER_LEN && !self.eof {
            self.fill()?;
        }
        let (reading, header_len) = Reading::open(&self.buf[..self.end])?;
        let report = ReadReport::new(reading.format());
        self.start = header_len;
        self.opened = Some((reading, report));
        Ok(())
    }

    /// One `read` into the buffer, after making room at its end: the unread bytes
    /// (part of one record) move to the front when that frees at least half of it,
    /// else it doubles. Retries interrupted reads; a clean end of input sets `eof`.
    fn fill(&mut self) -> Result<(), CaptureError> {
        if self.end == self.buf.len() {
            if self.start > 0 && self.start >= self.buf.len() / 2 {
                self.buf.copy_within(self.start..self.end, 0);
                self.base += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).max(INITIAL_BUFFER);
                self.buf.resize(grown, 0);
            }
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(CaptureError::Read {
                        offset: self.base + self.end as u64,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Calls `f` for every captured frame read from `input`, in order: what
/// [`super::for_each_packet`] does for bytes in memory, for a pipe.
pub fn for_each_packet_from<R: Read>(
    input: R,
    mut f: impl FnMut(Packet<'_>),
) -> Result<ReadReport, CaptureError> {
    let mut reader = StreamReader::new(input);
    while let Some(packet) = reader.next_packet()? {
        f(packet);
    }
    Ok(reader.into_report().expect("the header was read"))
}

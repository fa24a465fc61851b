//! Bounded, mergeable distributions of integers (durations in nanoseconds, bytes,
//! record counts): what every percentile of the summary is computed from. It owns the
//! switch from exact samples to an HdrHistogram and the histogram's JSON form; it
//! hands on [`Percentiles`] and [`Dist`] rows.
//!
//! A distribution keeps its samples exactly while it holds at most [`EXACT_LIMIT`] of
//! them, so percentiles are exact nearest-rank values, as they always were. Past that
//! it keeps an HdrHistogram of [`SIGNIFICANT_DIGITS`] significant digits instead (at
//! most about 25 KiB for values up to a second in nanoseconds, whatever the count) and
//! drops the samples: p50, p90 and p99 are then the histogram's, the largest value
//! equivalent to the exact one at that precision (at most 1/128 above it, below 1 %).
//! Count, minimum, maximum and sum stay exact in both modes.
//!
//! Each distribution is written into the JSON summary as [`Wire`]: the exact count,
//! minimum, maximum and sum, and the histogram of all its values in the V2 + deflate
//! encoding of the HdrHistogram family, base64 (readable by the Java, Go and Python
//! implementations too). Two wires merge exactly on counts and within the histogram's
//! precision on percentiles.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::stats::{Percentiles, nearest_rank};

/// How many samples a distribution keeps exactly before it switches to its histogram.
/// 4,096 samples are 32 KiB, about what the histogram takes; below it every summary
/// of the test captures is exact.
pub const EXACT_LIMIT: usize = 4096;

/// The histograms' precision: 2 significant digits, every value within 1/128 of the
/// bucket it is counted in.
pub const SIGNIFICANT_DIGITS: u8 = 2;

/// A bounded distribution of integers.
#[derive(Debug, Clone, Default)]
pub struct Values {
    count: u64,
    min: i64,
    max: i64,
    sum: i64,
    /// The samples, while there are at most [`EXACT_LIMIT`]; `None` once `histogram`
    /// holds them.
    exact: Option<Vec<i64>>,
    histogram: Option<Box<Histogram<u64>>>,
}

impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        (self.count, self.min, self.max, self.sum, &self.exact)
            == (other.count, other.min, other.max, other.sum, &other.exact)
            && self.histogram.as_deref() == other.histogram.as_deref()
    }
}

impl Eq for Values {}

fn new_histogram() -> Box<Histogram<u64>> {
    // Auto-resizing from the smallest range: memory follows the largest value seen.
    Box::new(Histogram::new(SIGNIFICANT_DIGITS).expect("2 significant digits are valid"))
}

/// Counts `v` in `h`, which grows to hold it. Negative values (timestamps that went
/// backwards) count as 0; the exact minimum keeps them. (`saturating_record` alone
/// would not grow the histogram: it clamps to the range it has.)
fn record(h: &mut Histogram<u64>, v: i64, n: u64) {
    let v = v.max(0) as u64;
    if h.record_n(v, n).is_err() {
        h.saturating_record_n(v, n);
    }
}

impl Values {
    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the samples are still kept exactly.
    pub fn is_exact(&self) -> bool {
        self.histogram.is_none()
    }

    pub fn push(&mut self, v: i64) {
        self.note_bounds(v, v, 1, v);
        match &mut self.histogram {
            Some(h) => record(h, v, 1),
            None => {
                let exact = self.exact.get_or_insert_with(Vec::new);
                exact.push(v);
                if exact.len() > EXACT_LIMIT {
                    self.move_into_histogram();
                }
            }
        }
    }

    fn note_bounds(&mut self, min: i64, max: i64, count: u64, sum: i64) {
        if self.count == 0 {
            (self.min, self.max) = (min, max);
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.count += count;
        self.sum = self.sum.saturating_add(sum);
    }

    /// Moves the exact samples into the histogram.
    fn move_into_histogram(&mut self) {
        let h = self.histogram.get_or_insert_with(new_histogram);
        for v in self.exact.take().unwrap_or_default() {
            record(h, v, 1);
        }
    }

    /// Adds another distribution's values.
    pub fn merge(&mut self, mut other: Values) {
        if other.count == 0 {
            return;
        }
        self.note_bounds(other.min, other.max, other.count, other.sum);
        if self.histogram.is_none()
            && other.histogram.is_none()
            && self.exact_len() + other.exact_len() <= EXACT_LIMIT
        {
            let exact = self.exact.get_or_insert_with(Vec::new);
            exact.extend(other.exact.take().unwrap_or_default());
            return;
        }
        self.move_into_histogram();
        other.move_into_histogram();
        if let (Some(h), Some(o)) = (&mut self.histogram, &other.histogram) {
            add_saturating(h, o);
        }
    }

    fn exact_len(&self) -> usize {
        self.exact.as_ref().map_or(0, Vec::len)
    }

    /// The value at nearest rank ⌈p·n/100⌉: exact while the samples are kept,
    /// otherwise the histogram's, kept within the exact minimum and maximum.
    fn rank(&self, sorted: Option<&[i64]>, p: u32) -> i64 {
        match (sorted, &self.histogram) {
            (Some(s), _) => nearest_rank(s, p),
            (None, Some(h)) => {
                let v = h.value_at_quantile(f64::from(p) / 100.0);
                i64::try_from(v)
                    .unwrap_or(i64::MAX)
                    .clamp(self.min, self.max)
            }
            (None, None) => self.max,
        }
    }

    fn sorted(&self) -> Option<Vec<i64>> {
        let mut s = self.exact.clone()?;
        s.sort_unstable();
        Some(s)
    }

    /// p50, p90, p99 and max; `None` without values.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.count == 0 {
            return None;
        }
        let sorted = self.sorted();
        let s = sorted.as_deref();
        Some(Percentiles {
            count: self.count,
            p50_ns: self.rank(s, 50),
            p90_ns: self.rank(s, 90),
            p99_ns: self.rank(s, 99),
            max_ns: self.max,
        })
    }

    /// Count, min, p50, p90, p99, max and sum; `None` without values.
    pub fn dist(&self) -> Option<crate::profile::Dist> {
        let p = self.percentiles()?;
        Some(crate::profile::Dist {
            count: self.count,
            min: self.min,
            p50: p.p50_ns,
            p90: p.p90_ns,
            p99: p.p99_ns,
            max: self.max,
            sum: self.sum,
        })
    }

    /// The JSON form: exact bounds and the histogram of every value. `None` without
    /// values.
    pub fn wire(&self) -> Option<Wire> {
        if self.count == 0 {
            return None;
        }
        let built;
        let h = match &self.histogram {
            Some(h) => h.as_ref(),
            None => {
                let mut h = new_histogram();
                for &v in self.exact.as_deref().unwrap_or_default() {
                    record(&mut h, v, 1);
                }
                built = h;
                built.as_ref()
            }
        };
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut bytes)
            .expect("a histogram serialises into memory");
        Some(Wire {
            count: self.count,
            min: self.min,
            max: self.max,
            sum: self.sum,
            hdr: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// The distribution a wire describes (percentiles from its histogram).
    pub fn from_wire(wire: &Wire) -> Result<Values, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&wire.hdr)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        if h.len() != wire.count {
            return Err(format!(
                "histogram holds {} values, its count says {}",
                h.len(),
                wire.count
            ));
        }
        h.auto(true);
        Ok(Values {
            count: wire.count,
            min: wire.min,
            max: wire.max,
            sum: wire.sum,
            exact: None,
            histogram: Some(Box::new(h)),
        })
    }
}

/// Adds `o` into `h`, both auto-resizing: fails only when a count would overflow a
/// u64, which then saturates.
fn add_saturating(h: &mut Histogram<u64>, o: &Histogram<u64>) {
    if h.add(o).is_ok() {
        return;
    }
    for v in o.iter_recorded() {
        let value = i64::try_from(v.value_iterated_to()).unwrap_or(i64::MAX);
        record(h, value, v.count_at_value());
    }
}

/// A distribution in the JSON summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    pub count: u64,
    pub min: i64,
    pub max: i64,
    pub sum: i64,
    /// HdrHistogram V2 + deflate, base64, of every value (negative ones as 0).
    pub hdr: String,
}

/// [`Values::from_wire`] of an optional wire.
pub fn values_of(wire: Option<&Wire>) -> Result<Values, String> {
    wire.map_or_else(|| Ok(Values::default()), Values::from_wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(vs: impl IntoIterator<Item = i64>) -> Values {
        let mut v = Values::default();
        for x in vs {
            v.push(x);
        }
        v
    }

    #[test]
    fn exact_below_the_limit_like_nearest_rank() {
        let v = of((1..=100).rev());
        assert!(v.is_exact());
        let p = v.percentiles().unwrap();
        assert_eq!(
            (p.count, p.p50_ns, p.p90_ns, p.p99_ns, p.max_ns),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(Values::default().percentiles(), None);
    }

    #[test]
    fn past_the_limit_the_histogram_answers_within_its_precision() {
        let n = EXACT_LIMIT as i64 * 3;
        let v = of((0..n).map(|i| 1_000 + i * 997 % 1_000_003));
        assert!(!v.is_exact());
        let mut sorted: Vec<i64> = (0..n).map(|i| 1_000 + i * 997 % 1_000_003).collect();
        sorted.sort_unstable();
        let p = v.percentiles().unwrap();
        for (got, q) in [(p.p50_ns, 50), (p.p90_ns, 90), (p.p99_ns, 99)] {
            let exact = nearest_rank(&sorted, q);
            assert!(
                got >= exact && got <= exact + exact / 128 + 1,
                "p{q}: {got} vs {exact}"
            );
        }
        assert_eq!(p.max_ns, *sorted.last().unwrap());
        let d = v.dist().unwrap();
        assert_eq!((d.min, d.sum), (sorted[0], sorted.iter().sum::<i64>()));
    }

    #[test]
    fn merging_keeps_counts_and_switches_when_the_total_passes_the_limit() {
        let mut a = of(0..3000);
        a.merge(of(3000..4000));
        assert!(a.is_exact());
        assert_eq!(a.percentiles(), of(0..4000).percentiles());
        a.merge(of(4000..6000));
        assert!(!a.is_exact());
        assert_eq!(a.count(), 6000);
        assert_eq!(a.dist().unwrap().sum, (0..6000).sum::<i64>());
    }

    #[test]
    fn wire_round_trip_and_merge_of_wires() {
        let a = of([5, -3, 1_000_000, 42]);
        let w = a.wire().unwrap();
        let back = Values::from_wire(&w).unwrap();
        assert_eq!(
            (back.count(), back.min, back.max, back.sum),
            (4, -3, 1_000_000, 1_000_044)
        );
        assert_eq!(back.wire().unwrap(), w);
        // From the histogram: nearest rank within 1/128, clamped to min and max.
        let p = back.percentiles().unwrap();
        assert_eq!(
            (p.p50_ns, p.p90_ns, p.p99_ns, p.max_ns),
            (5, 1_000_000, 1_000_000, 1_000_000)
        );
        let mut m = Values::from_wire(&w).unwrap();
        m.merge(Values::from_wire(&of([7, 8]).wire().unwrap()).unwrap());
        assert_eq!(m.count(), 6);
        assert_eq!(m.percentiles().unwrap().max_ns, 1_000_000);
        let bad = Wire {
            hdr: "!!".into(),
            ..w.clone()
        };
        assert!(Values::from_wire(&bad).unwrap_err().contains("base64"));
        let wrong = Wire { count: 5, ..w };
        assert!(Values::from_wire(&wrong).unwrap_err().contains("holds 4"));
    }
}

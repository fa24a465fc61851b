//! What a capture holds, whatever the filters say: the topics, client ids, brokers and
//! APIs of every exchange found, a bounded number of each. When the filters let
//! nothing through, [`Inventory::hint`] lists them, with a "did you mean" for a
//! pattern that is close to a name the capture has.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::exchange::Exchange;
use crate::knowledge::Knowledge;

/// Names kept of each kind: enough to list, bounded on hostile captures.
const MAX_NAMES: usize = 256;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub topics: BTreeSet<String>,
    pub client_ids: BTreeSet<String>,
    pub brokers: BTreeSet<String>,
    pub apis: BTreeSet<&'static str>,
}

fn insert<T: Ord>(set: &mut BTreeSet<T>, value: T) {
    if set.len() < MAX_NAMES {
        set.insert(value);
    }
}

impl Inventory {
    /// Adds the broker of a Kafka connection.
    pub fn add_broker(&mut self, report: &ConnectionReport) {
        let broker = SocketAddr::new(report.broker.ip, report.broker.port);
        let broker = broker.to_string();
        if !self.brokers.contains(&broker) {
            insert(&mut self.brokers, broker);
        }
    }

    /// Adds one exchange of a Kafka connection.
    pub fn add_exchange(&mut self, ex: &Exchange, knowledge: &Knowledge) {
        if let Some(name) = api::name(ex.request.api_key) {
            insert(&mut self.apis, name);
        }
        if let Some(id) = &ex.request.client_id
            && !self.client_ids.contains(id.as_ref())
        {
            insert(&mut self.client_ids, id.to_string());
        }
        for p in &ex.facts.partitions {
            if let Some(name) = knowledge.topic_name(&p.topic)
                && !self.topics.contains(name)
            {
                insert(&mut self.topics, name.to_string());
            }
        }
    }

    /// What to tell a user whose filters matched nothing: for each `(flag, pattern)`
    /// given, the names the capture has of that kind, and the closest one when a
    /// pattern looks like a misspelling of it.
    pub fn hint(&self, asked: &[(&str, String)]) -> String {
        let mut out = String::new();
        for (flag, pattern) in asked {
            let names: Vec<&str> = match *flag {
                "--topic" => self.topics.iter().map(String::as_str).collect(),
                "--client-id" => self.client_ids.iter().map(String::as_str).collect(),
                "--broker" => self.brokers.iter().map(String::as_str).collect(),
                "--api" => self.apis.iter().copied().collect(),
                _ => continue,
            };
            out.push_str(&format!(
                "  {flag} {pattern}: the capture has {}",
                list(&names)
            ));
            if let Some(close) = closest(pattern, &names) {
                out.push_str(&format!("; did you mean '{close}'?"));
            }
            out.push('\n');
        }
        out
    }
}

fn list(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    if names.is_empty() {
        return "none".into();
    }
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// The name a pattern most likely meant: equal but for case, or within a small edit
/// distance (a third of its length, at least one edit).
fn closest<'a>(pattern: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = pattern.to_lowercase();
    if let Some(n) = names.iter().find(|n| n.to_lowercase() == lower) {
        return Some(n);
    }
    let limit = (pattern.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (strsim::levenshtein(&lower, &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let names = ["netem", "orders", "payments"];
        assert_eq!(closest("Netem", &names), Some("netem"));
        assert_eq!(closest("order", &names), Some("orders"));
        assert_eq!(closest("paymnets", &names), Some("payments"));
        assert_eq!(closest("inventory", &names), None);
    }

    #[test]
    fn hints_list_what_there_is() {
        let mut inv = Inventory::default();
        inv.topics.insert("netem".into());
        let text = inv.hint(&[("--topic", "Netem".into()), ("--client-id", "x".into())]);
        assert!(text.contains("--topic Netem: the capture has 'netem'; did you mean 'netem'?"));
        assert!(text.contains("--client-id x: the capture has none"));
    }
}

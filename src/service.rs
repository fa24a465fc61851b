//! Service identity, opt-in (`--service-name-from`): which client a connection's spans
//! belong to, as the `service.name` of their resource. Hands on one name per
//! connection; the writers put each run of spans of one service in a `ResourceSpans`
//! of its own.

use std::sync::Arc;

use crate::kafka::ConnectionReport;

/// Where a client's `service.name` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceSource {
    /// The client id of the connection's first request that has one.
    ClientId,
    /// The client's IP address.
    ClientAddress,
    /// The client library it announced (ApiVersions v3+): `name/version`.
    ClientSoftware,
}

/// The `service.name` of a connection's spans: from `source`, falling back to the
/// client's address when the connection does not say.
pub fn service_name(report: &ConnectionReport, source: ServiceSource) -> Arc<str> {
    let named = match source {
        ServiceSource::ClientId => report
            .client_id
            .clone()
            .or_else(|| {
                report
                    .exchanges
                    .iter()
                    .find_map(|e| e.request.client_id.clone())
            })
            .filter(|id| !id.is_empty()),
        ServiceSource::ClientSoftware => report
            .client_software
            .as_ref()
            .map(|sw| Arc::from(format!("{}/{}", sw.name, sw.version))),
        ServiceSource::ClientAddress => None,
    };
    named.unwrap_or_else(|| Arc::from(report.client.ip.to_string()))
}

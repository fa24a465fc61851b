//! SIGINT and SIGTERM: the first asks the run to stop where it is and finish cleanly
//! (the spans written so far kept under the output's final name, the summary printed,
//! exit status 1); a second one ends the process at once. On a live input (a pipe) the
//! first only ends the input (see `cli::spool`). Owns the one flag the
//! pipeline and the writers poll; hands on nothing else.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the handlers (once; later calls do nothing). Without them a signal ends
/// the process as usual.
pub fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional exit sees the flag set by an earlier signal
        // only, so the first signal sets it and the second exits.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag()))?;
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// Whether a signal asked the run to stop.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Whether a signal asked the run to stop, forgetting it: for a live input, where
/// the first signal only ends the input.
pub fn take() -> bool {
    flag().swap(false, Ordering::Relaxed)
}

/// The error a writer returns once a stop was asked for: the run unwinds through its
/// usual output error path, and [`is_interruption`] tells it apart.
pub fn error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted by a signal")
}

pub fn is_interruption(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Interrupted && requested()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_requested_until_signalled() {
        install().unwrap();
        install().unwrap();
        assert!(!requested());
        assert!(!is_interruption(&error()));
    }
}

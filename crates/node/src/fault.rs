//! Faults a node cannot continue past: storage that fails to open or sync, a state on disk
//! that does not decode, consensus finalizing a block this node cannot execute or that does
//! not extend its tip. None is outside input being refused (those are typed errors): going on
//! would lose durability or diverge from the chain, so the node stops, loudly — the reason is
//! logged as an error, then the process panics with it. This is the crate's one reviewed
//! exception to its no-panic lints.

use std::fmt::Display;

/// Logs `what` and stops the node.
#[allow(clippy::panic)]
pub fn fatal(what: impl Display) -> ! {
    tracing::error!("fatal: {what}");
    panic!("fatal: {what}")
}

/// `or_fatal(what)`: the value, or [fatal] naming `what` and the error.
pub trait OrFatal<T> {
    fn or_fatal(self, what: &str) -> T;
}

impl<T, E: Display> OrFatal<T> for Result<T, E> {
    fn or_fatal(self, what: &str) -> T {
        self.unwrap_or_else(|e| fatal(format_args!("{what}: {e}")))
    }
}

impl<T> OrFatal<T> for Option<T> {
    fn or_fatal(self, what: &str) -> T {
        self.unwrap_or_else(|| fatal(what))
    }
}

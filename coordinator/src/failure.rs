//! Transient or permanent: how the coordinator reads a failure before it
//! tries again (ARCHITECTURE.md, "Transient and permanent failures"). The
//! store classifies its own errors once ([`junction_store::Error::is_transient`]);
//! a control error is transient exactly when it is `UNAVAILABLE` (the store
//! maps its transient errors there). Anything else (a workflow that does not
//! compile, a transition that cannot be written, a row that is corrupt) is
//! permanent: the same input fails the same way again, so it is never
//! retried. A transient failure is retried by redelivery, later each time
//! (`junction_runtime::redelivery`).

use junction_core::wire::control::{ControlError, ErrorCode};
use junction_store::Error as StoreError;

/// Whether trying `error` again could succeed.
pub fn is_transient(error: &anyhow::Error) -> bool {
    for cause in error.chain() {
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return store.is_transient();
        }
        if let Some(control) = cause.downcast_ref::<ControlError>() {
            return control.code == ErrorCode::Unavailable;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_transient() {
        let unavailable = anyhow::Error::new(ControlError::new(ErrorCode::Unavailable, "away"));
        assert!(is_transient(&unavailable));
        assert!(is_transient(&unavailable.context("while advancing")));
        let internal = anyhow::Error::new(ControlError::internal("22P05"));
        assert!(!is_transient(&internal));
        assert!(!is_transient(&anyhow::anyhow!("does not compile")));
        let corrupt = anyhow::Error::new(StoreError::Corrupt("bad row".into()));
        assert!(!is_transient(&corrupt));
    }
}

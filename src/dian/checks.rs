//! Integrity checks that need no secret key (dian.md §3.7).

use serde::Serialize;

use super::Document;

/// One integrity problem, e.g. `{check: "cufe_mismatch", detail: "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine name of the check (`uuid_format`, `uuid_scheme`, `nit_dv`, `cufe_mismatch`).
    pub check: String,
    /// What is wrong, in Spanish, for an agent.
    pub detail: String,
}

/// Checks across the documents of one message (the same CUFE in the AttachedDocument, the inner
/// document and DIAN's response). Stub: the DIAN helper fills this in.
pub fn cross_check(_documents: &mut [Document]) {}

//! The known-error base as loaded, mirrored in the database so reports can join on it, and the
//! solutions agents marked for first contact: together, the CT-CAC-0127 guide of `kb export`.

// The guide reads these; the store fills them.
pub use crate::desk::guide::GuideSolution;

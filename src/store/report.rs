//! The rows of the service-level report (`mesa-fe reporte`): the cases created in a period, the
//! levels each one reached, the solutions delivered (activity 11) and the SLA breaches recorded.
//! Only reads, in one transaction so the four queries see the same snapshot; every count, median
//! and percentage is computed by [`crate::desk::report`] from these rows.

// The row types belong to the report that reads them; the store fills them.
pub use crate::desk::report::{BreachRow, LevelVisit, ReportCase, ReportRows, SolutionEvent};

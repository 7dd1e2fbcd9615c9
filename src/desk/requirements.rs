//! Minimum requirements per tema (activity 2).

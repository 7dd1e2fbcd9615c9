//! All SQL of mesa-fe.

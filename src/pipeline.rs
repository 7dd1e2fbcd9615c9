//! Bytes of an e-mail → analysis → store.

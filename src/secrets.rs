//! Secrets (passwords, OAuth client secrets) read from a file, an environment variable or a
//! systemd credential; never from the configuration itself, never printed. Stub.

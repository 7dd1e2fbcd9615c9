//! OAuth2 client-credentials tokens for XOAUTH2. Stub: the IMAP helper fills this in.

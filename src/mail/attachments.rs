//! ZIP attachments unpacked recursively under limits.

/// Caps on what one message's attachments may expand to.
#[derive(Debug, Clone, Copy)]
pub struct AttachmentLimits {
    /// Most entries read from one ZIP (nested ZIPs count their own entries too).
    pub zip_max_entries: usize,
    /// Most bytes all ZIPs of one message may expand to, in total.
    pub zip_max_uncompressed_bytes: u64,
    /// Largest accepted ratio uncompressed/compressed for one entry.
    pub zip_max_ratio: u64,
    /// Deepest ZIP-inside-ZIP nesting unpacked (1 = a ZIP attached to the mail, no inner ZIP).
    pub zip_max_depth: usize,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        AttachmentLimits {
            zip_max_entries: 200,
            zip_max_uncompressed_bytes: 50 * 1024 * 1024,
            zip_max_ratio: 100,
            zip_max_depth: 3,
        }
    }
}

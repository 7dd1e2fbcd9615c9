-- Outlook's Thread-Index of an inbound message (base64), which answers to its sender extend
-- (issue 14, point 7).
ALTER TABLE case_messages ADD COLUMN thread_index TEXT;

//! Classification of an inbound message.

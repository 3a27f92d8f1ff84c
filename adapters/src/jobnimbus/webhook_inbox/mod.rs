//! JobNimbus automation webhooks (reference §1.8): unsigned, a slim flat record per change,
//! delivered at least once, in any order, with a secret token in the URL.
//!
//! Three parts, so a delivery is acknowledged in milliseconds and never lost:
//! - [`parse`] reads a body into a [`WebhookDelivery`]: the record's kind, `jnid`, and the
//!   dedupe key that makes a repeated delivery of one change the same row;
//! - [`WebhookInbox`] is the durable inbox: the endpoint inserts a row and answers 202; a
//!   duplicate inserts nothing;
//! - [`WebhookProcessor::process_once`] claims due rows under a lease, refetches each record
//!   once by `jnid` and records it through its `Job`/`Contact` aggregate, which appends
//!   nothing when the record equals the mirror (an echo of our own write, a duplicate that
//!   slipped through); transient failures are retried with backoff, then the row is dead.
//!
//! What a kind of record leads to is [`InboxAction`]: the one place to extend (see
//! `docs/adr/0009-jobnimbus-webhook-inbox.md`).

mod inbox;
mod payload;
mod processor;
mod token;

pub use inbox::{InboxCounts, InboxEntry, InboxState, Receipt, WebhookInbox};
pub use payload::{
    parse, InboxAction, PayloadError, RecordKind, WebhookDelivery, MAX_PAYLOAD_BYTES,
};
pub use processor::{ProcessReport, ProcessorSettings, WebhookProcessor};
pub use token::{WebhookReceiver, WebhookToken, MIN_SECRET_LEN};

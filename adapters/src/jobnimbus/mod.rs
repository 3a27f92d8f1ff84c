//! JobNimbus v1 ("Open API", `/api1`): the client (reads, and the write-backs in `writes`)
//! with its private wire types and the mapping to our snapshots (an anti-corruption layer), and
//! the sandbox, an in-process HTTP server that behaves like the real API
//! (reference/external-apis.md §1), quirks included.

mod client;
mod dto;
mod error;
mod mapping;
pub mod sandbox;
pub mod webhook_inbox;
mod writes;

pub use client::{
    ClientConfig, HealthStatus, JobNimbusClient, ListQuery, ListSort, Page, UpdatedSincePager,
    DEFAULT_BASE_URL, MAX_PAGE_SIZE, RESULT_WINDOW,
};
pub use error::{ClientError, TransientFailure};
pub use mapping::{
    JobWorkflow, PulledContact, PulledFile, PulledJob, RejectedRecord, UploadedFile, WrittenRecord,
};
pub use writes::{InvalidMarker, NewAttachment, NewNote, NewTask, WriteMarker};

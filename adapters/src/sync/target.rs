use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Contact, ContactCommand, ContactEvent, Job, JobCommand, JobEvent};

use crate::jobnimbus::{ClientError, JobNimbusClient, PulledContact, PulledJob, UpdatedSincePager};

/// A kind of JobNimbus record the engine can sync: how to page it and which command each
/// record becomes.
pub(crate) trait SyncTarget: 'static {
    type Aggregate: Aggregate<Services = ()> + Clone + Send + Sync + 'static;
    type Pulled: Send + 'static;

    fn pager(
        client: &JobNimbusClient,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<UpdatedSincePager<Self::Pulled>, ClientError>;

    fn jnid(pulled: &Self::Pulled) -> &str;

    fn aggregate_id(pulled: &Self::Pulled) -> String;

    fn record_command(
        pulled: Self::Pulled,
        observed_at: DateTime<Utc>,
    ) -> <Self::Aggregate as Aggregate>::Command;

    fn vanish_command(observed_at: DateTime<Utc>) -> <Self::Aggregate as Aggregate>::Command;

    /// True for the event that creates the aggregate (the record was new to us).
    fn is_creation(event: &<Self::Aggregate as Aggregate>::Event) -> bool;

    /// True for the event a vanish command appends.
    fn is_vanishing(event: &<Self::Aggregate as Aggregate>::Event) -> bool;
}

pub(crate) struct Jobs;

impl SyncTarget for Jobs {
    type Aggregate = Job;
    type Pulled = PulledJob;

    fn pager(
        client: &JobNimbusClient,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<UpdatedSincePager<PulledJob>, ClientError> {
        client.jobs_updated_since(since, page_size)
    }

    fn jnid(pulled: &PulledJob) -> &str {
        &pulled.jnid
    }

    fn aggregate_id(pulled: &PulledJob) -> String {
        pulled.id.to_string()
    }

    fn record_command(pulled: PulledJob, observed_at: DateTime<Utc>) -> JobCommand {
        JobCommand::RecordPulledSnapshot {
            snapshot: pulled.snapshot,
            is_active: pulled.is_active,
            observed_at,
        }
    }

    fn vanish_command(observed_at: DateTime<Utc>) -> JobCommand {
        JobCommand::RecordVanished { observed_at }
    }

    fn is_creation(event: &JobEvent) -> bool {
        matches!(event, JobEvent::JobSnapshotRecorded { .. })
    }

    fn is_vanishing(event: &JobEvent) -> bool {
        matches!(event, JobEvent::JobVanished { .. })
    }
}

pub(crate) struct Contacts;

impl SyncTarget for Contacts {
    type Aggregate = Contact;
    type Pulled = PulledContact;

    fn pager(
        client: &JobNimbusClient,
        since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> Result<UpdatedSincePager<PulledContact>, ClientError> {
        client.contacts_updated_since(since, page_size)
    }

    fn jnid(pulled: &PulledContact) -> &str {
        &pulled.jnid
    }

    fn aggregate_id(pulled: &PulledContact) -> String {
        pulled.id.to_string()
    }

    fn record_command(pulled: PulledContact, observed_at: DateTime<Utc>) -> ContactCommand {
        ContactCommand::RecordPulledSnapshot {
            snapshot: pulled.snapshot,
            is_active: pulled.is_active,
            observed_at,
        }
    }

    fn vanish_command(observed_at: DateTime<Utc>) -> ContactCommand {
        ContactCommand::RecordVanished { observed_at }
    }

    fn is_creation(event: &ContactEvent) -> bool {
        matches!(event, ContactEvent::ContactSnapshotRecorded { .. })
    }

    fn is_vanishing(event: &ContactEvent) -> bool {
        matches!(event, ContactEvent::ContactVanished { .. })
    }
}

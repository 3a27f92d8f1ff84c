//! Domain fixtures.

use std::collections::HashMap;

use adapters::store::BatchCommand;
use chrono::{DateTime, TimeZone, Utc};
use domain::{Address, Job, JobCommand, JobSnapshot};

pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

pub fn snapshot(i: usize, status: &str) -> JobSnapshot {
    JobSnapshot {
        number: Some(format!("{}", 1000 + i)),
        name: format!("Gutter install #{i}"),
        description: Some(format!("Seamless aluminium gutters, job {i}")),
        status: Some(status.to_string()),
        workflow: Some("Residential".to_string()),
        customer_name: Some(format!("Customer {i}")),
        contact_external_id: Some(format!("c{i}")),
        address: Address {
            line1: Some(format!("{i} Main St")),
            city: Some("Boulder".to_string()),
            state: Some("CO".to_string()),
            zip: Some("80302".to_string()),
            ..Address::default()
        },
        sales_rep_name: Some("Sam Rep".to_string()),
        remote_created_at: Some(at(i as i64)),
        remote_updated_at: Some(at(i as i64 + 60)),
        status_changed_at: Some(at(i as i64 + 30)),
        started_at: None,
        completed_at: None,
        is_archived: false,
    }
}

pub fn job_id(i: usize) -> String {
    format!("jobnimbus:job{i}")
}

pub fn pulled(i: usize, status: &str, is_active: bool, observed: i64) -> BatchCommand<Job> {
    BatchCommand {
        aggregate_id: job_id(i),
        command: JobCommand::RecordPulledSnapshot {
            snapshot: snapshot(i, status),
            is_active,
            observed_at: at(observed),
        },
        metadata: HashMap::from([("actor".to_string(), "test".to_string())]),
    }
}

//! The sandbox account's configuration: workflows with their statuses, task types, file types
//! and team members. In JobNimbus these are per-account free text, discovered through
//! `GET /account/settings`; writes are validated against them.

use serde_json::{json, Value};

/// One workflow (`record_type_name`) and its statuses, in pipeline order.
pub(crate) struct Workflow {
    pub(crate) id: i64,
    pub(crate) name: &'static str,
    pub(crate) object_type: &'static str,
    pub(crate) statuses: &'static [Status],
}

/// A status inside a workflow. `closed` statuses are where jobs end (and may be archived).
pub(crate) struct Status {
    pub(crate) id: i64,
    pub(crate) name: &'static str,
    pub(crate) closed: bool,
    pub(crate) lost: bool,
}

const fn open(id: i64, name: &'static str) -> Status {
    Status {
        id,
        name,
        closed: false,
        lost: false,
    }
}

const fn won(id: i64, name: &'static str) -> Status {
    Status {
        id,
        name,
        closed: true,
        lost: false,
    }
}

const fn lost(id: i64, name: &'static str) -> Status {
    Status {
        id,
        name,
        closed: true,
        lost: true,
    }
}

pub(crate) const JOB_WORKFLOWS: &[Workflow] = &[
    Workflow {
        id: 11,
        name: "Residential Roofing",
        object_type: "job",
        statuses: &[
            open(101, "Lead"),
            open(102, "Appointment Scheduled"),
            open(103, "Estimating"),
            open(104, "Sold"),
            open(105, "In Progress"),
            won(106, "Completed"),
            lost(107, "Lost"),
        ],
    },
    Workflow {
        id: 12,
        name: "Commercial",
        object_type: "job",
        statuses: &[
            open(121, "Lead"),
            open(122, "Bid Submitted"),
            open(123, "Negotiating"),
            open(124, "Contract Signed"),
            open(125, "In Production"),
            won(126, "Invoiced"),
            won(127, "Paid & Closed"),
            lost(128, "Lost"),
        ],
    },
    Workflow {
        id: 13,
        name: "Insurance Claim",
        object_type: "job",
        statuses: &[
            open(131, "Lead"),
            open(132, "Inspection Scheduled"),
            open(133, "Claim Filed"),
            open(134, "Adjuster Meeting"),
            open(135, "Approved"),
            open(136, "Supplement Pending"),
            open(137, "In Production"),
            won(138, "Completed"),
            lost(139, "Denied"),
            lost(140, "Lost"),
        ],
    },
];

pub(crate) const CONTACT_WORKFLOWS: &[Workflow] = &[
    Workflow {
        id: 21,
        name: "Customer",
        object_type: "contact",
        statuses: &[open(201, "Active"), won(202, "Past Customer")],
    },
    Workflow {
        id: 22,
        name: "Lead",
        object_type: "contact",
        statuses: &[
            open(211, "New"),
            open(212, "Contacted"),
            open(213, "Qualified"),
            lost(214, "Unqualified"),
        ],
    },
    Workflow {
        id: 23,
        name: "Subcontractor",
        object_type: "contact",
        statuses: &[open(221, "Active"), lost(222, "Inactive")],
    },
    Workflow {
        id: 24,
        name: "Vendor",
        object_type: "contact",
        statuses: &[open(231, "Active"), lost(232, "Inactive")],
    },
];

/// Task types (`record_type_name` of a task) with their ids.
pub(crate) const TASK_TYPES: &[(i64, &str)] = &[
    (301, "Appointment"),
    (302, "Inspection"),
    (303, "Phone Call"),
    (304, "Follow Up"),
    (305, "Install"),
    (306, "Material Delivery"),
];

/// Activity types. "Note" is what integrations write; the status-change type is the log line
/// JobNimbus writes itself (its exact name is not in our docs copy).
pub(crate) const NOTE_TYPE: &str = "Note";
pub(crate) const STATUS_CHANGE_TYPE: &str = "Status Changed";
pub(crate) const ACTIVITY_TYPES: &[&str] = &[NOTE_TYPE, STATUS_CHANGE_TYPE, "Contact Created"];

/// File types: the documented integer ids (§1.6).
pub(crate) const PHOTO_TYPE: (i64, &str) = (2, "Photo");
pub(crate) const DOCUMENT_TYPE: (i64, &str) = (1, "Document");
/// Every documented file type; uploads must name one of them by id.
pub(crate) const FILE_TYPES: &[(i64, &str)] = &[
    DOCUMENT_TYPE,
    PHOTO_TYPE,
    (3, "Email Attachment"),
    (4, "naturalForms"),
    (5, "Invoice"),
    (6, "EagleView"),
    (7, "Accurence"),
    (8, "Credit Memo"),
];

/// Team members: (jnid, name, email). Fixed rather than generated so they read well.
pub(crate) const USERS: &[(&str, &str, &str)] = &[
    (
        "u1k9x2m4p7q0r3s",
        "Dana Whitfield",
        "dana@summitroofing.example",
    ),
    (
        "u2b8c5d1e6f9g4h",
        "Marcus Oyelaran",
        "marcus@summitroofing.example",
    ),
    (
        "u3j7k2l8m1n5o9p",
        "Priya Raman",
        "priya@summitroofing.example",
    ),
    (
        "u4q6r3s9t2u8v1w",
        "Tom Kowalski",
        "tom@summitroofing.example",
    ),
    (
        "u5x4y7z0a3b6c9d",
        "Lena Fischer",
        "lena@summitroofing.example",
    ),
    (
        "u6e2f5g8h1i4j7k",
        "Carlos Medina",
        "carlos@summitroofing.example",
    ),
];

/// The account id that every record carries as `customer`.
pub(crate) const CUSTOMER_ID: &str = "a7x3k9m2";

pub(crate) fn workflow(workflows: &'static [Workflow], name: &str) -> Option<&'static Workflow> {
    workflows.iter().find(|w| w.name == name)
}

impl Workflow {
    pub(crate) fn status(&self, name: &str) -> Option<&'static Status> {
        self.statuses.iter().find(|s| s.name == name)
    }
}

/// The name of file type `id`.
pub(crate) fn file_type(id: i64) -> Option<&'static str> {
    FILE_TYPES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The team member whose email is `email` (the `actor` query parameter), as (jnid, name).
pub(crate) fn user_by_email(email: &str) -> Option<(&'static str, &'static str)> {
    USERS
        .iter()
        .find(|(_, _, e)| e.eq_ignore_ascii_case(email.trim()))
        .map(|(jnid, name, _)| (*jnid, *name))
}

pub(crate) fn task_type(name: &str) -> Option<i64> {
    TASK_TYPES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
}

/// The body of `GET /account/settings`, reduced to what a client needs to discover statuses.
pub(crate) fn settings() -> Value {
    let workflows: Vec<Value> = JOB_WORKFLOWS
        .iter()
        .chain(CONTACT_WORKFLOWS)
        .map(|w| {
            let statuses: Vec<Value> = w
                .statuses
                .iter()
                .enumerate()
                .map(|(order, s)| {
                    json!({
                        "id": s.id,
                        "name": s.name,
                        "order": order,
                        "is_active": true,
                        "is_lead": order == 0,
                        "is_closed": s.closed,
                        "is_archived": false,
                    })
                })
                .collect();
            json!({
                "id": w.id,
                "name": w.name,
                "object_type": w.object_type,
                "is_active": true,
                "status": statuses,
            })
        })
        .collect();
    let task_types: Vec<Value> = TASK_TYPES
        .iter()
        .map(|(id, name)| json!({"id": id, "TypeName": name, "IsActive": true}))
        .collect();
    let file_types: Vec<Value> = FILE_TYPES
        .iter()
        .map(|(id, name)| json!({"id": id, "TypeName": name, "IsActive": true}))
        .collect();
    json!({
        "workflows": workflows,
        "taskTypes": task_types,
        "fileTypes": file_types,
        "activityTypes": ACTIVITY_TYPES,
    })
}

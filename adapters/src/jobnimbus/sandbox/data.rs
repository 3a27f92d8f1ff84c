//! The seeded generator: realistic-looking JobNimbus records, byte-identical for the same seed,
//! anchor time and sizes. Records are built directly in their stored form ([`Record`]), in
//! the JobNimbus wire shape.

use super::account::{
    Status, Workflow, CONTACT_WORKFLOWS, CUSTOMER_ID, DOCUMENT_TYPE, JOB_WORKFLOWS, NOTE_TYPE,
    PHOTO_TYPE, STATUS_CHANGE_TYPE, TASK_TYPES, USERS,
};
pub(crate) use super::record::Record;
use super::record::{object, Builder, Field};
use super::rng::{mix, Rng};
use super::words::*;
use super::Resource;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// How far back generated history goes.
const HISTORY: i64 = 730 * DAY;

/// How much to generate and from which seed.
#[derive(Clone, Debug)]
pub(crate) struct Sizes {
    pub(crate) contacts: usize,
    pub(crate) jobs: usize,
    pub(crate) files_per_job: usize,
    pub(crate) activities_per_job: usize,
    pub(crate) tasks_per_job: usize,
}

/// Everything generated at start-up, one vector per resource, in creation order.
#[derive(Default)]
pub(crate) struct Dataset {
    pub(crate) contacts: Vec<Record>,
    pub(crate) jobs: Vec<Record>,
    pub(crate) files: Vec<Record>,
    pub(crate) activities: Vec<Record>,
    pub(crate) tasks: Vec<Record>,
}

/// A job together with the records that hang off it.
pub(crate) struct JobBundle {
    pub(crate) job: Record,
    pub(crate) files: Vec<Record>,
    pub(crate) activities: Vec<Record>,
    pub(crate) tasks: Vec<Record>,
}

/// Owns the randomness and the counters (ids, record numbers), so the start-up data and the
/// records added later (tests, churn faults) come from one deterministic sequence.
pub(crate) struct Generator {
    rng: Rng,
    id_salt: u64,
    next_id: u64,
    recids: [i64; Resource::ALL.len()],
    next_job_number: i64,
}

impl Generator {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            id_salt: mix(seed ^ 0x6A6E_6964),
            next_id: 0,
            recids: [0; Resource::ALL.len()],
            next_job_number: 1001,
        }
    }

    pub(crate) fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Generates the start-up data set: history spread over the two years before `anchor`.
    pub(crate) fn dataset(&mut self, sizes: &Sizes, anchor: i64) -> Dataset {
        let mut data = Dataset {
            contacts: Vec::with_capacity(sizes.contacts),
            jobs: Vec::with_capacity(sizes.jobs),
            files: Vec::with_capacity(sizes.jobs.saturating_mul(sizes.files_per_job)),
            activities: Vec::with_capacity(sizes.jobs.saturating_mul(sizes.activities_per_job)),
            tasks: Vec::with_capacity(sizes.jobs.saturating_mul(sizes.tasks_per_job)),
        };
        // Contacts and jobs are created in time order, like a real account's history, so
        // `recid` grows with `date_created`.
        let mut contact_times: Vec<i64> = (0..sizes.contacts)
            .map(|_| self.rng.between(anchor - HISTORY, anchor - HOUR))
            .collect();
        contact_times.sort_unstable();
        for created in contact_times {
            let contact = self.contact(created, anchor);
            data.contacts.push(contact);
        }
        let mut job_plan: Vec<(i64, Option<usize>)> = (0..sizes.jobs)
            .map(|_| {
                if data.contacts.is_empty() {
                    return (self.rng.between(anchor - HISTORY, anchor - HOUR), None);
                }
                let index = self.rng.below(data.contacts.len() as u64) as usize;
                let contact_created = data
                    .contacts
                    .get(index)
                    .and_then(|c| int(c, "date_created"))
                    .unwrap_or(anchor - HISTORY);
                let latest = (contact_created + 120 * DAY).min(anchor - HOUR);
                (self.rng.between(contact_created, latest), Some(index))
            })
            .collect();
        job_plan.sort_unstable();
        for (created, contact) in job_plan {
            let contact = contact.and_then(|i| data.contacts.get(i));
            let bundle = self.job(contact, created, anchor, sizes);
            data.jobs.push(bundle.job);
            data.files.extend(bundle.files);
            data.activities.extend(bundle.activities);
            data.tasks.extend(bundle.tasks);
        }
        data
    }

    /// A new unique jnid: 16 base-36 characters. The counter goes through a bijection, so ids
    /// never collide, yet they look random like the real ones.
    pub(crate) fn jnid(&mut self) -> String {
        self.next_id += 1;
        let mut n = mix(self.next_id ^ self.id_salt);
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut out = [b'0'; 16];
        for slot in out.iter_mut().rev() {
            *slot = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        // Thirteen base-36 digits already hold a u64; the leading three are always '0', so
        // swap them for letters drawn from the same value to avoid a visible pattern.
        let lead = self.next_id.wrapping_mul(0x9E37_79B9) ^ self.id_salt;
        for (i, slot) in out.iter_mut().take(3).enumerate() {
            *slot = DIGITS[10 + ((lead >> (i * 5)) % 26) as usize];
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub(crate) fn recid(&mut self, resource: Resource) -> i64 {
        let slot = &mut self.recids[resource.index()];
        *slot += 1;
        *slot
    }

    fn user(&mut self) -> (&'static str, &'static str) {
        let (id, name, _) = self.rng.pick(USERS).copied().unwrap_or(("", "", ""));
        (id, name)
    }

    fn address(&mut self) -> Address {
        let (city, state, zip_prefix, lat, lon) = self
            .rng
            .pick(CITIES)
            .copied()
            .unwrap_or(("Denver", "CO", "802", 39.7392, -104.9903));
        let number = self.rng.between(100, 19_999);
        let street = self.rng.word(STREET_NAMES);
        let suffix = self.rng.word(STREET_SUFFIXES);
        let zip = format!("{zip_prefix}{:02}", self.rng.below(100));
        // Jitter within a few km, rounded like a geocoder would return it.
        let lat = round6(lat + (self.rng.unit() - 0.5) * 0.12);
        let lon = round6(lon + (self.rng.unit() - 0.5) * 0.12);
        Address {
            line1: format!("{number} {street} {suffix}"),
            line2: if self.rng.chance(0.05) {
                format!("Unit {}", self.rng.between(1, 40))
            } else {
                String::new()
            },
            city,
            state,
            zip,
            lat,
            lon,
        }
    }

    fn phone(&mut self) -> String {
        format!(
            "({}) {}-{:04}",
            self.rng.between(201, 989),
            self.rng.between(200, 999),
            self.rng.below(10_000)
        )
    }

    /// A contact created at `created`, last touched some time before `now`.
    pub(crate) fn contact(&mut self, created: i64, now: i64) -> Record {
        let workflow = pick_weighted_workflow(&mut self.rng, CONTACT_WORKFLOWS, &[60, 30, 6, 4]);
        let status = self
            .rng
            .pick(workflow.statuses)
            .unwrap_or(&workflow.statuses[0]);
        let first = self.rng.word(FIRST_NAMES);
        let last = self.rng.word(LAST_NAMES);
        let is_company =
            workflow.name != "Customer" && self.rng.chance(0.5) || self.rng.chance(0.08);
        let company = if is_company {
            format!(
                "{} {}",
                self.rng.word(COMPANY_WORDS),
                self.rng.word(COMPANY_KINDS)
            )
        } else {
            String::new()
        };
        let display_name = if is_company && self.rng.chance(0.6) {
            company.clone()
        } else {
            format!("{first} {last}")
        };
        let email = if self.rng.chance(0.85) {
            format!(
                "{}.{}{}@{}",
                first.to_lowercase(),
                last.to_lowercase().replace([' ', '\''], ""),
                self.rng.below(100),
                self.rng.word(EMAIL_DOMAINS)
            )
        } else {
            String::new()
        };
        let mobile = self.phone();
        let home = if self.rng.chance(0.3) {
            self.phone()
        } else {
            String::new()
        };
        let work = if is_company {
            self.phone()
        } else {
            String::new()
        };
        let address = self.address();
        let (rep_id, rep_name) = self.user();
        let (creator_id, creator_name) = self.user();
        let updated = later(&mut self.rng, created, now);
        let status_change = if status.id == workflow.statuses[0].id {
            created
        } else {
            self.rng.between(created, updated)
        };
        let jnid = self.jnid();
        let recid = self.recid(Resource::Contacts);
        let mut c = Builder::with_capacity(40);
        c.set("jnid", jnid);
        c.set("recid", recid);
        c.set("number", recid.to_string());
        c.set("type", "contact");
        c.set("customer", CUSTOMER_ID);
        c.set("created_by", creator_id);
        c.set("created_by_name", creator_name);
        c.set("date_created", created);
        c.set("date_updated", updated);
        c.set("date_status_change", status_change);
        c.set("first_name", first);
        c.set("last_name", last);
        c.set("display_name", display_name);
        c.set("company", company);
        c.set("email", email);
        c.set("home_phone", home);
        c.set("mobile_phone", mobile);
        c.set("work_phone", work);
        c.set("fax_number", "");
        c.set("website", "");
        address.write(&mut c);
        c.set("record_type", workflow.id);
        c.set("record_type_name", workflow.name);
        c.set("status", status.id);
        c.set("status_name", status.name);
        c.set("source_name", self.rng.word(SOURCES));
        c.set("is_sub_contractor", workflow.name == "Subcontractor");
        c.set("is_active", self.rng.chance(0.98));
        c.set("is_archived", status.closed && self.rng.chance(0.2));
        c.set("sales_rep", rep_id);
        c.set("sales_rep_name", rep_name);
        c.set("owners", vec![Field::from(object([("id", rep_id.into())]))]);
        c.set("tags", self.tags());
        c.set("location", object([("id", 1i64.into())]));
        c.build()
    }

    fn tags(&mut self) -> Field {
        let mut tags: Vec<&'static str> = Vec::new();
        for _ in 0..self.rng.below(3) {
            let tag = self.rng.word(TAGS);
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Field::from(tags.into_iter().map(Field::from).collect::<Vec<_>>())
    }

    /// A job for `contact` created at `created`, with its files, activities and tasks, all
    /// dated between `created` and `now`.
    pub(crate) fn job(
        &mut self,
        contact: Option<&Record>,
        created: i64,
        now: i64,
        sizes: &Sizes,
    ) -> JobBundle {
        let workflow = pick_weighted_workflow(&mut self.rng, JOB_WORKFLOWS, &[60, 15, 25]);
        // Older jobs have usually reached the end of their pipeline.
        let age_days = (now - created).max(0) / DAY;
        let closed_chance = (age_days as f64 / 300.0).min(0.9);
        let status = if self.rng.chance(closed_chance) {
            let closed: Vec<&'static Status> =
                workflow.statuses.iter().filter(|s| s.closed).collect();
            // Most closed jobs are won.
            let won: Vec<&'static Status> = closed.iter().copied().filter(|s| !s.lost).collect();
            let pool = if self.rng.chance(0.75) && !won.is_empty() {
                won
            } else {
                closed
            };
            self.rng.pick(&pool).copied()
        } else {
            let open: Vec<&'static Status> =
                workflow.statuses.iter().filter(|s| !s.closed).collect();
            self.rng.pick(&open).copied()
        }
        .unwrap_or(&workflow.statuses[0]);
        let stage = workflow
            .statuses
            .iter()
            .position(|s| s.id == status.id)
            .unwrap_or(0);
        // "Work has started" = past the midpoint of the pipeline and not lost.
        let started = !status.lost && stage * 2 >= workflow.statuses.len();

        let updated = later(&mut self.rng, created, now);
        let status_change = if stage == 0 {
            created
        } else {
            self.rng.between(created, updated)
        };
        let (date_start, date_end) = if started {
            let start = self
                .rng
                .between(status_change - 20 * DAY, status_change)
                .max(created);
            (start, start + self.rng.between(1, 4) * DAY)
        } else {
            (0, 0)
        };
        let is_archived = status.closed && age_days > 300 && self.rng.chance(0.6);

        let address = match contact {
            Some(c) if self.rng.chance(0.8) => Address::from_record(c),
            _ => None,
        };
        let address = match address {
            Some(a) => a,
            None => self.address(),
        };
        let contact_link = contact.map(|c| {
            object([
                ("id", str_field(c, "jnid").to_owned().into()),
                ("type", "contact".into()),
                ("name", str_field(c, "display_name").to_owned().into()),
                ("number", str_field(c, "number").to_owned().into()),
            ])
        });
        let last_name = contact
            .map(|c| str_field(c, "last_name").to_owned())
            .unwrap_or_else(|| self.rng.word(LAST_NAMES).to_owned());
        let kind = self.rng.word(JOB_KINDS);
        let name = match self.rng.below(3) {
            0 => format!("{last_name} - {kind}"),
            1 => address.line1.clone(),
            _ => format!("{last_name}, {}", address.line1),
        };
        let (rep_id, rep_name) = self.user();
        let (creator_id, creator_name) = self.user();
        let jnid = self.jnid();
        let recid = self.recid(Resource::Jobs);
        let number = self.next_job_number;
        self.next_job_number += 1;
        let job_link = object([
            ("id", jnid.clone().into()),
            ("type", "job".into()),
            ("name", name.clone().into()),
            ("number", number.to_string().into()),
        ]);

        let mut files = Vec::new();
        for _ in 0..self.rng.below(sizes.files_per_job as u64 * 2 + 1) {
            let file = self.file(&job_link, created, now, started);
            files.push(file);
        }
        files.sort_by_key(|f| int(f, "date_created"));
        let mut activities = Vec::new();
        if stage > 0 {
            let from = workflow.statuses[0].name;
            let activity = self.activity(
                &job_link,
                contact_link.as_ref(),
                status_change,
                Some((from, status.name)),
            );
            activities.push(activity);
        }
        for _ in 0..self.rng.below(sizes.activities_per_job as u64 * 2 + 1) {
            let at = self.rng.between(created, now - 60);
            let activity = self.activity(&job_link, contact_link.as_ref(), at, None);
            activities.push(activity);
        }
        activities.sort_by_key(|a| int(a, "date_created"));
        let mut tasks = Vec::new();
        for _ in 0..self.rng.below(sizes.tasks_per_job as u64 * 2 + 1) {
            let task = self.task(&job_link, contact_link.as_ref(), created, now);
            tasks.push(task);
        }
        tasks.sort_by_key(|t| int(t, "date_created"));

        let related: Vec<Field> = contact_link.iter().cloned().map(Field::from).collect();
        let estimate = if stage >= 2 {
            (self.rng.between(4_000, 60_000) as f64) + (self.rng.below(100) as f64) / 100.0
        } else {
            0.0
        };
        let invoice = if started && !status.lost {
            estimate
        } else {
            0.0
        };

        let mut j = Builder::with_capacity(44);
        j.set("jnid", jnid);
        j.set("recid", recid);
        j.set("number", number.to_string());
        j.set("type", "job");
        j.set("customer", CUSTOMER_ID);
        j.set("created_by", creator_id);
        j.set("created_by_name", creator_name);
        j.set("date_created", created);
        j.set("date_updated", updated);
        j.set("date_status_change", status_change);
        j.set("date_start", date_start);
        j.set("date_end", date_end);
        j.set("name", name);
        j.set("description", self.rng.word(JOB_DESCRIPTIONS));
        j.set("record_type", workflow.id);
        j.set("record_type_name", workflow.name);
        j.set("status", status.id);
        j.set("status_name", status.name);
        j.set("primary", contact_link);
        j.set("related", related);
        address.write(&mut j);
        j.set("sales_rep", rep_id);
        j.set("sales_rep_name", rep_name);
        j.set("owners", vec![Field::from(object([("id", rep_id.into())]))]);
        j.set("tags", self.tags());
        j.set("source_name", self.rng.word(SOURCES));
        j.set("is_active", self.rng.chance(0.98));
        j.set("is_archived", is_archived);
        j.set("task_count", tasks.len());
        j.set("attachment_count", files.len());
        j.set("approved_estimate_total", estimate);
        j.set("approved_invoice_total", invoice);
        j.set("location", object([("id", 1i64.into())]));
        JobBundle {
            job: j.build(),
            files,
            activities,
            tasks,
        }
    }

    fn file(&mut self, job_link: &Record, job_created: i64, now: i64, started: bool) -> Record {
        let uploaded = self.rng.between(job_created, now - 60);
        let is_photo = self.rng.chance(0.75);
        let (record_type, type_name) = if is_photo { PHOTO_TYPE } else { DOCUMENT_TYPE };
        let (filename, content_type, size, description) = if is_photo {
            let (stem, ext, content_type) =
                self.rng
                    .pick(PHOTO_FORMATS)
                    .copied()
                    .unwrap_or(("IMG_", "jpg", "image/jpeg"));
            let filename = format!("{stem}{:04}.{ext}", self.rng.below(10_000));
            let size = self.rng.between(900_000, 6_500_000);
            (
                filename,
                content_type,
                size,
                self.photo_description(started),
            )
        } else {
            let (title, content_type) = self
                .rng
                .pick(DOCUMENTS)
                .copied()
                .unwrap_or(("Estimate", "application/pdf"));
            let ext = if content_type == "application/pdf" {
                "pdf"
            } else {
                "xlsx"
            };
            let filename = format!("{title} {}.{ext}", self.rng.between(1000, 9999));
            let size = self.rng.between(40_000, 2_500_000);
            let description = Field::from(if self.rng.chance(0.5) { title } else { "" });
            (filename, content_type, size, description)
        };
        let (creator_id, creator_name) = self.user();
        let jnid = self.jnid();
        let recid = self.recid(Resource::Files);
        let mut f = Builder::with_capacity(20);
        f.set("jnid", jnid);
        f.set("recid", recid);
        f.set("type", "attachment");
        f.set("customer", CUSTOMER_ID);
        f.set("created_by", creator_id);
        f.set("created_by_name", creator_name);
        // Phones stamp the capture time; the upload (date_created) comes a little later.
        f.set(
            "date_file_created",
            uploaded - self.rng.between(0, 2 * HOUR),
        );
        f.set("date_created", uploaded);
        f.set("date_updated", uploaded);
        f.set("filename", filename);
        f.set("content_type", content_type);
        f.set("size", size);
        f.set("description", description);
        f.set("record_type", record_type);
        f.set("record_type_name", type_name);
        f.set("is_private", self.rng.chance(0.05));
        f.set("is_active", true);
        f.set("primary", job_link.clone());
        f.set("related", vec![Field::from(job_link.clone())]);
        f.build()
    }

    /// Before/during/after wording varies, and some photos have no description at all.
    fn photo_description(&mut self, started: bool) -> Field {
        let roll = self.rng.unit();
        if roll < 0.12 {
            return Field::from("");
        }
        if roll < 0.18 {
            return Field::Null;
        }
        if roll < 0.26 {
            return Field::from(self.rng.word(PHOTO_OTHER));
        }
        let words = if !started {
            PHOTO_BEFORE
        } else {
            match self.rng.below(3) {
                0 => PHOTO_BEFORE,
                1 => PHOTO_DURING,
                _ => PHOTO_AFTER,
            }
        };
        Field::from(self.rng.word(words))
    }

    /// A generated activity: a note, or (with `status`) the status-change log line.
    fn activity(
        &mut self,
        job_link: &Record,
        contact_link: Option<&Record>,
        at: i64,
        status: Option<(&str, &str)>,
    ) -> Record {
        let (creator_id, creator_name) = self.user();
        let jnid = self.jnid();
        let recid = self.recid(Resource::Activities);
        let mut primary = job_link.clone();
        let (type_name, note, is_status_change) = match status {
            Some((from, to)) => {
                primary = primary.with("new_status", to.to_owned());
                (
                    STATUS_CHANGE_TYPE,
                    format!("Status changed from {from} to {to}"),
                    true,
                )
            }
            None => (NOTE_TYPE, self.rng.word(NOTES).to_owned(), false),
        };
        let mut related = vec![Field::from(job_link.clone())];
        related.extend(contact_link.cloned().map(Field::from));
        let mut a = Builder::with_capacity(16);
        a.set("jnid", jnid);
        a.set("recid", recid);
        a.set("type", "activity");
        a.set("customer", CUSTOMER_ID);
        a.set("created_by", creator_id);
        a.set("created_by_name", creator_name);
        a.set("date_created", at);
        a.set("date_updated", at);
        a.set("record_type_name", type_name);
        a.set("note", note);
        a.set("is_status_change", is_status_change);
        a.set("is_editable", !is_status_change);
        a.set("is_active", true);
        a.set("primary", primary);
        a.set("related", related);
        a.build()
    }

    fn task(
        &mut self,
        job_link: &Record,
        contact_link: Option<&Record>,
        job_created: i64,
        now: i64,
    ) -> Record {
        let created = self.rng.between(job_created, now - 60);
        let start = created + self.rng.between(HOUR, 21 * DAY);
        let (type_id, type_name) = self
            .rng
            .pick(TASK_TYPES)
            .copied()
            .unwrap_or((301, "Appointment"));
        let completed = start < now && self.rng.chance(0.8);
        let updated = if completed {
            start.min(now - 1)
        } else {
            created
        };
        let (owner_id, owner_name) = self.user();
        let jnid = self.jnid();
        let recid = self.recid(Resource::Tasks);
        let mut related = vec![Field::from(job_link.clone())];
        related.extend(contact_link.cloned().map(Field::from));
        let mut t = Builder::with_capacity(24);
        t.set("jnid", jnid);
        t.set("recid", recid);
        t.set("number", recid.to_string());
        t.set("type", "task");
        t.set("customer", CUSTOMER_ID);
        t.set("created_by", owner_id);
        t.set("created_by_name", owner_name);
        t.set("date_created", created);
        t.set("date_updated", updated.max(created));
        t.set("title", self.rng.word(TASK_TITLES));
        t.set("description", "");
        t.set("record_type", type_id);
        t.set("record_type_name", type_name);
        t.set("date_start", start);
        t.set("date_end", start + HOUR);
        t.set("is_completed", completed);
        t.set("priority", self.rng.below(3));
        t.set(
            "owners",
            vec![Field::from(object([("id", owner_id.into())]))],
        );
        t.set("is_active", true);
        t.set("primary", job_link.clone());
        t.set("related", related);
        t.build()
    }
}

/// A time in `[from, now)`: a quarter of records were never touched after creation, the rest
/// were, and recent edits are more common than old ones.
fn later(rng: &mut Rng, from: i64, now: i64) -> i64 {
    if rng.chance(0.25) || now - 60 <= from {
        return from;
    }
    let span = (now - 60 - from) as f64;
    let skew = 1.0 - rng.unit() * rng.unit();
    from + (span * skew) as i64
}

fn pick_weighted_workflow(
    rng: &mut Rng,
    workflows: &'static [Workflow],
    weights: &[u64],
) -> &'static Workflow {
    let total: u64 = weights.iter().sum();
    let mut roll = rng.below(total);
    for (workflow, weight) in workflows.iter().zip(weights) {
        if roll < *weight {
            return workflow;
        }
        roll -= weight;
    }
    &workflows[0]
}

fn round6(x: f64) -> f64 {
    (x * 1_000_000.0).round() / 1_000_000.0
}

pub(crate) fn int(record: &Record, key: &str) -> Option<i64> {
    record.int(key)
}

pub(crate) fn str_field<'a>(record: &'a Record, key: &str) -> &'a str {
    record.text(key)
}

struct Address {
    line1: String,
    line2: String,
    city: &'static str,
    state: &'static str,
    zip: String,
    lat: f64,
    lon: f64,
}

impl Address {
    /// Copies a contact's address onto its job (the usual case: the job is at their home).
    fn from_record(record: &Record) -> Option<Self> {
        // Back to the word list's 'static strings, so the job shares them.
        let (city, state) = (record.text("city"), record.text("state_text"));
        let &(city, state, ..) = CITIES.iter().find(|c| c.0 == city && c.1 == state)?;
        let Some(Field::Object(geo)) = record.get("geo") else {
            return None;
        };
        Some(Self {
            line1: str_field(record, "address_line1").to_owned(),
            line2: str_field(record, "address_line2").to_owned(),
            city,
            state,
            zip: record.text("zip").to_owned(),
            lat: geo.get("lat").and_then(Field::as_f64)?,
            lon: geo.get("lon").and_then(Field::as_f64)?,
        })
    }

    fn write(&self, record: &mut Builder) {
        record.set("address_line1", self.line1.clone());
        record.set("address_line2", self.line2.clone());
        record.set("city", self.city);
        record.set("state_text", self.state);
        record.set("zip", self.zip.clone());
        record.set("country_name", "United States");
        record.set(
            "geo",
            object([("lat", self.lat.into()), ("lon", self.lon.into())]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR: i64 = 1_767_225_600;

    fn sizes(jobs: usize) -> Sizes {
        Sizes {
            contacts: jobs / 2 + 1,
            jobs,
            files_per_job: 3,
            activities_per_job: 2,
            tasks_per_job: 1,
        }
    }

    fn dump(data: &Dataset) -> String {
        let all: Vec<&Vec<Record>> = vec![
            &data.contacts,
            &data.jobs,
            &data.files,
            &data.activities,
            &data.tasks,
        ];
        serde_json::to_string(&all).unwrap()
    }

    #[test]
    fn the_same_seed_generates_byte_identical_data() {
        let a = Generator::new(42).dataset(&sizes(300), ANCHOR);
        let b = Generator::new(42).dataset(&sizes(300), ANCHOR);
        let c = Generator::new(43).dataset(&sizes(300), ANCHOR);
        assert_eq!(dump(&a), dump(&b));
        assert_ne!(dump(&a), dump(&c));
    }

    #[test]
    fn jnids_are_unique_across_all_resources() {
        let data = Generator::new(5).dataset(&sizes(2_000), ANCHOR);
        let mut seen = std::collections::HashSet::new();
        for record in data
            .contacts
            .iter()
            .chain(&data.jobs)
            .chain(&data.files)
            .chain(&data.activities)
            .chain(&data.tasks)
        {
            let jnid = str_field(record, "jnid");
            assert_eq!(jnid.len(), 16);
            assert!(seen.insert(jnid.to_owned()), "duplicate {jnid}");
        }
    }

    #[test]
    fn jobs_have_a_status_of_their_workflow_and_sane_dates() {
        let data = Generator::new(9).dataset(&sizes(2_000), ANCHOR);
        assert_eq!(data.jobs.len(), 2_000);
        for job in &data.jobs {
            let workflow =
                super::super::account::workflow(JOB_WORKFLOWS, str_field(job, "record_type_name"))
                    .unwrap();
            assert!(workflow.status(str_field(job, "status_name")).is_some());
            let created = int(job, "date_created").unwrap();
            let updated = int(job, "date_updated").unwrap();
            let changed = int(job, "date_status_change").unwrap();
            assert!(created >= ANCHOR - HISTORY && updated < ANCHOR);
            assert!(updated >= created && changed >= created && changed <= updated);
            assert_eq!(job.to_value()["primary"]["type"], "contact");
        }
        let archived = data
            .jobs
            .iter()
            .filter(|j| j.get("is_archived") == Some(&Field::Bool(true)))
            .count();
        let inactive = data
            .jobs
            .iter()
            .filter(|j| j.get("is_active") == Some(&Field::Bool(false)))
            .count();
        assert!(archived > 0 && inactive > 0);
    }

    #[test]
    fn photos_belong_to_their_job_and_mention_before_during_or_after_in_varied_words() {
        let data = Generator::new(11).dataset(&sizes(1_000), ANCHOR);
        let jobs: std::collections::HashSet<&str> =
            data.jobs.iter().map(|j| str_field(j, "jnid")).collect();
        let photos: Vec<serde_json::Value> = data
            .files
            .iter()
            .filter(|f| str_field(f, "record_type_name") == "Photo")
            .map(Record::to_value)
            .collect();
        assert!(photos.len() > 1_000);
        for photo in &photos {
            assert!(jobs.contains(photo["related"][0]["id"].as_str().unwrap()));
            assert!(photo["content_type"]
                .as_str()
                .unwrap()
                .starts_with("image/"));
        }
        let described: std::collections::HashSet<&str> = photos
            .iter()
            .map(|p| p["description"].as_str().unwrap_or_default())
            .collect();
        assert!(described.contains(""));
        for phase in ["before", "during", "after", "progress", "completed"] {
            assert!(
                described.iter().any(|d| d.to_lowercase().contains(phase)),
                "{phase}"
            );
        }
        assert!(photos.iter().any(|p| p["description"].is_null()));
    }

    #[test]
    fn thirty_thousand_jobs_generate_quickly() {
        let started = std::time::Instant::now();
        let data = Generator::new(1).dataset(&sizes(30_000), ANCHOR);
        assert_eq!(data.jobs.len(), 30_000);
        // Generous bound for an unoptimised debug build on a busy 2-core box; release is far
        // faster. This guards against accidental quadratic work, not micro-regressions.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}

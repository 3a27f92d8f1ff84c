//! The sandbox's records: one table per resource, list queries (filter, sort, window,
//! projection) and the write rules (validation, soft delete, `date_updated` bumps, status-change
//! activities). Every record created or saved is also noted as a change, which is what the
//! automation webhooks announce.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Map, Value};

use super::account::{
    self, Workflow, ACTIVITY_TYPES, CONTACT_WORKFLOWS, CUSTOMER_ID, JOB_WORKFLOWS,
    STATUS_CHANGE_TYPE, USERS,
};
use super::data::{Dataset, Generator, Sizes};
use super::index::SortedIndex;
use super::params::ListParams;
use super::record::{Field, Record};
use super::{Resource, SandboxError};

/// One resource's records in creation order, with an index by `jnid` and the sorted views
/// built since the last write.
#[derive(Default)]
struct Table {
    records: Vec<Record>,
    index: HashMap<String, usize>,
    /// By (sort field, descending). Cleared by `Store::table_mut`, the only way to write.
    sorted: Mutex<HashMap<(String, bool), Arc<SortedIndex>>>,
}

impl Table {
    /// The records in `path` order, from the cache or built now.
    fn sorted_by(&self, path: &[String], descending: bool) -> Arc<SortedIndex> {
        let mut sorted = self.sorted.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (path.join("."), descending);
        Arc::clone(
            sorted
                .entry(key)
                .or_insert_with(|| Arc::new(SortedIndex::build(&self.records, path, descending))),
        )
    }

    fn new(records: Vec<Record>) -> Self {
        let mut table = Table {
            index: HashMap::with_capacity(records.len()),
            records: Vec::with_capacity(records.len()),
            sorted: Mutex::default(),
        };
        for record in records {
            table.push(record);
        }
        table
    }

    fn push(&mut self, record: Record) {
        let jnid = record.text("jnid").to_owned();
        self.index.insert(jnid, self.records.len());
        self.records.push(record);
    }

    /// Removes a record, keeping the others in creation order.
    fn remove(&mut self, jnid: &str) -> bool {
        let Some(position) = self.index.remove(jnid) else {
            return false;
        };
        self.records.remove(position);
        for index in self.index.values_mut() {
            if *index > position {
                *index -= 1;
            }
        }
        true
    }

    fn position(&self, jnid: &str) -> Option<usize> {
        self.index.get(jnid).copied()
    }

    fn get(&self, jnid: &str) -> Option<&Record> {
        self.position(jnid).and_then(|i| self.records.get(i))
    }

    fn get_mut(&mut self, jnid: &str) -> Option<&mut Record> {
        self.position(jnid).and_then(|i| self.records.get_mut(i))
    }
}

/// One page of a list request. The records are the stored ones (a reference-count bump
/// each), serialised straight into the response: no `Value` tree per record.
pub(crate) struct Page {
    pub(crate) count: usize,
    pub(crate) results: Vec<Record>,
}

/// All the sandbox data plus the generator that keeps producing ids and new records.
pub(crate) struct Store {
    tables: [Table; Resource::ALL.len()],
    generator: Generator,
    sizes: Sizes,
    /// Records created or saved since the last [`Store::take_changes`], in write order.
    changes: Vec<(Resource, Record)>,
}

/// Who a write is attributed to (`created_by`): the API key's owner, or the `actor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Author {
    pub(crate) jnid: &'static str,
    pub(crate) name: &'static str,
}

impl Default for Author {
    /// The account admin who created the API key.
    fn default() -> Self {
        let (jnid, name, _) = USERS[0];
        Self { jnid, name }
    }
}

/// Fields a client may send but never change.
const READ_ONLY: &[&str] = &[
    "jnid",
    "recid",
    "number",
    "type",
    "customer",
    "date_created",
    "date_updated",
    "date_status_change",
    "created_by",
    "created_by_name",
    "record_type",
    "status",
    "task_count",
    "attachment_count",
];

/// Date fields must be unix seconds; anything else is refused, as the real API would not
/// store it.
const DATE_FIELDS: &[&str] = &["date_start", "date_end", "date_file_created"];

impl Store {
    pub(crate) fn generate(seed: u64, sizes: Sizes, anchor: i64) -> Self {
        let mut generator = Generator::new(seed);
        let Dataset {
            contacts,
            jobs,
            files,
            activities,
            tasks,
        } = generator.dataset(&sizes, anchor);
        let mut tables: [Table; Resource::ALL.len()] = Default::default();
        tables[Resource::Contacts.index()] = Table::new(contacts);
        tables[Resource::Jobs.index()] = Table::new(jobs);
        tables[Resource::Files.index()] = Table::new(files);
        tables[Resource::Activities.index()] = Table::new(activities);
        tables[Resource::Tasks.index()] = Table::new(tasks);
        Self {
            tables,
            generator,
            sizes,
            changes: Vec::new(),
        }
    }

    /// The records created or saved since the last call, each as stored after its write.
    pub(crate) fn take_changes(&mut self) -> Vec<(Resource, Record)> {
        std::mem::take(&mut self.changes)
    }

    /// Adds a new record (a user or client created it).
    fn insert(&mut self, resource: Resource, record: Record) {
        self.changes.push((resource, record.clone()));
        self.table_mut(resource).push(record);
    }

    /// Saves a new version of an existing record; false if it is gone.
    fn save(&mut self, resource: Resource, jnid: &str, record: Record) -> bool {
        let Some(slot) = self.table_mut(resource).get_mut(jnid) else {
            return false;
        };
        *slot = record.clone();
        self.changes.push((resource, record));
        true
    }

    fn table(&self, resource: Resource) -> &Table {
        &self.tables[resource.index()]
    }

    /// Every write goes through here, so this is where sorted views go stale.
    fn table_mut(&mut self, resource: Resource) -> &mut Table {
        let table = &mut self.tables[resource.index()];
        table
            .sorted
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        table
    }

    pub(crate) fn len(&self, resource: Resource) -> usize {
        self.table(resource).records.len()
    }

    pub(crate) fn get(&self, resource: Resource, jnid: &str) -> Option<&Record> {
        self.table(resource).get(jnid)
    }

    pub(crate) fn all(&self, resource: Resource) -> &[Record] {
        &self.table(resource).records
    }

    /// Filter, sort (stable; ties keep creation order; missing values last, as ES does),
    /// then window and project.
    pub(crate) fn list(&self, resource: Resource, params: &ListParams) -> Page {
        let table = self.table(resource);
        let sort_path: Vec<String> = params.sort_field.split('.').map(str::to_owned).collect();
        let sorted = table.sorted_by(&sort_path, params.descending);
        let ranged = params
            .filter
            .as_ref()
            .and_then(|f| f.numeric_ranges_on(&sort_path))
            .and_then(|bounds| sorted.range(&bounds));
        let (count, window): (usize, Vec<&Record>) = match ranged {
            Some(hits) => (
                hits.len(),
                hits.iter()
                    .skip(params.from)
                    .take(params.size)
                    .map(|&i| &table.records[i])
                    .collect(),
            ),
            None => {
                let mut count = 0;
                let mut window = Vec::with_capacity(params.size.min(1_000));
                for record in sorted.order.iter().map(|&i| &table.records[i]) {
                    if params.filter.as_ref().is_none_or(|f| f.matches(record)) {
                        if count >= params.from && window.len() < params.size {
                            window.push(record);
                        }
                        count += 1;
                    }
                }
                (count, window)
            }
        };
        let results = window
            .into_iter()
            .map(|record| match &params.fields {
                // Projections are rare (health checks, tests): the `Value` detour keeps one
                // implementation of ES's `_source` filtering, and a `Record` serialises the
                // same as the map it came from.
                Some(fields) => Record::from_map(&project(&record.to_map(), fields)),
                None => record.clone(),
            })
            .collect();
        Page { count, results }
    }

    /// `PUT /{jobs,contacts,tasks}/{jnid}`: a partial update.
    pub(crate) fn update(
        &mut self,
        resource: Resource,
        jnid: &str,
        patch: &Map<String, Value>,
        now: i64,
    ) -> Result<Map<String, Value>, SandboxError> {
        if !matches!(
            resource,
            Resource::Jobs | Resource::Contacts | Resource::Tasks
        ) {
            return Err(SandboxError::NotAllowed(format!(
                "PUT is not supported on {}",
                resource.path()
            )));
        }
        let current = self
            .get(resource, jnid)
            .ok_or_else(|| not_found(resource, jnid))?
            .to_map();
        check_types(patch)?;
        let mut next = current.clone();
        for (key, value) in patch {
            if !READ_ONLY.contains(&key.as_str()) {
                next.insert(key.clone(), value.clone());
            }
        }
        let mut status_change = None;
        match resource {
            Resource::Jobs | Resource::Contacts => {
                let workflows = workflows_of(resource);
                let workflow = checked_workflow(workflows, &next)?;
                next.insert("record_type".into(), json!(workflow.id));
                let status = checked_status(workflow, &next)?;
                next.insert("status".into(), json!(status.id));
                let old_status = str_field(&current, "status_name");
                if status.name != old_status {
                    next.insert("date_status_change".into(), json!(now));
                    status_change = Some((old_status.to_owned(), status.name.to_owned()));
                }
                if resource == Resource::Jobs {
                    if let Some(primary) = patch.get("primary") {
                        let link = self.contact_link(primary)?;
                        next.insert("primary".into(), link.clone());
                        next.insert("related".into(), json!([link]));
                    }
                }
                check_names(resource, &next)?;
            }
            _ => {
                let type_id = check_task(&next)?;
                next.insert("record_type".into(), json!(type_id));
            }
        }
        let old_updated = int(&current, "date_updated").unwrap_or(0);
        next.insert("date_updated".into(), json!(now.max(old_updated)));
        let stored = Record::from_map(&next);
        if !self.save(resource, jnid, stored.clone()) {
            return Err(not_found(resource, jnid));
        }
        if let Some((from, to)) = status_change {
            self.log_status_change(&stored, &from, &to, now);
        }
        Ok(next)
    }

    /// `POST /{jobs,contacts,tasks,activities}`, attributed to `author`.
    pub(crate) fn create(
        &mut self,
        resource: Resource,
        body: &Map<String, Value>,
        now: i64,
        author: Author,
    ) -> Result<Map<String, Value>, SandboxError> {
        check_types(body)?;
        let mut record: Map<String, Value> = body
            .iter()
            .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match resource {
            Resource::Jobs | Resource::Contacts => {
                let workflow = checked_workflow(workflows_of(resource), &record)?;
                let status = checked_status(workflow, &record)?;
                record.insert("record_type".into(), json!(workflow.id));
                record.insert("status".into(), json!(status.id));
                if resource == Resource::Jobs {
                    match body.get("primary") {
                        Some(primary) => {
                            let link = self.contact_link(primary)?;
                            record.insert("primary".into(), link.clone());
                            record.insert("related".into(), json!([link]));
                        }
                        None => {
                            record.insert("related".into(), json!([]));
                        }
                    }
                    record.insert("task_count".into(), json!(0));
                    record.insert("attachment_count".into(), json!(0));
                    record.entry("date_start").or_insert_with(|| json!(0));
                    record.entry("date_end").or_insert_with(|| json!(0));
                } else if !record.contains_key("display_name") {
                    let display = [
                        str_field(&record, "first_name"),
                        str_field(&record, "last_name"),
                    ]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                    let display = if display.is_empty() {
                        str_field(&record, "company").to_owned()
                    } else {
                        display
                    };
                    record.insert("display_name".into(), json!(display));
                }
                check_names(resource, &record)?;
                record.insert("date_status_change".into(), json!(now));
            }
            Resource::Tasks => {
                let type_id = check_task(&record)?;
                record.insert("record_type".into(), json!(type_id));
                let related = self.links(body.get("related"))?;
                if let Some(first) = related.first() {
                    record.insert("primary".into(), first.clone());
                }
                record.insert("related".into(), Value::Array(related));
                record.entry("is_completed").or_insert_with(|| json!(false));
                record.entry("date_end").or_insert_with(|| {
                    json!(int(body, "date_start").unwrap_or(now).saturating_add(3_600))
                });
            }
            Resource::Activities => {
                let type_name = str_field(&record, "record_type_name");
                if type_name.is_empty() {
                    return Err(invalid("record_type_name is required"));
                }
                // The status-change log line is JobNimbus's own; clients cannot write one.
                if type_name == STATUS_CHANGE_TYPE || !ACTIVITY_TYPES.contains(&type_name) {
                    return Err(invalid(format!(
                        "record_type_name '{type_name}' is not an activity type a client can create"
                    )));
                }
                if !record.get("note").is_some_and(Value::is_string) {
                    return Err(invalid("note is required and must be a string"));
                }
                let primary = body
                    .get("primary")
                    .ok_or_else(|| invalid("primary is required"))?;
                let primary = self.link(primary)?;
                let mut related = self.links(body.get("related"))?;
                if !related.iter().any(|r| r["id"] == primary["id"]) {
                    related.insert(0, primary.clone());
                }
                record.insert("primary".into(), primary);
                record.insert("related".into(), Value::Array(related));
                record
                    .entry("is_status_change")
                    .or_insert_with(|| json!(false));
                record.insert("is_editable".into(), json!(true));
            }
            Resource::Files => {
                return Err(SandboxError::NotAllowed(
                    "file uploads are not supported by the sandbox".into(),
                ))
            }
        }
        let jnid = self.generator.jnid();
        let recid = self.generator.recid(resource);
        record.insert("jnid".into(), json!(jnid));
        record.insert("recid".into(), json!(recid));
        if resource != Resource::Activities {
            let number = if resource == Resource::Jobs {
                // Job numbers follow on from the generated ones (1001 + recid − 1).
                (1000 + recid).to_string()
            } else {
                recid.to_string()
            };
            record.insert("number".into(), json!(number));
        }
        record.insert("type".into(), json!(resource.record_type()));
        record.insert("customer".into(), json!(CUSTOMER_ID));
        record.insert("created_by".into(), json!(author.jnid));
        record.insert("created_by_name".into(), json!(author.name));
        record.insert("date_created".into(), json!(now));
        record.insert("date_updated".into(), json!(now));
        record.entry("is_active").or_insert_with(|| json!(true));
        if matches!(resource, Resource::Jobs | Resource::Contacts) {
            record.entry("is_archived").or_insert_with(|| json!(false));
        }
        let stored = Record::from_map(&record);
        if resource == Resource::Tasks {
            self.count_on_jobs(&stored, "task_count");
        }
        self.insert(resource, stored);
        Ok(record)
    }

    /// A file whose upload finished: `file` holds everything but the ids, stamps and links,
    /// which are filled here. `related` are the jnids the upload named.
    pub(crate) fn add_file(
        &mut self,
        jnid: &str,
        mut file: Map<String, Value>,
        related: &[String],
        now: i64,
        author: Author,
    ) -> Result<Map<String, Value>, SandboxError> {
        let links = related
            .iter()
            .map(|id| self.link(&json!({ "id": id })))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(primary) = links.first().cloned() else {
            return Err(invalid("related must name at least one record"));
        };
        let recid = self.generator.recid(Resource::Files);
        file.insert("jnid".into(), json!(jnid));
        file.insert("recid".into(), json!(recid));
        file.insert("type".into(), json!(Resource::Files.record_type()));
        file.insert("customer".into(), json!(CUSTOMER_ID));
        file.insert("created_by".into(), json!(author.jnid));
        file.insert("created_by_name".into(), json!(author.name));
        file.insert("date_created".into(), json!(now));
        file.insert("date_updated".into(), json!(now));
        file.entry("date_file_created")
            .or_insert_with(|| json!(now));
        file.insert("is_active".into(), json!(true));
        file.insert("primary".into(), primary);
        file.insert("related".into(), Value::Array(links));
        let stored = Record::from_map(&file);
        self.count_on_jobs(&stored, "attachment_count");
        self.insert(Resource::Files, stored);
        Ok(file)
    }

    /// A fresh jnid for a record that will exist later (a pending upload).
    pub(crate) fn reserve_jnid(&mut self) -> String {
        self.generator.jnid()
    }

    /// Checks that every jnid names a job or contact, so a pending upload is refused up
    /// front rather than at completion.
    pub(crate) fn check_links(&self, related: &[String]) -> Result<(), SandboxError> {
        for id in related {
            self.link(&json!({ "id": id }))?;
        }
        Ok(())
    }

    /// Adds `n` generated jobs (with their files, activities and tasks) created at `now`.
    pub(crate) fn add_generated_jobs(&mut self, n: usize, now: i64) -> Vec<String> {
        let mut jnids = Vec::with_capacity(n);
        for _ in 0..n {
            let contacts = self.len(Resource::Contacts) as u64;
            let pick = self.generator.rng().below(contacts) as usize;
            let contact = self.table(Resource::Contacts).records.get(pick).cloned();
            let bundle = self
                .generator
                .job(contact.as_ref(), now, now, &self.sizes.clone());
            jnids.push(bundle.job.text("jnid").to_owned());
            self.insert(Resource::Jobs, bundle.job);
            for file in bundle.files {
                self.insert(Resource::Files, file);
            }
            for activity in bundle.activities {
                self.insert(Resource::Activities, activity);
            }
            for task in bundle.tasks {
                self.insert(Resource::Tasks, task);
            }
        }
        jnids
    }

    /// Adds `n` generated contacts created at `now`.
    pub(crate) fn add_generated_contacts(&mut self, n: usize, now: i64) -> Vec<String> {
        (0..n)
            .map(|_| {
                let contact = self.generator.contact(now, now);
                let jnid = contact.text("jnid").to_owned();
                self.insert(Resource::Contacts, contact);
                jnid
            })
            .collect()
    }

    /// The "someone is working in the account while you page" fault: `edits` random records
    /// of `resource` are saved (only `date_updated` moves) and, for jobs and contacts,
    /// `inserts` new records appear. Returns how many records changed.
    pub(crate) fn churn(
        &mut self,
        resource: Resource,
        edits: usize,
        inserts: usize,
        now: i64,
    ) -> usize {
        let len = self.len(resource) as u64;
        let mut changed = 0;
        if len > 0 {
            for _ in 0..edits {
                let index = self.generator.rng().below(len) as usize;
                let Some(record) = self.table(resource).records.get(index) else {
                    continue;
                };
                let old = record.int("date_updated").unwrap_or(0);
                let saved = record.with("date_updated", now.max(old));
                let jnid = saved.text("jnid").to_owned();
                if self.save(resource, &jnid, saved) {
                    changed += 1;
                }
            }
        }
        changed += match resource {
            Resource::Jobs => self.add_generated_jobs(inserts, now).len(),
            Resource::Contacts => self.add_generated_contacts(inserts, now).len(),
            _ => 0,
        };
        changed
    }

    /// See `SandboxHandle::purge`.
    pub(crate) fn purge(&mut self, resource: Resource, jnid: &str) -> bool {
        self.table_mut(resource).remove(jnid)
    }

    /// Picks a random jnid of `resource` (for the handle's convenience; deterministic).
    pub(crate) fn random_jnid(&mut self, resource: Resource) -> Option<String> {
        let len = self.len(resource) as u64;
        let index = self.generator.rng().below(len) as usize;
        self.table(resource)
            .records
            .get(index)
            .map(|r| r.text("jnid").to_owned())
    }

    fn log_status_change(&mut self, record: &Record, from: &str, to: &str, now: i64) {
        let mut primary = link_of(record);
        if let Value::Object(p) = &mut primary {
            p.insert("new_status".into(), json!(to));
        }
        let jnid = self.generator.jnid();
        let recid = self.generator.recid(Resource::Activities);
        let (creator_id, creator_name, _) = USERS[0];
        let activity = json!({
            "jnid": jnid,
            "recid": recid,
            "type": "activity",
            "customer": CUSTOMER_ID,
            "created_by": creator_id,
            "created_by_name": creator_name,
            "date_created": now,
            "date_updated": now,
            "record_type_name": STATUS_CHANGE_TYPE,
            "note": format!("Status changed from {from} to {to}"),
            "is_status_change": true,
            "is_editable": false,
            "is_active": true,
            "primary": primary,
            "related": [link_of(record)],
        });
        if let Value::Object(activity) = activity {
            self.insert(Resource::Activities, Record::from_map(&activity));
        }
    }

    /// Counts a new task or file on the jobs it links to. A derived counter, like in
    /// JobNimbus: it neither bumps the job's `date_updated` nor counts as a change.
    fn count_on_jobs(&mut self, record: &Record, counter: &'static str) {
        let Some(Field::List(related)) = record.get("related") else {
            return;
        };
        for link in related.iter() {
            let Field::Object(link) = link else {
                continue;
            };
            if link.text("type") != "job" {
                continue;
            }
            if let Some(job) = self.table_mut(Resource::Jobs).get_mut(link.text("id")) {
                let count = job.int(counter).unwrap_or(0);
                *job = job.with(counter, count + 1);
            }
        }
    }

    /// Resolves `{id}` to a full link to a contact.
    fn contact_link(&self, primary: &Value) -> Result<Value, SandboxError> {
        let id = primary
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("primary.id must be a contact jnid"))?;
        self.get(Resource::Contacts, id)
            .map(link_of)
            .ok_or_else(|| invalid(format!("primary contact {id} not found")))
    }

    /// Resolves `{id}` to a full link to a job or contact (whichever holds the id).
    fn link(&self, reference: &Value) -> Result<Value, SandboxError> {
        let id = reference
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a linked record needs a string id"))?;
        [Resource::Jobs, Resource::Contacts, Resource::Tasks]
            .iter()
            .find_map(|r| self.get(*r, id))
            .map(link_of)
            .ok_or_else(|| invalid(format!("linked record {id} not found")))
    }

    fn links(&self, related: Option<&Value>) -> Result<Vec<Value>, SandboxError> {
        match related {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|item| self.link(item)).collect(),
            Some(_) => Err(invalid("related must be an array of {id}")),
        }
    }
}

/// `{id, type, name, number}` pointing at `record`.
fn link_of(record: &Record) -> Value {
    let name = match record.text("type") {
        "contact" => record.text("display_name"),
        "task" => record.text("title"),
        _ => record.text("name"),
    };
    json!({
        "id": record.text("jnid"),
        "type": record.text("type"),
        "name": name,
        "number": record.text("number"),
    })
}

/// Field readers for request bodies and records being edited (plain JSON maps).
fn int(record: &Map<String, Value>, key: &str) -> Option<i64> {
    record.get(key).and_then(Value::as_i64)
}

fn str_field<'a>(record: &'a Map<String, Value>, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn workflows_of(resource: Resource) -> &'static [Workflow] {
    if resource == Resource::Jobs {
        JOB_WORKFLOWS
    } else {
        CONTACT_WORKFLOWS
    }
}

fn checked_workflow(
    workflows: &'static [Workflow],
    record: &Map<String, Value>,
) -> Result<&'static Workflow, SandboxError> {
    let name = str_field(record, "record_type_name");
    if name.is_empty() {
        return Err(invalid("record_type_name is required"));
    }
    account::workflow(workflows, name)
        .ok_or_else(|| invalid(format!("record_type_name '{name}' is not a workflow")))
}

fn checked_status(
    workflow: &'static Workflow,
    record: &Map<String, Value>,
) -> Result<&'static account::Status, SandboxError> {
    let name = str_field(record, "status_name");
    if name.is_empty() {
        return Err(invalid("status_name is required"));
    }
    workflow.status(name).ok_or_else(|| {
        invalid(format!(
            "status_name '{name}' is not a status of workflow '{}'",
            workflow.name
        ))
    })
}

fn check_names(resource: Resource, record: &Map<String, Value>) -> Result<(), SandboxError> {
    let has = |k: &str| !str_field(record, k).trim().is_empty();
    match resource {
        Resource::Jobs if !has("name") => Err(invalid("name is required")),
        Resource::Contacts
            if !["first_name", "last_name", "display_name", "company"]
                .iter()
                .any(|k| has(k)) =>
        {
            Err(invalid(
                "one of first_name, last_name, display_name or company is required",
            ))
        }
        _ => Ok(()),
    }
}

/// The task type's id when the task is valid.
fn check_task(record: &Map<String, Value>) -> Result<i64, SandboxError> {
    if str_field(record, "title").trim().is_empty() {
        return Err(invalid("title is required"));
    }
    if int(record, "date_start").is_none() {
        return Err(invalid("date_start is required (unix seconds)"));
    }
    let type_name = str_field(record, "record_type_name");
    if type_name.is_empty() {
        return Err(invalid("record_type_name is required"));
    }
    account::task_type(type_name)
        .ok_or_else(|| invalid(format!("record_type_name '{type_name}' is not a task type")))
}

/// Shape checks shared by creates and updates.
fn check_types(body: &Map<String, Value>) -> Result<(), SandboxError> {
    for field in DATE_FIELDS {
        if let Some(value) = body.get(*field) {
            if value.as_i64().is_none() {
                return Err(invalid(format!(
                    "{field} must be unix seconds (an integer)"
                )));
            }
        }
    }
    for field in [
        "is_active",
        "is_archived",
        "is_completed",
        "is_status_change",
    ] {
        if let Some(value) = body.get(field) {
            if !value.is_boolean() {
                return Err(invalid(format!("{field} must be a boolean")));
            }
        }
    }
    for field in ["status_name", "record_type_name", "name", "title", "note"] {
        if let Some(value) = body.get(field) {
            if !value.is_string() {
                return Err(invalid(format!("{field} must be a string")));
            }
        }
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> SandboxError {
    SandboxError::Invalid(message.into())
}

fn not_found(resource: Resource, jnid: &str) -> SandboxError {
    SandboxError::NotFound {
        resource,
        jnid: jnid.to_owned(),
    }
}

/// `fields` projection like ES `_source` filtering: dotted names keep only that part of a
/// nested object (per element inside arrays).
fn project(record: &Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for field in fields {
        let path: Vec<&str> = field.split('.').collect();
        let Some((first, rest)) = path.split_first() else {
            continue;
        };
        let Some(value) = record.get(*first) else {
            continue;
        };
        if let Some(part) = pick(value, rest) {
            match out.get_mut(*first) {
                Some(existing) => merge(existing, part),
                None => {
                    out.insert((*first).to_owned(), part);
                }
            }
        }
    }
    out
}

fn pick(value: &Value, rest: &[&str]) -> Option<Value> {
    let Some((key, rest)) = rest.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Object(map) => {
            let inner = pick(map.get(*key)?, rest)?;
            let mut out = Map::new();
            out.insert((*key).to_owned(), inner);
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|item| {
                    pick(item, &[&[*key], rest].concat()).unwrap_or(Value::Object(Map::new()))
                })
                .collect(),
        )),
        _ => None,
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (slot, v) in a.iter_mut().zip(b) {
                merge(slot, v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobnimbus::sandbox::params::{decode_query, ListParams};

    const NOW: i64 = 1_767_225_600;

    fn store() -> Store {
        Store::generate(
            3,
            Sizes {
                contacts: 50,
                jobs: 100,
                files_per_job: 2,
                activities_per_job: 1,
                tasks_per_job: 1,
            },
            NOW,
        )
    }

    #[test]
    fn range_lookups_through_the_sorted_index_equal_a_full_scan() {
        let mut store = store();
        // Many records sharing seconds, so stable tie order is exercised too.
        store.churn(Resource::Jobs, 40, 5, NOW + 10);
        let middle = store.all(Resource::Jobs)[50].int("date_updated").unwrap();
        // The same ranges with a must_not that matches nothing: same meaning, but the
        // sorted index cannot answer it, so the list scans record by record.
        let scan = r#","must_not":[{"term":{"no_such_field":"x"}}]"#;
        for range in [
            format!(r#"{{"gte":{middle}}}"#),
            format!(r#"{{"gt":{middle}}}"#),
            format!(r#"{{"lt":{middle}}}"#),
            format!(r#"{{"gte":{},"lte":{middle}}}"#, middle - 86_400 * 30),
            r#"{"gte":1e12}"#.to_string(),
        ] {
            for direction in ["asc", "desc"] {
                for (from, size) in [(0, 1000), (3, 7)] {
                    let query = |extra: &str| {
                        format!(
                            r#"sort_field=date_updated&sort_direction={direction}&from={from}&size={size}&filter={{"must":[{{"range":{{"date_updated":{range}}}}}]{extra}}}"#
                        )
                    };
                    let fast = store.list(Resource::Jobs, &params(&query("")));
                    let slow = store.list(Resource::Jobs, &params(&query(scan)));
                    assert_eq!(fast.count, slow.count, "{range} {direction}");
                    assert_eq!(fast.results, slow.results, "{range} {direction} {from}");
                }
            }
        }
    }

    #[test]
    fn a_write_makes_the_sorted_index_see_the_change() {
        let mut store = store();
        let newest = |store: &Store| {
            let page = store.list(
                Resource::Jobs,
                &params("sort_field=date_updated&sort_direction=desc&size=1"),
            );
            page.results[0].text("jnid").to_string()
        };
        let before = newest(&store);
        let jnid = store.all(Resource::Jobs)[7].text("jnid").to_string();
        assert_ne!(before, jnid);
        store
            .update(
                Resource::Jobs,
                &jnid,
                &patch(json!({"description": "x"})),
                NOW + 60,
            )
            .unwrap();
        assert_eq!(newest(&store), jnid);
    }

    fn params(query: &str) -> ListParams {
        ListParams::parse(&decode_query(query).unwrap()).unwrap()
    }

    fn first_job(store: &Store) -> Map<String, Value> {
        store.all(Resource::Jobs)[0].to_map()
    }

    fn patch(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sorting_is_stable_with_missing_values_last_both_ways() {
        let store = store();
        for direction in ["asc", "desc"] {
            let page = store.list(
                Resource::Jobs,
                &params(&format!(
                    "sort_field=nonexistent&sort_direction={direction}"
                )),
            );
            let ids: Vec<&str> = page.results.iter().map(|r| r.text("jnid")).collect();
            let creation: Vec<&str> = store
                .all(Resource::Jobs)
                .iter()
                .map(|r| r.text("jnid"))
                .collect();
            assert_eq!(ids, creation);
        }
    }

    #[test]
    fn projection_keeps_dotted_parts_of_objects_and_arrays() {
        let store = store();
        let job = first_job(&store);
        let projected = project(
            &job,
            &[
                "jnid".into(),
                "primary.id".into(),
                "related.type".into(),
                "nope".into(),
            ],
        );
        assert_eq!(projected.len(), 3);
        assert_eq!(projected["primary"], json!({"id": job["primary"]["id"]}));
        assert_eq!(projected["related"][0], json!({"type": "contact"}));
    }

    #[test]
    fn a_status_change_bumps_dates_and_logs_an_activity() {
        let mut store = store();
        let job = first_job(&store);
        let jnid = str_field(&job, "jnid").to_owned();
        let workflow =
            account::workflow(JOB_WORKFLOWS, str_field(&job, "record_type_name")).unwrap();
        let target = workflow
            .statuses
            .iter()
            .find(|s| s.name != str_field(&job, "status_name"))
            .unwrap();
        let activities = store.len(Resource::Activities);
        let updated = store
            .update(
                Resource::Jobs,
                &jnid,
                &patch(json!({"status_name": target.name})),
                NOW + 10,
            )
            .unwrap();
        assert_eq!(updated["date_updated"], NOW + 10);
        assert_eq!(updated["date_status_change"], NOW + 10);
        assert_eq!(updated["status"], target.id);
        assert_eq!(store.len(Resource::Activities), activities + 1);
        let log = store.all(Resource::Activities).last().unwrap().to_value();
        assert_eq!(log["is_status_change"], true);
        assert_eq!(log["primary"]["id"], jnid.as_str());
        assert_eq!(log["primary"]["new_status"], target.name);
    }

    #[test]
    fn invalid_writes_are_refused_and_change_nothing() {
        let mut store = store();
        let job = first_job(&store);
        let jnid = str_field(&job, "jnid").to_owned();
        for body in [
            json!({"status_name": "Not A Status"}),
            json!({"record_type_name": "Nope"}),
            json!({"date_start": "2024-01-01"}),
            json!({"is_active": "no"}),
            json!({"name": ""}),
            json!({"primary": {"id": "missing"}}),
        ] {
            let err = store
                .update(Resource::Jobs, &jnid, &patch(body.clone()), NOW + 5)
                .unwrap_err();
            assert!(matches!(err, SandboxError::Invalid(_)), "{body}");
        }
        assert_eq!(store.get(Resource::Jobs, &jnid).unwrap().to_map(), job);
        assert!(matches!(
            store.update(Resource::Files, &jnid, &Map::new(), NOW),
            Err(SandboxError::NotAllowed(_))
        ));
    }

    #[test]
    fn created_tasks_link_their_job_and_count_on_it() {
        let mut store = store();
        let job = first_job(&store);
        let jnid = str_field(&job, "jnid").to_owned();
        let before = int(&job, "task_count").unwrap();
        let task = store
            .create(
                Resource::Tasks,
                &patch(json!({
                    "title": "Measure roof",
                    "date_start": NOW + 3600,
                    "record_type_name": "Inspection",
                    "related": [{"id": jnid}],
                })),
                NOW,
                Author::default(),
            )
            .unwrap();
        assert_eq!(task["related"][0]["type"], "job");
        assert_eq!(task["primary"]["id"], jnid.as_str());
        assert_eq!(task["date_created"], NOW);
        let job = store.get(Resource::Jobs, &jnid).unwrap();
        assert_eq!(job.int("task_count").unwrap(), before + 1);
        let missing_title = store.create(
            Resource::Tasks,
            &patch(json!({"date_start": NOW, "record_type_name": "Inspection"})),
            NOW,
            Author::default(),
        );
        assert!(missing_title.is_err());
    }

    #[test]
    fn churn_moves_date_updated_and_adds_jobs() {
        let mut store = store();
        let jobs = store.len(Resource::Jobs);
        let changed = store.churn(Resource::Jobs, 5, 2, NOW + 100);
        assert_eq!(changed, 7);
        assert_eq!(store.len(Resource::Jobs), jobs + 2);
        let bumped = store
            .all(Resource::Jobs)
            .iter()
            .filter(|j| j.int("date_updated") == Some(NOW + 100))
            .count();
        assert!(bumped >= 3, "{bumped}");
    }
}

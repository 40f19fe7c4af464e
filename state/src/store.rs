//! The store: the logic above the rows, shared by both backends: opening (with the checks
//! that leave a bad state untouched), secrets sealed and opened, JSON parsed, the integrity
//! check, the journal's meaning, history, locks and their refusals, export and import.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::backend::{
    self, Backend, HeldLock, IntentRow, ResourceRow, RowChange, StepRow, TryLock, from_ms,
};
use crate::location::Location;
use crate::lock::{LockInfo, StackLock, host_name};
use crate::records::*;
use crate::secrets::{Cipher, SecretsKey};
use crate::{CIPHERTEXT_KEY, StateError};

/// How to open a state.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The key for secrets.
    pub secrets: SecretsKey,
    /// Create the file when it does not exist (otherwise that is an error). A PostgreSQL
    /// database must exist; its tables are created on first open either way.
    pub create: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            secrets: SecretsKey::None,
            create: true,
        }
    }
}

/// An open state: an SQLite file or a PostgreSQL database. Cheap to share (`Arc`); calls
/// are serialized on one connection.
pub struct StateStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("location", &self.shared.location)
            .finish()
    }
}

pub(crate) struct Shared {
    location: Location,
    pub(crate) backend: Box<dyn Backend>,
    cipher: Cipher,
    key: SecretsKey,
    salt: Vec<u8>,
}

const EXPORT_FORMAT: &str = "iac-state-export";
const EXPORT_VERSION: i64 = 1;

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    backend::to_ms(OffsetDateTime::now_utc())
}

impl StateStore {
    /// Opens (or creates) the state file at `path`, migrating an older schema forward.
    ///
    /// A directory, a file that is not SQLite, or a file from a newer schema is refused
    /// with an error naming the file, and the file is left as it was.
    pub fn open(path: &Path, options: OpenOptions) -> Result<StateStore, StateError> {
        StateStore::open_location(&Location::File(path.to_path_buf()), options)
    }

    /// Opens the state at `location`: an SQLite file, or a PostgreSQL database by its
    /// `postgres://` URL (tables created on first use, an older schema migrated forward, a
    /// newer one refused untouched). Errors show the URL without its password.
    pub fn open_location(
        location: &Location,
        options: OpenOptions,
    ) -> Result<StateStore, StateError> {
        let backend: Box<dyn Backend> = match location {
            Location::File(path) => Box::new(backend::sqlite::Sqlite::open(path, options.create)?),
            Location::Postgres(url) => Box::new(backend::postgres::Postgres::open(url)?),
        };
        let has_key = !matches!(options.secrets, SecretsKey::None);
        // A state already sealed with a key file whose file is gone: say so, and make no
        // new key in its place.
        if let SecretsKey::KeyFile(key) = &options.secrets
            && !key.exists()
            && backend.meta_get("secrets.verifier")?.is_some()
        {
            return Err(StateError::MissingKeyFile {
                path: backend.location().to_path_buf(),
                key: key.clone(),
            });
        }
        let salt = match backend.meta_get("secrets.salt")? {
            Some(s) => hex_bytes(&s),
            None if has_key => {
                let mut salt = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
                let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
                hex_bytes(&backend.meta_init("secrets.salt", &hex)?)
            }
            None => Vec::new(),
        };
        let cipher = Cipher::new(&options.secrets, &salt, backend.location())?;
        if cipher.has_key() {
            let stored = match backend.meta_get("secrets.verifier")? {
                Some(v) => v,
                None => backend.meta_init("secrets.verifier", &cipher.verifier()?)?,
            };
            cipher.check_verifier(&stored)?;
        }
        Ok(StateStore {
            shared: Arc::new(Shared {
                location: location.clone(),
                backend,
                cipher,
                key: options.secrets.clone(),
                salt,
            }),
        })
    }

    /// The file; for a PostgreSQL state, its URL without the password.
    pub fn path(&self) -> &Path {
        self.shared.backend.location()
    }

    /// Where the state is (a file, or a database URL whose `Display` hides the password).
    pub fn location(&self) -> &Location {
        &self.shared.location
    }

    /// Whether SQLite granted the WAL journal that was asked for. Some file systems
    /// (network shares without shared memory) refuse it; SQLite then keeps a rollback
    /// journal, which with `synchronous=FULL` is as durable but lets no reader in while
    /// a run writes. The CLI warns when it is not granted. Always true for PostgreSQL.
    pub fn is_wal(&self) -> bool {
        self.shared.backend.is_wal()
    }

    /// Every stack in the state with its resource count and latest deployment.
    pub fn stacks(&self) -> Result<Vec<StackSummary>, StateError> {
        let s = &self.shared;
        let mut out = Vec::new();
        for (stack, resources) in s.backend.stacks()? {
            let last = s.deployments(&stack, Some(1))?.pop();
            out.push(StackSummary {
                stack,
                resources,
                last_deployment: last,
            });
        }
        Ok(out)
    }

    /// Everything recorded for `stack` (empty for an unknown stack), secrets decrypted
    /// back to `{"$secret": v}`. Runs the integrity check first: a failing state is an error.
    pub fn load(&self, stack: &StackId) -> Result<StackState, StateError> {
        let s = &self.shared;
        let mut resources = Vec::new();
        s.backend.resources(stack, &mut |count, row| {
            // Sized from the row count first: growing a vector of 100,000 records by
            // doubling copies them into fresh memory again and again.
            if resources.capacity() == 0 {
                resources.reserve_exact(count);
            }
            let name = row.name;
            // JSON columns are parsed from the backend's buffer, straight into their
            // types: a large state is read without an owned copy of each column.
            let json = |raw: &[u8], column: &str| -> Result<Value, StateError> {
                crate::json::from_slice(raw).map_err(|e| s.bad_json(stack, name, column, e))
            };
            let mut inputs = json(row.inputs, "inputs")?;
            s.cipher.decrypt_in_place(&mut inputs)?;
            let mut outputs = json(row.outputs, "outputs")?;
            s.cipher.decrypt_in_place(&mut outputs)?;
            let dependencies: Vec<String> = serde_json::from_slice(row.dependencies)
                .map_err(|e| s.bad_json(stack, name, "dependencies", e))?;
            let options: ResourceOptionsRecord = serde_json::from_slice(row.options)
                .map_err(|e| s.bad_json(stack, name, "options", e))?;
            let status =
                ResourceStatus::parse(row.status).ok_or_else(|| StateError::Integrity {
                    path: s.path(),
                    stack: stack.clone(),
                    problems: vec![format!(
                        "resource `{name}` has an unknown status `{}`",
                        row.status
                    )],
                })?;
            resources.push(ResourceRecord {
                type_token: row.type_token.to_string(),
                provider: row.provider.to_string(),
                id: row.id.to_string(),
                inputs,
                outputs,
                dependencies,
                options,
                status,
                created_at: row.created_at,
                updated_at: row.updated_at,
                name: name.to_string(),
            });
            Ok(())
        })?;
        let mut outputs = BTreeMap::new();
        for (name, text) in s.backend.outputs(stack)? {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| s.bad_json(stack, &format!("output {name}"), "value", e))?;
            outputs.insert(name, s.cipher.decrypt_value(&v)?);
        }
        let problems = integrity_problems(&resources);
        if !problems.is_empty() {
            return Err(StateError::Integrity {
                path: s.path(),
                stack: stack.clone(),
                problems,
            });
        }
        Ok(StackState {
            stack: stack.clone(),
            resources,
            outputs,
        })
    }

    /// Runs the integrity check on `stack` alone.
    pub fn check(&self, stack: &StackId) -> Result<(), StateError> {
        self.load(stack).map(|_| ())
    }

    /// Locks `stack` for `holder` for as long as the returned [`StackLock`] lives.
    ///
    /// The lock is one the system releases when this process ends, however it ends: an
    /// OS file lock beside a state file, or a PostgreSQL session advisory lock held by a
    /// connection of its own. A crashed run never blocks the next one. A second lock
    /// while a live process holds it is refused naming that holder. A lock row left by a
    /// dead holder is replaced. Where the file system cannot lock files, the row alone
    /// is the lock, and a row whose process is gone is reported as stale (never taken
    /// over; `state force-unlock` removes it).
    pub fn lock(&self, stack: &StackId, holder: &str) -> Result<StackLock, StateError> {
        let s = &self.shared;
        let held = match self.system_lock(stack)? {
            Ok(held) => held,
            Err(info) => {
                return Err(StateError::Locked {
                    stack: stack.clone(),
                    info,
                    stale: false,
                    os_lock: true,
                });
            }
        };
        let info = LockInfo {
            holder: holder.to_string(),
            pid: std::process::id(),
            host: host_name(),
            acquired_at: from_ms(now_ms()),
        };
        // With the system's lock held, a row already there is a dead run's: replace it.
        if let Some(existing) = s.backend.write_lock_row(stack, &info, held.is_some())? {
            return Err(StateError::Locked {
                stack: stack.clone(),
                stale: existing.is_stale(),
                info: existing,
                os_lock: false,
            });
        }
        Ok(StackLock {
            shared: self.shared.clone(),
            stack: stack.clone(),
            released: false,
            held,
        })
    }

    /// The system's lock of `stack` (`None` where there is none to take), or the live
    /// holder that has it. A holder writes its row right after taking the lock, so a busy
    /// lock without a row is tried again for a second before it is called unnamed: its
    /// holder may be about to name itself, or the lock may be held for a moment by a copy
    /// of a released one (a process forked while the lock file was open keeps the lock
    /// until it runs its program, which closes the file). Two runs one after the other in
    /// one process, while another thread starts a program, met the second case.
    fn system_lock(
        &self,
        stack: &StackId,
    ) -> Result<Result<Option<HeldLock>, LockInfo>, StateError> {
        for _ in 0..20 {
            match self.shared.backend.try_lock(stack)? {
                TryLock::Held(held) => return Ok(Ok(Some(held))),
                TryLock::Unsupported => return Ok(Ok(None)),
                TryLock::Busy => {
                    if let Some(info) = self.lock_info(stack)? {
                        return Ok(Err(info));
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(Err(LockInfo {
            holder: "a process that has not named itself".to_string(),
            pid: 0,
            host: host_name(),
            acquired_at: OffsetDateTime::now_utc(),
        }))
    }

    /// Removes the lock row of `stack` that no live process holds; returns who held it.
    ///
    /// A live run's lock is never removed: two runs writing one stack at once is what
    /// the lock exists to prevent, so that is refused naming the holder. With system
    /// locks a dead run's row is replaced by the next run anyway; this is for file
    /// systems without file locks, and for rows left by older versions.
    pub fn force_unlock(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        let held: Option<HeldLock> = match self.system_lock(stack)? {
            Ok(held) => held,
            Err(info) => {
                return Err(StateError::LockedByLiveRun {
                    stack: stack.clone(),
                    info,
                });
            }
        };
        let removed = self.shared.backend.delete_lock_row(stack, None);
        drop(held);
        removed
    }

    /// Who holds the lock of `stack`, if anyone.
    pub fn lock_info(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        self.shared.backend.lock_row(stack)
    }

    /// Records the start of a deployment.
    pub fn begin_deployment(
        &self,
        stack: &StackId,
        kind: DeploymentKind,
    ) -> Result<DeploymentId, StateError> {
        self.shared
            .backend
            .begin_deployment(stack, kind.as_str(), now_ms())
            .map(DeploymentId)
    }

    /// Records how a deployment ended.
    pub fn finish_deployment(
        &self,
        id: DeploymentId,
        result: DeploymentResult,
        counts: &StepCounts,
    ) -> Result<(), StateError> {
        let word = result.as_str();
        let message = match &result {
            DeploymentResult::Failed(m) => Some(m.clone()),
            _ => None,
        };
        let counts = serde_json::to_string(counts).unwrap_or_default();
        self.shared
            .backend
            .finish_deployment(id.0, now_ms(), word, message, counts)
    }

    /// Keeps `report` (JSON without secrets, e.g. a drill's measurements) beside the
    /// deployment `id` (schema version 4).
    pub fn set_deployment_report(
        &self,
        id: DeploymentId,
        report: &Value,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(report).unwrap_or_default();
        self.shared.backend.set_deployment_report(id.0, text)
    }

    /// The reports kept beside `stack`'s deployments, oldest first.
    pub fn deployment_reports(
        &self,
        stack: &StackId,
    ) -> Result<Vec<(DeploymentId, Value)>, StateError> {
        Ok(self
            .shared
            .backend
            .deployment_reports(stack)?
            .into_iter()
            .filter_map(|(d, text)| Some((DeploymentId(d), serde_json::from_str(&text).ok()?)))
            .collect())
    }

    /// Every deployment of `stack`, oldest first. A deployment that never finished (its
    /// process died or is still running) has its counts from its journal: what its steps
    /// did so far, with what a later run reconciled for it. One whose process is gone
    /// (the lock row names a process of this host that no longer runs, or no row is
    /// left) is `Interrupted` even before the next run records it so.
    pub fn history(&self, stack: &StackId) -> Result<Vec<DeploymentRecord>, StateError> {
        let mut records = self.shared.deployments(stack, None)?;
        let holder_gone = self.lock_info(stack)?.is_none_or(|h| h.is_stale());
        for r in &mut records {
            if r.result.is_none() && holder_gone {
                r.result = Some(DeploymentResult::Interrupted);
            }
            let unfinished = matches!(r.result, None | Some(DeploymentResult::Interrupted));
            if r.counts.is_none() && unfinished {
                let steps = self.journal_steps(stack, r.id)?;
                r.counts = (!steps.is_empty()).then(|| journal_counts(&steps));
            }
        }
        Ok(records)
    }

    /// Records intents, durably, in one transaction; returns their ids in order.
    pub fn record_intents(&self, intents: &[NewIntent]) -> Result<Vec<IntentId>, StateError> {
        let s = &self.shared;
        let rows: Vec<IntentRow> = intents
            .iter()
            .map(|i| {
                Ok(IntentRow {
                    stack: i.stack.clone(),
                    deployment: i.deployment.map(|d| d.0),
                    resource: i.resource.clone(),
                    type_token: i.type_token.clone(),
                    provider: i.provider.clone(),
                    operation: i.operation.as_str().to_string(),
                    token: i.token.clone(),
                    inputs: s.cipher.encrypt_value(&i.inputs)?.to_string(),
                })
            })
            .collect::<Result<_, StateError>>()?;
        Ok(s.backend
            .record_intents(rows, now_ms())?
            .into_iter()
            .map(IntentId)
            .collect())
    }

    /// Records the outcome of each step and clears its intent, all in one transaction.
    pub fn complete_steps(&self, results: &[(IntentId, StepOutcome)]) -> Result<(), StateError> {
        let s = &self.shared;
        let steps: Vec<StepRow> = results
            .iter()
            .map(|(id, outcome)| {
                Ok(StepRow {
                    intent: id.0,
                    change: match outcome {
                        StepOutcome::Written(r) => RowChange::Write(row(r, s.seal_record(r)?)),
                        StepOutcome::Deleted => RowChange::Delete,
                        StepOutcome::Failed { error } => RowChange::Fail(error.clone()),
                    },
                })
            })
            .collect::<Result<_, StateError>>()?;
        s.backend
            .complete_steps(steps, now_ms())?
            .map_err(|id| StateError::UnknownIntent { path: s.path(), id })
    }

    /// Intents of `stack` whose results were never recorded (an interrupted run).
    pub fn pending_intents(&self, stack: &StackId) -> Result<Vec<Intent>, StateError> {
        let s = &self.shared;
        s.backend
            .pending_intents(stack)?
            .into_iter()
            .map(
                |(iid, resource, type_token, provider, op, token, inputs, started_at)| {
                    let inputs: Value = serde_json::from_str(&inputs).map_err(|e| {
                        s.bad_json(stack, &format!("journal entry {iid}"), "inputs", e)
                    })?;
                    Ok(Intent {
                        id: IntentId(iid),
                        stack: stack.clone(),
                        operation: Operation::parse(&op).ok_or_else(|| StateError::Integrity {
                            path: s.path(),
                            stack: stack.clone(),
                            problems: vec![format!(
                                "journal entry {iid} has an unknown operation `{op}`"
                            )],
                        })?,
                        inputs: s.cipher.decrypt_value(&inputs)?,
                        resource,
                        type_token,
                        provider,
                        token,
                        started_at,
                    })
                },
            )
            .collect()
    }

    /// The journal's steps of one deployment, in the order they were recorded: what each
    /// did, when it started and ended (milliseconds since the epoch) and how it ended. The
    /// inputs are left out: this is what `history --timeline` draws.
    pub fn journal_steps(
        &self,
        stack: &StackId,
        deployment: DeploymentId,
    ) -> Result<Vec<JournalStep>, StateError> {
        self.shared.backend.journal_steps(stack, deployment.0)
    }

    /// Writes (inserts or replaces) one resource row.
    pub fn put_resource(&self, stack: &StackId, record: &ResourceRecord) -> Result<(), StateError> {
        let sealed = self.shared.seal_record(record)?;
        self.shared
            .backend
            .write_rows(stack, false, vec![row(record, sealed)], None, now_ms())
    }

    /// Removes one resource row; returns whether it existed.
    pub fn remove_resource(&self, stack: &StackId, name: &str) -> Result<bool, StateError> {
        self.shared.backend.remove_resource(stack, name)
    }

    /// Replaces the stack outputs.
    pub fn set_outputs(
        &self,
        stack: &StackId,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<(), StateError> {
        let sealed: Vec<(String, String)> = outputs
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.shared.cipher.encrypt_value(v)?.to_string())))
            .collect::<Result<_, StateError>>()?;
        self.shared
            .backend
            .write_rows(stack, false, Vec::new(), Some(sealed), now_ms())
    }

    /// The state of `stack` as a JSON document, for backup or moving to another state.
    /// Secrets stay encrypted: a backup never holds plain text.
    pub fn export(&self, stack: &StackId) -> Result<Value, StateError> {
        self.load(stack)?;
        let s = &self.shared;
        let (rows, output_rows) = s.backend.export_rows(stack)?;
        let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
        let resources: Vec<Value> = rows
            .into_iter()
            .map(
                |[name, type_token, provider, physical, inputs, outs, deps, options, status]| {
                    json!({
                        "name": name, "type": type_token, "provider": provider, "id": physical,
                        "inputs": parse(&inputs), "outputs": parse(&outs), "dependencies": parse(&deps),
                        "options": parse(&options), "status": status,
                    })
                },
            )
            .collect();
        let outputs: serde_json::Map<String, Value> = output_rows
            .into_iter()
            .map(|(k, v)| (k, parse(&v)))
            .collect();
        let verifier = s.backend.meta_get("secrets.verifier")?;
        Ok(json!({
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "stack": {"project": stack.project, "name": stack.name},
            "secrets": {
                "salt": s.salt.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "verifier": verifier,
            },
            "resources": resources,
            "outputs": outputs,
        }))
    }

    /// Loads an exported document into `stack`, which must have no resources yet. The
    /// document is checked whole (shape, integrity, and that its secrets decrypt with this
    /// file's key) before anything is written.
    pub fn import(&self, stack: &StackId, doc: &Value) -> Result<(), StateError> {
        self.import_document(stack, doc, false)
    }

    /// Like [`StateStore::import`], but replaces whatever `stack` holds (its resources and
    /// outputs) in the same transaction: `state migrate --force`.
    pub fn import_replacing(&self, stack: &StackId, doc: &Value) -> Result<(), StateError> {
        self.import_document(stack, doc, true)
    }

    fn import_document(
        &self,
        stack: &StackId,
        doc: &Value,
        replace: bool,
    ) -> Result<(), StateError> {
        let s = &self.shared;
        let bad = |message: String| StateError::Import {
            path: s.backend.location().to_path_buf(),
            message,
        };
        if doc.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
            return Err(bad(format!(
                "the document is not an `{EXPORT_FORMAT}` (field `format`)"
            )));
        }
        if doc.get("version").and_then(Value::as_i64) != Some(EXPORT_VERSION) {
            return Err(bad(format!(
                "unsupported export version (field `version`, expected {EXPORT_VERSION})"
            )));
        }
        let items = doc
            .get("resources")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("field `resources` must be a list".into()))?;
        // The export's secrets are sealed under the key of the file it came from. With a
        // passphrase that key depends on that file's salt: derive it, check it against the
        // export's verifier, and re-seal every secret under this file's key.
        let salt = doc
            .pointer("/secrets/salt")
            .and_then(Value::as_str)
            .map(hex_bytes)
            .unwrap_or_else(|| s.salt.clone());
        let source = Cipher::new(&s.key, &salt, s.backend.location())?;
        if let Some(v) = doc.pointer("/secrets/verifier").and_then(Value::as_str)
            && source.has_key()
        {
            source.check_verifier(v).map_err(|_| {
                bad("its secrets cannot be decrypted with this file's passphrase or key".into())
            })?;
        }
        let reseal = |v: &Value| -> Result<Value, StateError> {
            s.cipher.encrypt_value(&source.decrypt_value(v)?)
        };
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(name), Some(type_token), Some(provider), Some(id)) =
                (field("name"), field("type"), field("provider"), field("id"))
            else {
                problems.push(format!(
                    "resources[{i}] needs string fields name, type, provider and id"
                ));
                continue;
            };
            let dependencies: Result<Vec<String>, _> =
                serde_json::from_value(item.get("dependencies").cloned().unwrap_or(json!([])));
            let options: Result<ResourceOptionsRecord, _> =
                serde_json::from_value(item.get("options").cloned().unwrap_or(json!({})));
            let status = field("status")
                .as_deref()
                .map(ResourceStatus::parse)
                .unwrap_or(Some(ResourceStatus::Ok));
            let (Ok(dependencies), Ok(options), Some(status)) = (dependencies, options, status)
            else {
                problems.push(format!(
                    "resources[{i}] (`{name}`) has malformed dependencies, options or status"
                ));
                continue;
            };
            let sealed = |key: &str| {
                reseal(item.get(key).unwrap_or(&Value::Null))
                    .map_err(|e| bad(format!("resource `{name}`: its secrets cannot be decrypted with this file's key ({e})")))
            };
            let inputs = sealed("inputs")?;
            let outputs = sealed("outputs")?;
            records.push((
                ResourceRecord {
                    name,
                    type_token,
                    provider,
                    id,
                    inputs: Value::Null,
                    outputs: Value::Null,
                    dependencies,
                    options,
                    status,
                    created_at: 0,
                    updated_at: 0,
                },
                inputs,
                outputs,
            ));
        }
        let plain: Vec<ResourceRecord> = records.iter().map(|(r, _, _)| r.clone()).collect();
        problems.extend(integrity_problems(&plain));
        if !problems.is_empty() {
            return Err(bad(problems.join("; ")));
        }
        let outputs: Vec<(String, Value)> = match doc.get("outputs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(_) => return Err(bad("field `outputs` must be an object".into())),
        };
        let outputs: Vec<(String, Value)> = outputs
            .into_iter()
            .map(|(k, v)| {
                let sealed = reseal(&v).map_err(|e| bad(format!("output `{k}`: {e}")))?;
                Ok((k, sealed))
            })
            .collect::<Result<_, StateError>>()?;
        let existing = if replace {
            None
        } else {
            Some(self.load(stack)?)
        };
        if let Some(existing) = existing.filter(|e| !e.resources.is_empty()) {
            return Err(bad(format!(
                "stack {stack} already has {} resource(s); import only into an empty stack",
                existing.resources.len()
            )));
        }
        let rows = records
            .iter()
            .map(|(r, inputs, outs)| {
                row(
                    r,
                    SealedRecord {
                        inputs: inputs.to_string(),
                        outputs: outs.to_string(),
                        dependencies: serde_json::to_string(&r.dependencies)
                            .unwrap_or_else(|_| "[]".into()),
                        options: serde_json::to_string(&r.options).unwrap_or_else(|_| "{}".into()),
                    },
                )
            })
            .collect();
        let outputs = outputs
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        s.backend
            .write_rows(stack, replace, rows, Some(outputs), now_ms())
    }
}

pub(crate) struct SealedRecord {
    inputs: String,
    outputs: String,
    dependencies: String,
    options: String,
}

/// The row of `r` with its sealed JSON columns.
fn row(r: &ResourceRecord, sealed: SealedRecord) -> ResourceRow {
    ResourceRow {
        name: r.name.clone(),
        type_token: r.type_token.clone(),
        provider: r.provider.clone(),
        id: r.id.clone(),
        inputs: sealed.inputs,
        outputs: sealed.outputs,
        dependencies: sealed.dependencies,
        options: sealed.options,
        status: r.status.as_str().to_string(),
    }
}

impl Shared {
    /// What errors name: the file, or the URL without its password.
    fn path(&self) -> std::path::PathBuf {
        self.backend.location().to_path_buf()
    }

    fn bad_json(
        &self,
        stack: &StackId,
        resource: &str,
        column: &str,
        e: serde_json::Error,
    ) -> StateError {
        StateError::BadJson {
            path: self.path(),
            stack: stack.clone(),
            resource: resource.to_string(),
            column: column.to_string(),
            message: e.to_string(),
        }
    }

    fn seal_record(&self, r: &ResourceRecord) -> Result<SealedRecord, StateError> {
        Ok(SealedRecord {
            inputs: self.cipher.encrypt_value(&r.inputs)?.to_string(),
            outputs: self.cipher.encrypt_value(&r.outputs)?.to_string(),
            dependencies: serde_json::to_string(&r.dependencies).unwrap_or_else(|_| "[]".into()),
            options: serde_json::to_string(&r.options).unwrap_or_else(|_| "{}".into()),
        })
    }

    /// Releases this process's lock row (the system lock goes with the [`StackLock`]).
    pub(crate) fn unlock(&self, stack: &StackId, pid: u32) -> Result<(), StateError> {
        self.backend
            .delete_lock_row(stack, Some((pid, &host_name())))
            .map(|_| ())
    }

    fn deployments(
        &self,
        stack: &StackId,
        last: Option<usize>,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        Ok(self
            .backend
            .deployments(stack, last)?
            .into_iter()
            .map(
                |(id, kind, started, finished, result, message, counts)| DeploymentRecord {
                    id: DeploymentId(id),
                    kind: DeploymentKind::parse(&kind).unwrap_or(DeploymentKind::StateEdit),
                    started_at: from_ms(started),
                    finished_at: finished.map(from_ms),
                    result: result.map(|r| match r.as_str() {
                        "succeeded" => DeploymentResult::Succeeded,
                        "interrupted" => DeploymentResult::Interrupted,
                        _ => DeploymentResult::Failed(message.clone().unwrap_or_default()),
                    }),
                    counts: counts.and_then(|c| serde_json::from_str(&c).ok()),
                },
            )
            .collect())
    }
}

/// What a deployment's journal says its steps did: a create or update that wrote its
/// record, a delete that removed it, a step that failed. A replacement shows as its
/// create and its delete.
fn journal_counts(steps: &[JournalStep]) -> StepCounts {
    let mut c = StepCounts::default();
    for s in steps {
        match (s.operation.as_str(), s.outcome.as_deref()) {
            (_, Some("failed")) => c.failed += 1,
            ("create", Some("written")) => c.created += 1,
            ("update", Some("written")) => c.updated += 1,
            (_, Some("deleted")) => c.deleted += 1,
            _ => {}
        }
    }
    c
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The state's own check: unique names, a physical id on every record, and secrets only
/// in marked form.
///
/// Nothing the engine itself writes fails it. A dependency that names no recorded
/// resource (a data source, which is read anew by every run; a row removed by `state
/// delete`) is no edge: the delete order only concerns recorded objects. Dependencies
/// that form a cycle (records written in different runs, e.g. with `--target`) are not
/// refused either: the delete order places them last, in name order.
fn integrity_problems(resources: &[ResourceRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names: foldhash::HashSet<&str> = foldhash::HashSet::default();
    names.reserve(resources.len());
    for r in resources {
        if !names.insert(r.name.as_str()) {
            problems.push(format!("resource `{}` is recorded twice", r.name));
        }
        if r.id.is_empty() {
            problems.push(format!("resource `{}` has no physical id", r.name));
        }
    }
    for r in resources {
        // A plain `$ciphertext` that failed to decrypt would have errored earlier; a marker
        // object with other keys is malformed.
        for (column, v) in [("inputs", &r.inputs), ("outputs", &r.outputs)] {
            if malformed_marker(v) {
                problems.push(format!(
                    "resource `{}` column `{column}` has a malformed secret marker",
                    r.name
                ));
            }
        }
    }
    problems
}

fn malformed_marker(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            (m.len() > 1 && (m.contains_key(crate::SECRET_KEY) || m.contains_key(CIPHERTEXT_KEY)))
                || m.values().any(malformed_marker)
        }
        Value::Array(items) => items.iter().any(malformed_marker),
        _ => false,
    }
}

//! The journal writer: one thread owns the writes to the state store and commits what
//! arrives together in one transaction (group commit). A step waits for its intent to be
//! durable before it calls the cloud, and for its result to be durable before its
//! dependents start, yet a thousand steps finishing together cost one fsync, not a
//! thousand.

use std::sync::Arc;

use iac_state::{IntentId, NewIntent, ResourceRecord, StackId, StateStore, StepOutcome};
use tokio::sync::{mpsc, oneshot};

enum Msg {
    Intent(NewIntent, oneshot::Sender<Result<IntentId, String>>),
    Complete(IntentId, StepOutcome, oneshot::Sender<Result<(), String>>),
    Put(StackId, ResourceRecord, oneshot::Sender<Result<(), String>>),
    Remove(StackId, String, oneshot::Sender<Result<(), String>>),
}

/// A handle to the writer thread; cheap to clone into every step.
#[derive(Clone)]
pub(crate) struct Journal {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Journal {
    /// Starts the writer thread over `store`. It stops when every handle is dropped.
    pub(crate) fn start(store: Arc<StateStore>) -> Journal {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("iac-journal".into())
            .spawn(move || writer(store, rx))
            .expect("spawning the journal thread");
        Journal { tx }
    }

    /// Records an intent durably; returns its id.
    pub(crate) async fn intent(&self, intent: NewIntent) -> Result<IntentId, String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Intent(intent, tx))?;
        rx.await.map_err(|_| closed())?
    }

    /// Records a step's outcome and clears its intent, durably.
    pub(crate) async fn complete(&self, id: IntentId, outcome: StepOutcome) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Complete(id, outcome, tx))?;
        rx.await.map_err(|_| closed())?
    }

    /// Writes a resource row outside a step (options changes, moving a replaced object
    /// aside, adoption).
    pub(crate) async fn put(&self, stack: &StackId, record: ResourceRecord) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Put(stack.clone(), record, tx))?;
        rx.await.map_err(|_| closed())?
    }

    /// Removes a resource row outside a step.
    pub(crate) async fn remove(&self, stack: &StackId, name: &str) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Remove(stack.clone(), name.to_string(), tx))?;
        rx.await.map_err(|_| closed())?
    }

    fn send(&self, msg: Msg) -> Result<(), String> {
        self.tx.send(msg).map_err(|_| closed())
    }
}

fn closed() -> String {
    "the journal writer stopped".to_string()
}

fn writer(store: Arc<StateStore>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut intents = Vec::new();
        let mut completes = Vec::new();
        for msg in batch {
            match msg {
                Msg::Intent(i, reply) => intents.push((i, reply)),
                Msg::Complete(id, outcome, reply) => completes.push((id, outcome, reply)),
                Msg::Put(stack, record, reply) => {
                    let _ = reply.send(
                        store
                            .put_resource(&stack, &record)
                            .map_err(|e| e.to_string()),
                    );
                }
                Msg::Remove(stack, name, reply) => {
                    let _ = reply.send(
                        store
                            .remove_resource(&stack, &name)
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    );
                }
            }
        }
        if !completes.is_empty() {
            let (items, replies): (Vec<_>, Vec<_>) = completes
                .into_iter()
                .map(|(id, outcome, reply)| ((id, outcome), reply))
                .unzip();
            let result = store.complete_steps(&items).map_err(|e| e.to_string());
            for reply in replies {
                let _ = reply.send(result.clone());
            }
        }
        if !intents.is_empty() {
            let (items, replies): (Vec<_>, Vec<_>) = intents.into_iter().unzip();
            match store.record_intents(&items) {
                Ok(ids) => {
                    for (reply, id) in replies.into_iter().zip(ids) {
                        let _ = reply.send(Ok(id));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(message.clone()));
                    }
                }
            }
        }
    }
}

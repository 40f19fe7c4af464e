//! A world for engine tests: a temporary state file and a fake provider.

use std::sync::Arc;

use iac_dsl::engine::{self, RunOptions};
use iac_dsl::testing::{FakeCloud, FakeProvider};
use iac_dsl::{Deployment, EngineError, Plan, Stack};
use iac_state::{OpenOptions, SecretsKey, StackState, StateStore};
use tempfile::TempDir;

pub struct World {
    pub dir: TempDir,
    pub store: Arc<StateStore>,
    pub fake: FakeProvider,
}

impl World {
    pub fn new() -> World {
        World::with(FakeProvider::new("fake", FakeCloud::new()))
    }

    pub fn with(fake: FakeProvider) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(open(&dir));
        World { dir, store, fake }
    }

    /// A stack `test/dev` with the fake provider registered, declared by `declare`.
    pub fn stack(&self, declare: impl FnOnce(&mut Stack)) -> Stack {
        let mut stack = Stack::new("test", "dev");
        stack.provider("fake", self.fake.clone());
        declare(&mut stack);
        stack
    }

    pub async fn up(&self, stack: Stack) -> Result<Deployment, EngineError> {
        self.up_with(stack, RunOptions::default()).await
    }

    pub async fn up_with(
        &self,
        stack: Stack,
        options: RunOptions,
    ) -> Result<Deployment, EngineError> {
        engine::up(
            stack,
            self.store.clone(),
            &options,
            false,
            &mut |_: &Plan| true,
        )
        .await
    }

    pub async fn destroy(&self, stack: Stack) -> Result<Deployment, EngineError> {
        engine::up(
            stack,
            self.store.clone(),
            &RunOptions::default(),
            true,
            &mut |_: &Plan| true,
        )
        .await
    }

    pub async fn preview(&self, stack: &Stack) -> Result<Plan, EngineError> {
        engine::preview(stack, &self.store, &RunOptions::default(), false).await
    }

    pub fn state(&self) -> StackState {
        self.store.load(&id()).expect("state loads")
    }

    /// The recorded resource `name` of `test/dev`.
    pub fn record(&self, name: &str) -> iac_state::ResourceRecord {
        let state = self.state();
        let found = state.resources.into_iter().find(|r| r.name == name);
        found.unwrap_or_else(|| panic!("`{name}` is recorded"))
    }

    /// Mutating provider calls so far, as `op name`.
    pub fn mutations(&self) -> Vec<String> {
        self.fake
            .calls()
            .into_iter()
            .filter(|c| matches!(c.op, "create" | "update" | "delete"))
            .map(|c| format!("{} {}", c.op, c.name))
            .collect()
    }
}

pub fn open(dir: &TempDir) -> StateStore {
    StateStore::open(
        &dir.path().join("state.db"),
        OpenOptions {
            secrets: SecretsKey::Passphrase("correct horse battery staple".to_string().into()),
            create: true,
        },
    )
    .expect("state opens")
}

pub fn id() -> iac_state::StackId {
    iac_state::StackId {
        project: "test".into(),
        name: "dev".into(),
    }
}

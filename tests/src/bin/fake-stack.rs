//! A stack binary over the fake provider, for testing the command line every stack binary
//! gets: a chain of `count` resources whose fake cloud is a JSON file (`FAKE_CLOUD`, default
//! `fake-cloud.json`), so separate runs of the binary see the same "cloud".

use std::process::ExitCode;

use iac_dsl::Stack;
use iac_dsl::cli::{self, StackConfig};
use iac_dsl::testing::{FakeArgs, FakeCloud, FakeHandle, FakeProvider};
use serde::{Deserialize, Serialize};

/// The engine allocates many small JSON values and strings; mimalloc handles them better
/// than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fake stack's configuration.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeConfig {
    /// Stack name.
    name: String,
    /// How many resources, in a chain.
    count: usize,
    /// A property every resource carries; changing it is an update.
    #[serde(default = "default_size")]
    size: String,
    /// A secret every resource's output `password` reads.
    #[serde(default)]
    password: Option<String>,
    /// Declares `r0` a second time and a resource reading an undeclared one (to test how
    /// bad declarations are reported).
    #[serde(default)]
    broken: bool,
    /// How long every provider call takes, in milliseconds.
    #[serde(default)]
    delay_ms: u64,
    /// Another fake stack (of the same state file) whose `first_id` and `password`
    /// outputs the first resource reads through a stack reference named `upstream`.
    #[serde(default)]
    reads: Option<String>,
}

fn default_size() -> String {
    "small".into()
}

impl StackConfig for FakeConfig {
    fn stack_name(&self) -> String {
        self.name.clone()
    }

    fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.count > 1000 {
            problems.push((
                "count".to_string(),
                format!("must be at most 1000, got {}", self.count),
            ));
        }
        if self.size.is_empty() {
            problems.push(("size".to_string(), "must not be empty".to_string()));
        }
        problems
    }
}

fn build(config: &FakeConfig) -> Stack {
    let cloud =
        FakeCloud::file(std::env::var("FAKE_CLOUD").unwrap_or_else(|_| "fake-cloud.json".into()));
    let mut stack = Stack::new("fake", &config.name);
    let delay = std::time::Duration::from_millis(config.delay_ms);
    stack.provider(
        "fake",
        FakeProvider::new("fake", cloud).latency(move |_, _| delay),
    );
    let upstream = config
        .reads
        .as_ref()
        .map(|name| stack.stack_reference("upstream", iac_dsl::StackId::new("fake", name)));
    let mut prev: Option<FakeHandle> = None;
    for i in 0..config.count {
        let mut args = FakeArgs::new()
            .value("size", &config.size)
            .value("index", i);
        if let Some(p) = &prev {
            args = args.output("parent", &p.id());
        }
        if let (Some(r), 0) = (&upstream, i) {
            args = args
                .output("upstream_id", &r.output::<String>("first_id"))
                .output("upstream_password", &r.output::<String>("password"));
        }
        if let Some(pw) = &config.password {
            args = args.output(
                "password",
                &iac_dsl::Output::known(pw.clone()).into_secret(),
            );
        }
        let h = stack.add(&format!("r{i}"), args);
        if i == 0 {
            stack.export_output("first_id", &h.id());
        }
        prev = Some(h);
    }
    if config.broken {
        stack.add("r0", FakeArgs::new());
        stack.add(
            "orphan",
            FakeArgs::new().output("p", &iac_dsl::Output::<String>::field("ghost", "id")),
        );
    }
    if let Some(pw) = &config.password {
        stack.export_output(
            "password",
            &iac_dsl::Output::known(pw.clone()).into_secret(),
        );
    }
    stack
}

fn main() -> ExitCode {
    cli::run::<FakeConfig, _>("fake", "fake.toml", build)
}

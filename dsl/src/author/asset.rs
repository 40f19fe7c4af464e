//! Assets: files and built artifacts used as resource inputs.
//!
//! An [`Asset`] is a file on disk known by its SHA-256. Resources record the hash, not the
//! path, so the same code gives the same inputs on any machine and a changed file shows in
//! `preview` as an update before anything is uploaded. [`deterministic_zip`] packages
//! files with fixed timestamps, permissions and order, so packaging the same bytes twice
//! gives the same archive and the same hash. [`CargoBinary`] builds a binary of a workspace
//! package when it is missing or older than its sources, which is how a stack packages a
//! Rust Lambda function.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Why an asset could not be read, packaged or built. Every variant names the file or
/// package it is about.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The file could not be read or written.
    #[error("asset {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The archive could not be written.
    #[error("asset {path}: cannot write the zip archive: {message}")]
    Zip {
        /// The archive being written.
        path: PathBuf,
        /// What the zip writer reported.
        message: String,
    },
    /// A zip entry name is empty, absolute, contains `..` or appears twice.
    #[error("asset {path}: invalid entry name {name:?}: {message}")]
    EntryName {
        /// The archive being written.
        path: PathBuf,
        /// The offending entry name.
        name: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// The asset's bytes cannot be had in this process.
    #[error("{reason}")]
    Unavailable {
        /// Why, and how to supply them.
        reason: String,
    },
    /// `cargo` could not be run or the build failed.
    #[error("building {package} ({profile} profile): {message}")]
    Build {
        /// The package being built.
        package: String,
        /// The build profile.
        profile: String,
        /// What went wrong, including cargo's last lines of output on failure.
        message: String,
    },
}

/// A resource input made of bytes (a Lambda function's zip), known by an identity that
/// resource inputs record and plans diff: the SHA-256 of the bytes for a file, or a
/// digest of what the bytes are made from for a built asset, whose bytes are made only
/// when a provider asks for them (a create or a code update), never for a plan.
#[derive(Clone)]
pub struct Asset {
    id: String,
    source: Source,
}

#[derive(Clone)]
enum Source {
    /// A file hashed when declared; its bytes must not change before they are uploaded.
    File { path: PathBuf, sha256: [u8; 32] },
    /// Bytes made on first use by a builder.
    Built(Arc<Built>),
    /// Bytes that cannot be had here (the sources are out of reach); the reason says how
    /// to supply them.
    Unavailable(Arc<str>),
}

/// A builder and, once it ran, its bytes (one build per process however many providers
/// ask, at the same time or not).
struct Built {
    label: String,
    build: Box<dyn Fn() -> Result<Vec<u8>, AssetError> + Send + Sync>,
    bytes: Mutex<Option<Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Asset");
        d.field("id", &self.id);
        match &self.source {
            Source::File { path, .. } => d.field("path", path),
            Source::Built(built) => d.field("built", &built.label),
            Source::Unavailable(reason) => d.field("unavailable", reason),
        };
        d.finish()
    }
}

impl PartialEq for Asset {
    fn eq(&self, other: &Asset) -> bool {
        self.id == other.id && self.path() == other.path()
    }
}

impl Eq for Asset {}

/// The identity of an [`Asset::unavailable`] asset; a stack declaring one keeps the
/// recorded identity instead (`ignore_changes`).
pub const UNAVAILABLE_ID: &str = "unavailable";

impl Asset {
    /// Reads and hashes a file.
    pub fn file(path: impl Into<PathBuf>) -> Result<Asset, AssetError> {
        let path = path.into();
        let bytes = std::fs::read(&path).map_err(|source| AssetError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Asset::hashed(path, &bytes))
    }

    fn hashed(path: PathBuf, bytes: &[u8]) -> Asset {
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        Asset {
            id: hex::encode(sha256),
            source: Source::File { path, sha256 },
        }
        .registered()
    }

    /// An asset known by `id` (a digest of everything its bytes are made from, so that
    /// equal ids mean equal bytes) whose bytes `build` makes the first time a provider
    /// asks for them, and never when nothing needs them. `label` names it in errors.
    pub fn built(
        id: impl Into<String>,
        label: impl Into<String>,
        build: impl Fn() -> Result<Vec<u8>, AssetError> + Send + Sync + 'static,
    ) -> Asset {
        Asset {
            id: id.into(),
            source: Source::Built(Arc::new(Built {
                label: label.into(),
                build: Box::new(build),
                bytes: Mutex::new(None),
            })),
        }
        .registered()
    }

    /// An asset whose bytes cannot be had in this process, with `reason` saying why and
    /// how to supply them. Its identity is [`UNAVAILABLE_ID`]: a stack declares the
    /// resource with `ignore_changes` on the key, so the recorded code stands in for
    /// every command that deploys no new code, and a create fails with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Asset {
        Asset {
            id: UNAVAILABLE_ID.to_string(),
            source: Source::Unavailable(Arc::from(reason.into())),
        }
        .registered()
    }

    fn registered(self) -> Asset {
        registry()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(self.id.clone(), self.clone());
        self
    }

    /// The identity that resource inputs record and plans diff (64 hex digits, or
    /// [`UNAVAILABLE_ID`]).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The identity, for a file asset the SHA-256 of its bytes as lowercase hex; the same
    /// as [`Asset::id`].
    pub fn sha256_hex(&self) -> String {
        self.id.clone()
    }

    /// Whether the bytes can be had here ([`Asset::unavailable`] is the one that cannot).
    pub fn is_available(&self) -> bool {
        !matches!(self.source, Source::Unavailable(_))
    }

    /// Where a file asset's bytes are; `None` for a built or unavailable one.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The bytes: a file's, failing if it changed since it was hashed (a deployment must
    /// upload exactly what the plan showed); a built asset's, building them on first use;
    /// an unavailable asset's reason as the error.
    pub fn read(&self) -> Result<Vec<u8>, AssetError> {
        match &self.source {
            Source::File { path, sha256 } => {
                let bytes = std::fs::read(path).map_err(|source| AssetError::Io {
                    path: path.clone(),
                    source,
                })?;
                let now: [u8; 32] = Sha256::digest(&bytes).into();
                if now != *sha256 {
                    return Err(AssetError::Io {
                        path: path.clone(),
                        source: std::io::Error::other(format!(
                            "changed since the plan was made (sha256 was {}, is now {})",
                            self.id,
                            hex::encode(now)
                        )),
                    });
                }
                Ok(bytes)
            }
            Source::Built(built) => {
                // Held while building: a second caller waits for the first build instead
                // of starting its own.
                let mut bytes = built
                    .bytes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(bytes) = bytes.as_ref() {
                    return Ok(bytes.as_ref().clone());
                }
                let made = Arc::new((built.build)()?);
                *bytes = Some(made.clone());
                Ok(made.as_ref().clone())
            }
            Source::Unavailable(reason) => Err(AssetError::Unavailable {
                reason: reason.to_string(),
            }),
        }
    }
}

/// The assets this process has declared, by identity. Resource inputs carry only the
/// identity; a provider that uploads an asset finds its bytes here with [`bytes_for`].
fn registry() -> &'static Mutex<HashMap<String, Asset>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Asset>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The bytes of the asset whose identity ([`Asset::id`]) is `id`, as declared in this
/// process (a built asset is built now); fails when no such asset was declared, its file
/// changed since, or it cannot be built.
pub fn bytes_for(id: &str) -> Result<Vec<u8>, AssetError> {
    let asset = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(id)
        .cloned();
    match asset {
        Some(asset) => asset.read(),
        None => Err(AssetError::Io {
            path: PathBuf::from(format!("<asset {id}>")),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no asset with this identity was declared by this program",
            ),
        }),
    }
}

/// Writes `bytes` to `path` atomically (a temporary file of its own in the same
/// directory, renamed over it), creating the directory; leaves the file untouched when it
/// already holds these bytes.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AssetError> {
    let io = |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // A temporary file of its own per writer: two processes writing the same file at once
    // (two stacks, two tests) must not rename each other's half-written file.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// One file inside a zip archive built by [`deterministic_zip`].
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// The path inside the archive (`bootstrap`, `lib/x.so`).
    pub name: String,
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// Whether the file is stored with mode 0755 (executables such as `bootstrap`) rather
    /// than 0644.
    pub executable: bool,
}

impl ZipEntry {
    /// An entry from a file on disk, keeping its executable bit.
    pub fn from_file(name: impl Into<String>, path: &Path) -> Result<ZipEntry, AssetError> {
        let io = |source| AssetError::Io {
            path: path.to_path_buf(),
            source,
        };
        let contents = std::fs::read(path).map_err(io)?;
        let executable = is_executable(&std::fs::metadata(path).map_err(io)?);
        Ok(ZipEntry {
            name: name.into(),
            contents,
            executable,
        })
    }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// Packages entries into a zip whose bytes depend only on the entries: sorted by name,
/// timestamps fixed at 1980-01-01, modes 0755 or 0644, deflate at a fixed level.
/// `label` names the archive in errors.
pub fn deterministic_zip(label: &Path, entries: &[ZipEntry]) -> Result<Vec<u8>, AssetError> {
    let mut sorted: Vec<&ZipEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, entry) in sorted.iter().enumerate() {
        let bad = |message| AssetError::EntryName {
            path: label.to_path_buf(),
            name: entry.name.clone(),
            message,
        };
        if entry.name.is_empty() {
            return Err(bad("it is empty"));
        }
        if entry.name.starts_with('/') || entry.name.contains('\\') {
            return Err(bad("it must be a relative path with `/` separators"));
        }
        if entry
            .name
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            return Err(bad("it must not contain `..` or empty components"));
        }
        if i > 0 && sorted[i - 1].name == entry.name {
            return Err(bad("it appears twice"));
        }
    }
    let zip_err = |e: zip::result::ZipError| AssetError::Zip {
        path: label.to_path_buf(),
        message: e.to_string(),
    };
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in sorted {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::DEFAULT)
            .unix_permissions(if entry.executable { 0o755 } else { 0o644 });
        writer
            .start_file(entry.name.as_str(), options)
            .map_err(zip_err)?;
        writer
            .write_all(&entry.contents)
            .map_err(|source| AssetError::Io {
                path: label.to_path_buf(),
                source,
            })?;
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}

/// Packages entries with [`deterministic_zip`] into `out` and returns it as an asset. The
/// file is replaced atomically and left untouched when its bytes would not change.
pub fn zip_asset(out: &Path, entries: &[ZipEntry]) -> Result<Asset, AssetError> {
    let bytes = deterministic_zip(out, entries)?;
    write_atomically(out, &bytes)?;
    Ok(Asset::hashed(out.to_path_buf(), &bytes))
}

/// A binary of a Cargo workspace package, built on demand.
#[derive(Debug, Clone)]
pub struct CargoBinary {
    manifest_dir: PathBuf,
    package: String,
    bin: String,
    profile: String,
    target: Option<String>,
    target_dir: Option<PathBuf>,
    zigbuild: bool,
    path_prepend: Vec<PathBuf>,
}

impl CargoBinary {
    /// The binary `bin` of `package`, whose `Cargo.toml` is in `manifest_dir`, in the
    /// release profile for the host.
    pub fn new(
        manifest_dir: impl Into<PathBuf>,
        package: impl Into<String>,
        bin: impl Into<String>,
    ) -> CargoBinary {
        CargoBinary {
            manifest_dir: manifest_dir.into(),
            package: package.into(),
            bin: bin.into(),
            profile: "release".into(),
            target: None,
            target_dir: None,
            zigbuild: false,
            path_prepend: Vec::new(),
        }
    }

    /// Builds with `cargo zigbuild` (cargo-zigbuild, which links with Zig's linker and can
    /// target an older glibc: `x86_64-unknown-linux-gnu.2.34`) instead of `cargo build`.
    pub fn zigbuild(mut self, yes: bool) -> CargoBinary {
        self.zigbuild = yes;
        self
    }

    /// Puts `dir` first on the `PATH` cargo runs with, where it finds subcommands such as
    /// `cargo-zigbuild` (a project's virtual environment); ignored when it does not exist.
    pub fn path_prepend(mut self, dir: impl Into<PathBuf>) -> CargoBinary {
        self.path_prepend.push(dir.into());
        self
    }

    /// Uses this Cargo target directory instead of `CARGO_TARGET_DIR` or the one
    /// `cargo metadata` reports.
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> CargoBinary {
        self.target_dir = Some(dir.into());
        self
    }

    /// Builds for a target triple instead of the host (for example
    /// `x86_64-unknown-linux-musl`).
    pub fn target(mut self, triple: impl Into<String>) -> CargoBinary {
        self.target = Some(triple.into());
        self
    }

    /// Builds with another Cargo profile.
    pub fn profile(mut self, profile: impl Into<String>) -> CargoBinary {
        self.profile = profile.into();
        self
    }

    fn build_error(&self, message: impl Into<String>) -> AssetError {
        AssetError::Build {
            package: self.package.clone(),
            profile: self.profile.clone(),
            message: message.into(),
        }
    }

    /// Where the binary is (or will be) once built.
    pub fn binary_path(&self) -> Result<PathBuf, AssetError> {
        let mut dir = self.target_directory()?;
        if let Some(target) = &self.target {
            // cargo-zigbuild's `triple.2.34` (a glibc version) builds into `triple`.
            dir.push(target.split_once('.').map_or(target.as_str(), |(t, _)| t));
        }
        // Cargo names the output folder of the `dev` profile `debug`.
        dir.push(if self.profile == "dev" {
            "debug"
        } else {
            &self.profile
        });
        dir.push(&self.bin);
        Ok(dir)
    }

    fn target_directory(&self) -> Result<PathBuf, AssetError> {
        if let Some(dir) = &self.target_dir {
            return Ok(dir.clone());
        }
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            return Ok(PathBuf::from(dir));
        }
        let output = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(&self.manifest_dir)
            .output()
            .map_err(|e| self.build_error(format!("cannot run cargo: {e}")))?;
        if !output.status.success() {
            return Err(self.build_error(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let meta: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| self.build_error(format!("cargo metadata: {e}")))?;
        meta["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| self.build_error("cargo metadata names no target directory"))
    }

    /// Whether the binary is missing or older than any file of the package (its
    /// `Cargo.toml`, `build.rs` and everything under `src/`).
    pub fn is_stale(&self) -> Result<bool, AssetError> {
        let built = match std::fs::metadata(self.binary_path()?).and_then(|m| m.modified()) {
            Ok(time) => time,
            Err(_) => return Ok(true),
        };
        Ok(newest_mtime(&self.manifest_dir).is_some_and(|source| source > built))
    }

    /// Builds the binary when it is missing or stale, calling `notify` with a message
    /// before a build starts (builds take a while; the user should know why), and returns
    /// its path.
    pub fn build_if_stale(&self, notify: impl FnOnce(&str)) -> Result<PathBuf, AssetError> {
        let path = self.binary_path()?;
        if !self.is_stale()? {
            return Ok(path);
        }
        notify(&format!(
            "building {} ({} profile{}) for the `{}` binary; this takes a while the first time",
            self.package,
            self.profile,
            self.target
                .as_deref()
                .map(|t| format!(", target {t}"))
                .unwrap_or_default(),
            self.bin
        ));
        let mut cmd = Command::new(cargo());
        cmd.arg(if self.zigbuild { "zigbuild" } else { "build" })
            .args(["--package", &self.package, "--bin", &self.bin])
            .args(["--profile", &self.profile])
            .current_dir(&self.manifest_dir);
        if let Some(dir) = &self.target_dir {
            cmd.arg("--target-dir").arg(dir);
        }
        if let Some(target) = &self.target {
            cmd.args(["--target", target]);
        }
        let dirs: Vec<&PathBuf> = self.path_prepend.iter().filter(|d| d.is_dir()).collect();
        if !dirs.is_empty() {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(
                dirs.into_iter()
                    .cloned()
                    .chain(std::env::split_paths(&path)),
            )
            .map_err(|e| self.build_error(format!("cannot extend PATH: {e}")))?;
            cmd.env("PATH", joined);
        }
        let output = cmd.output().map_err(|e| {
            self.build_error(format!(
                "cannot run cargo ({e}); install Rust (rustup) or supply the binary prebuilt"
            ))
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let hint = if self.zigbuild && stderr.contains("no such command") {
                "\n`cargo zigbuild` is missing: run scripts/setup, which installs cargo-zigbuild and Zig into .venv".to_string()
            } else if let Some(target) = self
                .target
                .as_deref()
                .filter(|_| stderr.contains("may not be installed"))
            {
                format!(
                    "\nthe standard library for {0} is missing: rustup target add {0}",
                    target.split_once('.').map_or(target, |(t, _)| t)
                )
            } else {
                String::new()
            };
            return Err(self.build_error(format!(
                "cargo {} failed:\n{}{hint}",
                if self.zigbuild { "zigbuild" } else { "build" },
                tail.join("\n")
            )));
        }
        if !path.exists() {
            return Err(self.build_error(format!(
                "cargo build succeeded but {} does not exist",
                path.display()
            )));
        }
        Ok(path)
    }
}

impl CargoBinary {
    /// A digest of everything the binary is built from that is not the toolchain: the
    /// package's `Cargo.toml`, `build.rs` and `src/` (contents and relative paths), the
    /// locked versions and checksums of its dependency tree in the workspace's
    /// `Cargo.lock`, the workspace's `[profile]` tables and the `[workspace.dependencies]`
    /// entries it uses, and the build settings (package, binary, profile, target,
    /// builder). Computed from files alone, without cargo, so an unchanged tree is known to
    /// be unchanged without building it. Fails, naming the file, when the package is out of
    /// reach. Path dependencies' sources and the Rust toolchain's version are not covered.
    pub fn fingerprint(&self) -> Result<String, AssetError> {
        let mut hasher = Sha256::new();
        let mut field = |name: &str, bytes: &[u8]| {
            for part in [name.as_bytes(), bytes] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        };
        field("fingerprint", b"1");
        field("package", self.package.as_bytes());
        field("bin", self.bin.as_bytes());
        field("profile", self.profile.as_bytes());
        field(
            "target",
            self.target.as_deref().unwrap_or("host").as_bytes(),
        );
        field(
            "builder",
            if self.zigbuild { b"zigbuild" } else { b"cargo" },
        );
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| AssetError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let manifest_path = self.manifest_dir.join("Cargo.toml");
        let manifest = read(&manifest_path)?;
        let mut files = vec![PathBuf::from("Cargo.toml")];
        if self.manifest_dir.join("build.rs").is_file() {
            files.push(PathBuf::from("build.rs"));
        }
        let mut pending = vec![PathBuf::from("src")];
        while let Some(dir) = pending.pop() {
            let full = self.manifest_dir.join(&dir);
            let entries = std::fs::read_dir(&full).map_err(|source| AssetError::Io {
                path: full.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let relative = dir.join(entry.file_name());
                if entry.path().is_dir() {
                    pending.push(relative);
                } else {
                    files.push(relative);
                }
            }
        }
        files.sort();
        for file in &files {
            field(
                &file.to_string_lossy().replace('\\', "/"),
                &read(&self.manifest_dir.join(file))?,
            );
        }
        let manifest: toml::Table =
            String::from_utf8_lossy(&manifest)
                .parse()
                .map_err(|e| AssetError::Io {
                    path: manifest_path.clone(),
                    source: std::io::Error::other(format!("not valid TOML: {e}")),
                })?;
        if let Some(root) = self.manifest_dir.ancestors().find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("[workspace]"))
        }) {
            let workspace: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or_default();
            if let Some(profiles) = workspace.get("profile") {
                field("workspace profiles", profiles.to_string().as_bytes());
            }
            let shared = workspace
                .get("workspace")
                .and_then(|w| w.get("dependencies"))
                .and_then(toml::Value::as_table);
            for kind in ["dependencies", "build-dependencies"] {
                for name in manifest
                    .get(kind)
                    .and_then(toml::Value::as_table)
                    .into_iter()
                    .flat_map(|t| t.keys())
                {
                    if let Some(spec) = shared.and_then(|s| s.get(name)) {
                        field(
                            &format!("workspace dependency {name}"),
                            spec.to_string().as_bytes(),
                        );
                    }
                }
            }
            let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
            for line in locked_tree(&lock, &self.package) {
                field("locked", line.as_bytes());
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// The `name version source checksum` lines of `package` and everything it depends on in
/// a `Cargo.lock`, sorted (empty when the lock does not parse or lacks the package).
fn locked_tree(lock: &str, package: &str) -> Vec<String> {
    let Ok(lock) = lock.parse::<toml::Table>() else {
        return Vec::new();
    };
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
        .collect();
    let text = |p: &toml::Table, key: &str| {
        p.get(key)
            .and_then(toml::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut pending = vec![package.to_string()];
    while let Some(wanted) = pending.pop() {
        // A dependency is `name`, `name version` or `name version (source)`.
        let mut words = wanted.split(' ');
        let name = words.next().unwrap_or_default();
        let version = words.next();
        for p in packages
            .iter()
            .filter(|p| text(p, "name") == name && version.is_none_or(|v| text(p, "version") == v))
        {
            let line = format!(
                "{} {} {} {}",
                text(p, "name"),
                text(p, "version"),
                text(p, "source"),
                text(p, "checksum")
            );
            if seen.insert(line) {
                pending.extend(
                    p.get("dependencies")
                        .and_then(toml::Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(toml::Value::as_str)
                        .map(str::to_string),
                );
            }
        }
    }
    seen.into_iter().collect()
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The newest modification time of a package's sources: `Cargo.toml`, `build.rs` and
/// every file under `src/`.
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut consider = |path: &Path| {
        if let Ok(time) = std::fs::metadata(path).and_then(|m| m.modified()) {
            newest = newest.max(Some(time));
        }
    };
    consider(&dir.join("Cargo.toml"));
    consider(&dir.join("build.rs"));
    let mut pending = vec![dir.join("src")];
    while let Some(next) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                consider(&path);
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(bootstrap: &[u8]) -> Vec<ZipEntry> {
        vec![
            ZipEntry {
                name: "lib/readme.txt".into(),
                contents: b"notes".to_vec(),
                executable: false,
            },
            ZipEntry {
                name: "bootstrap".into(),
                contents: bootstrap.to_vec(),
                executable: true,
            },
        ]
    }

    #[test]
    fn packaging_twice_gives_identical_bytes_whatever_the_order() {
        let label = Path::new("x.zip");
        let a = deterministic_zip(label, &entries(b"\x7fELF one")).unwrap();
        let mut reversed = entries(b"\x7fELF one");
        reversed.reverse();
        let b = deterministic_zip(label, &reversed).unwrap();
        assert_eq!(a, b);
        let changed = deterministic_zip(label, &entries(b"\x7fELF two")).unwrap();
        assert_ne!(a, changed);
    }

    #[test]
    fn archive_keeps_names_modes_and_a_fixed_timestamp() {
        let bytes = deterministic_zip(Path::new("x.zip"), &entries(b"run")).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 2);
        assert_eq!(archive.by_index(0).unwrap().name().unwrap(), "bootstrap");
        let file = archive.by_name("bootstrap").unwrap();
        assert_eq!(file.unix_mode().unwrap() & 0o777, 0o755);
        assert_eq!(file.last_modified().unwrap(), DateTime::DEFAULT);
    }

    #[test]
    fn bad_entry_names_are_named() {
        for name in ["", "/abs", "a/../b", "a//b"] {
            let err = deterministic_zip(
                Path::new("x.zip"),
                &[ZipEntry {
                    name: name.into(),
                    contents: vec![],
                    executable: false,
                }],
            )
            .unwrap_err();
            assert!(err.to_string().contains("invalid entry name"), "{err}");
        }
        let mut twice = entries(b"a");
        twice.push(twice[1].clone());
        let err = deterministic_zip(Path::new("x.zip"), &twice).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn zip_asset_hashes_what_it_wrote_and_a_changed_source_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bootstrap");
        std::fs::write(&src, b"version one").unwrap();
        let out = dir.path().join("out/function.zip");
        let first = zip_asset(&out, &[ZipEntry::from_file("bootstrap", &src).unwrap()]).unwrap();
        let again = zip_asset(&out, &[ZipEntry::from_file("bootstrap", &src).unwrap()]).unwrap();
        assert_eq!(first, again);
        assert_eq!(first, Asset::file(&out).unwrap());
        assert_eq!(first.sha256_hex().len(), 64);
        assert_eq!(first.read().unwrap(), std::fs::read(&out).unwrap());

        std::fs::write(&src, b"version two").unwrap();
        let changed = zip_asset(&out, &[ZipEntry::from_file("bootstrap", &src).unwrap()]).unwrap();
        assert_ne!(first.sha256_hex(), changed.sha256_hex());
        // The first asset no longer matches the file: uploading it would not be what the
        // plan showed.
        let err = first.read().unwrap_err();
        assert!(err.to_string().contains("changed since the plan"), "{err}");
    }

    #[test]
    fn writers_packaging_the_same_zip_at_once_all_succeed_and_leave_a_whole_file() {
        // Two stacks or two tests package the same Lambda at the same moment; with one
        // shared temporary name, one writer renamed the other's file away (CI saw
        // "No such file or directory").
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("function.zip");
        let wanted: Vec<Vec<u8>> = (0..6)
            .map(|i| deterministic_zip(&out, &entries(format!("v{i}").as_bytes())).unwrap())
            .collect();
        std::thread::scope(|scope| {
            for i in 0..6 {
                let out = &out;
                scope.spawn(move || {
                    for round in 0..25 {
                        let body = format!("v{}", (i + round) % 6);
                        zip_asset(out, &entries(body.as_bytes())).unwrap();
                    }
                });
            }
        });
        let left = std::fs::read(&out).unwrap();
        assert!(
            wanted.contains(&left),
            "the zip is one writer's whole output"
        );
        let strays: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name != "function.zip")
            .collect();
        assert!(strays.is_empty(), "temporary files left behind: {strays:?}");
    }

    #[test]
    fn declared_assets_are_found_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.zip");
        std::fs::write(&path, b"zip bytes").unwrap();
        let asset = Asset::file(&path).unwrap();
        assert_eq!(bytes_for(&asset.sha256_hex()).unwrap(), b"zip bytes");
        let err = bytes_for(&"0".repeat(64)).unwrap_err();
        assert!(
            err.to_string().contains("no asset with this identity"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Asset::file("/nonexistent/function.zip").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/function.zip"),
            "{err}"
        );
    }

    #[test]
    fn staleness_follows_the_sources() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(pkg.join("src/handler")).unwrap();
        std::fs::write(pkg.join("Cargo.toml"), "[package]").unwrap();
        let source = pkg.join("src/handler/mod.rs");
        std::fs::write(&source, "fn main() {}").unwrap();
        let bin = CargoBinary::new(&pkg, "pkg", "bootstrap").target_dir(dir.path().join("target"));
        let path = bin.binary_path().unwrap();
        assert_eq!(path, dir.path().join("target/release/bootstrap"));
        assert!(bin.is_stale().unwrap(), "a missing binary is stale");

        let set_mtime = |path: &Path, time: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(time)
                .unwrap();
        };
        let now = SystemTime::now();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"built").unwrap();
        set_mtime(&pkg.join("Cargo.toml"), now - Duration::from_secs(60));
        set_mtime(&source, now - Duration::from_secs(60));
        set_mtime(&path, now - Duration::from_secs(30));
        assert!(
            !bin.is_stale().unwrap(),
            "a binary newer than its sources is fresh"
        );
        let mut notified = false;
        assert_eq!(bin.build_if_stale(|_| notified = true).unwrap(), path);
        assert!(!notified, "a fresh binary is not rebuilt");

        set_mtime(&source, now);
        assert!(
            bin.is_stale().unwrap(),
            "a source edited after the build makes it stale"
        );
        let musl = bin
            .clone()
            .target("x86_64-unknown-linux-musl")
            .profile("dev");
        assert_eq!(
            musl.binary_path().unwrap(),
            dir.path()
                .join("target/x86_64-unknown-linux-musl/debug/bootstrap")
        );
    }

    #[test]
    fn a_failed_build_names_the_package_and_shows_cargo_output() {
        let dir = tempfile::tempdir().unwrap();
        let bin = CargoBinary::new(dir.path(), "no-such-package", "bootstrap")
            .target_dir(dir.path().join("target"));
        let mut message = String::new();
        let err = bin.build_if_stale(|m| message = m.to_string()).unwrap_err();
        assert!(
            message.contains("building no-such-package (release profile)"),
            "{message}"
        );
        let text = err.to_string();
        assert!(text.contains("no-such-package"), "{text}");
        assert!(text.contains("cargo build failed"), "{text}");
    }

    #[test]
    fn a_built_asset_is_known_before_it_is_built_and_built_once_when_asked() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = builds.clone();
        let id = "b".repeat(64);
        let asset = Asset::built(id.clone(), "test build", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(b"zip bytes".to_vec())
        });
        assert_eq!(asset.id(), id);
        assert!(asset.is_available());
        assert_eq!(builds.load(Ordering::SeqCst), 0, "declaring builds nothing");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| assert_eq!(bytes_for(&id).unwrap(), b"zip bytes"));
            }
        });
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "one build for every caller"
        );

        let missing = Asset::unavailable("sources out of reach; set THE_ZIP");
        assert!(!missing.is_available());
        assert_eq!(missing.id(), UNAVAILABLE_ID);
        let err = missing.read().unwrap_err();
        assert!(err.to_string().contains("set THE_ZIP"), "{err}");
    }

    #[test]
    fn the_fingerprint_follows_contents_locked_dependencies_and_settings_not_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"pkg\"]\n[workspace.dependencies]\nhex = \"0.4\"\nother = \"1\"\n[profile.small]\ninherits = \"release\"\n",
        )
        .unwrap();
        let lock = |hex_version: &str| {
            format!(
                "version = 4\n[[package]]\nname = \"pkg\"\nversion = \"0.1.0\"\ndependencies = [\"hex\"]\n\n[[package]]\nname = \"hex\"\nversion = \"{hex_version}\"\nsource = \"registry\"\nchecksum = \"abc\"\n\n[[package]]\nname = \"other\"\nversion = \"1.0.0\"\n"
            )
        };
        std::fs::write(root.join("Cargo.lock"), lock("0.4.3")).unwrap();
        let pkg = root.join("pkg");
        std::fs::create_dir_all(pkg.join("src/handler")).unwrap();
        std::fs::write(
            pkg.join("Cargo.toml"),
            "[package]\nname = \"pkg\"\n[dependencies]\nhex.workspace = true\n",
        )
        .unwrap();
        std::fs::write(pkg.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(pkg.join("src/handler/mod.rs"), "// one").unwrap();
        let bin = CargoBinary::new(&pkg, "pkg", "bootstrap");
        let first = bin.fingerprint().unwrap();
        assert_eq!(first.len(), 64);

        // Rewriting the same bytes (a fresh checkout) changes nothing.
        std::fs::write(pkg.join("src/main.rs"), "fn main() {}").unwrap();
        assert_eq!(bin.fingerprint().unwrap(), first);
        // A package the binary does not use is not part of it.
        std::fs::write(
            root.join("Cargo.lock"),
            lock("0.4.3").replace("1.0.0", "1.0.1"),
        )
        .unwrap();
        assert_eq!(bin.fingerprint().unwrap(), first);

        let mut seen = vec![first.clone()];
        let mut changed = |what: &str, fingerprint: String| {
            assert!(!seen.contains(&fingerprint), "{what} changed nothing");
            seen.push(fingerprint);
        };
        std::fs::write(pkg.join("src/handler/mod.rs"), "// two").unwrap();
        changed("an edited source", bin.fingerprint().unwrap());
        std::fs::write(root.join("Cargo.lock"), lock("0.4.4")).unwrap();
        changed("a dependency's new version", bin.fingerprint().unwrap());
        changed(
            "another profile",
            bin.clone().profile("small").fingerprint().unwrap(),
        );
        changed(
            "another target",
            bin.clone()
                .target("x86_64-unknown-linux-gnu.2.34")
                .fingerprint()
                .unwrap(),
        );
        changed(
            "another builder",
            bin.clone().zigbuild(true).fingerprint().unwrap(),
        );

        let gone = CargoBinary::new(root.join("nowhere"), "pkg", "bootstrap");
        let err = gone.fingerprint().unwrap_err();
        assert!(err.to_string().contains("nowhere/Cargo.toml"), "{err}");
    }
}

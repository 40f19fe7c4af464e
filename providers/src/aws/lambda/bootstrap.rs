//! Whether a custom-runtime `bootstrap` executable can start on Lambda's Linux.
//!
//! A Rust binary linked on the build machine needs that machine's glibc symbol versions; if
//! Lambda's image has an older glibc, the function fails at its first cold start with
//! "version `GLIBC_2.xx' not found", long after the deploy succeeded. [`check_bootstrap`]
//! reads the ELF headers instead (machine, interpreter, needed libraries, the `GLIBC_x.y`
//! versions its symbols require) and refuses such a binary before anything is uploaded.

use goblin::elf::Elf;
use goblin::elf::header::{EM_AARCH64, EM_X86_64};

/// What a `bootstrap` executable needs from the Linux that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapInfo {
    /// The Lambda architecture its machine code is for: `x86_64` or `arm64` (or the ELF
    /// machine number for anything else).
    pub architecture: String,
    /// The dynamic loader it asks for (`/lib64/ld-linux-x86-64.so.2`); `None` when it is
    /// statically linked.
    pub interpreter: Option<String>,
    /// The shared libraries it needs (`DT_NEEDED`), in file order.
    pub needed: Vec<String>,
    /// Every `GLIBC_x.y` version its symbols require, lowest first.
    pub glibc_versions: Vec<(u32, u32)>,
    /// Whether it carries no symbol table and no debug information (smaller to download
    /// and unpack on a cold start).
    pub stripped: bool,
}

impl BootstrapInfo {
    /// Whether it runs without a dynamic loader or shared libraries.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// The newest glibc version it requires, if it requires one.
    pub fn max_glibc(&self) -> Option<(u32, u32)> {
        self.glibc_versions.last().copied()
    }
}

/// The glibc version of a Lambda OS-only runtime's image: `provided.al2023` (Amazon
/// Linux 2023) has 2.34, `provided.al2` 2.26; `None` for a runtime this module does not
/// know.
pub fn runtime_glibc(runtime: &str) -> Option<(u32, u32)> {
    match runtime {
        "provided.al2023" => Some((2, 34)),
        "provided.al2" => Some((2, 26)),
        _ => None,
    }
}

/// The libraries every OS-only Lambda image has: glibc's and libgcc's unwinder.
const BASE_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

/// Reads a `bootstrap` executable's headers.
pub fn inspect_bootstrap(bytes: &[u8]) -> Result<BootstrapInfo, String> {
    let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF executable: {e}"))?;
    let architecture = match (elf.header.e_machine, elf.is_64) {
        (EM_X86_64, true) => "x86_64".to_string(),
        (EM_AARCH64, true) => "arm64".to_string(),
        (machine, is_64) => format!(
            "ELF machine {machine} ({}-bit)",
            if is_64 { 64 } else { 32 }
        ),
    };
    let mut glibc_versions: Vec<(u32, u32)> = Vec::new();
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else {
                    continue;
                };
                if let Some(version) = glibc_version(name) {
                    glibc_versions.push(version);
                }
            }
        }
    }
    glibc_versions.sort_unstable();
    glibc_versions.dedup();
    let stripped = !elf.section_headers.iter().any(|section| {
        section.sh_type == goblin::elf::section_header::SHT_SYMTAB
            || elf
                .shdr_strtab
                .get_at(section.sh_name)
                .is_some_and(|name| name.starts_with(".debug_"))
    });
    Ok(BootstrapInfo {
        stripped,
        architecture,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|l| l.to_string()).collect(),
        glibc_versions,
    })
}

/// `GLIBC_2.34` as `(2, 34)`; `None` for other version names (`GLIBC_PRIVATE`, `GCC_3.0`).
fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let (major, minor) = name.strip_prefix("GLIBC_")?.split_once('.')?;
    // `GLIBC_2.2.5` is 2.2: the third part never matters for the runtimes here.
    let minor = minor.split('.').next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Reads a `bootstrap` executable and refuses it, saying why, unless it starts on
/// `runtime` (an OS-only runtime, see [`runtime_glibc`]) on `architecture` (`x86_64` or
/// `arm64`): the machine matches, and it is static or needs only the image's base
/// libraries and no glibc newer than the image's.
pub fn check_bootstrap(
    bytes: &[u8],
    runtime: &str,
    architecture: &str,
) -> Result<BootstrapInfo, String> {
    let info = inspect_bootstrap(bytes)?;
    let Some(image_glibc) = runtime_glibc(runtime) else {
        return Err(format!(
            "runtime `{runtime}` is not an OS-only runtime this check knows (provided.al2023, provided.al2)"
        ));
    };
    if info.architecture != architecture {
        return Err(format!(
            "it is built for {}, the function runs on {architecture}",
            info.architecture
        ));
    }
    if info.is_static() {
        return Ok(info);
    }
    let foreign: Vec<&str> = info
        .needed
        .iter()
        .map(String::as_str)
        .filter(|lib| !BASE_LIBRARIES.contains(lib))
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "it needs shared libraries that {runtime} does not have: {} (link them statically)",
            foreign.join(", ")
        ));
    }
    if let Some(newest) = info.max_glibc().filter(|v| *v > image_glibc) {
        return Err(format!(
            "it needs glibc {}.{} (symbol version GLIBC_{}.{}), {runtime} has {}.{}: build it for the runtime's glibc (cargo zigbuild --target {}-unknown-linux-gnu.{}.{}) or statically (musl)",
            newest.0,
            newest.1,
            newest.0,
            newest.1,
            image_glibc.0,
            image_glibc.1,
            if architecture == "arm64" {
                "aarch64"
            } else {
                "x86_64"
            },
            image_glibc.0,
            image_glibc.1,
        ));
    }
    Ok(info)
}

/// The `bootstrap` entry of a Lambda zip.
pub fn bootstrap_of_zip(zip: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| "the archive has no `bootstrap` at its root".to_string())?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `bootstrap` from the archive: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_version_names_parse() {
        assert_eq!(glibc_version("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version("GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version("GCC_3.0"), None);
    }

    /// This test binary itself: built for the build machine, a dynamic x86_64 executable
    /// needing the build machine's glibc.
    fn own_binary() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn the_build_machines_binary_is_read_as_dynamic_x86_64_with_glibc_versions() {
        let info = inspect_bootstrap(&own_binary()).unwrap();
        assert_eq!(
            info.architecture,
            std::env::consts::ARCH.replace("aarch64", "arm64")
        );
        assert!(!info.is_static(), "{info:?}");
        assert!(info.needed.iter().any(|l| l == "libc.so.6"), "{info:?}");
        assert!(info.max_glibc().is_some_and(|v| v >= (2, 2)), "{info:?}");
        assert!(!info.stripped, "a test binary has its symbols: {info:?}");
    }

    #[test]
    fn a_binary_needing_a_newer_glibc_is_refused_naming_both_versions() {
        // Rewrites a `GLIBC_2.xy` version name in the binary's string table to
        // `GLIBC_2.99`, as if it had been linked on a machine with glibc 2.99.
        let mut bytes = own_binary();
        let at = bytes
            .windows(11)
            .position(|w| {
                w.starts_with(b"GLIBC_2.")
                    && w[8].is_ascii_digit()
                    && w[9].is_ascii_digit()
                    && w[10] == 0
            })
            .expect("the binary names a two-digit glibc version");
        bytes[at + 8..at + 10].copy_from_slice(b"99");
        let info = inspect_bootstrap(&bytes).unwrap();
        let newest = info.max_glibc().unwrap();
        assert_eq!(newest, (2, 99), "{info:?}");
        let err = check_bootstrap(&bytes, "provided.al2023", "x86_64").unwrap_err();
        assert!(
            err.contains("needs glibc 2.99") && err.contains("provided.al2023 has 2.34"),
            "{err}"
        );
    }

    #[test]
    fn the_wrong_architecture_a_foreign_library_and_a_non_elf_are_refused() {
        let bytes = own_binary();
        let err = check_bootstrap(&bytes, "provided.al2023", "arm64").unwrap_err();
        assert!(err.contains("the function runs on arm64"), "{err}");
        let err =
            check_bootstrap(b"#!/bin/sh\necho hi\n", "provided.al2023", "x86_64").unwrap_err();
        assert!(err.contains("not an ELF executable"), "{err}");
        let err = check_bootstrap(&bytes, "python3.12", "x86_64").unwrap_err();
        assert!(err.contains("python3.12"), "{err}");
        // The same binary asking for a library the image lacks (the name rewritten in
        // place, same length).
        let mut foreign = bytes.clone();
        let at = foreign
            .windows(10)
            .position(|w| w == b"libc.so.6\0")
            .expect("the binary needs libc.so.6");
        foreign[at..at + 9].copy_from_slice(b"libz.so.6");
        let err = check_bootstrap(&foreign, "provided.al2023", "x86_64").unwrap_err();
        assert!(err.contains("does not have: libz.so.6"), "{err}");
    }

    #[test]
    fn the_bootstrap_is_found_in_a_zip() {
        let zip = iac_dsl::asset::deterministic_zip(
            std::path::Path::new("f.zip"),
            &[iac_dsl::asset::ZipEntry {
                name: "bootstrap".into(),
                contents: b"code".to_vec(),
                executable: true,
            }],
        )
        .unwrap();
        assert_eq!(bootstrap_of_zip(&zip).unwrap(), b"code");
        let err = bootstrap_of_zip(b"nope").unwrap_err();
        assert!(err.contains("not a zip"), "{err}");
    }
}

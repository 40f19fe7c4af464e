//! Secret encryption: every `{"$secret": v}` inside a stored JSON value becomes
//! `{"$ciphertext": base64(nonce ‖ XChaCha20-Poly1305(json(v)))}` on write and comes back on
//! read. The key is derived from a passphrase with Argon2id (salt in the `meta` table) or
//! read from a key file; the `meta` table keeps a verifier so a wrong key is detected when
//! the file is opened, before anything is decrypted.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{CIPHERTEXT_KEY, SECRET_KEY, StateError};

/// Where the key for secrets comes from.
#[derive(Clone)]
pub enum SecretsKey {
    /// Derived from this passphrase with Argon2id.
    Passphrase(Zeroizing<String>),
    /// 32 random bytes in this file (hex), created with mode 0600 if missing.
    KeyFile(PathBuf),
    /// No key: storing or reading a secret is an error.
    None,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretsKey::Passphrase(_) => f.write_str("Passphrase([redacted])"),
            SecretsKey::KeyFile(p) => write!(f, "KeyFile({})", p.display()),
            SecretsKey::None => f.write_str("None"),
        }
    }
}

/// Argon2id cost: 19 MiB, 2 passes, 1 lane (OWASP's recommended minimum).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const VERIFIER_PLAINTEXT: &[u8] = b"iac-state secrets verifier v1";

/// The cipher of one open state file.
pub(crate) struct Cipher {
    cipher: Option<XChaCha20Poly1305>,
    path: PathBuf,
}

impl Cipher {
    /// Derives or reads the key. `salt` is the file's KDF salt.
    pub(crate) fn new(key: &SecretsKey, salt: &[u8], path: &Path) -> Result<Cipher, StateError> {
        let bytes: Option<Zeroizing<[u8; 32]>> = match key {
            SecretsKey::None => None,
            SecretsKey::Passphrase(p) => {
                let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32))
                    .map_err(|e| crypto(path, format!("Argon2 parameters: {e}")))?;
                let argon = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                );
                let mut out = Zeroizing::new([0u8; 32]);
                argon
                    .hash_password_into(p.as_bytes(), salt, out.as_mut())
                    .map_err(|e| {
                        crypto(path, format!("deriving the key from the passphrase: {e}"))
                    })?;
                Some(out)
            }
            SecretsKey::KeyFile(file) => Some(read_or_create_key_file(file)?),
        };
        Ok(Cipher {
            cipher: bytes.map(|b| XChaCha20Poly1305::new(Key::from_slice(b.as_ref()))),
            path: path.to_path_buf(),
        })
    }

    /// Whether a key was given.
    pub(crate) fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    fn cipher(&self) -> Result<&XChaCha20Poly1305, StateError> {
        self.cipher.as_ref().ok_or_else(|| StateError::NoKey {
            path: self.path.clone(),
        })
    }

    /// Encrypts bytes as base64(nonce ‖ ciphertext).
    pub(crate) fn seal(&self, plaintext: &[u8]) -> Result<String, StateError> {
        let cipher = self.cipher()?;
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .map_err(|_| crypto(&self.path, "encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`Cipher::seal`] made; a wrong key is [`StateError::WrongKey`].
    pub(crate) fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>, StateError> {
        let cipher = self.cipher()?;
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| crypto(&self.path, "a stored ciphertext is not valid base64".into()))?;
        if raw.len() < 24 + 16 {
            return Err(crypto(
                &self.path,
                "a stored ciphertext is truncated".into(),
            ));
        }
        let (nonce, ct) = raw.split_at(24);
        cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map(Zeroizing::new)
            .map_err(|_| StateError::WrongKey {
                path: self.path.clone(),
            })
    }

    /// A fresh verifier for the `meta` table.
    pub(crate) fn verifier(&self) -> Result<String, StateError> {
        self.seal(VERIFIER_PLAINTEXT)
    }

    /// Checks the key against the stored verifier.
    pub(crate) fn check_verifier(&self, stored: &str) -> Result<(), StateError> {
        let plain = self.open(stored)?;
        if plain.as_slice() == VERIFIER_PLAINTEXT {
            Ok(())
        } else {
            Err(StateError::WrongKey {
                path: self.path.clone(),
            })
        }
    }

    /// `value` with every `{"$secret": v}` sealed.
    pub(crate) fn encrypt_value(&self, value: &Value) -> Result<Value, StateError> {
        Ok(match value {
            Value::Object(map) if map.len() == 1 && map.contains_key(SECRET_KEY) => {
                let plain =
                    Zeroizing::new(serde_json::to_vec(&map[SECRET_KEY]).unwrap_or_default());
                let mut out = Map::new();
                out.insert(
                    CIPHERTEXT_KEY.to_string(),
                    Value::String(self.seal(&plain)?),
                );
                Value::Object(out)
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.encrypt_value(v)?)))
                    .collect::<Result<_, StateError>>()?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.encrypt_value(v))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Opens every `{"$ciphertext": ..}` inside `value` in place; rows without secrets
    /// (most of them) are walked once and not copied.
    pub(crate) fn decrypt_in_place(&self, value: &mut Value) -> Result<(), StateError> {
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key(CIPHERTEXT_KEY) => {
                *value = self.decrypt_value(value)?;
            }
            Value::Object(map) => {
                for v in map.values_mut() {
                    self.decrypt_in_place(v)?;
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.decrypt_in_place(v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `value` with every `{"$ciphertext": ..}` opened back into `{"$secret": v}`.
    pub(crate) fn decrypt_value(&self, value: &Value) -> Result<Value, StateError> {
        Ok(match value {
            Value::Object(map) if map.len() == 1 && map.contains_key(CIPHERTEXT_KEY) => {
                let sealed = map[CIPHERTEXT_KEY].as_str().unwrap_or_default();
                let plain = self.open(sealed)?;
                let inner: Value = serde_json::from_slice(&plain)
                    .map_err(|_| crypto(&self.path, "a decrypted secret is not JSON".into()))?;
                let mut out = Map::new();
                out.insert(SECRET_KEY.to_string(), inner);
                Value::Object(out)
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.decrypt_value(v)?)))
                    .collect::<Result<_, StateError>>()?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.decrypt_value(v))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
}

fn crypto(path: &Path, message: String) -> StateError {
    StateError::Crypto {
        path: path.to_path_buf(),
        message,
    }
}

fn read_or_create_key_file(file: &Path) -> Result<Zeroizing<[u8; 32]>, StateError> {
    let io = |context: &str, source: std::io::Error| StateError::Io {
        path: file.to_path_buf(),
        context: context.to_string(),
        source,
    };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let bytes = hex_decode(text.trim())
                .ok_or_else(|| crypto(file, "the key file does not hold 64 hex digits".into()))?;
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rng().fill_bytes(key.as_mut());
            let hex = Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>());
            write_key_file(file, hex.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(io("reading the key file", e)),
    }
}

/// Writes a new key file at `file` holding `text` (a key file's contents), readable by its
/// owner only (mode 0600); refuses to replace a file that is there. For a key made on
/// first use, and for a copy of a state file's key beside a copy of the state.
pub fn write_key_file(file: &Path, text: &[u8]) -> Result<(), StateError> {
    let io = |source: std::io::Error| StateError::Io {
        path: file.to_path_buf(),
        context: "writing the key file".to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(io)?;
    f.write_all(text).map_err(io)?;
    f.sync_all().map_err(io)
}

fn hex_decode(s: &str) -> Option<Zeroizing<[u8; 32]>> {
    if s.len() != 64 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cipher(p: &str) -> Cipher {
        Cipher::new(
            &SecretsKey::Passphrase(p.to_string().into()),
            b"0123456789abcdef",
            Path::new("t.db"),
        )
        .unwrap()
    }

    #[test]
    fn secrets_round_trip_and_leave_no_plain_text() {
        let c = cipher("pw");
        let v = json!({"user": "u", "pw": {"$secret": "hunter2"}, "list": [{"$secret": {"a": 1}}]});
        let sealed = c.encrypt_value(&v).unwrap();
        assert!(!sealed.to_string().contains("hunter2"));
        assert_eq!(sealed["user"], "u");
        assert_eq!(c.decrypt_value(&sealed).unwrap(), v);
    }

    #[test]
    fn a_wrong_passphrase_is_an_error_not_garbage() {
        let sealed = cipher("right")
            .encrypt_value(&json!({"$secret": "x"}))
            .unwrap();
        let err = cipher("wrong").decrypt_value(&sealed).unwrap_err();
        assert!(matches!(err, StateError::WrongKey { .. }));
        let v = cipher("right").verifier().unwrap();
        assert!(cipher("wrong").check_verifier(&v).is_err());
        assert!(cipher("right").check_verifier(&v).is_ok());
    }
}

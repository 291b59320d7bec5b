//! The SCRAM-SHA-256 client the gateway logs in upstream with (RFC 5802 and RFC 7677, no
//! channel binding), and the key cache that makes a repeated login cost a few HMACs.
//!
//! Deriving the salted password takes as many HMAC rounds as the server's iteration count
//! (4,096 by PostgreSQL's default): most of a millisecond of the connection thread, during
//! which the thread's other sessions wait. The salt and iteration count of an account change
//! only with its password, so [`KeyCache`] keeps the keys derived for the last pair it saw,
//! and later logins with that pair skip the derivation.
//!
//! The exchange, with `c` the client nonce and `s` the server's:
//!
//! ```text
//! client-first   n,,n=,r=<c>                      (PostgreSQL takes the user from the startup)
//! server-first   r=<c s>,s=<salt base64>,i=<iterations>
//! client-final   c=biws,r=<c s>,p=<proof base64>
//! server-final   v=<server signature base64>   or   e=<error>
//! ```
//!
//! # Example
//!
//! ```
//! use gatekit_core::pg::scram::{KeyCache, ScramClient};
//!
//! let cache = KeyCache::default();
//! let mut client = ScramClient::new(&[7; 18]);
//! assert!(client.first_message().starts_with(b"n,,n=,r="));
//! // A server-first message whose nonce does not extend the client's is refused.
//! let refused = client.server_first(b"r=other,s=c2FsdA==,i=4096", b"secret", &cache);
//! assert!(refused.is_err());
//! ```

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

/// The most iterations a server may ask for: more would hold the connection thread for
/// long on a cache miss. PostgreSQL's default is 4,096.
pub const MAX_ITERATIONS: u32 = 100_000;

/// The longest salt accepted, in bytes after base64 decoding (PostgreSQL's are 16).
pub const MAX_SALT_LEN: usize = 1024;

/// The longest server-first message accepted, in bytes.
const MAX_SERVER_FIRST_LEN: usize = 4096;

/// The base64 of the GS2 header `n,,`: no channel binding, none wanted.
const CHANNEL_BINDING: &str = "biws";

/// Why a SCRAM exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// A message came when the exchange expected another.
    #[error("the server's SCRAM message came out of order")]
    OutOfOrder,
    /// The server's message is not valid UTF-8.
    #[error("the server's SCRAM message is not UTF-8")]
    NotUtf8,
    /// The server's message does not have the expected form.
    #[error("malformed server {message} message: {what}")]
    Malformed {
        /// Which message: `first` or `final`.
        message: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The server's nonce does not begin with the client's.
    #[error("the server's nonce does not extend the client's")]
    NonceMismatch,
    /// The server asks for more iterations than [`MAX_ITERATIONS`].
    #[error("the server asks for {iterations} iterations; at most {MAX_ITERATIONS} are allowed")]
    TooManyIterations {
        /// The iteration count the server sent.
        iterations: u64,
    },
    /// The server ended the exchange with an error (`e=`).
    #[error("the server refused the login: {reason}")]
    Server {
        /// The server's reason.
        reason: String,
    },
    /// The server's signature is wrong: it does not know the password.
    #[error("the server's signature does not match: it does not know the password")]
    BadServerSignature,
}

/// The keys derived from a password, a salt and an iteration count.
#[derive(Clone)]
struct Keys {
    client: [u8; 32],
    server: [u8; 32],
}

impl Keys {
    /// Derives the keys: `SaltedPassword = Hi(SASLprep(password), salt, iterations)`, then
    /// the client and server keys as HMACs of it.
    fn derive(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Keys {
        let normalized = normalize(password);
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            &normalized,
            &mut salted,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        salted.zeroize();
        Keys {
            client: tag(&key, b"Client Key"),
            server: tag(&key, b"Server Key"),
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.client.zeroize();
        self.server.zeroize();
    }
}

/// The keys for the last password, salt and iteration count a login used.
///
/// Meant to be one per held password, shared by every login with it. A server that sends
/// another salt (the password changed) makes the next login derive again and replace the
/// entry, so the cache never holds more than one pair of keys. The entry is found only
/// with the same password too, so a cache shared by mistake between passwords costs
/// derivations, never a wrong proof.
#[derive(Default)]
pub struct KeyCache {
    last: Mutex<Option<Cached>>,
    derivations: std::sync::atomic::AtomicU64,
}

struct Cached {
    /// SHA-256 of the password the keys were derived from.
    password: [u8; 32],
    salt: Vec<u8>,
    iterations: u32,
    keys: Keys,
}

impl Drop for Cached {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl KeyCache {
    /// How many times keys were derived, not found in the cache.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn keys(&self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Keys {
        let mut fingerprint = zeroize::Zeroizing::new([0u8; 32]);
        fingerprint.copy_from_slice(digest::digest(&digest::SHA256, password).as_ref());
        {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = last.as_ref()
                && c.iterations == iterations.get()
                && c.salt == salt
                && constant_time::verify_slices_are_equal(&c.password, &*fingerprint).is_ok()
            {
                return c.keys.clone();
            }
        }
        // Derived outside the lock: other threads' logins do not wait for this one.
        let keys = Keys::derive(password, salt, iterations);
        self.derivations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            password: *fingerprint,
            salt: salt.to_vec(),
            iterations: iterations.get(),
            keys: keys.clone(),
        });
        keys
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("derivations", &self.derivations())
            .finish_non_exhaustive()
    }
}

/// Where a client is in the exchange.
enum Step {
    /// The first message was made; the server's first is awaited.
    First,
    /// The final message was made; the server's signature is awaited.
    Final { server_signature: [u8; 32] },
    /// The server proved it knows the password.
    Verified,
    /// The exchange failed.
    Done,
}

/// One SCRAM-SHA-256 login, client side.
pub struct ScramClient {
    /// The client's nonce.
    nonce: String,
    /// `n=,r=<client nonce>`, the part of the first message the signatures cover.
    first_bare: String,
    /// The message to send next.
    message: Vec<u8>,
    step: Step,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient").finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A login whose client nonce is the base64 of `random`, which must come from a
    /// cryptographically secure source.
    pub fn new(random: &[u8; 18]) -> Self {
        Self::with_nonce("", STANDARD.encode(random))
    }

    /// A login that names `user` in its first message (PostgreSQL ignores the name and
    /// takes the startup packet's; RFC 7677's example has one) and uses `nonce`.
    fn with_nonce(user: &str, nonce: String) -> Self {
        let first_bare = format!("n={user},r={nonce}");
        let message = format!("n,,{first_bare}").into_bytes();
        ScramClient {
            nonce,
            first_bare,
            message,
            step: Step::First,
        }
    }

    /// Whether the server proved it knows the password ([`ScramClient::server_final`]
    /// succeeded). A server that says the login succeeded before this is an impostor.
    pub fn verified(&self) -> bool {
        matches!(self.step, Step::Verified)
    }

    /// The client-first message, for the `SASLInitialResponse`.
    pub fn first_message(&self) -> &[u8] {
        &self.message
    }

    /// Takes the server-first message and answers the client-final message, with the
    /// proof that the client knows `password`. Keys come from `cache` when it has them for
    /// the server's salt and iteration count.
    pub fn server_first(
        &mut self,
        message: &[u8],
        password: &[u8],
        cache: &KeyCache,
    ) -> Result<&[u8], ScramError> {
        if !matches!(self.step, Step::First) {
            return Err(ScramError::OutOfOrder);
        }
        self.step = Step::Done;
        let first = ServerFirst::parse(message)?;
        if first.nonce.len() <= self.nonce.len() || !first.nonce.starts_with(&self.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let keys = cache.keys(password, &first.salt, first.iterations);

        let without_proof = format!("c={CHANNEL_BINDING},r={}", first.nonce);
        let mut auth =
            String::with_capacity(self.first_bare.len() + message.len() + without_proof.len() + 2);
        auth.push_str(&self.first_bare);
        auth.push(',');
        auth.push_str(first.text);
        auth.push(',');
        auth.push_str(&without_proof);

        let stored = digest::digest(&digest::SHA256, &keys.client);
        let mut signature = tag(
            &hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()),
            auth.as_bytes(),
        );
        let mut proof = keys.client;
        for (p, s) in proof.iter_mut().zip(signature) {
            *p ^= s;
        }
        signature.zeroize();
        let server_signature = tag(
            &hmac::Key::new(hmac::HMAC_SHA256, &keys.server),
            auth.as_bytes(),
        );

        self.message.clear();
        self.message.extend_from_slice(without_proof.as_bytes());
        self.message.extend_from_slice(b",p=");
        self.message
            .extend_from_slice(STANDARD.encode(proof).as_bytes());
        proof.zeroize();
        self.step = Step::Final { server_signature };
        Ok(&self.message)
    }

    /// Takes the server-final message: `Ok` only when the server proved it knows the
    /// password too.
    pub fn server_final(&mut self, message: &[u8]) -> Result<(), ScramError> {
        let Step::Final { server_signature } = std::mem::replace(&mut self.step, Step::Done) else {
            return Err(ScramError::OutOfOrder);
        };
        let malformed = |what| ScramError::Malformed {
            message: "final",
            what,
        };
        let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
        if let Some(reason) = text.strip_prefix("e=") {
            // The server's words reach the log: printable ASCII only, and not much of it.
            let reason = reason.split(',').next().unwrap_or_default();
            return Err(ScramError::Server {
                reason: reason
                    .chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(200)
                    .collect(),
            });
        }
        let value = text
            .strip_prefix("v=")
            .ok_or(malformed("it has neither v= nor e="))?;
        // Extensions after the signature are allowed and ignored (RFC 5802, 7.).
        let value = value.split(',').next().unwrap_or_default();
        if value.len() != 44 {
            return Err(malformed("the signature is not 32 bytes of base64"));
        }
        let sent = STANDARD
            .decode(value)
            .map_err(|_| malformed("the signature is not base64"))?;
        constant_time::verify_slices_are_equal(&sent, &server_signature)
            .map_err(|_| ScramError::BadServerSignature)?;
        self.step = Step::Verified;
        Ok(())
    }
}

/// The server-first message, parsed.
struct ServerFirst<'a> {
    text: &'a str,
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: NonZeroU32,
}

impl<'a> ServerFirst<'a> {
    /// Parses `r=<nonce>,s=<salt>,i=<iterations>`, strictly: a mandatory extension (`m=`)
    /// or any attribute after the iteration count is refused, as PostgreSQL sends none.
    fn parse(message: &'a [u8]) -> Result<Self, ScramError> {
        let malformed = |what| ScramError::Malformed {
            message: "first",
            what,
        };
        if message.len() > MAX_SERVER_FIRST_LEN {
            return Err(malformed("it is too long"));
        }
        let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
        let mut parts = text.split(',');
        let mut attribute = |name: &str, what| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .ok_or(malformed(what))
        };
        let nonce = attribute("r=", "it does not start with the nonce (r=)")?;
        let salt = attribute("s=", "the salt (s=) does not follow the nonce")?;
        let iterations = attribute("i=", "the iteration count (i=) does not follow the salt")?;
        if parts.next().is_some() {
            return Err(malformed("it has attributes after the iteration count"));
        }
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(malformed("the nonce is empty or not printable"));
        }
        if salt.len() > MAX_SALT_LEN.div_ceil(3) * 4 {
            return Err(malformed("the salt is too long"));
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| malformed("the salt is not base64"))?;
        if salt.len() > MAX_SALT_LEN {
            return Err(malformed("the salt is too long"));
        }
        if salt.is_empty() {
            return Err(malformed("the salt is empty"));
        }
        if iterations.is_empty()
            || iterations.len() > 10
            || !iterations.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(malformed("the iteration count is not a number"));
        }
        let count: u64 = iterations
            .parse()
            .map_err(|_| malformed("the iteration count is not a number"))?;
        if count > u64::from(MAX_ITERATIONS) {
            return Err(ScramError::TooManyIterations { iterations: count });
        }
        let iterations = u32::try_from(count)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(malformed("the iteration count is zero"))?;
        Ok(ServerFirst {
            text,
            nonce,
            salt,
            iterations,
        })
    }
}

/// SASLprep of a password, as PostgreSQL applies it: a password that is not UTF-8, or
/// that SASLprep refuses, is used as it is.
fn normalize(password: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let prepared = std::str::from_utf8(password)
        .ok()
        .and_then(|p| stringprep::saslprep(p).ok())
        .map(|p| p.into_owned().into_bytes());
    zeroize::Zeroizing::new(prepared.unwrap_or_else(|| password.to_vec()))
}

/// HMAC-SHA-256 of `data` under `key`.
fn tag(key: &hmac::Key, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, data).as_ref());
    out
}

#[cfg(test)]
mod tests;

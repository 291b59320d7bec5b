//! The hash chain: keys, heads, line hashes and the encoder that writes records.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::AuditEvent;
use super::{MAX_LINE_BYTES, VerifyError};
use crate::json::TimestampWriter;

/// The `prev` of the first record of a trail: 32 zero bytes (64 `0` hex digits).
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The shortest HMAC chain key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// An HMAC-SHA256 key for a chain: with one, rewriting the trail needs the key.
///
/// Holds the keyed MAC state, so hashing a line does not redo the key schedule.
#[derive(Clone)]
pub struct ChainKey {
    mac: Hmac<Sha256>,
}

impl ChainKey {
    /// A key from its bytes (at least [`MIN_KEY_BYTES`]).
    pub fn new(key: &[u8]) -> Result<ChainKey, VerifyError> {
        let too_short = VerifyError::KeyTooShort {
            len: key.len(),
            min: MIN_KEY_BYTES,
        };
        if key.len() < MIN_KEY_BYTES {
            return Err(too_short);
        }
        // HMAC takes keys of any length; the error arm cannot be reached.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| too_short)?;
        Ok(ChainKey { mac })
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// The hash that chains a record's line (its bytes without the newline) to the next record:
/// SHA-256, or HMAC-SHA256 under a key.
pub fn line_hash(key: Option<&ChainKey>, line: &[u8]) -> [u8; 32] {
    match key {
        Some(k) => {
            let mut mac = k.mac.clone();
            mac.update(line);
            mac.finalize().into_bytes().into()
        }
        None => Sha256::digest(line).into(),
    }
}

/// Where a chain stands: the last record's seq and the hash of its line.
///
/// Seq 0 with [`GENESIS_HASH`] is the empty trail. Serialized as
/// `{"seq":N,"hash":"<64 hex digits>"}` (the checkpoint format).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    /// The last record's seq (0: no record yet).
    pub seq: u64,
    /// The hash of that record's line ([`GENESIS_HASH`] for seq 0).
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty trail.
    pub const GENESIS: ChainHead = ChainHead {
        seq: 0,
        hash: GENESIS_HASH,
    };

    /// The hash as 64 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// Parses the checkpoint format, `{"seq":N,"hash":"<64 hex digits>"}`.
    pub fn parse(bytes: &[u8]) -> Result<ChainHead, VerifyError> {
        serde_json::from_slice(bytes).map_err(|e| VerifyError::BadHead {
            detail: e.to_string(),
        })
    }

    /// The checkpoint format, `{"seq":N,"hash":"<64 hex digits>"}`.
    pub fn to_json(&self) -> String {
        format!(r#"{{"seq":{},"hash":"{}"}}"#, self.seq, self.hash_hex())
    }
}

impl fmt::Debug for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ChainHead {{ seq: {}, hash: {} }}",
            self.seq,
            self.hash_hex()
        )
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {} hash {}", self.seq, self.hash_hex())
    }
}

impl Serialize for ChainHead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ChainHead", 2)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("hash", &Hex(&self.hash))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for ChainHead {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw<'a> {
            seq: u64,
            #[serde(borrow)]
            hash: std::borrow::Cow<'a, str>,
        }
        let raw = Raw::deserialize(d)?;
        let hash = decode_hash(&raw.hash)
            .ok_or_else(|| serde::de::Error::custom("hash must be 64 hex digits"))?;
        Ok(ChainHead { seq: raw.seq, hash })
    }
}

/// Decodes 64 hex digits into a hash.
pub(crate) fn decode_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A hash serialized as lowercase hex without allocating.
struct Hex<'a>(&'a [u8; 32]);

impl Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

/// The most bytes a line's chain fields, braces and `truncated` flag take:
/// `{"seq":<20 digits>,"ts":"<at most 35>","prev":"<64 hex>",` and `,"truncated":true}`,
/// rounded up. An event whose fields leave less room than this is shrunk.
const CHAIN_FIELDS_MAX: usize = 192;

/// An event serialized ahead of its chain fields (`seq`, `ts`, `prev`).
///
/// A writer that shares one chain between threads prepares events outside its lock; under
/// the lock, [`ChainEncoder::encode_prepared`] only stamps, copies and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedEvent {
    /// The event's JSON object, `{"event":"command","session":…}` (empty only when nothing
    /// could be serialized); its members go after the chain fields.
    object: Vec<u8>,
    /// Whether the event's fields were cut to fit a line.
    truncated: bool,
}

impl PreparedEvent {
    /// Serializes `event`. One that would not fit in a line is cut
    /// (its text fields and lists shortened) and marked `"truncated": true`.
    pub fn new(event: &AuditEvent) -> PreparedEvent {
        let mut members = Vec::with_capacity(512);
        if event.write_json(&mut members) && members.len() + CHAIN_FIELDS_MAX <= MAX_LINE_BYTES {
            return PreparedEvent {
                object: members,
                truncated: false,
            };
        }
        members.clear();
        let mut truncated = false;
        let mut written = serde_json::to_writer(&mut members, event);
        if written.is_ok() && members.len() + CHAIN_FIELDS_MAX > MAX_LINE_BYTES {
            members.clear();
            let mut small = event.clone();
            small.shrink();
            truncated = true;
            written = serde_json::to_writer(&mut members, &small);
        }
        if let Err(e) = written {
            members.clear();
            truncated = false;
            let stand_in = Unencodable {
                event: "anomaly",
                kind: "unencodable_event",
                detail: e.to_string(),
            };
            // A struct of plain strings always serializes; an error here leaves an empty
            // object, which any verifier then reports at this record's seq.
            if serde_json::to_writer(&mut members, &stand_in).is_err() {
                members.clear();
            }
        }
        PreparedEvent {
            object: members,
            truncated,
        }
    }

    /// The object's members, without its braces.
    fn members(&self) -> &[u8] {
        self.object
            .strip_prefix(b"{")
            .and_then(|m| m.strip_suffix(b"}"))
            .unwrap_or(&self.object)
    }

    /// The serialized length, without the chain fields.
    pub fn len(&self) -> usize {
        self.members().len()
    }

    /// Whether nothing was serialized (only for an event no serializer could write).
    pub fn is_empty(&self) -> bool {
        self.members().is_empty()
    }
}

/// What stands in for an event that could not be serialized (no event type can fail today).
#[derive(Serialize)]
struct Unencodable {
    event: &'static str,
    kind: &'static str,
    detail: String,
}

/// Writes records: numbers them, stamps them and chains each to the line before it.
///
/// ```
/// use gatekit_core::audit::{AuditEvent, ChainEncoder, ChainVerifier, ConfigReloadEvent};
///
/// let mut enc = ChainEncoder::new(None);
/// let event = AuditEvent::ConfigReload(ConfigReloadEvent { path: None, sha256: None, error: None });
/// let line = enc.encode("2024-06-01T12:00:00Z".parse().unwrap(), &event);
/// assert!(line.starts_with(br#"{"seq":1,"ts":"2024-06-01T12:00:00Z","prev":"000000"#));
///
/// let mut v = ChainVerifier::new(None).with_checkpoint(enc.head());
/// v.push_line(&line).unwrap();
/// assert_eq!(v.finish().unwrap(), enc.head());
/// ```
#[derive(Clone, Debug)]
pub struct ChainEncoder {
    next_seq: u64,
    prev: [u8; 32],
    key: Option<ChainKey>,
    ts: TimestampWriter,
}

impl ChainEncoder {
    /// An encoder for a new trail: the first record gets seq 1 and the genesis `prev`.
    pub fn new(key: Option<ChainKey>) -> ChainEncoder {
        ChainEncoder::resume(ChainHead::GENESIS, key)
    }

    /// An encoder that continues a trail whose last record is `head`.
    pub fn resume(head: ChainHead, key: Option<ChainKey>) -> ChainEncoder {
        ChainEncoder {
            next_seq: head.seq.saturating_add(1),
            prev: head.hash,
            key,
            ts: TimestampWriter::default(),
        }
    }

    /// The last record encoded (or the head resumed from).
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.next_seq - 1,
            hash: self.prev,
        }
    }

    /// Encodes `event` as the next record, stamped `now`: one line with its trailing newline.
    pub fn encode(&mut self, now: jiff::Timestamp, event: &AuditEvent) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.encode_into(now, event, &mut out);
        out
    }

    /// Appends the next record's line (with its newline) to `out`; returns its length.
    ///
    /// The key order is fixed: `seq`, `ts`, `prev`, `event`, then the event's fields. A record
    /// that would exceed [`MAX_LINE_BYTES`] is written with its text fields and lists cut, and
    /// `"truncated": true`.
    pub fn encode_into(
        &mut self,
        now: jiff::Timestamp,
        event: &AuditEvent,
        out: &mut Vec<u8>,
    ) -> usize {
        self.encode_prepared(now, &PreparedEvent::new(event), out)
    }

    /// Appends the next record's line for an event serialized beforehand (see
    /// [`PreparedEvent`]): the same bytes as [`ChainEncoder::encode_into`] writes.
    pub fn encode_prepared(
        &mut self,
        now: jiff::Timestamp,
        event: &PreparedEvent,
        out: &mut Vec<u8>,
    ) -> usize {
        let start = out.len();
        let members = event.members();
        out.reserve(CHAIN_FIELDS_MAX + members.len());
        out.extend_from_slice(b"{\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.next_seq).as_bytes());
        out.extend_from_slice(b",\"ts\":\"");
        self.ts.write(now, out);
        out.extend_from_slice(b"\",\"prev\":\"");
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        if hex::encode_to_slice(self.prev, &mut hex).is_ok() {
            out.extend_from_slice(&hex);
        }
        out.push(b'"');
        if !members.is_empty() {
            out.push(b',');
            out.extend_from_slice(members);
        }
        if event.truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
        self.prev = line_hash(self.key.as_ref(), &out[start..]);
        self.next_seq = self.next_seq.saturating_add(1);
        out.push(b'\n');
        out.len() - start
    }
}

//! The members every `command` record of a session repeats (`session`, `identity`, `target`,
//! `protocol`), written once per session and thread, then copied.
//!
//! A hit needs the very same `Arc`s: the memo holds clones of them, so their addresses cannot
//! be reused while an entry lives, and their contents are immutable, so a hit cannot give
//! another session's bytes.

use std::cell::RefCell;
use std::sync::Arc;

use crate::json::{self, Object};
use crate::{Identity, Protocol};

/// Entries kept per thread: enough for the sessions one connection thread interleaves.
const ENTRIES: usize = 64;

struct Entry {
    session: Arc<str>,
    identity: Arc<Identity>,
    target: Arc<str>,
    protocol: Protocol,
    /// The members, with their leading comma.
    json: Box<[u8]>,
}

impl Entry {
    fn is_for(
        &self,
        session: &Arc<str>,
        identity: &Arc<Identity>,
        target: &Arc<str>,
        protocol: Protocol,
    ) -> bool {
        Arc::ptr_eq(&self.session, session)
            && Arc::ptr_eq(&self.identity, identity)
            && Arc::ptr_eq(&self.target, target)
            && self.protocol == protocol
    }
}

/// The entries, at most [`ENTRIES`].
#[derive(Default)]
struct Memo {
    entries: Vec<Entry>,
    /// The entry to replace next once full.
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Writes the session's members as serde writes them, each after a comma.
fn write(out: &mut Vec<u8>, session: &str, identity: &Identity, target: &str, protocol: Protocol) {
    let mut o = Object::resume(out);
    o.str("session", session);
    identity_json(o.key("identity"), identity);
    o.str("target", target);
    o.name("protocol", protocol.name());
}

/// An identity's JSON object, as serde writes it.
fn identity_json(out: &mut Vec<u8>, i: &Identity) {
    let mut o = Object::new(out);
    o.str("subject", &i.subject);
    o.opt_str("email", i.email.as_deref());
    json::strings(o.key("groups"), i.groups.iter().map(String::as_str));
    if let Some(at) = i.expires_at {
        o.ts("expires_at", at);
    }
    o.opt_str("token_id", i.token_id.as_deref());
    o.end();
}

/// Appends `,"session":…,"identity":{…},"target":…,"protocol":…` to an object that already
/// has a member, from the memo when this thread wrote them for the same `Arc`s.
pub(super) fn append(
    out: &mut Vec<u8>,
    session: &Arc<str>,
    identity: &Arc<Identity>,
    target: &Arc<str>,
    protocol: Protocol,
) {
    let hit = MEMO.with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return false;
        };
        if let Some(e) = memo
            .entries
            .iter()
            .find(|e| e.is_for(session, identity, target, protocol))
        {
            out.extend_from_slice(&e.json);
            return true;
        }
        let mut json = Vec::with_capacity(160);
        write(&mut json, session, identity, target, protocol);
        out.extend_from_slice(&json);
        let entry = Entry {
            session: Arc::clone(session),
            identity: Arc::clone(identity),
            target: Arc::clone(target),
            protocol,
            json: json.into(),
        };
        if memo.entries.len() < ENTRIES {
            memo.entries.push(entry);
        } else {
            let i = memo.next;
            memo.next = (i + 1) % ENTRIES;
            memo.entries[i] = entry;
        }
        true
    });
    if !hit {
        write(out, session, identity, target, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(session: &str, identity: &Identity, target: &str, protocol: Protocol) -> Vec<u8> {
        let mut out = b"{\"event\":\"command\"".to_vec();
        write(&mut out, session, identity, target, protocol);
        out
    }

    fn memoized(
        session: &Arc<str>,
        identity: &Arc<Identity>,
        target: &Arc<str>,
        protocol: Protocol,
    ) -> Vec<u8> {
        let mut out = b"{\"event\":\"command\"".to_vec();
        append(&mut out, session, identity, target, protocol);
        out
    }

    #[test]
    fn every_lookup_gives_its_own_sessions_members() {
        let alice = Arc::new(Identity::new("alice", ["dev"]));
        let bob = Arc::new(Identity::new("bob \"b\"", ["dba", "dev"]));
        let shop: Arc<str> = "shop".into();
        let shop_again: Arc<str> = "shop".into();
        let sessions: Vec<Arc<str>> = (0..3).map(|i| format!("s{i}").into()).collect();
        for _ in 0..3 {
            for (i, s) in sessions.iter().enumerate() {
                let who = if i % 2 == 0 { &alice } else { &bob };
                assert_eq!(
                    memoized(s, who, &shop, Protocol::Postgres),
                    direct(s, who, "shop", Protocol::Postgres)
                );
                // The same session id with another identity, target or protocol is its own.
                let other = if i % 2 == 0 { &bob } else { &alice };
                assert_eq!(
                    memoized(s, other, &shop, Protocol::Postgres),
                    direct(s, other, "shop", Protocol::Postgres)
                );
                assert_eq!(
                    memoized(s, who, &shop_again, Protocol::Ssh),
                    direct(s, who, "shop", Protocol::Ssh)
                );
            }
        }
        let line =
            String::from_utf8(memoized(&sessions[1], &bob, &shop, Protocol::Postgres)).unwrap();
        assert!(
            line.contains(r#""session":"s1","identity":{"subject":"bob \"b\"""#),
            "{line}"
        );
        assert!(
            line.ends_with(r#""target":"shop","protocol":"postgres""#),
            "{line}"
        );
    }

    #[test]
    fn the_memo_stays_bounded_and_right_past_its_size() {
        let who = Arc::new(Identity::new("carol", ["dev"]));
        let target: Arc<str> = "db".into();
        let sessions: Vec<Arc<str>> = (0..ENTRIES * 2 + 3)
            .map(|i| format!("{i:032x}").into())
            .collect();
        for _ in 0..2 {
            for s in &sessions {
                assert_eq!(
                    memoized(s, &who, &target, Protocol::Kubernetes),
                    direct(s, &who, "db", Protocol::Kubernetes)
                );
            }
        }
        MEMO.with(|m| {
            let m = m.borrow();
            assert_eq!(m.entries.len(), ENTRIES);
        });
    }
}

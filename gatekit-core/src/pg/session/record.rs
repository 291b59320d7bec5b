//! Recording: the session feeds a [`SqlRecorder`] with what it sends each side, after
//! masking, so the recording holds what the client saw.

use bytes::Bytes;
use jiff::Timestamp;

use super::Session;
use crate::pg::codec::{Frame, FrontendMessage};
use crate::record::{RecordedVerdict, SqlRecorder};

/// A recorder and the time of the session's latest input.
pub(super) struct Recording {
    recorder: SqlRecorder,
    now: Timestamp,
}

impl Session {
    /// Records the session from now on (call it before [`Session::handle_masking`], when
    /// [`Event::Established`](super::Event::Established) arrives): every statement decided,
    /// every message sent to the server and every message sent to the client goes to
    /// `recorder`. Drain its lines with [`Session::poll_recording`]. A session that is not
    /// recorded does no recording work.
    pub fn start_recording(&mut self, now: Timestamp, recorder: SqlRecorder) {
        self.record = Some(Box::new(Recording { recorder, now }));
    }

    /// The recorded lines so far; call it after draining [`Session::poll_output`].
    pub fn poll_recording(&mut self) -> Option<Bytes> {
        self.account_sent();
        self.record.as_mut()?.recorder.poll_bytes()
    }

    /// Ends the recording at `now`, with the error that ended the session, if any; drain
    /// the last lines with [`Session::poll_recording`].
    pub fn finish_recording(&mut self, now: Timestamp) {
        self.account_sent();
        let error = self.error.as_ref().map(|e| e.to_string());
        if let Some(r) = self.record.as_mut() {
            r.recorder.finish(now, error.as_deref());
        }
    }

    /// Notes the time of an input, for the recording's timestamps and result durations.
    pub(super) fn record_clock(&mut self, now: Timestamp) {
        // What went out before this input is accounted at the time it went.
        self.account_sent();
        self.outcome.clock(now);
        if let Some(r) = self.record.as_mut() {
            r.now = now;
        }
    }

    /// The held statement in `frame` was decided.
    pub(super) fn record_decision(&mut self, frame: &Frame, allowed: bool) {
        let Some(r) = self.record.as_mut() else {
            return;
        };
        let sql = match frame.frontend() {
            Ok(FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. }) => sql,
            _ => &[],
        };
        let verdict = if allowed {
            RecordedVerdict::Allow
        } else {
            RecordedVerdict::Deny
        };
        r.recorder.decided(sql, verdict);
    }

    /// Bytes leaving for the client.
    pub(super) fn record_to_client(&mut self, bytes: &[u8]) {
        if let Some(r) = self.record.as_mut() {
            r.recorder.to_client(r.now, bytes);
        }
    }

    /// Bytes leaving for the server.
    pub(super) fn record_to_server(&mut self, bytes: &[u8]) {
        if let Some(r) = self.record.as_mut() {
            r.recorder.to_server(r.now, bytes);
        }
    }
}

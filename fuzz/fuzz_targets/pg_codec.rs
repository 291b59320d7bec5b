//! PostgreSQL codecs on arbitrary bytes: startup packets, frontend and backend messages,
//! and every typed view's iterators. Nothing may panic, and a decoded frame is exactly
//! its length field plus the type byte.
#![no_main]

use bytes::BytesMut;
use gatekit_core::pg::codec::{BackendMessage, Frame, FrontendMessage, Limits, StartupPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        statement: 1 << 16,
        bind: 1 << 16,
        copy_data: 1 << 16,
        row: 1 << 16,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = StartupPacket::decode(&mut buf, &limits) {}

    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = Frame::decode_frontend(&mut buf, &limits) {
        assert_eq!(f.raw().len(), 5 + f.body().len());
        if let Ok(FrontendMessage::Bind(b)) = f.frontend() {
            for (i, p) in b.params().enumerate() {
                let _ = (p, b.param_is_binary(i), b.result_is_binary(i));
            }
        }
    }

    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = Frame::decode_backend(&mut buf, &limits) {
        assert_eq!(f.raw().len(), 5 + f.body().len());
        match f.backend() {
            Ok(BackendMessage::DataRow(r)) => assert_eq!(r.values().count(), usize::from(r.len())),
            Ok(BackendMessage::RowDescription(r)) => {
                assert_eq!(r.fields().count(), usize::from(r.len()));
            }
            Ok(BackendMessage::ErrorResponse(e) | BackendMessage::NoticeResponse(e)) => {
                let _ = e.iter().count();
            }
            Ok(BackendMessage::Authentication(a)) => {
                let _ = a.mechanisms().count();
            }
            _ => {}
        }
    }
});

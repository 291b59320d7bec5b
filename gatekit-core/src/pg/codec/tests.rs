use bytes::BytesMut;

use super::*;

#[test]
fn placeholder_compiles() {
    let mut b = BytesMut::new();
    assert!(Frame::decode_frontend(&mut b, &Limits::default()).unwrap().is_none());
}

//! A bounds-checked cursor over a message body.

/// Reads big-endian integers and NUL-terminated strings off a byte slice; every read
/// returns `None` instead of running past the end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.buf.split_first()?;
        self.buf = tail;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([
            b.first().copied()?,
            b.get(1).copied()?,
        ]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.u32().map(|v| v as i32)
    }

    /// A NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = nul(self.buf)?;
        let s = self.buf.get(..end)?;
        self.buf = self.buf.get(end + 1..)?;
        Some(s)
    }
}

/// Where the first NUL is. Names are mostly short or empty (the unnamed statement and
/// portal), where a plain loop beats memchr's setup; statement texts are long.
fn nul(buf: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = buf.get(..SHORT).unwrap_or(buf);
    match head.iter().position(|&b| b == 0) {
        Some(i) => Some(i),
        None if buf.len() > SHORT => memchr::memchr(0, buf.get(SHORT..)?).map(|i| i + SHORT),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn nul_finds_the_first_nul(
            buf in prop::collection::vec(prop_oneof![3 => 1u8..=255, 1 => Just(0u8)], 0..80),
        ) {
            prop_assert_eq!(nul(&buf), buf.iter().position(|&b| b == 0));
        }
    }

    #[test]
    fn cstr_reads_up_to_the_nul_on_either_side_of_the_short_scan() {
        for len in [0, 1, 15, 16, 17, 40] {
            let mut buf = vec![b'a'; len];
            buf.extend_from_slice(b"\0rest");
            let mut r = Reader::new(&buf);
            assert_eq!(r.cstr(), Some(&buf[..len]), "{len}");
            assert_eq!(r.rest(), b"rest");
            let unterminated = vec![b'a'; len];
            assert_eq!(Reader::new(&unterminated).cstr(), None, "{len}");
        }
    }
}

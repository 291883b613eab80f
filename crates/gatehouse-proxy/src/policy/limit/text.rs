//! `InlineText`: a few dozen bytes of ASCII text on the stack, for counter ids and response
//! field lines that the request path puts together without allocating.

/// Up to `N` bytes of ASCII text. Every caller writes less than `N` bytes, so a write past `N`
/// is a bug: it is dropped and marks the text as overflowed.
#[derive(Clone)]
pub struct InlineText<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> InlineText<N> {
    pub fn new() -> Self {
        InlineText {
            bytes: [0; N],
            len: 0,
            overflowed: false,
        }
    }

    pub fn push(&mut self, part: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + part.len()) {
            Some(slot) => {
                slot.copy_from_slice(part);
                self.len += part.len();
            }
            None => self.overflowed = true,
        }
    }

    /// Returns the text, or `None` when a write did not fit.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        (!self.overflowed).then(|| &self.bytes[..self.len])
    }

    /// Returns the text as `str`; empty when it overflowed or is not UTF-8, which the ASCII
    /// that writers push never is.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes().unwrap_or_default()).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Write for InlineText<N> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.push(text.as_bytes());
        if self.overflowed {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

impl<const N: usize> std::fmt::Debug for InlineText<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_reported() {
        let mut text = InlineText::<4>::new();
        text.push(b"abc");
        assert_eq!(text.as_bytes(), Some(&b"abc"[..]));
        text.push(b"de");
        assert_eq!(text.as_bytes(), None);
        assert_eq!(text.as_str(), "");
    }
}

//! Message framing shared by both sides of HTTP/1.1 (RFC 9112 sections 6 and 7): how long a
//! body is, decoding a body from a read buffer, and writing heads and chunks.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body::Frame;

/// Maximum length of a chunk size line, extensions included.
const MAX_CHUNK_LINE: usize = 4096;

/// The way the length of a message body is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    Length(u64),
    Chunked,
    /// The body runs until the sender closes the connection (responses only).
    UntilClose,
}

/// A message whose length cannot be determined safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("both Content-Length and Transfer-Encoding are present")]
    LengthAndEncoding,
    #[error("Content-Length is invalid or has conflicting values")]
    InvalidLength,
    #[error("Transfer-Encoding on an HTTP/1.0 request, or chunked applied more than once")]
    MisplacedEncoding,
    #[error("a transfer coding other than chunked")]
    UnknownCoding,
}

/// Finds the body framing of a request. A request with both length fields, conflicting
/// lengths, or a transfer coding other than one `chunked` is rejected, because a server
/// behind the gateway could frame it differently (RFC 9112 section 6.3).
pub fn request_framing(headers: &HeaderMap, version: Version) -> Result<Framing, FramingError> {
    let length = content_length(headers)?;
    if headers.contains_key(TRANSFER_ENCODING) {
        if length.is_some() {
            return Err(FramingError::LengthAndEncoding);
        }
        if codings(headers).any(|coding| !coding.eq_ignore_ascii_case(b"chunked")) {
            return Err(FramingError::UnknownCoding);
        }
        if version != Version::HTTP_11 || !is_only_chunked(headers) {
            return Err(FramingError::MisplacedEncoding);
        }
        return Ok(Framing::Chunked);
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(length) => Framing::Length(length),
    })
}

/// Finds the body framing of a response to a request with `method`. Returns the framing and
/// whether the connection may carry another exchange afterwards.
pub fn response_framing(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<(Framing, bool), FramingError> {
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Empty, true));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        // Transfer-Encoding overrides Content-Length, and the connection closes afterwards
        // because the sender framed the message ambiguously.
        let reusable = !headers.contains_key(CONTENT_LENGTH);
        return Ok(if is_chunked_last(headers) {
            (Framing::Chunked, reusable)
        } else {
            (Framing::UntilClose, false)
        });
    }
    Ok(match content_length(headers)? {
        Some(0) => (Framing::Empty, true),
        Some(length) => (Framing::Length(length), true),
        None => (Framing::UntilClose, false),
    })
}

/// Reads every Content-Length field. Each value may be a comma-separated list, and all
/// elements must be the same decimal number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, FramingError> {
    let mut found = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for element in value.as_bytes().split(|byte| *byte == b',') {
            let length = parse_decimal(trim(element)).ok_or(FramingError::InvalidLength)?;
            if found.is_some_and(|previous| previous != length) {
                return Err(FramingError::InvalidLength);
            }
            found = Some(length);
        }
    }
    Ok(found)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |total, digit| {
        digit
            .is_ascii_digit()
            .then(|| total * 10 + u64::from(digit - b'0'))
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// Returns the transfer codings of all Transfer-Encoding fields, in order.
fn codings(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(TRANSFER_ENCODING)
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .map(trim)
}

fn is_only_chunked(headers: &HeaderMap) -> bool {
    let mut codings = codings(headers);
    codings
        .next()
        .is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"))
        && codings.next().is_none()
}

fn is_chunked_last(headers: &HeaderMap) -> bool {
    codings(headers)
        .last()
        .is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"))
}

/// A body that does not follow its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("invalid chunk size line")]
    ChunkSize,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("invalid or oversized trailer section")]
    Trailers,
    #[error("connection closed before the body was complete")]
    Incomplete,
}

/// The result of one decoding step.
#[derive(Debug)]
pub enum Decoded {
    Frame(Frame<Bytes>),
    /// The buffer has no complete piece yet, so more bytes are needed.
    NeedMore,
    /// The body is complete.
    End,
}

/// Decodes one body from a connection's read buffer, leaving what follows it in the buffer.
#[derive(Debug)]
pub struct BodyDecoder {
    state: DecodeState,
    max_trailers: usize,
}

#[derive(Debug)]
enum DecodeState {
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers { scanned: usize },
    Done,
}

impl BodyDecoder {
    /// Creates a decoder for `framing`. `max_trailers` bounds a chunked body's trailer section.
    pub fn new(framing: Framing, max_trailers: usize) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => DecodeState::Done,
            Framing::Length(length) => DecodeState::Length(length),
            Framing::Chunked => DecodeState::ChunkSize,
            Framing::UntilClose => DecodeState::UntilClose,
        };
        BodyDecoder {
            state,
            max_trailers,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, DecodeState::Done)
    }

    /// Returns the bytes of body still expected, when the framing gives a length.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            DecodeState::Length(length) => Some(length),
            DecodeState::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next piece of the body from `buf`. `eof` is true when the peer has closed its side,
    /// so `buf` will not grow any more.
    pub fn decode(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Decoded, BodyError> {
        loop {
            match &mut self.state {
                DecodeState::Done => return Ok(Decoded::End),
                DecodeState::Length(remaining) => {
                    let Some((data, finished)) = take_data(remaining, buf) else {
                        return need_more(eof);
                    };
                    if finished {
                        self.state = DecodeState::Done;
                    }
                    return Ok(Decoded::Frame(Frame::data(data)));
                }
                DecodeState::UntilClose => {
                    if !buf.is_empty() {
                        return Ok(Decoded::Frame(Frame::data(buf.split().freeze())));
                    }
                    if eof {
                        self.state = DecodeState::Done;
                        return Ok(Decoded::End);
                    }
                    return Ok(Decoded::NeedMore);
                }
                DecodeState::ChunkSize => match chunk_size(buf)? {
                    None => return need_more(eof),
                    Some(0) => self.state = DecodeState::Trailers { scanned: 0 },
                    Some(size) => self.state = DecodeState::ChunkData(size),
                },
                DecodeState::ChunkData(remaining) => {
                    let Some((data, finished)) = take_data(remaining, buf) else {
                        return need_more(eof);
                    };
                    if finished {
                        self.state = DecodeState::ChunkDataEnd;
                    }
                    return Ok(Decoded::Frame(Frame::data(data)));
                }
                DecodeState::ChunkDataEnd => {
                    if buf.len() < 2 {
                        return need_more(eof);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BodyError::ChunkEnd);
                    }
                    buf.advance(2);
                    self.state = DecodeState::ChunkSize;
                }
                DecodeState::Trailers { scanned } => {
                    let Some(end) = find_section_end(buf, scanned) else {
                        if buf.len() > self.max_trailers {
                            return Err(BodyError::Trailers);
                        }
                        return need_more(eof);
                    };
                    let section = buf.split_to(end).freeze();
                    self.state = DecodeState::Done;
                    if section.len() <= 2 {
                        return Ok(Decoded::End);
                    }
                    let trailers = parse_trailers(&section).ok_or(BodyError::Trailers)?;
                    return Ok(Decoded::Frame(Frame::trailers(trailers)));
                }
            }
        }
    }
}

/// Takes up to `remaining` bytes from the front of `buf`. Returns the data and whether it
/// was the last of them, or `None` when `buf` is empty.
fn take_data(remaining: &mut u64, buf: &mut BytesMut) -> Option<(Bytes, bool)> {
    if buf.is_empty() {
        return None;
    }
    let take = (*remaining).min(buf.len() as u64);
    *remaining -= take;
    Some((buf.split_to(take as usize).freeze(), *remaining == 0))
}

/// Returns what a decoder reports when its buffer ran dry: wait for more bytes, or fail when
/// the peer has closed.
fn need_more(eof: bool) -> Result<Decoded, BodyError> {
    if eof {
        Err(BodyError::Incomplete)
    } else {
        Ok(Decoded::NeedMore)
    }
}

/// Parses one chunk size line from the front of `buf` and consumes it. Returns `None` when
/// the line is not complete yet.
fn chunk_size(buf: &mut BytesMut) -> Result<Option<u64>, BodyError> {
    let Some(newline) = buf.iter().take(MAX_CHUNK_LINE).position(|b| *b == b'\n') else {
        return if buf.len() >= MAX_CHUNK_LINE {
            Err(BodyError::ChunkSize)
        } else {
            Ok(None)
        };
    };
    if newline == 0 || buf[newline - 1] != b'\r' {
        return Err(BodyError::ChunkSize);
    }
    let line = &buf[..newline - 1];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(BodyError::ChunkSize);
    }
    let rest = trim(&line[digits..]);
    // Extensions are ignored, but must start with ';' and hold no control bytes.
    if !(rest.is_empty() || rest[0] == b';')
        || rest.iter().any(|b| b.is_ascii_control() && *b != b'\t')
    {
        return Err(BodyError::ChunkSize);
    }
    let size = line[..digits].iter().fold(0u64, |total, digit| {
        total * 16 + u64::from(hex_value(*digit))
    });
    buf.advance(newline + 1);
    Ok(Some(size))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Finds the end of a field section that ends with an empty line: the index after it.
/// Lines may end in CRLF or in a bare LF, which RFC 9112 section 2.2 lets a recipient
/// accept, because the gateway writes every head it forwards anew with CRLF. `scanned`
/// keeps the search linear across calls.
pub fn find_section_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    if buf.starts_with(b"\n") {
        return Some(1);
    }
    let mut at = scanned.saturating_sub(2);
    while let Some(offset) = buf[at..].iter().position(|byte| *byte == b'\n') {
        let newline = at + offset;
        match &buf[newline + 1..] {
            [b'\n', ..] => return Some(newline + 2),
            [b'\r', b'\n', ..] => return Some(newline + 3),
            [] | [b'\r'] => break,
            _ => at = newline + 1,
        }
    }
    *scanned = buf.len();
    None
}

fn parse_trailers(section: &Bytes) -> Option<HeaderMap> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let httparse::Status::Complete((_, fields)) =
        httparse::parse_headers(section, &mut fields).ok()?
    else {
        return None;
    };
    let mut trailers = HeaderMap::new();
    append_fields(&mut trailers, section, fields).ok()?;
    Some(trailers)
}

/// Appends fields that httparse found in `head` to `map`, with values sharing `head`'s
/// buffer. Returns the reason when a name or value is invalid.
pub fn append_fields(
    map: &mut HeaderMap,
    head: &Bytes,
    fields: &[httparse::Header<'_>],
) -> Result<(), &'static str> {
    map.reserve(fields.len());
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| "invalid header field name")?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(field.value))
            .map_err(|_| "invalid header field value")?;
        map.append(name, value);
    }
    Ok(())
}

/// Writes header fields, one per line.
pub fn write_fields(buf: &mut BytesMut, headers: &HeaderMap) {
    write_fields_where(buf, headers, |_| true);
}

/// Writes the fields whose names `keep` accepts.
pub fn write_fields_where(
    buf: &mut BytesMut,
    headers: &HeaderMap,
    keep: impl Fn(&HeaderName) -> bool,
) {
    for (name, value) in headers.iter().filter(|(name, _)| keep(name)) {
        buf.put_slice(name.as_str().as_bytes());
        buf.put_slice(b": ");
        buf.put_slice(value.as_bytes());
        buf.put_slice(b"\r\n");
    }
}

/// Writes one chunk of a chunked body.
pub fn write_chunk(buf: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_hex(buf, data.len());
    buf.put_slice(b"\r\n");
    buf.put_slice(data);
    buf.put_slice(b"\r\n");
}

/// Writes the last chunk and the trailer section of a chunked body.
pub fn write_last_chunk(buf: &mut BytesMut, trailers: Option<&HeaderMap>) {
    buf.put_slice(b"0\r\n");
    if let Some(trailers) = trailers {
        write_fields(buf, trailers);
    }
    buf.put_slice(b"\r\n");
}

fn write_hex(buf: &mut BytesMut, mut value: usize) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[value & 15];
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    buf.put_slice(&digits[at..]);
}

/// Writes a decimal number.
pub fn write_decimal(buf: &mut BytesMut, value: u64) {
    buf.put_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        framing: Framing,
        input: &[u8],
    ) -> Result<(Vec<u8>, Option<HeaderMap>, BytesMut), BodyError> {
        let mut decoder = BodyDecoder::new(framing, 1024);
        let mut buf = BytesMut::from(input);
        let (mut data, mut trailers) = (Vec::new(), None);
        loop {
            match decoder.decode(&mut buf, true)? {
                Decoded::Frame(frame) => match frame.into_data() {
                    Ok(bytes) => data.extend_from_slice(&bytes),
                    Err(frame) => trailers = frame.into_trailers().ok(),
                },
                Decoded::End => return Ok((data, trailers, buf)),
                Decoded::NeedMore => unreachable!("eof was given"),
            }
        }
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nx-checksum: 1\r\n\r\nGET /next";
        let (data, trailers, rest) = decode_all(Framing::Chunked, input).unwrap();
        assert_eq!(data, b"Wikipedia");
        assert_eq!(trailers.unwrap()["x-checksum"], "1");
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn chunked_body_rejects_malformed_input() {
        for input in [
            &b"z\r\n"[..],
            b"4\nWiki\r\n0\r\n\r\n",
            b"4\r\nWikiXX0\r\n\r\n",
            b"10000000000000000\r\n",
            b"-1\r\n",
            b"4 x\r\nWiki\r\n0\r\n\r\n",
            b"4\r\nWi",
        ] {
            assert!(decode_all(Framing::Chunked, input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn chunked_body_decodes_byte_by_byte() {
        let input = b"3\r\nabc\r\n0\r\n\r\n";
        let mut decoder = BodyDecoder::new(Framing::Chunked, 1024);
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        for byte in input {
            buf.put_u8(*byte);
            while let Decoded::Frame(frame) = decoder.decode(&mut buf, false).unwrap() {
                data.extend_from_slice(frame.data_ref().unwrap());
            }
        }
        assert!(decoder.is_done());
        assert_eq!(data, b"abc");
    }

    #[test]
    fn section_end_found_with_crlf_or_bare_lf() {
        let cases: [(&[u8], Option<usize>); 7] = [
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", Some(27)),
            (b"GET / HTTP/1.1\nHost: a\n\nrest", Some(24)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\nrest", Some(26)),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\nrest", Some(26)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"\r\n", Some(2)),
        ];
        for (input, expected) in cases {
            assert_eq!(find_section_end(input, &mut 0), expected, "{input:?}");
        }
    }

    #[test]
    fn section_end_found_across_reads() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scanned = 0;
        for len in 1..input.len() {
            assert_eq!(find_section_end(&input[..len], &mut scanned), None, "{len}");
        }
        assert_eq!(find_section_end(input, &mut scanned), Some(input.len()));
    }

    #[test]
    fn length_body_stops_at_its_length() {
        let (data, _, rest) = decode_all(Framing::Length(3), b"abcdef").unwrap();
        assert_eq!((&data[..], &rest[..]), (&b"abc"[..], &b"def"[..]));
        assert_eq!(
            decode_all(Framing::Length(9), b"abc").unwrap_err(),
            BodyError::Incomplete
        );
    }

    #[test]
    fn request_framing_follows_rfc_9112() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        let v11 = Version::HTTP_11;
        assert_eq!(
            request_framing(&headers(&[("content-length", "5")]), v11),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[("content-length", "5, 5")]), v11),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[("transfer-encoding", "Chunked")]), v11),
            Ok(Framing::Chunked)
        );
        for bad in [
            &[("content-length", "5"), ("transfer-encoding", "chunked")][..],
            &[("content-length", "5"), ("content-length", "6")],
            &[("content-length", ""), ("content-length", "6")],
            &[("content-length", "+5")],
            &[("transfer-encoding", "gzip, chunked")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        ] {
            assert!(request_framing(&headers(bad), v11).is_err(), "{bad:?}");
        }
        assert!(request_framing(
            &headers(&[("transfer-encoding", "chunked")]),
            Version::HTTP_10
        )
        .is_err());
    }
}

//! The rate limit fields of a response: `RateLimit-Policy` and `RateLimit` (the IETF draft)
//! or `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
//!
//! A verdict keeps the numbers, not formatted values. The HTTP/1.1 writer writes the fields
//! straight into the response head (`write_to`); HTTP/2 responses get them as header map
//! entries (`insert_into`). Both format the values with the same functions.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::PolicyName;

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The numbers behind the fields: every policy, and the one with the fewest requests
/// remaining.
#[derive(Debug, Clone)]
pub struct LimitFields {
    pub(super) style: Style,
    /// The tightest policy.
    pub(super) policy: PolicyName,
    /// The tightest policy's quota units, for `X-RateLimit-Limit`.
    pub(super) quota: u64,
    pub(super) remaining: u64,
    /// Seconds until the tightest policy is full again, or until a rejected request may be
    /// retried.
    pub(super) reset: u64,
}

#[derive(Debug, Clone)]
pub(super) enum Style {
    /// `RateLimit-Policy` (the value, made in advance) and `RateLimit`.
    Draft {
        policies: Option<HeaderValue>,
        /// The HTTP/1.1 lines up to the remaining count (see `draft_head`), made in advance
        /// when a single limit set announces all the request's policies.
        head: Option<Bytes>,
    },
    Legacy,
}

/// Returns the start of the draft lines that report `policy` among `policies`:
/// `ratelimit-policy: "route-0";q=10;w=1\r\nratelimit: "route-0";r=`.
pub(super) fn draft_head(policies: &HeaderValue, policy: PolicyName) -> Bytes {
    let mut head = BytesMut::new();
    put_line(&mut head, &RATELIMIT_POLICY, |out| {
        out.put_slice(policies.as_bytes())
    });
    head.put_slice(RATELIMIT.as_str().as_bytes());
    head.put_slice(b": ");
    put_name(&mut head, policy);
    head.freeze()
}

impl LimitFields {
    /// Returns true when the fields replace a response field named `name`.
    pub fn replaces(&self, name: &str) -> bool {
        let names: &[&HeaderName] = match self.style {
            Style::Draft { .. } => &[&RATELIMIT, &RATELIMIT_POLICY],
            Style::Legacy => &[
                &X_RATELIMIT_LIMIT,
                &X_RATELIMIT_REMAINING,
                &X_RATELIMIT_RESET,
            ],
        };
        names.iter().any(|candidate| candidate.as_str() == name)
    }

    /// Writes the fields as lines of an HTTP/1.1 head.
    pub fn write_to(&self, out: &mut BytesMut) {
        match &self.style {
            Style::Draft {
                head: Some(head), ..
            } => {
                out.put_slice(head);
                self.put_numbers(out);
                out.put_slice(b"\r\n");
            }
            Style::Draft {
                policies,
                head: None,
            } => {
                if let Some(policies) = policies {
                    put_line(out, &RATELIMIT_POLICY, |out| {
                        out.put_slice(policies.as_bytes())
                    });
                }
                put_line(out, &RATELIMIT, |out| self.put_current(out));
            }
            Style::Legacy => {
                for (name, value) in self.legacy_values() {
                    put_line(out, name, |out| put_number(out, value));
                }
            }
        }
    }

    /// Sets the fields in `headers`, replacing fields of the same names.
    pub fn insert_into(&self, headers: &mut HeaderMap) {
        let mut set = |name: &HeaderName, value: Vec<u8>| {
            if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
                headers.insert(name.clone(), value);
            }
        };
        match &self.style {
            Style::Draft { policies, .. } => {
                if let Some(policies) = policies {
                    set(&RATELIMIT_POLICY, policies.as_bytes().to_vec());
                }
                let mut current = Vec::with_capacity(48);
                self.put_current(&mut current);
                set(&RATELIMIT, current);
            }
            Style::Legacy => {
                for (name, value) in self.legacy_values() {
                    let mut text = Vec::with_capacity(20);
                    put_number(&mut text, value);
                    set(name, text);
                }
            }
        }
    }

    /// Puts the `RateLimit` value: `"plan-0";r=4;t=2`.
    fn put_current(&self, out: &mut impl BufMut) {
        put_name(out, self.policy);
        self.put_numbers(out);
    }

    /// Puts the end of the `RateLimit` value: `4;t=2`.
    fn put_numbers(&self, out: &mut impl BufMut) {
        put_number(out, self.remaining);
        out.put_slice(b";t=");
        put_number(out, self.reset);
    }

    fn legacy_values(&self) -> [(&'static HeaderName, u64); 3] {
        [
            (&X_RATELIMIT_LIMIT, self.quota),
            (&X_RATELIMIT_REMAINING, self.remaining),
            (&X_RATELIMIT_RESET, self.reset),
        ]
    }
}

/// Puts one `name: value` line, the value written by `value`.
fn put_line(out: &mut BytesMut, name: &HeaderName, value: impl FnOnce(&mut BytesMut)) {
    out.put_slice(name.as_str().as_bytes());
    out.put_slice(b": ");
    value(out);
    out.put_slice(b"\r\n");
}

/// Puts the start of the `RateLimit` value: `"plan-0";r=`.
fn put_name(out: &mut impl BufMut, policy: PolicyName) {
    let mut digits = itoa::Buffer::new();
    let (kind, suffix) = policy.parts(&mut digits);
    out.put_slice(b"\"");
    out.put_slice(kind.as_bytes());
    out.put_slice(suffix.as_bytes());
    out.put_slice(b"\";r=");
}

fn put_number(out: &mut impl BufMut, value: u64) {
    out.put_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(style: Style) -> LimitFields {
        LimitFields {
            style,
            policy: PolicyName::Plan(1),
            quota: 10,
            remaining: 4,
            reset: 2,
        }
    }

    #[test]
    fn written_and_inserted_fields_agree() {
        let policies = HeaderValue::from_static("\"plan-1\";q=10;w=1");
        let head = draft_head(&policies, PolicyName::Plan(1));
        for style in [
            Style::Draft {
                policies: Some(policies.clone()),
                head: None,
            },
            Style::Draft {
                policies: Some(policies),
                head: Some(head),
            },
            Style::Legacy,
        ] {
            let fields = fields(style);
            let mut written = BytesMut::new();
            fields.write_to(&mut written);
            let mut map = HeaderMap::new();
            fields.insert_into(&mut map);
            let mut from_map = BytesMut::new();
            crate::h1::codec::write_fields(&mut from_map, &map);
            assert_eq!(written, from_map);
            let added = || crate::headers::AddedFields {
                request_id: HeaderValue::from_static("id-1"),
                limits: Some(fields.clone()),
            };
            added().insert_into(&mut map);
            let added = added();
            for name in map.keys() {
                assert!(added.replaces(name), "{name}");
            }
        }
    }

    #[test]
    fn draft_current_value() {
        let mut map = HeaderMap::new();
        let draft = || {
            fields(Style::Draft {
                policies: None,
                head: None,
            })
        };
        draft().insert_into(&mut map);
        assert_eq!(map["ratelimit"], "\"plan-1\";r=4;t=2");
        assert!(!draft().replaces("content-length"));
    }
}

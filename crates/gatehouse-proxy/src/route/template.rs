//! Path templates such as `/repos/{owner}/{repo}/git/{*ref}`.
//!
//! matchit rejects two templates that give one position different parameter names, so each
//! template is inserted in positional form (`{p0}`, `{p1}`) and the names are kept per route.

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    CatchAll(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let parts: Vec<&str> = text.split('/').skip(1).collect();
        for (position, part) in parts.iter().enumerate() {
            let segment = match part
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
            {
                Some(inner) if inner.starts_with('*') => {
                    if position + 1 != parts.len() {
                        return Err("a catch-all {*name} must be the last segment".into());
                    }
                    Segment::CatchAll(inner[1..].to_string())
                }
                Some(inner) => Segment::Param(inner.to_string()),
                None if part.contains(['{', '}']) => {
                    return Err(format!("segment {part:?} mixes text and a parameter; a parameter must be a whole segment"));
                }
                None => Segment::Static(part.to_string()),
            };
            segments.push(segment);
        }
        Ok(Template { segments })
    }

    /// Returns the template with parameters renamed by position, as inserted into matchit.
    pub fn positional(&self) -> String {
        let mut out = String::new();
        for (position, segment) in self.segments.iter().enumerate() {
            out.push('/');
            match segment {
                Segment::Static(text) => out.push_str(text),
                Segment::Param(_) => out.push_str(&format!("{{p{position}}}")),
                Segment::CatchAll(_) => out.push_str(&format!("{{*p{position}}}")),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    pub fn param_names(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Param(name) | Segment::CatchAll(name) => Some(name.clone()),
                Segment::Static(_) => None,
            })
            .collect()
    }

    /// Matches `path` segment by segment, returning the captures on success.
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut rest = path.strip_prefix('/')?;
        let mut captures = Vec::new();
        for (position, segment) in self.segments.iter().enumerate() {
            if let Segment::CatchAll(name) = segment {
                return (!rest.is_empty()).then(|| {
                    captures.push((name.clone(), rest.to_string()));
                    captures
                });
            }
            let (part, tail) = rest.split_once('/').unwrap_or((rest, ""));
            // The last segment must consume the rest of the path, and no other segment may.
            let last = position + 1 == self.segments.len();
            if last == rest.contains('/') {
                return None;
            }
            match segment {
                Segment::Static(text) if text == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    captures.push((name.clone(), part.to_string()))
                }
                _ => return None,
            }
            rest = tail;
        }
        Some(captures)
    }
}

//! "Did you mean" suggestions for misspelled keys, values and names.

/// Returns the candidate closest to `input` by edit distance, if it is close enough to be a
/// likely typo: at most 1 edit for candidates up to 5 characters, at most 2 for longer ones.
/// Case differences count as no edit. Ties go to the earlier candidate.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input = input.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&input, &candidate.to_lowercase());
        let limit = if candidate.chars().count() <= 5 { 1 } else { 2 };
        if distance > limit {
            continue;
        }
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Returns a help sentence: "did you mean `x`?" for a close candidate, otherwise the full list.
pub(crate) fn did_you_mean_or_list(input: &str, candidates: &[&str]) -> String {
    match closest(input, candidates.iter().copied()) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None => format!("write one of {}", quoted_list(candidates)),
    }
}

/// Formats names as "`a`, `b` or `c`".
pub(crate) fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Levenshtein distance over characters: insertions, deletions and substitutions cost 1.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_basic_cases() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("path_prefx", "path_prefix"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_finds_typo() {
        let keys = ["path", "path_prefix", "path_template", "path_regex"];
        assert_eq!(closest("path_prefx", keys), Some("path_prefix"));
        assert_eq!(
            closest("round_robbin", ["round_robin", "random"]),
            Some("round_robin")
        );
    }

    #[test]
    fn closest_ignores_case() {
        assert_eq!(closest("JSON", ["json", "text"]), Some("json"));
    }

    #[test]
    fn closest_rejects_distant() {
        assert_eq!(closest("weighting", ["url", "weight"]), None);
        assert_eq!(closest("ab", ["xy"]), None);
    }

    #[test]
    fn list_formatting() {
        assert_eq!(quoted_list(&["a"]), "`a`");
        assert_eq!(quoted_list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}

//! `--include` and `--exclude`, as `aws s3` applies them: every file is included unless a
//! filter says otherwise, filters apply in the order given and the last that matches
//! decides. A pattern is a glob matched against the file's path below the folder being
//! copied (`*` crosses `/`, as in aws-cli; `?`, `[abc]`, `{a,b}`).

use globset::{Glob, GlobMatcher};

use super::output::Problem;

#[derive(Default)]
pub struct Filters(Vec<(bool, GlobMatcher)>);

impl Filters {
    /// From `(include?, pattern)` in the order typed.
    pub fn new(patterns: &[(bool, String)]) -> Result<Filters, Problem> {
        let mut filters = Vec::new();
        for (include, pattern) in patterns {
            let glob = Glob::new(pattern).map_err(|e| Problem::Usage(format!("--{} {pattern:?}: {e}", if *include { "include" } else { "exclude" })))?;
            filters.push((*include, glob.compile_matcher()));
        }
        Ok(Filters(filters))
    }

    /// Whether the file at `relative` (its path below the folder, `/`-separated) is chosen.
    pub fn chosen(&self, relative: &str) -> bool {
        self.0.iter().rev().find(|(_, glob)| glob.is_match(relative)).is_none_or(|(include, _)| *include)
    }
}

/// The `--include`/`--exclude` values of a subcommand in the order they were typed (clap
/// keeps each option's values apart; their indices say the order).
pub fn in_order(matches: &clap::ArgMatches) -> Vec<(bool, String)> {
    let mut all: Vec<(usize, bool, String)> = Vec::new();
    for (id, include) in [("include", true), ("exclude", false)] {
        // A command without filters has no such argument (`indices_of` would panic).
        let Ok(Some(values)) = matches.try_get_many::<String>(id) else { continue };
        let Some(indices) = matches.indices_of(id) else { continue };
        all.extend(values.zip(indices).map(|(v, i)| (i, include, v.clone())));
    }
    all.sort_by_key(|(i, _, _)| *i);
    all.into_iter().map(|(_, include, pattern)| (include, pattern)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(p: &[(bool, &str)]) -> Filters {
        Filters::new(&p.iter().map(|(i, s)| (*i, s.to_string())).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_last_matching_filter_decides() {
        assert!(filters(&[]).chosen("a/b.txt"));
        let only_txt = filters(&[(false, "*"), (true, "*.txt")]);
        assert!(only_txt.chosen("a/b.txt") && !only_txt.chosen("a/b.jpg"));
        let none = filters(&[(true, "*.txt"), (false, "*")]);
        assert!(!none.chosen("a/b.txt"));
        let no_logs = filters(&[(false, "logs/*")]);
        assert!(!no_logs.chosen("logs/x/y.log") && no_logs.chosen("src/logs.rs"));
        assert!(Filters::new(&[(true, "a[".into())]).is_err());
    }
}

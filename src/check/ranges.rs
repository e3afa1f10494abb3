//! Partition lists as SM prints them: runs of consecutive partitions of the database
//! compressed to `first..last` (`2024.01.02..2024.03.28, 2024.04.02`).

/// `selected` (dates, any order) as runs over `all` (every partition date of the database,
/// ascending): a run is a stretch of `all` whose every date is selected, so a gap in the
/// calendar with no partition does not break a run.
pub(crate) fn date_ranges<S: AsRef<str>, A: AsRef<str>>(selected: &[S], all: &[A]) -> String {
    let chosen: std::collections::BTreeSet<&str> = selected.iter().map(|d| d.as_ref()).collect();
    let mut runs: Vec<(String, String)> = Vec::new();
    let mut open: Option<(String, String)> = None;
    for d in all.iter().map(|d| d.as_ref()) {
        if chosen.contains(d) {
            open = Some(match open.take() {
                Some((first, _)) => (first, d.to_string()),
                None => (d.to_string(), d.to_string()),
            });
        } else if let Some(run) = open.take() {
            runs.push(run);
        }
    }
    runs.extend(open);
    // Dates not among `all` (should not happen) still appear, each on its own.
    let covered: std::collections::BTreeSet<&str> = all.iter().map(|d| d.as_ref()).collect();
    for d in &chosen {
        if !covered.contains(d) {
            runs.push((d.to_string(), d.to_string()));
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.clone()
            } else {
                format!("{a}..{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_over_the_database_partitions() {
        let all = [
            "2024.01.02",
            "2024.01.03",
            "2024.01.05",
            "2024.01.08",
            "2024.01.09",
        ];
        assert_eq!(
            date_ranges(&["2024.01.02", "2024.01.03", "2024.01.05"], &all),
            "2024.01.02..2024.01.05"
        );
        assert_eq!(
            date_ranges(&["2024.01.09", "2024.01.02", "2024.01.08"], &all),
            "2024.01.02, 2024.01.08..2024.01.09"
        );
        assert_eq!(date_ranges(&["2024.01.05"], &all), "2024.01.05");
        assert_eq!(date_ranges::<&str, &str>(&[], &all), "");
    }
}

//! Partition names: which directory names are kdb+ dates, and which only look like partitions.

/// Parses `YYYY.MM.DD` into (year, month, day) if it is a real calendar date.
pub fn parse_date(name: &str) -> Option<(u32, u32, u32)> {
    let b = name.as_bytes();
    if b.len() != 10 || b[4] != b'.' || b[7] != b'.' {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(&name[0..4])?, num(&name[5..7])?, num(&name[8..10])?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// What a root directory name says about itself.
#[derive(Debug, PartialEq, Eq)]
pub enum PartitionName {
    /// A valid `YYYY.MM.DD` date.
    Date,
    /// Digits and dots only (`2023.02.30`, `20230101`, `2023.01`, `2023`, `42`): meant as a
    /// partition, but not a date, so the SM import cannot take it. Carries what it looks like.
    NotADate(&'static str),
    /// Anything else: a splayed table or other root entry.
    Other,
}

pub fn classify(name: &str) -> PartitionName {
    if parse_date(name).is_some() {
        return PartitionName::Date;
    }
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return PartitionName::Other;
    }
    let shape = match (name.len(), name.matches('.').count()) {
        (10, 2) => "a date that does not exist on the calendar",
        (7, 1) => "a month partition",
        (4, 0) => "a year partition (or an int partition)",
        (_, 0) => "an int partition (or a date without dots)",
        _ => "a malformed partition name",
    };
    PartitionName::NotADate(shape)
}

/// Days since 2000.01.01 (kdb+ date epoch) — used to render kdb+ date values.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm, shifted to the kdb+ epoch.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468 - 10957
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_dates() {
        assert_eq!(parse_date("2024.01.02"), Some((2024, 1, 2)));
        assert_eq!(parse_date("2024.02.29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2000.02.29"), Some((2000, 2, 29)));
    }

    #[test]
    fn invalid_dates() {
        for bad in [
            "2023.02.29",
            "1900.02.29",
            "2023.02.30",
            "2023.13.01",
            "2023.00.10",
            "2023.01.00",
            "2023.04.31",
            "20230101",
            "2023-01-01",
            "2023.1.01",
            "+023.01.01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn classification() {
        assert_eq!(classify("2024.01.02"), PartitionName::Date);
        assert!(matches!(classify("2023.02.30"), PartitionName::NotADate(_)));
        assert!(matches!(classify("20230101"), PartitionName::NotADate(_)));
        assert!(matches!(classify("2023.01"), PartitionName::NotADate(_)));
        assert!(matches!(classify("42"), PartitionName::NotADate(_)));
        assert_eq!(classify("trade"), PartitionName::Other);
        assert_eq!(classify("sym"), PartitionName::Other);
    }

    #[test]
    fn epoch() {
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(days_from_civil(2022, 6, 17), 8203);
        assert_eq!(days_from_civil(1999, 12, 31), -1);
    }
}

//! Advice that depends on the backup: a hint that says "restore X from the backup" is only
//! worth printing when the backup's X differs; otherwise it sends the user on a restore that
//! changes nothing.

use crate::finding::{code, Finding};
use std::path::Path;

/// Rewrites the hint of each `load-enum-beyond-domain` finding after comparing the database's
/// domain file with the backup's.
pub fn enum_domain_advice(findings: &mut [Finding], source: &Path, backup: &Path) {
    for f in findings
        .iter_mut()
        .filter(|f| f.code == code::LOAD_ENUM_RANGE)
    {
        let Some(domain) = domain_of(&f.message) else {
            continue;
        };
        let ours = source.join(domain);
        let theirs = backup.join(domain);
        let hint = match same_bytes(&ours, &theirs) {
            Ok(true) => format!(
                "the backup's `{domain}` ({}) is the same file, so restoring it changes nothing: these indices were already beyond the domain when the backup was taken (kdb+ reads them as null); the import moves them unchanged",
                theirs.display()
            ),
            Ok(false) => format!(
                "the backup's `{domain}` ({}) differs from the database's: if it holds the missing symbols, restore `{domain}` from it",
                theirs.display()
            ),
            Err(e) => format!(
                "the backup has no readable `{domain}` ({}: {e}), so it cannot restore the missing symbols",
                theirs.display()
            ),
        };
        f.hint = Some(hint);
    }
}

/// The domain name a `load-enum-beyond-domain` message quotes ("… beyond its domain `sym` …").
fn domain_of(message: &str) -> Option<&str> {
    let rest = &message[message.find("domain `")? + "domain `".len()..];
    let name = &rest[..rest.find('`')?];
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding::warning(
            code::LOAD_ENUM_RANGE,
            "3 values of enumerated column sym index beyond its domain `sym` (2 symbols; largest index 4, needing 5 symbols): kdb+ reads them as null",
        )
        .hint("restore the complete `sym` file from the backup if those symbols were lost")
    }

    #[test]
    fn an_identical_backup_domain_is_not_advised_as_a_restore() {
        let (db, bk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(db.path().join("sym"), b"same").unwrap();
        std::fs::write(bk.path().join("sym"), b"same").unwrap();
        let mut f = [finding()];
        enum_domain_advice(&mut f, db.path(), bk.path());
        let h = f[0].hint.as_deref().unwrap();
        assert!(
            h.contains("is the same file, so restoring it changes nothing"),
            "{h}"
        );
    }

    #[test]
    fn a_different_backup_domain_is_advised() {
        let (db, bk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(db.path().join("sym"), b"short").unwrap();
        std::fs::write(bk.path().join("sym"), b"longer one").unwrap();
        let mut f = [finding()];
        enum_domain_advice(&mut f, db.path(), bk.path());
        assert!(f[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("differs from the database's"));
        std::fs::remove_file(bk.path().join("sym")).unwrap();
        enum_domain_advice(&mut f, db.path(), bk.path());
        assert!(f[0].hint.as_deref().unwrap().contains("no readable `sym`"));
    }

    #[test]
    fn the_domain_is_read_from_the_message() {
        assert_eq!(domain_of(&finding().message), Some("sym"));
        assert_eq!(domain_of("no domain here"), None);
    }
}

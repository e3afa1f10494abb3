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

/// What to do about a file that cannot be read, by the error: a permission problem is fixed
/// with permissions, but an I/O error from a staging view is plan drift (the view refuses a
/// file changed since the plan was saved), and on a disk it is the disk.
pub fn unreadable_hint(err: &str) -> String {
    if err.contains("os error 5)") || err.contains("Input/output error") {
        "an I/O error, not a permission problem: in a staging view mounted with --plan it means the file changed since the plan was saved (plan drift; the view's log names the file): save a new plan with `smstage plan --config FILE --save PLANFILE` and mount that; on a disk, check the disk (dmesg)".to_string()
    } else if err.contains("os error 13)") || err.contains("Permission denied") {
        "fix the permissions (smstage must read every file of the database), then run it again"
            .to_string()
    } else {
        "make the file readable (its error says why), then run it again".to_string()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_is_not_advised_as_permissions() {
        let eio = unreadable_hint("cannot read x: Input/output error (os error 5)");
        assert!(
            eio.contains("plan drift") && !eio.contains("permissions"),
            "{eio}"
        );
        let perm = unreadable_hint("cannot read x: Permission denied (os error 13)");
        assert!(perm.contains("fix the permissions"), "{perm}");
        assert!(!unreadable_hint("No such file or directory (os error 2)").contains("permissions"));
    }

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

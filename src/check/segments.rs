//! Preconditions of a segmented database: `<baseURI>/data` holds `par.txt`, and each segment it
//! lists is the store of one local HDB tier. Every finding names the segment (its `par.txt`
//! line), the tier, the partition and the file concerned.

use super::{list_object_tiers, read_and_evaluate_with, CheckOptions, CheckOutcome};
use crate::backup;
use crate::config::{AssemblyConfig, StoreUri};
use crate::dates::{classify, PartitionName};
use crate::finding::{code, Finding, Report};
use crate::inventory::{self, Inventory, RootMode};
use crate::par_txt::parse_par_txt;
use crate::plan::{self, PlanError, SegmentInput, SegmentedInput, TierInput, TierKind, STORES_DIR};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Whether the database at `source` is segmented (its root holds `par.txt`).
pub fn is_segmented(source: &Path) -> bool {
    fs::symlink_metadata(source.join("par.txt")).is_ok()
}

/// One local segment matched to its tier.
#[derive(Debug)]
struct Matched {
    tier: String,
    entry: String,
    dir: PathBuf,
}

/// Where a configured local tier stores its data, symlinks resolved (None: does not exist).
fn tier_dir(store: &str) -> Option<PathBuf> {
    match StoreUri::parse(store) {
        Ok(StoreUri::File(p)) => fs::canonicalize(p).ok(),
        _ => None,
    }
}

/// Matches the lines of `par.txt` with the HDB tiers: every local line is the store of exactly
/// one local tier, every local tier is a line, every object line is an object tier's store.
fn match_segments(
    source: &Path,
    text: &str,
    tiers: &[TierInput],
    findings: &mut Vec<Finding>,
) -> Vec<Matched> {
    let par = source.join("par.txt");
    let segments = parse_par_txt(source, text);
    if segments.is_empty() {
        findings.push(
            Finding::error(code::VERIFY_PAR_TXT, "par.txt lists no segment")
                .path(par.display())
                .hint("list one segment directory per line, or remove par.txt if the database is not segmented"),
        );
    }
    let local_tiers: Vec<(&TierInput, Option<PathBuf>)> = tiers
        .iter()
        .filter(|t| t.kind == TierKind::Local)
        .map(|t| (t, tier_dir(&t.store)))
        .collect();
    let canonical_root = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let mut matched: Vec<Matched> = Vec::new();
    for seg in &segments {
        let Some(dir) = &seg.dir else {
            let object = StoreUri::parse(&seg.entry).ok().map(|u| u.to_string());
            let known = tiers.iter().any(|t| {
                t.kind == TierKind::Object
                    && Some(t.store.trim_end_matches('/')) == object.as_deref()
            });
            if !known {
                findings.push(
                    Finding::error(
                        code::SEGMENT_NO_TIER,
                        format!("par.txt lists the object store {}, which is the store of no object tier of the HDB mount", seg.entry),
                    )
                    .path(par.display())
                    .hint("add an object tier with that store to the sm tiers, or remove the line"),
                );
            }
            continue;
        };
        let canon = match fs::canonicalize(dir) {
            Ok(c) if c.is_dir() => c,
            Ok(c) => {
                findings.push(
                    Finding::error(
                        code::SEGMENT_MISSING,
                        format!("segment {} of par.txt resolves to {}, which is not a directory", seg.entry, c.display()),
                    )
                    .path(c.display())
                    .hint("par.txt entries name segment directories (relative entries resolve from the root, as kdb+ does)"),
                );
                continue;
            }
            Err(e) => {
                findings.push(
                    Finding::error(
                        code::SEGMENT_MISSING,
                        format!("segment {} of par.txt cannot be opened at {}: {e}", seg.entry, dir.display()),
                    )
                    .path(dir.display())
                    .hint("fix the line in par.txt (relative entries resolve from the root, as kdb+ does), or mount the segment's disk"),
                );
                continue;
            }
        };
        if canon.starts_with(&canonical_root) || canonical_root.starts_with(&canon) {
            findings.push(
                Finding::error(
                    code::SEGMENT_NESTED,
                    format!("segment {} ({}) lies inside the root {} or holds it: the import keeps segments apart from the root", seg.entry, canon.display(), source.display()),
                )
                .path(canon.display())
                .hint("move the segment out of the root (and update par.txt and the tier's store)"),
            );
            continue;
        }
        let owners: Vec<&str> = local_tiers
            .iter()
            .filter(|(_, d)| d.as_deref() == Some(canon.as_path()))
            .map(|(t, _)| t.name.as_str())
            .collect();
        match owners.as_slice() {
            [tier] => {
                if let Some(prev) = matched.iter().find(|m| m.dir == canon) {
                    findings.push(
                        Finding::error(
                            code::SEGMENT_NO_TIER,
                            format!("par.txt lists the segment {} twice ({} and {})", canon.display(), prev.entry, seg.entry),
                        )
                        .tier(*tier)
                        .path(par.display())
                        .hint("remove the repeated line"),
                    );
                    continue;
                }
                matched.push(Matched {
                    tier: tier.to_string(),
                    entry: seg.entry.clone(),
                    dir: canon,
                });
            }
            [] => findings.push(
                Finding::error(
                    code::SEGMENT_NO_TIER,
                    format!("segment {} of par.txt ({}) is the store of no local tier of the HDB mount: each segment maps to exactly one tier", seg.entry, canon.display()),
                )
                .path(canon.display())
                .hint(format!("add a tier on the HDB mount with `store: file://{}`", canon.display())),
            ),
            many => findings.push(
                Finding::error(
                    code::SEGMENT_NO_TIER,
                    format!("segment {} of par.txt ({}) is the store of several tiers: {}; each segment maps to exactly one tier", seg.entry, canon.display(), many.join(", ")),
                )
                .path(canon.display())
                .hint("give each tier its own segment directory as store"),
            ),
        }
    }
    for (t, dir) in &local_tiers {
        if !matched.iter().any(|m| m.tier == t.name) {
            let why = match dir {
                Some(d) => format!("its store {} is not listed in par.txt", d.display()),
                None => format!("its store {} does not exist", t.store),
            };
            findings.push(
                Finding::error(
                    code::TIER_NOT_SEGMENT,
                    format!("local tier {} is not a segment of the database: {why}", t.name),
                )
                .tier(&t.name)
                .path(par.display())
                .hint("in a segmented database every local HDB tier's store must be one segment directory of par.txt: fix the tier's store or par.txt"),
            );
        }
    }
    for (i, a) in matched.iter().enumerate() {
        for b in &matched[i + 1..] {
            if a.dir.starts_with(&b.dir) || b.dir.starts_with(&a.dir) {
                findings.push(
                    Finding::error(
                        code::SEGMENT_NESTED,
                        format!("segments {} (tier {}) and {} (tier {}) are nested: one lies inside the other", a.dir.display(), a.tier, b.dir.display(), b.tier),
                    )
                    .tier(&b.tier)
                    .path(b.dir.display())
                    .hint("give every segment its own directory, none inside another"),
                );
            }
        }
    }
    matched
}

/// The root's own problems: partition directories beside `par.txt`, names ending in `$`.
fn root_findings(inv: &mut Inventory, source: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    // take_with(Segmented) reports date directories as a `verify` warning (kdb+ ignores them);
    // the import refuses them: they would be left behind (or lost to a reader) after it.
    inv.findings.retain(|f| f.code != code::VERIFY_SEGMENT);
    let Ok(entries) = fs::read_dir(source) else {
        return out;
    };
    let mut names: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            (e.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        let path = source.join(&name);
        if is_dir && classify(&name) == PartitionName::Date {
            out.push(
                Finding::error(
                    code::SEGMENT_ROOT_PARTITION,
                    format!("partition directory {name} sits in the root beside par.txt: kdb+ never loads it, and the import would leave it behind"),
                )
                .partition(&name)
                .path(path.display())
                .hint("move it into one of the segments (if its date is in none), or out of the database"),
            );
        } else if name.ends_with('$') {
            out.push(
                Finding::error(
                    code::LAYOUT_CLASH,
                    format!("root entry {name} ends in $: the SM root reserves such names for its segment directories"),
                )
                .path(path.display())
                .hint("rename or remove it"),
            );
        }
    }
    out
}

/// Reads the root of one segment (anything in it but date partitions is an error) and lists
/// its partitions, to be read with the others.
fn segment_scan(
    m: &Matched,
    findings: &mut Vec<Finding>,
    overlay: &Option<inventory::Overlay>,
) -> Option<Vec<inventory::PartitionDir>> {
    let (inv, dirs) = match inventory::scan_root(&m.dir, RootMode::Partitioned) {
        Ok(scan) => scan,
        Err(e) => {
            findings.push(
                Finding::error(
                    code::SEGMENT_MISSING,
                    format!("segment {} (tier {}): {e}", m.entry, m.tier),
                )
                .tier(&m.tier)
                .path(m.dir.display()),
            );
            return None;
        }
    };
    for f in &inv.findings {
        findings.push(f.clone().tier(&m.tier));
    }
    for r in &inv.root {
        findings.push(
            Finding::error(
                code::SEGMENT_NOT_PARTITION,
                format!("segment {} (tier {}) holds {}, which is not a date partition directory: a segment holds only partitions", m.entry, m.tier, r.name),
            )
            .tier(&m.tier)
            .path(r.path.display())
            .hint("move it to the root (enumeration domains, splayed tables) or out of the database"),
        );
    }
    let tier: std::sync::Arc<str> = m.tier.as_str().into();
    Some(
        dirs.into_iter()
            .map(|d| inventory::PartitionDir {
                tier: Some(tier.clone()),
                overlay: overlay.clone(),
                ..d
            })
            .collect(),
    )
}

/// Every date in at most one place (segment or object tier).
fn overlaps(homes: &BTreeMap<String, Vec<(String, String)>>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (date, places) in homes {
        if places.len() > 1 {
            let list: Vec<String> = places
                .iter()
                .map(|(tier, path)| format!("tier {tier} ({path})"))
                .collect();
            out.push(
                Finding::error(
                    code::TIER_OVERLAP,
                    format!("partition {date} is in {}: each date must live in exactly one segment or tier", list.join(" and ")),
                )
                .tier(&places[1].0)
                .partition(date)
                .path(&places[1].1)
                .hint("remove one copy (after checking both hold the same data), then run check again"),
            );
        }
    }
    out
}

/// The backup of a segmented database: `DIR` holds a copy of the root (its `par.txt` may
/// differ: the import never changes it) and `DIR/<tier>$` a copy of each tier's segment, so
/// that `DIR` with a `par.txt` listing `<tier>$` lines is itself a loadable copy.
fn backup_findings(source: &Path, matched: &[Matched], dir: &Path, deep: bool) -> Vec<Finding> {
    let mut out = backup::check_backup_except(source, dir, deep, |rel| rel == Path::new("par.txt"));
    if !dir.is_dir() {
        return out;
    }
    for m in matched {
        let copy = dir.join(plan::segment_dir_name(&m.tier));
        out.extend(
            backup::check_backup(&m.dir, &copy, deep)
                .into_iter()
                .map(|f| {
                    let msg = format!("segment {} (tier {}): {}", m.entry, m.tier, f.message);
                    Finding { message: msg, ..f }
                        .tier(&m.tier)
                        .hint(format!("a segmented database's backup holds a copy of the root and, for each tier, a copy of its segment named <tier>$: `cp -a {} {}`", m.dir.display(), copy.display()))
                }),
        );
    }
    out
}

/// Runs every check of a segmented database (the caller has ruled out a pending or finished
/// import), each segment's partitions changed by `overlay` as they are read (`check --remedy`).
/// Never writes anything.
pub(super) fn run(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    base: &Path,
    tiers: Vec<TierInput>,
    mut findings: Vec<Finding>,
    overlay: Option<inventory::Overlay>,
) -> Result<CheckOutcome, super::CheckError> {
    let source = base.join(plan::SOURCE_DIR);
    let par = source.join("par.txt");
    let text = match crate::special::read_regular_to_string(&par) {
        Ok(t) => t,
        Err(e) => {
            findings.push(
                Finding::error(code::VERIFY_PAR_TXT, format!("cannot read par.txt: {e}"))
                    .path(par.display()),
            );
            return Ok(outcome(findings, None, None));
        }
    };
    if let Some(line) = parse_par_txt(&source, &text)
        .into_iter()
        .find(|s| s.dir.is_some() && s.entry.ends_with('$'))
    {
        findings.push(
            Finding::error(
                code::SM_ALREADY,
                format!("{} lists the segment {}: a name ending in $ is how an SM root publishes its segments, so the database looks already imported", par.display(), line.entry),
            )
            .path(par.display())
            .hint("there is nothing to import; if this is left over from another tool, restore the original par.txt and run check again"),
        );
        return Ok(outcome(findings, None, None));
    }
    if fs::symlink_metadata(base.join(STORES_DIR)).is_ok() {
        findings.push(
            Finding::error(
                code::LAYOUT_CLASH,
                format!(
                    "{} exists: the SM layout of a segmented database puts its store anchors there",
                    base.join(STORES_DIR).display()
                ),
            )
            .path(base.join(STORES_DIR).display())
            .hint("move it away (it is not part of the database), then run check again"),
        );
    }
    let matched = match_segments(&source, &text, &tiers, &mut findings);

    let mut inv = match inventory::take_with(&source, RootMode::Segmented) {
        Ok(inv) => inv,
        Err(e) => {
            findings
                .push(Finding::error(code::DATABASE_MISSING, e.to_string()).path(source.display()));
            return Ok(outcome(findings, None, None));
        }
    };
    findings.extend(root_findings(&mut inv, &source));

    let base_dev = fs::metadata(base).map(|m| m.dev()).ok();
    let mut homes: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut segments = Vec::new();
    let mut dirs = Vec::new();
    for m in &matched {
        if let (Some(b), Ok(md)) = (base_dev, fs::metadata(&m.dir)) {
            if md.dev() != b {
                findings.push(
                    Finding::warning(
                        code::SEGMENT_OTHER_FS,
                        format!("segment {} (tier {}) at {} is on another filesystem than {}: its data stays there; its partitions are renamed within that filesystem (into {}/versions/), and the root reaches them through the symlink {}", m.entry, m.tier, m.dir.display(), base.display(), m.dir.display(), base.join(plan::store_anchor(&m.tier)).display()),
                    )
                    .tier(&m.tier)
                    .path(m.dir.display()),
                );
            }
        }
        let Some(seg_dirs) = segment_scan(m, &mut findings, &overlay) else {
            continue;
        };
        let dates: Vec<String> = seg_dirs.iter().map(|d| d.date.clone()).collect();
        for d in &seg_dirs {
            homes
                .entry(d.date.clone())
                .or_default()
                .push((m.tier.clone(), d.path.display().to_string()));
        }
        dirs.extend(seg_dirs);
        segments.push(SegmentInput {
            tier: m.tier.clone(),
            dir: m.dir.clone(),
            par_entry: m.entry.clone(),
            partitions: dates,
        });
    }
    // Read (and checked) below, once the object tiers' dates are known too.
    dirs.sort_by(|a, b| a.date.cmp(&b.date));

    // Object tiers are listed here and read (and checked) with the segments' partitions.
    let objects = list_object_tiers(config, opts, &mut findings)?;
    for pending in &objects {
        let url = &pending.listed.inventory.url;
        for date in &pending.listed.dates {
            homes
                .entry(date.clone())
                .or_default()
                .push((pending.name.clone(), format!("{url}/{date}")));
        }
    }
    // evaluate() reports overlaps as "local disk" against a tier; here every place is a tier.
    findings.extend(
        read_and_evaluate_with(Some(config), &mut inv, dirs, objects, opts.deep, |_| ())
            .0
            .into_iter()
            .filter(|f| f.code != code::TIER_OVERLAP),
    );
    findings.extend(overlaps(&homes));
    if let super::BackupCheck::Dir(dir) = &opts.backup {
        findings.extend(backup_findings(&source, &matched, dir, opts.deep));
        // The domains sit in the root, and the backup's root is DIR.
        super::advice::enum_domain_advice(&mut findings, &source, dir);
    }

    let input = SegmentedInput {
        base: base.to_path_buf(),
        root_entries: super::root_entries(&inv),
        tiers,
        segments,
        object_partitions: super::object_partitions(&inv),
    };
    let plan = match plan::build_segmented(&input) {
        Ok(p) => Some(p),
        // Reported above with more detail (the place of each copy, the tier's store).
        Err(PlanError::DuplicateDate { .. } | PlanError::NotASegment { .. }) => None,
        Err(e) => {
            findings.push(Finding::error(code::LAYOUT_CLASH, e.to_string()));
            None
        }
    };
    Ok(outcome(findings, Some(inv), plan))
}

fn outcome(
    findings: Vec<Finding>,
    inv: Option<Inventory>,
    plan: Option<plan::Plan>,
) -> CheckOutcome {
    let report = Report::new(findings);
    let plan = if report.ok { plan } else { None };
    CheckOutcome {
        report,
        inventory: inv,
        plan,
    }
}

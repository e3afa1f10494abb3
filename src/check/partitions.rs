//! Partitions family: each date in one tier, and which partitions hold which tables (q
//! discovers a partitioned database's tables from its last partition).

use super::ranges::date_ranges;
use super::{list_some, plural};
use crate::config::{AssemblyConfig, TableSchema};
use crate::finding::{code, Finding};
use crate::inventory::{self, Inventory};
use std::collections::{BTreeMap, BTreeSet};

/// The SM import forbids a date in two tiers (kdb+ itself would merge them).
pub(crate) fn tier_overlaps(all: &[inventory::PartRef]) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in all.windows(2) {
        if w[0].part.date == w[1].part.date {
            let name = |p: &inventory::PartRef| {
                p.tier
                    .map(|t| format!("tier {}", t.name))
                    .unwrap_or_else(|| "local disk".into())
            };
            out.push(
                Finding::error(
                    code::TIER_OVERLAP,
                    format!(
                        "partition {} is both on {} ({}) and in {} ({}): each date must live in exactly one tier",
                        w[0].part.date,
                        name(&w[0]),
                        w[0].part.path.display(),
                        name(&w[1]),
                        w[1].part.path.display()
                    ),
                )
                .partition(&w[0].part.date)
                .path(w[1].part.path.display())
                .hint("remove one copy (after checking both hold the same data), then run check again"),
            );
        }
    }
    out
}

/// Tables absent from some partitions, or present only where q does not look.
pub(crate) fn table_presence(
    config: Option<&AssemblyConfig>,
    inv: &Inventory,
    all: &[inventory::PartRef],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let tables: &[TableSchema] = config.map(|c| c.tables.as_slice()).unwrap_or(&[]);
    let configured: BTreeMap<&str, &TableSchema> =
        tables.iter().map(|t| (t.name.as_str(), t)).collect();
    // table -> partitions holding it
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in all {
        for t in &p.part.tables {
            seen.entry(t.name.as_str())
                .or_default()
                .push(p.part.date.as_str());
        }
    }
    let all_dates: Vec<&str> = all.iter().map(|p| p.part.date.as_str()).collect();
    // q discovers a partitioned database's tables from its last partition: a table missing
    // there is invisible to q, whatever the other partitions hold.
    let last_date = all.iter().map(|p| p.part.date.as_str()).max();
    let visible: BTreeSet<&str> = all
        .iter()
        .filter(|p| Some(p.part.date.as_str()) == last_date)
        .flat_map(|p| p.part.tables.iter().map(|t| t.name.as_str()))
        .collect();
    for (name, dates) in &seen {
        let is_visible = visible.contains(name);
        match configured.get(name) {
            // Without a configuration (`verify`) q's view decides: a table in earlier
            // partitions only is invisible to q, and harmless.
            None if config.is_none() && !is_visible => {
                out.push(
                    Finding::warning(
                        code::LOAD_TABLE_HIDDEN,
                        format!(
                            "table {name} is in {} partition{} ({}) but not in the last partition {}: q discovers tables from the last partition, so it does not see {name}; its directories move with their partitions unchanged",
                            dates.len(), plural(dates.len()), list_some(dates), last_date.unwrap_or("")
                        ),
                    )
                    .table(*name)
                    .partition(dates[0])
                    .path(inv.source.join(dates[0]).join(name).display())
                    .hint(format!("nothing to do if {name} is not meant to be queried; to make it queryable, write it into every partition (e.g. with .Q.chk) and add it to the configuration")),
                );
                continue;
            }
            None if config.is_none() => {}
            // SM's validator refuses a table in any partition that the assembly does not
            // configure, whether q sees it or not: its words, so users find them on KX's page.
            None => {
                out.push(
                    Finding::error(
                        code::SCHEMA_TABLE_UNEXPECTED,
                        format!(
                            "The table has not been configured in the assembly: partitions={} (table {name}, on disk in {} partition{}{})",
                            date_ranges(dates, &all_dates),
                            dates.len(),
                            plural(dates.len()),
                            if is_visible { "" } else { "; not in the last partition, so q does not see it, but SM's import refuses it" }
                        ),
                    )
                    .table(*name)
                    .partition(dates[0])
                    .path(inv.source.join(dates[0]).join(name).display())
                    .hint(format!("KX: if the table is supposed to be in the schema, add it (`smstage schema DB` prints its entry); otherwise remove {name} from every partition directory, or pass `--remedy set-aside` to check and plan: smstage moves it to <baseURI>/smstage-aside/ and rollback puts it back")),
                );
                if !is_visible {
                    continue;
                }
            }
            Some(t) if super::is_splayed(t) => out.push(
                Finding::error(
                    code::SCHEMA_TABLE_UNEXPECTED,
                    format!("table {name} is configured as splayed but is partitioned on disk"),
                )
                .table(*name)
                .hint("set its type to partitioned in the assembly configuration"),
            ),
            _ => {}
        }
        // A partition holding the table as a symbolic link does not lack it: the link's own
        // error (`symlink-*`) says what to do there.
        // Sets, not `Vec::contains`: at 25,000 partitions a scan per date was 625 million
        // comparisons per table (check at 1.1M files went from 4.7 s to 14 s).
        if dates.len() == all_dates.len() {
            continue;
        }
        let linked: BTreeSet<&str> = all
            .iter()
            .filter(|p| p.part.links.iter().any(|l| l.name == *name))
            .map(|p| p.part.date.as_str())
            .collect();
        let present: BTreeSet<&str> = dates.iter().copied().collect();
        let missing: Vec<&str> = all_dates
            .iter()
            .filter(|d| !present.contains(*d) && !linked.contains(*d))
            .copied()
            .collect();
        if !missing.is_empty() {
            out.push(
                Finding::error(
                    code::LOAD_TABLE_ABSENT,
                    format!(
                        "The table is missing from the database: partitions={} (table {name} is absent from {} of {} partitions: kdb+ discovers tables from the last partition, so queries fail on partitions without it, and SM's import refuses it)",
                        date_ranges(&missing, &all_dates), missing.len(), all_dates.len()
                    ),
                )
                .table(*name)
                .partition(missing[0])
                .path(inv.source.join(missing[0]).display())
                .hint(format!("write an empty {name} (with .d and empty columns) into each of those partitions, e.g. with .Q.chk, or pass `--remedy fill-tables` to check and plan: smstage writes them from the configured schema")),
            );
        }
    }
    out
}

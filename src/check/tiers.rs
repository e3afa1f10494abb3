//! Tiers family: the HDB tiers as the planner sees them, the store the in-place import needs,
//! and the object tiers listed and read (their dates decide which partition is last).

use super::{CheckError, CheckOptions};
use crate::config::{AssemblyConfig, StoreUri};
use crate::finding::{code, Finding};
use crate::inventory;
use crate::plan::{TierInput, TierKind};

/// The HDB tiers of the configuration, as the planner sees them.
pub fn hdb_tiers(config: &AssemblyConfig) -> Result<Vec<TierInput>, CheckError> {
    let hdb = config.hdb_mount()?;
    Ok(config
        .tiers_of_mount(&hdb.name)
        .into_iter()
        .filter_map(|t| {
            // Tiers on the HDB mount always have a store (defaulted to <baseURI>/data).
            let store = t.store.as_ref()?;
            Some(TierInput {
                name: t.name.clone(),
                kind: match store {
                    StoreUri::File(_) => TierKind::Local,
                    StoreUri::S3 { .. } => TierKind::Object,
                },
                store: store.to_string(),
            })
        })
        .collect())
}

/// Lists an object tier's partitions and reads their headers (ranged GETs only).
pub fn object_inventory(
    name: &str,
    bucket: &str,
    prefix: &str,
    opts: &crate::object::S3Options,
) -> Result<(inventory::ObjectTierInv, Vec<Finding>), crate::object::ObjectError> {
    let tier = crate::object::open_s3(bucket, prefix, opts)?;
    let oi = crate::object::take_object_inventory(&tier, name)?;
    let findings = oi.findings.into_iter().map(|f| f.tier(name)).collect();
    Ok((
        inventory::ObjectTierInv {
            name: name.to_string(),
            tier,
            partitions: oi.partitions,
        },
        findings,
    ))
}

/// An object tier listed (its dates known), whose partitions [`read_and_evaluate_with`] reads
/// and checks a chunk at a time.
#[derive(Debug)]
pub struct PendingTier {
    pub(crate) name: String,
    pub(crate) tier: crate::object::ObjectTier,
    pub(crate) listed: crate::object::ListedTier,
    /// Keep every object's record (the view of `mount --object-tiers-local` lists them).
    pub keep_files: bool,
}

/// Lists every object tier of the HDB mount, for [`read_and_evaluate_with`]; a tier that
/// cannot be listed is a finding.
pub(crate) fn list_object_tiers(
    config: &AssemblyConfig,
    opts: &CheckOptions,
    findings: &mut Vec<Finding>,
) -> Result<Vec<PendingTier>, CheckError> {
    let mut objects = Vec::new();
    for t in config.tiers_of_mount(&config.hdb_mount()?.name) {
        if let Some(StoreUri::S3 { bucket, prefix }) = &t.store {
            match list_object_tier(&t.name, bucket, prefix, &opts.s3) {
                Ok(pending) => objects.push(PendingTier {
                    keep_files: opts.keep_object_files,
                    ..pending
                }),
                Err(e) => findings.push(
                    Finding::error(
                        code::TIER_UNREACHABLE,
                        format!("object tier {}: {e}", t.name),
                    )
                    .tier(&t.name)
                    .path(format!("s3://{bucket}/{prefix}")),
                ),
            }
        }
    }
    Ok(objects)
}

/// Lists an object tier's root and dates (one LIST), for [`read_and_evaluate_with`].
pub fn list_object_tier(
    name: &str,
    bucket: &str,
    prefix: &str,
    opts: &crate::object::S3Options,
) -> Result<PendingTier, crate::object::ObjectError> {
    let tier = crate::object::open_s3(bucket, prefix, opts)?;
    let listed = crate::object::list_object_tier(&tier, name)?;
    Ok(PendingTier {
        name: name.to_string(),
        tier,
        listed,
        keep_files: false,
    })
}

//! Opening an S3 tier (explicit credentials, timeouts, bounded retries), object keys that keep
//! `#` literal, typed errors that name endpoint, bucket and prefix, and uploading a local tree.

use super::block_on;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Connect timeout: a dead endpoint must fail fast.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of one request (transient errors only: connection refused, 5xx, 429).
pub const MAX_RETRIES: usize = 3;
/// Concurrent uploads in [`upload_tree`].
const UPLOAD_CONCURRENCY: usize = 8;
/// Files above this size are uploaded in parts (S3 caps a single PUT at 5 GiB).
const MULTIPART_ABOVE: u64 = 64 << 20;
const PART_SIZE: usize = 16 << 20;

/// Choices the user makes on the command line (not from the environment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Use the EC2/ECS instance-metadata endpoint for credentials when none are in the
    /// environment (`--allow-instance-metadata`). Off by default: without it, missing
    /// credentials are an error instead of a silent request to 169.254.169.254.
    pub allow_instance_metadata: bool,
}

/// Connection settings, normally from the `AWS_*` environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Settings {
    /// `AWS_ENDPOINT` or `AWS_ENDPOINT_URL`; `None` means AWS itself.
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`), default `us-east-1`.
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// `AWS_ALLOW_HTTP=true`: allow a plain `http://` endpoint (local test servers).
    pub allow_http: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_retries: usize,
}

impl S3Settings {
    /// Reads the process environment.
    pub fn from_env() -> S3Settings {
        S3Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (tests pass a map instead of the real environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> S3Settings {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        S3Settings {
            endpoint: nonempty("AWS_ENDPOINT").or_else(|| nonempty("AWS_ENDPOINT_URL")),
            region: nonempty("AWS_REGION")
                .or_else(|| nonempty("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string()),
            access_key_id: nonempty("AWS_ACCESS_KEY_ID"),
            secret_access_key: nonempty("AWS_SECRET_ACCESS_KEY"),
            session_token: nonempty("AWS_SESSION_TOKEN"),
            allow_http: nonempty("AWS_ALLOW_HTTP")
                .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
                .unwrap_or(false),
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_retries: MAX_RETRIES,
        }
    }

    /// The endpoint as shown in messages.
    pub fn endpoint_display(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }

    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: self.max_retries,
            // Bounds retries of a dead endpoint: at most a few connect timeouts.
            retry_timeout: Duration::from_secs(15),
        }
    }
}

/// Where an error happened: every message names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{} at {}",
            self.bucket, self.prefix, self.endpoint
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("no S3 credentials for {place}: {detail}\n  fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary credentials), or pass --allow-instance-metadata to use the instance role of this EC2/ECS host")]
    NoCredentials { place: Box<Place>, detail: String },
    #[error("bad S3 configuration for {place}: {detail}\n  fix: check AWS_ENDPOINT (a URL such as https://s3.example.com; http:// needs AWS_ALLOW_HTTP=true), AWS_REGION and the store URI in the assembly")]
    Config { place: Box<Place>, detail: String },
    #[error("cannot reach the S3 endpoint for {place} ({op}, gave up after {retries} retries): {detail}\n  fix: check that AWS_ENDPOINT is right and the server is up and reachable from this host")]
    Unreachable {
        place: Box<Place>,
        op: String,
        retries: usize,
        detail: String,
    },
    #[error("the bucket {bucket} does not exist at {endpoint} (store s3://{bucket}/{prefix}, {op}): {detail}\n  fix: create the bucket, or correct the bucket name in the tier's store URI (and AWS_ENDPOINT/AWS_REGION)", bucket = place.bucket, prefix = place.prefix, endpoint = place.endpoint)]
    MissingBucket {
        place: Box<Place>,
        op: String,
        detail: String,
    },
    #[error("the S3 server refused the credentials for {place} ({op}): {detail}\n  fix: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (expired?), and that this key may list and read the bucket")]
    BadCredentials {
        place: Box<Place>,
        op: String,
        detail: String,
    },
    #[error("object {url} not found ({op}): {detail}\n  fix: the object vanished or was never uploaded; re-run the inventory (check) after the upload finished")]
    NotFound {
        url: String,
        op: String,
        detail: String,
    },
    #[error("object key {key:?} under {place} is not usable: {detail}")]
    BadKey {
        place: Box<Place>,
        key: String,
        detail: String,
    },
    #[error("S3 request failed for {place} ({op}): {detail}\n  fix: see the server's message above; re-run when the store is healthy")]
    Other {
        place: Box<Place>,
        op: String,
        detail: String,
    },
    /// The bytes of an object are not a readable kdb+ file (deep reads).
    #[error(transparent)]
    Kdb(#[from] crate::kdb::KdbError),
    #[error("reading {path} for upload: {source}")]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ObjectError {
    /// Classifies an `object_store` error from operation `op` on `key`.
    pub(crate) fn from_store(
        place: &Place,
        retries: usize,
        op: &str,
        key: &str,
        e: &object_store::Error,
    ) -> ObjectError {
        let detail = chain(e);
        let low = detail.to_ascii_lowercase();
        let place = Box::new(place.clone());
        let op = format!("{op} {key}");
        if low.contains("nosuchbucket") || low.contains("specified bucket does not exist") {
            return ObjectError::MissingBucket { place, op, detail };
        }
        if matches!(
            e,
            object_store::Error::Unauthenticated { .. }
                | object_store::Error::PermissionDenied { .. }
        ) || low.contains("invalidaccesskeyid")
            || low.contains("signaturedoesnotmatch")
            || low.contains("accessdenied")
            || low.contains("403 forbidden")
            || low.contains("401 unauthorized")
        {
            return ObjectError::BadCredentials { place, op, detail };
        }
        if let object_store::Error::NotFound { .. } = e {
            let url = format!("s3://{}/{}", place.bucket, key);
            return ObjectError::NotFound { url, op, detail };
        }
        if low.contains("error sending request")
            || low.contains("connection refused")
            || low.contains("connect")
            || low.contains("timed out")
            || low.contains("dns error")
            || low.contains("connection reset")
            || low.contains("connection closed")
        {
            return ObjectError::Unreachable {
                place,
                op,
                retries,
                detail,
            };
        }
        ObjectError::Other { place, op, detail }
    }

    /// True for failures of the store itself (as opposed to one object's content).
    pub fn is_store_failure(&self) -> bool {
        !matches!(
            self,
            ObjectError::NotFound { .. } | ObjectError::Local { .. } | ObjectError::Kdb(_)
        )
    }
}

/// The error and its sources on one line (object_store nests the HTTP detail deep).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    compact_xml(s)
}

/// Replaces an S3 XML error body with its `Code: Message`.
fn compact_xml(s: String) -> String {
    let Some(at) = s.find("<?xml").or_else(|| s.find("<Error>")) else {
        return s;
    };
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let from = s[at..].find(&open)? + at + open.len();
        let to = s[from..].find(&format!("</{t}>"))? + from;
        Some(s[from..to].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{}{c}: {m}", &s[..at]),
        (Some(c), None) => format!("{}{c}", &s[..at]),
        _ => s,
    }
}

/// One bucket/prefix of an object store, with everything needed to name it in errors.
#[derive(Clone, Debug)]
pub struct ObjectTier {
    store: Arc<dyn ObjectStore>,
    place: Place,
    retries: usize,
}

impl ObjectTier {
    /// A tier over any store (tests use `object_store::memory::InMemory`).
    pub fn from_store(
        store: Arc<dyn ObjectStore>,
        endpoint: &str,
        bucket: &str,
        prefix: &str,
    ) -> ObjectTier {
        ObjectTier {
            store,
            place: Place {
                endpoint: endpoint.to_string(),
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            },
            retries: 0,
        }
    }

    /// The same tier with its store wrapped (fault injection, instrumentation).
    pub fn map_store(
        self,
        f: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> ObjectTier {
        ObjectTier {
            store: f(self.store),
            ..self
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
    pub fn bucket(&self) -> &str {
        &self.place.bucket
    }
    /// The prefix without leading/trailing `/` (may be empty).
    pub fn prefix(&self) -> &str {
        &self.place.prefix
    }
    pub fn endpoint(&self) -> &str {
        &self.place.endpoint
    }
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// `s3://bucket/prefix`, no trailing `/` (the `par.txt` line of this tier).
    pub fn url(&self) -> String {
        if self.place.prefix.is_empty() {
            format!("s3://{}", self.place.bucket)
        } else {
            format!("s3://{}/{}", self.place.bucket, self.place.prefix)
        }
    }

    /// The key of `rel` (`2024.01.02/trade/price#`) under the prefix. Built with
    /// `Path::parse`, which keeps `#` and other characters literal; `Path::from` would
    /// percent-encode them into different keys than kdb+ reads.
    pub fn key(&self, rel: &str) -> Result<ObjPath, ObjectError> {
        let rel = rel.trim_matches('/');
        let full = match (self.place.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.place.prefix.clone(),
            (false, false) => format!("{}/{}", self.place.prefix, rel),
        };
        ObjPath::parse(&full).map_err(|e| ObjectError::BadKey {
            place: Box::new(self.place.clone()),
            key: full.clone(),
            detail: e.to_string(),
        })
    }

    /// `s3://bucket/<key>`: how inventories name objects (kept in `PathBuf`s).
    pub fn url_of(&self, key: &ObjPath) -> String {
        format!("s3://{}/{}", self.place.bucket, key.as_ref())
    }

    /// The key named by an `s3://bucket/key` URL of this tier's bucket.
    pub fn key_of_url(&self, url: &str) -> Result<ObjPath, ObjectError> {
        let bad = |detail: &str| ObjectError::BadKey {
            place: Box::new(self.place.clone()),
            key: url.to_string(),
            detail: detail.to_string(),
        };
        let rest = url
            .strip_prefix("s3://")
            .and_then(|r| r.strip_prefix(self.place.bucket.as_str()))
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| bad("not an s3:// URL of this tier's bucket"))?;
        ObjPath::parse(rest).map_err(|e| bad(&e.to_string()))
    }

    pub(crate) fn err(&self, op: &str, key: &ObjPath, e: &object_store::Error) -> ObjectError {
        ObjectError::from_store(&self.place, self.retries, op, key.as_ref(), e)
    }

    /// Checks that the bucket answers a listing of the prefix with these credentials.
    pub fn probe(&self) -> Result<(), ObjectError> {
        let key = self.key("")?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        block_on(self.store.list_with_delimiter(prefix))
            .map(|_| ())
            .map_err(|e| self.err("LIST", &key, &e))
    }

    /// Every object under `rel` (recursive), as (key relative to the prefix, size), sorted.
    pub fn list_all(&self, rel: &str) -> Result<Vec<(String, u64)>, ObjectError> {
        let key = self.key(rel)?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        let metas: Vec<_> = block_on(self.store.list(prefix).try_collect::<Vec<_>>())
            .map_err(|e| self.err("LIST", &key, &e))?;
        let strip = if self.place.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.place.prefix)
        };
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .map(|m| {
                let k = m.location.as_ref();
                (k.strip_prefix(&strip).unwrap_or(k).to_string(), m.size)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every object of the tier (recursive), as (key relative to the prefix, size, ETag),
    /// sorted by key: what a saved plan's fingerprint records of an object tier.
    pub fn list_with_etags(&self) -> Result<Vec<(String, u64, Option<String>)>, ObjectError> {
        let key = self.key("")?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        let metas: Vec<_> = block_on(self.store.list(prefix).try_collect::<Vec<_>>())
            .map_err(|e| self.err("LIST", &key, &e))?;
        let strip = if self.place.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.place.prefix)
        };
        let mut out: Vec<_> = metas
            .into_iter()
            .map(|m| {
                let k = m.location.as_ref();
                let rel = k.strip_prefix(&strip).unwrap_or(k).to_string();
                (rel, m.size, m.e_tag)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Writes one object at `rel` under the prefix.
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let key = self.key(rel)?;
        block_on(self.store.put(&key, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.err("PUT", &key, &e))
    }
}

/// Opens `s3://bucket/prefix` with settings from the environment and checks it answers.
pub fn open_s3(bucket: &str, prefix: &str, opts: &S3Options) -> Result<ObjectTier, ObjectError> {
    let tier = open_s3_with(bucket, prefix, &S3Settings::from_env(), opts)?;
    tier.probe()?;
    Ok(tier)
}

/// Builds the tier from explicit settings; makes no request (see [`ObjectTier::probe`]).
pub fn open_s3_with(
    bucket: &str,
    prefix: &str,
    settings: &S3Settings,
    opts: &S3Options,
) -> Result<ObjectTier, ObjectError> {
    build(bucket, prefix, settings, opts, None)
}

pub(crate) fn build(
    bucket: &str,
    prefix: &str,
    settings: &S3Settings,
    opts: &S3Options,
    connector: Option<super::faulty::FaultyConnector>,
) -> Result<ObjectTier, ObjectError> {
    let place = Box::new(Place {
        endpoint: settings.endpoint_display(),
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
    });
    if bucket.is_empty() {
        return Err(ObjectError::Config {
            place,
            detail: "empty bucket name".into(),
        });
    }
    let client = ClientOptions::new()
        .with_connect_timeout(settings.connect_timeout)
        .with_timeout(settings.request_timeout)
        .with_allow_http(settings.allow_http);
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&settings.region)
        .with_client_options(client)
        .with_retry(settings.retry_config());
    if let Some(ep) = &settings.endpoint {
        if ep.starts_with("http://") && !settings.allow_http {
            return Err(ObjectError::Config {
                place,
                detail: format!("endpoint {ep} is plain http but AWS_ALLOW_HTTP is not true"),
            });
        }
        b = b.with_endpoint(ep);
    }
    match (&settings.access_key_id, &settings.secret_access_key) {
        (Some(k), Some(s)) => {
            b = b.with_access_key_id(k).with_secret_access_key(s);
            if let Some(t) = &settings.session_token {
                b = b.with_token(t);
            }
        }
        (None, None) if opts.allow_instance_metadata => {
            // Nothing set: the builder falls back to the instance-metadata provider.
        }
        (k, s) => {
            let detail = match (k, s) {
                (Some(_), None) => "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                (None, Some(_)) => "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
                _ => "neither AWS_ACCESS_KEY_ID nor AWS_SECRET_ACCESS_KEY is set (smstage does not ask the instance-metadata endpoint unless --allow-instance-metadata is given)",
            };
            return Err(ObjectError::NoCredentials {
                place,
                detail: detail.to_string(),
            });
        }
    }
    if let Some(c) = connector {
        b = b.with_http_connector(c);
    }
    let store = b.build().map_err(|e| ObjectError::Config {
        place: place.clone(),
        detail: chain(&e),
    })?;
    Ok(ObjectTier {
        store: Arc::new(store),
        place: *place,
        retries: settings.max_retries,
    })
}

/// What [`upload_tree`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadSummary {
    pub objects: usize,
    pub bytes: u64,
}

/// Uploads every regular file under `local_dir` to `<prefix>/<key_prefix>/<relative path>`,
/// keeping names byte for byte (`price#` stays `price#`). Symbolic links are not followed
/// (an error: the object would silently differ from the local tree).
pub fn upload_tree(
    tier: &ObjectTier,
    local_dir: &Path,
    key_prefix: &str,
) -> Result<UploadSummary, ObjectError> {
    let local = |path: &Path, source: std::io::Error| ObjectError::Local {
        path: path.to_path_buf(),
        source,
    };
    if !local_dir.is_dir() {
        return Err(local(
            local_dir,
            std::io::Error::other(
                "not a directory: upload_tree uploads the files below a directory",
            ),
        ));
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(local_dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let p = e.path().unwrap_or(local_dir).to_path_buf();
            local(&p, e.into())
        })?;
        if entry.file_type().is_symlink() {
            return Err(local(
                entry.path(),
                std::io::Error::other("is a symbolic link; upload the data it points to instead"),
            ));
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(local_dir)
            .map_err(|e| local(entry.path(), std::io::Error::other(e.to_string())))?;
        let rel = rel.to_str().ok_or_else(|| {
            local(
                entry.path(),
                std::io::Error::other("file name is not UTF-8; S3 keys must be"),
            )
        })?;
        let key_rel = if key_prefix.trim_matches('/').is_empty() {
            rel.to_string()
        } else {
            format!("{}/{}", key_prefix.trim_matches('/'), rel)
        };
        let key = tier.key(&key_rel)?;
        files.push((entry.path().to_path_buf(), key));
    }
    let results: Vec<u64> = block_on(
        stream::iter(
            files
                .into_iter()
                .map(|(path, key)| async move { upload_one(tier, &path, &key).await }),
        )
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .try_collect(),
    )?;
    Ok(UploadSummary {
        objects: results.len(),
        bytes: results.iter().sum(),
    })
}

async fn upload_one(tier: &ObjectTier, path: &Path, key: &ObjPath) -> Result<u64, ObjectError> {
    let local = |source: std::io::Error| ObjectError::Local {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(local)?.len();
    if size <= MULTIPART_ABOVE {
        let bytes = std::fs::read(path).map_err(local)?;
        let n = bytes.len() as u64;
        tier.store
            .put(key, PutPayload::from(bytes))
            .await
            .map_err(|e| tier.err("PUT", key, &e))?;
        return Ok(n);
    }
    let upload = tier
        .store
        .put_multipart(key)
        .await
        .map_err(|e| tier.err("PUT (multipart)", key, &e))?;
    let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut f = std::fs::File::open(path).map_err(local)?;
    let mut buf = vec![0u8; PART_SIZE];
    let mut total = 0u64;
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(local)?;
        if n == 0 {
            break;
        }
        w.wait_for_capacity(4)
            .await
            .map_err(|e| tier.err("PUT (multipart)", key, &e))?;
        w.write(&buf[..n]);
        total += n as u64;
    }
    w.finish()
        .await
        .map_err(|e| tier.err("PUT (multipart)", key, &e))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> S3Settings {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        S3Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn env_defaults_and_aliases() {
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ALLOW_HTTP", "TRUE"),
        ]);
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(s.region, "us-east-1");
        assert!(s.allow_http);
        let s = settings(&[
            ("AWS_ENDPOINT", "http://a"),
            ("AWS_ENDPOINT_URL", "http://b"),
            ("AWS_REGION", "eu-west-2"),
        ]);
        assert_eq!(s.endpoint.as_deref(), Some("http://a"));
        assert_eq!(s.region, "eu-west-2");
        assert!(!s.allow_http);
        assert_eq!(s.endpoint_display(), "http://a");
        assert_eq!(
            settings(&[]).endpoint_display(),
            "https://s3.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn no_credentials_is_an_error_naming_the_variables() {
        let s = settings(&[
            ("AWS_ENDPOINT", "http://127.0.0.1:9"),
            ("AWS_ALLOW_HTTP", "1"),
        ]);
        let e = open_s3_with("b", "p/q", &s, &S3Options::default()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ObjectError::NoCredentials { .. }), "{msg}");
        for want in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "--allow-instance-metadata",
            "s3://b/p/q",
            "http://127.0.0.1:9",
        ] {
            assert!(msg.contains(want), "{want} missing from: {msg}");
        }
        let s = settings(&[("AWS_ACCESS_KEY_ID", "k")]);
        let e = open_s3_with("b", "", &s, &S3Options::default()).unwrap_err();
        assert!(
            e.to_string().contains("AWS_SECRET_ACCESS_KEY is not"),
            "{e}"
        );
        // With the opt-in, building succeeds (no request is made here).
        let ok = open_s3_with(
            "b",
            "",
            &settings(&[]),
            &S3Options {
                allow_instance_metadata: true,
            },
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let s = settings(&[
            ("AWS_ENDPOINT", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        let e = open_s3_with("b", "", &s, &S3Options::default()).unwrap_err();
        assert!(
            matches!(e, ObjectError::Config { .. }) && e.to_string().contains("AWS_ALLOW_HTTP"),
            "{e}"
        );
    }

    #[test]
    fn xml_error_bodies_are_compacted() {
        let s = "403 Forbidden: <?xml version=\"1.0\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message><RequestId>1</RequestId></Error>".to_string();
        assert_eq!(
            compact_xml(s),
            "403 Forbidden: SignatureDoesNotMatch: bad sig"
        );
        assert_eq!(compact_xml("plain".into()), "plain");
    }

    #[test]
    fn keys_keep_hash_literal() {
        let t = ObjectTier::from_store(
            Arc::new(object_store::memory::InMemory::new()),
            "mem",
            "bkt",
            "/db/eq/",
        );
        assert_eq!(t.url(), "s3://bkt/db/eq");
        let k = t.key("2024.01.02/trade/price#").unwrap();
        assert_eq!(k.as_ref(), "db/eq/2024.01.02/trade/price#");
        assert_eq!(t.url_of(&k), "s3://bkt/db/eq/2024.01.02/trade/price#");
        assert_eq!(
            t.key_of_url("s3://bkt/db/eq/2024.01.02/trade/price#")
                .unwrap(),
            k
        );
        assert!(t.key_of_url("s3://other/db/x").is_err());
        assert!(t.key("a//b").is_err());
        let root = ObjectTier::from_store(
            Arc::new(object_store::memory::InMemory::new()),
            "mem",
            "bkt",
            "",
        );
        assert_eq!(root.url(), "s3://bkt");
        assert_eq!(root.key("sym").unwrap().as_ref(), "sym");
    }

    #[test]
    fn upload_tree_and_list_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("2024.01.02/t")).unwrap();
        std::fs::write(dir.path().join("2024.01.02/t/c#"), b"abc").unwrap();
        std::fs::write(dir.path().join("sym"), b"hello").unwrap();
        let t = ObjectTier::from_store(
            Arc::new(object_store::memory::InMemory::new()),
            "mem",
            "bkt",
            "pre",
        );
        let s = upload_tree(&t, dir.path(), "up").unwrap();
        assert_eq!(
            s,
            UploadSummary {
                objects: 2,
                bytes: 8
            }
        );
        assert_eq!(
            t.list_all("").unwrap(),
            vec![
                ("up/2024.01.02/t/c#".to_string(), 3),
                ("up/sym".to_string(), 5)
            ]
        );
    }
}

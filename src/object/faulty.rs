//! Fault injection and instrumentation for object tiers (tests): a wrapping `ObjectStore` that
//! counts calls and fetched bytes, fails the Nth or every call, delays, or runs a hook (e.g.
//! kill the server) at a chosen call; and an HTTP connector that fails requests *below*
//! object_store's retry loop, so the bounded retries themselves can be observed.

use super::store::{build, ObjectError, ObjectTier, S3Options, S3Settings};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::path::Path;
use object_store::{
    ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Hook = Box<dyn FnOnce() + Send>;

/// What to do to calls, and what was seen. Calls are numbered from 1 in the order they start.
#[derive(Default)]
pub struct FaultPlan {
    calls: AtomicUsize,
    bytes: AtomicU64,
    /// Fail exactly this call (0: none).
    fail_call: AtomicUsize,
    /// Fail this call and every later one (0: none).
    fail_from: AtomicUsize,
    delay_ms: AtomicU64,
    hook: Mutex<Option<(usize, Hook)>>,
    by_key: Mutex<BTreeMap<String, (usize, u64)>>,
}

impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultPlan")
            .field("calls", &self.calls())
            .field("bytes", &self.bytes_fetched())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultPlan {
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }
    /// Fail call `n` only.
    pub fn fail_call(&self, n: usize) {
        self.fail_call.store(n, Ordering::SeqCst);
    }
    /// Fail call `n` and all after it (1: every call).
    pub fn fail_from(&self, n: usize) {
        self.fail_from.store(n, Ordering::SeqCst);
    }
    /// Sleep this long before each call.
    pub fn delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }
    /// Run `f` once, just before call `n` is made.
    pub fn on_call(&self, n: usize, f: impl FnOnce() + Send + 'static) {
        *lock(&self.hook) = Some((n, Box::new(f)));
    }
    /// Calls started so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    /// Bytes returned by GETs so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
    /// Per key: (GET count, bytes returned).
    pub fn fetched_by_key(&self) -> BTreeMap<String, (usize, u64)> {
        lock(&self.by_key).clone()
    }
    /// Forget the counts (not the faults).
    pub fn reset_counts(&self) {
        self.calls.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
        lock(&self.by_key).clear();
    }

    /// Books a call; `Err(n)` when call `n` must fail.
    async fn enter(&self) -> Result<usize, usize> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let hook = {
            let mut h = lock(&self.hook);
            match h.as_ref() {
                Some((at, _)) if *at == n => h.take().map(|(_, f)| f),
                _ => None,
            }
        };
        if let Some(f) = hook {
            f();
        }
        let d = self.delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        let one = self.fail_call.load(Ordering::SeqCst);
        let from = self.fail_from.load(Ordering::SeqCst);
        if one == n || (from != 0 && n >= from) {
            Err(n)
        } else {
            Ok(n)
        }
    }

    fn count_get(&self, key: &Path, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
        let mut m = lock(&self.by_key);
        let e = m.entry(key.as_ref().to_string()).or_default();
        e.0 += 1;
        e.1 += bytes;
    }
}

fn injected(n: usize, op: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: format!("injected fault on call {n} ({op})").into(),
    }
}

/// An `ObjectStore` that applies a [`FaultPlan`] to every call of `inner`.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<FaultPlan>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, plan: Arc<FaultPlan>) -> FaultyStore {
        FaultyStore { inner, plan }
    }

    /// `tier` with its store wrapped by a `FaultyStore` following `plan`.
    pub fn wrap(tier: ObjectTier, plan: &Arc<FaultPlan>) -> ObjectTier {
        let plan = Arc::clone(plan);
        tier.map_store(move |s| Arc::new(FaultyStore::new(s, plan)))
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.plan.enter().await.map_err(|n| injected(n, "put"))?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.plan
            .enter()
            .await
            .map_err(|n| injected(n, "put_multipart"))?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.plan.enter().await.map_err(|n| injected(n, "get"))?;
        let head = options.head;
        let r = self.inner.get_opts(location, options).await?;
        if !head {
            self.plan.count_get(location, r.range.end - r.range.start);
        }
        Ok(r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let plan = Arc::clone(&self.plan);
        let prefix = prefix.cloned();
        stream::once(async move {
            match plan.enter().await {
                Ok(_) => inner.list(prefix.as_ref()),
                Err(n) => stream::once(async move { Err(injected(n, "list")) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.plan
            .enter()
            .await
            .map_err(|n| injected(n, "list_with_delimiter"))?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.plan.enter().await.map_err(|n| injected(n, "copy"))?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// An HTTP connector whose requests follow a [`FaultPlan`]: a failing call is a connection
/// error, which object_store retries (up to `max_retries`) before giving up.
#[derive(Debug, Clone)]
pub struct FaultyConnector {
    plan: Arc<FaultPlan>,
}

impl FaultyConnector {
    pub fn new(plan: Arc<FaultPlan>) -> FaultyConnector {
        FaultyConnector { plan }
    }
}

impl HttpConnector for FaultyConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(FaultyHttp {
            inner,
            plan: Arc::clone(&self.plan),
        }))
    }
}

#[derive(Debug)]
struct FaultyHttp {
    inner: HttpClient,
    plan: Arc<FaultPlan>,
}

#[async_trait]
impl HttpService for FaultyHttp {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if let Err(n) = self.plan.enter().await {
            return Err(HttpError::new(
                HttpErrorKind::Connect,
                std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("injected connection refused on HTTP request {n}"),
                ),
            ));
        }
        self.inner.execute(req).await
    }
}

/// [`super::open_s3_with`] with every HTTP request passing through a [`FaultyConnector`].
pub fn open_s3_faulty(
    bucket: &str,
    prefix: &str,
    settings: &S3Settings,
    opts: &S3Options,
    plan: &Arc<FaultPlan>,
) -> Result<ObjectTier, ObjectError> {
    build(
        bucket,
        prefix,
        settings,
        opts,
        Some(FaultyConnector::new(Arc::clone(plan))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn tier() -> ObjectTier {
        let t = ObjectTier::from_store(Arc::new(InMemory::new()), "mem", "b", "p");
        t.put("a/x", vec![7u8; 100]).unwrap();
        t
    }

    #[test]
    fn nth_call_fails_then_recovers() {
        let plan = FaultPlan::new();
        let t = FaultyStore::wrap(tier(), &plan);
        plan.fail_call(2);
        assert!(t.list_all("").is_ok());
        let e = t.list_all("").unwrap_err();
        assert!(e.to_string().contains("injected fault on call 2"), "{e}");
        assert!(e.to_string().contains("s3://b/p"), "{e}");
        assert!(t.list_all("").is_ok());
        assert_eq!(plan.calls(), 3);
    }

    #[test]
    fn counts_bytes_of_ranged_gets_and_runs_hooks() {
        let plan = FaultPlan::new();
        let t = FaultyStore::wrap(tier(), &plan);
        let hit = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hit);
        plan.on_call(1, move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let f = crate::object::ObjectFile::new(&t, t.key("a/x").unwrap(), 100);
        let mut b = [0u8; 10];
        crate::kdb::ReadAt::read_at(&f, 0, &mut b).unwrap();
        crate::kdb::ReadAt::read_at(&f, 50, &mut b).unwrap();
        // One GET of the (100-byte) head served both reads.
        assert_eq!(plan.calls(), 1);
        assert_eq!(plan.bytes_fetched(), 100);
        assert_eq!(plan.fetched_by_key()["p/a/x"], (1, 100));
        assert_eq!(hit.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn every_call_fails_when_asked() {
        let plan = FaultPlan::new();
        plan.fail_from(1);
        let t = FaultyStore::wrap(tier(), &plan);
        for _ in 0..3 {
            assert!(t.put("y", vec![1]).is_err());
        }
        assert_eq!(plan.calls(), 3);
    }
}

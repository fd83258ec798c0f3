//! The `file:` upstream: a local folder served like an S3 bucket, so the gateway runs on
//! a laptop with no AWS account. It owns mapping keys to paths inside the folder (never
//! outside it, whatever the key or the symlinks say), GET/HEAD with validators,
//! preconditions and single byte ranges, atomic PUT, DELETE, and S3-style XML errors.
//! It must not log, buffer whole objects, panic on request input, or serve the hidden
//! temporary files its uploads go through. CORS and routing are the proxy's business.
//!
//! Layout: [`key`] turns the request path into a safe relative path (pure);
//! [`conditional`] and [`range`] evaluate RFC 9110 preconditions and `Range` (pure);
//! [`error`] renders S3 error XML; this file does the file system work.
//!
//! Known differences from S3: no listing (`GET /` is 403 AccessDenied); ETags are not
//! MD5 digests but derived from size, modification time and inode; objects carry no
//! stored metadata, so `Content-Type` is guessed from the extension; a key cannot be
//! both an object and a prefix of another (`a` and `a/b`); keys with `.`, `..` or empty
//! segments are refused; writes naming a sub-resource (`?acl`, `?tagging`, multipart
//! parts) or a copy source are 501 NotImplemented rather than mistaken for a plain PUT.

mod error;
mod key;
#[cfg(test)]
mod tests;

use std::{
    io::{self, SeekFrom},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::{
    fs::{self, File},
    io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt},
};
use tokio_util::io::ReaderStream;

use self::{
    error::S3Error,
    key::{KeyError, ObjectKey, TEMP_PREFIX},
};
use super::{empty, Body, BoxError};
use crate::representation::{
    conditional::{self, Outcome, Validators},
    range::{self, Ranged},
};

/// Read size for streamed objects: large enough to keep syscalls few, small enough that
/// a slow client holds little memory.
const CHUNK: usize = 64 * 1024;

/// What S3 says for an object stored without a type would be `binary/octet-stream`; we
/// use the registered type browsers and RFC 9110 §8.3 know.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A folder served as a bucket: the object key is the percent-decoded request path
/// without its leading `/`.
#[derive(Debug, Clone)]
pub struct FileBucket {
    /// Canonical (absolute, symlink-free), so "is this path inside the bucket" is a
    /// prefix check on canonical paths.
    root: PathBuf,
    /// PUT and DELETE are answered 403 AccessDenied unless set.
    writable: bool,
}

impl FileBucket {
    /// `root` must be an existing directory; it is canonicalized once, here.
    pub fn new(root: PathBuf, writable: bool) -> io::Result<FileBucket> {
        let root = std::fs::canonicalize(&root)?;
        if !std::fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(FileBucket { root, writable })
    }

    /// The canonical folder served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers one request like S3 would.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<BoxError>,
    {
        let head = req.method() == Method::HEAD;
        match self.dispatch(req).await {
            Ok(response) => response,
            Err(e) => e.into_response(head),
        }
    }

    async fn dispatch<B>(&self, req: Request<B>) -> Result<Response<Body>, S3Error>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<BoxError>,
    {
        let method = req.method().clone();
        let parsed = key::parse(req.uri().path());
        let readable_key = match &parsed {
            Ok(k) => Some(k.key.as_str()),
            Err(KeyError::Unsafe(k) | KeyError::Reserved(k)) => Some(k.as_str()),
            Err(KeyError::Bucket | KeyError::NotUtf8) => None,
        };
        let with_key = |e: S3Error| match readable_key {
            Some(k) => e.with_key(k),
            None => e,
        };
        let write = method == Method::PUT || method == Method::DELETE;
        if !(write || method == Method::GET || method == Method::HEAD) {
            return Err(with_key(S3Error::method_not_allowed()));
        }
        // Like S3, authorization comes before looking at the key.
        if write && !self.writable {
            return Err(with_key(S3Error::access_denied(
                "This file: bucket is read-only.",
            )));
        }
        if write {
            let copy = method == Method::PUT && req.headers().contains_key("x-amz-copy-source");
            if copy || write_subresource(req.uri().query()).is_some() {
                return Err(with_key(S3Error::not_implemented()));
            }
        }
        let key = match parsed {
            Ok(k) => k,
            Err(KeyError::Bucket) => {
                return Err(S3Error::access_denied(
                    "The file: backend does not list or manage the bucket itself.",
                ))
            }
            Err(KeyError::NotUtf8 | KeyError::Unsafe(_)) => {
                return Err(with_key(S3Error::invalid_uri()))
            }
            Err(KeyError::Reserved(_)) => {
                return Err(with_key(S3Error::access_denied(
                    "Keys starting with .corsgate-tmp- are reserved for uploads in progress.",
                )))
            }
        };
        let result = match method {
            Method::PUT => self.put(req, &key).await,
            Method::DELETE => self.delete(&key).await,
            // Only the parts, not `&Request<B>`: that would make the future Send only for
            // `B: Sync`, which hyper's `Incoming` and boxed bodies are not.
            _ => self.get(req.method(), req.headers(), &key).await,
        };
        result.map_err(|e| e.with_key(&key.key))
    }

    /// GET and HEAD.
    async fn get(
        &self,
        method: &Method,
        headers: &HeaderMap,
        key: &ObjectKey,
    ) -> Result<Response<Body>, S3Error> {
        let head = method == Method::HEAD;
        let (mut file, meta) = self.open(key).await?;
        let v = validators(&meta);
        match conditional::evaluate(method, headers, &v) {
            Outcome::Proceed => {}
            Outcome::Failed(condition) => return Err(S3Error::precondition_failed(condition)),
            Outcome::NotModified => {
                // RFC 9110 §15.4.5: the validators a 200 would carry, no content.
                let mut response = Response::new(empty());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                put_validators(response.headers_mut(), &v)?;
                return Ok(response);
            }
        }

        let size = meta.len();
        // S3 honours Range on HEAD as well (206 with the part's length), so we do too.
        let ranged = match headers.get(header::RANGE).map(|r| r.to_str()) {
            Some(Ok(value)) if conditional::if_range_holds(headers, &v) => {
                match range::parse(value, size) {
                    Ranged::Unsatisfiable => return Err(S3Error::invalid_range(size, value)),
                    r => r,
                }
            }
            _ => Ranged::Full,
        };
        let (status, first, len) = match ranged {
            Ranged::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
            _ => (StatusCode::OK, 0, size),
        };

        let body = if head {
            empty()
        } else {
            if first > 0 {
                file.seek(SeekFrom::Start(first))
                    .await
                    .map_err(|e| S3Error::internal(&e))?;
            }
            // `take` holds the body to the Content-Length we announce even if the file
            // grows meanwhile.
            let stream = ReaderStream::with_capacity(file.take(len), CHUNK)
                .map_ok(Frame::data)
                .map_err(BoxError::from);
            StreamBody::new(stream).boxed_unsync()
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        put_validators(headers, &v)?;
        let content_type = mime_guess::from_path(&key.rel)
            .first_raw()
            .unwrap_or(DEFAULT_CONTENT_TYPE);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status == StatusCode::PARTIAL_CONTENT {
            let last = first + len - 1;
            headers.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes {first}-{last}/{size}"))?,
            );
        }
        Ok(response)
    }

    /// Opens the regular file a key names, refusing anything that resolves outside the
    /// root. Symlinks inside the tree are followed only to targets inside it.
    async fn open(&self, key: &ObjectKey) -> Result<(File, std::fs::Metadata), S3Error> {
        let path = self.root.join(&key.rel);
        let real = fs::canonicalize(&path)
            .await
            .map_err(|e| S3Error::from_read(&e))?;
        if !real.starts_with(&self.root) {
            return Err(S3Error::access_denied(
                "This key is a link to a file outside the bucket.",
            ));
        }
        // A link may point at an upload in progress; that is never an object.
        if is_temp(&real) {
            return Err(S3Error::no_such_key());
        }
        // Checked before opening: opening a FIFO would block until a writer shows up.
        let meta = fs::metadata(&real)
            .await
            .map_err(|e| S3Error::from_read(&e))?;
        if !meta.is_file() {
            return Err(S3Error::no_such_key());
        }
        // Open the canonical path, not the key's, so a link swapped in after the check
        // cannot redirect the final component.
        let file = File::open(&real)
            .await
            .map_err(|e| S3Error::from_read(&e))?;
        // Validators come from the open handle: they describe the bytes we will send.
        let meta = file.metadata().await.map_err(|e| S3Error::internal(&e))?;
        if !meta.is_file() {
            return Err(S3Error::no_such_key());
        }
        Ok((file, meta))
    }

    /// PUT: stream into a hidden temporary file next to the target, then rename it over
    /// the target, so readers see the old object or the new one, never a part.
    async fn put<B>(&self, req: Request<B>, key: &ObjectKey) -> Result<Response<Body>, S3Error>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<BoxError>,
    {
        // Conditional writes (S3 supports `If-Match` and `If-None-Match: *` on PUT). The
        // check against the current object is not atomic with the write below; only
        // `If-None-Match: *` is, through `link(2)` at commit time.
        let headers = req.headers();
        let create_only = headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"*");
        if headers.contains_key(header::IF_MATCH)
            || headers.contains_key(header::IF_NONE_MATCH)
            || headers.contains_key(header::IF_UNMODIFIED_SINCE)
        {
            match self.open(key).await {
                Ok((_, meta)) => {
                    if let Outcome::Failed(condition) =
                        conditional::evaluate(req.method(), headers, &validators(&meta))
                    {
                        return Err(S3Error::precondition_failed(condition));
                    }
                }
                // Nothing to match: S3 answers 404 NoSuchKey.
                Err(e) if headers.contains_key(header::IF_MATCH) => return Err(e),
                Err(_) => {}
            }
        }

        let dir = self.parent_dir(key).await?;
        let Some(name) = key.rel.file_name() else {
            return Err(S3Error::invalid_uri());
        };
        let target = dir.join(name);
        if let Ok(m) = fs::symlink_metadata(&target).await {
            if m.is_dir() {
                return Err(S3Error::conflict());
            }
        }
        let (mut file, temp) = create_temp(&dir).await?;
        let meta = match write_body(&mut file, req.into_body()).await {
            Ok(()) => file.metadata().await.map_err(|e| S3Error::internal(&e)),
            Err(e) => Err(e),
        };
        drop(file);
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                temp.remove().await;
                return Err(e);
            }
        };
        if create_only {
            // link(2) fails if the target exists, so a concurrent creator cannot be
            // overwritten; then the temporary name goes.
            let linked = fs::hard_link(&temp.path, &target).await;
            temp.remove().await;
            return match linked {
                Ok(()) => put_answer(&meta),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(S3Error::precondition_failed("If-None-Match"))
                }
                Err(e) => Err(S3Error::from_write(&e)),
            };
        }
        // rename(2) replaces a file or a symlink (not its target) atomically.
        if let Err(e) = fs::rename(&temp.path, &target).await {
            temp.remove().await;
            return Err(S3Error::from_write(&e));
        }
        temp.disarm();
        put_answer(&meta)
    }

    /// The canonical directory a key's object goes in, creating missing folders. Walks
    /// one component at a time so no folder is ever created outside the root, even
    /// through a symlink.
    async fn parent_dir(&self, key: &ObjectKey) -> Result<PathBuf, S3Error> {
        let mut dir = self.root.clone();
        let Some(parent) = key.rel.parent() else {
            return Ok(dir);
        };
        for component in parent.components() {
            let next = dir.join(component);
            let meta = match fs::symlink_metadata(&next).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match fs::create_dir(&next).await {
                        // Another request may have created it meanwhile.
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(S3Error::from_write(&e)),
                    }
                    fs::symlink_metadata(&next)
                        .await
                        .map_err(|e| S3Error::from_write(&e))?
                }
                Err(e) => return Err(S3Error::from_write(&e)),
                Ok(m) => m,
            };
            if meta.is_dir() {
                dir = next;
            } else if meta.file_type().is_symlink() {
                let real = fs::canonicalize(&next)
                    .await
                    .map_err(|e| S3Error::from_write(&e))?;
                if !real.starts_with(&self.root) {
                    return Err(S3Error::access_denied(
                        "A prefix of this key is a link to a folder outside the bucket.",
                    ));
                }
                let is_dir = fs::metadata(&real).await.is_ok_and(|m| m.is_dir());
                if !is_dir {
                    return Err(S3Error::conflict());
                }
                dir = real;
            } else {
                return Err(S3Error::conflict());
            }
        }
        Ok(dir)
    }

    /// DELETE: 204 whether or not the object existed, as S3. Folders are left alone
    /// (S3 has none to delete); a symlink is removed itself, never its target.
    async fn delete(&self, key: &ObjectKey) -> Result<Response<Body>, S3Error> {
        let path = self.root.join(&key.rel);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(S3Error::invalid_uri());
        };
        let dir = match fs::canonicalize(parent).await {
            Ok(d) => d,
            Err(e) if gone(&e) => return Ok(no_content()),
            Err(e) => return Err(S3Error::from_write(&e)),
        };
        if !dir.starts_with(&self.root) {
            return Err(S3Error::access_denied(
                "A prefix of this key is a link to a folder outside the bucket.",
            ));
        }
        let target = dir.join(name);
        match fs::symlink_metadata(&target).await {
            Ok(m) if m.is_dir() => return Ok(no_content()),
            Ok(_) => {}
            Err(e) if gone(&e) => return Ok(no_content()),
            Err(e) => return Err(S3Error::from_write(&e)),
        }
        match fs::remove_file(&target).await {
            Ok(()) => Ok(no_content()),
            Err(e) if gone(&e) => Ok(no_content()),
            Err(e) => Err(S3Error::from_write(&e)),
        }
    }
}

/// 200 with the new object's validators, as S3 answers a PUT.
fn put_answer(meta: &std::fs::Metadata) -> Result<Response<Body>, S3Error> {
    let mut response = Response::new(empty());
    put_validators(response.headers_mut(), &validators(meta))?;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    Ok(response)
}

/// The first query parameter of a write that names an S3 sub-resource or operation
/// (`?acl`, `?tagging`, `?uploadId=…&partNumber=…`, …). Treating those as a plain PUT or
/// DELETE of the object would overwrite it with an ACL document or delete it, so they
/// are refused. Presigned-URL parameters (`X-Amz-*`) and the SDKs' `x-id` are harmless.
fn write_subresource(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or(pair))
        .find(|name| {
            let presign = name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"));
            !(name.is_empty() || presign || *name == "x-id")
        })
}

/// Errors that mean "there is no such object" for DELETE.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn is_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX))
}

/// A temporary upload file that is removed unless renamed into place, including when
/// the request future is dropped midway (client gone, server shutting down).
struct TempFile {
    path: PathBuf,
    /// Shared with the blocking task that creates the file: a future dropped while that
    /// task runs must still not leave the file behind.
    state: Arc<Mutex<TempState>>,
}

#[derive(Default)]
struct TempState {
    /// The owning request is gone; whoever comes second removes the file.
    abandoned: bool,
    /// The file is on disk and still ours to remove.
    exists: bool,
}

impl TempFile {
    fn state(&self) -> MutexGuard<'_, TempState> {
        // A panic elsewhere while holding the lock leaves plain flags; keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn remove(self) {
        // Best effort: nothing useful to tell the client if this fails too.
        let _ = fs::remove_file(&self.path).await;
        self.disarm();
    }

    /// The file was renamed into place (or removed): nothing left to clean up.
    fn disarm(self) {
        self.state().exists = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let mut state = self.state();
        state.abandoned = true;
        if state.exists {
            // Only reached on cancellation; one unlink is cheap enough to do inline.
            let _ = std::fs::remove_file(&self.path);
            state.exists = false;
        }
    }
}

/// Creates `.corsgate-tmp-<pid>-<n>-<nanos>` in `dir`. `create_new` makes a name clash
/// (another process on the same folder) an error we retry rather than a shared file.
async fn create_temp(dir: &Path) -> Result<(File, TempFile), S3Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_err = None;
    for _ in 0..8 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!("{TEMP_PREFIX}{}-{n}-{nanos}", std::process::id()));
        let guard = TempFile {
            path: path.clone(),
            state: Arc::default(),
        };
        let state = Arc::clone(&guard.state);
        let created = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.abandoned {
                drop(file);
                let _ = std::fs::remove_file(&path);
                return Err(io::Error::other("upload abandoned"));
            }
            state.exists = true;
            Ok(file)
        })
        .await;
        match created {
            Ok(Ok(file)) => return Ok((File::from_std(file), guard)),
            Ok(Err(e)) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Ok(Err(e)) => return Err(S3Error::from_write(&e)),
            Err(join) => return Err(S3Error::internal(&io::Error::other(join))),
        }
    }
    let e = last_err.unwrap_or_else(|| io::Error::other("no temporary file name"));
    Err(S3Error::internal(&e))
}

/// Copies the request body into `file` frame by frame; trailers are ignored.
async fn write_body<B>(file: &mut File, mut body: B) -> Result<(), S3Error>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin,
    B::Error: Into<BoxError>,
{
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| S3Error::incomplete_body(&*e.into()))?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data)
                .await
                .map_err(|e| S3Error::from_write(&e))?;
        }
    }
    // tokio's File writes in the background; flush surfaces the last write's error.
    file.flush().await.map_err(|e| S3Error::from_write(&e))
}

/// The validators of a file. The ETag is strong and changes whenever the bytes may have:
/// size, modification time to the nanosecond, and the inode (a PUT renames a new file
/// in, so even a same-size write within one clock tick gets a new tag). S3 uses the MD5
/// of the content, but hashing would mean reading every object on every request.
fn validators(meta: &std::fs::Metadata) -> Validators {
    let modified = meta.modified().ok();
    let nanos: i128 = match modified.map(|t| t.duration_since(UNIX_EPOCH)) {
        Some(Ok(d)) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Some(Err(before)) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
        None => 0,
    };
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let last_modified = modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        // httpdate cannot write years past 9999 (253402300799 = 9999-12-31T23:59:59Z).
        .filter(|d| d.as_secs() <= 253_402_300_799)
        // HTTP dates have whole seconds; comparisons must use the same precision.
        .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    Validators {
        etag: format!("\"{:x}-{nanos:x}-{inode:x}\"", meta.len()),
        last_modified,
    }
}

fn put_validators(headers: &mut HeaderMap, v: &Validators) -> Result<(), S3Error> {
    headers.insert(header::ETAG, header_value(v.etag.clone())?);
    if let Some(lm) = v.last_modified {
        headers.insert(
            header::LAST_MODIFIED,
            header_value(httpdate::fmt_http_date(lm))?,
        );
    }
    Ok(())
}

/// Values we format ourselves are ASCII; the error arm exists so no `unwrap` is needed.
fn header_value(s: String) -> Result<HeaderValue, S3Error> {
    HeaderValue::try_from(s).map_err(|e| S3Error::internal(&io::Error::other(e)))
}

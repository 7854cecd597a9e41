//! Background uploads: a few threads take queued results ([`Job`]s), find each output's
//! SHA-256 (from the index, or by hashing it), and send its blobs (asking first whether the
//! server has the large ones, so they are not sent again), then its action cache entry —
//! only once every blob is there. [`Uploader::wait`] blocks until the queue is empty.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use flavor_engine::{Digest, Output, OutputKind, Store, Tree};
use prost::Message;

use crate::reapi::{self, Recorded};
use crate::shared::{Shared, bump};
use crate::transport::Failure;
use crate::trees;

/// Blobs at least this large are asked about (`HEAD`) before they are sent.
const HEAD_FIRST: u64 = 256 * 1024;

/// One output blob to upload.
pub(crate) struct File {
    /// Its local name.
    pub(crate) blob: Digest,
    /// Where it is in the local store.
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

/// One output to upload: a file, or a tree with where each of its files is.
pub(crate) enum JobOutput {
    File(File),
    Tree {
        tree: Tree,
        /// The local blob of each of its files.
        files: HashMap<Digest, PathBuf>,
    },
}

impl JobOutput {
    /// The upload of `output`, whose blobs are in `store`; `None` if some are missing.
    pub(crate) fn of(output: &Output, store: &dyn Store) -> Option<JobOutput> {
        match output.kind {
            OutputKind::File => Some(JobOutput::File(File {
                blob: output.digest,
                path: store.blob_path(&output.digest)?,
                size: output.size,
            })),
            OutputKind::Tree => {
                let tree = Tree::read(store, &output.digest).ok()?;
                let mut files = HashMap::new();
                for (_, entry) in tree.flatten() {
                    if let flavor_engine::TreeEntry::File(f) = entry {
                        files.insert(f.digest, store.blob_path(&f.digest)?);
                    }
                }
                Some(JobOutput::Tree { tree, files })
            }
        }
    }
}

/// One action result to upload.
pub(crate) struct Job {
    /// The remote action key.
    pub(crate) key: String,
    pub(crate) outputs: Vec<JobOutput>,
}

/// Jobs queued or in flight, and a condition to wait for zero.
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Pending {
    fn add(&self, n: isize) {
        if let Ok(mut count) = self.count.lock() {
            *count = count.saturating_add_signed(n);
            if *count == 0 {
                self.zero.notify_all();
            }
        }
    }
}

/// The upload threads and their queue.
pub(crate) struct Uploader {
    sender: Mutex<Option<Sender<Job>>>,
    threads: Vec<JoinHandle<()>>,
    pending: Arc<Pending>,
}

impl Uploader {
    /// Starts `threads` upload threads (if a thread cannot start, uploads just wait for
    /// the others; with none, jobs are dropped).
    pub(crate) fn start(shared: &Arc<Shared>, threads: usize) -> Uploader {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let pending = Arc::new(Pending::default());
        let threads = (0..threads)
            .filter_map(|i| {
                let shared = Arc::clone(shared);
                let receiver = Arc::clone(&receiver);
                let pending = Arc::clone(&pending);
                std::thread::Builder::new()
                    .name(format!("flavor-upload-{i}"))
                    .spawn(move || work(&shared, &receiver, &pending))
                    .ok()
            })
            .collect::<Vec<_>>();
        Uploader {
            sender: Mutex::new((!threads.is_empty()).then_some(sender)),
            threads,
            pending,
        }
    }

    /// Queues a job.
    pub(crate) fn push(&self, job: Job) {
        let Ok(sender) = self.sender.lock() else {
            return;
        };
        if let Some(sender) = sender.as_ref() {
            self.pending.add(1);
            if sender.send(job).is_err() {
                self.pending.add(-1);
            }
        }
    }

    /// Jobs queued or in flight.
    pub(crate) fn pending(&self) -> usize {
        self.pending.count.lock().map_or(0, |c| *c)
    }

    /// Blocks until no job is queued or in flight.
    pub(crate) fn wait(&self) {
        let Ok(mut count) = self.pending.count.lock() else {
            return;
        };
        while *count > 0 {
            count = match self.pending.zero.wait(count) {
                Ok(c) => c,
                Err(_) => return,
            };
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn work(shared: &Shared, receiver: &Mutex<Receiver<Job>>, pending: &Pending) {
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        if shared.uploading() {
            let began = std::time::Instant::now();
            send(shared, &job);
            let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
            bump(&shared.counters.upload_micros, micros);
        }
        pending.add(-1);
    }
}

/// Sends a job's blobs (a tree's files, then its `Tree` blob), then its entry; stops at the
/// first failure.
fn send(shared: &Shared, job: &Job) {
    let mut recorded = Vec::with_capacity(job.outputs.len());
    for output in &job.outputs {
        let done = match output {
            JobOutput::File(file) => {
                send_file(shared, file).map(|sha| Recorded::File(sha, file.size))
            }
            JobOutput::Tree { tree, files } => send_tree(shared, tree, files),
        };
        match done {
            Some(r) => recorded.push(r),
            None => return,
        }
    }
    match shared
        .transport
        .put_action_result(&job.key, &reapi::encode(&recorded))
    {
        Ok(()) => bump(&shared.counters.uploads, 1),
        Err(failure) => shared.upload_failed("an action result", &failure),
    }
}

/// Sends one blob unless the server has it; its SHA-256, or `None` after a failure (said).
fn send_file(shared: &Shared, file: &File) -> Option<String> {
    let transport = &shared.transport;
    let sha256 = match shared.index.sha256_of(&file.blob, &file.path) {
        Ok(sha256) => sha256,
        Err(e) => {
            let failure = Failure::Body(format!("cannot read {}: {e}", file.path.display()));
            shared.upload_failed("a blob", &failure);
            return None;
        }
    };
    // Below this size a PUT costs about what a HEAD does: just send it.
    let mut send = true;
    if file.size >= HEAD_FIRST && !shared.is_damaged(&sha256) {
        match transport.has_blob(&sha256, file.size) {
            Ok(has) => send = !has,
            Err(failure) => {
                shared.failed("checking for a blob", &failure);
                return None;
            }
        }
    }
    if send {
        if let Err(failure) = transport.put_blob(&sha256, file.size, &file.path) {
            shared.upload_failed("a blob", &failure);
            return None;
        }
        bump(&shared.counters.uploaded_bytes, file.size);
    }
    Some(sha256)
}

/// Sends a tree's files (each once), then its REAPI `Tree` blob; what to record for it.
fn send_tree(shared: &Shared, tree: &Tree, files: &HashMap<Digest, PathBuf>) -> Option<Recorded> {
    let mut sent: HashMap<Digest, String> = HashMap::new();
    let mut failed = false;
    let message = trees::to_reapi(tree, &mut |file| {
        if failed {
            return None;
        }
        if let Some(sha256) = sent.get(&file.digest) {
            return Some(sha256.clone());
        }
        let upload = File {
            blob: file.digest,
            path: files.get(&file.digest)?.clone(),
            size: file.size,
        };
        let sha256 = send_file(shared, &upload);
        failed = sha256.is_none();
        if let Some(sha256) = &sha256 {
            sent.insert(file.digest, sha256.clone());
        }
        sha256
    })?;
    let bytes = message.encode_to_vec();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if let Err(failure) = shared.transport.put_blob_bytes(&sha256, &bytes) {
        shared.upload_failed("a tree", &failure);
        return None;
    }
    bump(&shared.counters.uploaded_bytes, bytes.len() as u64);
    Some(Recorded::Tree {
        tree: (sha256, bytes.len() as u64),
        root: trees::root_digest(&message),
    })
}

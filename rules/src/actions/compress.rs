//! `compress`: apply a codec's compression to a blob (zstd multithreaded, gzip via zlib-rs).

use flavor_engine::{Action, ActionError, Input, RunContext};
use pspf::Codec;
use pspf::encode::{Compression, compress};
use serde_json::json;
use std::io::{BufReader, BufWriter};

/// Compress one input with a codec's compression.
pub struct CompressAction {
    /// What the action is called in progress and errors.
    pub label: String,
    /// The codec (gzip or zstd; the tar part of a tar codec is the input's).
    pub codec: Codec,
    /// The compression level.
    pub level: i32,
    /// The bytes to compress.
    pub input: Input,
}

impl Action for CompressAction {
    fn kind(&self) -> &'static str {
        "compress"
    }
    fn version(&self) -> u32 {
        // 2: zstd as independent frames with a seek table.
        2
    }
    fn label(&self) -> String {
        self.label.clone()
    }
    fn params(&self) -> Vec<u8> {
        super::canonical(&json!({"codec": self.codec.name(), "level": self.level}))
    }
    fn inputs(&self) -> Vec<Input> {
        vec![self.input.clone()]
    }
    fn output_count(&self) -> usize {
        1
    }
    /// The one input is read once, to its end, through [`RunContext::open_input`].
    fn digests_while_reading(&self) -> bool {
        true
    }
    fn threads(&self) -> usize {
        // zstd's output does not depend on its worker count; gzip is single-threaded.
        if matches!(self.codec, Codec::Zstd | Codec::TarZst) {
            2
        } else {
            1
        }
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let file = ctx
            .open_input(0)
            .map_err(|e| ActionError::new(format!("{}: {e}", ctx.input(0).display())))?;
        let total = file.len();
        // Digested as it is written: the engine stores it without reading it again.
        let output = ctx.create_output(0)?;
        let workers = ctx.threads().max(1) as u32;
        let mut writer = BufWriter::with_capacity(256 * 1024, output);
        let input = Reporting {
            inner: BufReader::with_capacity(256 * 1024, file),
            done: 0,
            total,
            ctx,
        };
        compress(
            self.codec,
            input,
            &mut writer,
            Compression {
                level: Some(self.level),
                workers,
            },
        )
        .map_err(|e| ActionError::new(format!("{}: {e}", self.label)))?;
        writer.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(())
    }
}

/// Reports the bytes read so far as the action's progress (a long compression shows how far
/// it is).
struct Reporting<'c, 'a, R> {
    inner: R,
    done: u64,
    total: u64,
    ctx: &'c mut RunContext<'a>,
}

impl<R: std::io::Read> std::io::Read for Reporting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done = self.done.saturating_add(n as u64);
        self.ctx.progress(self.done, self.total);
        Ok(n)
    }
}

//! `compress`: apply a codec's compression to a blob (zstd multithreaded, gzip via zlib-rs).

use flavor_engine::{Action, ActionError, Input, RunContext};
use pspf::Codec;
use pspf::encode::{Compression, compress};
use serde_json::json;
use std::fs::File;
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
        1
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
    fn threads(&self) -> usize {
        // zstd's output does not depend on its worker count; gzip is single-threaded.
        if matches!(self.codec, Codec::Zstd | Codec::TarZst) {
            2
        } else {
            1
        }
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let input = BufReader::with_capacity(256 * 1024, File::open(ctx.input(0))?);
        let output = File::create(ctx.output(0))?;
        let mut writer = BufWriter::with_capacity(256 * 1024, &output);
        compress(
            self.codec,
            input,
            &mut writer,
            Compression {
                level: Some(self.level),
                workers: ctx.threads().max(1) as u32,
            },
        )
        .map_err(|e| ActionError::new(format!("{}: {e}", self.label)))?;
        drop(writer);
        output.sync_all()?;
        Ok(())
    }
}

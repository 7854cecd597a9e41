//! Feeds arbitrary bytes and a descriptor count to `pspf::descriptor::parse_table`, then runs
//! `SlotDescriptor::end` and `Codec::from_operations` on every descriptor it returns.
//!
//! Input layout: byte 0 chooses how the count is made (`% 4`: 0 = as many whole descriptors as
//! the body holds, 1 = one more than it holds, 2 = a little-endian u64 from the next 8 bytes,
//! so overflowing counts are reached, 3 = the next byte); the rest is the table body.
//!
//! Asserts: nothing panics; `parse_table` succeeds exactly when `count * 64` does not overflow
//! and the body holds that many bytes; it then returns `count` descriptors whose `to_bytes`
//! concatenated reproduce the first `count * 64` input bytes exactly, and each descriptor
//! parses back equal from its own bytes; `end` is `offset + size` or an error exactly on
//! overflow; an op chain that `from_operations` accepts is the chain of the codec it names
//! (zero bytes aside), and one it refuses is refused as `UnknownOperation`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pspf::descriptor::{DESCRIPTOR_SIZE, parse_table};
use pspf::ops::op_name;
use pspf::{Codec, ErrorKind, Operations, SlotDescriptor};

fn split_count(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&mode, rest) = data.split_first()?;
    Some(match mode % 4 {
        0 => (rest.len() / DESCRIPTOR_SIZE, rest),
        1 => (rest.len() / DESCRIPTOR_SIZE + 1, rest),
        2 => {
            if rest.len() < 8 {
                return None;
            }
            let (n, body) = rest.split_at(8);
            let mut raw = [0u8; 8];
            raw.copy_from_slice(n);
            let n = usize::try_from(u64::from_le_bytes(raw)).unwrap_or(usize::MAX);
            (n, body)
        }
        _ => {
            let (&n, body) = rest.split_first()?;
            (usize::from(n), body)
        }
    })
}

fn check_ops(ops: Operations) {
    let list = ops.ops();
    assert!(list.len() <= 8 && list.iter().all(|&op| op != 0));
    for &op in &list {
        let _ = op_name(op);
    }
    let packed = Operations::pack(&list).expect("at most eight ops always pack");
    assert_eq!(packed.ops(), list, "pack(ops()) must keep the chain");
    match Codec::from_operations(ops, "fuzz") {
        Ok(codec) => {
            assert_eq!(codec.operations().ops(), list, "{codec} for {:#x}", ops.0);
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
            let _ = (codec.is_tar(), codec.upstream_readable(), codec.to_string());
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::UnknownOperation, "{e}");
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((count, body)) = split_count(data) else {
        return;
    };
    let needed = count.checked_mul(DESCRIPTOR_SIZE);
    let table = match parse_table(body, count) {
        Ok(table) => table,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
            let _ = e.to_string();
            assert!(
                needed.is_none_or(|n| body.len() < n),
                "parse_table refused {count} descriptors from {} bytes",
                body.len()
            );
            return;
        }
    };
    let needed = needed.expect("an accepted count cannot overflow");
    assert!(body.len() >= needed);
    assert_eq!(table.len(), count);

    let mut round_trip = Vec::with_capacity(needed);
    for d in &table {
        let bytes = d.to_bytes();
        assert_eq!(&SlotDescriptor::parse(&bytes), d);
        round_trip.extend_from_slice(&bytes);

        match d.end() {
            Ok(end) => assert_eq!(Some(end), d.offset.checked_add(d.size)),
            Err(e) => {
                assert!(d.offset.checked_add(d.size).is_none());
                assert_eq!(e.kind(), ErrorKind::Malformed);
                let _ = e.to_string();
            }
        }
        check_ops(d.operations);
    }
    assert_eq!(
        &round_trip[..],
        &body[..needed],
        "parse -> to_bytes must reproduce the input"
    );
});

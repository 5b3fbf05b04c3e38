//! The WinPE jump program's carrier and parameter block (`winpe_jump`). Must never panic;
//! beyond that:
//!
//! - `split_carrier` on the input, and `Params::decode` on the input as it is and with its
//!   CRC repaired (so the checks behind the checksum are reached): an accepted block passes
//!   `validate` and re-encodes to exactly the input (the format has one encoding); an
//!   accepted carrier's parts add up to the file, its shell starts with `MZ`, and its
//!   `params` is `Params::decode` of its block bytes.
//! - Parameters built from the input: `encode` succeeds exactly when `validate` does, then
//!   `decode(encode(p)) == p`, and `build_carrier(program, shell, p)` splits back into the
//!   same program length, shell and parameters (the program and shell from the input too).
#![no_main]

#[path = "../common/input_bytes.rs"]
mod input_bytes;
use input_bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use polyboot_core::crc32::crc32;
use polyboot_core::guid::Guid;
use polyboot_core::handoff::DriveIdentity;
use polyboot_core::winpe_jump::{
    build_carrier, split_carrier, Flags, Params, MAX_PARAMS_LEN, TRAILER_LEN, TRAILER_NO_UI,
};

fuzz_target!(|data: &[u8]| {
    check_split(data);
    check_decode(data);
    if data.len() >= 20 {
        let mut v = data.to_vec();
        v[16..20].fill(0);
        let crc = crc32(&v);
        v[16..20].copy_from_slice(&crc.to_le_bytes());
        check_decode(&v);
    }
    check_built(data);
});

fn check_split(data: &[u8]) {
    match split_carrier(data) {
        Ok(c) => {
            assert!(data.len() >= TRAILER_LEN);
            let sum = c.program_len as usize
                + c.original_shell.len()
                + c.params_bytes.len()
                + TRAILER_LEN;
            assert_eq!(sum, data.len());
            assert_eq!(&c.original_shell[..2], b"MZ");
            assert_eq!(c.trailer_flags & !TRAILER_NO_UI, 0);
            if c.params_bytes.len() <= MAX_PARAMS_LEN as usize {
                assert_eq!(c.params, Params::decode(c.params_bytes));
            } else {
                assert!(c.params.is_err());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn check_decode(data: &[u8]) {
    match Params::decode(data) {
        Ok(p) => {
            assert_eq!(p.validate(), Ok(()));
            assert_eq!(p.encode(), data, "one encoding per value");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn string(b: &mut Bytes, max: usize) -> String {
    let n = usize::from(b.u8()) % (max + 1);
    String::from_utf8_lossy(&b.take(n)).into_owned()
}

fn check_built(data: &[u8]) {
    let mut b = Bytes(data);
    let flags = Flags(match b.u8() % 4 {
        0 => b.u64(4) as u32,
        _ => b.u64(1) as u32 & Flags::KNOWN,
    });
    let identity = match b.u8() % 3 {
        0 => None,
        1 => Some(DriveIdentity::Gpt(Guid(core::array::from_fn(|_| b.u8())))),
        _ => Some(DriveIdentity::Mbr(b.u64(4) as u32)),
    };
    let partition_offset = b.u64(8);
    let iso_path = string(&mut b, 40);
    let log_path = string(&mut b, 20);
    let shell_path = string(&mut b, 20);
    let unattend_path = string(&mut b, 20);
    let unattend = {
        let n = usize::from(b.u8());
        b.take(n)
    };
    let wait_seconds = match b.u8() % 4 {
        0 => b.u64(4) as u32,
        _ => b.u64(1) as u32,
    };
    let p = Params {
        flags,
        identity,
        partition_offset,
        iso_path,
        log_path,
        shell_path,
        unattend_path,
        unattend,
        wait_seconds,
    };
    let program = {
        let n = usize::from(b.u8());
        b.take(n)
    };
    let mut shell = b"MZ".to_vec();
    shell.extend(b.take(64));
    let Ok(()) = p.validate() else {
        // Refused values never encode (encode panics on them by contract).
        return;
    };
    let block = p.encode();
    assert_eq!(Params::decode(&block).as_ref(), Ok(&p));
    let file = build_carrier(&program, &shell, &p);
    let c = split_carrier(&file).expect("a built carrier splits");
    assert_eq!(c.program_len as usize, program.len());
    assert_eq!(&file[..program.len()], &program[..]);
    assert_eq!(c.original_shell, &shell[..]);
    assert_eq!(c.params_bytes, &block[..]);
    assert_eq!(c.params.as_ref(), Ok(&p));
    assert_eq!(c.no_ui(), p.flags.test_mode());
}

//! The `.sbat` section (Secure Boot Advanced Targeting): shim refuses a second stage that has
//! none while Secure Boot is on ("SBAT is mandatory for binaries loaded by shim", shim's
//! `verify_sbat_section`). Its CSV names the component and its generation; raising the
//! generation is how a vulnerable polyboot build would be revoked.

const SBAT_CSV: &str = concat!(
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n",
    "polyboot,1,polyboot,polyboot,",
    env!("CARGO_PKG_VERSION"),
    ",polyboot\n"
);

const fn to_array<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

#[used]
#[link_section = ".sbat"]
static SBAT: [u8; SBAT_CSV.len()] = to_array(SBAT_CSV);

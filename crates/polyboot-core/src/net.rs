//! Network boot wire formats: DHCPv4 (BOOTP header and the options PXE and iPXE use) and TFTP
//! (RFC 1350 with the RFC 2347 option extension: blksize, tsize, timeout).
//!
//! Pure codecs: `polyboot serve` owns the sockets. Every decoder takes untrusted datagrams and
//! returns an error, never panics; every encoder's output decodes back to the same value.

pub mod dhcp;
pub mod ipxe;
pub mod rules;
pub mod tftp;

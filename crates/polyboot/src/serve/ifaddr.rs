//! Which interface holds which IPv4 address (getifaddrs).

use anyhow::{bail, Result};
use std::ffi::CStr;
use std::net::Ipv4Addr;

/// (interface, address, netmask) of every IPv4 address of this machine.
pub fn ipv4_addresses() -> Result<Vec<(String, Ipv4Addr, Ipv4Addr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        bail!("getifaddrs: {}", std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr of family sa_family.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in; so is its netmask when present.
        let addr = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let mask = if ifa.ifa_netmask.is_null() {
            Ipv4Addr::new(255, 255, 255, 0)
        } else {
            let m = unsafe { &*(ifa.ifa_netmask as *const libc::sockaddr_in) };
            Ipv4Addr::from(u32::from_be(m.sin_addr.s_addr))
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        out.push((name, Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)), mask));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The interface, address and netmask to serve on, from `--interface` and/or `--listen`.
pub fn resolve(
    interface: Option<&str>,
    listen: Option<Ipv4Addr>,
) -> Result<(String, Ipv4Addr, Ipv4Addr)> {
    let all = ipv4_addresses()?;
    let found = all.iter().find(|(name, addr, _)| {
        interface.is_none_or(|i| i == name) && listen.is_none_or(|l| l == *addr)
    });
    match (found, interface, listen) {
        (Some(f), _, _) if interface.is_some() || listen.is_some() => Ok(f.clone()),
        (_, None, None) => bail!("give --listen ADDRESS or --interface NAME"),
        (_, Some(i), None) => bail!("interface {i} has no IPv4 address"),
        (_, None, Some(l)) => bail!("{l} is not an address of this machine"),
        (_, Some(i), Some(l)) => bail!("{l} is not an address of interface {i}"),
    }
}

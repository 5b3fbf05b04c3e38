//! The `polyboot serve --rules` parser on arbitrary bytes. It must never panic; an accepted
//! file stays within its bounds, every group a rule names exists, image targets are absolute,
//! and deciding for any MAC picks a rule that applies to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::net::rules::{Rules, Target, Who, MAX_NAME, MAX_RULES};

fuzz_target!(|data: &[u8]| {
    let rules = match Rules::parse(data) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(rules.rules.len() <= MAX_RULES);
    for (name, _) in &rules.groups {
        assert!(!name.is_empty() && name.len() <= MAX_NAME);
    }
    for r in &rules.rules {
        assert!(r.line >= 1);
        if let Who::Group(g) = &r.who {
            assert!(rules.groups.iter().any(|(n, _)| n == g), "group {g} missing");
        }
        if let Target::Image(p) = &r.target {
            assert!(p.starts_with('/'));
        }
    }
    // Every MAC the file names, and one it does not.
    let mut macs: Vec<[u8; 6]> = rules.groups.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    macs.extend(rules.rules.iter().filter_map(|r| match r.who {
        Who::Mac(m) => Some(m),
        _ => None,
    }));
    macs.push([0xfe; 6]);
    for mac in macs.into_iter().take(64) {
        if let Some((i, r)) = rules.decide(mac, |_| false) {
            assert!(rules.applies(r, mac));
            assert!(rules.rules[..i].iter().all(|earlier| !rules.applies(earlier, mac)));
        }
        let _ = rules.decide(mac, |_| true);
    }
});

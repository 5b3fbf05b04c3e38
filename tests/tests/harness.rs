//! The VM harness itself works in both firmware modes: serial output and input, monitor key
//! presses, and reading a VGA screen that never reaches the serial port.

use polyboot_tests::{artifacts, Firmware, Vm, VmConfig};
use std::time::Duration;

#[test]
fn ovmf_boots_ipxe_iso_and_takes_serial_input() -> anyhow::Result<()> {
    let mut vm = Vm::start(
        VmConfig::new("harness-ovmf-ipxe-serial", Firmware::Uefi)
            .cdrom(artifacts::IPXE_ISO)
            .timeout(Duration::from_secs(90)),
    )?;
    vm.wait_for(artifacts::IPXE_MARKER)?;
    vm.wait_for("Ctrl-B")?;
    vm.send_serial(&[0x02])?; // Ctrl-B: iPXE's command line
    vm.wait_for("iPXE>")?;
    // iPXE expands ${platform}: the answer differs from what we typed, so it cannot be our echo.
    let mark = vm.serial_len();
    vm.send_serial(b"echo harness-${platform}-ok\r")?;
    vm.wait_for_after("harness-efi-ok", mark)?;
    Ok(())
}

#[test]
fn seabios_menu_by_keys_and_ocr_then_ipxe_on_screen() -> anyhow::Result<()> {
    let vm = Vm::start(
        VmConfig::new("harness-seabios-menu-ocr", Firmware::Bios)
            .cdrom(artifacts::IPXE_ISO)
            .arg("-boot")
            .arg("menu=on,splash-time=30000")
            .timeout(Duration::from_secs(90)),
    )?;
    // SeaBIOS and BIOS-mode iPXE draw on VGA only: nothing reaches the serial console.
    vm.wait_for_screen("ESC for boot menu")?;
    vm.send_key("esc")?;
    let (_, menu) = vm.wait_for_screen("Select boot device")?;
    assert!(menu.contains("QEMU DVD-ROM"), "boot menu lists the CD-ROM:\n{menu}");
    vm.send_key("1")?;
    let (t, screen) = vm.wait_for_screen("iPXE initialising devices")?;
    eprintln!("iPXE on screen after {t:?}:\n{screen}");
    Ok(())
}

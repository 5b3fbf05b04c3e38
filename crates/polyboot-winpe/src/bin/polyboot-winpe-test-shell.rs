//! The Wine test's stand-in for WinPE's `winpeshl.exe`: proves it ran, and with which bytes,
//! by writing `<its own path>.ran.txt` with a marker line, its length, the CRC-32 of its own
//! file and its arguments, and printing the marker.

use polyboot_core::crc32::crc32;

fn main() {
    let exe = std::env::current_exe().expect("own path");
    let bytes = std::fs::read(&exe).expect("own file");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = format!(
        "polyboot-winpe-test-shell ran\nlen={}\ncrc32={:08x}\nargs={}\n",
        bytes.len(),
        crc32(&bytes),
        args.join(" ")
    );
    let mut marker = exe.into_os_string();
    marker.push(".ran.txt");
    std::fs::write(&marker, &text).expect("marker file");
    println!("polyboot-winpe-test-shell ran");
}

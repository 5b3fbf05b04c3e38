//! Output to COM1 (direct port I/O: works the same in protected mode) and VGA text mode
//! (the 80×25 buffer at 0xB8000 the BIOS leaves in mode 3); input from INT 16h and COM1.

use crate::bios::{self, Regs};
use core::arch::asm;
use core::fmt;
use polyboot_core::menu::Key;

const COM1: u16 = 0x3F8;
pub const COLS: usize = 80;
pub const ROWS: usize = 25;

fn outb(port: u16, v: u8) {
    // SAFETY: port I/O on the legacy serial port / VGA registers.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    }
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as above.
    unsafe {
        asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    v
}

/// 115200 baud, 8N1, FIFOs on.
pub fn serial_init() {
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // DLAB
    outb(COM1, 0x01); // divisor 1 = 115200
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1
    outb(COM1 + 2, 0xC7); // FIFO on, cleared
    outb(COM1 + 4, 0x03); // DTR + RTS
}

pub fn serial_write(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            serial_byte(b'\r');
        }
        serial_byte(b);
    }
}

fn serial_byte(b: u8) {
    let mut spins = 0u32;
    while inb(COM1 + 5) & 0x20 == 0 && spins < 100_000 {
        spins += 1;
    }
    outb(COM1, b);
}

fn serial_read() -> Option<u8> {
    (inb(COM1 + 5) & 1 != 0).then(|| inb(COM1))
}

/// Log lines go to the serial port only (the VGA screen holds the menu).
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serial_write(s.as_bytes());
        Ok(())
    }
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Serial, $($arg)*);
    }};
}

/// VGA text attributes.
pub const NORMAL: u8 = 0x07;
pub const INVERSE: u8 = 0x70;
pub const TITLE: u8 = 0x1F;

/// Write `text` at row `row`, padded with spaces to the full width.
pub fn vga_line(row: usize, text: &str, attr: u8) {
    if row >= ROWS {
        return;
    }
    let base = (0xB8000 + row * COLS * 2) as *mut u16;
    let mut chars = text.chars();
    for col in 0..COLS {
        let c = chars.next().unwrap_or(' ');
        let b = if (c as u32) < 0x7F && (c as u32) >= 0x20 {
            c as u8
        } else if c == ' ' {
            b' '
        } else {
            b'?'
        };
        // SAFETY: inside the 80×25 text buffer.
        unsafe { base.add(col).write_volatile(u16::from(attr) << 8 | u16::from(b)) };
    }
}

pub fn vga_clear() {
    for row in 0..ROWS {
        vga_line(row, "", NORMAL);
    }
    // Hide the hardware cursor (INT 10h AH=01h, CH bit 5).
    let mut r = Regs { eax: 0x0100, ecx: 0x2000, ..Regs::default() };
    bios::int(0x10, &mut r);
}

/// Serial escape-sequence state: ESC [ A/B/5~/6~/H/F, ESC O P..S.
#[derive(Default)]
pub struct Input {
    esc: u8,
    csi: [u8; 4],
    csi_len: usize,
    /// BIOS tick of the last lone ESC: with nothing after it for a few ticks it is Escape.
    esc_at: u32,
    /// A key decoded from the byte that followed a lone ESC, returned after the Escape.
    pending: Option<Key>,
}

/// Ticks (about 55 ms each) after which an ESC with nothing behind it is the Escape key;
/// a terminal sends a whole escape sequence at once.
const LONE_ESC_TICKS: u32 = 3;

impl Input {
    /// A key from the keyboard (INT 16h) or the serial port, if one is waiting.
    pub fn poll(&mut self) -> Option<Key> {
        if let Some(key) = self.pending.take() {
            return Some(key);
        }
        let mut r = Regs { eax: 0x0100, ..Regs::default() };
        bios::int(0x16, &mut r);
        if r.eflags & 0x40 == 0 {
            // ZF clear: a key is waiting; AH=00h takes it.
            let mut r = Regs::default();
            bios::int(0x16, &mut r);
            let (scan, ascii) = ((r.eax >> 8) as u8, r.eax as u8);
            let key = match (scan, ascii) {
                (0x48, _) => Some(Key::Up),
                (0x50, _) => Some(Key::Down),
                (0x49, _) => Some(Key::PageUp),
                (0x51, _) => Some(Key::PageDown),
                (0x47, _) => Some(Key::Home),
                (0x4F, _) => Some(Key::End),
                (0x3B..=0x44, 0) => Some(Key::F(scan - 0x3A)),
                (_, 0x0D) => Some(Key::Enter),
                (_, 0x1B) => Some(Key::Escape),
                (_, 0x08) => Some(Key::Backspace),
                (_, c) if (0x20..0x7F).contains(&c) => Some(Key::Char(c as char)),
                _ => None,
            };
            if key.is_some() {
                return key;
            }
        }
        while let Some(b) = serial_read() {
            if let Some(k) = self.serial_byte(b) {
                return Some(k);
            }
        }
        if self.esc == 1 && bios::ticks().wrapping_sub(self.esc_at) >= LONE_ESC_TICKS {
            self.esc = 0;
            return Some(Key::Escape);
        }
        None
    }

    fn serial_byte(&mut self, b: u8) -> Option<Key> {
        match (self.esc, b) {
            (0, 0x1B) => {
                self.esc = 1;
                self.esc_at = bios::ticks();
                None
            }
            (0, b'\r') | (0, b'\n') => Some(Key::Enter),
            (0, 0x7F) | (0, 0x08) => Some(Key::Backspace),
            (0, c) if (0x20..0x7F).contains(&c) => Some(Key::Char(c as char)),
            (0, _) => None,
            (1, b'[') | (1, b'O') => {
                self.esc = 2;
                self.csi_len = 0;
                None
            }
            (1, _) => {
                // A lone ESC, then an ordinary key: both count (the byte is read afresh, so a
                // second ESC starts a new sequence).
                self.esc = 0;
                self.pending = self.serial_byte(b);
                Some(Key::Escape)
            }
            (_, c) => {
                if self.csi_len < self.csi.len() {
                    self.csi[self.csi_len] = c;
                    self.csi_len += 1;
                }
                if !(0x40..0x7F).contains(&c) {
                    return None; // parameter bytes
                }
                self.esc = 0;
                match &self.csi[..self.csi_len] {
                    b"A" => Some(Key::Up),
                    b"B" => Some(Key::Down),
                    b"H" | b"1~" => Some(Key::Home),
                    b"F" | b"4~" => Some(Key::End),
                    b"5~" => Some(Key::PageUp),
                    b"6~" => Some(Key::PageDown),
                    // xterm's function keys: ESC O P..S, then ESC [ 15~ ...
                    b"P" | b"11~" => Some(Key::F(1)),
                    b"Q" | b"12~" => Some(Key::F(2)),
                    b"R" | b"13~" => Some(Key::F(3)),
                    b"S" | b"14~" => Some(Key::F(4)),
                    b"15~" => Some(Key::F(5)),
                    b"17~" => Some(Key::F(6)),
                    b"18~" => Some(Key::F(7)),
                    b"19~" => Some(Key::F(8)),
                    b"20~" => Some(Key::F(9)),
                    b"21~" => Some(Key::F(10)),
                    _ => None,
                }
            }
        }
    }
}

//! The kernel's only device: the 16550 UART at I/O port 0x3f8 (COM1), polled, and the
//! `isa-debug-exit` port that ends the machine.

use core::arch::asm;

const COM1: u16 = 0x3f8;
/// Line status register: bit 0 data ready, bit 5 transmit holding register empty.
const LSR: u16 = COM1 + 5;
/// qemu's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT: u16 = 0xf4;

fn outb(port: u16, v: u8) {
    // SAFETY: port I/O on the UART's and the debug-exit device's ports, which this kernel
    // owns alone; it touches no memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    }
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as in `outb`: a read of a UART register, no memory touched.
    unsafe {
        asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    v
}

/// Sets the UART up: no interrupts, 115200 baud, 8N1, FIFOs on.
pub fn init() {
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80);
    outb(COM1, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0xc7);
    outb(COM1 + 4, 0x03);
}

/// Sends one byte.
pub fn write_byte(b: u8) {
    while inb(LSR) & 0x20 == 0 {}
    outb(COM1, b);
}

/// Sends bytes.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        write_byte(b);
    }
}

/// Polls of an empty line after which the host is taken to be gone (minutes under TCG).
const GIVE_UP: u64 = 1 << 31;

/// Receives one byte (waits for it). A line silent for [`GIVE_UP`] polls means the host went
/// away (killed before it could stop the machine): the machine stops with status 4 rather than
/// spin on forever.
pub fn read_byte() -> u8 {
    let mut polls = 0u64;
    while inb(LSR) & 1 == 0 {
        polls += 1;
        if polls == GIVE_UP {
            exit(4);
        }
        core::hint::spin_loop();
    }
    inb(COM1)
}

/// Fills `buf`.
pub fn read_exact(buf: &mut [u8]) {
    for b in buf {
        *b = read_byte();
    }
}

/// Ends the machine: qemu exits with status `(status << 1) | 1`.
pub fn exit(status: u8) -> ! {
    // SAFETY: a write to the debug-exit port; qemu stops the machine on it.
    unsafe {
        asm!("out dx, eax", in("dx") DEBUG_EXIT, in("eax") u32::from(status), options(nomem, nostack))
    }
    loop {
        // SAFETY: halting with interrupts off, in case the exit device is missing.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

package wire

import "encoding/binary"

// Eight bytes at a time checks for the JSON string scans of the hot path.

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// swarHasZero reports whether some byte of x is zero.
func swarHasZero(x uint64) bool { return (x-swarOnes)&^x&swarHigh != 0 }

// swarHasByte reports whether some byte of x is c.
func swarHasByte(x uint64, c byte) bool { return swarHasZero(x ^ (swarOnes * uint64(c))) }

// swarNeedsEscape reports whether some byte of x is not written as is in a
// JSON string: a control byte, DEL or non-ASCII, '"' or '\\'.
func swarNeedsEscape(x uint64) bool {
	// A byte below 0x20 or with the high bit set: (x - 0x20..) borrows
	// into the high bit only for bytes below 0x20 (no high-bit input).
	if x&swarHigh != 0 || (x-swarOnes*0x20)&^x&swarHigh != 0 {
		return true
	}
	return swarHasByte(x, '"') || swarHasByte(x, '\\') || swarHasByte(x, 0x7f)
}

// plainPrefix returns how many leading bytes of s need no JSON escape,
// rounded down to a multiple of eight (the caller checks the rest).
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if swarNeedsEscape(x) {
			break
		}
	}
	return i
}

// quoteOrBackslash returns the index of the first '"' or '\\' in b, or -1.
func quoteOrBackslash(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if swarHasByte(x, '"') || swarHasByte(x, '\\') {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return -1
}

package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// FrameHeaderSize is the size of the big-endian length prefix of a calvinip frame.
const FrameHeaderSize = 4

// maxWireFrameSize is the largest length a 4-byte prefix can express.
const maxWireFrameSize = math.MaxUint32

// AppendFrame appends the 4-byte big-endian length of payload followed by
// payload to dst and returns the extended slice (spec §1.2). The caller
// checks the size limit; AppendFrame only refuses what the prefix cannot
// express, by panicking, because that is a programming error (> 4 GiB).
func AppendFrame(dst, payload []byte) []byte {
	if uint64(len(payload)) > maxWireFrameSize {
		panic("transport: AppendFrame payload does not fit a 4-byte length prefix")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// ReadFrame reads one frame from r and returns its payload.
//
// maxSize is the largest payload accepted (DefaultMaxFrameSize if <= 0); a
// longer length prefix gives an error wrapping ErrFrameTooLarge without
// reading the payload. The payload is stored in buf when it is large enough,
// otherwise in a new slice, so the result may alias buf. A clean end of
// stream before the first prefix byte returns io.EOF; an end of stream inside
// a frame returns an error wrapping ErrTruncatedFrame.
//
// ReadFrame is for blocking readers: if r returns another error (a read
// deadline, say) part of the frame may have been consumed. Connections of
// this package keep that partial state and resume instead.
func ReadFrame(r *bufio.Reader, maxSize int, buf []byte) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFrameSize
	}
	if out, ok, err := readBufferedFrame(r, maxSize, buf, nil); ok || err != nil {
		return out, err
	}
	// Declared here so the common buffered case allocates no reader state.
	var fr frameReader
	return fr.next(r, maxSize, buf, nil)
}

// readBufferedFrame returns a frame that already sits whole in r's buffer
// (ok), a too-large prefix error, or neither, leaving r untouched then.
func readBufferedFrame(r *bufio.Reader, maxSize int, buf []byte, alloc func(int) []byte) (out []byte, ok bool, err error) {
	if r.Buffered() < FrameHeaderSize {
		return nil, false, nil
	}
	p, _ := r.Peek(FrameHeaderSize)
	n := uint64(binary.BigEndian.Uint32(p))
	if n > uint64(maxSize) {
		return nil, false, errFrameTooLarge(n, maxSize)
	}
	if r.Buffered() < FrameHeaderSize+int(n) {
		return nil, false, nil
	}
	p, _ = r.Peek(FrameHeaderSize + int(n))
	out = frameBuffer(int(n), buf, alloc)
	copy(out, p[FrameHeaderSize:])
	_, _ = r.Discard(FrameHeaderSize + int(n))
	return out, true, nil
}

// largeFrameStep bounds how much memory a peer makes us commit by announcing
// a long frame: buffers for long frames grow as the bytes actually arrive.
const largeFrameStep = 1 << 20

// frameReader is a resumable frame decoder. When the underlying reader fails
// with a recoverable error (a deadline used to cancel a Recv), the bytes
// consumed so far stay here and the next call continues the same frame.
type frameReader struct {
	hdr   [FrameHeaderSize]byte
	hdrN  int    // header bytes read so far
	want  int    // payload length, valid once hdrN == FrameHeaderSize
	frame []byte // payload read so far (len) and its buffer (cap)
}

// errFrameTooLarge builds the oversize error with the announced length.
func errFrameTooLarge(n uint64, maxSize int) error {
	return fmt.Errorf("%w: length prefix %d > limit %d", ErrFrameTooLarge, n, maxSize)
}

// frameBuffer returns n bytes for a payload: from buf if it is large
// enough, else from alloc, else newly made.
func frameBuffer(n int, buf []byte, alloc func(int) []byte) []byte {
	switch {
	case buf != nil && cap(buf) >= n:
		return buf[:n]
	case alloc != nil:
		return alloc(n)
	default:
		return make([]byte, n)
	}
}

// next returns the next payload, stored as frameBuffer decides for frames
// that fit in memory at once.
func (fr *frameReader) next(r *bufio.Reader, maxSize int, buf []byte, alloc func(n int) []byte) ([]byte, error) {
	if fr.hdrN == 0 {
		if out, ok, err := readBufferedFrame(r, maxSize, buf, alloc); ok || err != nil {
			return out, err
		}
	}
	for fr.hdrN < FrameHeaderSize {
		m, err := r.Read(fr.hdr[fr.hdrN:])
		fr.hdrN += m
		if fr.hdrN == FrameHeaderSize {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if fr.hdrN == 0 {
					return nil, io.EOF
				}
				return nil, fmt.Errorf("%w: end of stream after %d of %d prefix bytes", ErrTruncatedFrame, fr.hdrN, FrameHeaderSize)
			}
			return nil, err
		}
	}
	if fr.frame == nil {
		n := uint64(binary.BigEndian.Uint32(fr.hdr[:]))
		if n > uint64(maxSize) {
			return nil, errFrameTooLarge(n, maxSize)
		}
		fr.want = int(n)
		if fr.want <= largeFrameStep || (buf != nil && cap(buf) >= fr.want) {
			// Cap the slice at the frame: reads must not run into the next one.
			fr.frame = frameBuffer(fr.want, buf, alloc)[:0:fr.want]
		} else {
			fr.frame = make([]byte, 0, largeFrameStep)
		}
	}
	for len(fr.frame) < fr.want {
		if len(fr.frame) == cap(fr.frame) {
			grown := make([]byte, len(fr.frame), min(fr.want, 2*cap(fr.frame)))
			copy(grown, fr.frame)
			fr.frame = grown
		}
		m, err := r.Read(fr.frame[len(fr.frame):cap(fr.frame)])
		fr.frame = fr.frame[:len(fr.frame)+m]
		if len(fr.frame) == fr.want {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: end of stream after %d of %d payload bytes", ErrTruncatedFrame, len(fr.frame), fr.want)
			}
			return nil, err
		}
	}
	out := fr.frame
	*fr = frameReader{}
	return out, nil
}

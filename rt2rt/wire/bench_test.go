package wire

import (
	"testing"
)

// BenchmarkTokenFrame measures one encode plus one decode of a typed TOKEN
// frame (TUNNEL_DATA envelope, TOKEN sub-message, small int data), the hot
// path of every connection.
func BenchmarkTokenFrame(b *testing.B) {
	for _, s := range []Serializer{JSON, Msgpack} {
		b.Run(s.Name(), func(b *testing.B) {
			m := tokenFrame()
			buf, err := s.Encode(nil, m)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				buf, err = s.Encode(buf[:0], m)
				if err != nil {
					b.Fatal(err)
				}
				out, err := s.Decode(buf)
				if err != nil {
					b.Fatal(err)
				}
				if out.(*TunnelData).Value.(*Token).SequenceNbr != 5 {
					b.Fatal("wrong sequence number")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/frame")
			}
		})
	}
}

// BenchmarkTokenFrameEncode and BenchmarkTokenFrameDecode split the figure.
func BenchmarkTokenFrameEncode(b *testing.B) {
	for _, s := range []Serializer{JSON, Msgpack} {
		b.Run(s.Name(), func(b *testing.B) {
			m := tokenFrame()
			var buf []byte
			var err error
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = s.Encode(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/encode")
		})
	}
}

func BenchmarkTokenFrameDecode(b *testing.B) {
	for _, s := range []Serializer{JSON, Msgpack} {
		b.Run(s.Name(), func(b *testing.B) {
			buf, err := s.Encode(nil, tokenFrame())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decode")
		})
	}
}

// BenchmarkVectors decodes and re-encodes every captured frame (registry
// writes, actor states, tokens) with its own coder: a figure for realistic
// mixed traffic.
func BenchmarkVectors(b *testing.B) {
	frames := loadFrames(b)
	for _, name := range []string{NameJSON, NameMsgpack} {
		b.Run(name, func(b *testing.B) {
			var sel []frame
			total := 0
			for _, f := range frames {
				if f.coder == name {
					sel = append(sel, f)
					total += len(f.payload)
				}
			}
			c := coderFor(name)
			var buf []byte
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range sel {
					m, err := c.Decode(f.payload)
					if err != nil {
						b.Fatal(err)
					}
					if buf, err = c.Encode(buf[:0], m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sel)), "ns/frame")
		})
	}
}

// BenchmarkGenericDecode measures the generic value decoders on the largest
// captured frames (ACTOR_NEW with full actor state).
func BenchmarkGenericDecode(b *testing.B) {
	frames := loadFrames(b)
	for _, name := range []string{NameJSON, NameMsgpack} {
		b.Run(name, func(b *testing.B) {
			var big frame
			for _, f := range frames {
				if f.coder == name && len(f.payload) > len(big.payload) {
					big = f
				}
			}
			c := coderFor(name)
			b.SetBytes(int64(len(big.payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.DecodeValue(big.payload); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decode")
		})
	}
}

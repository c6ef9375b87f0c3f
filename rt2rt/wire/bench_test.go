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
			b.ResetTimer()
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

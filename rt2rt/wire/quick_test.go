package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tokenFrame() *TunnelData {
	return &TunnelData{
		Envelope: Envelope{From: "31d7387a-f848-41f1-89d1-c2eeb8c11ed5", To: "c4133d27-e3a1-4b50-bcb5-f24e5676bfa4", MsgUUID: "be53403e-ef1b-4b46-a93e-ddcd6eebf226"},
		TunnelID: "53b3219d-c368-4f80-8952-b025fbfbae6e",
		Value: &Token{
			PortID:      "79a167d5-bf95-4c28-8154-271a096dbbdc",
			PeerPortID:  "a820e000-f8e0-4f0a-b9f0-bc3594685ab2",
			SequenceNbr: 5,
			Token:       TokenPayload{Type: TokenTypeToken, Data: int64(6)},
		},
	}
}

func TestTokenFrameRoundTrip(t *testing.T) {
	for _, s := range []Serializer{JSON, Msgpack} {
		t.Run(s.Name(), func(t *testing.T) {
			b, err := s.Encode(nil, tokenFrame())
			require.NoError(t, err)
			m, err := s.Decode(b)
			require.NoError(t, err)
			td, ok := m.(*TunnelData)
			require.True(t, ok, "%T", m)
			assert.Equal(t, CmdTunnelData, td.Cmd)
			assert.Equal(t, "53b3219d-c368-4f80-8952-b025fbfbae6e", td.TunnelID)
			tok, ok := td.Value.(*Token)
			require.True(t, ok, "%T", td.Value)
			assert.Equal(t, uint64(5), tok.SequenceNbr)
			assert.Equal(t, int64(6), tok.Token.Data)
			assert.Nil(t, td.Extra)
			if s == JSON {
				t.Log(string(b))
			}
		})
	}
}
